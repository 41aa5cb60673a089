/*
 * test_io.c - the line reader and the buffered writer (libspool/io.c).
 *
 * The reader is driven through a forked echo server (tests/lib/tsession)
 * so that input can arrive one byte per read().  Writes are counted
 * honestly with a SOCK_SEQPACKET socket as the server's output: every
 * write() is one record and every recv() returns one record.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <setjmp.h>
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

static const char *const status_name[] = {
	[IO_OK] = "OK", [IO_TOOLONG] = "TOOLONG", [IO_EOF] = "EOF",
	[IO_TIMEOUT] = "TIMEOUT", [IO_ERR] = "ERR"
};

struct echo_cfg {
	size_t cap;		/* line capacity given to io_getline */
	int idle;		/* idle timeout */
	int outfd;		/* -1: answer on wfd, else here */
};

/* The echo server: for each io_getline, one line
 * "<STATUS> <flags> <len> <line as log_safe shows it>". */
static int
echo_server(int rfd, int wfd, void *arg)
{
	const struct echo_cfg *cfg = arg;
	struct io io;
	char *buf = malloc(cfg->cap), safe[512];
	size_t len;
	unsigned flags;
	enum io_status st;

	if (buf == NULL || io_init(&io, rfd, cfg->outfd >= 0 ? cfg->outfd :
	    wfd, cfg->idle) == -1)
		return 1;
	do {
		st = io_getline(&io, buf, cfg->cap, &len, &flags);
		log_safe(safe, sizeof(safe), st == IO_OK ? buf : "",
		    st == IO_OK ? len : 0);
		io_printf(&io, "%s %s%s %zu %s\r\n", status_name[st],
		    flags & IO_LINE_BARE_LF ? "L" : "-",
		    flags & IO_LINE_NUL ? "N" : "-", len, safe);
	} while (st == IO_OK || st == IO_TOOLONG);
	(void)io_flush(&io);	/* the test may have closed: EPIPE */
	io_free(&io);
	free(buf);
	return 0;
}

static void
test_bytewise_lines(void **state)
{
	struct echo_cfg cfg = { 64, 10, -1 };
	struct ts *t = ts_start(echo_server, &cfg);

	(void)state;
	ts_send_bytewise(t, "HELLO there\r\nbare\nmid\rcr\r\n\r\n");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 11 HELLO there");
	assert_string_equal(ts_expect(t, "OK"), "OK L- 4 bare");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 6 mid\\x0dcr");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 0 ");
	ts_send_bytewise(t, "tail without end");
	shutdown(t->fd, SHUT_WR);
	assert_string_equal(ts_expect(t, "EOF"), "EOF -- 0 ");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

static void
test_overlong_once(void **state)
{
	struct echo_cfg cfg = { 16, 10, -1 };
	struct ts *t = ts_start(echo_server, &cfg);
	char big[5000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ts_send(t, big);
	ts_send(t, "\r\nNEXT\r\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG -- 0 ");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 4 NEXT");
	/* the exact boundary: 15 bytes fit in 16, CR split from LF */
	ts_send_bytewise(t, "123456789012345\r\n1234567890123456\r\n");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 15 123456789012345");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG -- 0 ");
	/* a bare-LF line of 16 (flagged: the caller must know how an
	 * overlong line ended) and one of 15 + CR not before LF */
	ts_send(t, "1234567890123456\n12345678901234\r\r\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG L- 0 ");
	assert_string_equal(ts_expect(t, "OK"),
	    "OK -- 15 12345678901234\\x0d");
	/* overlong byte by byte: still one error */
	ts_send_bytewise(t, "abcdefghijklmnopqrstuvwxyz\r\nok\r\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG -- 0 ");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 2 ok");
	/* overlong, ended by a bare LF, the CR far back in the line, and
	 * byte by byte: the last byte before the LF decides */
	ts_send_bytewise(t, "abc\rdefghijklmnopqrstuvwxyz\n.\r\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG L- 0 ");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 1 .");
	/* overlong with a NUL past the capacity, CR LF, in one piece and
	 * with the CR and the LF in separate reads */
	ts_sendn(t, "abcdefghijklmnopqrst\0u\r\n", 24);
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG -N 0 ");
	ts_sendn(t, "abcdefghijklmnopqrstuvwxyz\r", 27);
	ts_quiet(t, 50);
	ts_send(t, "\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG -- 0 ");
	ts_sendn(t, "abcdefghijklmnopqrstuvwxyz", 26);
	ts_quiet(t, 50);
	ts_send(t, "\n");
	assert_string_equal(ts_expect(t, "TOOLONG"), "TOOLONG L- 0 ");
	ts_quiet(t, 100);
	assert_int_equal(ts_finish(t), 0);
}

static void
test_nul_flagged(void **state)
{
	struct echo_cfg cfg = { 64, 10, -1 };
	struct ts *t = ts_start(echo_server, &cfg);

	(void)state;
	ts_sendn(t, "a\0b\r\nclean\r\n", 12);
	assert_string_equal(ts_expect(t, "OK"), "OK -N 3 a\\x00b");
	assert_string_equal(ts_expect(t, "OK"), "OK -- 5 clean");
	assert_int_equal(ts_finish(t), 0);
}

static void
test_idle_timeout(void **state)
{
	struct echo_cfg cfg = { 64, 1, -1 };
	struct ts *t = ts_start(echo_server, &cfg);
	struct timespec a, b;
	const char *l;
	long ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	ts_send(t, "half a li");
	l = ts_line(t, 5000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_non_null(l);
	assert_string_equal(l, "TIMEOUT -- 0 ");
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 900);
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

/* Collect the records (writes) on seqpacket FD for MS milliseconds. */
static int
count_records(int fd, int ms, char *all, size_t cap, size_t *len_r,
    size_t *sizes, int maxrec)
{
	int n = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };

	*len_r = 0;
	while (poll(&pfd, 1, ms) > 0) {
		ssize_t r = recv(fd, all + *len_r, cap - *len_r, 0);

		if (r <= 0)
			break;
		if (n < maxrec)
			sizes[n] = (size_t)r;
		*len_r += (size_t)r;
		n++;
	}
	return n;
}

static void
test_pipelined_one_write(void **state)
{
	int sp[2];
	struct echo_cfg cfg = { 64, 10, -1 };
	struct ts *t;
	char all[4096];
	size_t len, sizes[8];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	cfg.outfd = sp[1];
	t = ts_start(echo_server, &cfg);
	close(sp[1]);
	/* one command, one answer, one write */
	ts_send(t, "NOOP\r\n");
	assert_int_equal(count_records(sp[0], 300, all, sizeof(all), &len,
	    sizes, 8), 1);
	/* three commands in one packet: three answers in ONE write */
	ts_send(t, "A\r\nB\r\nC\r\n");
	assert_int_equal(count_records(sp[0], 300, all, sizeof(all), &len,
	    sizes, 8), 1);
	all[len] = '\0';
	assert_string_equal(all, "OK -- 1 A\r\nOK -- 1 B\r\nOK -- 1 C\r\n");
	/* a batch ending in a partial line: answered, then the rest */
	ts_send(t, "D\r\nE\r\nF");
	assert_int_equal(count_records(sp[0], 300, all, sizeof(all), &len,
	    sizes, 8), 1);
	all[len] = '\0';
	assert_string_equal(all, "OK -- 1 D\r\nOK -- 1 E\r\n");
	ts_send(t, "\r\n");
	assert_int_equal(count_records(sp[0], 300, all, sizeof(all), &len,
	    sizes, 8), 1);
	all[len] = '\0';
	assert_string_equal(all, "OK -- 1 F\r\n");
	close(sp[0]);
	ts_finish(t);
}

static void
test_large_response_chunks(void **state)
{
	int sp[2];
	struct io io;
	char *big = malloc(150000), *all = malloc(200000);
	size_t len, sizes[8];
	int n;

	(void)state;
	assert_non_null(big);
	assert_non_null(all);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	n = 1 << 20;	/* room for a whole 64 KiB record */
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	memset(big, 'y', 150000);
	assert_int_equal(io_init(&io, sp[1], sp[1], 5), 0);
	io_write(&io, big, 150000);
	assert_int_equal(io_flush(&io), 0);
	n = count_records(sp[0], 300, all, 200000, &len, sizes, 8);
	assert_int_equal(n, 3);
	assert_int_equal(sizes[0], IO_OUT_BUF);
	assert_int_equal(sizes[1], IO_OUT_BUF);
	assert_int_equal(sizes[2], 150000 - 2 * IO_OUT_BUF);
	assert_int_equal(len, 150000);
	io_free(&io);
	close(sp[0]);
	close(sp[1]);
	free(big);
	free(all);
}

static void
test_write_timeout(void **state)
{
	int sp[2];
	struct io io;
	char chunk[8192], line[64];
	struct timespec a, b;
	size_t len;
	unsigned flags;
	long ms;
	int i;

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(io_init(&io, sp[1], sp[1], 1), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	/* the peer never reads: far more than any socket buffer */
	for (i = 0; i < 4096 && !io.out_error; i++)
		io_write(&io, chunk, sizeof(chunk));
	assert_int_equal(io_flush(&io), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(io.out_error, IO_TIMEOUT);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 900);
	assert_true(ms < 10000);
	/* the error sticks: reading fails at once, even with input there */
	assert_int_equal(write(sp[0], "hi\r\n", 4), 4);
	io_puts(&io, "more");
	assert_int_not_equal(io_getline(&io, line, sizeof(line), &len,
	    &flags), IO_OK);
	assert_int_equal(io_flush(&io), -1);
	io_free(&io);
	close(sp[0]);
	close(sp[1]);
}

static void
test_write_to_closed_peer(void **state)
{
	int sp[2];
	struct io io;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	close(sp[0]);
	assert_int_equal(io_init(&io, sp[1], sp[1], 1), 0);
	io_puts(&io, "+OK\r\n");	/* no SIGPIPE: ignored by io_init */
	assert_int_equal(io_flush(&io), -1);
	assert_int_equal(io.out_error, IO_ERR);
	io_free(&io);
	close(sp[1]);
}

static void
test_read_skip_leftover_unread(void **state)
{
	int sp[2];
	struct io io, io2;
	char line[64], lit[8];
	const char *left;
	size_t len;
	unsigned flags;
	static const char in[] = "A1 {5}\r\n12345 x\r\nB {3}\r\nabc\r\nC\r\nD\r\nE";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(write(sp[0], in, sizeof(in) - 1),
	    (ssize_t)sizeof(in) - 1);
	assert_int_equal(io_init(&io, sp[1], sp[1], 2), 0);
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_string_equal(line, "A1 {5}");
	assert_int_equal(io_read(&io, lit, 5), IO_OK);
	assert_memory_equal(lit, "12345", 5);
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_string_equal(line, " x");
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_int_equal(io_skip(&io, 5), IO_OK);
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_string_equal(line, "C");
	assert_true(io_pending_line(&io));
	left = io_leftover(&io, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(left, "D\r\nE", 4);

	/* hand the leftover to another io, as privsep does */
	assert_int_equal(io_init(&io2, sp[1], sp[1], 1), 0);
	assert_int_equal(io_unread(&io2, left, len), 0);
	assert_int_equal(io_getline(&io2, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_string_equal(line, "D");
	assert_false(io_pending_line(&io2));
	assert_int_equal(write(sp[0], "F\n", 2), 2);
	assert_int_equal(io_getline(&io2, line, sizeof(line), &len, &flags),
	    IO_OK);
	assert_string_equal(line, "EF");
	assert_int_equal(flags, IO_LINE_BARE_LF);
	{
		static char huge[IO_IN_BUF + 1];

		assert_int_equal(io_unread(&io2, huge, sizeof(huge)), -1);
	}
	close(sp[0]);
	/* EOF in the middle of a literal */
	assert_int_equal(io_read(&io2, lit, 3), IO_EOF);
	io_free(&io);
	io_free(&io2);
	close(sp[1]);
}

/* Run FN with stderr captured into BUF. */
static void
capture_stderr(void (*fn)(void), char *buf, size_t cap)
{
	int p[2], saved;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	saved = dup(2);
	dup2(p[1], 2);
	close(p[1]);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = read(p[0], buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(p[0]);
}

static void
transcript_session(void)
{
	int sp[2];
	struct io io;
	static const char pass[] = "PASS s3cret";

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1 ||
	    io_init(&io, sp[1], sp[1], 2) == -1)
		return;
	io.transcript = IO_TRANSCRIPT_STDERR;
	io_log_client(&io, "USER b\033[2Job", 12, (size_t)-1);
	io_log_client(&io, pass, strlen(pass), 5);
	io_puts(&io, "+OK ");
	io_printf(&io, "%d messages\r\n", 2);
	io.transcript_quiet = 1;
	io_puts(&io, "Subject: bulk\r\n.\r\n");
	io.transcript_quiet = 0;
	io_puts(&io, "+OK bye\r\n");
	io_flush(&io);
	io_free(&io);
	close(sp[0]);
	close(sp[1]);
}

static void
test_transcript(void **state)
{
	char out[4096];

	(void)state;
	capture_stderr(transcript_session, out, sizeof(out));
	assert_non_null(strstr(out, "C: USER b\\x1b[2Job\n"));
	assert_non_null(strstr(out, "C: PASS ********\n"));
	assert_null(strstr(out, "s3cret"));
	assert_non_null(strstr(out, "S: +OK 2 messages\n"));
	assert_null(strstr(out, "bulk"));
	assert_non_null(strstr(out, "S: +OK bye\n"));
}

/* Send P/N in chunks of 1..MAXCHUNK bytes, each read by the server
 * before the next goes (the unread count of our socket drops to 0). */
static void
send_chunked(struct ts *t, const char *p, size_t n, unsigned *seed,
    size_t maxchunk)
{
	while (n > 0) {
		size_t k = 1 + (size_t)rand_r(seed) % maxchunk;
		struct timespec ms = { 0, 1000000 };
		int outq = 1, i;

		if (k > n)
			k = n;
		ts_sendn(t, p, k);
		for (i = 0; i < 200 && ioctl(t->fd, SIOCOUTQ, &outq) == 0 &&
		    outq > 0; i++)
			nanosleep(&ms, NULL);
		p += k;
		n -= k;
	}
}

/* Random lines around the capacity, CRs, bare LFs and NULs, cut in
 * random chunks: every answer must match a reference model. */
static void
test_random_chunks(void **state)
{
	struct echo_cfg cfg = { 16, 10, -1 };
	static const char alphabet[] = "ab\r\r\0xyz";
	unsigned seed = 20261126;
	int round;

	(void)state;
	for (round = 0; round < 4; round++) {
		struct ts *t = ts_start(echo_server, &cfg);
		char in[4096], want[256], safe[128];
		size_t n = 0, i;
		int lines = 60;

		for (i = 0; i < (size_t)lines; i++) {
			size_t len = (size_t)rand_r(&seed) % 22, j;

			for (j = 0; j < len; j++)
				in[n++] = alphabet[(size_t)rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
			if (rand_r(&seed) % 2)
				in[n++] = '\r';
			in[n++] = '\n';
		}
		send_chunked(t, in, n, &seed, 1 + (size_t)round * 3);
		/* the model */
		{
			size_t start = 0;

			for (i = 0; i < n; i++) {
				size_t raw, len;
				int cr, nul;

				if (in[i] != '\n')
					continue;
				raw = i - start;
				cr = raw > 0 && in[i - 1] == '\r';
				len = raw - (size_t)cr;
				nul = memchr(in + start, '\0', len) != NULL;
				if (len > cfg.cap - 1)
					snprintf(want, sizeof(want),
					    "TOOLONG %s%s 0 ", cr ? "-" : "L",
					    nul ? "N" : "-");
				else
					snprintf(want, sizeof(want),
					    "OK %s%s %zu %s", cr ? "-" : "L",
					    nul ? "N" : "-", len,
					    log_safe(safe, sizeof(safe),
					    in + start, len));
				assert_string_equal(ts_expect(t, ""), want);
				start = i + 1;
			}
		}
		ts_quiet(t, 50);
		assert_int_equal(ts_finish(t), 0);
	}
}

static void
test_session_deadline(void **state)
{
	int sp[2];
	struct io io;
	struct timespec a, b;
	char line[64];
	size_t len;
	unsigned flags;
	long ms;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(io_init(&io, sp[1], sp[1], 60), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	/* a session cap reached before the idle timeout */
	io.deadline = a.tv_sec + 2;
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 900 && ms <= 2100);
	/* a slow drip does not extend it */
	assert_int_equal(write(sp[0], "x", 1), 1);
	assert_int_equal(io_getline(&io, line, sizeof(line), &len, &flags),
	    IO_TIMEOUT);
	io_free(&io);
	close(sp[0]);
	close(sp[1]);
}

static void
test_tcp_nodelay(void **state)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int l, c, a, v = 0;
	socklen_t vl = sizeof(v);
	struct io io;

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((l = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
	assert_true((c = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_true((a = accept(l, NULL, NULL)) != -1);
	assert_int_equal(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	assert_int_equal(v, 0);
	assert_int_equal(io_init(&io, a, a, 5), 0);
	assert_int_equal(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	assert_int_not_equal(v, 0);
	io_free(&io);
	close(a);
	close(c);
	close(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytewise_lines),
		cmocka_unit_test(test_overlong_once),
		cmocka_unit_test(test_nul_flagged),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_pipelined_one_write),
		cmocka_unit_test(test_large_response_chunks),
		cmocka_unit_test(test_write_timeout),
		cmocka_unit_test(test_write_to_closed_peer),
		cmocka_unit_test(test_read_skip_leftover_unread),
		cmocka_unit_test(test_transcript),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_session_deadline),
		cmocka_unit_test(test_tcp_nodelay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
