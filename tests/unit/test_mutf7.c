/* test_mutf7.c - modified UTF-7 mailbox names (imapd/mutf7.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../imapd/part2impl.h"

/* Decode W and compare with U; encode U and compare with W. */
static void
both_ways(const char *w, const char *u)
{
	char out[512];

	assert_int_equal(mutf7_decode(w, strlen(w), out, sizeof(out)),
	    (long)strlen(u));
	assert_string_equal(out, u);
	assert_int_equal(mutf7_encode(u, strlen(u), out, sizeof(out)),
	    (long)strlen(w));
	assert_string_equal(out, w);
}

static void
test_rfc_examples(void **state)
{
	(void)state;
	/* RFC 3501 5.1.3 */
	both_ways("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e");
	/* RFC 2152's smiley, and '&' itself */
	both_ways("&Jjo-!", "\xe2\x98\xba!");
	both_ways("&-", "&");
	both_ways("Tom &- Jerry", "Tom & Jerry");
	both_ways("Entw&APw-rfe", "Entw\xc3\xbc" "rfe");
	both_ways("", "");
	both_ways("INBOX", "INBOX");
	/* outside the BMP: a surrogate pair (U+1F600) */
	both_ways("&2D3eAA-", "\xf0\x9f\x98\x80");
	/* one run for adjacent non-ASCII characters */
	both_ways("&AOkA6A-", "\xc3\xa9\xc3\xa8");
}

static void
test_invalid_wire(void **state)
{
	static const char *bad[] = {
		"&",			/* unterminated */
		"&Jjo",			/* unterminated run */
		"&AGE-",		/* encodes 'a', which must be direct */
		"&Jjo-&Jjo-",		/* two adjacent runs */
		"&2D0-",		/* lone high surrogate */
		"&3gA-",		/* lone low surrogate */
		"&Jjp-",		/* non-zero padding bits */
		"&JjoA-",		/* a spare base64 character */
		"&AAA-",		/* U+0000 */
		"&J/o-",		/* '/' is not modified base64 */
		"&Jj=-",		/* padding */
		"caf\xc3\xa9",		/* raw 8-bit */
		"a\tb",			/* control character */
		"a\x7f",		/* DEL */
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long r = mutf7_decode(bad[i], strlen(bad[i]), out, sizeof(out));
		if (r != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* NUL inside the given length */
	assert_int_equal(mutf7_decode("a\0b", 3, out, sizeof(out)), -1);
}

static void
test_invalid_utf8(void **state)
{
	static const char *bad[] = {
		"\xc0\xaf",		/* overlong '/' */
		"\xe0\x80\xaf",		/* overlong, 3 bytes */
		"\xed\xa0\x80",		/* a surrogate */
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
		"\xe2\x82",		/* truncated */
		"\x80",			/* lone continuation */
		"\xff",
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mutf7_encode(bad[i], strlen(bad[i]), out,
		    sizeof(out)), -1);
		assert_int_equal(mutf7_utf8_valid(bad[i], strlen(bad[i])), 0);
	}
	assert_int_equal(mutf7_utf8_valid("\xe2\x82\xac", 3), 1);
}

static void
test_capacity(void **state)
{
	char out[8];

	(void)state;
	/* "&Jjo-" needs 6 bytes with the NUL */
	assert_int_equal(mutf7_encode("\xe2\x98\xba", 3, out, 5), -1);
	assert_int_equal(mutf7_encode("\xe2\x98\xba", 3, out, 6), 5);
	assert_int_equal(mutf7_decode("abcdefgh", 8, out, 8), -1);
	assert_int_equal(mutf7_decode("abcdefg", 7, out, 8), 7);
	assert_int_equal(mutf7_decode("&-&-&-&-", 8, out, 4), -1);
	assert_int_equal(mutf7_decode("x", 1, out, 0), -1);
}

/* Random valid UTF-8 strings survive encode then decode. */
static void
test_round_trips(void **state)
{
	static const uint32_t pool[] = { 'a', 'Z', '&', '-', ' ', '/', '~',
	    0xe9, 0x263a, 0x65e5, 0xfffd, 0x1f600, 0x10ffff, 0x7f, 0x80 };
	char u[256], w[1024], back[256];
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t n = 0;
		int k = (int)((seed = seed * 1103515245 + 12345) >> 16) % 12;
		for (int i = 0; i < k; i++) {
			uint32_t cp = pool[((seed = seed * 1103515245 + 12345)
			    >> 16) % (sizeof(pool) / sizeof(pool[0]))];
			if (cp < 0x80) {
				u[n++] = (char)cp;
			} else if (cp < 0x800) {
				u[n++] = (char)(0xc0 | (cp >> 6));
				u[n++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				u[n++] = (char)(0xe0 | (cp >> 12));
				u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				u[n++] = (char)(0xf0 | (cp >> 18));
				u[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				u[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[n++] = (char)(0x80 | (cp & 0x3f));
			}
		}
		u[n] = '\0';
		long wl = mutf7_encode(u, n, w, sizeof(w));
		assert_true(wl >= 0);
		for (long i = 0; i < wl; i++)
			assert_true(w[i] >= 0x20 && w[i] <= 0x7e);
		if (strchr(u, 0x7f) != NULL) {
			/* DEL is encoded, and decodes back */
			assert_null(strchr(w, 0x7f));
		}
		assert_int_equal(mutf7_decode(w, (size_t)wl, back, sizeof(back)),
		    (long)n);
		assert_memory_equal(back, u, n);
	}
}

/*
 * Random wire strings: the decoder never overruns, and whatever it accepts
 * is canonical: encoding the result gives back the very same bytes.
 */
static void
test_random_wire(void **state)
{
	static const char alpha[] = "&-AZaz09+,/=. \x01\x7f\x80";
	char w[40], u[256], back[256];
	unsigned seed = 7;
	int accepted = 0;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		size_t n = ((seed = seed * 1103515245 + 12345) >> 16) % 12;
		for (size_t i = 0; i < n; i++)
			w[i] = alpha[((seed = seed * 1103515245 + 12345) >> 16) %
			    (sizeof(alpha) - 1)];
		long ul = mutf7_decode(w, n, u, sizeof(u));
		if (ul < 0)
			continue;
		accepted++;
		assert_int_equal(mutf7_encode(u, (size_t)ul, back, sizeof(back)),
		    (long)n);
		assert_memory_equal(back, w, n);
	}
	assert_true(accepted > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_invalid_wire),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_random_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
