/* test_b64.c - base64 and SASL PLAIN (libspool/b64.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static int
dec(const char *s, char *out, size_t cap, size_t *n)
{
	int rc = b64_decode(s, strlen(s), (unsigned char *)out, cap, n);

	if (rc == 0 && *n < cap)
		out[*n] = '\0';
	return rc;
}

static void
test_b64_vectors(void **state)
{
	/* RFC 4648 section 10 */
	static const char *const v[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char out[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < nitems(v); i++) {
		assert_int_equal(b64_encode((const unsigned char *)v[i][0],
		    strlen(v[i][0]), out, sizeof(out)),
		    (long)strlen(v[i][1]));
		assert_string_equal(out, v[i][1]);
		assert_int_equal(dec(v[i][1], out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(v[i][0]));
		assert_string_equal(out, v[i][0]);
	}
	/* all 256 byte values round trip */
	{
		unsigned char all[256], back[256];
		char enc[400];

		for (i = 0; i < 256; i++)
			all[i] = (unsigned char)i;
		assert_int_equal(b64_encode(all, 256, enc, sizeof(enc)), 344);
		assert_int_equal(b64_decode(enc, 344, back, sizeof(back), &n),
		    0);
		assert_int_equal(n, 256);
		assert_memory_equal(all, back, 256);
	}
}

static void
test_b64_strict(void **state)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9", "Z===", "Zg==Zg==", "Zm=v", "Zh==",
		"Zm9=", "Zm 9v", "Zm9v\n", "Zm9-", "Zm9_", "====", "Zg=a",
		"=Zg=",
	};
	char out[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < nitems(bad); i++)
		if (dec(bad[i], out, sizeof(out), &n) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* no room */
	assert_int_equal(dec("Zm9vYmFy", out, 5, &n), -1);
	assert_int_equal(dec("Zm9vYmFy", out, 6, &n), 0);
	assert_int_equal(b64_encode((const unsigned char *)"foo", 3, out, 4),
	    -1);
	assert_int_equal(b64_encode((const unsigned char *)"foo", 3, out, 5),
	    4);
	assert_int_equal(b64_encode((const unsigned char *)"", 0, out, 0), -1);
}

/* base64 of P/N into OUT */
static const char *
enc(const char *p, size_t n, char *out, size_t cap)
{
	assert_true(b64_encode((const unsigned char *)p, n, out, cap) >= 0);
	return out;
}

static void
test_sasl_plain(void **state)
{
	char b[1024], user[SP_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	const char *e;

	(void)state;
	e = enc("\0tim\0tanstaaftanstaaf", 21, b, sizeof(b));
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), 0);
	assert_string_equal(user, "tim");
	assert_string_equal(pass, "tanstaaftanstaaf");
	/* authzid equal to authcid is fine */
	e = enc("tim\0tim\0pw", 10, b, sizeof(b));
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), 0);
	assert_string_equal(user, "tim");
	assert_string_equal(pass, "pw");
	/* a different authzid (proxy login) is refused, pass wiped */
	e = enc("Ursel\0Kurt\0xipj3plmq", 20, b, sizeof(b));
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), -1);
	assert_int_equal(pass[0], '\0');
	/* malformed */
	e = enc("tim\0pw", 6, b, sizeof(b));		/* one NUL */
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), -1);
	e = enc("\0\0pw", 4, b, sizeof(b));		/* empty authcid */
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), -1);
	e = enc("\0tim\0", 5, b, sizeof(b));		/* empty password */
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), -1);
	e = enc("\0tim\0p\0w", 8, b, sizeof(b));	/* NUL in password */
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    sizeof(pass)), -1);
	assert_int_equal(sasl_plain("AHRpbQBwdw", 10, user, sizeof(user),
	    pass, sizeof(pass)), -1);		/* unpadded */
	assert_int_equal(sasl_plain("*", 1, user, sizeof(user), pass,
	    sizeof(pass)), -1);
	/* does not fit the caller's buffers */
	e = enc("\0tim\0password", 13, b, sizeof(b));
	assert_int_equal(sasl_plain(e, strlen(e), user, 3, pass,
	    sizeof(pass)), -1);
	assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user), pass,
	    8), -1);
	assert_int_equal(sasl_plain(e, strlen(e), user, 4, pass, 9), 0);
	/* an overlong response is refused before decoding */
	{
		char big[2 * AUTH_PASS_MAX + 64];
		static char huge[4096];

		memset(big, 'p', sizeof(big));
		big[0] = '\0';
		big[1] = 'u';
		big[2] = '\0';
		e = enc(big, sizeof(big), huge, sizeof(huge));
		assert_int_equal(sasl_plain(e, strlen(e), user, sizeof(user),
		    pass, sizeof(pass)), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_sasl_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
