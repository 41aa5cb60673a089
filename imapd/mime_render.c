/*
 * mime_render.c - ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2) from
 * the tree mime.c built, and the IMAP string writer.
 *
 * Where RFC 3501 leaves a choice we answer as Dovecot 2.3 does, so that
 * clients see what they already see from the most common server: RFC 2231
 * parameters are merged but left encoded ("name*" "utf-8''caf%C3%A9"),
 * text parts get a default ("charset" "us-ascii"), an address without a
 * domain gets "MISSING_DOMAIN", strings are unfolded but RFC 2047 words
 * are left encoded.
 */
#include <stdlib.h>
#include <string.h>

#include "mime_int.h"

/*
 * One octet appended to OUT.  ENVELOPE and BODYSTRUCTURE are built mostly
 * of single parentheses and blanks: when there is room this stores it
 * without sbuf_addc's calls (same result, the NUL after the data kept).
 */
static inline void
mime_addc(struct sbuf *out, char c)
{
	if (out->p != NULL && !out->oom && out->len + 2 <= out->cap) {
		out->p[out->len++] = c;
		out->p[out->len] = '\0';
	} else
		sbuf_addc(out, c);
}

/* ---- IMAP strings ---------------------------------------------------- */

/*
 * An IMAP string.  With LIT_SPECIALS a '"' or '\\' also makes a literal:
 * ENVELOPE strings are sent that way, as Dovecot does; elsewhere they are
 * escaped in a quoted string.
 */
enum { MIME_SC_LIT = 1, MIME_SC_ESC = 2, MIME_SC_NUL = 4 };

/* What a byte asks of an IMAP string, as a table (one lookup per byte):
 * a literal (8-bit, CR, LF, NUL), or an escape in a quoted string. */
#define MIME_SC_HIGH16(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, \
	[c + 4] = 1, [c + 5] = 1, [c + 6] = 1, [c + 7] = 1, [c + 8] = 1, \
	[c + 9] = 1, [c + 10] = 1, [c + 11] = 1, [c + 12] = 1, \
	[c + 13] = 1, [c + 14] = 1, [c + 15] = 1
static const unsigned char mime_strclass[256] = {
	['\0'] = MIME_SC_LIT | MIME_SC_NUL, ['\r'] = MIME_SC_LIT,
	['\n'] = MIME_SC_LIT, ['"'] = MIME_SC_ESC, ['\\'] = MIME_SC_ESC,
	MIME_SC_HIGH16(0x80), MIME_SC_HIGH16(0x90), MIME_SC_HIGH16(0xa0),
	MIME_SC_HIGH16(0xb0), MIME_SC_HIGH16(0xc0), MIME_SC_HIGH16(0xd0),
	MIME_SC_HIGH16(0xe0), MIME_SC_HIGH16(0xf0)
};
#undef MIME_SC_HIGH16

static void
mime_imap_string(struct sbuf *out, const char *p, size_t len,
    int lit_specials)
{
	size_t i, nul = 0, s;
	unsigned cls = 0;
	int lit, esc;

	if (p == NULL) {
		sbuf_puts(out, "NIL");
		return;
	}
	for (i = 0; i < len; i++)
		cls |= mime_strclass[(unsigned char)p[i]];
	if (cls & MIME_SC_NUL)
		for (i = 0; i < len; i++)
			nul += p[i] == '\0';
	lit = (cls & MIME_SC_LIT) != 0;
	esc = (cls & MIME_SC_ESC) != 0;
	if (esc && lit_specials)
		lit = 1;
	if (lit) {
		sbuf_printf(out, "{%zu}\r\n", len + 2 * nul);
		for (i = 0; i < len; i = s + 1) {
			for (s = i; s < len && p[s] != '\0'; s++)
				;
			sbuf_add(out, p + i, s - i);
			if (s < len)
				sbuf_add(out, "\xef\xbf\xbd", 3);
		}
		return;
	}
	mime_addc(out, '"');
	if (!esc) {
		sbuf_add(out, p, len);
		mime_addc(out, '"');
		return;
	}
	for (i = 0; i < len; i = s + 1) {
		for (s = i; s < len && p[s] != '"' && p[s] != '\\'; s++)
			;
		sbuf_add(out, p + i, s - i);
		if (s < len) {
			mime_addc(out, '\\');
			mime_addc(out, p[s]);
		}
	}
	mime_addc(out, '"');
}

void
mime_astring(struct sbuf *out, const char *p, size_t len)
{
	mime_imap_string(out, p, len, 0);
}

/* An ENVELOPE string. */
static void
mime_env_string(struct sbuf *out, const char *p, size_t len)
{
	mime_imap_string(out, p, len, 1);
}

static void
mime_rng_astring(struct sbuf *out, const struct mime_rng *r)
{
	mime_astring(out, r->p, r->p != NULL ? r->n : 0);
}

/* A header value unfolded as an IMAP string, NIL if absent. */
static void
mime_value_astring(struct sbuf *out, const struct mime_rng *r,
    struct sbuf *tmp)
{
	if (r->p == NULL) {
		sbuf_puts(out, "NIL");
		return;
	}
	sbuf_reset(tmp);
	mime_unfold(tmp, r->p, r->n);
	mime_astring(out, tmp->p, tmp->len);
}

/* " N": a size or a line count, without sbuf_printf's two vsnprintf. */
static void
mime_put_size(struct sbuf *out, size_t v)
{
	char d[24], *p = d + sizeof(d);

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	*--p = ' ';
	sbuf_add(out, p, (size_t)(d + sizeof(d) - p));
}

static void
mime_sbuf_truncate(struct sbuf *b, size_t len)
{
	if (b->p != NULL && len <= b->len) {
		b->len = len;
		b->p[len] = '\0';
	}
}

/* ---- addresses (RFC 5322 3.4, obsolete forms; RFC 3501 ENVELOPE) ----- */

enum mime_atok { MA_ATOM, MA_QS, MA_DLIT, MA_SPECIAL, MA_END };

struct mime_tok {
	enum mime_atok t;
	char c;				/* MA_SPECIAL */
	struct mime_rng r;		/* text; MA_QS: inside the quotes */
	int ws;				/* blank or comment before it */
};

struct mime_alex {
	const char *p, *end;
	struct mime_rng comment;	/* last comment seen (its inside) */
	/* the token at P, lexed once by a peek and then taken by
	 * mime_alex_next without lexing it again */
	const char *ahead_at;		/* P it was lexed at; NULL: none */
	const char *ahead_end;		/* P after it */
	struct mime_tok ahead;
	struct mime_rng ahead_comment;	/* last comment before it; p NULL:
					 * none */
};

/* RFC 5322 specials, '.' included, as tables (a lookup per byte, not a
 * strchr).  NUL counts as a special, as it did with strchr, so that an
 * atom never runs over a NUL. */
#define MIME_ASPECIALS \
	['\0'] = 1, ['('] = 1, [')'] = 1, ['<'] = 1, ['>'] = 1, ['@'] = 1, \
	[','] = 1, [';'] = 1, [':'] = 1, ['\\'] = 1, ['"'] = 1, ['.'] = 1, \
	['['] = 1, [']'] = 1
static const unsigned char mime_aspecial_tab[256] = { MIME_ASPECIALS };
/* What ends an atom: a special or a blank. */
static const unsigned char mime_atom_end_tab[256] = { MIME_ASPECIALS,
	[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1 };
#undef MIME_ASPECIALS

/* Lex the token at P (before END) into *T; a comment before it goes to
 * *COMMENT.  Returns where the token ends. */
static const char *
mime_alex_scan(const char *p, const char *end, struct mime_tok *t,
    struct mime_rng *comment)
{
	const char *s;
	int depth;

	t->ws = 0;
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			t->ws = 1;
			continue;
		}
		if (*p != '(')
			break;
		t->ws = 1;
		s = ++p;
		for (depth = 1; p < end; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0)
				break;
		}
		comment->p = s;
		comment->n = (size_t)(p - s);
		if (p < end)
			p++;
	}
	if (p >= end) {
		t->t = MA_END;
		return p;
	}
	if (*p == '"') {
		t->t = MA_QS;
		mime_qstring(&p, end, &t->r);
	} else if (*p == '[') {
		t->t = MA_DLIT;
		t->r.p = p;
		while (p < end && *p != ']') {
			if (*p == '\\' && p + 1 < end)
				p++;
			p++;
		}
		if (p < end)
			p++;
		t->r.n = (size_t)(p - t->r.p);
	} else if (mime_aspecial_tab[(unsigned char)*p]) {
		t->t = MA_SPECIAL;
		t->c = *p;
		t->r.p = p++;
		t->r.n = 1;
	} else {
		t->t = MA_ATOM;
		t->r.p = p;
		while (p < end && !mime_atom_end_tab[(unsigned char)*p])
			p++;
		t->r.n = (size_t)(p - t->r.p);
	}
	return p;
}

/* The next token without taking it; a comment before it is noted. */
static void
mime_alex_peek(struct mime_alex *lx, struct mime_tok *t)
{
	if (lx->ahead_at != lx->p) {
		lx->ahead_comment.p = NULL;
		lx->ahead_end = mime_alex_scan(lx->p, lx->end, &lx->ahead,
		    &lx->ahead_comment);
		lx->ahead_at = lx->p;
	}
	*t = lx->ahead;
	if (lx->ahead_comment.p != NULL)
		lx->comment = lx->ahead_comment;
}

/* Take the next token. */
static void
mime_alex_next(struct mime_alex *lx, struct mime_tok *t)
{
	mime_alex_peek(lx, t);
	lx->p = lx->ahead_end;
}

static int
mime_tok_is(const struct mime_tok *t, char c)
{
	return t->t == MA_SPECIAL && t->c == c;
}

/* Words and dots: DISP gets them as a display name (one blank between
 * words), LOCAL as a local part (no blanks).  Returns how many. */
static int
mime_words(struct mime_alex *lx, struct sbuf *disp, struct sbuf *local,
    int dlit)
{
	struct mime_tok t;
	int n = 0, prev_dot = 0;

	for (;;) {
		mime_alex_peek(lx, &t);
		if (t.t != MA_ATOM && t.t != MA_QS && !mime_tok_is(&t, '.') &&
		    !(dlit && t.t == MA_DLIT))
			return n;
		/* a local part or domain goes on over blanks only around
		 * dots (obs-local-part, obs-domain): "a@b c@d" is not "bc" */
		if (disp == NULL && n > 0 && t.ws && !prev_dot &&
		    !mime_tok_is(&t, '.'))
			return n;
		prev_dot = mime_tok_is(&t, '.');
		mime_alex_next(lx, &t);
		if (disp != NULL) {
			if (t.ws && disp->len > 0)
				mime_addc(disp, ' ');
			if (t.t == MA_QS)
				mime_unescape(disp, t.r.p, t.r.n);
			else
				sbuf_add(disp, t.r.p, t.r.n);
		}
		if (local != NULL) {
			if (t.t == MA_QS)
				mime_unescape(local, t.r.p, t.r.n);
			else
				sbuf_add(local, t.r.p, t.r.n);
		}
		n++;
	}
}

struct mime_addr_out {
	struct sbuf *out;
	int count;			/* entries written so far */
};

static void
mime_addr_emit(struct mime_addr_out *ao, const struct sbuf *name,
    const struct sbuf *route, const struct sbuf *mbox,
    const struct sbuf *host)
{
	struct sbuf *out = ao->out;

	if (ao->count++ == 0)
		mime_addc(out, '(');
	mime_addc(out, '(');
	/* as Dovecot: a name with '"' or '\\' is a literal, the other
	 * fields are escaped */
	if (name != NULL && name->len > 0)
		mime_env_string(out, name->p, name->len);
	else
		sbuf_puts(out, "NIL");
	mime_addc(out, ' ');
	if (route != NULL && route->len > 0)
		mime_astring(out, route->p, route->len);
	else
		sbuf_puts(out, "NIL");
	mime_addc(out, ' ');
	if (mbox == NULL)
		sbuf_puts(out, "NIL");
	else if (mbox->len > 0 || host == NULL)	/* a group may be "" */
		mime_astring(out, mbox->p != NULL ? mbox->p : "", mbox->len);
	else
		sbuf_puts(out, "\"MISSING_MAILBOX\"");
	mime_addc(out, ' ');
	if (host == NULL)
		sbuf_puts(out, "NIL");
	else if (host->len > 0)
		mime_astring(out, host->p, host->len);
	else
		sbuf_puts(out, "\"MISSING_DOMAIN\"");
	mime_addc(out, ')');
}

/* Scratch buffers of the address parser, kept for a whole ENVELOPE (not
 * allocated again for each address list); FROM holds the rendered From
 * list, which Sender and Reply-To repeat when they have no address. */
struct mime_abufs {
	struct sbuf name, local, route, mbox, host, from, tmp;
};

static void
mime_abufs_free(struct mime_abufs *ab, struct sbuf *out)
{
	struct sbuf *v[] = { &ab->name, &ab->local, &ab->route, &ab->mbox,
	    &ab->host, &ab->from, &ab->tmp };
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i]->oom)
			out->oom = 1;
		sbuf_free(v[i]);
	}
}

/* "<" [route ":"] local-part ["@" domain] ">" after the '<'. */
static void
mime_angle_addr(struct mime_alex *lx, struct mime_abufs *ab)
{
	struct mime_tok t;

	mime_alex_peek(lx, &t);
	if (mime_tok_is(&t, '@')) {
		/* obs-route: "@a,@b:" becomes the adl "@a,@b" */
		for (;;) {
			mime_alex_peek(lx, &t);
			if (mime_tok_is(&t, '@')) {
				mime_alex_next(lx, &t);
				if (ab->route.len > 0)
					mime_addc(&ab->route, ',');
				mime_addc(&ab->route, '@');
				mime_words(lx, NULL, &ab->route, 1);
			} else if (mime_tok_is(&t, ','))
				mime_alex_next(lx, &t);
			else
				break;
		}
		if (mime_tok_is(&t, ':'))
			mime_alex_next(lx, &t);
	}
	mime_words(lx, NULL, &ab->mbox, 0);
	mime_alex_peek(lx, &t);
	if (mime_tok_is(&t, '@')) {
		mime_alex_next(lx, &t);
		mime_words(lx, NULL, &ab->host, 1);
	}
	/* up to the '>', not past the end of this address */
	for (;;) {
		mime_alex_peek(lx, &t);
		if (t.t == MA_END || mime_tok_is(&t, ',') ||
		    mime_tok_is(&t, ';'))
			break;
		mime_alex_next(lx, &t);
		if (mime_tok_is(&t, '>'))
			break;
	}
}

/*
 * Add the addresses of the header value P/N to AO as RFC 3501 wants
 * them: each address (name adl mailbox host); a group as
 * (NIL NIL "name" NIL) ... (NIL NIL NIL NIL).
 */
static void
mime_addr_list(struct mime_addr_out *ao, const char *p, size_t n,
    struct mime_abufs *ab)
{
	struct mime_alex lx = { .p = p, .end = p + n };
	struct mime_tok t;
	int in_group = 0, words;

	for (;;) {
		lx.comment.p = NULL;
		mime_alex_peek(&lx, &t);
		if (t.t == MA_END)
			break;
		if (mime_tok_is(&t, ',')) {
			mime_alex_next(&lx, &t);
			continue;
		}
		if (mime_tok_is(&t, ';')) {
			mime_alex_next(&lx, &t);
			if (in_group)
				mime_addr_emit(ao, NULL, NULL, NULL, NULL);
			in_group = 0;
			continue;
		}
		sbuf_reset(&ab->name);
		sbuf_reset(&ab->local);
		sbuf_reset(&ab->route);
		sbuf_reset(&ab->mbox);
		sbuf_reset(&ab->host);
		words = mime_words(&lx, &ab->name, &ab->local, 0);
		mime_alex_peek(&lx, &t);
		if (mime_tok_is(&t, ':') && !in_group) {
			mime_alex_next(&lx, &t);
			sbuf_add(&ab->mbox, ab->name.p, ab->name.len);
			mime_addr_emit(ao, NULL, NULL, &ab->mbox, NULL);
			in_group = 1;
			continue;
		}
		if (mime_tok_is(&t, '<')) {
			mime_alex_next(&lx, &t);
			mime_angle_addr(&lx, ab);
			mime_addr_emit(ao, &ab->name, &ab->route, &ab->mbox,
			    &ab->host);
		} else if (mime_tok_is(&t, '@') || words > 0) {
			/* addr-spec; a comment is the name (RFC 822 style) */
			if (mime_tok_is(&t, '@')) {
				mime_alex_next(&lx, &t);
				mime_words(&lx, NULL, &ab->host, 1);
			}
			mime_alex_peek(&lx, &t);	/* a trailing comment */
			sbuf_reset(&ab->name);
			if (lx.comment.p != NULL)
				mime_unescape(&ab->name, lx.comment.p,
				    lx.comment.n);
			mime_addr_emit(ao, &ab->name, NULL, &ab->local,
			    &ab->host);
		}
		/* whatever is left of this address is skipped */
		for (;;) {
			mime_alex_peek(&lx, &t);
			if (t.t == MA_END || mime_tok_is(&t, ',') ||
			    mime_tok_is(&t, ';'))
				break;
			mime_alex_next(&lx, &t);
		}
	}
	if (in_group)
		mime_addr_emit(ao, NULL, NULL, NULL, NULL);
}

/* All the fields NAME of the header of PT as one address list (Dovecot
 * joins repeated To:, Cc: ... fields); 0 if there was no address. */
static int
mime_addr_fields(struct sbuf *out, const struct mime_msg *m,
    const struct mime_part *pt, const char *name, struct mime_abufs *ab)
{
	struct mime_addr_out ao = { out, 0 };
	struct mime_field f;
	size_t pos = pt->hdr_off, nlen = strlen(name);

	while (mime_hdr_next(m->buf, pt->hdr_off + pt->hdr_len, &pos, &f))
		if (f.namelen == nlen && mime_ci_eq(f.name, name, nlen))
			mime_addr_list(&ao, f.val, f.vallen, ab);
	if (ao.count > 0)
		mime_addc(out, ')');
	return ao.count;
}

/* ---- ENVELOPE -------------------------------------------------------- */

static const char *const mime_env_names[ENV_N] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID"
};

/* The ENV_ index of field NAME/LEN, or -1: one compare, not ten. */
static int
mime_env_index(const char *name, size_t len)
{
	int i;

	switch (len) {
	case 2:
		i = name[0] == 'C' || name[0] == 'c' ? ENV_CC : ENV_TO;
		break;
	case 3:
		i = ENV_BCC;
		break;
	case 4:
		i = name[0] == 'D' || name[0] == 'd' ? ENV_DATE : ENV_FROM;
		break;
	case 6:
		i = ENV_SENDER;
		break;
	case 7:
		i = ENV_SUBJECT;
		break;
	case 8:
		i = ENV_REPLY_TO;
		break;
	case 10:
		i = ENV_MESSAGE_ID;
		break;
	case 11:
		i = ENV_IN_REPLY_TO;
		break;
	default:
		return -1;
	}
	return mime_ci_eq(name, mime_env_names[i], len) ? i : -1;
}

void
mime_env_note(struct mime_env *e, const struct mime_field *f)
{
	int i;

	if ((i = mime_env_index(f->name, f->namelen)) < 0)
		return;
	if (e->n[i] < MIME_ENV_REPEAT) {
		e->v[i][e->n[i]].p = f->val;
		e->v[i][e->n[i]].n = f->vallen;
	}
	if (e->n[i] <= MIME_ENV_REPEAT)
		e->n[i]++;
}

static void
mime_env_collect(const struct mime_msg *m, const struct mime_part *pt,
    struct mime_env *e)
{
	struct mime_field f;
	size_t pos = pt->hdr_off;

	memset(e->n, 0, sizeof(e->n));
	while (mime_hdr_next(m->buf, pt->hdr_off + pt->hdr_len, &pos, &f))
		mime_env_note(e, &f);
}

/* The address list of field I into OUT; returns the number of entries
 * (0: nothing was written). */
static int
mime_env_addrs(struct sbuf *out, const struct mime_msg *m,
    const struct mime_part *pt, const struct mime_env *e, int i,
    struct mime_abufs *ab)
{
	struct mime_addr_out ao = { out, 0 };
	unsigned k;

	if (e->n[i] > MIME_ENV_REPEAT)
		return mime_addr_fields(out, m, pt, mime_env_names[i], ab);
	for (k = 0; k < e->n[i]; k++)
		mime_addr_list(&ao, e->v[i][k].p, e->v[i][k].n, ab);
	if (ao.count > 0)
		mime_addc(out, ')');
	return ao.count;
}

static void
mime_envelope_of(const struct mime_msg *m, const struct mime_part *pt,
    struct sbuf *out)
{
	struct mime_env ebuf;
	/* the top-level header's fields were collected by the parser */
	const struct mime_env *ep = &m->env;
	struct mime_abufs ab;
	int i;

	memset(&ab, 0, sizeof(ab));
	if (pt != &m->parts[0]) {
		mime_env_collect(m, pt, &ebuf);
		ep = &ebuf;
	}
	mime_addc(out, '(');
	for (i = 0; i < ENV_N; i++) {
		if (i > 0)
			mime_addc(out, ' ');
		switch (i) {
		case ENV_FROM:
			/* kept: Sender and Reply-To may repeat it */
			if (mime_env_addrs(&ab.from, m, pt, ep, i, &ab) == 0)
				sbuf_puts(&ab.from, "NIL");
			sbuf_add(out, ab.from.p, ab.from.len);
			break;
		case ENV_TO: case ENV_CC: case ENV_BCC:
			if (mime_env_addrs(out, m, pt, ep, i, &ab) == 0)
				sbuf_puts(out, "NIL");
			break;
		case ENV_SENDER: case ENV_REPLY_TO:
			/* RFC 3501: absent or without an address, the From */
			if (mime_env_addrs(out, m, pt, ep, i, &ab) == 0)
				sbuf_add(out, ab.from.p, ab.from.len);
			break;
		default:
			if (ep->n[i] == 0) {
				sbuf_puts(out, "NIL");
				break;
			}
			sbuf_reset(&ab.tmp);
			mime_unfold(&ab.tmp, ep->v[i][0].p, ep->v[i][0].n);
			mime_env_string(out, ab.tmp.p, ab.tmp.len);
			break;
		}
	}
	mime_addc(out, ')');
	mime_abufs_free(&ab, out);
}

void
mime_envelope(const struct mime_msg *m, struct sbuf *out)
{
	mime_envelope_of(m, &m->parts[0], out);
}

/* ---- parameters (RFC 2045, RFC 2231 as Dovecot presents them) -------- */

struct mime_xparam {
	struct mime_param pa;
	struct mime_rng key;		/* name before the '*' */
	unsigned idx;			/* section number */
	int extended;			/* "*" at the end: charset'lang'%xx */
	size_t order;
};

/* Is NAME of the form key*, key*N or key*N*? */
static int
mime_2231_name(struct mime_xparam *x)
{
	const char *p = x->pa.name.p, *end = p + x->pa.name.n, *star;
	unsigned long idx = 0;

	star = memchr(p, '*', x->pa.name.n);
	if (star == NULL || star == p)
		return 0;
	x->key.p = p;
	x->key.n = (size_t)(star - p);
	p = star + 1;
	while (p < end && *p >= '0' && *p <= '9' && idx < 100000)
		idx = idx * 10 + (unsigned long)(*p++ - '0');
	if (p == star + 1)
		x->extended = 1;	/* "key*": the star marks the encoding */
	else if ((x->extended = p < end && *p == '*'))
		p++;
	if (p != end)
		return 0;
	x->idx = (unsigned)idx;
	return 1;
}

static int
mime_ci_cmp(const struct mime_rng *a, const struct mime_rng *b)
{
	size_t i, n = a->n < b->n ? a->n : b->n;
	int x, y;

	for (i = 0; i < n; i++) {
		x = (unsigned char)a->p[i];
		y = (unsigned char)b->p[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return x - y;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

static int
mime_xparam_cmp(const void *va, const void *vb)
{
	const struct mime_xparam *a = va, *b = vb;
	int r = mime_ci_cmp(&a->key, &b->key);

	if (r != 0)
		return r;
	if (a->idx != b->idx)
		return a->idx < b->idx ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void
mime_param_value(struct sbuf *tmp, const struct mime_param *pa)
{
	if (pa->quoted)
		mime_unescape(tmp, pa->val.p, pa->val.n);
	else
		sbuf_add(tmp, pa->val.p, pa->val.n);
}

static void
mime_param_pair(struct sbuf *out, int *n, const char *name, size_t nlen,
    const struct sbuf *val)
{
	mime_addc(out, (*n)++ == 0 ? '(' : ' ');
	mime_astring(out, name, nlen);
	mime_addc(out, ' ');
	mime_astring(out, val->p != NULL ? val->p : "", val->len);
}

/* The RFC 2231 sections of one key, X[0..N): merged when complete. */
static void
mime_2231_write(struct sbuf *out, int *cnt, const struct mime_xparam *x,
    size_t n, struct sbuf *tmp)
{
	char name[64];
	size_t i;
	int ok = 1, ext = 0;

	for (i = 0; i < n; i++) {
		if (x[i].idx != i)
			ok = 0;
		ext |= x[i].extended;
	}
	if (!ok) {
		for (i = 0; i < n; i++) {
			sbuf_reset(tmp);
			mime_param_value(tmp, &x[i].pa);
			mime_param_pair(out, cnt, x[i].pa.name.p,
			    x[i].pa.name.n, tmp);
		}
		return;
	}
	sbuf_reset(tmp);
	if (ext && !x[0].extended)
		sbuf_puts(tmp, "''");
	for (i = 0; i < n; i++) {
		size_t start = tmp->len, j;
		mime_param_value(tmp, &x[i].pa);
		if (ext && !x[i].extended) {
			/* a plain section among encoded ones: escape '%' */
			struct sbuf esc = { 0 };
			for (j = start; j < tmp->len; j++) {
				if (tmp->p[j] == '%')
					sbuf_puts(&esc, "%25");
				else
					mime_addc(&esc, tmp->p[j]);
			}
			mime_sbuf_truncate(tmp, start);
			sbuf_add(tmp, esc.p != NULL ? esc.p : "", esc.len);
			if (esc.oom)
				tmp->oom = 1;
			sbuf_free(&esc);
		}
	}
	if (x[0].key.n + 2 > sizeof(name)) {
		struct sbuf nm = { 0 };
		sbuf_add(&nm, x[0].key.p, x[0].key.n);
		if (ext)
			mime_addc(&nm, '*');
		mime_param_pair(out, cnt, nm.p != NULL ? nm.p : "", nm.len,
		    tmp);
		sbuf_free(&nm);
		return;
	}
	memcpy(name, x[0].key.p, x[0].key.n);
	if (ext)
		name[x[0].key.n] = '*';
	mime_param_pair(out, cnt, name, x[0].key.n + (ext ? 1 : 0), tmp);
}

/* The parameter list after [*P, END) as (name value ...), or NIL; with
 * TEXT, a charset is added when there is none. */
static void
mime_params(struct sbuf *out, const char *p, const char *end, int text,
    struct sbuf *tmp)
{
	struct mime_xparam *x = NULL, *nx;
	struct mime_param pa;
	size_t n = 0, cap = 0, i, j;
	int cnt = 0, seen_charset = 0;

	while (p != NULL && n < MIME_PARAMS_MAX &&
	    mime_param_next(&p, end, &pa)) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nx = realloc(x, cap * sizeof(*x))) == NULL) {
				out->oom = 1;
				free(x);
				return;
			}
			x = nx;
		}
		x[n].pa = pa;
		x[n].order = n;
		n++;
	}
	/* plain parameters first, in order */
	for (i = 0; i < n; i++) {
		if (mime_2231_name(&x[i]))
			continue;
		x[i].key.p = NULL;
		if (x[i].pa.name.n == 7 &&
		    mime_ci_eq(x[i].pa.name.p, "charset", 7))
			seen_charset = 1;
		sbuf_reset(tmp);
		mime_param_value(tmp, &x[i].pa);
		mime_param_pair(out, &cnt, x[i].pa.name.p, x[i].pa.name.n,
		    tmp);
	}
	/* then the RFC 2231 ones, merged per name */
	for (i = j = 0; i < n; i++)
		if (x[i].key.p != NULL)
			x[j++] = x[i];
	if (j > 0)
		qsort(x, j, sizeof(*x), mime_xparam_cmp);
	for (i = 0; i < j; i = n) {
		for (n = i + 1; n < j && mime_ci_cmp(&x[i].key, &x[n].key) == 0;
		    n++)
			;
		mime_2231_write(out, &cnt, x + i, n - i, tmp);
	}
	free(x);
	if (text && !seen_charset) {
		sbuf_puts(out, cnt++ == 0 ? "(" : " ");
		sbuf_puts(out, "\"charset\" \"us-ascii\"");
	}
	sbuf_puts(out, cnt > 0 ? ")" : "NIL");
}

/* ---- BODY / BODYSTRUCTURE -------------------------------------------- */

static void
mime_disposition(struct sbuf *out, const struct mime_part *pt,
    struct sbuf *tmp)
{
	const char *p = pt->cdisp.p, *end;
	struct mime_rng tok;

	if (p == NULL) {
		sbuf_puts(out, "NIL");
		return;
	}
	end = p + pt->cdisp.n;
	mime_skip_cfws(&p, end);
	if (!mime_token(&p, end, &tok)) {
		sbuf_puts(out, "NIL");
		return;
	}
	mime_addc(out, '(');
	mime_rng_astring(out, &tok);
	mime_addc(out, ' ');
	mime_params(out, p, end, 0, tmp);
	mime_addc(out, ')');
}

static void
mime_language(struct sbuf *out, const struct mime_part *pt)
{
	const char *p = pt->clang.p, *end;
	struct mime_rng tok;
	int n = 0;

	if (p != NULL) {
		end = p + pt->clang.n;
		for (;;) {
			mime_skip_cfws(&p, end);
			if (!mime_token(&p, end, &tok))
				break;
			mime_addc(out, n++ == 0 ? '(' : ' ');
			mime_rng_astring(out, &tok);
			mime_skip_cfws(&p, end);
			if (p >= end || *p != ',')
				break;
			p++;
		}
	}
	sbuf_puts(out, n > 0 ? ")" : "NIL");
}

/* md5 / disposition / language / location (single parts: with md5) */
static void
mime_ext(struct sbuf *out, const struct mime_part *pt, int md5,
    struct sbuf *tmp)
{
	if (md5) {
		mime_addc(out, ' ');
		mime_value_astring(out, &pt->cmd5, tmp);
	}
	mime_addc(out, ' ');
	mime_disposition(out, pt, tmp);
	mime_addc(out, ' ');
	mime_language(out, pt);
	mime_addc(out, ' ');
	mime_value_astring(out, &pt->cloc, tmp);
}

static void
mime_encoding(struct sbuf *out, const struct mime_part *pt)
{
	const char *p = pt->cte.p, *end;
	struct mime_rng tok;

	if (p != NULL) {
		end = p + pt->cte.n;
		mime_skip_cfws(&p, end);
		if (mime_token(&p, end, &tok)) {
			mime_skip_cfws(&p, end);
			if (p == end) {		/* one token and nothing else */
				mime_rng_astring(out, &tok);
				return;
			}
		}
	}
	sbuf_puts(out, "\"7bit\"");
}

static void mime_body(const struct mime_msg *, int, int, struct sbuf *,
    struct sbuf *);

static void
mime_body_multi(const struct mime_msg *m, const struct mime_part *pt,
    int ext, struct sbuf *out, struct sbuf *tmp)
{
	const char *p, *end;
	struct mime_rng t, s;
	int c;

	if (pt->child < 0 && pt->opaque_multi) {
		/* cut at MIME_DEPTH_MAX / MIME_PARTS_MAX: one opaque part
		 * holding the rest, with its real size (not "0 0": a client
		 * must see that there are octets it can fetch as n.1) */
		sbuf_printf(out, "(\"application\" \"octet-stream\" NIL NIL NIL "
		    "\"7bit\" %zu", pt->body_len);
		sbuf_puts(out, ext ? " NIL NIL NIL NIL)" : ")");
	} else if (pt->child < 0) {
		/* no parts at all: one empty text part, as Dovecot says */
		sbuf_puts(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\")"
		    " NIL NIL \"7bit\" 0 0");
		sbuf_puts(out, ext ? " NIL NIL NIL NIL)" : ")");
	}
	for (c = pt->child; c >= 0; c = m->parts[c].next)
		mime_body(m, c, ext, out, tmp);
	mime_addc(out, ' ');
	mime_rng_astring(out, &pt->subtype);
	if (!ext)
		return;
	mime_addc(out, ' ');
	p = pt->ctype.p;
	end = p + pt->ctype.n;
	(void)mime_ctype(&p, end, &t, &s);
	mime_params(out, p, end, 0, tmp);
	mime_ext(out, pt, 0, tmp);
}

static void
mime_body_single(const struct mime_msg *m, const struct mime_part *pt,
    int ext, struct sbuf *out, struct sbuf *tmp)
{
	const char *p = NULL, *end = NULL;
	struct mime_rng t, s;
	int text = 0;

	if (pt->ct_ok) {
		p = pt->ctype.p;
		end = p + pt->ctype.n;
		(void)mime_ctype(&p, end, &t, &s);
	}
	if (pt->kind == MIME_K_RFC822) {
		sbuf_puts(out, "\"message\" \"rfc822\"");
	} else if (pt->opaque_rfc822) {
		/* message/rfc822 beyond MIME_DEPTH_MAX/MIME_PARTS_MAX: the
		 * grammar wants an envelope and a body we did not parse */
		sbuf_puts(out, "\"application\" \"octet-stream\"");
	} else if (pt->ct_ok) {
		mime_rng_astring(out, &pt->type);
		mime_addc(out, ' ');
		mime_rng_astring(out, &pt->subtype);
		text = mime_rng_eq(&pt->type, "text");
	} else {
		sbuf_puts(out, "\"text\" \"plain\"");
		text = 1;
	}
	mime_addc(out, ' ');
	mime_params(out, p, end, text, tmp);
	mime_addc(out, ' ');
	mime_value_astring(out, &pt->cid, tmp);
	mime_addc(out, ' ');
	mime_value_astring(out, &pt->cdesc, tmp);
	mime_addc(out, ' ');
	mime_encoding(out, pt);
	mime_put_size(out, pt->body_len);
	if (text)
		mime_put_size(out, mime_count_lf(m->buf + pt->body_off,
		    pt->body_len));
	else if (pt->kind == MIME_K_RFC822) {
		mime_addc(out, ' ');
		mime_envelope_of(m, &m->parts[pt->child], out);
		mime_addc(out, ' ');
		mime_body(m, pt->child, ext, out, tmp);
		mime_put_size(out, mime_count_lf(m->buf + pt->body_off,
		    pt->body_len));
	}
	if (ext)
		mime_ext(out, pt, 1, tmp);
}

static void
mime_body(const struct mime_msg *m, int idx, int ext, struct sbuf *out,
    struct sbuf *tmp)
{
	const struct mime_part *pt = &m->parts[idx];

	mime_addc(out, '(');
	if (pt->kind == MIME_K_MULTI)
		mime_body_multi(m, pt, ext, out, tmp);
	else
		mime_body_single(m, pt, ext, out, tmp);
	mime_addc(out, ')');
}

void
mime_bodystructure(const struct mime_msg *m, int extended, struct sbuf *out)
{
	struct sbuf tmp = { 0 };

	mime_body(m, 0, extended, out, &tmp);
	if (tmp.oom)
		out->oom = 1;
	sbuf_free(&tmp);
}
