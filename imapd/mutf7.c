/*
 * mutf7.c - modified UTF-7 mailbox names (RFC 3501 5.1.3) to and from
 * UTF-8.
 *
 * On the wire, printable ASCII stands for itself except '&', written "&-";
 * everything else is UTF-16 in base64 (with ',' for '/', no padding)
 * between '&' and '-'.  The decoder refuses every non-canonical spelling,
 * so one name has one wire form and one UTF-8 form.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "part2impl.h"
#include "proto.h"

/* Append code point CP as UTF-8 to OUT at *N (capacity CAP, one byte kept
 * for the NUL).  -1 if it does not fit. */
static int
mutf7_put_utf8(uint32_t cp, char *out, size_t cap, size_t *n)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (cap == 0 || k > cap - 1 - *n)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	return 0;
}

/*
 * Decode one base64 run S[0..LEN) (between '&' and '-') as UTF-16 into
 * OUT.  Every UTF-16 unit takes 16 bits; what is left over must be fewer
 * than 6 bits and zero.
 */
static int
mutf7_run(const char *s, size_t len, char *out, size_t cap, size_t *n)
{
	struct b64_dec d;
	unsigned char b[2];
	uint32_t u, hi = 0;
	size_t used;
	long got = 0;

	b64_dec_init(&d, b64_alpha_imap, B64_STRICT);
	while (len > 0) {
		if ((got = b64_dec_run(&d, s, len, &used, b, 2)) == -1)
			return -1;
		s += used;
		len -= used;
		if (got < 2)
			break;		/* the input is consumed */
		u = (uint32_t)b[0] << 8 | b[1];
		if (hi != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;	/* high surrogate alone */
			u = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
			continue;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;		/* low surrogate alone */
		} else if (u >= 0x20 && u <= 0x7e) {
			return -1;		/* must be written directly */
		} else if (u == 0) {
			return -1;
		}
		if (mutf7_put_utf8(u, out, cap, n) == -1)
			return -1;
	}
	/* an odd byte is half a unit; the rest: fewer than 6 bits, zero */
	if (got == 1 || hi != 0 || b64_dec_clean_end(&d) == -1)
		return -1;
	return 0;
}

long
mutf7_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0;
	int after_run = 0;

	if (cap == 0)
		return -1;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)c;
			i++;
			after_run = 0;
			continue;
		}
		const char *end = memchr(s + i + 1, '-', len - i - 1);
		if (end == NULL)
			return -1;
		size_t rlen = (size_t)(end - (s + i + 1));
		if (rlen == 0) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = '&';
			after_run = 0;
		} else {
			/* "&AAA-&BBB-" must have been one run. */
			if (after_run)
				return -1;
			if (mutf7_run(s + i + 1, rlen, out, cap, &n) == -1)
				return -1;
			after_run = 1;
		}
		i += rlen + 2;
	}
	out[n] = '\0';
	return (long)n;
}

/* Next code point of valid UTF-8 at S[*I..LEN); -1 if invalid. */
static long
mutf7_next_cp(const char *s, size_t len, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s + *i;
	size_t left = len - *i, k;
	uint32_t cp, min;

	if (p[0] < 0x80) {
		*i += 1;
		return p[0];
	} else if ((p[0] & 0xe0) == 0xc0) {
		k = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		k = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		k = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (left < k)
		return -1;
	for (size_t j = 1; j < k; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += k;
	return (long)cp;
}

int
mutf7_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len)
		if (mutf7_next_cp(s, len, &i) < 0)
			return 0;
	return 1;
}

/* Output state of the encoder: pending base64 bits of the current run. */
struct mutf7_enc {
	char *out;
	size_t cap, n;
	uint32_t bits;
	unsigned nbits;
	int in_run;
};

static int
mutf7_putc(struct mutf7_enc *e, char c)
{
	if (e->n + 1 >= e->cap)
		return -1;
	e->out[e->n++] = c;
	return 0;
}

static int
mutf7_unit(struct mutf7_enc *e, uint32_t u)
{
	e->bits = (e->bits << 16) | u;
	e->nbits += 16;
	while (e->nbits >= 6) {
		e->nbits -= 6;
		if (mutf7_putc(e,
		    b64_alpha_imap[(e->bits >> e->nbits) & 0x3f]) == -1)
			return -1;
	}
	e->bits &= (1u << e->nbits) - 1;
	return 0;
}

static int
mutf7_end_run(struct mutf7_enc *e)
{
	if (!e->in_run)
		return 0;
	if (e->nbits > 0 &&
	    mutf7_putc(e,
	    b64_alpha_imap[(e->bits << (6 - e->nbits)) & 0x3f]) == -1)
		return -1;
	e->bits = 0;
	e->nbits = 0;
	e->in_run = 0;
	return mutf7_putc(e, '-');
}

long
mutf7_encode(const char *s, size_t len, char *out, size_t cap)
{
	struct mutf7_enc e = { out, cap, 0, 0, 0, 0 };
	size_t i = 0;

	if (cap == 0)
		return -1;
	while (i < len) {
		long cp = mutf7_next_cp(s, len, &i);
		if (cp < 0)
			return -1;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (mutf7_end_run(&e) == -1 || mutf7_putc(&e, (char)cp) == -1)
				return -1;
			if (cp == '&' && mutf7_putc(&e, '-') == -1)
				return -1;
			continue;
		}
		if (!e.in_run) {
			if (mutf7_putc(&e, '&') == -1)
				return -1;
			e.in_run = 1;
		}
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			if (mutf7_unit(&e, 0xd800 + (v >> 10)) == -1 ||
			    mutf7_unit(&e, 0xdc00 + (v & 0x3ff)) == -1)
				return -1;
		} else if (mutf7_unit(&e, (uint32_t)cp) == -1) {
			return -1;
		}
	}
	if (mutf7_end_run(&e) == -1)
		return -1;
	out[e.n] = '\0';
	return (long)e.n;
}
