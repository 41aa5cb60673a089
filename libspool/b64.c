/*
 * b64.c - strict base64 (RFC 4648 section 4) and SASL PLAIN (RFC 4616).
 *
 * The decoder accepts only the canonical encoding: the alphabet A-Z a-z
 * 0-9 + /, a length that is a multiple of 4, '=' only as the last one or
 * two characters, and zero bits in the padding.  No whitespace: SASL
 * responses are one line.  Anything else is an error, never "skipped".
 *
 * The decoder core (b64_dec_*) is shared with the unpadded modified base64
 * of IMAP mailbox names and the lenient decoding of MIME bodies: see
 * proto.h.
 */
#include <string.h>

#include "proto.h"

const char b64_alpha_std[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char b64_alpha_imap[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

void
b64_dec_init(struct b64_dec *d, const char *alpha, enum b64_mode mode)
{
	int i;

	/* the decoding table is the alphabet inverted */
	memset(d->value, -1, sizeof(d->value));
	for (i = 0; i < 64; i++)
		d->value[(unsigned char)alpha[i]] = (signed char)i;
	d->mode = mode;
	d->bits = 0;
	d->nbits = 0;
}

long
b64_dec_run(struct b64_dec *d, const char *s, size_t len, size_t *used_r,
    unsigned char *out, size_t cap)
{
	size_t i = 0, n = 0;
	int v;

	while (i < len && n < cap) {
		if ((v = d->value[(unsigned char)s[i++]]) < 0) {
			if (d->mode == B64_STRICT)
				return -1;
			continue;
		}
		d->bits = d->bits << 6 | (unsigned long)v;
		d->nbits += 6;
		if (d->nbits >= 8) {
			d->nbits -= 8;
			out[n++] = (unsigned char)(d->bits >> d->nbits);
			d->bits &= (1UL << d->nbits) - 1;
		}
	}
	*used_r = i;
	return (long)n;
}

int
b64_dec_clean_end(const struct b64_dec *d)
{
	/* a sixth bit left over is a digit that carried no byte at all */
	return d->nbits < 6 && d->bits == 0 ? 0 : -1;
}

int
b64_decode(const char *s, size_t len, unsigned char *out, size_t cap,
    size_t *outlen_r)
{
	struct b64_dec d;
	size_t pad = 0, used;
	long n;

	if (len % 4 != 0)
		return -1;
	/* '=' only as the last one or two characters: the strict core
	 * refuses any other '=' as outside the alphabet */
	if (len > 0 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	b64_dec_init(&d, b64_alpha_std, B64_STRICT);
	n = b64_dec_run(&d, s, len - pad, &used, out, cap);
	/* canonical: the bits under the padding are zero */
	if (n < 0 || used != len - pad || b64_dec_clean_end(&d) == -1)
		return -1;
	*outlen_r = (size_t)n;
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
		out[o++] = b64_alpha_std[q >> 18 & 63];
		out[o++] = b64_alpha_std[q >> 12 & 63];
		out[o++] = n > 1 ? b64_alpha_std[q >> 6 & 63] : '=';
		out[o++] = n > 2 ? b64_alpha_std[q & 63] : '=';
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
