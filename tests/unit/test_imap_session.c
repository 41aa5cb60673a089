/*
 * test_imap_session.c - imapd sessions through a socketpair (tsession.h):
 * the lab handout's session, the students' mistakes, every core command
 * in every state, FETCH rendering, flags persisted in the mbox, UIDs,
 * \Recent, EXPUNGE numbering, new mail at NOOP and in IDLE, bad input.
 * The server runs in one process (no privilege separation) with a
 * passwd-file, on a spool in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tfixture.h"
#include "../../imapd/imapd.h"

#define WAIT_MS	15000

struct fixture {
	struct tf_lab lab;
	struct imap_config cfg;
};

static int
serve(int rfd, int wfd, void *arg)
{
	return imap_serve(rfd, wfd, arg);
}

/* The lab's message: headers and a body, CRLF. */
static const char lab_msg[] =
    "Return-Path: <mbappe@fft.fr>\r\n"
    "Subject: Cafe\r\n"
    "From: Kylian <mbappe@fft.fr>\r\n"
    "To: etudiant@localhost\r\n"
    "\r\n"
    "Cher etudiant que vous etes bon, si bon que vous pouvez aller\r\n"
    "chercher un cafe pour le prof\r\n";

static void
deliver(struct fixture *f, const char *msg)
{
	tf_deliver(f->lab.inbox, "mbappe@fft.fr", time(NULL), msg);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tf_lab_init(&f->lab, "imapsess", TF_SPOOL_IS_DIR | TF_PASSWD);
	tf_imap_config(&f->cfg, &f->lab);
	deliver(f, lab_msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	return tf_lab_teardown(state);	/* lab is first */
}

static struct ts *
start(struct fixture *f)
{
	struct ts *t = ts_start(serve, &f->cfg);

	ts_expect(t, "* OK [CAPABILITY IMAP4rev1 ");
	return t;
}

static struct ts *
start_logged(struct fixture *f)
{
	return tf_imap_login(&f->cfg);
}

static void
logout(struct ts *t)
{
	ts_send(t, "Z LOGOUT\r\n");
	ts_expect(t, "* BYE");
	ts_expect(t, "Z OK");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
}

/* Read a "... {N}" line's literal and the rest of the response up to
 * and including the line that closes it; returns the literal. */
static char *
literal_after(struct ts *t, const char *line, size_t *n_r)
{
	const char *brace = strrchr(line, '{');
	size_t n;

	assert_non_null(brace);
	n = strtoul(brace + 1, NULL, 10);
	*n_r = n;
	return ts_bytes(t, n, WAIT_MS);
}

static char *
file_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(fp);
	assert_non_null(buf);
	(void)!fread(buf, 1, (1 << 16) - 1, fp);
	fclose(fp);
	return buf;
}

/* ---- the lab handout's session ------------------------------------------ */

static void
test_lab_session(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);
	const char *l;
	char *body;
	size_t n;

	ts_send(t, "1 login etudiant Etudiant1\r\n");
	ts_expect(t, "1 OK [CAPABILITY IMAP4rev1 ");
	assert_non_null(strstr(t->line, "] Logged in"));
	ts_send(t, "2 list \"\" \"*\"\r\n");
	ts_expect(t, "* LIST (\\HasNoChildren) \"/\" INBOX");
	ts_expect(t, "2 OK List completed");
	ts_send(t, "3 examine inbox\r\n");
	ts_expect(t, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
	ts_expect(t, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	ts_expect(t, "* 1 EXISTS");
	ts_expect(t, "* 1 RECENT");
	ts_expect(t, "* OK [UNSEEN 1] First unseen.");
	ts_expect(t, "* OK [UIDVALIDITY ");
	ts_expect(t, "* OK [UIDNEXT 2] Predicted next UID");
	ts_expect(t, "3 OK [READ-ONLY] Examine completed");
	ts_send(t, "4 fetch 1 body[]\r\n");
	l = ts_expect(t, "* 1 FETCH (BODY[] {");
	body = literal_after(t, l, &n);
	assert_int_equal(n, strlen(lab_msg));
	assert_string_equal(body, lab_msg);
	free(body);
	ts_expect(t, ")");
	ts_expect(t, "4 OK Fetch completed");
	ts_send(t, "logout\r\n");
	ts_expect(t, "* BAD Missing tag: IMAP commands start with a tag, for "
	    "example \"a1 LOGOUT\"");
	ts_send(t, "5 logout\r\n");
	ts_expect(t, "* BYE Logging out");
	ts_expect(t, "5 OK Logout completed");
	ts_expect_eof(t, WAIT_MS);
	assert_int_equal(ts_finish(t), 0);
}

/* The same, every byte in its own write, the login as literals. */
static void
test_lab_session_bytewise(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);
	const char *l;
	char *body;
	size_t n;

	ts_send_bytewise(t, "1 LOGIN {8}\r\n");
	ts_expect(t, "+ ");
	ts_send_bytewise(t, "etudiant {9+}\r\nEtudiant1\r\n");
	ts_expect(t, "1 OK [CAPABILITY");
	ts_send_bytewise(t, "3 EXAMINE \"INBOX\"\r\n4 FETCH 1 (UID "
	    "BODY.PEEK[HEADER.FIELDS (subject)])\r\n");
	ts_expect(t, "* FLAGS");
	while ((l = ts_line(t, WAIT_MS)) != NULL && strncmp(l, "3 ", 2) != 0)
		;
	assert_non_null(l);
	l = ts_expect(t, "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {");
	body = literal_after(t, l, &n);
	assert_string_equal(body, "Subject: Cafe\r\n\r\n");
	free(body);
	ts_expect(t, ")");
	ts_expect(t, "4 OK");
	logout(t);
}

/* ---- students' mistakes -------------------------------------------------- */

static void
test_student_mistakes(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);

	ts_send(t, "login etudiant Etudiant1\r\n");
	ts_expect(t, "* BAD Missing tag: IMAP commands start with a tag, for "
	    "example \"a1 LOGIN user password\"");
	ts_send(t, "fetch 1 body[]\r\n");
	ts_expect(t, "* BAD Missing tag: IMAP commands start with a tag, for "
	    "example \"a1 FETCH 1 BODY[]\"");
	ts_send(t, "1 login etudiant\r\n");
	ts_expect(t, "1 BAD LOGIN needs a user name and a password: 1 LOGIN "
	    "user password");
	ts_send(t, "3 fetch 1 body[]\r\n");
	ts_expect(t, "3 BAD FETCH is allowed only after login");
	ts_send(t, "1 LOGIN etudiant wrong\r\n");
	ts_expect(t, "1 NO [AUTHENTICATIONFAILED] ");
	ts_send(t, "1 LOGIN etudiant Etudiant1\r\n");
	ts_expect(t, "1 OK");
	ts_send(t, "1 LOGIN etudiant Etudiant1\r\n");
	ts_expect(t, "1 BAD LOGIN is not allowed: you are already logged in");
	ts_send(t, "2 select\r\n");
	ts_expect(t, "2 BAD SELECT needs a mailbox name: 2 SELECT INBOX");
	ts_send(t, "3 fetch 1 body[]\r\n");
	ts_expect(t, "3 BAD FETCH needs a selected mailbox: SELECT or EXAMINE "
	    "one first");
	ts_send(t, "5 lsit \"\" *\r\n");
	ts_expect(t, "5 BAD Unknown command 'lsit': did you mean LIST?");
	ts_send(t, "3 examine inbox\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "3 OK", 4) != 0)
		;
	ts_send(t, "4 fetch 1 body[\r\n");
	ts_expect(t, "4 BAD Missing ']'");
	ts_send(t, "4 fetch 1\r\n");
	ts_expect(t, "4 BAD FETCH needs a message set and the items to fetch: "
	    "4 FETCH");
	ts_send(t, "4 fetch 2 flags\r\n");
	ts_expect(t, "4 BAD Invalid message number 2: the mailbox has 1 "
	    "message");
	ts_send(t, "4 fetch 1 bodyy\r\n");
	ts_expect(t, "4 BAD Invalid FETCH item 'bodyy'");
	ts_send(t, "4 store 1 +flags \\Seen\r\n");
	ts_expect(t, "4 NO [READ-ONLY]");
	ts_send(t, "6 uid frob 1\r\n");
	ts_expect(t, "6 BAD UID goes only with");
	logout(t);
}

static void
test_auth_failures_end_session(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);
	int i;

	for (i = 1; i < IMAP_AUTH_TRIES; i++) {
		ts_send(t, "a LOGIN etudiant nope\r\n");
		ts_expect(t, "a NO [AUTHENTICATIONFAILED]");
	}
	ts_send(t, "a LOGIN etudiant nope\r\n");
	ts_expect(t, "a NO [AUTHENTICATIONFAILED]");
	ts_expect(t, "* BYE");
	ts_expect_eof(t, WAIT_MS);
	ts_finish(t);
}

/* A NUL in a literal user name or password must not cut it short:
 * "Etudiant1\0junk" is not the password Etudiant1. */
static void
test_login_nul(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);

	ts_send(t, "a LOGIN etudiant {14}\r\n");
	ts_expect(t, "+ ");
	ts_sendn(t, "Etudiant1\0junk\r\n", 16);
	ts_expect(t, "a NO [AUTHENTICATIONFAILED]");
	ts_send(t, "b LOGIN {12}\r\n");
	ts_expect(t, "+ ");
	ts_sendn(t, "etudiant\0xyz Etudiant1\r\n", 24);
	ts_expect(t, "b NO [AUTHENTICATIONFAILED]");
	ts_send(t, "c LOGIN etudiant {9}\r\n");
	ts_expect(t, "+ ");
	ts_send(t, "Etudiant1\r\n");
	ts_expect(t, "c OK [CAPABILITY");
	logout(t);
}

static void
test_authenticate_plain(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);
	/* base64("\0etudiant\0Etudiant1") */
	const char *b64 = "AGV0dWRpYW50AEV0dWRpYW50MQ==";
	char line[128];

	ts_send(t, "a AUTHENTICATE CRAM-MD5\r\n");
	ts_expect(t, "a NO Unsupported");
	ts_send(t, "a AUTHENTICATE PLAIN\r\n");
	ts_expect(t, "+ ");
	ts_send(t, "*\r\n");
	ts_expect(t, "a BAD AUTHENTICATE cancelled");
	ts_send(t, "a AUTHENTICATE PLAIN\r\n");
	ts_expect(t, "+ ");
	ts_send(t, "!!notbase64\r\n");
	ts_expect(t, "a BAD Invalid PLAIN response");
	snprintf(line, sizeof(line), "b AUTHENTICATE PLAIN %s\r\n", b64);
	ts_send(t, line);
	ts_expect(t, "b OK [CAPABILITY");
	logout(t);

	t = start(f);
	ts_send(t, "c AUTHENTICATE PLAIN\r\n");
	ts_expect(t, "+ ");
	snprintf(line, sizeof(line), "%s\r\n", b64);
	ts_send(t, line);
	ts_expect(t, "c OK");
	logout(t);
}

/* ---- commands in every state -------------------------------------------- */

static void
test_any_state_commands(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);

	/* exactly what works (issue 6), AUTH=PLAIN and SASL-IR before login */
	ts_send(t, "a CAPABILITY\r\n");
	ts_expect(t, "* CAPABILITY IMAP4rev1 ");
	assert_string_equal(t->line, "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR "
	    "ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE "
	    "SPECIAL-USE MULTIAPPEND AUTH=PLAIN");
	ts_expect(t, "a OK Capability completed");
	ts_send(t, "b NOOP\r\nc ID NIL\r\n");
	ts_expect(t, "b OK");
	ts_expect(t, "* ID (");
	ts_expect(t, "c OK");
	ts_send(t, "d NAMESPACE\r\n");
	ts_expect(t, "d BAD NAMESPACE is allowed only after login");
	ts_send(t, "e SELECT INBOX\r\n");
	ts_expect(t, "e BAD SELECT is allowed only after login");
	ts_send(t, "L LOGIN etudiant Etudiant1\r\n");
	ts_expect(t, "L OK");
	ts_send(t, "a2 CAPABILITY\r\n");
	ts_expect(t, "* CAPABILITY ");
	assert_string_equal(t->line, "* CAPABILITY IMAP4rev1 LITERAL+ ID "
	    "ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE SPECIAL-USE "
	    "MULTIAPPEND");
	ts_expect(t, "a2 OK");
	/* MULTIAPPEND, advertised, works: two messages, one APPENDUID */
	ts_send(t, "a3 APPEND INBOX (\\Seen) {14+}\r\nSubject: 1\r\n\r\n"
	    " {14+}\r\nSubject: 2\r\n\r\n\r\n");
	ts_expect(t, "a3 OK [APPENDUID ");
	assert_non_null(strstr(t->line, " 2:3] "));
	ts_send(t, "d NAMESPACE\r\n");
	ts_expect(t, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	ts_expect(t, "d OK");
	ts_send(t, "f ENABLE CONDSTORE\r\n");
	ts_expect(t, "* ENABLED");
	ts_expect(t, "f OK");
	ts_send(t, "g CLOSE\r\n");
	ts_expect(t, "g BAD CLOSE needs a selected mailbox");
	ts_send(t, "h EXPUNGE\r\n");
	ts_expect(t, "h BAD EXPUNGE needs a selected mailbox");
	ts_send(t, "i UNSELECT\r\n");
	ts_expect(t, "i BAD UNSELECT needs a selected mailbox");
	ts_send(t, "j SELECT nosuch\r\n");
	ts_expect(t, "j NO");
	ts_send(t, "k SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
	    "\\Seen \\Draft \\*)]");
	while (strncmp(ts_line(t, WAIT_MS), "k ", 2) != 0)
		;
	assert_string_equal(t->line, "k OK [READ-WRITE] Select completed");
	ts_send(t, "l CHECK\r\n");
	ts_expect(t, "l OK");
	ts_send(t, "m UNSELECT\r\n");
	ts_expect(t, "m OK");
	ts_send(t, "n FETCH 1 FLAGS\r\n");
	ts_expect(t, "n BAD FETCH needs a selected mailbox");
	logout(t);
}

/* ---- FETCH rendering --------------------------------------------------- */

static void
test_fetch_items(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start_logged(f);
	const char *l;
	char *p;
	size_t n;

	ts_send(t, "s SELECT INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "a FETCH 1 (UID RFC822.SIZE FLAGS INTERNALDATE)\r\n");
	l = ts_expect(t, "* 1 FETCH (UID 1 RFC822.SIZE ");
	assert_int_equal(strtoul(l + strlen("* 1 FETCH (UID 1 RFC822.SIZE "),
	    NULL, 10), strlen(lab_msg));
	assert_non_null(strstr(l, "FLAGS (\\Recent) INTERNALDATE \""));
	assert_non_null(strstr(l, " +0000\")"));
	ts_expect(t, "a OK");
	/* partial of the text, peek: \Seen not set */
	ts_send(t, "b FETCH 1 BODY.PEEK[TEXT]<5.10>\r\n");
	l = ts_expect(t, "* 1 FETCH (BODY[TEXT]<5> {10}");
	p = ts_bytes(t, 10, WAIT_MS);
	assert_string_equal(p, "etudiant q");
	free(p);
	ts_expect(t, ")");
	ts_expect(t, "b OK");
	/* the header, then fields NOT */
	ts_send(t, "c FETCH 1 (BODY.PEEK[HEADER] "
	    "BODY.PEEK[HEADER.FIELDS.NOT (Return-Path To)])\r\n");
	l = ts_expect(t, "* 1 FETCH (BODY[HEADER] {");
	p = literal_after(t, l, &n);
	assert_int_equal(n, strstr(lab_msg, "\r\n\r\n") + 4 - lab_msg);
	free(p);
	l = ts_expect(t, " BODY[HEADER.FIELDS.NOT (RETURN-PATH TO)] {");
	p = literal_after(t, l, &n);
	assert_string_equal(p, "Subject: Cafe\r\nFrom: Kylian "
	    "<mbappe@fft.fr>\r\n\r\n");
	free(p);
	ts_expect(t, ")");
	ts_expect(t, "c OK");
	/* RFC822.HEADER does not set \Seen; BODY[TEXT] does, and says so */
	ts_send(t, "d FETCH 1 RFC822.HEADER\r\n");
	l = ts_expect(t, "* 1 FETCH (RFC822.HEADER {");
	free(literal_after(t, l, &n));
	ts_expect(t, ")");
	ts_expect(t, "d OK");
	ts_send(t, "e FETCH 1 BODY[TEXT]<0.4>\r\n");
	l = ts_expect(t, "* 1 FETCH (BODY[TEXT]<0> {4}");
	free(ts_bytes(t, 4, WAIT_MS));
	ts_expect(t, " FLAGS (\\Seen \\Recent))");
	ts_expect(t, "e OK");
	/* macros; UID FETCH always reports the UID */
	ts_send(t, "f UID FETCH 1:* FAST\r\n");
	ts_expect(t, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) INTERNALDATE");
	ts_expect(t, "f OK");
	ts_send(t, "g UID FETCH 2:* (FLAGS)\r\n");
	/* "2:*" is "*:2": the last message (RFC 3501 6.4.8) */
	ts_expect(t, "* 1 FETCH (UID 1 FLAGS");
	ts_expect(t, "g OK");
	ts_send(t, "h UID FETCH 5 (FLAGS)\r\n");
	ts_expect(t, "h OK");
	ts_send(t, "i FETCH 1 (BODY.PEEK[HEADER.FIELDS ()])\r\n");
	ts_expect(t, "i BAD Invalid FETCH item");
	ts_send(t, "j FETCH 1 BODY[]<0.5>\r\n");
	ts_expect(t, "* 1 FETCH (BODY[]<0> {5}");
	free(ts_bytes(t, 5, WAIT_MS));
	ts_expect(t, ")");
	ts_expect(t, "j OK");
	ts_send(t, "k FETCH 1 RFC822\r\n");
	l = ts_expect(t, "* 1 FETCH (RFC822 {");
	p = literal_after(t, l, &n);
	assert_string_equal(p, lab_msg);
	free(p);
	ts_expect(t, ")");
	ts_expect(t, "k OK");
	logout(t);
}

/* ---- MIME items (mime.h) ------------------------------------------------ */

static const char multipart_msg[] =
    "From: Ann <ann@example.org>\r\n"
    "To: bob@example.org\r\n"
    "Subject: parts\r\n"
    "Date: Mon, 16 Jan 2023 13:09:16 +0100\r\n"
    "Message-ID: <p1@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "first part\r\n"
    "--XX\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>second</p>\r\n"
    "--XX--\r\n";

static void
test_fetch_mime(void **state)
{
	struct fixture *f = *state;
	struct ts *t;
	const char *l;
	char *p, env1[2048];
	size_t n;

	deliver(f, multipart_msg);
	t = start_logged(f);
	ts_send(t, "s EXAMINE INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	/* ENVELOPE alone (parsed from the header) and with BODYSTRUCTURE
	 * (parsed from the whole message) must agree */
	ts_send(t, "a FETCH 2 ENVELOPE\r\n");
	l = ts_expect(t, "* 2 FETCH (ENVELOPE (\"Mon, 16 Jan 2023 13:09:16 "
	    "+0100\" \"parts\" ((\"Ann\" NIL \"ann\" \"example.org\"))");
	snprintf(env1, sizeof(env1), "%s", l + strlen("* 2 FETCH ("));
	ts_expect(t, "a OK");
	ts_send(t, "b FETCH 2 (ENVELOPE BODYSTRUCTURE)\r\n");
	l = ts_expect(t, "* 2 FETCH (ENVELOPE ");
	env1[strlen(env1) - 1] = '\0';		/* the closing ')' */
	assert_non_null(strstr(l, env1));
	assert_non_null(strstr(l, "BODYSTRUCTURE ((\"text\" \"plain\""));
	assert_non_null(strstr(l, "\"mixed\""));
	ts_expect(t, "b OK");
	ts_send(t, "c FETCH 2 (BODY[1] BODY[2.MIME] BODY[2]<3.6> BODY[9])\r\n");
	l = ts_expect(t, "* 2 FETCH (BODY[1] {");
	p = literal_after(t, l, &n);
	assert_string_equal(p, "first part");
	free(p);
	l = ts_expect(t, " BODY[2.MIME] {");
	p = literal_after(t, l, &n);
	assert_string_equal(p, "Content-Type: text/html\r\n\r\n");
	free(p);
	l = ts_expect(t, " BODY[2]<3> {6}");
	p = ts_bytes(t, 6, WAIT_MS);
	assert_string_equal(p, "second");
	free(p);
	ts_expect(t, " BODY[9] NIL)");
	ts_expect(t, "c OK");
	/* a multi-level section is echoed with the name the client asked
	 * for ("2.1", not "2..1"): clients match responses by that name */
	ts_send(t, "c2 FETCH 2 (BODY.PEEK[2.1] BODY.PEEK[1.1.MIME])\r\n");
	l = ts_expect(t, "* 2 FETCH (BODY[2.1] ");
	assert_null(strstr(l, ".."));
	while (strncmp(ts_line(t, WAIT_MS), "c2 ", 3) != 0)
		;
	ts_send(t, "d FETCH 1:2 FULL\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS");
	l = ts_expect(t, "* 2 FETCH (FLAGS");
	assert_non_null(strstr(l, " BODY ((\"text\""));
	ts_expect(t, "d OK");
	/* top-level sections served from the MIME cache (whole message
	 * after BODYSTRUCTURE, header alone after ENVELOPE) are the same
	 * bytes as the stored message */
	ts_send(t, "e FETCH 2 (BODYSTRUCTURE BODY[] BODY[HEADER] "
	    "BODY[TEXT]<2.6> BODY[HEADER.FIELDS (SUBJECT)])\r\n");
	l = ts_expect(t, "* 2 FETCH (BODYSTRUCTURE (");
	p = literal_after(t, l, &n);
	assert_int_equal(n, strlen(multipart_msg));
	assert_memory_equal(p, multipart_msg, n);
	free(p);
	l = ts_expect(t, " BODY[HEADER] {");
	p = literal_after(t, l, &n);
	assert_int_equal(n, strstr(multipart_msg, "\r\n\r\n") + 4 -
	    multipart_msg);
	assert_memory_equal(p, multipart_msg, n);
	free(p);
	l = ts_expect(t, " BODY[TEXT]<2> {6}");
	p = ts_bytes(t, 6, WAIT_MS);
	assert_string_equal(p, "eamble");
	free(p);
	l = ts_expect(t, " BODY[HEADER.FIELDS (SUBJECT)] {");
	p = literal_after(t, l, &n);
	assert_string_equal(p, "Subject: parts\r\n\r\n");
	free(p);
	ts_expect(t, ")");
	ts_expect(t, "e OK");
	ts_send(t, "g FETCH 2 (ENVELOPE BODY.PEEK[HEADER] "
	    "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM TO DATE MESSAGE-ID "
	    "MIME-VERSION)] BODY.PEEK[TEXT]<0.8>)\r\n");
	l = ts_expect(t, "* 2 FETCH (ENVELOPE (");
	p = literal_after(t, l, &n);
	assert_int_equal(n, strstr(multipart_msg, "\r\n\r\n") + 4 -
	    multipart_msg);
	assert_memory_equal(p, multipart_msg, n);
	free(p);
	l = ts_expect(t, " BODY[HEADER.FIELDS.NOT (");
	p = literal_after(t, l, &n);
	assert_string_equal(p, "Content-Type: multipart/mixed; "
	    "boundary=\"XX\"\r\n\r\n");
	free(p);
	ts_expect(t, " BODY[TEXT]<0> {8}");
	p = ts_bytes(t, 8, WAIT_MS);
	assert_string_equal(p, "preamble");
	free(p);
	ts_expect(t, ")");
	ts_expect(t, "g OK");
	logout(t);
}

/* ---- flags -------------------------------------------------------------- */

static void
test_store_and_persist(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start_logged(f);
	char *text;

	ts_send(t, "s SELECT INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "a STORE 1 +FLAGS (\\Flagged $Label1)\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS (\\Flagged \\Recent $Label1))");
	ts_expect(t, "a OK");
	ts_send(t, "b STORE 1 +FLAGS.SILENT \\Answered\r\n");
	ts_expect(t, "b OK");
	ts_send(t, "c UID STORE 1 -FLAGS (\\Flagged)\r\n");
	ts_expect(t, "* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent $Label1))");
	ts_expect(t, "c OK");
	ts_send(t, "d STORE 1 FLAGS (\\Recent)\r\n");
	ts_expect(t, "d BAD Invalid flag '\\Recent'");
	ts_send(t, "e STORE 1 FLAGS (\\Seen \\Answered $Label1 Work)\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent $Label1 "
	    "Work))");
	ts_expect(t, "e OK");
	ts_send(t, "f STORE 1 PLUSFLAGS \\Seen\r\n");
	ts_expect(t, "f BAD STORE needs FLAGS, +FLAGS or -FLAGS");
	logout(t);

	/* written at logout, in the headers other programs read */
	text = file_text(f->lab.inbox);
	assert_non_null(strstr(text, "Status: RO"));
	assert_non_null(strstr(text, "X-Status: A"));
	assert_non_null(strstr(text, "$Label1 Work"));
	free(text);

	/* and seen by the next session, no longer \Recent */
	t = start_logged(f);
	ts_send(t, "s SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
	    "$Label1 Work)");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 1 EXISTS");
	ts_expect(t, "* 0 RECENT");
	ts_expect(t, "* OK [UIDVALIDITY");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "a FETCH 1 FLAGS\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS (\\Answered \\Seen $Label1 Work))");
	ts_expect(t, "a OK");
	logout(t);
}

/*
 * \Recent is claimed lazily: SELECT and FETCH leave the file alone (for
 * new mail from smtpd the claim is a rewrite of the file), LOGOUT writes
 * "Status: O" and the UIDs, and the next session no longer sees \Recent.
 */
static void
test_recent_lazy(void **state)
{
	struct fixture *f = *state;
	struct ts *t;
	struct stat st0, st1;
	char *before, *after;

	deliver(f, "Subject: two\r\n\r\nb\r\n");
	deliver(f, "Subject: three\r\n\r\nc\r\n");
	before = file_text(f->lab.inbox);
	assert_null(strstr(before, "Status:"));
	assert_int_equal(stat(f->lab.inbox, &st0), 0);
	t = start_logged(f);
	ts_send(t, "s SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 3 EXISTS");
	ts_expect(t, "* 3 RECENT");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "f FETCH 1:* (FLAGS UID ENVELOPE)\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS (\\Recent) UID 1 ENVELOPE");
	ts_expect(t, "* 2 FETCH (FLAGS (\\Recent) UID 2 ENVELOPE");
	ts_expect(t, "* 3 FETCH (FLAGS (\\Recent) UID 3 ENVELOPE");
	ts_expect(t, "f OK");
	ts_send(t, "n NOOP\r\n");
	ts_expect(t, "n OK");
	/* nothing written yet: not one byte of the file changed */
	after = file_text(f->lab.inbox);
	assert_string_equal(before, after);
	free(after);
	assert_int_equal(stat(f->lab.inbox, &st1), 0);
	assert_int_equal(st0.st_size, st1.st_size);
	assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	logout(t);
	/* LOGOUT wrote the claim and the UIDs */
	after = file_text(f->lab.inbox);
	assert_non_null(strstr(after, "Status: O"));
	assert_non_null(strstr(after, "X-UID: 3"));
	free(after);
	free(before);
	/* \Recent once across sequential sessions */
	t = start_logged(f);
	ts_send(t, "s SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 3 EXISTS");
	ts_expect(t, "* 0 RECENT");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "f FETCH 1:* (FLAGS UID)\r\n");
	ts_expect(t, "* 1 FETCH (FLAGS () UID 1)");
	ts_expect(t, "* 2 FETCH (FLAGS () UID 2)");
	ts_expect(t, "* 3 FETCH (FLAGS () UID 3)");
	ts_expect(t, "f OK");
	/* new mail in this session, then CHECK writes its claim */
	deliver(f, "Subject: four\r\n\r\nd\r\n");
	ts_send(t, "n NOOP\r\n");
	ts_expect(t, "* 4 EXISTS");
	ts_expect(t, "* 1 RECENT");
	ts_expect(t, "n OK");
	ts_send(t, "c CHECK\r\n");
	ts_expect(t, "c OK");
	after = file_text(f->lab.inbox);
	assert_non_null(strstr(after, "X-UID: 4"));
	free(after);
	/* EXAMINE claims nothing and writes nothing */
	deliver(f, "Subject: five\r\n\r\ne\r\n");
	ts_send(t, "e EXAMINE INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 5 EXISTS");
	ts_expect(t, "* 1 RECENT");
	while (strncmp(ts_line(t, WAIT_MS), "e OK", 4) != 0)
		;
	logout(t);
	after = file_text(f->lab.inbox);
	assert_null(strstr(after, "X-UID: 5"));
	free(after);
	t = start_logged(f);
	ts_send(t, "s SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 5 EXISTS");
	ts_expect(t, "* 1 RECENT");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	logout(t);
}

/* ---- EXPUNGE and UIDs ------------------------------------------------------ */

static void
test_expunge_and_uids(void **state)
{
	struct fixture *f = *state;
	struct ts *t;
	unsigned uidvalidity;
	const char *l;

	deliver(f, "Subject: two\r\n\r\nb\r\n");
	deliver(f, "Subject: three\r\n\r\nc\r\n");
	deliver(f, "Subject: four\r\n\r\nd\r\n");
	deliver(f, "Subject: five\r\n\r\ne\r\n");
	t = start_logged(f);
	ts_send(t, "s SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 5 EXISTS");
	ts_expect(t, "* 5 RECENT");
	ts_expect(t, "* OK [UNSEEN 1]");
	l = ts_expect(t, "* OK [UIDVALIDITY ");
	uidvalidity = (unsigned)strtoul(l + strlen("* OK [UIDVALIDITY "),
	    NULL, 10);
	ts_expect(t, "* OK [UIDNEXT 6]");
	ts_expect(t, "s OK");
	ts_send(t, "a STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n");
	ts_expect(t, "a OK");
	ts_send(t, "b EXPUNGE\r\n");
	ts_expect(t, "* 1 EXPUNGE");
	ts_expect(t, "* 2 EXPUNGE");	/* message 3 became 2 */
	ts_expect(t, "b OK");
	ts_send(t, "c FETCH 1:* (UID)\r\n");
	ts_expect(t, "* 1 FETCH (UID 2)");
	ts_expect(t, "* 2 FETCH (UID 4)");
	ts_expect(t, "* 3 FETCH (UID 5)");
	ts_expect(t, "c OK");
	/* UID EXPUNGE removes only the UIDs named */
	ts_send(t, "d STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n");
	ts_expect(t, "d OK");
	ts_send(t, "e UID EXPUNGE 4:4\r\n");
	ts_expect(t, "* 2 EXPUNGE");
	ts_expect(t, "e OK");
	/* CLOSE expunges (UID 2) silently */
	ts_send(t, "f CLOSE\r\n");
	ts_expect(t, "f OK");
	ts_send(t, "g SELECT INBOX\r\n");
	ts_expect(t, "* FLAGS");
	ts_expect(t, "* OK [PERMANENTFLAGS");
	ts_expect(t, "* 1 EXISTS");
	ts_expect(t, "* 0 RECENT");
	while ((l = ts_line(t, WAIT_MS)) != NULL && strncmp(l, "g ", 2) != 0)
		if (strncmp(l, "* OK [UIDVALIDITY ", 18) == 0)
			assert_int_equal(strtoul(l + 18, NULL, 10),
			    uidvalidity);
		else if (strncmp(l, "* OK [UIDNEXT ", 14) == 0)
			assert_string_equal(l, "* OK [UIDNEXT 6] Predicted "
			    "next UID");
	assert_non_null(l);
	/* new mail keeps counting from UIDNEXT */
	deliver(f, "Subject: six\r\n\r\nf\r\n");
	ts_send(t, "h NOOP\r\n");
	ts_expect(t, "* 2 EXISTS");
	ts_expect(t, "* 1 RECENT");
	ts_expect(t, "h OK");
	ts_send(t, "i FETCH 1:* UID\r\n");
	ts_expect(t, "* 1 FETCH (UID 5)");
	ts_expect(t, "* 2 FETCH (UID 6)");
	ts_expect(t, "i OK");
	ts_send(t, "k EXAMINE INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "k ", 2) != 0)
		;
	ts_send(t, "l EXPUNGE\r\n");
	ts_expect(t, "l NO [READ-ONLY]");
	logout(t);
}

/* ---- two sessions, new mail, IDLE ---------------------------------------- */

static void
test_concurrent_sessions(void **state)
{
	struct fixture *f = *state;
	struct ts *a = start_logged(f), *b = start_logged(f);
	const char *l;

	ts_send(a, "s SELECT INBOX\r\n");
	ts_expect(a, "* FLAGS");
	ts_expect(a, "* OK [PERMANENTFLAGS");
	ts_expect(a, "* 1 EXISTS");
	ts_expect(a, "* 1 RECENT");
	while (strncmp(ts_line(a, WAIT_MS), "s OK", 4) != 0)
		;
	/* A saw it first: B gets it without \Recent once A wrote it */
	ts_send(a, "c CHECK\r\n");
	ts_expect(a, "c OK");
	ts_send(b, "s SELECT INBOX\r\n");
	ts_expect(b, "* FLAGS");
	ts_expect(b, "* OK [PERMANENTFLAGS");
	ts_expect(b, "* 1 EXISTS");
	ts_expect(b, "* 0 RECENT");
	while (strncmp(ts_line(b, WAIT_MS), "s OK", 4) != 0)
		;
	/* new mail: announced at NOOP, and while idling */
	ts_send(b, "i IDLE\r\n");
	ts_expect(b, "+ idling");
	deliver(f, "Subject: new\r\n\r\nnew mail\r\n");
	ts_expect(b, "* 2 EXISTS");
	ts_expect(b, "* 1 RECENT");
	/* \Recent is claimed lazily: B has not written its claim yet (it
	 * is idling), so A reports the new message \Recent as well
	 * (imapd(8), CAVEATS) */
	ts_send(a, "n NOOP\r\n");
	ts_expect(a, "* 2 EXISTS");
	ts_expect(a, "* 2 RECENT");
	ts_expect(a, "n OK");
	/* A's flag change reaches B once A has written it */
	ts_send(a, "f STORE 2 +FLAGS.SILENT (\\Flagged)\r\nc CHECK\r\n");
	ts_expect(a, "f OK");
	ts_expect(a, "c OK");
	l = ts_expect(b, "* 2 FETCH (FLAGS (\\Flagged");
	(void)l;
	/* A expunges: B hears it in IDLE, in the right numbering */
	ts_send(a, "d STORE 1 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n");
	ts_expect(a, "d OK");
	ts_expect(a, "* 1 EXPUNGE");
	ts_expect(a, "e OK");
	ts_expect(b, "* 1 EXPUNGE");
	ts_send(b, "DONE\r\n");
	ts_expect(b, "i OK IDLE terminated");
	ts_send(b, "x FETCH 1 (UID FLAGS)\r\n");
	ts_expect(b, "* 1 FETCH (UID 2 FLAGS (\\Flagged");
	ts_expect(b, "x OK");
	logout(a);
	logout(b);
}

/* An expunge by someone else is not announced during FETCH/STORE. */
static void
test_no_expunge_during_fetch(void **state)
{
	struct fixture *f = *state;
	struct ts *a, *b;

	deliver(f, "Subject: two\r\n\r\nb\r\n");
	a = start_logged(f);
	b = start_logged(f);
	ts_send(a, "s SELECT INBOX\r\n");
	while (strncmp(ts_line(a, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(b, "s SELECT INBOX\r\n");
	while (strncmp(ts_line(b, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(b, "d STORE 1 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n");
	ts_expect(b, "d OK");
	ts_expect(b, "* 1 EXPUNGE");
	ts_expect(b, "e OK");
	ts_send(a, "f FETCH 1:2 (UID)\r\n");
	ts_expect(a, "* 2 FETCH (UID 2)");
	ts_expect(a, "f NO [EXPUNGEISSUED]");
	ts_send(a, "g NOOP\r\n");
	ts_expect(a, "* 1 EXPUNGE");
	ts_expect(a, "g OK");
	ts_send(a, "h FETCH 1 (UID)\r\n");
	ts_expect(a, "* 1 FETCH (UID 2)");
	ts_expect(a, "h OK");
	logout(a);
	logout(b);
}

/* ---- bad input ------------------------------------------------------------- */

static void
test_bad_input_stays_in_sync(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start_logged(f);
	char *deep;
	size_t i;

	ts_send(t, "s EXAMINE INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "s OK", 4) != 0)
		;
	ts_send(t, "a APPEND INBOX {4294967296}\r\n");
	ts_expect(t, "a BAD [TOOBIG]");
	ts_send(t, "d FETCH 1 (FLAGS\r\n");
	ts_expect(t, "d BAD Missing ')'");
	ts_send(t, "e FETCH 1 FLAGS)\r\n");
	ts_expect(t, "e BAD Unexpected ')'");
	deep = malloc(2100);
	assert_non_null(deep);
	strcpy(deep, "f FETCH 1 ");
	for (i = 0; i < 1000; i++)
		strcat(deep, "(");
	strcat(deep, "\r\n");
	ts_send(t, deep);
	free(deep);
	ts_expect(t, "f BAD Lists nested too deeply");
	ts_send(t, "g FETCH 1:99999999999 FLAGS\r\n");
	ts_expect(t, "g BAD Number too large in the sequence set: message "
	    "numbers and UIDs go from 1 to 4294967295");
	ts_send(t, "h FETCH 4294967297 FLAGS\r\n");
	ts_expect(t, "h BAD Number too large in the sequence set");
	ts_send(t, "h2 UID FETCH 4294967296:* FLAGS\r\n");
	ts_expect(t, "h2 BAD Number too large in the sequence set");
	ts_send(t, "h3 FETCH 0:1 FLAGS\r\n");
	ts_expect(t, "h3 BAD 0 is not a message number");
	ts_send(t, "h4 FETCH 1:x FLAGS\r\n");
	ts_expect(t, "h4 BAD Invalid sequence set");
	ts_send(t, "i FETCH 4294967295 FLAGS\r\n");
	ts_expect(t, "i BAD Invalid message number 4294967295");
	ts_send(t, "j FETCH 1 (FLAGS NOSUCH)\r\n");
	ts_expect(t, "j BAD Invalid FETCH item 'NOSUCH'");
	ts_send(t, "k NOOP\r\n");
	ts_expect(t, "k OK");
	logout(t);
}

static void
test_literal_plus_swallowed(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start_logged(f);
	char *junk;
	size_t n = 100000;

	/* LITERAL+ over the cap would be absurd to send; a refused command
	 * with a LITERAL+ tail shows the same path with a small one */
	ts_send(t, "a FETCH ) {100000+}\r\n");
	junk = malloc(n);
	assert_non_null(junk);
	memset(junk, 'x', n);
	memcpy(junk, "b LOGOUT\r\n", 10);
	ts_sendn(t, junk, n);
	free(junk);
	ts_send(t, "\r\n");
	ts_expect(t, "a BAD");
	ts_send(t, "c NOOP\r\n");
	ts_expect(t, "c OK");
	logout(t);
}

static void
test_preauth_literal_cap(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);

	ts_send(t, "a LOGIN {100000}\r\n");
	ts_expect(t, "a BAD [TOOBIG] Literal of 100000 octets refused: at most "
	    "16384 per command before login");
	ts_send(t, "b LOGIN {8}\r\n");
	ts_expect(t, "+ ");
	ts_send(t, "etudiant {9}\r\n");
	ts_expect(t, "+ ");
	ts_send(t, "Etudiant1\r\n");
	ts_expect(t, "b OK");
	/* after login the full cap applies */
	ts_send(t, "c NOOP {100000+}\r\n");
	{
		char *junk = malloc(100000);

		assert_non_null(junk);
		memset(junk, 'x', 100000);
		ts_sendn(t, junk, 100000);
		free(junk);
	}
	ts_send(t, "\r\n");
	ts_expect(t, "c BAD NOOP takes no arguments");
	logout(t);
}

static void
test_long_line(void **state)
{
	struct fixture *f = *state;
	struct ts *t = start(f);
	size_t n = IMAP_LINE_MAX + 100;
	char *line = malloc(n + 3);

	assert_non_null(line);
	memset(line, 'a', n);
	memcpy(line, "x LOGIN ", 8);
	memcpy(line + n, "\r\n", 3);
	ts_send(t, line);
	free(line);
	ts_expect(t, "* BAD [TOOBIG] Line too long");
	ts_send(t, "y NOOP\r\n");
	ts_expect(t, "y OK");
	logout(t);
}

/* Random commands from IMAP's vocabulary (the parser's fuzz covers random
 * bytes): the session survives every one, answers each with its tag, and
 * is still in step at the end. */
static void
test_command_fuzz(void **state)
{
	static const char *words[] = {
		"FETCH", "STORE", "UID", "SELECT", "EXAMINE", "EXPUNGE", "CLOSE",
		"NOOP", "CHECK", "UNSELECT", "LIST", "STATUS", "SEARCH", "COPY",
		"LOGIN", "CAPABILITY", "ENABLE", "ID", "NAMESPACE", "MOVE",
		"1", "1:*", "*", "2,1", "0", "4294967296", "1:2:3", "INBOX",
		"\"\"", "\"*\"", "NIL", "(FLAGS)", "BODY[]", "BODY.PEEK[TEXT]<0.3>",
		"BODY[1.2.MIME]", "BODY[HEADER.FIELDS (FROM)]", "(UID RFC822.SIZE",
		")", "(", "+FLAGS", "-FLAGS.SILENT", "FLAGS", "(\\Seen \\Deleted)",
		"\\Recent", "$kw", "ENVELOPE", "BODYSTRUCTURE", "ALL", "FULL",
		"{3+}\r\nabc", "\"a\\\"b\"", "((()))", "[", "]", "RFC822",
	};
	struct fixture *f = *state;
	struct ts *t = start_logged(f);
	unsigned seed = 4242, i, j, n;
	char cmd[1024], tag[16];

	deliver(f, multipart_msg);
	ts_send(t, "s SELECT INBOX\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "s ", 2) != 0)
		;
	for (i = 0; i < 300; i++) {
		const char *l;

		snprintf(tag, sizeof(tag), "f%u ", i);
		snprintf(cmd, sizeof(cmd), "f%u", i);
		seed = seed * 1103515245 + 12345;
		n = 1 + (seed >> 16) % 5;
		for (j = 0; j < n; j++) {
			seed = seed * 1103515245 + 12345;
			strcat(cmd, " ");
			strcat(cmd, words[(seed >> 16) % nitems(words)]);
		}
		strcat(cmd, "\r\n");
		ts_send(t, cmd);
		/* every command ends with its tag (untagged lines before) */
		while ((l = ts_line(t, WAIT_MS)) != NULL &&
		    strncmp(l, tag, strlen(tag)) != 0) {
			if (strncmp(l, "* BYE", 5) == 0)
				fail_msg("session ended after \"%s\"", cmd);
		}
		assert_non_null(l);
		if (i % 4 == 3) {	/* keep the BAD counter low */
			ts_send(t, "n NOOP\r\n");
			while (strncmp(ts_line(t, WAIT_MS), "n ", 2) != 0)
				;
		}
	}
	ts_send(t, "z NOOP\r\n");
	while (strncmp(ts_line(t, WAIT_MS), "z ", 2) != 0)
		;
	assert_string_equal(t->line, "z OK Noop completed");
	logout(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lab_session, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lab_session_bytewise,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_student_mistakes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_failures_end_session,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_nul, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_authenticate_plain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_any_state_commands, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fetch_items, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fetch_mime, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_and_persist, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recent_lazy, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunge_and_uids, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_sessions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_expunge_during_fetch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_stays_in_sync,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_plus_swallowed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_preauth_literal_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_command_fuzz, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
