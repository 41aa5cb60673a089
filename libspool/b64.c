/*
 * b64.c - strict base64 (RFC 4648 section 4) and SASL PLAIN (RFC 4616).
 *
 * The decoder accepts only the canonical encoding: the alphabet A-Z a-z
 * 0-9 + /, a length that is a multiple of 4, '=' only as the last one or
 * two characters, and zero bits in the padding.  No whitespace: SASL
 * responses are one line.  Anything else is an error, never "skipped".
 */
#include <string.h>

#include "proto.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of base64 digit C, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
b64_decode(const char *s, size_t len, unsigned char *out, size_t cap,
    size_t *outlen_r)
{
	size_t i, o = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		unsigned long q;

		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];

			if (c == '=' && i + 4 == len && k >= 2) {
				/* "x=" must be followed only by '=' */
				if (k == 2 && s[i + 3] != '=')
					return -1;
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value(c)) < 0)
				return -1;
		}
		q = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
		    (unsigned long)v[2] << 6 | (unsigned long)v[3];
		/* canonical: the bits under the padding are zero */
		if ((pad == 1 && (q & 0xff) != 0) ||
		    (pad == 2 && (q & 0xffff) != 0))
			return -1;
		if ((size_t)(3 - pad) > cap - o)
			return -1;
		out[o++] = (unsigned char)(q >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(q >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)q;
	}
	*outlen_r = o;
	return 0;
}

long
b64_encode(const unsigned char *p, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	if (cap == 0 || len > (cap - 1) / 4 * 3)
		return -1;
	for (i = 0; i < len; i += 3) {
		unsigned long q = (unsigned long)p[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			q |= (unsigned long)p[i + 1] << 8;
		if (n > 2)
			q |= p[i + 2];
		out[o++] = b64_alphabet[q >> 18 & 63];
		out[o++] = b64_alphabet[q >> 12 & 63];
		out[o++] = n > 1 ? b64_alphabet[q >> 6 & 63] : '=';
		out[o++] = n > 2 ? b64_alphabet[q & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

/* Largest decoded PLAIN message we take: authzid, authcid, password and
 * two NULs.  Anything longer cannot be a valid login here. */
#define SASL_PLAIN_MAX	(2 * SP_USER_MAX + AUTH_PASS_MAX + 2)

/* Copy P/N as a C string into DST/CAP; -1 if it does not fit. */
static int
sasl_copy(char *dst, size_t cap, const unsigned char *p, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

int
sasl_plain(const char *b64, size_t len, char *user, size_t ucap,
    char *pass, size_t pcap)
{
	unsigned char buf[SASL_PLAIN_MAX + 4];
	const unsigned char *z1, *z2, *end;
	size_t n = 0;
	int rc = -1;

	if (len > (SASL_PLAIN_MAX + 2) / 3 * 4 ||
	    b64_decode(b64, len, buf, SASL_PLAIN_MAX, &n) == -1)
		goto out;
	end = buf + n;
	if ((z1 = memchr(buf, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1))) == NULL)
		goto out;
	/* passwd = 1*SAFE: no further NUL, not empty; authcid not empty */
	if (memchr(z2 + 1, '\0', (size_t)(end - z2 - 1)) != NULL ||
	    z2 + 1 == end || z2 == z1 + 1)
		goto out;
	/* an authzid must name the authenticating user: no proxy logins */
	if (z1 != buf && ((size_t)(z1 - buf) != (size_t)(z2 - z1 - 1) ||
	    memcmp(buf, z1 + 1, (size_t)(z1 - buf)) != 0))
		goto out;
	if (sasl_copy(user, ucap, z1 + 1, (size_t)(z2 - z1 - 1)) == -1 ||
	    sasl_copy(pass, pcap, z2 + 1, (size_t)(end - z2 - 1)) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1 && pcap > 0)
		explicit_bzero(pass, pcap);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}
