/* test_num.c - parse_uint and log_safe (libspool/num.c, log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void
test_parse_uint_good(void **state)
{
	unsigned long long v = 99;

	(void)state;
	assert_int_equal(parse_uint("0", (size_t)-1, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_uint("0042", (size_t)-1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_uint("123xyz", 3, 1000, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(parse_uint("18446744073709551615", (size_t)-1,
	    ~0ULL, &v), 0);
	assert_true(v == ~0ULL);
	assert_int_equal(parse_uint("4294967295", (size_t)-1, 4294967295ULL,
	    &v), 0);
	assert_true(v == 4294967295ULL);
}

static void
test_parse_uint_bad(void **state)
{
	unsigned long long v = 7;

	(void)state;
	assert_int_equal(parse_uint("", (size_t)-1, 10, &v), -1);
	assert_int_equal(parse_uint("12", 0, 10, &v), -1);
	assert_int_equal(parse_uint("-1", (size_t)-1, ~0ULL, &v), -1);
	assert_int_equal(parse_uint("+1", (size_t)-1, ~0ULL, &v), -1);
	assert_int_equal(parse_uint(" 1", (size_t)-1, ~0ULL, &v), -1);
	assert_int_equal(parse_uint("1 ", (size_t)-1, ~0ULL, &v), -1);
	assert_int_equal(parse_uint("0x10", (size_t)-1, ~0ULL, &v), -1);
	assert_int_equal(parse_uint("1a", 2, ~0ULL, &v), -1);
	assert_int_equal(parse_uint("11", (size_t)-1, 10, &v), -1);
	assert_int_equal(parse_uint("18446744073709551616", (size_t)-1,
	    ~0ULL, &v), -1);
	assert_int_equal(parse_uint("99999999999999999999999", (size_t)-1,
	    ~0ULL, &v), -1);
	assert_int_equal(parse_uint("4294967296", (size_t)-1, 4294967295ULL,
	    &v), -1);
	assert_int_equal(parse_uint("5", (size_t)-1, 4, &v), -1);
	assert_int_equal(v, 7);		/* untouched on error */
}

static void
test_log_safe(void **state)
{
	char d[16];

	(void)state;
	assert_string_equal(log_safe(d, sizeof(d), "plain", 5), "plain");
	assert_string_equal(log_safe(d, sizeof(d), "a\r\nb", 4),
	    "a\\x0d\\x0ab");
	assert_string_equal(log_safe(d, sizeof(d), "\\\x7f\xff", 3),
	    "\\x5c\\x7f\\xff");
	/* exactly fits: 15 bytes */
	assert_string_equal(log_safe(d, sizeof(d), "123456789012345", 15),
	    "123456789012345");
	/* one more: truncated with "..." */
	assert_string_equal(log_safe(d, sizeof(d), "1234567890123456", 16),
	    "123456789012...");
	/* an escape is never cut in half */
	assert_string_equal(log_safe(d, sizeof(d), "1234567890\033abcdef",
	    17), "1234567890...");
	assert_string_equal(log_safe(d, 4, "abcdef", 6), "...");
	assert_string_equal(log_safe(d, 1, "abcdef", 6), "");
	assert_string_equal(log_safe(d, sizeof(d), "a\0b", 3), "a\\x00b");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint_good),
		cmocka_unit_test(test_parse_uint_bad),
		cmocka_unit_test(test_log_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
