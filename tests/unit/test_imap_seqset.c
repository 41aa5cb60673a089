/*
 * test_imap_seqset.c - IMAP sequence sets (imapd/seqset.c): parsing, '*',
 * merging, limits and iteration over a session's view.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/imapd.h"

static int
parse(const char *s, uint32_t star, struct imap_seqset *set)
{
	const char *err;

	return imap_seqset_parse(s, strlen(s), star, set, &err);
}

static void
test_parse_and_merge(void **state)
{
	struct imap_seqset set;

	(void)state;
	assert_int_equal(parse("6:*,1,3:5,4,2", 10, &set), 0);
	assert_int_equal(set.n, 1);		/* 1:10 after merging */
	assert_int_equal(set.r[0].lo, 1);
	assert_int_equal(set.r[0].hi, 10);
	imap_seqset_free(&set);
	assert_int_equal(parse("9:3,20,15:15", 30, &set), 0);
	assert_int_equal(set.n, 3);
	assert_int_equal(set.r[0].lo, 3);
	assert_int_equal(set.r[0].hi, 9);
	assert_true(imap_seqset_has(&set, 15));
	assert_false(imap_seqset_has(&set, 16));
	assert_true(imap_seqset_has(&set, 20));
	assert_false(imap_seqset_has(&set, 2));
	assert_int_equal(imap_seqset_max(&set), 20);
	imap_seqset_free(&set);
	/* "*" in an empty mailbox matches nothing */
	assert_int_equal(parse("*", 0, &set), 0);
	assert_int_equal(set.n, 0);
	imap_seqset_free(&set);
	/* n:* beyond the last UID still means the last (RFC 3501 6.4.8) */
	assert_int_equal(parse("50:*", 7, &set), 0);
	assert_true(imap_seqset_has(&set, 7));
	imap_seqset_free(&set);
	assert_int_equal(parse("4294967295", 1, &set), 0);
	assert_int_equal(imap_seqset_max(&set), 4294967295u);
	imap_seqset_free(&set);
}

static void
test_refused(void **state)
{
	static const char *bad[] = {
		"", "0", "1:0", ",1", "1,", "1,,2", "a", "1:", ":1", "1:2:3",
		"4294967296", "99999999999", "1 2", "-1", "+1", "1:*x",
	};
	struct imap_seqset set;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], 10, &set) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_null(set.r);
	}
}

static void
test_many_ranges(void **state)
{
	struct imap_seqset set;
	char *s = malloc(IMAP_LINE_MAX);
	size_t len = 0;
	uint32_t v;

	(void)state;
	assert_non_null(s);
	for (v = 1; len + 12 < IMAP_LINE_MAX; v += 2)
		len += (size_t)sprintf(s + len, "%u,", v);
	s[len - 1] = '\0';
	assert_int_equal(parse(s, 1u << 30, &set), 0);
	assert_true(imap_seqset_has(&set, 1));
	assert_false(imap_seqset_has(&set, 2));
	assert_true(imap_seqset_has(&set, v - 2));
	imap_seqset_free(&set);
	free(s);
}

static void
test_iterate(void **state)
{
	struct imap_session s;
	struct imap_msgref m[6];
	struct imap_seqset set;
	uint32_t cur = 0, seq, uids[] = { 3, 7, 8, 20, 21, 40 }, i;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(m, 0, sizeof(m));
	for (i = 0; i < 6; i++)
		m[i].uid = uids[i];
	s.msgs = m;
	s.nmsgs = 6;
	/* by UID: 7:20 and 40 give sequence numbers 2, 3, 4, 6 */
	assert_int_equal(parse("7:20,40,100", 40, &set), 0);
	assert_int_equal(imap_seqset_next(&s, &set, 1, &cur), 2);
	assert_int_equal(imap_seqset_next(&s, &set, 1, &cur), 3);
	assert_int_equal(imap_seqset_next(&s, &set, 1, &cur), 4);
	assert_int_equal(imap_seqset_next(&s, &set, 1, &cur), 6);
	assert_int_equal(imap_seqset_next(&s, &set, 1, &cur), 0);
	imap_seqset_free(&set);
	/* by number */
	cur = 0;
	assert_int_equal(parse("2,5:*", 6, &set), 0);
	i = 0;
	while ((seq = imap_seqset_next(&s, &set, 0, &cur)) != 0)
		i = i * 10 + seq;
	assert_int_equal(i, 256);
	imap_seqset_free(&set);
	assert_int_equal(imap_seq_of_uid(&s, 20), 4);
	assert_int_equal(imap_seq_of_uid(&s, 19), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_merge),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_iterate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
