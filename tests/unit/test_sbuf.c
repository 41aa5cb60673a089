/* test_sbuf.c - the growable buffer (libspool/sbuf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void
test_sbuf_build(void **state)
{
	struct sbuf b = { 0 };
	int i;

	(void)state;
	sbuf_puts(&b, "* ");
	sbuf_printf(&b, "%d FETCH (", 12);
	sbuf_addc(&b, 'X');
	sbuf_add(&b, ")\r\n", 3);
	assert_false(b.oom);
	assert_string_equal(b.p, "* 12 FETCH (X)\r\n");
	assert_int_equal(b.len, 16);
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	/* grow well past the first allocation, with embedded NULs */
	for (i = 0; i < 10000; i++)
		sbuf_add(&b, "ab\0", 3);
	assert_int_equal(b.len, 30000);
	assert_memory_equal(b.p + 29997, "ab\0", 3);
	assert_int_equal(b.p[30000], '\0');
	sbuf_printf(&b, "%0500d", 7);
	assert_int_equal(b.len, 30500);
	assert_int_equal(b.p[30499], '7');
	sbuf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

static void
test_sbuf_oom_sticky(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	sbuf_puts(&b, "ok");
	/* a size that cannot be added is OOM, not a wrap */
	sbuf_add(&b, "x", SIZE_MAX - 1);
	assert_true(b.oom);
	sbuf_puts(&b, "more");
	sbuf_printf(&b, "%s", "more");
	assert_int_equal(b.len, 2);
	assert_string_equal(b.p, "ok");
	sbuf_free(&b);
	assert_false(b.oom);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf_build),
		cmocka_unit_test(test_sbuf_oom_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
