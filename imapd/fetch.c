/*
 * fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2): the item list is
 * parsed once into struct fetch_item, then each message is rendered in
 * order.  Message text is the served form (sp_served); MIME structure
 * (ENVELOPE, BODY, BODYSTRUCTURE, numbered sections) comes from mime.h
 * through a one-message cache, so "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"
 * parses each message once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "cmds.h"
#include "mime.h"

/* Items in one FETCH: more than every distinct item twice over; a longer
 * list is an attack on our memory, not a client. */
#define FETCH_ITEMS_MAX		64
/* Header field names in one HEADER.FIELDS list. */
#define FETCH_FIELDS_MAX	64

enum fetch_kind {
	FI_FLAGS, FI_UID, FI_INTERNALDATE, FI_SIZE, FI_ENVELOPE, FI_BODY,
	FI_BODYSTRUCTURE, FI_SECTION
};

enum fetch_sec {
	SEC_ALL,		/* BODY[] or BODY[1.2] */
	SEC_HEADER,
	SEC_TEXT,
	SEC_FIELDS,
	SEC_FIELDS_NOT,
	SEC_MIME
};

struct fetch_item {
	enum fetch_kind kind;
	enum fetch_sec sec;
	int peek;
	unsigned path[MIME_DEPTH_MAX];
	size_t depth;
	int partial;
	unsigned long long start, count;
	char label[256];		/* response name: BODY[HEADER]<0> */
	char *fields;			/* NUL-separated upper-case names */
	size_t nfields;
};

struct fetch_req {
	struct fetch_item v[FETCH_ITEMS_MAX];
	size_t n;
	int want_flags, want_uid, sets_seen, needs_mime;
	int needs_body;			/* MIME of the whole message, not the
					 * header alone (ENVELOPE) */
};

static void
fetch_req_free(struct fetch_req *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		free(q->v[i].fields);
}

/* ---- parsing the items ---------------------------------------------------- */

static int
fetch_add(struct fetch_req *q, enum fetch_kind k)
{
	if (q->n == FETCH_ITEMS_MAX)
		return -1;
	memset(&q->v[q->n], 0, sizeof(q->v[0]));
	q->v[q->n].kind = k;
	q->n++;
	if (k == FI_FLAGS)
		q->want_flags = 1;
	if (k == FI_UID)
		q->want_uid = 1;
	if (k == FI_ENVELOPE || k == FI_BODY || k == FI_BODYSTRUCTURE)
		q->needs_mime = 1;
	if (k == FI_BODY || k == FI_BODYSTRUCTURE)
		q->needs_body = 1;
	return 0;
}

/* "(NAME NAME ...)" of HEADER.FIELDS into IT->fields.  P points at '('. */
static int
fetch_fields(struct fetch_item *it, const char *p, const char *end,
    struct sbuf *label)
{
	struct sbuf f = { 0 };

	if (p >= end || *p++ != '(')
		return -1;
	sbuf_addc(label, '(');
	for (;;) {
		const char *w;

		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == ')')
			break;
		if (p < end && *p == '"') {
			for (w = ++p; p < end && *p != '"'; p++)
				;
			if (p == end)
				goto bad;
		} else {
			for (w = p; p < end && *p != ' ' && *p != ')'; p++)
				if ((unsigned char)*p <= 0x20 || *p == ':' ||
				    *p == '(')
					goto bad;
		}
		if (p == w || it->nfields == FETCH_FIELDS_MAX)
			goto bad;
		if (it->nfields > 0)
			sbuf_addc(label, ' ');
		for (; w < p; w++) {
			char u = (char)(*w >= 'a' && *w <= 'z' ? *w - 32 : *w);

			sbuf_addc(&f, u);
			sbuf_addc(label, u);
		}
		sbuf_addc(&f, '\0');
		it->nfields++;
		if (p < end && *p == '"')
			p++;
	}
	if (it->nfields == 0 || p + 1 != end || f.oom)
		goto bad;
	sbuf_addc(label, ')');
	it->fields = f.p;
	return 0;
bad:
	sbuf_free(&f);
	return -1;
}

/* The section text S..END between '[' and ']' into IT. */
static int
fetch_section(struct fetch_item *it, const char *s, const char *end,
    struct sbuf *label)
{
	const char *p = s;

	it->sec = SEC_ALL;
	while (p < end && *p >= '0' && *p <= '9') {
		unsigned long long v;
		const char *d = p;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (it->depth == MIME_DEPTH_MAX ||
		    parse_uint(d, (size_t)(p - d), 1000000, &v) == -1 || v == 0)
			return -1;
		it->path[it->depth++] = (unsigned)v;
		sbuf_printf(label, "%llu", v);
		if (p == end)
			return 0;
		if (*p++ != '.')
			return -1;
		sbuf_addc(label, '.');
	}
	if (p == end)
		return it->depth == 0 ? 0 : -1;
	if ((size_t)(end - p) == 6 && strncasecmp(p, "HEADER", 6) == 0) {
		it->sec = SEC_HEADER;
		sbuf_puts(label, "HEADER");
		return 0;
	}
	if ((size_t)(end - p) == 4 && strncasecmp(p, "TEXT", 4) == 0) {
		it->sec = SEC_TEXT;
		sbuf_puts(label, "TEXT");
		return 0;
	}
	if ((size_t)(end - p) == 4 && strncasecmp(p, "MIME", 4) == 0 &&
	    it->depth > 0) {
		it->sec = SEC_MIME;
		sbuf_puts(label, "MIME");
		return 0;
	}
	if (strncasecmp(p, "HEADER.FIELDS.NOT ", 18) == 0 &&
	    (size_t)(end - p) > 18) {
		it->sec = SEC_FIELDS_NOT;
		sbuf_puts(label, "HEADER.FIELDS.NOT ");
		return fetch_fields(it, p + 18, end, label);
	}
	if (strncasecmp(p, "HEADER.FIELDS ", 14) == 0 &&
	    (size_t)(end - p) > 14) {
		it->sec = SEC_FIELDS;
		sbuf_puts(label, "HEADER.FIELDS ");
		return fetch_fields(it, p + 14, end, label);
	}
	return -1;
}

/* BODY[...]<a.b> / BODY.PEEK[...]<a.b>: NAME/LEN from after "BODY". */
static int
fetch_body_item(struct fetch_req *q, const char *a, size_t len, int peek)
{
	struct fetch_item *it;
	struct sbuf label = { 0 };
	const char *end = a + len, *open = a, *close;
	int r = -1;

	if (fetch_add(q, FI_SECTION) == -1)
		return -1;
	it = &q->v[q->n - 1];
	it->peek = peek;
	if (!peek)
		q->sets_seen = 1;
	if ((close = memchr(open, ']', len)) == NULL)
		return -1;
	sbuf_puts(&label, "BODY[");
	if (fetch_section(it, open + 1, close, &label) == -1)
		goto out;
	sbuf_addc(&label, ']');
	if (it->depth > 0)
		q->needs_mime = q->needs_body = 1;
	if (close + 1 < end) {
		const char *p = close + 1, *dot;

		if (*p != '<' || end[-1] != '>' ||
		    (dot = memchr(p, '.', (size_t)(end - p))) == NULL ||
		    parse_uint(p + 1, (size_t)(dot - p - 1), UINT32_MAX,
		    &it->start) == -1 ||
		    parse_uint(dot + 1, (size_t)(end - dot - 2), UINT32_MAX,
		    &it->count) == -1)
			goto out;
		it->partial = 1;
		sbuf_printf(&label, "<%llu>", it->start);
	}
	if (label.oom || label.len >= sizeof(it->label))
		goto out;
	memcpy(it->label, label.p, label.len + 1);
	r = 0;
out:
	sbuf_free(&label);
	return r;
}

static int
fetch_one_item(struct fetch_req *q, const char *a, size_t len)
{
	static const struct {
		const char *name;
		enum fetch_kind kind;
	} simple[] = {
		{ "FLAGS", FI_FLAGS }, { "UID", FI_UID },
		{ "INTERNALDATE", FI_INTERNALDATE }, { "RFC822.SIZE", FI_SIZE },
		{ "ENVELOPE", FI_ENVELOPE }, { "BODY", FI_BODY },
		{ "BODYSTRUCTURE", FI_BODYSTRUCTURE },
	};
	size_t i;

	for (i = 0; i < nitems(simple); i++)
		if (strcasecmp(a, simple[i].name) == 0)
			return fetch_add(q, simple[i].kind);
	if (strcasecmp(a, "RFC822") == 0 ||
	    strcasecmp(a, "RFC822.HEADER") == 0 ||
	    strcasecmp(a, "RFC822.TEXT") == 0) {
		const char *sec = a[6] == '\0' ? "[]" : a[7] == 'H' ||
		    a[7] == 'h' ? "[HEADER]" : "[TEXT]";
		struct fetch_item *it;

		if (fetch_body_item(q, sec, strlen(sec), a[6] != '\0' &&
		    (a[7] == 'H' || a[7] == 'h')) == -1)
			return -1;
		it = &q->v[q->n - 1];
		snprintf(it->label, sizeof(it->label), "%s", a[6] == '\0' ?
		    "RFC822" : it->sec == SEC_HEADER ? "RFC822.HEADER" :
		    "RFC822.TEXT");
		return 0;
	}
	if (len > 9 && strncasecmp(a, "BODY.PEEK[", 10) == 0)
		return fetch_body_item(q, a + 9, len - 9, 1);
	if (len > 4 && strncasecmp(a, "BODY[", 5) == 0)
		return fetch_body_item(q, a + 4, len - 4, 0);
	return -1;
}

static int
fetch_macro(struct fetch_req *q, const char *a)
{
	static const enum fetch_kind fast[] = { FI_FLAGS, FI_INTERNALDATE,
	    FI_SIZE };
	size_t i;

	if (strcasecmp(a, "ALL") != 0 && strcasecmp(a, "FAST") != 0 &&
	    strcasecmp(a, "FULL") != 0)
		return 0;
	for (i = 0; i < nitems(fast); i++)
		fetch_add(q, fast[i]);
	if (strcasecmp(a, "FAST") != 0)
		fetch_add(q, FI_ENVELOPE);
	if (strcasecmp(a, "FULL") == 0)
		fetch_add(q, FI_BODY);
	return 1;
}

static enum imap_rc
fetch_parse(struct imap_cmd *c, struct fetch_req *q)
{
	const struct imap_arg *arg;
	struct imap_args l;
	const char *a = "";
	size_t len;
	char safe[64];

	if (imap_get_list(&c->args, &l) == -1) {
		if (imap_get_atom(&c->args, &a, &len) == -1)
			return imap_bad_usage(c, "FETCH needs a message set and "
			    "the items to fetch");
		if (!fetch_macro(q, a) && fetch_one_item(q, a, len) == -1)
			goto unknown;
	} else {
		if (imap_args_end(&l))
			return imap_bad_usage(c, "The FETCH item list is empty");
		while ((arg = imap_args_next(&l)) != NULL) {
			a = arg->s;
			if (arg->type != IMAP_ARG_ATOM ||
			    fetch_one_item(q, arg->s, arg->len) == -1)
				goto unknown;
		}
	}
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "Put several FETCH items in "
		    "parentheses");
	return IMAP_RC_OK;
unknown:
	if (q->n == FETCH_ITEMS_MAX)
		return imap_reply(c, IMAP_RC_BAD, NULL, "Too many FETCH items "
		    "(at most %d)", FETCH_ITEMS_MAX);
	return imap_reply(c, IMAP_RC_BAD, NULL, "Invalid FETCH item '%s': "
	    "items are FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE, "
	    "BODYSTRUCTURE, BODY[], BODY[HEADER], BODY[TEXT], "
	    "BODY[HEADER.FIELDS (SUBJECT)], BODY.PEEK[...], RFC822, ALL, "
	    "FAST, FULL", log_safe(safe, sizeof(safe), a, strlen(a)));
}

/* ---- the MIME cache --------------------------------------------------------- */

void
imap_mime_drop(struct imap_session *s)
{
	if (s->mime != NULL)
		mime_free(&s->mime);
	free(s->mime_buf);
	s->mime_buf = NULL;
	s->mime_len = 0;
	s->mime_uid = 0;
	s->mime_header_only = 0;
}

/*
 * The cache for message SEQ: the whole message, or (HEADER_ONLY) possibly
 * just its header, which is all ENVELOPE needs and a tenth of the work.
 */
static int
mime_load(struct imap_session *s, uint32_t seq, int header_only)
{
	uint32_t idx = imap_msg_index(s, seq);
	struct sp_err err;

	if (idx == IMAP_GONE)
		return -1;
	if (s->mime != NULL && s->mime_uid == s->msgs[seq - 1].uid &&
	    (header_only || !s->mime_header_only))
		return 0;
	imap_mime_drop(s);
	if (sp_served(s->mbox, idx, header_only ? SP_PART_HEADER :
	    SP_PART_ALL, &s->mime_buf, &s->mime_len, &err) == -1) {
		log_warnx("%s: %s", s->mbox_path, err.msg);
		return -1;
	}
	if (mime_parse(s->mime_buf, s->mime_len, &s->mime) == -1) {
		imap_mime_drop(s);
		return -1;
	}
	s->mime_uid = s->msgs[seq - 1].uid;
	s->mime_header_only = header_only;
	return 0;
}

int
imap_mime_get(struct imap_session *s, uint32_t seq, struct mime_msg **m_r,
    const char **buf_r, size_t *len_r)
{
	if (mime_load(s, seq, 0) == -1)
		return -1;
	*m_r = s->mime;
	*buf_r = s->mime_buf;
	*len_r = s->mime_len;
	return 0;
}

/* ---- rendering ----------------------------------------------------------------- */

/* Is the header field starting at LINE one of IT's names? */
static int
field_listed(const struct fetch_item *it, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len), *f = it->fields;
	size_t n, i;

	if (colon == NULL)
		return 0;
	n = (size_t)(colon - line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	for (i = 0; i < it->nfields; i++, f += strlen(f) + 1)
		if (strlen(f) == n && strncasecmp(f, line, n) == 0)
			return 1;
	return 0;
}

/* The header H/LEN (CRLF lines, ending in the blank line or not) filtered
 * by IT's field list into OUT, followed by the blank line. */
static void
filter_header(const struct fetch_item *it, const char *h, size_t len,
    struct sbuf *out)
{
	const char *p = h, *end = h + len;
	int keep = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl != NULL ? nl + 1 : end;
		size_t l = (size_t)(next - p);

		if (l <= 2 && (*p == '\r' || *p == '\n'))
			break;		/* the blank line */
		if (*p != ' ' && *p != '\t') {
			keep = field_listed(it, p, l);
			if (it->sec == SEC_FIELDS_NOT)
				keep = !keep;
		}
		if (keep)
			sbuf_add(out, p, l);
		p = next;
	}
	sbuf_add(out, "\r\n", 2);
}

/* Month names: never locale-dependent. */
static const char fetch_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static void
fetch_date(struct sbuf *b, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	sbuf_printf(b, "INTERNALDATE \"%2d-%s-%04d %02d:%02d:%02d +0000\"",
	    tm.tm_mday, fetch_months[tm.tm_mon % 12], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * PART of message SEQ from the MIME cache when it holds it: the whole
 * message (FETCH (BODYSTRUCTURE BODY[]) must not hold a large message
 * twice), or the header (ENVELOPE with BODY[HEADER.FIELDS ...]).
 * Returns 0 with *P_R and *LEN_R pointing into the cache, or -1.
 */
static int
fetch_cached_part(const struct imap_session *s, uint32_t seq,
    enum sp_part part, const char **p_r, size_t *len_r)
{
	const struct sp_msg *m = imap_msg(s, seq);
	size_t hdr;

	if (m == NULL || s->mime == NULL ||
	    s->mime_uid != s->msgs[seq - 1].uid || m->hdr_size > m->size)
		return -1;
	if (s->mime_header_only ? part != SP_PART_HEADER ||
	    s->mime_len != m->hdr_size : s->mime_len != m->size)
		return -1;
	hdr = (size_t)m->hdr_size;
	*p_r = s->mime_buf;
	*len_r = s->mime_len;
	if (part == SP_PART_HEADER) {
		*len_r = hdr;
	} else if (part == SP_PART_BODY) {
		*p_r += hdr;
		*len_r -= hdr;
	}
	return 0;
}

/*
 * The data of section IT of message SEQ: *P_R and *LEN_R, in *OWN_R if
 * allocated (the caller frees), or in FILTERED.  Returns 0, 1 if the part
 * does not exist (NIL), -1 on error.
 */
static int
fetch_section_data(struct imap_session *s, uint32_t seq,
    const struct fetch_item *it, const char **p_r, size_t *len_r,
    char **own_r, struct sbuf *filtered)
{
	enum sp_part part = SP_PART_ALL;
	enum mime_what what = MIME_PART;
	struct mime_msg *m;
	struct sp_err err;
	const char *buf;
	size_t len;

	*own_r = NULL;
	if (it->depth == 0) {
		if (it->sec == SEC_HEADER || it->sec == SEC_FIELDS ||
		    it->sec == SEC_FIELDS_NOT)
			part = SP_PART_HEADER;
		else if (it->sec == SEC_TEXT)
			part = SP_PART_BODY;
		if (fetch_cached_part(s, seq, part, p_r, len_r) == 0)
			goto filter;
		if (sp_served(s->mbox, imap_msg_index(s, seq), part, own_r,
		    len_r, &err) == -1) {
			log_warnx("%s: %s", s->mbox_path, err.msg);
			return -1;
		}
		*p_r = *own_r;
	} else {
		if (imap_mime_get(s, seq, &m, &buf, &len) == -1)
			return -1;
		if (it->sec == SEC_HEADER || it->sec == SEC_FIELDS ||
		    it->sec == SEC_FIELDS_NOT)
			what = MIME_HEADER;
		else if (it->sec == SEC_TEXT)
			what = MIME_TEXT;
		else if (it->sec == SEC_MIME)
			what = MIME_MIME;
		if (mime_section(m, it->path, it->depth, what, p_r,
		    len_r) == -1)
			return 1;
	}
filter:
	if (it->sec == SEC_FIELDS || it->sec == SEC_FIELDS_NOT) {
		sbuf_reset(filtered);
		filter_header(it, *p_r, *len_r, filtered);
		free(*own_r);
		*own_r = NULL;
		if (filtered->oom)
			return -1;
		*p_r = filtered->p;
		*len_r = filtered->len;
	}
	return 0;
}

/* Write B's pending text, then the section item's literal. */
static int
fetch_write_section(struct imap_session *s, uint32_t seq,
    const struct fetch_item *it, struct sbuf *b, struct sbuf *tmp)
{
	const char *p;
	size_t len;
	char *own;
	int r;

	r = fetch_section_data(s, seq, it, &p, &len, &own, tmp);
	if (r == -1)
		return -1;
	sbuf_printf(b, "%s ", it->label);
	if (b->oom) {
		free(own);
		return -1;
	}
	io_write(&s->io, b->p, b->len);
	sbuf_reset(b);
	if (r == 1) {
		io_puts(&s->io, "NIL");
		return 0;
	}
	if (it->partial) {
		if (it->start >= len) {
			len = 0;
		} else {
			p += it->start;
			len -= (size_t)it->start;
			if (it->count < len)
				len = (size_t)it->count;
		}
	}
	imap_write_literal(s, p, len);
	free(own);
	return 0;
}

static int
fetch_mime_item(struct imap_session *s, uint32_t seq,
    enum fetch_kind kind, int needs_body, struct sbuf *b)
{
	struct mime_msg *m;

	if (mime_load(s, seq, kind == FI_ENVELOPE && !needs_body) == -1)
		return -1;
	m = s->mime;
	if (kind == FI_ENVELOPE) {
		sbuf_puts(b, "ENVELOPE ");
		mime_envelope(m, b);
	} else {
		sbuf_puts(b, kind == FI_BODY ? "BODY " : "BODYSTRUCTURE ");
		mime_bodystructure(m, kind == FI_BODYSTRUCTURE, b);
	}
	return 0;
}

/* Render message SEQ.  Returns 0, or -1 if it could not be read (nothing
 * of it was written then, unless a literal was under way). */
static int
fetch_message(struct imap_session *s, struct imap_cmd *c, uint32_t seq,
    const struct fetch_req *q, struct sbuf *b, struct sbuf *tmp)
{
	const struct sp_msg *m = imap_msg(s, seq);
	struct imap_msgref *r = &s->msgs[seq - 1];
	int flags_changed = 0, wrote = 0;
	size_t i;

	if (q->sets_seen && !s->readonly && !(r->flags & SP_SEEN))
		flags_changed = imap_set_flags(s, seq, r->flags | SP_SEEN,
		    r->keywords);
	if (q->needs_mime && mime_load(s, seq, !q->needs_body) == -1)
		return -1;
	sbuf_reset(b);
	/* no printf per message: FETCH 1:* is 10000 of these lines */
	sbuf_puts(b, "* ");
	imap_sbuf_uint(b, seq);
	sbuf_puts(b, " FETCH (");
	if (c->uid && !q->want_uid) {
		sbuf_puts(b, "UID ");
		imap_sbuf_uint(b, r->uid);
		sbuf_addc(b, ' ');
	}
	for (i = 0; i < q->n; i++) {
		const struct fetch_item *it = &q->v[i];

		if (i > 0)
			sbuf_addc(b, ' ');
		switch (it->kind) {
		case FI_FLAGS:
			sbuf_puts(b, "FLAGS ");
			imap_sbuf_flags(s, b, r->flags, r->keywords, r->recent);
			break;
		case FI_UID:
			sbuf_puts(b, "UID ");
			imap_sbuf_uint(b, r->uid);
			break;
		case FI_INTERNALDATE:
			fetch_date(b, m->internaldate);
			break;
		case FI_SIZE:
			sbuf_puts(b, "RFC822.SIZE ");
			imap_sbuf_uint(b, (unsigned long long)m->size);
			break;
		case FI_ENVELOPE:
		case FI_BODY:
		case FI_BODYSTRUCTURE:
			if (fetch_mime_item(s, seq, it->kind, q->needs_body,
			    b) == -1)
				goto broken;
			break;
		case FI_SECTION:
			if (fetch_write_section(s, seq, it, b, tmp) == -1)
				goto broken;
			wrote = 1;
			break;
		}
	}
	if (flags_changed && !q->want_flags) {
		sbuf_puts(b, " FLAGS ");
		imap_sbuf_flags(s, b, r->flags, r->keywords, r->recent);
	}
	sbuf_puts(b, ")\r\n");
	if (b->oom)
		return -1;
	io_write(&s->io, b->p, b->len);
	return 0;
broken:
	/* close the response that is under way so that the client stays in
	 * step; the tagged NO says that it is incomplete */
	if (wrote) {
		while (b->len > 0 && b->p[b->len - 1] == ' ')
			b->len--;
		sbuf_puts(b, ")\r\n");
		if (!b->oom)
			io_write(&s->io, b->p, b->len);
	}
	return -1;
}

enum imap_rc
imap_cmd_fetch(struct imap_session *s, struct imap_cmd *c)
{
	struct imap_seqset set;
	struct fetch_req *q;
	struct sbuf b = { 0 }, tmp = { 0 };
	uint32_t seq, cur = 0;
	enum imap_rc rc;
	int gone = 0, failed = 0;

	if (imap_seqset_arg(s, c, &set) == -1)
		return IMAP_RC_BAD;
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	}
	if ((rc = fetch_parse(c, q)) != IMAP_RC_OK)
		goto out;
	if (imap_mbox_refresh(s) == -1) {
		rc = imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot read the "
		    "mailbox");
		goto out;
	}
	while ((seq = imap_seqset_next(s, &set, c->uid, &cur)) != 0) {
		if (imap_msg(s, seq) == NULL) {
			gone = 1;
			continue;
		}
		if (fetch_message(s, c, seq, q, &b, &tmp) == -1) {
			failed = 1;
			break;
		}
		if (s->io.out_error)
			break;
	}
	if (failed)
		rc = imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Cannot read message "
		    "%u", seq);
	else if (gone)
		rc = imap_reply(c, IMAP_RC_NO, "EXPUNGEISSUED", "Some of the "
		    "requested messages no longer exist");
	else
		rc = IMAP_RC_OK;
out:
	fetch_req_free(q);
	free(q);
	sbuf_free(&b);
	sbuf_free(&tmp);
	imap_seqset_free(&set);
	return rc;
}
