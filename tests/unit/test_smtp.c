/*
 * test_smtp.c - smtpd session scripts: smtp_serve() in a forked child over
 * a socketpair, with a passwd-file of lab users and a temporary spool
 * (in-process delivery: what a non-root smtpd does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../smtpd/smtp.h"
#include "tfixture.h"

#define HOST	"mx.test"

struct fx {
	struct tf_lab lab;
	struct smtp_cfg cfg;
};

static int
srv(int rfd, int wfd, void *arg)
{
	return smtp_serve(arg, rfd, wfd, -1);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;
	int i;

	assert_non_null(f);
	tf_lab_init(&f->lab, "smtp", TF_SPOOL);
	fp = fopen(f->lab.passwd, "w");
	assert_non_null(fp);
	fprintf(fp, "etudiant:*\nbob:*\n");
	for (i = 0; i < 120; i++)
		fprintf(fp, "u%03d:*\n", i);
	fclose(fp);
	smtp_cfg_init(&f->cfg);
	snprintf(f->cfg.host, sizeof(f->cfg.host), "%s", HOST);
	f->cfg.domains[0] = "lab.test";
	f->cfg.ndomains = 1;
	tf_auth_file(&f->cfg.auth, &f->lab);
	f->cfg.timeout = 10;
	setenv("REMOTE_ADDR", "192.168.56.131", 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	return tf_lab_teardown(state);	/* lab is first */
}

/* The mailbox of USER, NUL-terminated (malloc'ed), or NULL if none. */
static char *
mbox(struct fx *f, const char *user)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", f->lab.spool, user);
	return tf_slurp(path, NULL);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static struct ts *
start(struct fx *f)
{
	struct ts *t = ts_start(srv, &f->cfg);

	ts_expect(t, "220 " HOST " ESMTP");
	return t;
}

static void
quit(struct ts *t)
{
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "221 2.0.0 Bye");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

/* HELO, MAIL and one RCPT for etudiant. */
static void
envelope(struct ts *t)
{
	ts_send(t, "HELO client\r\n");
	ts_expect(t, "250 " HOST);
	ts_send(t, "MAIL FROM:<mbappe@fft.fr>\r\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RCPT TO:<etudiant@" HOST ">\r\n");
	ts_expect(t, "250 2.1.5 Ok");
}

/* ---- the lab session ---------------------------------------------------- */

static void
test_seed_session(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	const char *l;
	char *m;

	ts_send(t, "HELO Bonjour je suis un etudiant\r\n");
	l = ts_expect(t, "250 ");
	assert_string_equal(l, "250 " HOST);
	ts_send(t, "MAIL FROM:<mbappe@fft.fr>\r\n");
	assert_string_equal(ts_expect(t, "250"), "250 2.1.0 Ok");
	ts_send(t, "RCPT TO:<etudiant@" HOST ">\r\n");
	assert_string_equal(ts_expect(t, "250"), "250 2.1.5 Ok");
	ts_send(t, "DATA\r\n");
	assert_string_equal(ts_expect(t, "354"),
	    "354 End data with <CR><LF>.<CR><LF>");
	ts_send(t, "Cher \xc3\xa9tudiant que vous \xc3\xaates bon\r\n.\r\n");
	l = ts_expect(t, "250 2.0.0 Ok: queued as ");
	assert_int_equal(strlen(l), strlen("250 2.0.0 Ok: queued as ") +
	    SMTP_ID_LEN);
	assert_int_equal(strspn(l + 24, "0123456789ABCDEF"), SMTP_ID_LEN);
	quit(t);

	m = mbox(f, "etudiant");
	assert_non_null(m);
	assert_true(strncmp(m, "From mbappe@fft.fr ", 19) == 0);
	assert_non_null(strstr(m, "\nReturn-Path: <mbappe@fft.fr>\n"
	    "X-Original-To: etudiant@" HOST "\n"
	    "Delivered-To: etudiant@" HOST "\n"
	    "Received: from Bonjour?je?suis?un?etudiant "
	    "(unknown [192.168.56.131])\n\tby " HOST " (mailsuite) with SMTP "
	    "id "));
	assert_non_null(strstr(m, "\tfor <etudiant@" HOST ">; "));
	assert_non_null(strstr(m, "\nMessage-ID: <"));
	assert_non_null(strstr(m, "@" HOST ">\nDate: "));
	/* the text typed starts the body, after a blank line */
	assert_non_null(strstr(m, "\n\nCher \xc3\xa9tudiant que vous "
	    "\xc3\xaates bon\n\n"));
	free(m);
}

static void
test_ehlo_keywords(void **state)
{
	struct ts *t = start(*state);

	ts_send(t, "EHLO client.example\r\n");
	assert_string_equal(ts_expect(t, "250-"), "250-" HOST);
	assert_string_equal(ts_expect(t, "250-"), "250-PIPELINING");
	assert_string_equal(ts_expect(t, "250-"), "250-SIZE 10240000");
	assert_string_equal(ts_expect(t, "250-"), "250-8BITMIME");
	assert_string_equal(ts_expect(t, "250-"), "250-ENHANCEDSTATUSCODES");
	assert_string_equal(ts_expect(t, "250-"), "250-SMTPUTF8");
	assert_string_equal(ts_expect(t, "250 "), "250 HELP");
	quit(t);
}

/* ---- the students' mistakes: each reply says what was expected ------- */

static void
test_student_mistakes(void **state)
{
	struct ts *t = start(*state);

	ts_send(t, "MAIL FROM:<mbappe@fft.fr>\r\n");
	ts_expect(t, "503 5.5.1 Error: send HELO or EHLO first");
	ts_send(t, "HELO\r\n");
	assert_string_equal(ts_expect(t, "501"),
	    "501 5.5.4 Syntax: HELO hostname");
	ts_send(t, "HLEO x\r\n");
	assert_string_equal(ts_expect(t, "502"), "502 5.5.2 Error: command "
	    "\"HLEO\" not recognized; did you mean HELO? Try HELP");
	ts_send(t, "HELO x\r\n");
	ts_expect(t, "250 " HOST);
	ts_send(t, "RCPT TO:<etudiant@" HOST ">\r\n");
	ts_expect(t, "503 5.5.1 Error: need MAIL command");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "503 5.5.1 Error: need MAIL command");
	ts_send(t, "MAIL FROM:mbappe@fft.fr\r\n");
	ts_expect(t, "501 5.5.4 Syntax: MAIL FROM:<address>");
	ts_send(t, "MAIL TO:<mbappe@fft.fr>\r\n");
	assert_string_equal(ts_expect(t, "501"),
	    "501 5.5.4 Syntax: MAIL FROM:<address>");
	/* the handout writes "MAIL FROM :<...>": accepted, as ": <" is */
	ts_send(t, "mail from :<mbappe@fft.fr>\r\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RSET\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	ts_send(t, "MAIL FROM: <mbappe@fft.fr>\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "MAIL FROM:<mbappe@fft.fr>\r\n");
	ts_expect(t, "503 5.5.1 Error: nested MAIL command");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "503 5.5.1 Error: need RCPT command");
	ts_send(t, "RCPT TO:etudiant@" HOST "\r\n");
	ts_expect(t, "501 5.5.4 Syntax: RCPT TO:<address>");
	ts_send(t, "DATA now\r\n");
	assert_string_equal(ts_expect(t, "501"), "501 5.5.4 Syntax: DATA");
	ts_send(t, "QUITE\r\n");
	assert_string_equal(ts_expect(t, "502"), "502 5.5.2 Error: command "
	    "\"QUITE\" not recognized; did you mean QUIT? Try HELP");
	ts_send(t, "XYZZY\r\n");
	ts_expect(t, "502 5.5.2 Error: command \"XYZZY\" not recognized; "
	    "commands are HELO EHLO MAIL RCPT DATA");
	ts_send(t, "\r\n");
	ts_expect(t, "500 5.5.2 Error: empty command");
	/* QUIT with words after it still ends the session */
	ts_send(t, "quit please\r\n");
	ts_expect(t, "221 2.0.0 Bye");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

static void
test_help_vrfy(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	const char *l;
	int n = 0;

	ts_send(t, "HELP\r\n");
	while ((l = ts_expect(t, "214"))[3] == '-')
		n++;
	assert_true(n >= 11);
	ts_send(t, "help mail\r\n");
	ts_expect(t, "214 2.0.0 MAIL FROM:<address>");
	ts_send(t, "HELP FOO\r\n");
	ts_expect(t, "504 5.5.1 HELP: no command \"FOO\"");
	ts_send(t, "VRFY etudiant\r\n");
	ts_expect(t, "252 2.0.0 Cannot VRFY user");
	ts_send(t, "EXPN staff\r\n");
	ts_expect(t, "502 5.5.1");
	ts_send(t, "NOOP\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	ts_send(t, "RSET\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	quit(t);

	f->cfg.verify = 1;
	t = start(f);
	ts_send(t, "VRFY Etudiant\r\n");
	assert_string_equal(ts_expect(t, "250"),
	    "250 2.1.5 <etudiant@" HOST ">");
	ts_send(t, "VRFY <bob@localhost>\r\n");
	ts_expect(t, "250 2.1.5 <bob@" HOST ">");
	ts_send(t, "VRFY nosuch\r\n");
	ts_expect(t, "550 5.1.1 <nosuch>: Recipient address rejected");
	quit(t);
}

/* ---- recipients --------------------------------------------------------- */

/* Started as root, a passwd-file entry without uid:gid would be written
 * as uid 0: deferred with 451, never delivered as root. */
static void
test_root_uid0_refused(void **state)
{
	struct fx *f = *state;
	struct ts *t;
	FILE *fp;

	if (getuid() != 0) {
		/* without root, "no ids" means our own, non-zero uid */
		skip();
	}
	fp = fopen(f->lab.passwd, "w");
	assert_non_null(fp);
	fprintf(fp, "etudiant:*\nbob:*:12345:12345\ntoor:*:0:0\n");
	fclose(fp);
	f->cfg.root = 1;
	t = start(f);
	ts_send(t, "HELO x\r\nMAIL FROM:<a@b.c>\r\n");
	ts_expect(t, "250 " HOST);
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RCPT TO:<etudiant@" HOST ">\r\n");
	ts_expect(t, "451 4.3.0 <etudiant@" HOST ">: Temporary lookup failure");
	ts_send(t, "RCPT TO:<toor@" HOST ">\r\n");
	ts_expect(t, "550 5.1.1 <toor@" HOST ">");
	ts_send(t, "RCPT TO:<bob@" HOST ">\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "VRFY etudiant\r\n");
	ts_expect(t, "252 2.0.0");
	ts_send(t, "RSET\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	quit(t);
	assert_null(mbox(f, "etudiant"));
}

static void
test_recipients(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	char *m;

	ts_send(t, "EHLO x\r\n");
	while (ts_expect(t, "250")[3] == '-')
		;
	ts_send(t, "MAIL FROM:<>\r\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RCPT TO:<someone@example.com>\r\n");
	assert_string_equal(ts_expect(t, "554"), "554 5.7.1 "
	    "<someone@example.com>: Relay access denied: this server only "
	    "takes mail for local users (@" HOST ")");
	ts_send(t, "RCPT TO:<nosuch@" HOST ">\r\n");
	ts_expect(t, "550 5.1.1 <nosuch@" HOST ">: Recipient address "
	    "rejected: User unknown");
	ts_send(t, "RCPT TO:<../../etc/passwd@localhost>\r\n");
	ts_expect(t, "501 5.1.3 Bad recipient address syntax");
	ts_send(t, "RCPT TO:<etc/passwd@localhost>\r\n");
	ts_expect(t, "550 5.1.1");
	ts_send(t, "RCPT TO:<etudiant>\r\n");
	assert_string_equal(ts_expect(t, "501"), "501 5.1.3 Bad recipient "
	    "address syntax: the address needs a domain: "
	    "RCPT TO:<etudiant@" HOST ">");
	ts_send(t, "RCPT TO:<x@[10.0.0.1]>\r\n");
	ts_expect(t, "554 5.7.1");
	ts_send(t, "RCPT TO:<etudiant@mx.test> NOTIFY=NEVER\r\n");
	ts_expect(t, "555 5.5.4 Unsupported option: NOTIFY");
	ts_send(t, "RCPT TO:<Etudiant@MX.TEST>\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "RCPT TO:<etudiant@mx.test>\r\n");	/* same, twice */
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "RCPT TO: <bob@lab.test>\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "RCPT TO:<postmaster>\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "RCPT TO:<\"bob\"@[127.0.0.1]>\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: to many\r\n\r\nhello\r\n.\r\n");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	quit(t);

	m = mbox(f, "etudiant");
	assert_non_null(m);
	assert_int_equal(count(m, "\nSubject: to many\n"), 1);
	assert_non_null(strstr(m, "Return-Path: <>\n"));
	assert_true(strncmp(m, "From MAILER-DAEMON ", 19) == 0);
	/* several recipients: no "for <...>" in Received */
	assert_null(strstr(m, "\tfor <"));
	free(m);
	m = mbox(f, "bob");
	assert_non_null(m);
	assert_int_equal(count(m, "\nSubject: to many\n"), 2);
	assert_non_null(strstr(m, "X-Original-To: bob@lab.test\n"));
	assert_non_null(strstr(m, "X-Original-To: \"bob\"@[127.0.0.1]\n"));
	free(m);
	m = mbox(f, "postmaster");
	assert_non_null(m);
	free(m);
	/* nothing was written outside the spool */
	assert_int_equal(access("/etc/passwd", F_OK), 0);
}

static void
test_101_recipients(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	char cmd[64];
	char *m;
	int i;

	envelope(t);
	for (i = 1; i < SMTP_RCPT_MAX; i++) {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<u%03d@" HOST ">\r\n", i);
		ts_send(t, cmd);
		ts_expect(t, "250 2.1.5 Ok");
	}
	ts_send(t, "RCPT TO:<u100@" HOST ">\r\n");
	assert_string_equal(ts_expect(t, "452"), "452 4.5.3 Error: too many "
	    "recipients (at most 100 per message; send the rest in another)");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: hundred\r\n\r\nx\r\n.\r\n");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	quit(t);
	m = mbox(f, "u099");
	assert_non_null(m);
	free(m);
	assert_null(mbox(f, "u100"));
}

static void
test_smtputf8(void **state)
{
	struct ts *t = start(*state);

	ts_send(t, "EHLO x\r\n");
	while (ts_expect(t, "250")[3] == '-')
		;
	ts_send(t, "MAIL FROM:<\xc3\xa9l\xc3\xa8ve@fft.fr>\r\n");
	ts_expect(t, "553 5.6.7 Non-ASCII sender address needs the SMTPUTF8");
	ts_send(t, "MAIL FROM:<\xc3\xa9l\xc3\xa8ve@fft.fr> SMTPUTF8 "
	    "BODY=8BITMIME\r\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RSET\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	ts_send(t, "MAIL FROM:<\xff\xfe@fft.fr> SMTPUTF8\r\n");
	ts_expect(t, "501 5.1.7 Bad sender address syntax");
	ts_send(t, "MAIL FROM:<a@b.c> BODY=9BIT\r\n");
	ts_expect(t, "501 5.5.4 Syntax: BODY=7BIT or BODY=8BITMIME");
	ts_send(t, "MAIL FROM:<a@b.c> AUTH=<>\r\n");
	ts_expect(t, "555 5.5.4 Unsupported option: AUTH");
	quit(t);
}

/* ---- pipelining --------------------------------------------------------- */

static const char pipelined[] =
    "EHLO pipe.example\r\n"
    "MAIL FROM:<a@pipe.example>\r\n"
    "RCPT TO:<etudiant@" HOST ">\r\n"
    "RCPT TO:<nobody@" HOST ">\r\n"
    "RCPT TO:<bob@localhost>\r\n"
    "DATA\r\n"
    "Subject: piped\r\n"
    "\r\n"
    "one\r\n"
    ".\r\n"
    "MAIL FROM:<b@pipe.example>\r\n"
    "RCPT TO:<bob@" HOST ">\r\n"
    "DATA\r\n"
    "Subject: second\r\n"
    "\r\n"
    "two\r\n"
    ".\r\n"
    "QUIT\r\n";

static void
pipelined_replies(struct fx *f, struct ts *t)
{
	char *m;

	while (ts_expect(t, "250")[3] == '-')
		;
	ts_expect(t, "250 2.1.0 Ok");
	ts_expect(t, "250 2.1.5 Ok");
	ts_expect(t, "550 5.1.1");
	ts_expect(t, "250 2.1.5 Ok");
	ts_expect(t, "354 ");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	ts_expect(t, "250 2.1.0 Ok");
	ts_expect(t, "250 2.1.5 Ok");
	ts_expect(t, "354 ");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	ts_expect(t, "221 2.0.0 Bye");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
	m = mbox(f, "bob");
	assert_non_null(m);
	assert_int_equal(count(m, "Subject: piped\n"), 1);
	assert_int_equal(count(m, "Subject: second\n"), 1);
	assert_non_null(strstr(m, "with ESMTP id"));
	free(m);
}

static void
test_pipelining_at_once(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);

	ts_send(t, pipelined);
	pipelined_replies(f, t);
}

static void
test_pipelining_bytewise(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);

	ts_send_bytewise(t, pipelined);
	pipelined_replies(f, t);
}

/* ---- DATA: end, smuggling, dots, line ends ------------------------------- */

static void
test_smuggling(void **state)
{
	static const char *const ends[] = { "\n.\n", "\n.\r\n", "\r\n.\n",
		"\r.\r\n" };
	struct fx *f = *state;
	struct ts *t;
	char buf[512];
	char *m;
	size_t i;

	t = start(f);
	for (i = 0; i < nitems(ends); i++) {
		if (i == 0)
			envelope(t);
		else {
			ts_send(t, "MAIL FROM:<mbappe@fft.fr>\r\n");
			ts_expect(t, "250 2.1.0");
			ts_send(t, "RCPT TO:<etudiant@" HOST ">\r\n");
			ts_expect(t, "250 2.1.5");
		}
		ts_send(t, "DATA\r\n");
		ts_expect(t, "354 ");
		snprintf(buf, sizeof(buf), "Subject: smuggle %zu\r\n\r\n"
		    "before%sMAIL FROM:<evil@x>\r\nRCPT TO:<bob@" HOST ">\r\n"
		    "DATA\r\nSubject: smuggled\r\n\r\nafter\r\n.\r\n", i,
		    ends[i]);
		ts_send(t, buf);
		/* one message, one reply: the rest was content */
		ts_expect(t, "250 2.0.0 Ok: queued as");
		ts_quiet(t, 100);
	}
	quit(t);
	m = mbox(f, "etudiant");
	assert_non_null(m);
	assert_int_equal(count(m, "\nMAIL FROM:<evil@x>\n"), (int)nitems(ends));
	assert_int_equal(count(m, "\nSubject: smuggled\n"), (int)nitems(ends));
	free(m);
	assert_null(mbox(f, "bob"));
}

static void
test_dots_and_line_ends(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	char *m;

	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: dots\r\nDate: Mon, 16 Jan 2023 13:09:16 +0100\r\n"
	    "Message-ID: <given@fft.fr>\r\n\r\n"
	    "..hidden\r\n...two\r\n.\tx\r\nbare\nlf\nFrom here\r\n"
	    "8bit: caf\xc3\xa9\r\n.\r\n");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	quit(t);
	m = mbox(f, "etudiant");
	assert_non_null(m);
	assert_non_null(strstr(m, "\n\n.hidden\n..two\n\tx\nbare\nlf\n"
	    ">From here\n8bit: caf\xc3\xa9\n"));
	assert_int_equal(count(m, "Date: "), 1);
	assert_int_equal(count(m, "Message-ID: "), 1);
	free(m);
}

/* Delivered-To: naming this mailbox means a loop: refused, others kept. */
static void
test_loop_guard(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	const char *l;
	char *m;

	envelope(t);
	ts_send(t, "RCPT TO:<bob@" HOST ">\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Delivered-To: Etudiant@MX.test \r\nSubject: loop\r\n\r\n"
	    "Delivered-To: bob@" HOST "\r\n.\r\n");
	l = ts_expect(t, "250 2.0.0 Ok: queued as ");
	assert_non_null(strstr(l, ", but NOT delivered to <etudiant@" HOST
	    ">: mail forwarding loop"));
	/* all copies refused: 554 5.4.6 */
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Delivered-To: etudiant@" HOST "\r\n\r\nx\r\n.\r\n");
	ts_expect(t, "554 5.4.6 Error: not delivered: mail forwarding loop");
	quit(t);
	assert_null(mbox(f, "etudiant"));
	m = mbox(f, "bob");
	assert_non_null(m);
	assert_int_equal(count(m, "Subject: loop"), 1);
	free(m);
}

/* A mailbox that cannot be written (here a directory): that copy fails
 * permanently, the client is told in words, not paths; the others go. */
static void
test_mailbox_failure(void **state)
{
	struct fx *f = *state;
	struct ts *t;
	char path[700];
	const char *l;
	char *m;

	snprintf(path, sizeof(path), "%s/bob", f->lab.spool);
	assert_int_equal(mkdir(path, 0700), 0);
	t = start(f);
	envelope(t);
	ts_send(t, "RCPT TO:<bob@" HOST ">\r\nDATA\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: half\r\n\r\nx\r\n.\r\n");
	l = ts_expect(t, "250 2.0.0 Ok: queued as ");
	assert_non_null(strstr(l, ", but NOT delivered to <bob@" HOST ">: "
	    "mailbox unavailable"));
	assert_null(strstr(l, f->lab.spool));
	ts_send(t, "MAIL FROM:<a@b.c>\r\nRCPT TO:<bob@" HOST ">\r\n"
	    "DATA\r\nSubject: none\r\n\r\nx\r\n.\r\n");
	ts_expect(t, "250 2.1.0");
	ts_expect(t, "250 2.1.5");
	ts_expect(t, "354 ");
	l = ts_expect(t, "554 5.");
	assert_non_null(strstr(l, "Error: not delivered: mailbox unavailable"));
	quit(t);
	m = mbox(f, "etudiant");
	assert_non_null(m);
	assert_int_equal(count(m, "Subject: half"), 1);
	assert_int_equal(count(m, "Subject: none"), 0);
	free(m);
}

static void
test_overlong_lines(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	char *big = malloc(200001);

	assert_non_null(big);
	memset(big, 'A', 200000);
	big[200000] = '\0';
	/* a command line over 512: one error, then in step */
	ts_send(t, "HELO ");
	ts_send(t, big);
	ts_send(t, "\r\nNOOP\r\n");
	ts_expect(t, "500 5.5.2 Error: line too long");
	ts_expect(t, "250 2.0.0 Ok");
	/* a line of exactly 510 characters plus CRLF is fine */
	memset(big, 'a', 510);
	memcpy(big, "HELO ", 5);
	big[510] = '\0';
	ts_send(t, big);
	ts_send(t, "\r\n");
	ts_expect(t, "250 " HOST);
	/* a text line over 1000: the message is read to its end, refused */
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	memset(big, 'B', 200000);
	ts_send(t, "Subject: long\r\n\r\n");
	ts_send(t, big);
	ts_send(t, "\r\nafter\r\n.\r\n");
	ts_expect(t, "500 5.5.2 Error: line too long");
	ts_send(t, "NOOP\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	/* 998 characters is the longest line allowed */
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	memset(big, 'C', 998);
	big[998] = '\0';
	ts_send(t, big);
	ts_send(t, "\r\n.\r\n");
	ts_expect(t, "250 2.0.0 Ok: queued as");
	quit(t);
	free(big);
	big = mbox(f, "etudiant");
	assert_non_null(big);
	assert_null(strstr(big, "Subject: long"));
	assert_non_null(strstr(big, "CCCCCCCC\n"));
	free(big);
}

/* An overlong text line ended by a bare LF, then ".\r\n": content, not
 * the end (the message is refused, but must not end there, or the
 * commands after it would run: smuggling through the length limit). */
static void
test_overlong_smuggling(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	char *big = malloc(3001);

	assert_non_null(big);
	memset(big, 'A', 3000);
	big[3000] = '\0';
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: long\r\n\r\n");
	ts_send(t, big);
	ts_send(t, "\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<bob@" HOST ">\r\n"
	    "DATA\r\nSubject: smuggled\r\n\r\nafter\r\n.\r\n");
	/* one message, one reply */
	ts_expect(t, "500 5.5.2 Error: line too long");
	ts_quiet(t, 200);
	/* an overlong line with a NUL past the limit, CR LF, then the end */
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, big);
	ts_sendn(t, "\0\r\n.\r\n", 6);
	ts_expect(t, "500 5.5.2 Error: line too long");
	ts_quiet(t, 100);
	quit(t);
	free(big);
	assert_null(mbox(f, "bob"));
	assert_null(mbox(f, "etudiant"));
}

static void
test_nul_bytes(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);

	ts_sendn(t, "HELO a\0b\r\n", 10);
	ts_expect(t, "500 5.5.2 Error: NUL byte");
	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_sendn(t, "Subject: nul\r\n\r\nx\0y\r\n.\r\n", 24);
	ts_expect(t, "554 5.6.0 Error: message contains NUL bytes");
	ts_send(t, "NOOP\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	quit(t);
	assert_null(mbox(f, "etudiant"));
}

static void
test_garbage_and_error_limit(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);
	int i;

	for (i = 0; i < SMTP_ERRORS_MAX - 1; i++) {
		ts_send(t, "\x01\x02\xff\xfe garbage\r\n");
		ts_expect(t, "502 5.5.2 Error: command \"????\" not recognized");
	}
	ts_send(t, "NOOP\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	ts_send(t, "BOGUS\r\n");
	ts_expect(t, "502 5.5.2");
	ts_expect(t, "421 4.7.0 " HOST " Error: too many errors");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);

	t = ts_start(srv, &f->cfg);
	ts_expect(t, "220 ");
	ts_send(t, "GET / HTTP/1.0\r\n");
	ts_expect(t, "521 5.5.1");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

/* ---- sizes -------------------------------------------------------------- */

static void
test_size(void **state)
{
	struct fx *f = *state;
	struct ts *t;
	char *big;

	f->cfg.size_max = 10000;
	t = start(f);
	ts_send(t, "EHLO x\r\n");
	while (ts_expect(t, "250")[3] == '-')
		;
	ts_send(t, "MAIL FROM:<a@b.c> SIZE=10001\r\n");
	ts_expect(t, "552 5.3.4 Message size exceeds fixed limit");
	ts_send(t, "MAIL FROM:<a@b.c> SIZE=99999999999999999999999\r\n");
	ts_expect(t, "501 5.5.4 Syntax: SIZE=bytes");
	ts_send(t, "MAIL FROM:<a@b.c> SIZE=9000\r\n");
	ts_expect(t, "250 2.1.0 Ok");
	ts_send(t, "RCPT TO:<etudiant@localhost>\r\n");
	ts_expect(t, "250 2.1.5 Ok");
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	big = malloc(20000);
	assert_non_null(big);
	memset(big, 'x', 20000);
	for (int i = 99; i < 20000; i += 100) {
		big[i - 1] = '\r';
		big[i] = '\n';
	}
	ts_sendn(t, big, 20000);
	ts_send(t, ".\r\n");
	ts_expect(t, "552 5.3.4 Error: message too big");
	free(big);
	quit(t);
	assert_null(mbox(f, "etudiant"));
}

/* ---- the end of sessions ------------------------------------------------ */

static void
test_disconnect_in_data(void **state)
{
	struct fx *f = *state;
	struct ts *t = start(f);

	envelope(t);
	ts_send(t, "DATA\r\n");
	ts_expect(t, "354 ");
	ts_send(t, "Subject: cut\r\n\r\nhalf a message\r\n");
	assert_int_equal(ts_finish(t), 0);
	assert_null(mbox(f, "etudiant"));
}

static void
test_timeout(void **state)
{
	struct fx *f = *state;
	struct ts *t;

	f->cfg.timeout = 1;
	t = start(f);
	ts_expect(t, "421 4.4.2 " HOST " Error: timeout exceeded");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);

	/* a student typing with nc (bare LF) waits in DATA: "." ended by a
	 * bare LF is content; the timeout says how a message ends */
	t = start(f);
	envelope(t);
	ts_send(t, "DATA\n");
	ts_expect(t, "354 ");
	ts_send(t, "hello\n.\n");
	assert_string_equal(ts_expect(t, "421"), "421 4.4.2 " HOST " Error: "
	    "timeout exceeded; nothing delivered: a message ends with a line "
	    "\".\" sent with CR LF (nc -C does, nc alone does not)");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
	assert_null(mbox(f, "etudiant"));
}

static void
test_sigterm(void **state)
{
	struct ts *t = start(*state);

	ts_send(t, "NOOP\r\n");
	ts_expect(t, "250 2.0.0 Ok");
	kill(t->pid, SIGTERM);
	ts_expect(t, "421 4.3.2 " HOST " Service shutting down");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

/* ---- address syntax ----------------------------------------------------- */

static void
test_parse_path(void **state)
{
	struct smtp_path p;

	(void)state;
	assert_int_equal(smtp_parse_path("<a@b.c>", 0, &p), SMTP_ADDR_OK);
	assert_string_equal(p.local, "a");
	assert_string_equal(p.domain, "b.c");
	assert_int_equal(smtp_parse_path(" <a.b+c@x-y.z> SIZE=1", 0, &p),
	    SMTP_ADDR_OK);
	assert_string_equal(p.params, "SIZE=1");
	assert_int_equal(smtp_parse_path("<@r1,@r2:u@h>", 0, &p),
	    SMTP_ADDR_OK);
	assert_string_equal(p.addr, "u@h");
	assert_int_equal(smtp_parse_path("<\"a b\"@h>", 0, &p), SMTP_ADDR_OK);
	assert_string_equal(p.local, "a b");
	assert_int_equal(smtp_parse_path("<u@[127.0.0.1]>", 0, &p),
	    SMTP_ADDR_OK);
	assert_int_equal(smtp_parse_path("<u@[IPv6:::1]>", 0, &p),
	    SMTP_ADDR_OK);
	assert_int_equal(smtp_parse_path("<Postmaster>", 0, &p), SMTP_ADDR_OK);
	assert_string_equal(p.domain, "");
	assert_int_equal(smtp_parse_path("<>", 1, &p), SMTP_ADDR_OK);
	assert_int_equal(smtp_parse_path("<>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("a@b", 0, &p), SMTP_ADDR_NOBRACKET);
	assert_int_equal(smtp_parse_path("<a@b", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<user>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a..b@c>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<.a@c>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@-c>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@c..d>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@[1.2.3]>", 0, &p),
	    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a b@c>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@c>x", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a\r@c>", 0, &p), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<\"a\r\"@c>", 0, &p),
	    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path(
	    "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@c>", 0, &p), SMTP_ADDR_TOOLONG);
	assert_int_equal(smtp_parse_path("<\xc3\xa9@c>", 0, &p), SMTP_ADDR_OK);
	assert_int_equal(p.utf8, 1);
	assert_int_equal(smtp_parse_path("<\xc0\xaf@c>", 0, &p),
	    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_utf8_valid("\xed\xa0\x80", 3), 0);
	assert_int_equal(smtp_utf8_valid("\xf0\x9f\x98\x80", 4), 1);
}

static void
test_local_domains(void **state)
{
	struct fx *f = *state;

	assert_true(smtp_domain_local(&f->cfg, "MX.test"));
	assert_true(smtp_domain_local(&f->cfg, "mx.test."));
	assert_true(smtp_domain_local(&f->cfg, "LocalHost"));
	assert_true(smtp_domain_local(&f->cfg, "lab.test"));
	assert_true(smtp_domain_local(&f->cfg, "[127.0.0.1]"));
	assert_false(smtp_domain_local(&f->cfg, "mx.test.evil"));
	assert_false(smtp_domain_local(&f->cfg, "test"));
	assert_false(smtp_domain_local(&f->cfg, "[10.0.0.1]"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seed_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ehlo_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_student_mistakes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_vrfy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_uid0_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_101_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtputf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining_bytewise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smuggling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dots_and_line_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_smuggling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_error_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_in_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_domains, setup, teardown),
	};

	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
