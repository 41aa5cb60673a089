/*
 * test_tsession.c - the session harness itself (tests/lib/tsession.c):
 * what the server tests rely on must work, and must not hang.
 */
#include <sys/stat.h>

#include <crypt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "tsession.h"

/* Says hello, answers "ECHO x" with x, "LIT n" with n bytes "abc...",
 * "SILENT" with nothing, "EXIT n" by exiting n, "KILL" by SIGKILL,
 * "BYTES" with how many reads the last line took. */
static int
srv(int rfd, int wfd, void *arg)
{
	char line[256];
	size_t len;
	unsigned flags;
	struct io io;

	(void)arg;
	if (io_init(&io, rfd, wfd, 10) == -1)
		return 1;
	io_puts(&io, "+OK hello\r\n");
	while (io_getline(&io, line, sizeof(line), &len, &flags) == IO_OK) {
		unsigned long long n;

		if (strncmp(line, "ECHO ", 5) == 0)
			io_printf(&io, "%s\r\n", line + 5);
		else if (strncmp(line, "LIT ", 4) == 0 &&
		    parse_uint(line + 4, (size_t)-1, 1000, &n) == 0) {
			io_printf(&io, "{%llu}\r\n", n);
			while (n-- > 0)
				io_write(&io, &"abcdefghijklmnopqrstuvwxyz"
				    [n % 26], 1);
			io_puts(&io, "\r\n");
		} else if (strcmp(line, "SILENT") == 0)
			continue;
		else if (strncmp(line, "EXIT ", 5) == 0 &&
		    parse_uint(line + 5, (size_t)-1, 100, &n) == 0) {
			io_flush(&io);
			return (int)n;
		} else if (strcmp(line, "KILL") == 0)
			raise(SIGKILL);
		else
			io_puts(&io, "-ERR\r\n");
	}
	io_free(&io);
	return 0;
}

static void
test_lines_and_bytes(void **state)
{
	struct ts *t = ts_start(srv, NULL);
	char *b;

	(void)state;
	assert_string_equal(ts_expect(t, "+OK"), "+OK hello");
	ts_send(t, "ECHO one\r\nECHO two\r\n");
	assert_string_equal(ts_expect(t, "one"), "one");
	assert_string_equal(ts_expect(t, "two"), "two");
	ts_send_bytewise(t, "ECHO three\r\n");
	assert_string_equal(ts_line(t, 5000), "three");
	ts_send(t, "LIT 5\r\n");
	ts_expect(t, "{5}");
	b = ts_bytes(t, 5, 5000);
	assert_string_equal(b, "edcba");
	free(b);
	assert_string_equal(ts_line(t, 5000), "");
	ts_send(t, "SILENT\r\n");
	ts_quiet(t, 200);
	ts_send(t, "EXIT 7\r\n");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 7);
}

static void
test_finish_status(void **state)
{
	struct ts *t = ts_start(srv, NULL);

	(void)state;
	ts_expect(t, "+OK");
	ts_send(t, "KILL\r\n");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 128 + SIGKILL);
	/* closing our end ends a normal server with 0 */
	t = ts_start(srv, NULL);
	ts_expect(t, "+OK");
	assert_int_equal(ts_finish(t), 0);
	/* ts_line: NULL on timeout, not a hang */
	t = ts_start(srv, NULL);
	ts_expect(t, "+OK");
	assert_null(ts_line(t, 100));
	assert_int_equal(ts_finish(t), 0);
}

/* Two sessions at once: closing the first ends it at once, though the
 * second server was forked while the first was open. */
static void
test_two_sessions(void **state)
{
	struct ts *a = ts_start(srv, NULL), *b;
	struct timespec t0, t1;
	long ms;

	(void)state;
	ts_expect(a, "+OK");
	b = ts_start(srv, NULL);
	ts_expect(b, "+OK");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ts_finish(a), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 2000);
	ts_send(b, "ECHO still here\r\n");
	ts_expect(b, "still here");
	assert_int_equal(ts_finish(b), 0);
}

static void
test_tmpdir_passwd(void **state)
{
	char *d = ts_tmpdir("tsession"), path[512], line[512], *h;
	struct crypt_data cd;
	struct stat st;
	FILE *f;

	(void)state;
	assert_int_equal(stat(d, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/sub", d);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/passwd", d);
	ts_passwd_file(path, "alice", "secret");
	ts_passwd_file_ex(path, "bob", "pw", "1000:1000");
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(strncmp(line, "alice:$6$", 9), 0);
	line[strcspn(line, "\n")] = '\0';
	h = line + 6;
	memset(&cd, 0, sizeof(cd));
	assert_string_equal(crypt_r("secret", h, &cd), h);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(strncmp(line, "bob:$6$", 7), 0);
	assert_non_null(strstr(line, ":1000:1000\n"));
	fclose(f);
	ts_rmtree(d);
	assert_int_equal(stat(d, &st), -1);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_bytes),
		cmocka_unit_test(test_finish_status),
		cmocka_unit_test(test_two_sessions),
		cmocka_unit_test(test_tmpdir_passwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
