/*
 * mime.c - the MIME structure of a message (RFC 2045, 2046): one forward
 * pass over the served (CRLF) buffer builds a tree of parts that point
 * into it; nothing of the message is copied.
 *
 * Boundaries: like Dovecot, a delimiter line of any enclosing multipart
 * ends the current part (innermost boundary tried first), even inside a
 * part's header, so a part that loses its closing delimiter cannot
 * swallow its parent.  Unlike Dovecot, only blanks may follow the
 * boundary (or "--" and anything), as RFC 2046 5.1.1 says: "--b1" is not
 * a line of boundary "b".  The line end before a delimiter line belongs
 * to it, unless it already ends a delimiter line or a header (Dovecot
 * counts so; see mime_end_before).  Parse cost: one memchr per header
 * line; in bodies, one memchr from '-' to '-' (none at all without an
 * open multipart) and one compare per open boundary on lines starting
 * with "--".
 *
 * Sizes are octets of the buffer as given (the served CRLF form); line
 * counts are LFs, counted only when BODYSTRUCTURE shows them.  Results
 * were checked against Dovecot 2.3.19 on the corpus of tests/fixtures/mime
 * (see tests/unit/test_mime.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime_int.h"

/* Parts grow the array by this many at first (most mail has < 16). */
#define MIME_PARTS_INIT	16

/* Where a scan stopped: a boundary line, a blank line or the end. */
struct mime_hit {
	size_t at;		/* start of the boundary line, or len */
	size_t next;		/* after the boundary line */
	int level;		/* index in the boundary stack, -1: end */
	int close;		/* "--boundary--" */
};

struct mime_pctx {
	struct mime_msg *m;
	const char *b;
	size_t len;
	const char *bnd[MIME_DEPTH_MAX + 1];
	size_t bndlen[MIME_DEPTH_MAX + 1];
	int nbnd;
	/* end of the last boundary line (or cut header) passed: its line
	 * end is not the next boundary's to take */
	size_t floor;
	int oom;
};

/* ---- lexer ----------------------------------------------------------- */

int
mime_ci_eq(const char *a, const char *b, size_t n)
{
	size_t i;
	unsigned char x, y;

	for (i = 0; i < n; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

int
mime_rng_eq(const struct mime_rng *r, const char *s)
{
	size_t n = strlen(s);

	return r->p != NULL && r->n == n && mime_ci_eq(r->p, s, n);
}

void
mime_skip_cfws(const char **pp, const char *end)
{
	const char *p = *pp;
	int depth;

	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			continue;
		}
		if (*p != '(')
			break;
		depth = 0;
		while (p < end) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
			p++;
		}
	}
	*pp = p;
}

/* RFC 2045 tspecials, as a table: a lookup per byte, not a strchr. */
static const unsigned char mime_tspecial_tab[256] = {
	['('] = 1, [')'] = 1, ['<'] = 1, ['>'] = 1, ['@'] = 1, [','] = 1,
	[';'] = 1, [':'] = 1, ['\\'] = 1, ['"'] = 1, ['/'] = 1, ['['] = 1,
	[']'] = 1, ['?'] = 1, ['='] = 1
};

/* RFC 2045 token: no space, CTL or tspecial; 8-bit bytes are accepted as
 * real mail has them. */
static int
mime_is_tchar(unsigned char c)
{
	return c > ' ' && c != 0x7f && !mime_tspecial_tab[c];
}

int
mime_token(const char **pp, const char *end, struct mime_rng *tok)
{
	const char *p = *pp;

	while (p < end && mime_is_tchar((unsigned char)*p))
		p++;
	if (p == *pp)
		return 0;
	tok->p = *pp;
	tok->n = (size_t)(p - *pp);
	*pp = p;
	return 1;
}

int
mime_qstring(const char **pp, const char *end, struct mime_rng *in)
{
	const char *p = *pp + 1;

	if (*pp >= end || **pp != '"')
		return 0;
	in->p = p;
	while (p < end && *p != '"') {
		if (*p == '\\' && p + 1 < end)
			p++;
		p++;
	}
	in->n = (size_t)(p - in->p);
	*pp = p < end ? p + 1 : p;	/* an unclosed quote runs to the end */
	return 1;
}

void
mime_unescape(struct sbuf *out, const char *p, size_t n)
{
	const char *end = p + n, *s;

	while (p < end) {
		s = p;
		while (p < end && *p != '\\' && *p != '\r' && *p != '\n')
			p++;
		sbuf_add(out, s, (size_t)(p - s));
		if (p == end)
			break;
		if (*p == '\\' && p + 1 < end) {
			sbuf_addc(out, p[1]);
			p += 2;
		} else
			p++;
	}
}

int
mime_ctype(const char **pp, const char *end, struct mime_rng *type,
    struct mime_rng *subtype)
{
	const char *p = *pp;

	mime_skip_cfws(&p, end);
	if (!mime_token(&p, end, type))
		return -1;
	mime_skip_cfws(&p, end);
	if (p == end || *p != '/')
		return -1;
	p++;
	mime_skip_cfws(&p, end);
	if (!mime_token(&p, end, subtype))
		return -1;
	*pp = p;
	return 0;
}

int
mime_param_next(const char **pp, const char *end, struct mime_param *pa)
{
	const char *p = *pp;

	for (;;) {
		mime_skip_cfws(&p, end);
		if (p >= end)
			break;
		if (*p != ';') {
			/* garbage between parameters: resynchronise at ';' */
			while (p < end && *p != ';') {
				if (*p == '"') {
					struct mime_rng skip;
					mime_qstring(&p, end, &skip);
				} else
					p++;
			}
			continue;
		}
		p++;
		mime_skip_cfws(&p, end);
		if (!mime_token(&p, end, &pa->name))
			continue;
		mime_skip_cfws(&p, end);
		if (p >= end || *p != '=')
			continue;
		p++;
		mime_skip_cfws(&p, end);
		if (p < end && *p == '"') {
			mime_qstring(&p, end, &pa->val);
			pa->quoted = 1;
		} else if (mime_token(&p, end, &pa->val))
			pa->quoted = 0;
		else
			continue;
		*pp = p;
		return 1;
	}
	*pp = p;
	return 0;
}

/* ---- header fields --------------------------------------------------- */

static size_t
mime_line_end(const char *b, size_t pos, size_t end)
{
	const char *nl = memchr(b + pos, '\n', end - pos);

	return nl != NULL ? (size_t)(nl - b) + 1 : end;
}

int
mime_hdr_next(const char *b, size_t end, size_t *pos, struct mime_field *f)
{
	const char *cp;
	size_t p, next, colon, vend;

	while ((p = *pos) < end) {
		next = mime_line_end(b, p, end);
		if (b[p] == '\n' || (b[p] == '\r' && p + 1 < end &&
		    b[p + 1] == '\n'))
			return 0;		/* the blank line */
		/* the field runs over the continuation lines */
		vend = next;
		while (vend < end && (b[vend] == ' ' || b[vend] == '\t'))
			vend = mime_line_end(b, vend, end);
		*pos = vend;
		if (b[p] == ' ' || b[p] == '\t')
			continue;		/* orphan continuation */
		cp = memchr(b + p, ':', next - p);
		if (cp == NULL)
			continue;		/* no colon: not a field */
		colon = (size_t)(cp - b);
		f->name = b + p;
		f->namelen = colon - p;
		while (f->namelen > 0 && (f->name[f->namelen - 1] == ' ' ||
		    f->name[f->namelen - 1] == '\t'))
			f->namelen--;
		if (f->namelen == 0)
			continue;
		if (vend > colon + 1 && b[vend - 1] == '\n')
			vend--;
		if (vend > colon + 1 && b[vend - 1] == '\r')
			vend--;
		f->val = b + colon + 1;
		f->vallen = vend - (colon + 1);
		return 1;
	}
	return 0;
}

int
mime_hdr_find(const char *b, size_t hs, size_t hlen, const char *name,
    struct mime_rng *val)
{
	struct mime_field f;
	size_t pos = hs, nlen = strlen(name);

	while (mime_hdr_next(b, hs + hlen, &pos, &f)) {
		if (f.namelen == nlen && mime_ci_eq(f.name, name, nlen)) {
			val->p = f.val;
			val->n = f.vallen;
			return 1;
		}
	}
	return 0;
}

void
mime_unfold(struct sbuf *out, const char *p, size_t n)
{
	const char *end = p + n, *s;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r' || end[-1] == '\n'))
		end--;
	while (p < end) {
		s = p;
		while (p < end && *p != '\r' && *p != '\n')
			p++;
		sbuf_add(out, s, (size_t)(p - s));
		while (p < end && (*p == '\r' || *p == '\n'))
			p++;
	}
	if (out->p == NULL)
		sbuf_add(out, "", 0);
}

/* ---- the scanner ----------------------------------------------------- */

static int
mime_blank_rest(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return 0;
	return 1;
}

/* Is the line [pos, next) a boundary line of an open multipart? */
static int
mime_is_boundary(const struct mime_pctx *c, size_t pos, size_t next,
    struct mime_hit *h)
{
	const char *l = c->b + pos;
	size_t n = next - pos, bl;
	int i;

	if (n < 2 || l[0] != '-' || l[1] != '-')
		return 0;
	for (i = c->nbnd - 1; i >= 0; i--) {
		bl = c->bndlen[i];
		if (n - 2 < bl || memcmp(l + 2, c->bnd[i], bl) != 0)
			continue;
		h->close = n - 2 - bl >= 2 && l[2 + bl] == '-' &&
		    l[3 + bl] == '-';
		/* RFC 2046 5.1.1: only blanks may follow a delimiter (and
		 * anything a close delimiter); "--b1" is no line of "b" */
		if (!h->close && !mime_blank_rest(l + 2 + bl, l + n))
			continue;
		h->at = pos;
		h->next = next;
		h->level = i;
		return 1;
	}
	return 0;
}

/*
 * Scan lines from POS (a line start) to the next boundary line; with
 * HDR_END, stop also after a blank line (returns 1, *HDR_END after it).
 * Returns 0 with *H set at a boundary line or at the end.
 */
static int
mime_scan(const struct mime_pctx *c, size_t pos, size_t *hdr_end,
    struct mime_hit *h)
{
	const char *b = c->b, *q;
	size_t next, start = pos;

	/*
	 * A body: only lines that start with '-' can end it, so jump from
	 * '-' to '-' (memchr skips base64 at memory speed) and look only at
	 * those at a line start; without open boundaries, go to the end.
	 */
	while (hdr_end == NULL && c->nbnd > 0 && pos < c->len) {
		if ((q = memchr(b + pos, '-', c->len - pos)) == NULL)
			break;
		pos = (size_t)(q - b);
		if (pos == start || b[pos - 1] == '\n') {
			next = mime_line_end(b, pos, c->len);
			if (mime_is_boundary(c, pos, next, h))
				return 0;
		}
		pos++;
	}
	while (hdr_end != NULL && pos < c->len) {
		next = mime_line_end(b, pos, c->len);
		if (c->nbnd > 0 && b[pos] == '-' &&
		    mime_is_boundary(c, pos, next, h))
			return 0;
		if (hdr_end != NULL && (b[pos] == '\n' || (b[pos] == '\r' &&
		    pos + 1 < c->len && b[pos + 1] == '\n'))) {
			*hdr_end = next;
			return 1;
		}
		pos = next;
	}
	h->at = h->next = c->len;
	h->level = -1;
	h->close = 0;
	return 0;
}

/*
 * Where a part that started at START ends, given the hit that ended it:
 * before the line end that precedes the boundary line, unless that line
 * end already belongs to an earlier boundary line or to a header line
 * (as Dovecot counts: "--inner--CRLF--outer" leaves the CRLF inside).
 */
static size_t
mime_end_floor(const struct mime_pctx *c, const struct mime_hit *h,
    size_t start, size_t floor)
{
	size_t e = h->at;

	if (floor < start)
		floor = start;
	if (h->level < 0)
		return c->len;
	if (e > floor && c->b[e - 1] == '\n')
		e--;
	if (e > floor && c->b[e - 1] == '\r')
		e--;
	return e < start ? start : e;
}

static size_t
mime_end_before(const struct mime_pctx *c, const struct mime_hit *h,
    size_t start)
{
	return mime_end_floor(c, h, start, c->floor);
}

/* LFs in P/N, eight bytes at a time: an exact test for a zero byte in
 * the word XOR '\n' on each byte, then the flags summed by a multiply. */
size_t
mime_count_lf(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, low7 = 0x7f7f7f7f7f7f7f7fu;
	size_t lines = 0, i = 0;
	uint64_t w, z;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= ones * '\n';
		/* 0x80 in each byte that was '\n', 0 elsewhere */
		z = ~(((w & low7) + low7) | w | low7);
		lines += (size_t)(((z >> 7) * ones) >> 56);
	}
	for (; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

/* A new part, child of PARENT (-1 for the root); -1 at the limit or when
 * memory runs out (then c->oom). */
static int
mime_new_part(struct mime_pctx *c, int parent)
{
	struct mime_msg *m = c->m;
	struct mime_part *np, *pp;
	size_t ncap;
	int idx;

	if (m->nparts >= MIME_PARTS_MAX)
		return -1;
	if (m->nparts == m->cap) {
		ncap = m->cap == 0 ? MIME_PARTS_INIT : m->cap * 2;
		if (ncap > MIME_PARTS_MAX)
			ncap = MIME_PARTS_MAX;
		np = realloc(m->parts, ncap * sizeof(*np));
		if (np == NULL) {
			c->oom = 1;
			return -1;
		}
		m->parts = np;
		m->cap = ncap;
	}
	idx = (int)m->nparts++;
	np = &m->parts[idx];
	memset(np, 0, sizeof(*np));
	np->parent = parent;
	np->child = np->next = np->lastchild = -1;
	if (parent >= 0) {
		pp = &m->parts[parent];
		if (pp->child < 0)
			pp->child = idx;
		else
			m->parts[pp->lastchild].next = idx;
		pp->lastchild = idx;
		pp->nchild++;
	}
	return idx;
}

/* Read the Content-* fields of part IDX; returns its boundary parameter
 * (malloc'ed, unescaped) when it is a multipart, else NULL. */
static char *
mime_read_header(struct mime_pctx *c, int idx, int in_digest)
{
	struct mime_part *pt = &c->m->parts[idx];
	struct mime_field f;
	struct mime_rng *slot;
	struct mime_param pa;
	struct sbuf sb = { 0 };
	const char *p = NULL, *end = NULL;
	size_t pos = pt->hdr_off;
	char *bnd = NULL;
	int mimever = 0;

	while (mime_hdr_next(c->b, pt->hdr_off + pt->hdr_len, &pos, &f)) {
		if (idx == 0)
			mime_env_note(&c->m->env, &f);
		if (f.namelen == 12 && mime_ci_eq(f.name, "MIME-Version", 12))
			mimever = 1;
		if (f.namelen < 9 || !mime_ci_eq(f.name, "Content-", 8))
			continue;
		slot = NULL;
		p = f.name + 8;
#define MIME_IS(s) (f.namelen - 8 == sizeof(s) - 1 && \
		mime_ci_eq(p, s, sizeof(s) - 1))
		if (MIME_IS("Type"))
			slot = &pt->ctype;
		else if (MIME_IS("Transfer-Encoding"))
			slot = &pt->cte;
		else if (MIME_IS("ID"))
			slot = &pt->cid;
		else if (MIME_IS("Description"))
			slot = &pt->cdesc;
		else if (MIME_IS("Disposition"))
			slot = &pt->cdisp;
		else if (MIME_IS("Language"))
			slot = &pt->clang;
		else if (MIME_IS("Location"))
			slot = &pt->cloc;
		else if (MIME_IS("MD5"))
			slot = &pt->cmd5;
#undef MIME_IS
		if (slot != NULL && slot->p == NULL) {	/* first one counts */
			slot->p = f.val;
			slot->n = f.vallen;
		}
	}
	if (!mimever && pt->ctype.p == NULL && (pt->parent < 0 ||
	    c->m->parts[pt->parent].kind == MIME_K_RFC822)) {
		/* a message without MIME-Version or Content-Type is not MIME
		 * (RFC 2045 4): its other Content-* fields mean nothing */
		memset(&pt->cte, 0, sizeof(pt->cte));
		pt->cid = pt->cdesc = pt->cdisp = pt->clang = pt->cloc =
		    pt->cmd5 = pt->cte;
	}
	pt->kind = MIME_K_LEAF;
	if (pt->ctype.p != NULL) {
		p = pt->ctype.p;
		end = p + pt->ctype.n;
		pt->ct_ok = mime_ctype(&p, end, &pt->type, &pt->subtype) == 0;
	}
	if (!pt->ct_ok) {
		/* RFC 2045 5.2: missing or invalid is text/plain, except in
		 * a digest (RFC 2046 5.1.5) */
		pt->type.p = pt->subtype.p = NULL;
		pt->dflt_rfc822 = in_digest;
		if (in_digest)
			pt->kind = MIME_K_RFC822;
		return NULL;
	}
	if (mime_rng_eq(&pt->type, "message") &&
	    mime_rng_eq(&pt->subtype, "rfc822")) {
		pt->kind = MIME_K_RFC822;
		return NULL;
	}
	if (!mime_rng_eq(&pt->type, "multipart"))
		return NULL;
	/* without a boundary it stays a multipart with no parts, as in
	 * Dovecot: shown as one empty text part, its content kept */
	pt->kind = MIME_K_MULTI;
	while (mime_param_next(&p, end, &pa)) {
		if (pa.name.n != 8 || !mime_ci_eq(pa.name.p, "boundary", 8))
			continue;
		if (pa.quoted)
			mime_unescape(&sb, pa.val.p, pa.val.n);
		else
			sbuf_add(&sb, pa.val.p, pa.val.n);
		break;
	}
	if (sb.oom)
		c->oom = 1;
	if (sb.len > 0)
		bnd = sb.p;
	else
		sbuf_free(&sb);
	return bnd;
}

static void mime_parse_entity(struct mime_pctx *, int, size_t, int, int,
    struct mime_hit *);

/* The body of multipart IDX from POS, its boundary on top of the stack. */
static void
mime_parse_multipart(struct mime_pctx *c, int idx, size_t pos, int depth,
    int digest, struct mime_hit *h)
{
	int own = c->nbnd - 1, child, last = -1, full = 0;
	struct mime_part *lp;
	struct mime_hit endh;
	size_t end, endfloor = 0;

	mime_scan(c, pos, NULL, h);		/* the preamble */
	endh.level = -2;
	while (h->level == own && !c->oom) {
		if (h->close) {			/* the epilogue */
			endh = *h;
			endfloor = c->floor;
			c->floor = h->next;
			c->nbnd--;
			mime_scan(c, h->next, NULL, h);
			c->nbnd++;
			break;
		}
		if (full) {
			mime_scan(c, h->next, NULL, h);
			continue;
		}
		child = mime_new_part(c, idx);
		if (child < 0) {
			/* MIME_PARTS_MAX: the rest is the last part's */
			full = 1;
			continue;
		}
		last = child;
		c->floor = h->next;
		mime_parse_entity(c, child, h->next, depth + 1, digest, h);
	}
	if (endh.level == -2) {
		endh = *h;		/* ended by a parent's boundary or EOF */
		endfloor = c->floor;
	}
	if (full && last < 0)		/* not even one part indexed */
		c->m->parts[idx].opaque_multi = 1;
	if (full && last >= 0) {
		lp = &c->m->parts[last];
		end = mime_end_floor(c, &endh, lp->body_off, endfloor);
		lp->body_len = end - lp->body_off;
	}
}

/* Part IDX: its header from POS, then its body; *H gets what ended it. */
static void
mime_parse_entity(struct mime_pctx *c, int idx, size_t pos, int depth,
    int in_digest, struct mime_hit *h)
{
	struct mime_part *pt = &c->m->parts[idx];
	size_t hend, start;
	char *bnd;
	int child, digest;

	pt->hdr_off = pos;
	if (!mime_scan(c, pos, &hend, h)) {
		/* a header cut by a boundary (or the end): the boundary takes
		 * the line end before it from the header, but not from the
		 * size of an enclosing message (Dovecot counts so) */
		pt->hdr_len = mime_end_before(c, h, pos) - pos;
		hend = h->at;
		if (h->level >= 0)
			c->floor = h->at;
	} else {
		pt->hdr_len = hend - pos;
		c->floor = hend;	/* the blank line is the header's */
	}
	pt->body_off = start = hend;
	bnd = mime_read_header(c, idx, in_digest);
	if (c->oom)
		goto out;
	pt = &c->m->parts[idx];
	if (pt->kind == MIME_K_MULTI && bnd != NULL && depth < MIME_DEPTH_MAX) {
		digest = mime_rng_eq(&pt->subtype, "digest");
		c->bnd[c->nbnd] = bnd;
		c->bndlen[c->nbnd] = strlen(bnd);
		c->nbnd++;
		mime_parse_multipart(c, idx, start, depth, digest, h);
		c->nbnd--;
	} else if (pt->kind == MIME_K_RFC822 && depth < MIME_DEPTH_MAX &&
	    (child = mime_new_part(c, idx)) >= 0) {
		mime_parse_entity(c, child, start, depth + 1, 0, h);
	} else {
		/* a leaf; or beyond the limits or without a boundary: opaque
		 * (a multipart keeps its type and has no parts) */
		if (pt->kind == MIME_K_RFC822) {
			pt->opaque_rfc822 = 1;
			pt->kind = MIME_K_LEAF;
		} else if (pt->kind == MIME_K_MULTI && bnd != NULL)
			pt->opaque_multi = 1;	/* cut at MIME_DEPTH_MAX */
		mime_scan(c, start, NULL, h);
	}
	pt = &c->m->parts[idx];
	pt->body_len = mime_end_before(c, h, start) - start;
	if (h->level >= 0 && h->at == start && pt->hdr_len > 0 &&
	    start == pt->hdr_off + pt->hdr_len) {
		/* a boundary right after the blank line: as a section, the
		 * header leaves that line end to the boundary (Dovecot) */
		pt->hdr_len--;
		if (pt->hdr_len > 0 && c->b[pt->hdr_off + pt->hdr_len - 1] ==
		    '\r')
			pt->hdr_len--;
	}
out:
	free(bnd);
}

int
mime_parse(const char *msg, size_t len, struct mime_msg **m_r)
{
	struct mime_pctx c;	/* on the stack: no allocation per message */
	struct mime_msg *m;
	struct mime_hit h;
	int root;

	*m_r = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -1;
	memset(&c, 0, sizeof(c));
	m->buf = msg;
	m->len = len;
	c.m = m;
	c.b = msg;
	c.len = len;
	root = mime_new_part(&c, -1);
	if (root >= 0)
		mime_parse_entity(&c, root, 0, 0, 0, &h);
	if (root < 0 || c.oom) {
		mime_free(&m);
		return -1;
	}
	*m_r = m;
	return 0;
}

void
mime_free(struct mime_msg **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->parts);
	free(*mp);
	*mp = NULL;
}

/* ---- sections -------------------------------------------------------- */

/*
 * The part at PATH (RFC 3501 6.4.5 numbering), or -1.  *EMPTY_R is set
 * when PATH names the empty text part shown for a multipart without parts
 * (BODYSTRUCTURE says it is there, so it exists, and is empty).
 */
static int
mime_find(const struct mime_msg *m, const unsigned *path, size_t depth,
    int *empty_r)
{
	const struct mime_part *pt;
	int idx = 0, i;
	unsigned n;
	size_t d;

	*empty_r = 0;
	for (d = 0; d < depth; d++) {
		pt = &m->parts[idx];
		if (pt->kind == MIME_K_MULTI && pt->child < 0) {
			if (path[d] != 1 || d + 1 < depth)
				return -1;
			*empty_r = 1;
		} else if (pt->kind == MIME_K_MULTI) {
			for (i = pt->child, n = path[d]; i >= 0 && n > 1; n--)
				i = m->parts[i].next;
			if (path[d] == 0 || i < 0)
				return -1;
			idx = i;
		} else if (path[d] != 1)
			return -1;
		else if (d + 1 < depth && pt->kind != MIME_K_RFC822)
			return -1;	/* "n.1" is n itself, only at the end */
		/* going on inside a message/rfc822: into the inner message */
		if (d + 1 < depth && m->parts[idx].kind == MIME_K_RFC822)
			idx = m->parts[idx].child;
	}
	return idx;
}

int
mime_section(const struct mime_msg *m, const unsigned *path, size_t depth,
    enum mime_what what, const char **p_r, size_t *len_r)
{
	const struct mime_part *pt;
	int idx, empty;

	if ((idx = mime_find(m, path, depth, &empty)) < 0)
		return -1;
	pt = &m->parts[idx];
	if (empty) {
		if (what != MIME_PART && what != MIME_MIME)
			return -1;
		/* a multipart cut at the limits: "n.1" is its whole body */
		*p_r = m->buf + pt->body_off;
		*len_r = pt->opaque_multi && what == MIME_PART ? pt->body_len : 0;
		return 0;
	}
	switch (what) {
	case MIME_PART:
		if (depth == 0) {
			*p_r = m->buf;
			*len_r = m->len;
		} else {
			*p_r = m->buf + pt->body_off;
			*len_r = pt->body_len;
		}
		return 0;
	case MIME_HEADER:
	case MIME_TEXT:
		if (depth > 0) {
			if (pt->kind != MIME_K_RFC822)
				return -1;
			pt = &m->parts[pt->child];
		}
		if (what == MIME_HEADER) {
			*p_r = m->buf + pt->hdr_off;
			*len_r = pt->hdr_len;
		} else {
			*p_r = m->buf + pt->body_off;
			*len_r = pt->body_len;
		}
		return 0;
	case MIME_MIME:
		if (depth == 0)
			return -1;
		*p_r = m->buf + pt->hdr_off;
		*len_r = pt->hdr_len;
		return 0;
	}
	return -1;
}

int
mime_header(const struct mime_msg *m, const char *name, struct sbuf *out)
{
	struct mime_rng v;
	const char *p, *end;

	if (!mime_hdr_find(m->buf, m->parts[0].hdr_off, m->parts[0].hdr_len,
	    name, &v))
		return -1;
	/* unfolded: line ends removed, the blanks after them kept */
	p = v.p;
	end = v.p + v.n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (; p < end; p++)
		if (*p != '\r' && *p != '\n')
			sbuf_addc(out, *p);
	if (out->p == NULL)
		sbuf_add(out, "", 0);
	return 0;
}
