/*
 * test_pop3.c - pop3d session scripts: pop3_serve() in a forked child over
 * a socketpair, with a passwd-file and a temporary spool (no privilege
 * separation: the in-process login path that a non-root pop3d uses).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../pop3d/pop3.h"
#include "tfixture.h"

#define WAIT_MS		5000

/* The message of the lab handout: 419 octets served with CRLF. */
static const char seed_msg[] =
    "Return-Path: <mbappe@fft.fr>\n"
    "X-Original-To: etudiant@debian-11-GNS3.lan\n"
    "Delivered-To: etudiant@debian-11-GNS3.lan\n"
    "Received: from Bonjour?je?suis?un?etudiant (unknown [192.168.56.131])\n"
    "\tby debian-11-GNS3.lan (Postfix) with SMTP id CFF2140BF8\n"
    "\tfor <etudiant@debian-11-GNS3.lan>; Mon, 16 Jan 2023 13:09:16 +0100 "
    "(CET)\n"
    "\n"
    "Cher \xc3\xa9tudiant que vous \xc3\xaates bon, si bon que vous pouvez "
    "aller chercher un caf\xc3\xa9 pour le prof\n";

static const char dots_msg[] =
    "Subject: dots\n"
    "\n"
    ".hidden line\n"
    ".\n"
    "..\n"
    "body line 4\n"
    "From the start of a line\n";

static const char three_lines_msg[] =
    "Subject: three\n"
    "From: a@b.c\n"
    "\n"
    "line one\n"
    "line two\n"
    "line three\n";

struct fx {
	struct tf_lab lab;		/* lab.inbox: etudiant's mailbox */
	struct pop3_cfg cfg;
};

static void
fx_append(struct fx *f, const char *msg)
{
	FILE *fp = fopen(f->lab.inbox, "a");

	assert_non_null(fp);
	fprintf(fp, "From sender@example.org Mon Jan 16 13:09:16 2023\n%s\n",
	    msg);
	assert_int_equal(fclose(fp), 0);
}

/* A lab with user etudiant/Etudiant1 and the messages MSGS[0..N). */
static struct fx *
fx_new(const char *const *msgs, size_t n)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t i;
	int fd;

	assert_non_null(f);
	tf_lab_init(&f->lab, "pop3", TF_SPOOL | TF_PASSWD);
	fd = open(f->lab.inbox, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < n; i++)
		fx_append(f, msgs[i]);
	f->cfg.hostname = "mail.test";
	tf_auth_file(&f->cfg.auth, &f->lab);
	f->cfg.auth.pam_service = "pop3d";
	f->cfg.idle_sec = 30;
	f->cfg.transcript = IO_TRANSCRIPT_OFF;
	f->cfg.privsep = 0;
	return f;
}

static void
fx_free(struct fx *f)
{
	tf_lab_free(&f->lab);
	free(f);
}

static int
serve(int rfd, int wfd, void *arg)
{
	return pop3_serve(arg, rfd, wfd);
}

static struct ts *
start(struct fx *f)
{
	struct ts *t = ts_start(serve, &f->cfg);

	ts_expect(t, "+OK ");
	return t;
}

static struct ts *
login(struct fx *f)
{
	struct ts *t = start(f);

	ts_send(t, "USER etudiant\r\n");
	ts_expect(t, "+OK");
	ts_send(t, "PASS Etudiant1\r\n");
	ts_expect(t, "+OK");
	return t;
}

static void
expect_line(struct ts *t, const char *want)
{
	const char *l = ts_line(t, WAIT_MS);

	assert_non_null(l);
	assert_string_equal(l, want);
}

/* Read a multi-line body up to ".", undoing dot-stuffing; returns the
 * octets (CRLF counted) and the number of lines in *NLINES. */
static uint64_t
read_ml(struct ts *t, int *nlines, char *last, size_t lastcap)
{
	uint64_t n = 0;
	const char *l;

	*nlines = 0;
	for (;;) {
		l = ts_line(t, WAIT_MS);
		assert_non_null(l);
		if (strcmp(l, ".") == 0)
			return n;
		if (l[0] == '.') {
			assert_true(l[1] == '.');	/* stuffed */
			l++;
		}
		if (last != NULL)
			snprintf(last, lastcap, "%s", l);
		n += strlen(l) + 2;
		(*nlines)++;
	}
}

static void
quit(struct ts *t)
{
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "+OK");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
}

/* ---- the lab handout's session, verbatim --------------------------------- */

static void
test_seed_session(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t = ts_start(serve, &f->cfg);
	const char *l;

	(void)state;
	ts_expect(t, "+OK");
	ts_send(t, "user etudiant\r\n");
	ts_expect(t, "+OK");
	ts_send(t, "pass Etudiant1\r\n");
	ts_expect(t, "+OK");
	ts_send(t, "stat\r\n");
	expect_line(t, "+OK 1 419");
	ts_send(t, "list\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "1 419");
	expect_line(t, ".");
	ts_send(t, "top 1 1\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "Return-Path: <mbappe@fft.fr>");
	expect_line(t, "X-Original-To: etudiant@debian-11-GNS3.lan");
	expect_line(t, "Delivered-To: etudiant@debian-11-GNS3.lan");
	ts_expect(t, "Received: from Bonjour?je?suis?un?etudiant");
	ts_expect(t, "\tby debian-11-GNS3.lan");
	ts_expect(t, "\tfor <etudiant@debian-11-GNS3.lan>");
	expect_line(t, "");
	l = ts_line(t, WAIT_MS);
	assert_non_null(l);
	assert_non_null(strstr(l, "un caf\xc3\xa9 pour le prof"));
	expect_line(t, ".");
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "+OK");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

/* ---- teaching replies to a student's mistakes ----------------------------- */

static void
test_student_mistakes(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t = start(f);
	const char *l;

	(void)state;
	ts_send(t, "LSIT\r\n");
	l = ts_expect(t, "-ERR unknown command \"LSIT\"; ");
	assert_non_null(strstr(l, "USER"));
	assert_non_null(strstr(l, "PASS"));
	ts_send(t, "stat\r\n");
	expect_line(t, "-ERR log in first: USER name, then PASS "
	    "password (STAT works after login)");
	ts_send(t, "pass Etudiant1\r\n");
	expect_line(t, "-ERR give USER name first, then PASS password");
	ts_send(t, "user\r\n");
	l = ts_expect(t, "-ERR usage: USER name");
	ts_send(t, "user etudiant\r\n");
	ts_expect(t, "+OK");
	ts_send(t, "pass\r\n");
	ts_expect(t, "-ERR usage: PASS password");
	ts_send(t, "pass Etudiant1\r\n");
	ts_expect(t, "+OK etudiant has 1 message (419 octets)");

	ts_send(t, "retr\r\n");
	expect_line(t, "-ERR usage: RETR msg (a message number from LIST)");
	ts_send(t, "top 1\r\n");
	ts_expect(t, "-ERR usage: TOP msg lines (e.g. TOP 1 10");
	ts_send(t, "LSIT\r\n");
	l = ts_expect(t, "-ERR unknown command \"LSIT\"; try STAT, LIST, "
	    "RETR, TOP, DELE");
	ts_send(t, "user etudiant\r\n");
	ts_expect(t, "-ERR already logged in as etudiant; USER is only for "
	    "logging in");
	ts_send(t, "retr 2\r\n");
	expect_line(t, "-ERR no message 2: messages are numbered 1 to 1");
	ts_send(t, "retr x\r\n");
	ts_expect(t, "-ERR \"x\" is not a message number");
	quit(t);
	fx_free(f);
}

/* ---- AUTHORIZATION: every command, good and bad --------------------------- */

static void
test_auth_state(void **state)
{
	struct fx *f = fx_new(NULL, 0);
	struct ts *t = start(f);

	(void)state;
	ts_send(t, "CAPA\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "TOP");
	expect_line(t, "UIDL");
	expect_line(t, "USER");
	expect_line(t, "SASL PLAIN");
	expect_line(t, "RESP-CODES");
	expect_line(t, "AUTH-RESP-CODE");
	expect_line(t, "PIPELINING");
	expect_line(t, "EXPIRE NEVER");
	expect_line(t, "IMPLEMENTATION " POP3_IMPLEMENTATION);
	expect_line(t, ".");
	ts_send(t, "capa extra\r\n");
	ts_expect(t, "-ERR usage: CAPA");
	ts_send(t, "APOP etudiant 0123456789abcdef0123456789abcdef\r\n");
	ts_expect(t, "-ERR APOP is not offered");
	ts_send(t, "AUTH\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "PLAIN");
	expect_line(t, ".");
	ts_send(t, "AUTH LOGIN\r\n");
	ts_expect(t, "-ERR only AUTH PLAIN");
	ts_send(t, "AUTH PLAIN !!!notbase64\r\n");
	ts_expect(t, "-ERR [AUTH] invalid AUTH PLAIN response");
	ts_send(t, "AUTH PLAIN\r\n");
	expect_line(t, "+ ");
	ts_send(t, "*\r\n");
	ts_expect(t, "-ERR AUTH cancelled");
	ts_send(t, "AUTH PLAIN\r\n");
	expect_line(t, "+ ");
	ts_send(t, "%%%%\r\n");
	ts_expect(t, "-ERR [AUTH] invalid AUTH PLAIN response");
	/* Every transaction command is refused, saying what comes first. */
	ts_send(t, "LIST\r\nRETR 1\r\nTOP 1 1\r\nDELE 1\r\nNOOP\r\nRSET\r\n"
	    "UIDL\r\n");
	for (int i = 0; i < 7; i++)
		ts_expect(t, "-ERR log in first: USER name, then PASS");
	ts_send(t, "USER " "01234567890123456789012345678901234567890\r\n");
	ts_expect(t, "-ERR argument too long (at most 40 characters)");
	ts_send(t, "\r\n");
	ts_expect(t, "-ERR empty line; not logged in yet");
	ts_send(t, "QUIT\r\n");
	expect_line(t, "+OK bye");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

static void
test_auth_plain(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	char b64[128];
	unsigned char raw[] = "\0etudiant\0Etudiant1";
	struct ts *t;

	(void)state;
	assert_true(b64_encode(raw, sizeof(raw) - 1, b64, sizeof(b64)) > 0);
	/* Initial response on the command line. */
	t = start(f);
	ts_send(t, "AUTH PLAIN ");
	ts_send(t, b64);
	ts_send(t, "\r\n");
	ts_expect(t, "+OK etudiant has 1 message");
	ts_send(t, "STAT\r\n");
	expect_line(t, "+OK 1 419");
	ts_send(t, "CAPA\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "TOP");
	expect_line(t, "UIDL");
	expect_line(t, "RESP-CODES");	/* no USER/SASL after login */
	while (strcmp(ts_line(t, WAIT_MS), ".") != 0)
		;
	quit(t);
	/* As a continuation. */
	t = start(f);
	ts_send(t, "auth plain\r\n");
	expect_line(t, "+ ");
	ts_send(t, b64);
	ts_send(t, "\r\n");
	ts_expect(t, "+OK etudiant has 1 message");
	quit(t);
	fx_free(f);
}

static void
test_auth_failures(void **state)
{
	struct fx *f = fx_new(NULL, 0);
	struct ts *t = start(f);

	(void)state;
	/* Unknown user and bad password get the same reply; the third
	 * failure ends the session. */
	ts_send(t, "USER nobodyhere\r\nPASS whatever\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "-ERR [AUTH] authentication failed");
	ts_send(t, "USER etudiant\r\nPASS wrong\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "-ERR [AUTH] authentication failed");
	ts_send(t, "USER etudiant\r\nPASS wrong again\r\n");
	ts_expect(t, "+OK");
	ts_expect(t, "-ERR [AUTH] authentication failed; too many failures");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

/* ---- TRANSACTION ---------------------------------------------------------- */

static void
test_trans_commands(void **state)
{
	const char *msgs[] = { seed_msg, three_lines_msg };
	struct fx *f = fx_new(msgs, 2);
	struct ts *t = login(f);
	char size1[64], size2[64], last[256];
	uint64_t n;
	int lines;

	(void)state;
	ts_send(t, "STAT\r\n");
	ts_expect(t, "+OK 2 ");
	ts_send(t, "LIST\r\n");
	ts_expect(t, "+OK 2 messages (");
	snprintf(size1, sizeof(size1), "%s", ts_line(t, WAIT_MS));
	snprintf(size2, sizeof(size2), "%s", ts_line(t, WAIT_MS));
	expect_line(t, ".");
	assert_string_equal(size1, "1 419");
	ts_send(t, "LIST 2\r\n");
	{
		char want[80];

		snprintf(want, sizeof(want), "+OK %s", size2);
		expect_line(t, want);
	}
	ts_send(t, "LIST 3\r\nLIST 0\r\nLIST a\r\nLIST 1 2\r\n");
	ts_expect(t, "-ERR no message 3");
	ts_expect(t, "-ERR no message 0");
	ts_expect(t, "-ERR \"a\" is not a message number");
	ts_expect(t, "-ERR usage: LIST [msg]");
	/* RETR sends exactly the octets LIST announced. */
	ts_send(t, "RETR 2\r\n");
	ts_expect(t, "+OK ");
	n = read_ml(t, &lines, last, sizeof(last));
	assert_int_equal(n, strtoull(size2 + 2, NULL, 10));
	assert_int_equal(lines, 6);
	assert_string_equal(last, "line three");
	ts_send(t, "RETR 1\r\n");
	ts_expect(t, "+OK 419 octets");
	n = read_ml(t, &lines, NULL, 0);
	assert_int_equal(n, 419);
	/* TOP n 0: headers and the blank line; TOP n k; k past the end. */
	ts_send(t, "TOP 2 0\r\n");
	ts_expect(t, "+OK");
	n = read_ml(t, &lines, last, sizeof(last));
	assert_int_equal(lines, 3);
	assert_string_equal(last, "");
	ts_send(t, "TOP 2 2\r\n");
	ts_expect(t, "+OK");
	n = read_ml(t, &lines, last, sizeof(last));
	assert_int_equal(lines, 5);
	assert_string_equal(last, "line two");
	ts_send(t, "TOP 2 99999999999999999999999\r\n");
	ts_expect(t, "+OK");
	n = read_ml(t, &lines, last, sizeof(last));
	assert_int_equal(lines, 6);
	ts_send(t, "TOP 1 -1\r\nTOP 1 x\r\nTOP 1\r\nTOP 9 1\r\n");
	ts_expect(t, "-ERR usage: TOP msg lines");
	ts_expect(t, "-ERR usage: TOP msg lines");
	ts_expect(t, "-ERR usage: TOP msg lines");
	ts_expect(t, "-ERR no message 9");
	ts_send(t, "RETR 99999999999999999999\r\n");
	ts_expect(t, "-ERR no message 9999999999999999...");
	/* DELE, then everything about that message is refused. */
	ts_send(t, "DELE 1\r\n");
	expect_line(t, "+OK message 1 deleted (at QUIT)");
	ts_send(t, "DELE 1\r\nRETR 1\r\nTOP 1 0\r\nLIST 1\r\nUIDL 1\r\n");
	for (int i = 0; i < 5; i++)
		ts_expect(t, "-ERR message 1 is deleted (RSET undeletes it)");
	ts_send(t, "STAT\r\n");
	ts_expect(t, "+OK 1 ");
	ts_send(t, "LIST\r\n");
	ts_expect(t, "+OK 1 message (");
	expect_line(t, size2);
	expect_line(t, ".");
	ts_send(t, "RSET\r\n");
	ts_expect(t, "+OK maildrop has 2 messages");
	ts_send(t, "STAT\r\nNOOP\r\nNOOP x\r\nRSET x\r\nSTAT x\r\nDELE\r\n");
	ts_expect(t, "+OK 2 ");
	expect_line(t, "+OK");
	ts_expect(t, "-ERR usage: NOOP");
	ts_expect(t, "-ERR usage: RSET");
	ts_expect(t, "-ERR usage: STAT");
	ts_expect(t, "-ERR usage: DELE msg");
	ts_send(t, "PASS x\r\nAPOP a b\r\nAUTH PLAIN\r\n");
	ts_expect(t, "-ERR already logged in as etudiant; PASS");
	ts_expect(t, "-ERR already logged in as etudiant; APOP");
	ts_expect(t, "-ERR already logged in as etudiant; AUTH");
	ts_send(t, "QUIT now\r\n");
	ts_expect(t, "-ERR usage: QUIT");
	ts_send(t, "quit\r\n");
	expect_line(t, "+OK bye: 0 deleted, 2 left");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

static void
test_dot_stuffing(void **state)
{
	const char *msgs[] = { dots_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t = login(f);
	const char *l;
	char size[64];
	uint64_t n;
	int lines;

	(void)state;
	ts_send(t, "LIST 1\r\n");
	l = ts_expect(t, "+OK 1 ");
	snprintf(size, sizeof(size), "%s", l + 6);
	ts_send(t, "RETR 1\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "Subject: dots");
	expect_line(t, "");
	expect_line(t, "..hidden line");
	expect_line(t, "..");
	expect_line(t, "...");
	expect_line(t, "body line 4");
	expect_line(t, "From the start of a line");
	expect_line(t, ".");
	ts_send(t, "RETR 1\r\n");
	ts_expect(t, "+OK");
	n = read_ml(t, &lines, NULL, 0);
	assert_int_equal(n, strtoull(size, NULL, 10));
	quit(t);
	fx_free(f);
}

/* A message larger than the output buffer, with a 60 KB line. */
static void
test_big_message(void **state)
{
	size_t cap = 600 * 1024, n = 0, i;
	char *m = malloc(cap), size[64], last[256];
	const char *msgs[1];
	struct fx *f;
	struct ts *t;
	uint64_t octets;
	int lines;

	(void)state;
	assert_non_null(m);
	n += (size_t)snprintf(m, cap, "Subject: big\n\n");
	memset(m + n, 'L', 60000);
	n += 60000;
	m[n++] = '\n';
	for (i = 0; i < 8000; i++)
		n += (size_t)snprintf(m + n, cap - n, "%s%05zu short line\n",
		    i % 100 == 0 ? "." : "", i);
	m[n] = '\0';
	msgs[0] = m;
	f = fx_new(msgs, 1);
	t = login(f);
	ts_send(t, "LIST 1\r\n");
	snprintf(size, sizeof(size), "%s", ts_expect(t, "+OK 1 ") + 6);
	ts_send(t, "RETR 1\r\nNOOP\r\n");
	ts_expect(t, "+OK");
	octets = read_ml(t, &lines, last, sizeof(last));
	assert_int_equal(octets, strtoull(size, NULL, 10));
	assert_int_equal(lines, 2 + 1 + 8000);
	assert_string_equal(last, "07999 short line");
	expect_line(t, "+OK");
	quit(t);
	free(m);
	fx_free(f);
}

/* ---- pipelining ----------------------------------------------------------- */

static const char pipelined[] =
    "USER etudiant\r\nPASS Etudiant1\r\nSTAT\r\nLIST\r\nUIDL 1\r\n"
    "NOOP\r\nQUIT\r\n";

static void
check_pipelined(struct ts *t)
{
	ts_expect(t, "+OK");
	ts_expect(t, "+OK etudiant has 1 message");
	expect_line(t, "+OK 1 419");
	ts_expect(t, "+OK");
	expect_line(t, "1 419");
	expect_line(t, ".");
	ts_expect(t, "+OK 1 ");
	expect_line(t, "+OK");
	ts_expect(t, "+OK bye");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
}

static void
test_pipelining(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t;

	(void)state;
	t = start(f);
	ts_send(t, pipelined);
	check_pipelined(t);
	t = start(f);
	ts_send_bytewise(t, pipelined);
	check_pipelined(t);
	fx_free(f);
}

/* ---- bad input ------------------------------------------------------------ */

static void
test_bad_input(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t = start(f);
	size_t big = 10 * 1024 * 1024;
	char *p;

	(void)state;
	/* A NUL voids the whole line: no login as "etudiant". */
	ts_sendn(t, "USER etudiant\0evil\r\n", 20);
	ts_expect(t, "-ERR the line contains a NUL byte");
	ts_send(t, "PASS Etudiant1\r\n");
	ts_expect(t, "-ERR give USER name first");
	/* A 10 MB line is one error, and the session stays in sync. */
	p = malloc(big + 2);
	assert_non_null(p);
	memset(p, 'A', big);
	memcpy(p + big, "\r\n", 2);
	ts_sendn(t, p, big + 2);
	free(p);
	ts_expect(t, "-ERR line too long");
	ts_send(t, "NOOP\r\n");
	ts_expect(t, "-ERR log in first");
	ts_send(t, "USER etudiant\r\nPASS Etudiant1\r\n");
	ts_expect(t, "+OK");
	ts_expect(t, "+OK etudiant has 1 message");
	ts_send(t, "RETR 99999999999999999999\r\nTOP 1 -1\r\nRETR -1\r\n"
	    "RETR 1x\r\nRETR \x01\x02\r\n");
	ts_expect(t, "-ERR no message");
	ts_expect(t, "-ERR usage: TOP");
	ts_expect(t, "-ERR \"-1\" is not a message number");
	ts_expect(t, "-ERR \"1x\" is not a message number");
	ts_expect(t, "-ERR \"??\" is not a message number");
	/* 255 octets with CRLF is the longest line (RFC 2449 4). */
	{
		char l[300];

		memset(l, ' ', sizeof(l));
		memcpy(l, "NOOP", 4);
		memcpy(l + POP3_CMD_MAX - 2, "\r\n", 2);
		ts_sendn(t, l, POP3_CMD_MAX);
		expect_line(t, "+OK");
		memcpy(l + POP3_CMD_MAX - 2, " \r\n", 3);
		ts_sendn(t, l, POP3_CMD_MAX + 1);
		ts_expect(t, "-ERR line too long");
	}
	ts_sendn(t, "NOOP\0\r\n", 7);
	ts_expect(t, "-ERR the line contains a NUL byte");
	ts_send(t, "NOOP\r\n");
	expect_line(t, "+OK");
	quit(t);
	fx_free(f);
}

static void
test_timeout(void **state)
{
	struct fx *f = fx_new(NULL, 0);
	struct ts *t;

	(void)state;
	f->cfg.idle_sec = 1;
	t = login(f);
	ts_expect(t, "-ERR autologout");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

/* ---- the maildrop ----------------------------------------------------------- */

static void
test_dele_quit_persists(void **state)
{
	const char *msgs[] = { seed_msg, three_lines_msg, dots_msg };
	struct fx *f = fx_new(msgs, 3);
	struct ts *t;

	(void)state;
	/* DELE then a dropped connection: nothing deleted. */
	t = login(f);
	ts_send(t, "DELE 1\r\nDELE 2\r\n");
	ts_expect(t, "+OK");
	ts_expect(t, "+OK");
	assert_int_equal(ts_finish(t), 0);
	t = login(f);
	ts_send(t, "STAT\r\n");
	ts_expect(t, "+OK 3 ");
	/* DELE then QUIT: gone for good. */
	ts_send(t, "DELE 2\r\nQUIT\r\n");
	ts_expect(t, "+OK");
	expect_line(t, "+OK bye: 1 deleted, 2 left");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	t = login(f);
	ts_send(t, "STAT\r\nTOP 2 0\r\n");
	ts_expect(t, "+OK 2 ");
	ts_expect(t, "+OK");
	expect_line(t, "Subject: dots");
	expect_line(t, "");
	expect_line(t, ".");
	quit(t);
	fx_free(f);
}

/* Read "UIDL" into UIDS[0..N). */
static void
read_uidl(struct ts *t, char uids[][64], int n)
{
	int i;

	ts_send(t, "UIDL\r\n");
	ts_expect(t, "+OK");
	for (i = 0; i < n; i++) {
		const char *l = ts_line(t, WAIT_MS), *sp;

		assert_non_null(l);
		sp = strchr(l, ' ');
		assert_non_null(sp);
		assert_int_equal(atoi(l), i + 1);
		assert_int_equal(strlen(sp + 1), POP3_UIDL_LEN);
		snprintf(uids[i], 64, "%s", sp + 1);
	}
	expect_line(t, ".");
}

static void
test_uidl_stable(void **state)
{
	const char *msgs[] = { seed_msg, three_lines_msg, dots_msg };
	struct fx *f = fx_new(msgs, 3);
	char a[3][64], b[3][64], c[2][64], one[128];
	struct ts *t;

	(void)state;
	t = login(f);
	read_uidl(t, a, 3);
	assert_string_not_equal(a[0], a[1]);
	assert_string_not_equal(a[1], a[2]);
	snprintf(one, sizeof(one), "+OK 2 %s", a[1]);
	ts_send(t, "UIDL 2\r\n");
	expect_line(t, one);
	ts_send(t, "UIDL 4\r\n");
	ts_expect(t, "-ERR no message 4");
	assert_int_equal(ts_finish(t), 0);	/* no QUIT */
	t = login(f);
	read_uidl(t, b, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(a[i], b[i]);
	ts_send(t, "DELE 1\r\n");
	ts_expect(t, "+OK");
	quit(t);
	t = login(f);
	read_uidl(t, c, 2);
	assert_string_equal(c[0], a[1]);
	assert_string_equal(c[1], a[2]);
	quit(t);
	fx_free(f);
}

static void
test_in_use(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	struct ts *t1, *t2;

	(void)state;
	t1 = login(f);
	t2 = start(f);
	ts_send(t2, "USER etudiant\r\nPASS Etudiant1\r\n");
	ts_expect(t2, "+OK");
	ts_expect(t2, "-ERR [IN-USE] ");
	ts_expect_eof(t2, WAIT_MS);
	assert_int_equal(ts_finish(t2), 0);
	quit(t1);
	t2 = login(f);
	quit(t2);
	fx_free(f);
}

static void
test_new_mail_during_session(void **state)
{
	const char *msgs[] = { seed_msg, three_lines_msg };
	struct fx *f = fx_new(msgs, 2);
	struct ts *t;
	char u[3][64];

	(void)state;
	t = login(f);
	ts_send(t, "UIDL\r\n");
	ts_expect(t, "+OK");
	while (strcmp(ts_line(t, WAIT_MS), ".") != 0)
		;
	fx_append(f, dots_msg);
	ts_send(t, "STAT\r\nLIST 3\r\nDELE 1\r\n");
	ts_expect(t, "+OK 2 ");
	ts_expect(t, "-ERR no message 3");
	ts_expect(t, "+OK");
	ts_send(t, "QUIT\r\n");
	expect_line(t, "+OK bye: 1 deleted, 1 left");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	t = login(f);
	ts_send(t, "STAT\r\nTOP 2 0\r\n");
	ts_expect(t, "+OK 2 ");
	ts_expect(t, "+OK");
	expect_line(t, "Subject: dots");
	expect_line(t, "");
	expect_line(t, ".");
	read_uidl(t, u, 2);
	assert_string_not_equal(u[0], u[1]);
	quit(t);
	fx_free(f);
}

/* A mailbox cut under the session by another program: RETR answers -ERR,
 * never "+OK" followed by an error in the middle of the text, and the
 * session ends. */
static void
test_mailbox_cut(void **state)
{
	const char *msgs[] = { seed_msg, three_lines_msg };
	struct fx *f = fx_new(msgs, 2);
	struct ts *t;

	(void)state;
	t = login(f);
	assert_int_equal(truncate(f->lab.inbox, 10), 0);
	ts_send(t, "RETR 2\r\n");
	ts_expect(t, "-ERR [SYS/TEMP]");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 1);	/* a failure, logged */
	fx_free(f);
}

/* A mailbox that cannot be used: the login gets [SYS/...] and the session
 * ends cleanly. */
static void
test_mailbox_unusable(void **state)
{
	struct fx *f = fx_new(NULL, 0);
	char other[700];
	struct ts *t;

	(void)state;
	snprintf(other, sizeof(other), "%s/other", f->lab.dir);
	fclose(fopen(other, "w"));
	assert_int_equal(unlink(f->lab.inbox), 0);
	assert_int_equal(symlink(other, f->lab.inbox), 0);
	t = start(f);
	ts_send(t, "USER etudiant\r\nPASS Etudiant1\r\n");
	ts_expect(t, "+OK");
	ts_expect(t, "-ERR [SYS/");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
	fx_free(f);
}

/* -v: the transcript shows both sides, never a password. */
static void
test_transcript(void **state)
{
	const char *msgs[] = { seed_msg };
	struct fx *f = fx_new(msgs, 1);
	unsigned char raw[] = "\0etudiant\0Etudiant1";
	char path[700], b64[128], *text;
	struct ts *t;
	int fd, saved;
	FILE *fp;
	long n;

	(void)state;
	assert_true(b64_encode(raw, sizeof(raw) - 1, b64, sizeof(b64)) > 0);
	snprintf(path, sizeof(path), "%s/transcript", f->lab.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	f->cfg.transcript = IO_TRANSCRIPT_STDERR;
	t = ts_start(serve, &f->cfg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	ts_expect(t, "+OK");
	ts_send(t, "USER etudiant\r\nPASS Etudiant1\r\n");
	ts_expect(t, "+OK");
	ts_expect(t, "+OK");
	ts_send(t, "RETR 1\r\n");
	ts_expect(t, "+OK");
	while (strcmp(ts_line(t, WAIT_MS), ".") != 0)
		;
	quit(t);
	t = ts_start(serve, &f->cfg);	/* stderr is ours again: no log */
	ts_expect(t, "+OK");
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "+OK");
	assert_int_equal(ts_finish(t), 0);

	fp = fopen(path, "r");
	assert_non_null(fp);
	text = calloc(1, 65536);
	assert_non_null(text);
	n = (long)fread(text, 1, 65535, fp);
	fclose(fp);
	assert_true(n > 0);
	assert_non_null(strstr(text, "C: USER etudiant\n"));
	assert_non_null(strstr(text, "C: PASS ********\n"));
	assert_non_null(strstr(text, "S: +OK etudiant has 1 message"));
	assert_non_null(strstr(text, "C: RETR 1\n"));
	assert_null(strstr(text, "Etudiant1"));
	assert_null(strstr(text, "Return-Path"));	/* bulk data not logged */
	free(text);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_session),
		cmocka_unit_test(test_student_mistakes),
		cmocka_unit_test(test_auth_state),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_failures),
		cmocka_unit_test(test_trans_commands),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_big_message),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_dele_quit_persists),
		cmocka_unit_test(test_uidl_stable),
		cmocka_unit_test(test_in_use),
		cmocka_unit_test(test_new_mail_during_session),
		cmocka_unit_test(test_transcript),
		cmocka_unit_test(test_mailbox_unusable),
		cmocka_unit_test(test_mailbox_cut),
	};

	return cmocka_run_group_tests_name("pop3", tests, NULL, NULL);
}
