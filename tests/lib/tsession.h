/*
 * tsession.h - session scripts for the cmocka tests: run a server's
 * session function in a forked child whose input and output are one end of
 * a socketpair, then talk to it from the test like a client.
 *
 * Assertion helpers use cmocka's assert macros, so include <cmocka.h>
 * (after <stdarg.h>, <stddef.h>, <setjmp.h>) before this header.
 */
#ifndef TSESSION_H
#define TSESSION_H

#include <stddef.h>
#include <sys/types.h>

/* The server side: serve one session on RFD/WFD and return the process
 * exit code (0 on a normal end). */
typedef int (*ts_server_fn)(int rfd, int wfd, void *arg);

struct ts {
	pid_t pid;
	int fd;			/* our end of the socketpair */
	char buf[256 * 1024];	/* bytes received, not yet consumed */
	size_t len;
	char line[64 * 1024];	/* last line returned by ts_line */
};

/* Fork FN(fd, fd, ARG) in a child; returns the session (calloc'ed). */
struct ts *ts_start(ts_server_fn fn, void *arg);

/* Send S (NUL-terminated) or P/N, all at once. */
void ts_send(struct ts *t, const char *s);
void ts_sendn(struct ts *t, const void *p, size_t n);
/* Send S one byte per write(), so the server sees it arrive byte by byte. */
void ts_send_bytewise(struct ts *t, const char *s);

/*
 * ts_line - the next line from the server, without its CRLF, in t->line;
 * NULL on EOF or after TIMEOUT_MS.  A line not ending in CRLF fails the
 * test (every protocol here ends lines in CRLF).
 */
const char *ts_line(struct ts *t, int timeout_ms);

/* Read a line and assert that it starts with PREFIX; returns the line. */
const char *ts_expect(struct ts *t, const char *prefix);

/* Read N bytes exactly (IMAP literals) into a malloc'ed buffer. */
char *ts_bytes(struct ts *t, size_t n, int timeout_ms);

/* Assert that the server says nothing more for MS milliseconds. */
void ts_quiet(struct ts *t, int ms);

/* Assert that the server closes the connection (EOF) within TIMEOUT_MS. */
void ts_expect_eof(struct ts *t, int timeout_ms);

/* Close our end, wait for the child, free T; returns its exit status
 * (WEXITSTATUS, or 128 + signal). */
int ts_finish(struct ts *t);

/* A fresh empty directory under $TMPDIR (malloc'ed path); removed with its
 * contents by ts_rmtree. */
char *ts_tmpdir(const char *tag);
void ts_rmtree(const char *path);

/* Write a passwd-file line USER:crypt(PASS) (SHA-512 crypt) to PATH. */
void ts_passwd_file(const char *path, const char *user, const char *pass);
/* The same with more fields after the hash: EXTRA "uid:gid[:gecos:home]"
 * (without the leading ':'), or NULL. */
void ts_passwd_file_ex(const char *path, const char *user, const char *pass,
    const char *extra);

#endif
