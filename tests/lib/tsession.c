/*
 * tsession.c - the session-script harness (see tsession.h).
 *
 * Every wait is bounded: reads by the caller's timeout, sends by
 * TS_SEND_MS, the child's end by TS_FINISH_MS (then SIGKILL), so a broken
 * server fails its test instead of hanging it.
 */
#define _XOPEN_SOURCE 700	/* nftw */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsession.h"

/* Longest a send may wait for the server to read (ms). */
#define TS_SEND_MS	10000
/* ts_expect's wait for a line (ms): generous for ASan and the 2 s delay
 * after a failed login. */
#define TS_EXPECT_MS	15000
/* How long ts_finish waits for the child before killing it (ms). */
#define TS_FINISH_MS	10000
/* ts_send_bytewise: longest wait for the server to take each byte (ms). */
#define TS_BYTE_MS	200

/*
 * Our ends of the sessions that are open.  A new server child closes them
 * all: holding a copy of another session's socket would keep that server
 * from seeing EOF when the test closes it (tests that run two sessions on
 * one mailbox).  A test library may have this one global.
 */
#define TS_SESSIONS_MAX	64
static int ts_open_fds[TS_SESSIONS_MAX];
static int ts_open_n;

static void
ts_fd_forget(int fd)
{
	int i;

	for (i = 0; i < ts_open_n; i++)
		if (ts_open_fds[i] == fd) {
			ts_open_fds[i] = ts_open_fds[--ts_open_n];
			return;
		}
}

static long long
ts_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ts_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

struct ts *
ts_start(ts_server_fn fn, void *arg)
{
	struct ts *t;
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fflush(NULL);
	t->pid = fork();
	assert_true(t->pid != -1);
	if (t->pid == 0) {
		int rc, i;

		close(sv[0]);
		for (i = 0; i < ts_open_n; i++)
			close(ts_open_fds[i]);
		ts_open_n = 0;
		free(t);
		rc = fn(sv[1], sv[1], arg);
		fflush(NULL);
		/* _exit(): the child holds the test's heap, which
		 * LeakSanitizer would report as the server's leaks */
		_exit(rc);
	}
	close(sv[1]);
	t->fd = sv[0];
	if (ts_open_n < TS_SESSIONS_MAX)
		ts_open_fds[ts_open_n++] = t->fd;
	return t;
}

void
ts_sendn(struct ts *t, const void *p, size_t n)
{
	const char *s = p;
	long long end = ts_now_ms() + TS_SEND_MS;

	while (n > 0) {
		struct pollfd pfd = { t->fd, POLLOUT, 0 };
		ssize_t w;
		int left = (int)(end - ts_now_ms());

		if (left <= 0)
			fail_msg("ts_send: server did not read for %d ms",
			    TS_SEND_MS);
		if (poll(&pfd, 1, left) <= 0)
			continue;
		w = send(t->fd, s, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		} else if (w == -1 && (errno == EPIPE ||
		    errno == ECONNRESET)) {
			return;		/* the server hung up: tests see EOF */
		} else if (w == -1 && errno != EAGAIN && errno != EINTR) {
			fail_msg("ts_send: %s", strerror(errno));
		}
	}
}

void
ts_send(struct ts *t, const char *s)
{
	ts_sendn(t, s, strlen(s));
}

void
ts_send_bytewise(struct ts *t, const char *s)
{
	for (; *s != '\0'; s++) {
		long long end;
		int outq = 0;

		ts_sendn(t, s, 1);
		/* wait until the server has read the byte, so that it
		 * really sees one byte per read() */
		end = ts_now_ms() + TS_BYTE_MS;
		while (ioctl(t->fd, SIOCOUTQ, &outq) == 0 && outq > 0 &&
		    ts_now_ms() < end)
			ts_sleep_ms(1);
	}
}

/* Read what is there into t->buf, waiting up to MS: >0 bytes, 0 EOF,
 * -1 timeout. */
static int
ts_fill(struct ts *t, int ms)
{
	struct pollfd pfd = { t->fd, POLLIN, 0 };
	ssize_t r;

	if (t->len == sizeof(t->buf))
		fail_msg("ts: %zu bytes unread from the server", t->len);
	if (ms < 0)
		ms = 0;
	for (;;) {
		int n = poll(&pfd, 1, ms);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		r = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == ECONNRESET)
			return 0;
		if (r == -1)
			fail_msg("ts: read: %s", strerror(errno));
		t->len += (size_t)r;
		return (int)(r > 0);
	}
}

static void
ts_consume(struct ts *t, size_t n)
{
	memmove(t->buf, t->buf + n, t->len - n);
	t->len -= n;
}

const char *
ts_line(struct ts *t, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	char *lf;

	while ((lf = memchr(t->buf, '\n', t->len)) == NULL) {
		int r = ts_fill(t, (int)(end - ts_now_ms()));

		if (r == 0 && t->len > 0)
			fail_msg("ts: server closed after a partial line "
			    "\"%.*s\"", (int)t->len, t->buf);
		if (r <= 0)
			return NULL;
	}
	{
		size_t n = (size_t)(lf - t->buf);

		if (n == 0 || t->buf[n - 1] != '\r')
			fail_msg("ts: line not ending in CRLF: \"%.*s\"",
			    (int)n, t->buf);
		if (n - 1 >= sizeof(t->line))
			fail_msg("ts: line of %zu bytes", n - 1);
		memcpy(t->line, t->buf, n - 1);
		t->line[n - 1] = '\0';
		ts_consume(t, n + 1);
	}
	return t->line;
}

const char *
ts_expect(struct ts *t, const char *prefix)
{
	const char *l = ts_line(t, TS_EXPECT_MS);

	if (l == NULL)
		fail_msg("expected \"%s...\", got EOF or nothing in %d ms",
		    prefix, TS_EXPECT_MS);
	if (strncmp(l, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", prefix, l);
	return l;
}

char *
ts_bytes(struct ts *t, size_t n, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	char *p;

	if (n > sizeof(t->buf))
		fail_msg("ts_bytes: %zu is more than the buffer", n);
	while (t->len < n)
		if (ts_fill(t, (int)(end - ts_now_ms())) <= 0)
			fail_msg("ts_bytes: got %zu of %zu bytes", t->len, n);
	p = malloc(n + 1);
	assert_non_null(p);
	memcpy(p, t->buf, n);
	p[n] = '\0';
	ts_consume(t, n);
	return p;
}

void
ts_quiet(struct ts *t, int ms)
{
	long long end = ts_now_ms() + ms;

	while (t->len == 0 && ts_now_ms() < end)
		if (ts_fill(t, (int)(end - ts_now_ms())) == 0)
			break;
	if (t->len > 0)
		fail_msg("expected silence, got \"%.*s\"",
		    (int)(t->len > 200 ? 200 : t->len), t->buf);
}

void
ts_expect_eof(struct ts *t, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int r;

	while ((r = ts_fill(t, (int)(end - ts_now_ms()))) > 0)
		;
	if (t->len > 0)
		fail_msg("expected EOF, got \"%.*s\"",
		    (int)(t->len > 200 ? 200 : t->len), t->buf);
	if (r < 0)
		fail_msg("expected EOF within %d ms, the server is still "
		    "there", timeout_ms);
}

int
ts_finish(struct ts *t)
{
	long long end = ts_now_ms() + TS_FINISH_MS;
	int status = 0, code;
	pid_t r;

	ts_fd_forget(t->fd);
	close(t->fd);
	while ((r = waitpid(t->pid, &status, WNOHANG)) == 0 &&
	    ts_now_ms() < end)
		ts_sleep_ms(5);
	if (r == 0) {
		fprintf(stderr, "ts_finish: server still running after %d "
		    "ms: killed\n", TS_FINISH_MS);
		kill(t->pid, SIGKILL);
		r = waitpid(t->pid, &status, 0);
	}
	free(t);
	if (r == -1)
		return -1;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else
		code = 128 + WTERMSIG(status);
	return code;
}

char *
ts_tmpdir(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char *path;
	size_t n;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = strlen(tmp) + strlen(tag) + 16;
	path = malloc(n);
	assert_non_null(path);
	snprintf(path, n, "%s/ms-%s-XXXXXX", tmp, tag);
	if (mkdtemp(path) == NULL)
		fail_msg("mkdtemp %s: %s", path, strerror(errno));
	return path;
}

static int
ts_rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void
ts_rmtree(const char *path)
{
	if (path != NULL)
		(void)nftw(path, ts_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
ts_passwd_file(const char *path, const char *user, const char *pass)
{
	ts_passwd_file_ex(path, user, pass, NULL);
}

void
ts_passwd_file_ex(const char *path, const char *user, const char *pass,
    const char *extra)
{
	struct crypt_data cd;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *hash;
	FILE *f;

	memset(&cd, 0, sizeof(cd));
	if (crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		fail_msg("crypt_gensalt: %s", strerror(errno));
	hash = crypt_r(pass, salt, &cd);
	if (hash == NULL || hash[0] != '$')
		fail_msg("crypt_r failed");
	f = fopen(path, "a");
	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	fprintf(f, "%s:%s%s%s\n", user, hash, extra != NULL ? ":" : "",
	    extra != NULL ? extra : "");
	if (fclose(f) != 0)
		fail_msg("%s: %s", path, strerror(errno));
}
