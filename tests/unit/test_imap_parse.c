/*
 * test_imap_parse.c - the IMAP command parser (imapd/parse.c): every token
 * kind, literals fed whole and one byte at a time, every limit, and the
 * error paths that must keep the session in step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/parse.h"

/* Feed TEXT (lines separated by "\r\n", literal data inline) to P the way
 * the session loop does; literal octets go BYTEWISE one at a time if set.
 * Returns the final result; *NCONT_R counts continuation requests. */
/* The next CRLF in [S, END), or NULL. */
static const char *
crlf(const char *s, const char *end)
{
	for (; s + 1 < end; s++)
		if (s[0] == '\r' && s[1] == '\n')
			return s;
	return NULL;
}

static enum imap_pr
feedn(struct imap_parser *p, const char *text, size_t tlen, int bytewise,
    int *ncont_r, unsigned long long *skipped_r)
{
	const char *s = text, *end = text + tlen;
	enum imap_pr r = IMAP_PR_LINE;
	int ncont = 0;
	unsigned long long skipped = 0;

	imap_parser_reset(p);
	do {
		const char *nl = crlf(s, end);
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

		r = imap_parse_line(p, s, len, 0);
		s += len + (nl ? 2 : 0);
		if (r == IMAP_PR_LITERAL) {
			if (imap_parser_literal_sync(p))
				ncont++;
			while (r == IMAP_PR_LITERAL) {
				size_t n = (size_t)imap_parser_literal_need(p);

				if (bytewise && n > 1)
					n = 1;
				assert_true(s + n <= end);
				r = imap_parse_literal(p, s, n);
				s += n;
			}
		}
		if (r == IMAP_PR_SKIP) {
			size_t n = (size_t)imap_parser_literal_need(p);

			skipped += n;
			s += n < (size_t)(end - s) ? n : (size_t)(end - s);
		}
		if (r == IMAP_PR_DONE || r == IMAP_PR_ERROR ||
		    r == IMAP_PR_FATAL || r == IMAP_PR_EMPTY)
			break;
	} while (s < end || r == IMAP_PR_LINE);
	if (ncont_r)
		*ncont_r = ncont;
	if (skipped_r)
		*skipped_r = skipped;
	return r;
}

static enum imap_pr
feed(struct imap_parser *p, const char *text, int bytewise, int *ncont_r,
    unsigned long long *skipped_r)
{
	return feedn(p, text, strlen(text), bytewise, ncont_r, skipped_r);
}

#define FEEDLIT(p, lit) feedn(p, lit, sizeof(lit) - 1, 0, NULL, NULL)

static void
test_simple(void **state)
{
	struct imap_parser p;
	struct imap_args a;
	const char *s;

	(void)state;
	imap_parser_init(&p);
	assert_int_equal(feed(&p, "a1 LOGIN etudiant Etudiant1", 0, NULL,
	    NULL), IMAP_PR_DONE);
	assert_string_equal(imap_parser_tag(&p), "a1");
	assert_string_equal(imap_parser_name(&p), "LOGIN");
	imap_parser_args(&p, &a);
	assert_int_equal(imap_args_left(&a), 2);
	assert_int_equal(imap_get_astring(&a, &s, NULL), 0);
	assert_string_equal(s, "etudiant");
	assert_int_equal(imap_get_astring(&a, &s, NULL), 0);
	assert_string_equal(s, "Etudiant1");
	assert_true(imap_args_end(&a));
	/* the password is masked in the transcript from its first octet */
	assert_int_equal(imap_parser_mask_from(&p), strlen("a1 LOGIN etudiant "));
	imap_parser_free(&p);
}

static void
test_token_kinds(void **state)
{
	struct imap_parser p;
	struct imap_args a, l, l2;
	const struct imap_arg *arg;
	const char *s;
	size_t len;

	(void)state;
	imap_parser_init(&p);
	assert_int_equal(FEEDLIT(&p, "t X atom \"q \\\"x\\\\ y\" NIL nil "
	    "(a (b \"c\") ()) {3}\r\nl\0t \\Seen * %"), IMAP_PR_DONE);
	imap_parser_args(&p, &a);
	assert_int_equal(imap_args_left(&a), 9);
	arg = imap_args_next(&a);
	assert_int_equal(arg->type, IMAP_ARG_ATOM);
	assert_string_equal(arg->s, "atom");
	assert_int_equal(imap_get_string(&a, &s, &len), 0);
	assert_string_equal(s, "q \"x\\ y");
	assert_int_equal(len, 7);
	arg = imap_args_peek(&a);
	assert_int_equal(arg->type, IMAP_ARG_NIL);
	assert_int_equal(imap_get_nstring(&a, &s, NULL), 0);
	assert_null(s);
	/* NIL is also an astring (a mailbox may be called NIL) */
	assert_int_equal(imap_get_astring(&a, &s, NULL), 0);
	assert_string_equal(s, "nil");
	assert_int_equal(imap_get_list(&a, &l), 0);
	assert_int_equal(imap_args_left(&l), 3);
	assert_int_equal(imap_get_atom(&l, &s, NULL), 0);
	assert_string_equal(s, "a");
	assert_int_equal(imap_get_list(&l, &l2), 0);
	assert_int_equal(imap_args_left(&l2), 2);
	assert_int_equal(imap_get_list(&l, &l2), 0);
	assert_true(imap_args_end(&l2));
	assert_true(imap_args_end(&l));
	arg = imap_args_next(&a);
	assert_int_equal(arg->type, IMAP_ARG_LITERAL);
	assert_int_equal(arg->len, 3);
	assert_memory_equal(arg->s, "l\0t", 3);
	assert_int_equal(imap_get_atom(&a, &s, NULL), 0);
	assert_string_equal(s, "\\Seen");
	assert_int_equal(imap_get_atom(&a, &s, NULL), 0);
	assert_string_equal(s, "*");
	assert_int_equal(imap_get_atom(&a, &s, NULL), 0);
	assert_string_equal(s, "%");
	assert_true(imap_args_end(&a));
	assert_null(imap_args_next(&a));
	imap_parser_free(&p);
}

static void
test_typed_getters_refuse(void **state)
{
	struct imap_parser p;
	struct imap_args a, l;
	const char *s;
	unsigned long long v;

	(void)state;
	imap_parser_init(&p);
	assert_int_equal(feed(&p, "t X (a) \"q\" 42 99999999999999999999999",
	    0, NULL, NULL), IMAP_PR_DONE);
	imap_parser_args(&p, &a);
	assert_int_equal(imap_get_atom(&a, &s, NULL), -1);
	assert_int_equal(imap_get_astring(&a, &s, NULL), -1);
	assert_int_equal(imap_get_list(&a, &l), 0);
	assert_int_equal(imap_get_atom(&a, &s, NULL), -1);	/* quoted */
	assert_int_equal(imap_get_list(&a, &l), -1);
	assert_int_equal(imap_get_string(&a, &s, NULL), 0);
	assert_int_equal(imap_get_uint(&a, 10, &v), -1);	/* > max */
	assert_int_equal(imap_get_uint(&a, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(imap_get_uint(&a, ~0ULL, &v), -1);	/* overflow */
	assert_false(imap_args_end(&a));
	imap_parser_free(&p);
}

static void
test_sections_are_one_atom(void **state)
{
	struct imap_parser p;
	struct imap_args a, l;
	const char *s;

	(void)state;
	imap_parser_init(&p);
	assert_int_equal(feed(&p, "4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (DATE "
	    "\"FROM\")]<0.100> BODY[] FLAGS)", 0, NULL, NULL), IMAP_PR_DONE);
	imap_parser_args(&p, &a);
	assert_int_equal(imap_get_atom(&a, &s, NULL), 0);
	assert_string_equal(s, "1");
	assert_int_equal(imap_get_list(&a, &l), 0);
	assert_int_equal(imap_args_left(&l), 3);
	assert_int_equal(imap_get_atom(&l, &s, NULL), 0);
	assert_string_equal(s, "BODY.PEEK[HEADER.FIELDS (DATE \"FROM\")]<0.100>");
	assert_int_equal(imap_get_atom(&l, &s, NULL), 0);
	assert_string_equal(s, "BODY[]");
	imap_parser_free(&p);
}

static void
test_literals(void **state)
{
	struct imap_parser p;
	struct imap_args a;
	const char *s;
	size_t len;
	int ncont, bytewise;

	(void)state;
	imap_parser_init(&p);
	for (bytewise = 0; bytewise < 2; bytewise++) {
		assert_int_equal(feed(&p, "a LOGIN {8}\r\netudiant {9+}\r\n"
		    "Etudiant1", bytewise, &ncont, NULL), IMAP_PR_DONE);
		assert_int_equal(ncont, 1);	/* {9+} needs no "+" */
		imap_parser_args(&p, &a);
		assert_int_equal(imap_get_astring(&a, &s, &len), 0);
		assert_string_equal(s, "etudiant");
		assert_int_equal(imap_get_astring(&a, &s, &len), 0);
		assert_string_equal(s, "Etudiant1");
		assert_true(imap_args_end(&a));
		/* the line after a LOGIN literal is masked whole */
		assert_int_equal(imap_parser_mask_from(&p), 0);
	}
	/* an empty literal, and CRLF inside a literal */
	assert_int_equal(feed(&p, "a X {0}\r\n {4}\r\n\r\n\r\n\r\n", 0, &ncont,
	    NULL), IMAP_PR_DONE);
	imap_parser_args(&p, &a);
	assert_int_equal(imap_get_string(&a, &s, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(imap_get_string(&a, &s, &len), 0);
	assert_memory_equal(s, "\r\n\r\n", 4);
	imap_parser_free(&p);
}

static void
test_literal_limits(void **state)
{
	struct imap_parser p;
	unsigned long long skipped;
	char line[128];
	int ncont;

	(void)state;
	imap_parser_init(&p);
	/* 4 GB synchronising: refused before any "+" and any allocation */
	assert_int_equal(feed(&p, "a APPEND INBOX {4294967296}", 0, &ncont,
	    NULL), IMAP_PR_ERROR);
	assert_int_equal(ncont, 0);
	assert_non_null(strstr(imap_parser_error(&p), "TOOBIG"));
	assert_string_equal(imap_parser_tag(&p), "a");
	assert_true(p.text.cap < 4096);
	/* LITERAL+ too big: swallowed exactly, then the rest of the command */
	snprintf(line, sizeof(line), "b APPEND INBOX {%lld+}\r\n",
	    (long long)IMAP_LITERAL_MAX + 1);
	imap_parser_reset(&p);
	assert_int_equal(imap_parse_line(&p, line, strlen(line) - 2, 0),
	    IMAP_PR_SKIP);
	assert_int_equal(imap_parser_literal_need(&p), IMAP_LITERAL_MAX + 1);
	assert_int_equal(imap_parse_line(&p, " {2+}", 5, 0), IMAP_PR_SKIP);
	assert_int_equal(imap_parser_literal_need(&p), 2);
	assert_int_equal(imap_parse_line(&p, "", 0, 0), IMAP_PR_ERROR);
	assert_non_null(strstr(imap_parser_error(&p), "TOOBIG"));
	assert_true(p.text.cap < 4096);
	/* total of several literals is capped too */
	snprintf(line, sizeof(line), "c X {%lld+}\r\n",
	    (long long)IMAP_LITERAL_MAX / 2 + 1);
	imap_parser_reset(&p);
	assert_int_equal(imap_parse_line(&p, line, strlen(line) - 2, 0),
	    IMAP_PR_LITERAL);
	/* a LITERAL+ size we cannot count: the session cannot go on */
	assert_int_equal(feed(&p, "d X {99999999999999999999999+}", 0, NULL,
	    &skipped), IMAP_PR_FATAL);
	/* the same as a synchronising literal: a plain BAD */
	assert_int_equal(feed(&p, "d X {99999999999999999999999}", 0, NULL,
	    &skipped), IMAP_PR_ERROR);
	imap_parser_free(&p);
}

static void
test_nesting_limit(void **state)
{
	struct imap_parser p;
	char *line;
	size_t i, n = 1000;

	(void)state;
	imap_parser_init(&p);
	line = malloc(2 * n + 16);
	assert_non_null(line);
	strcpy(line, "a X ");
	for (i = 0; i < n; i++)
		strcat(line, "(");
	for (i = 0; i < n; i++)
		strcat(line, ")");
	assert_int_equal(feed(&p, line, 0, NULL, NULL), IMAP_PR_ERROR);
	assert_non_null(strstr(imap_parser_error(&p), "nested"));
	/* exactly IMAP_NEST_MAX levels are fine */
	strcpy(line, "a X ");
	for (i = 0; i < IMAP_NEST_MAX; i++)
		strcat(line, "(");
	for (i = 0; i < IMAP_NEST_MAX; i++)
		strcat(line, ")");
	assert_int_equal(feed(&p, line, 0, NULL, NULL), IMAP_PR_DONE);
	free(line);
	imap_parser_free(&p);
}

static void
test_line_limit(void **state)
{
	struct imap_parser p;
	char *line;
	size_t half = IMAP_LINE_MAX / 2 + 10;

	(void)state;
	imap_parser_init(&p);
	/* two lines joined by a literal, each under the cap, together over */
	line = malloc(half + 1);
	assert_non_null(line);
	memset(line, 'x', half);
	memcpy(line, "a X ", 4);
	memcpy(line + half - 5, " {1}", 4);
	assert_int_equal(imap_parse_line(&p, line, half - 1, 0),
	    IMAP_PR_LITERAL);
	assert_int_equal(imap_parse_literal(&p, "z", 1), IMAP_PR_LINE);
	line[0] = ' ';
	assert_int_equal(imap_parse_line(&p, line, half, 0), IMAP_PR_ERROR);
	assert_non_null(strstr(imap_parser_error(&p), "too long"));
	/* a line the reader discarded as too long */
	imap_parser_reset(&p);
	assert_int_equal(imap_parse_toolong(&p), IMAP_PR_ERROR);
	assert_string_equal(imap_parser_tag(&p), "");
	free(line);
	imap_parser_free(&p);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *in;
		const char *tag;
		const char *msg;
	} t[] = {
		{ "a (x", "a", "Invalid command name" },
		{ "a X (x", "a", "Missing ')'" },
		{ "a X x)", "a", "Unexpected ')'" },
		{ "a X \"abc", "a", "Missing closing quote" },
		{ "a X \"a\\bc\"", "a", "Invalid escape" },
		{ "4 fetch 1 body[", "4", "Missing ']'" },
		{ "a X {5}x", "a", "end of a line" },
		{ "a X \"q\"x", "a", "Expected a space" },
		{ "a\"b X", "", "Invalid tag" },
		{ "a+ X", "", "Invalid tag" },
		{ "a L0GIN", "a", "Invalid command name" },
	};
	struct imap_parser p;
	size_t i;

	(void)state;
	imap_parser_init(&p);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(feed(&p, t[i].in, 0, NULL, NULL),
		    IMAP_PR_ERROR);
		assert_string_equal(imap_parser_tag(&p), t[i].tag);
		if (strstr(imap_parser_error(&p), t[i].msg) == NULL)
			fail_msg("%s: got '%s'", t[i].in,
			    imap_parser_error(&p));
	}
	/* a lone word: a tag without a command (the session explains) */
	assert_int_equal(feed(&p, "logout", 0, NULL, NULL), IMAP_PR_ERROR);
	assert_string_equal(imap_parser_tag(&p), "logout");
	assert_string_equal(imap_parser_name(&p), "");
	/* NUL in a line */
	imap_parser_reset(&p);
	assert_int_equal(imap_parse_line(&p, "a NOOP\0x", 8, IO_LINE_NUL),
	    IMAP_PR_ERROR);
	assert_string_equal(imap_parser_tag(&p), "a");
	/* an empty line is ignored */
	assert_int_equal(feed(&p, "", 0, NULL, NULL), IMAP_PR_EMPTY);
	/* a refused command whose line ends in a sync literal: no "+" */
	assert_int_equal(feed(&p, "a X ) {5}", 0, NULL, NULL), IMAP_PR_ERROR);
	imap_parser_free(&p);
}

static void
test_error_then_literal_plus_in_sync(void **state)
{
	struct imap_parser p;
	unsigned long long skipped;

	(void)state;
	imap_parser_init(&p);
	/* the bad quote is on the first line; the LITERAL+ data that
	 * follows is swallowed and the command ends after it */
	assert_int_equal(feed(&p, "a X \"a\\b\" {5+}\r\nhello {3+}\r\nabc\r\n",
	    0, NULL, &skipped), IMAP_PR_ERROR);
	assert_int_equal(skipped, 8);
	assert_non_null(strstr(imap_parser_error(&p), "escape"));
	/* and the next command parses normally */
	assert_int_equal(feed(&p, "b NOOP", 0, NULL, NULL), IMAP_PR_DONE);
	assert_string_equal(imap_parser_tag(&p), "b");
	imap_parser_free(&p);
}

/* Random lines over the characters that matter: whatever comes in, the
 * parser ends every command with one result and ASan sees no error. */
static void
test_fuzz(void **state)
{
	static const char alphabet[] = "a1 ()[]{}\"\\+*%<>.:,NIL\r\n\t\x01\x80";
	struct imap_parser p;
	char line[128];
	unsigned seed = 12345, i, j;

	(void)state;
	imap_parser_init(&p);
	for (i = 0; i < 20000; i++) {
		size_t len;
		enum imap_pr r;

		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % (sizeof(line) - 1);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245 + 12345;
			line[j] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		imap_parser_reset(&p);
		r = imap_parse_line(&p, line, len, 0);
		/* literals: feed what is asked, up to a bound, then a line */
		for (j = 0; j < 4 && (r == IMAP_PR_LITERAL || r == IMAP_PR_SKIP ||
		    r == IMAP_PR_LINE); j++) {
			if (r == IMAP_PR_LITERAL) {
				if (imap_parser_literal_need(&p) > 4096)
					break;
				while (r == IMAP_PR_LITERAL)
					r = imap_parse_literal(&p, "x", 1);
			}
			if (r == IMAP_PR_SKIP || r == IMAP_PR_LINE)
				r = imap_parse_line(&p, "", 0, 0);
		}
		assert_true(r == IMAP_PR_DONE || r == IMAP_PR_ERROR ||
		    r == IMAP_PR_FATAL || r == IMAP_PR_EMPTY ||
		    r == IMAP_PR_LITERAL || r == IMAP_PR_SKIP);
		if (r == IMAP_PR_ERROR || r == IMAP_PR_FATAL)
			assert_true(imap_parser_error(&p)[0] != '\0');
		if (r == IMAP_PR_DONE) {
			struct imap_args a;
			const struct imap_arg *arg;

			imap_parser_args(&p, &a);
			while ((arg = imap_args_next(&a)) != NULL)
				assert_non_null(arg->s);
		}
	}
	imap_parser_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_token_kinds),
		cmocka_unit_test(test_typed_getters_refuse),
		cmocka_unit_test(test_sections_are_one_atom),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_literal_limits),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_then_literal_plus_in_sync),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
