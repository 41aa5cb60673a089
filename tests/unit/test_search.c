/*
 * test_search.c - SEARCH and UID SEARCH (imapd/search.c): every key on a
 * small mailbox through a session, the limits (1000 nested ORs and NOTs,
 * too many keys), CHARSET, and the case-insensitive scanner.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tfixture.h"
#include "spool.h"
#include "../../imapd/imapd.h"
#include "../../imapd/part2.h"
#include "../../imapd/part2impl.h"

struct fx {
	struct tf_lab lab;
	struct imap_config cfg;
	struct ts *t;
};

/* 2026-02-02 12:00:00 UTC */
#define DAY0	((time_t)1770033600)
#define DAY	((time_t)86400)

static const struct {
	const char *msg;
	time_t when;
} box[] = {
	{ "From: Alice <alice@example.org>\r\nTo: etudiant@example.org\r\n"
	  "Cc: carol@example.org\r\nSubject: Lunch plans\r\n"
	  "Date: Mon, 2 Feb 2026 10:00:00 +0100\r\n\r\n"
	  "Let us meet at noon near the fountain.\r\n", DAY0 },
	{ "From: Bob <bob@example.org>\r\n"
	  "Subject: =?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?=\r\n"
	  "Date: Tue, 3 Feb 2026 23:30:00 -0500\r\n"
	  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\n"
	  "VGhlIHNlY3JldCB3b3JkIGlzIHBhbXBsZW1vdXNzZS4K\r\n", DAY0 + 3 * DAY },
	{ "From: Carol <carol@example.org>\r\nBcc: dave@example.org\r\n"
	  "X-Priority: 1\r\nSubject: Invoice\r\n"
	  "Date: Tue, 10 Feb 2026 08:00:00 +0000\r\n"
	  "MIME-Version: 1.0\r\n"
	  "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
	  "--XX\r\nContent-Type: text/plain\r\n\r\n"
	  "See the attached invoice. Padding padding padding padding padding\r\n"
	  "padding padding padding padding padding padding padding padding\r\n"
	  "--XX\r\nContent-Type: text/plain\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\n"
	  "aGlkZGVuIHRyZWFzdXJlCg==\r\n--XX--\r\n", DAY0 + 8 * DAY },
	{ "From: dave@example.org\r\nSubject: Price\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	  "Price: 10 =E2=82=AC\r\n", DAY0 + 27 * DAY },
	{ "From: eve@example.org\r\nSubject: Memo\r\n"
	  "Date: Mon, 2 Mar 2026 09:00:00 +0000\r\n\r\n"
	  "From the desk of Eve.\r\n", DAY0 + 28 * DAY },
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	tf_lab_init(&f->lab, "search", TF_SPOOL | TF_MAIL | TF_PASSWD);
	tf_imap_config(&f->cfg, &f->lab);
	f->cfg.timeout_sec = 30;
	f->cfg.preauth_timeout_sec = 30;
	for (size_t i = 0; i < sizeof(box) / sizeof(box[0]); i++)
		tf_deliver(f->lab.inbox, "sender@example.org", box[i].when,
		    box[i].msg);
	f->t = tf_imap_login(&f->cfg);
	ts_send(f->t, "S SELECT INBOX\r\n");
	while (strncmp(ts_line(f->t, 15000), "S OK", 4) != 0)
		;
	ts_send(f->t, "F1 STORE 1 +FLAGS.SILENT (\\Seen \\Answered)\r\n");
	ts_expect(f->t, "F1 OK");
	ts_send(f->t, "F2 STORE 2 +FLAGS.SILENT (\\Flagged \\Deleted)\r\n");
	ts_expect(f->t, "F2 OK");
	ts_send(f->t, "F3 STORE 3 +FLAGS.SILENT (\\Draft $Work)\r\n");
	ts_expect(f->t, "F3 OK");
	ts_send(f->t, "F4 STORE 4 +FLAGS.SILENT (\\Seen)\r\n");
	ts_expect(f->t, "F4 OK");
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	ts_send(f->t, "Z LOGOUT\r\n");
	ts_expect(f->t, "* BYE");
	ts_expect(f->t, "Z OK");
	assert_int_equal(ts_finish(f->t), 0);
	tf_lab_free(&f->lab);
	free(f);
	return 0;
}

/* "T SEARCH <KEYS>" must answer "* SEARCH<WANT>" and OK. */
static void
search(struct fx *f, const char *keys, const char *want)
{
	char line[8192], exp[512];
	const char *r;

	snprintf(line, sizeof(line), "T SEARCH %s\r\n", keys);
	ts_send(f->t, line);
	snprintf(exp, sizeof(exp), "* SEARCH%s", want);
	r = ts_line(f->t, 15000);
	assert_non_null(r);
	if (strcmp(r, exp) != 0)
		fail_msg("SEARCH %s -> \"%s\", wanted \"%s\"", keys, r, exp);
	ts_expect(f->t, "T OK");
}

/* "T <CMD>" must get a tagged reply starting with WANT. */
static void
refused(struct fx *f, const char *cmd, const char *want)
{
	char line[16384];
	const char *r;

	snprintf(line, sizeof(line), "T %s\r\n", cmd);
	ts_send(f->t, line);
	r = ts_line(f->t, 15000);
	assert_non_null(r);
	if (strncmp(r, want, strlen(want)) != 0)
		fail_msg("%.60s -> \"%s\", wanted \"%s...\"", cmd, r, want);
}

static void
test_flags(void **state)
{
	struct fx *f = *state;

	search(f, "ALL", " 1 2 3 4 5");
	search(f, "SEEN", " 1 4");
	search(f, "UNSEEN", " 2 3 5");
	search(f, "ANSWERED", " 1");
	search(f, "UNANSWERED", " 2 3 4 5");
	search(f, "FLAGGED", " 2");
	search(f, "UNFLAGGED", " 1 3 4 5");
	search(f, "DELETED", " 2");
	search(f, "UNDELETED", " 1 3 4 5");
	search(f, "DRAFT", " 3");
	search(f, "UNDRAFT", " 1 2 4 5");
	search(f, "KEYWORD $Work", " 3");
	search(f, "UNKEYWORD $Work", " 1 2 4 5");
	search(f, "KEYWORD $Nope", "");
	search(f, "UNKEYWORD $Nope", " 1 2 3 4 5");
	search(f, "RECENT", " 1 2 3 4 5");
	search(f, "NEW", " 2 3 5");
	search(f, "OLD", "");
	search(f, "seen answered", " 1");
}

static void
test_sets_and_logic(void **state)
{
	struct fx *f = *state;

	search(f, "1:2", " 1 2");
	search(f, "2,4:*", " 2 4 5");
	search(f, "*", " 5");
	search(f, "UID 2:3", " 2 3");
	search(f, "UID 4:*", " 4 5");
	search(f, "UID 99:*", " 5");
	search(f, "NOT SEEN", " 2 3 5");
	search(f, "OR SEEN FLAGGED", " 1 2 4");
	search(f, "OR (FROM alice) (FROM bob)", " 1 2");
	search(f, "NOT (OR SEEN FLAGGED)", " 3 5");
	search(f, "(SEEN ANSWERED) 1:3", " 1");
	search(f, "OR OR 1 2 3", " 1 2 3");
	search(f, "NOT NOT 4", " 4");
	/* UID SEARCH answers UIDs; a plain set there is message numbers */
	ts_send(f->t, "U UID SEARCH 4:5\r\n");
	ts_expect(f->t, "* SEARCH 4 5");
	ts_expect(f->t, "U OK");
	ts_send(f->t, "U UID SEARCH UID 1 SEEN\r\n");
	ts_expect(f->t, "* SEARCH 1");
	ts_expect(f->t, "U OK");
}

static void
test_headers(void **state)
{
	struct fx *f = *state;

	search(f, "FROM alice", " 1");
	search(f, "FROM ALICE", " 1");
	search(f, "FROM example.org", " 1 2 3 4 5");
	search(f, "TO etudiant", " 1");
	search(f, "CC carol", " 1");
	search(f, "BCC dave", " 3");
	search(f, "SUBJECT lunch", " 1");
	search(f, "SUBJECT \"Lunch plans\"", " 1");
	search(f, "CHARSET UTF-8 SUBJECT {5+}\r\ncaf\xc3\xa9", " 2");
	search(f, "HEADER X-Priority 1", " 3");
	search(f, "HEADER X-Priority \"\"", " 3");
	search(f, "HEADER Message-ID \"\"", "");
	search(f, "SUBJECT nothing-like-this", "");
}

static void
test_body_text(void **state)
{
	struct fx *f = *state;

	search(f, "BODY fountain", " 1");
	search(f, "BODY FOUNTAIN", " 1");
	search(f, "BODY pamplemousse", " 2");		/* base64 */
	search(f, "BODY invoice", " 3");		/* plain part */
	search(f, "BODY treasure", " 3");		/* base64 part */
	search(f, "BODY {3+}\r\n\xe2\x82\xac", " 4");	/* quoted-printable */
	search(f, "BODY \"From the desk\"", " 5");	/* mbox-quoted line */
	search(f, "BODY alice", "");			/* header, not body */
	search(f, "TEXT alice", " 1");
	search(f, "TEXT noon", " 1");
	search(f, "TEXT PAMPLEMOUSSE", " 2");
	search(f, "BODY \"\"", " 1 2 3 4 5");
	search(f, "NOT BODY the", " 4");
}

/* Send "<TAG> <CMD>" and skip everything up to its tagged OK. */
static void
drain(struct fx *f, const char *tag, const char *cmd, size_t n)
{
	const char *l;

	ts_sendn(f->t, cmd, n);
	while ((l = ts_line(f->t, 15000)) != NULL &&
	    strncmp(l, tag, strlen(tag)) != 0)
		;
	assert_non_null(l);
	if (strncmp(l + strlen(tag), " OK", 3) != 0)
		fail_msg("%s", l);
}

static void
append(struct fx *f, const char *msg)
{
	char line[8192];
	int n = snprintf(line, sizeof(line), "A APPEND INBOX {%zu+}\r\n%s\r\n",
	    strlen(msg), msg);

	drain(f, "A", line, (size_t)n);
}

/*
 * BODY matches decoded text only, whatever the raw fast path sees (audit
 * 1, A.7): not the base64 of a text part, not an attachment that is not
 * text, not the MIME headers or boundaries of parts; and it finds text
 * that only decoding shows (an attached message's encoded Subject).
 */
static void
test_body_decoded_only(void **state)
{
	struct fx *f = *state;

	append(f, "From: x@example.org\r\nSubject: mixed\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\nplain words here\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQK\r\n"
	    "--b1\r\nContent-Type: image/png\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0aW1n\r\n"
	    "--b1--\r\n");
	append(f, "From: x@example.org\r\nSubject: blob\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
	    "\r\nrawdata123\r\n");
	append(f, "From: x@example.org\r\nSubject: fwd\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n"
	    "--b2\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
	    "--b2\r\nContent-Type: message/rfc822\r\n\r\n"
	    "From: y@example.org\r\nSubject: =?UTF-8?B?UXVhcnRlcmx5?=\r\n\r\n"
	    "inner text\r\n--b2--\r\n");
	append(f, "From: x@example.org\r\nSubject: folded\r\n"
	    "MIME-Version: 1.0\r\nContent-Type:\r\n multipart/mixed;\r\n"
	    " boundary=\"b3\"\r\n\r\n--b3\r\nContent-Transfer-Encoding:\r\n"
	    " base64\r\n\r\nZm9sZGVkCg==\r\n--b3--\r\n");
	drain(f, "N", "N NOOP\r\n", 8);
	search(f, "BODY aGVsbG8", "");		/* base64 of text */
	search(f, "TEXT aGVsbG8", "");
	search(f, "BODY hello", " 6");		/* ... decoded */
	search(f, "BODY plain", " 6");
	search(f, "BODY c2VjcmV0", "");		/* an image */
	search(f, "BODY secretimg", "");
	search(f, "BODY Content-Type", "");	/* part headers */
	search(f, "BODY b1", "");		/* boundaries */
	search(f, "BODY rawdata123", "");	/* not text */
	search(f, "BODY quarterly", " 8");	/* decoded encoded word */
	search(f, "BODY inner", " 8");
	search(f, "BODY UXVhcnRlcmx5", "");
	search(f, "BODY \">From\"", "");
	search(f, "BODY invoice", " 3");
	search(f, "BODY treasure", " 3");
	/* headers folded right after the colon: no guessing */
	search(f, "BODY Zm9sZGVk", "");
	search(f, "BODY folded", " 9");
}

static void
test_dates_sizes(void **state)
{
	struct fx *f = *state;

	search(f, "BEFORE 5-Feb-2026", " 1");
	search(f, "ON 5-Feb-2026", " 2");
	search(f, "ON \"5-feb-2026\"", " 2");
	search(f, "SINCE 10-Feb-2026", " 3 4 5");
	search(f, "SINCE 1-Jan-2030", "");
	/* Date: in its own zone: 3 Feb 23:30 -0500 is 3 Feb */
	search(f, "SENTON 3-Feb-2026", " 2");
	search(f, "SENTBEFORE 3-Feb-2026", " 1");
	/* message 4 has no Date: its internal date (1 Mar) stands in */
	search(f, "SENTSINCE 1-Mar-2026", " 4 5");
	search(f, "LARGER 400", " 3");
	search(f, "SMALLER 400", " 1 2 4 5");
	search(f, "LARGER 100000", "");
}

static void
test_errors(void **state)
{
	struct fx *f = *state;
	char *line = malloc(16384);

	refused(f, "SEARCH", "T BAD");
	refused(f, "SEARCH FOO", "T BAD");
	refused(f, "SEARCH SINCE 31-Foo-2026", "T BAD");
	refused(f, "SEARCH SINCE 31-Feb-2026", "T BAD");
	refused(f, "SEARCH LARGER x", "T BAD");
	refused(f, "SEARCH 9", "T BAD");
	refused(f, "SEARCH OR SEEN", "T BAD");
	refused(f, "SEARCH NOT", "T BAD");
	refused(f, "SEARCH \"ALL\"", "T BAD");
	refused(f, "SEARCH HEADER", "T BAD");
	refused(f, "SEARCH UID x", "T BAD");
	/* a system flag is not a keyword (RFC 3501 9: flag-keyword = atom) */
	refused(f, "SEARCH KEYWORD \\Seen", "T BAD \\Seen is a system flag, "
	    "not a keyword: SEARCH Seen");
	refused(f, "SEARCH UNKEYWORD \\Deleted", "T BAD \\Deleted is a "
	    "system flag, not a keyword: SEARCH UNDeleted");
	refused(f, "SEARCH KEYWORD \\Recent", "T BAD Not a keyword");
	refused(f, "SEARCH CHARSET KOI8-R ALL",
	    "T NO [BADCHARSET (US-ASCII UTF-8)]");
	search(f, "CHARSET us-ascii ALL", " 1 2 3 4 5");
	/* 1000 nested ORs, 1000 NOTs: refused, no stack blow-up */
	strcpy(line, "SEARCH");
	for (int i = 0; i < 1000; i++)
		strcat(line, " OR");
	for (int i = 0; i < 1001; i++)
		strcat(line, " ALL");
	refused(f, line, "T BAD");
	strcpy(line, "SEARCH");
	for (int i = 0; i < 1000; i++)
		strcat(line, " NOT");
	strcat(line, " ALL");
	refused(f, line, "T BAD");
	/* but 60 levels are fine */
	strcpy(line, "");
	for (int i = 0; i < 60; i++)
		strcat(line, "NOT ");
	strcat(line, "SEEN");
	search(f, line, " 1 4");
	/* too many keys */
	strcpy(line, "SEARCH");
	for (int i = 0; i < SRCH_KEYS_MAX + 1; i++)
		strcat(line, " ALL");
	refused(f, line, "T BAD");
	/* 1000 nested parentheses: the parser's limit */
	strcpy(line, "SEARCH ");
	for (int i = 0; i < 1000; i++)
		strcat(line, "(");
	strcat(line, "ALL");
	for (int i = 0; i < 1000; i++)
		strcat(line, ")");
	refused(f, line, "T BAD");
	free(line);
	/* still in step */
	search(f, "SEEN", " 1 4");
}

/* The scanner against a naive reference on random text. */
static const char *
naive(const char *h, size_t hl, const char *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t j = 0;
		while (j < nl) {
			unsigned char a = (unsigned char)h[i + j];
			unsigned char b = (unsigned char)n[j];
			if (a >= 'A' && a <= 'Z')
				a += 32;
			if (b >= 'A' && b <= 'Z')
				b += 32;
			if (a != b)
				break;
			j++;
		}
		if (j == nl)
			return h + i;
	}
	return NULL;
}

static void
test_memcasemem(void **state)
{
	static const char alpha[] = "abAB \xc3\xa9\xc3\x89";
	char h[300], n[8];
	unsigned seed = 42;

	(void)state;
	const char *hw = "Hello World";
	assert_ptr_equal(srch_memcasemem(hw, 11, "WORLD", 5), hw + 6);
	assert_ptr_equal(srch_memcasemem(hw, 11, "", 0), hw);
	assert_null(srch_memcasemem(hw, 11, "Worlds", 6));
	assert_null(srch_memcasemem(hw, 3, "Hello", 5));
	assert_ptr_equal(srch_memcasemem(hw, 11, "d", 1), hw + 10);
	/* 8-bit bytes are not folded */
	assert_null(srch_memcasemem("\xc3\xa9", 2, "\xc3\x89", 2));
	for (int round = 0; round < 20000; round++) {
		size_t hl = ((seed = seed * 1103515245 + 12345) >> 16) % 300;
		size_t nl = 1 + ((seed = seed * 1103515245 + 12345) >> 16) % 6;
		for (size_t i = 0; i < hl; i++)
			h[i] = alpha[((seed = seed * 1103515245 + 12345) >> 16) %
			    (sizeof(alpha) - 1)];
		for (size_t i = 0; i < nl; i++)
			n[i] = alpha[((seed = seed * 1103515245 + 12345) >> 16) %
			    (sizeof(alpha) - 1)];
		assert_ptr_equal(srch_memcasemem(h, hl, n, nl),
		    naive(h, hl, n, nl));
	}
}

static void
test_dates_unit(void **state)
{
	long d;

	(void)state;
	assert_int_equal(srch_days(1970, 1, 1), 0);
	assert_int_equal(srch_days(2000, 3, 1), 11017);
	assert_int_equal(srch_days(1969, 12, 31), -1);
	assert_int_equal(srch_parse_date("1-Feb-1994", 10, &d), 0);
	assert_int_equal(d, srch_days(1994, 2, 1));
	assert_int_equal(srch_parse_date("01-feb-1994", 11, &d), 0);
	assert_int_equal(d, srch_days(1994, 2, 1));
	assert_int_equal(srch_parse_date("29-Feb-2024", 11, &d), 0);
	assert_int_equal(srch_parse_date("32-Jan-2024", 11, &d), -1);
	assert_int_equal(srch_parse_date("1-Foo-1994", 10, &d), -1);
	assert_int_equal(srch_parse_date("1-Feb-94", 8, &d), -1);
	assert_int_equal(srch_parse_date("1-Feb-19x4", 10, &d), -1);
	assert_int_equal(srch_parse_date("", 0, &d), -1);
}

/* Parse "a SEARCH <KEYS>" with the real parser; srch_parse's result. */
static int
parse_keys(const char *keys, struct srch_prog **p_r, const char **err_r,
    int *badcs_r)
{
	static char err[256];
	struct imap_parser ps;
	struct imap_args a;
	char line[16384];
	int r;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	imap_parser_init(&ps);
	assert_int_equal(imap_parse_line(&ps, line, strlen(line), 0),
	    IMAP_PR_DONE);
	imap_parser_args(&ps, &a);
	r = srch_parse(&a, NULL, 10, 20, p_r, err, sizeof(err), badcs_r);
	*err_r = err;
	imap_parser_free(&ps);
	return r;
}

static void
test_parse_order_limits(void **state)
{
	struct srch_prog *p;
	const char *err;
	int bad, costs[8];
	char *keys = malloc(16384);

	(void)state;
	/* cheap keys first, then headers, then the body */
	assert_int_equal(parse_keys("BODY x FROM y SEEN 1:2 TEXT z "
	    "SENTON 1-Feb-2026 LARGER 10", &p, &err, &bad), 0);
	assert_int_equal(srch_costs(p, costs, 8), 7);
	int want[] = { 0, 0, 0, 1, 1, 2, 2 };
	for (int i = 0; i < 7; i++)
		assert_int_equal(costs[i], want[i]);
	srch_free(&p);
	assert_null(p);
	/* an OR of a body key costs as much as the body */
	assert_int_equal(parse_keys("OR BODY x SEEN DELETED", &p, &err, &bad), 0);
	assert_int_equal(srch_costs(p, costs, 8), 2);
	assert_int_equal(costs[0], 0);
	assert_int_equal(costs[1], 2);
	srch_free(&p);
	/* depth: SRCH_DEPTH_MAX nested NOTs pass, one more fails */
	strcpy(keys, "");
	for (int i = 0; i < SRCH_DEPTH_MAX; i++)
		strcat(keys, "NOT ");
	strcat(keys, "ALL");
	assert_int_equal(parse_keys(keys, &p, &err, &bad), 0);
	srch_free(&p);
	strcpy(keys, "NOT ");
	for (int i = 0; i < SRCH_DEPTH_MAX; i++)
		strcat(keys, "NOT ");
	strcat(keys, "ALL");
	assert_int_equal(parse_keys(keys, &p, &err, &bad), -1);
	assert_non_null(strstr(err, "nested"));
	assert_null(p);
	/* message numbers beyond the mailbox, UIDs beyond are fine */
	assert_int_equal(parse_keys("11", &p, &err, &bad), -1);
	assert_int_equal(parse_keys("LUNCH", &p, &err, &bad), -1);
	assert_true(strncmp(err, "Unknown search key LUNCH: ", 26) == 0);
	assert_int_equal(parse_keys("UID 1:99", &p, &err, &bad), 0);
	srch_free(&p);
	assert_int_equal(parse_keys("CHARSET BIG5 ALL", &p, &err, &bad), -1);
	assert_int_equal(bad, 1);
	assert_int_equal(parse_keys("CHARSET utf-8 ALL", &p, &err, &bad), 0);
	assert_int_equal(srch_size(p), 2);
	srch_free(&p);
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flags, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_sets_and_logic, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_headers, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_body_text, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_body_decoded_only,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dates_sizes, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_errors, fx_setup,
		    fx_teardown),
		cmocka_unit_test(test_memcasemem),
		cmocka_unit_test(test_dates_unit),
		cmocka_unit_test(test_parse_order_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
