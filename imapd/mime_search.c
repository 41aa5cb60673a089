/*
 * mime_search.c - substring search for SEARCH (RFC 3501 6.4.4): headers
 * with RFC 2047 words decoded, bodies with their transfer encoding undone.
 *
 * Matching folds ASCII letters only; UTF-8 bytes are compared as they
 * are (no Unicode case folding or charset conversion of bodies: SEARCH
 * CHARSET UTF-8 with an ASCII needle is what clients send in practice).
 * A 7bit/8bit/binary body is searched in place with memchr on the rarest
 * byte of the needle; base64 and quoted-printable are decoded a chunk at
 * a time into a bounded buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "mime_int.h"
#include "proto.h"

/* Decoded bytes searched at a time: memory per search is this plus the
 * needle, whatever the size of the part. */
#define MIME_SEARCH_CHUNK	(64 * 1024)

static unsigned char
mime_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A') : c;
}

static int
mime_ci_eqn(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i] && mime_lower(a[i]) != mime_lower(b[i]))
			return 0;
	return 1;
}

/* How common a byte is in mail text; the scan anchors on the rarest one
 * of the needle.  Letters by English frequency; blanks and line ends are
 * the most common; digits, punctuation and 8-bit bytes are rare. */
static int
mime_byte_rank(unsigned char c)
{
	static const char freq[] = "zqxjkvbpygfwmucldrhsnioate";
	const char *f;

	c = mime_lower(c);
	if (c == ' ' || c == '\r' || c == '\n' || c == '\t')
		return 100;
	if (c >= 'a' && c <= 'z' && (f = strchr(freq, c)) != NULL)
		return 10 + (int)(f - freq);
	return 0;
}

int
mime_ci_contains(const char *hay, size_t hlen, const char *needle,
    size_t nlen)
{
	const unsigned char *h = (const unsigned char *)hay;
	const unsigned char *nd = (const unsigned char *)needle;
	const unsigned char *first, *last, *q, *ql, *qu;
	size_t j = 0, i;
	unsigned char lc, uc;
	int best = 1000, r;

	if (nlen == 0)
		return 1;
	if (nlen > hlen)
		return 0;
	for (i = 0; i < nlen; i++) {
		if ((r = mime_byte_rank(nd[i])) < best) {
			best = r;
			j = i;
		}
	}
	lc = mime_lower(nd[j]);
	uc = lc >= 'a' && lc <= 'z' ? (unsigned char)(lc - 'a' + 'A') : lc;
	first = h + j;
	last = h + (hlen - nlen) + j;		/* last anchor position */
	ql = memchr(first, lc, (size_t)(last - first) + 1);
	qu = uc == lc ? NULL : memchr(first, uc, (size_t)(last - first) + 1);
	while (ql != NULL || qu != NULL) {
		q = qu == NULL || (ql != NULL && ql < qu) ? ql : qu;
		if (mime_ci_eqn(q - j, nd, nlen))
			return 1;
		if (q == ql)
			ql = q < last ? memchr(q + 1, lc, (size_t)(last - q)) :
			    NULL;
		else
			qu = q < last ? memchr(q + 1, uc, (size_t)(last - q)) :
			    NULL;
	}
	return 0;
}

/* ---- transfer decoding ----------------------------------------------- */

enum mime_enc { MIME_ENC_RAW, MIME_ENC_B64, MIME_ENC_QP };

struct mime_dec {
	enum mime_enc enc;
	const char *p, *end;
	struct b64_dec b64;		/* lenient, standard alphabet */
};

static int
mime_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = mime_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode into OUT up to CAP bytes; returns how many. */
static size_t
mime_dec_run(struct mime_dec *d, unsigned char *out, size_t cap)
{
	size_t n = 0, used;
	long got;
	int hi, lo;

	if (d->enc == MIME_ENC_B64) {
		/* line ends, padding, junk skipped: never an error */
		got = b64_dec_run(&d->b64, d->p, (size_t)(d->end - d->p), &used,
		    out, cap);
		d->p += used;
		return got < 0 ? 0 : (size_t)got;
	}
	while (d->p < d->end && n < cap) {
		unsigned char c = (unsigned char)*d->p;
		if (c != '=') {
			out[n++] = c;
			d->p++;
		} else if (d->end - d->p >= 2 && d->p[1] == '\n') {
			d->p += 2;			/* soft line break */
		} else if (d->end - d->p >= 3 && d->p[1] == '\r' &&
		    d->p[2] == '\n') {
			d->p += 3;
		} else if (d->end - d->p >= 3 &&
		    (hi = mime_hex((unsigned char)d->p[1])) >= 0 &&
		    (lo = mime_hex((unsigned char)d->p[2])) >= 0) {
			out[n++] = (unsigned char)(hi << 4 | lo);
			d->p += 3;
		} else {
			out[n++] = c;			/* a stray '=' */
			d->p++;
		}
	}
	return n;
}

static int
mime_search_encoded(enum mime_enc enc, const char *p, size_t n,
    const char *needle, size_t nlen)
{
	struct mime_dec d;
	unsigned char *buf;
	size_t keep = 0, got, total;
	int found = 0;

	if (enc == MIME_ENC_RAW)
		return mime_ci_contains(p, n, needle, nlen);
	d.enc = enc;
	d.p = p;
	d.end = p + n;
	b64_dec_init(&d.b64, b64_alpha_std, B64_LENIENT);
	if ((buf = malloc(MIME_SEARCH_CHUNK + nlen)) == NULL)
		return 0;
	while (d.p < d.end) {
		got = mime_dec_run(&d, buf + keep, MIME_SEARCH_CHUNK);
		total = keep + got;
		if (mime_ci_contains((char *)buf, total, needle, nlen)) {
			found = 1;
			break;
		}
		keep = nlen - 1 < total ? nlen - 1 : total;
		memmove(buf, buf + total - keep, keep);
		if (got == 0)
			break;
	}
	free(buf);
	return found;
}

static enum mime_enc
mime_part_enc(const struct mime_part *pt)
{
	const char *p = pt->cte.p, *end;
	struct mime_rng tok;

	if (p == NULL)
		return MIME_ENC_RAW;
	end = p + pt->cte.n;
	mime_skip_cfws(&p, end);
	if (!mime_token(&p, end, &tok))
		return MIME_ENC_RAW;
	if (mime_rng_eq(&tok, "base64"))
		return MIME_ENC_B64;
	if (mime_rng_eq(&tok, "quoted-printable"))
		return MIME_ENC_QP;
	return MIME_ENC_RAW;
}

/* ---- RFC 2047 -------------------------------------------------------- */

enum mime_cs { MIME_CS_OTHER, MIME_CS_UTF8, MIME_CS_LATIN1 };

static enum mime_cs
mime_charset(const char *p, size_t n)
{
	static const char *const utf8[] = { "us-ascii", "ascii", "utf-8",
	    "utf8", NULL };
	static const char *const latin1[] = { "iso-8859-1", "iso8859-1",
	    "iso_8859-1", "latin1", "l1", NULL };
	const char *star = memchr(p, '*', n);
	size_t i;

	if (star != NULL)
		n = (size_t)(star - p);		/* RFC 2231: charset*lang */
	for (i = 0; utf8[i] != NULL; i++)
		if (strlen(utf8[i]) == n && mime_ci_eq(p, utf8[i], n))
			return MIME_CS_UTF8;
	for (i = 0; latin1[i] != NULL; i++)
		if (strlen(latin1[i]) == n && mime_ci_eq(p, latin1[i], n))
			return MIME_CS_LATIN1;
	return MIME_CS_OTHER;
}

static void
mime_put_byte(struct sbuf *out, unsigned char c, enum mime_cs cs)
{
	if (cs == MIME_CS_LATIN1 && c >= 0x80) {
		sbuf_addc(out, (char)(0xc0 | c >> 6));
		sbuf_addc(out, (char)(0x80 | (c & 0x3f)));
	} else
		sbuf_addc(out, (char)c);
}

/*
 * One encoded word "=?cs?e?text?=" at P (< END): decoded into OUT when
 * the charset is one we know.  Returns its length, or 0 if it is not an
 * encoded word or not decoded.
 */
static size_t
mime_2047_word(struct sbuf *out, const char *p, const char *end)
{
	const char *cs, *t, *q, *e;
	enum mime_cs kind;
	struct mime_dec d;
	unsigned char buf[256];
	size_t n, i;
	int hi, lo;

	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	cs = p + 2;
	for (q = cs; q < end && *q != '?' && *q > ' '; q++)
		;
	if (q == cs || end - q < 4 || *q != '?' || q[2] != '?')
		return 0;
	kind = mime_charset(cs, (size_t)(q - cs));
	t = q + 3;
	for (e = t; e + 1 < end && !(e[0] == '?' && e[1] == '=') && *e > ' ';
	    e++)
		;
	if (e + 1 >= end || e[0] != '?' || e[1] != '=')
		return 0;
	if (kind == MIME_CS_OTHER)
		return 0;
	if (q[1] == 'B' || q[1] == 'b') {
		d.enc = MIME_ENC_B64;
		d.p = t;
		d.end = e;
		b64_dec_init(&d.b64, b64_alpha_std, B64_LENIENT);
		while ((n = mime_dec_run(&d, buf, sizeof(buf))) > 0)
			for (i = 0; i < n; i++)
				mime_put_byte(out, buf[i], kind);
	} else if (q[1] == 'Q' || q[1] == 'q') {
		for (; t < e; t++) {
			if (*t == '_')
				mime_put_byte(out, ' ', kind);
			else if (*t == '=' && e - t >= 3 &&
			    (hi = mime_hex((unsigned char)t[1])) >= 0 &&
			    (lo = mime_hex((unsigned char)t[2])) >= 0) {
				mime_put_byte(out, (unsigned char)(hi << 4 | lo),
				    kind);
				t += 2;
			} else
				mime_put_byte(out, (unsigned char)*t, kind);
		}
	} else
		return 0;
	return (size_t)(e + 2 - p);
}

/* Header value P/N unfolded with its encoded words decoded, into OUT. */
static void
mime_2047(struct sbuf *out, const char *p, size_t n)
{
	struct sbuf un = { 0 };
	const char *s, *end;
	size_t w;
	int after_word = 0;

	mime_unfold(&un, p, n);
	if (un.oom)
		out->oom = 1;
	p = un.p;
	end = p + un.len;
	while (p < end) {
		if (*p == '=' && (w = mime_2047_word(out, p, end)) > 0) {
			p += w;
			after_word = 1;
			continue;
		}
		if ((*p == ' ' || *p == '\t') && after_word) {
			/* blanks between two encoded words vanish */
			for (s = p; p < end && (*p == ' ' || *p == '\t'); p++)
				;
			if (p < end && *p == '=' &&
			    (w = mime_2047_word(out, p, end)) > 0) {
				p += w;
				continue;
			}
			sbuf_add(out, s, (size_t)(p - s));
		}
		after_word = 0;
		if (p < end)
			sbuf_addc(out, *p++);
	}
	if (out->p == NULL)
		sbuf_add(out, "", 0);
	sbuf_free(&un);
}

/* ---- the SEARCH helpers ---------------------------------------------- */

/* Fields NAME (NULL: all, then matched as "Name: value") of the header of
 * part PT, decoded, contain NEEDLE? */
static int
mime_hdr_contains(const struct mime_msg *m, const struct mime_part *pt,
    const char *name, const char *needle, size_t nlen)
{
	struct mime_field f;
	struct sbuf tmp = { 0 };
	size_t pos = pt->hdr_off, namelen = name != NULL ? strlen(name) : 0;
	int found = 0;

	while (!found &&
	    mime_hdr_next(m->buf, pt->hdr_off + pt->hdr_len, &pos, &f)) {
		if (name != NULL && (f.namelen != namelen ||
		    !mime_ci_eq(f.name, name, namelen)))
			continue;
		if (nlen == 0) {
			found = 1;
			break;
		}
		sbuf_reset(&tmp);
		if (name == NULL) {
			sbuf_add(&tmp, f.name, f.namelen);
			sbuf_add(&tmp, ": ", 2);
		}
		mime_2047(&tmp, f.val, f.vallen);
		found = tmp.p != NULL &&
		    mime_ci_contains(tmp.p, tmp.len, needle, nlen);
	}
	sbuf_free(&tmp);
	return found;
}

int
mime_header_contains(const struct mime_msg *m, const char *name,
    const char *needle)
{
	return mime_hdr_contains(m, &m->parts[0], name, needle,
	    strlen(needle));
}

/* Is the leaf PT text we search (text, message, an unparsed multipart,
 * or no usable type)?  Images and applications are not. */
static int
mime_searchable(const struct mime_part *pt)
{
	return !pt->ct_ok || pt->opaque_rfc822 ||
	    mime_rng_eq(&pt->type, "text") || mime_rng_eq(&pt->type, "message")
	    || mime_rng_eq(&pt->type, "multipart");	/* beyond the limits */
}

int
mime_body_contains(const struct mime_msg *m, const char *needle)
{
	const struct mime_part *pt;
	size_t i, nlen = strlen(needle);

	if (nlen == 0)
		return 1;
	for (i = 0; i < m->nparts; i++) {
		pt = &m->parts[i];
		/* the header of an attached message is body text too */
		if (pt->parent >= 0 &&
		    m->parts[pt->parent].kind == MIME_K_RFC822 &&
		    mime_hdr_contains(m, pt, NULL, needle, nlen))
			return 1;
		if ((pt->kind != MIME_K_LEAF && pt->child >= 0) ||
		    pt->kind == MIME_K_RFC822 || !mime_searchable(pt))
			continue;
		if (mime_search_encoded(mime_part_enc(pt), m->buf + pt->body_off,
		    pt->body_len, needle, nlen))
			return 1;
	}
	return 0;
}

int
mime_text_contains(const struct mime_msg *m, const char *needle)
{
	return mime_header_contains(m, NULL, needle) ||
	    mime_body_contains(m, needle);
}
