/* test_listmatch.c - LIST wildcards and references (imapd/mboxname.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../imapd/part2impl.h"

static void
test_star_percent(void **state)
{
	(void)state;
	assert_true(mbx_match("*", "a"));
	assert_true(mbx_match("*", "a/b/c"));
	assert_true(mbx_match("%", "a"));
	assert_false(mbx_match("%", "a/b"));
	assert_true(mbx_match("a/%", "a/b"));
	assert_false(mbx_match("a/%", "a/b/c"));
	assert_false(mbx_match("a/%", "a"));
	assert_true(mbx_match("a/*", "a/b/c"));
	assert_false(mbx_match("a/*", "ab/c"));
	assert_true(mbx_match("%/%", "x/y"));
	assert_false(mbx_match("%/%", "x"));
	assert_true(mbx_match("*b", "a/b"));
	assert_true(mbx_match("S%t", "Sent"));
	assert_false(mbx_match("S%t", "S/t"));
	assert_true(mbx_match("*/Drafts", "Archive/2026/Drafts"));
	assert_true(mbx_match("a**b", "ab"));
	assert_true(mbx_match("%%", ""));
	assert_false(mbx_match("", "a"));
	assert_true(mbx_match("", ""));
	/* exact names, case-sensitive except INBOX */
	assert_true(mbx_match("Work", "Work"));
	assert_false(mbx_match("work", "Work"));
	assert_true(mbx_match("inbox", "INBOX"));
	assert_true(mbx_match("InBoX", "INBOX"));
	assert_true(mbx_match("inb%", "INBOX"));
	assert_true(mbx_match("I*", "INBOX"));
	assert_false(mbx_match("INBOX", "inbox"));	/* a folder "inbox" */
	/* UTF-8 names match byte for byte */
	assert_true(mbx_match("Entw%", "Entw\xc3\xbc" "rfe"));
}

static void
test_match_below(void **state)
{
	(void)state;
	assert_true(mbx_match_below("*", "a"));
	assert_false(mbx_match_below("%", "a"));
	assert_true(mbx_match_below("a/%", "a"));
	assert_false(mbx_match_below("a/%", "b"));
	assert_false(mbx_match_below("a/%", "a/b"));
	assert_true(mbx_match_below("a/*", "a/b"));
	assert_true(mbx_match_below("%/x", "q"));
	assert_false(mbx_match_below("Work", "Work"));
}

static void
test_reference(void **state)
{
	char out[2048];

	(void)state;
	assert_int_equal(mbx_pattern("", "*", out, sizeof(out)), 0);
	assert_string_equal(out, "*");
	assert_int_equal(mbx_pattern("foo/", "%", out, sizeof(out)), 0);
	assert_string_equal(out, "foo/%");
	assert_true(mbx_match(out, "foo/bar"));
	assert_false(mbx_match(out, "foo/bar/baz"));
	assert_int_equal(mbx_pattern("foo/", "/bar", out, sizeof(out)), 0);
	assert_string_equal(out, "foo/bar");
	assert_int_equal(mbx_pattern("foo", "bar", out, sizeof(out)), 0);
	assert_string_equal(out, "foobar");
	assert_int_equal(mbx_pattern("Arch", "*", out, sizeof(out)), 0);
	assert_true(mbx_match(out, "Archive/2026"));
	/* too many wildcards, too long */
	char many[100];
	memset(many, '%', 40);
	many[40] = '\0';
	assert_int_equal(mbx_pattern("", many, out, sizeof(out)), -1);
	assert_int_equal(mbx_pattern("", "*", out, 1), -1);
}

/* A pathological pattern stays linear enough (no backtracking blowup). */
static void
test_no_blowup(void **state)
{
	char pat[64], name[MBX_NAME_MAX + 1];
	clock_t t0 = clock();

	(void)state;
	strcpy(pat, "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
	memset(name, 'a', MBX_NAME_MAX);
	name[MBX_NAME_MAX] = '\0';
	for (int i = 0; i < 200; i++)
		assert_false(mbx_match(pat, name));
	name[MBX_NAME_MAX - 1] = 'b';
	assert_true(mbx_match(pat, name));
	/* not a timing assertion: just report */
	print_message("200 pathological matches: %.3f s CPU\n",
	    (double)(clock() - t0) / CLOCKS_PER_SEC);
}

static void
test_special_use(void **state)
{
	(void)state;
	assert_string_equal(mbx_special_use("Sent"), "\\Sent");
	assert_string_equal(mbx_special_use("sent"), "\\Sent");
	assert_string_equal(mbx_special_use("Drafts"), "\\Drafts");
	assert_string_equal(mbx_special_use("Trash"), "\\Trash");
	assert_string_equal(mbx_special_use("Junk"), "\\Junk");
	assert_string_equal(mbx_special_use("Spam"), "\\Junk");
	assert_null(mbx_special_use("Work"));
	assert_null(mbx_special_use("Sentx"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_star_percent),
		cmocka_unit_test(test_match_below),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_no_blowup),
		cmocka_unit_test(test_special_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
