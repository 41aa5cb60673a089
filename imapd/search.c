/*
 * search.c - SEARCH and UID SEARCH (RFC 3501 6.4.4): the keys are parsed
 * into a small tree (an array of nodes), then evaluated per message.
 *
 * Cost: every AND evaluates its cheap keys first (sequence sets, flags,
 * sizes, internal dates need only the index), then header keys (the
 * served header is parsed, not the message), then BODY and TEXT.  BODY on
 * a message whose parts are not transfer-encoded scans the stored bytes in
 * place (sp_raw) with a Horspool search; only encoded messages are
 * decoded through the MIME parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "mime.h"
#include "part2.h"
#include "part2impl.h"

enum srch_op {
	S_AND, S_OR, S_NOT, S_ALL, S_SEQ, S_UID,
	S_FLAG, S_UNFLAG,		/* system flag set / not set */
	S_KW, S_UNKW,			/* keyword set / not set */
	S_NEW, S_OLD, S_RECENT,
	S_BEFORE, S_ON, S_SINCE,	/* internal date */
	S_SBEFORE, S_SON, S_SSINCE,	/* Date: header */
	S_LARGER, S_SMALLER,
	S_HEADER, S_BODY, S_TEXT
};

/* How a key's arguments are read. */
enum srch_argkind {
	SA_NONE, SA_STRING, SA_DATE, SA_NUMBER, SA_UIDSET, SA_HEADER,
	SA_KEYWORD, SA_NOT, SA_OR
};

static const struct srch_keydef {
	const char *name;
	enum srch_op op;
	enum srch_argkind arg;
	uint32_t flag;			/* S_FLAG/S_UNFLAG */
	const char *field;		/* header keys */
} srch_keys[] = {
	{ "ALL", S_ALL, SA_NONE, 0, NULL },
	{ "ANSWERED", S_FLAG, SA_NONE, SP_ANSWERED, NULL },
	{ "BCC", S_HEADER, SA_STRING, 0, "Bcc" },
	{ "BEFORE", S_BEFORE, SA_DATE, 0, NULL },
	{ "BODY", S_BODY, SA_STRING, 0, NULL },
	{ "CC", S_HEADER, SA_STRING, 0, "Cc" },
	{ "DELETED", S_FLAG, SA_NONE, SP_DELETED, NULL },
	{ "DRAFT", S_FLAG, SA_NONE, SP_DRAFT, NULL },
	{ "FLAGGED", S_FLAG, SA_NONE, SP_FLAGGED, NULL },
	{ "FROM", S_HEADER, SA_STRING, 0, "From" },
	{ "HEADER", S_HEADER, SA_HEADER, 0, NULL },
	{ "KEYWORD", S_KW, SA_KEYWORD, 0, NULL },
	{ "LARGER", S_LARGER, SA_NUMBER, 0, NULL },
	{ "NEW", S_NEW, SA_NONE, 0, NULL },
	{ "NOT", S_NOT, SA_NOT, 0, NULL },
	{ "OLD", S_OLD, SA_NONE, 0, NULL },
	{ "ON", S_ON, SA_DATE, 0, NULL },
	{ "OR", S_OR, SA_OR, 0, NULL },
	{ "RECENT", S_RECENT, SA_NONE, 0, NULL },
	{ "SEEN", S_FLAG, SA_NONE, SP_SEEN, NULL },
	{ "SENTBEFORE", S_SBEFORE, SA_DATE, 0, NULL },
	{ "SENTON", S_SON, SA_DATE, 0, NULL },
	{ "SENTSINCE", S_SSINCE, SA_DATE, 0, NULL },
	{ "SINCE", S_SINCE, SA_DATE, 0, NULL },
	{ "SMALLER", S_SMALLER, SA_NUMBER, 0, NULL },
	{ "SUBJECT", S_HEADER, SA_STRING, 0, "Subject" },
	{ "TEXT", S_TEXT, SA_STRING, 0, NULL },
	{ "TO", S_HEADER, SA_STRING, 0, "To" },
	{ "UID", S_UID, SA_UIDSET, 0, NULL },
	{ "UNANSWERED", S_UNFLAG, SA_NONE, SP_ANSWERED, NULL },
	{ "UNDELETED", S_UNFLAG, SA_NONE, SP_DELETED, NULL },
	{ "UNDRAFT", S_UNFLAG, SA_NONE, SP_DRAFT, NULL },
	{ "UNFLAGGED", S_UNFLAG, SA_NONE, SP_FLAGGED, NULL },
	{ "UNKEYWORD", S_UNKW, SA_KEYWORD, 0, NULL },
	{ "UNSEEN", S_UNFLAG, SA_NONE, SP_SEEN, NULL },
};

struct srch_node {
	enum srch_op op;
	int cost;			/* 0 index only, 1 header, 2 body */
	int first, next;		/* children; next sibling (-1: none) */
	uint32_t flag;
	int kw;				/* keyword index, -1: unknown */
	long day;
	unsigned long long num;
	struct imap_seqset set;
	char *field;			/* HEADER: the field name */
	char *needle;			/* strings: lower-cased for BODY/TEXT */
	size_t nlen;
	size_t *skip;			/* BODY/TEXT: Horspool table */
	size_t md2;
};

struct srch_prog {
	struct srch_node *v;
	int n, root;
};

/* Parser state. */
struct srch_ps {
	struct srch_prog *p;
	struct sp_mbox *mb;
	uint32_t nmsgs, maxuid;
	const char *err;
	char buf[256];			/* a formatted ERR */
};

/* ---- text search --------------------------------------------------------- */

static inline unsigned char
srch_fold(unsigned char c)
{
	return (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
}

/*
 * Horspool tables for a folded needle ND/M, indexed by the RAW haystack
 * byte so that the scan loop does no folding: SKIP[c] is the shift for
 * byte c, 0 for the bytes that fold to the needle's last byte; *MD2_R is
 * the shift after a mismatch there.
 */
static void
srch_skip_table(size_t *skip, size_t *md2_r, const unsigned char *nd,
    size_t m)
{
	size_t fskip[256];

	for (int c = 0; c < 256; c++)
		fskip[c] = m;
	for (size_t j = 0; j + 1 < m; j++)
		fskip[nd[j]] = m - 1 - j;
	*md2_r = m > 0 ? fskip[nd[m - 1]] : 1;
	if (m > 0)
		fskip[nd[m - 1]] = 0;
	for (int c = 0; c < 256; c++)
		skip[c] = fskip[srch_fold((unsigned char)c)];
}

/* The tuned Horspool loop (Hume and Sunday): skip on the last byte until
 * it matches, then compare the rest folded. */
static const char *
srch_horspool(const char *hay, size_t hl, const unsigned char *nd, size_t m,
    const size_t *skip, size_t md2)
{
	const unsigned char *h = (const unsigned char *)hay;
	size_t i, k;

	if (m == 0)
		return hay;
	if (hl < m)
		return NULL;
	i = m - 1;
	for (;;) {
		while ((k = skip[h[i]]) != 0) {
			i += k;
			if (i >= hl)
				return NULL;
		}
		size_t j = 0, at = i - (m - 1);
		while (j + 1 < m && srch_fold(h[at + j]) == nd[j])
			j++;
		if (j + 1 >= m)
			return hay + at;
		i += md2;
		if (i >= hl)
			return NULL;
	}
}

const char *
srch_memcasemem(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	size_t skip[256], md2;
	unsigned char small[64] = { 0 }, *nd = small;
	const char *r;

	if (nlen == 0)
		return hay;
	unsigned char c0 = (unsigned char)(needle[0] | 0x20);
	if (c0 < 'a' || c0 > 'z') {
		/* a first byte without case: memchr runs at memory speed */
		const char *p = hay, *end = hay + hlen, *q;
		while ((size_t)(end - p) >= nlen &&
		    (q = memchr(p, needle[0], (size_t)(end - p) - nlen + 1))) {
			size_t j = 1;
			while (j < nlen && srch_fold((unsigned char)q[j]) ==
			    srch_fold((unsigned char)needle[j]))
				j++;
			if (j == nlen)
				return q;
			p = q + 1;
		}
		return NULL;
	}
	if (nlen > sizeof(small) && (nd = malloc(nlen)) == NULL)
		return NULL;
	for (size_t i = 0; i < nlen; i++)
		nd[i] = srch_fold((unsigned char)needle[i]);
	srch_skip_table(skip, &md2, nd, nlen);
	r = srch_horspool(hay, hlen, nd, nlen, skip, md2);
	if (nd != small)
		free(nd);
	return r;
}

/* ---- dates --------------------------------------------------------------- */

long
srch_days(int y, int m, int d)
{
	/* Days from civil (H. Hinnant's algorithm), 1970-01-01 = 0. */
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
srch_parse_date(const char *s, size_t len, long *days_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t i = 0;
	int d = 0, y = 0, mon = -1;

	while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
		d = d * 10 + (s[i++] - '0');
	if (i == 0 || i + 9 != len || s[i] != '-' || s[i + 4] != '-')
		return -1;
	for (int k = 0; k < 12 && mon < 0; k++)
		if (strncasecmp(s + i + 1, months + 3 * k, 3) == 0)
			mon = k;
	for (size_t k = i + 5; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		y = y * 10 + (s[k] - '0');
	}
	if (mon < 0 || d < 1 || d > mdays[mon])
		return -1;
	*days_r = srch_days(y, mon + 1, d);
	return 0;
}

/* The day of internal date T: in UTC, the zone FETCH INTERNALDATE shows
 * it in, so that what a client reads is what it searches. */
static long
srch_utc_day(time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	return srch_days(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* ---- parsing ------------------------------------------------------------- */

static int
srch_node_new(struct srch_ps *ps, enum srch_op op)
{
	struct srch_prog *p = ps->p;

	if (p->n >= SRCH_KEYS_MAX) {
		ps->err = "Too many search keys (at most 1000)";
		return -1;
	}
	struct srch_node *n = &p->v[p->n];
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->first = n->next = -1;
	n->kw = -1;
	return p->n++;
}

static int srch_key(struct srch_ps *, struct imap_args *, int);

/* Take a string argument into node N (BODY/TEXT keep a folded copy and a
 * Horspool table). */
static int
srch_arg_string(struct srch_ps *ps, struct imap_args *a, struct srch_node *n,
    const char *key)
{
	const char *s;
	size_t len;

	if (imap_get_astring(a, &s, &len) == -1) {
		ps->err = key;
		return -1;
	}
	if ((n->needle = malloc(len + 1)) == NULL) {
		ps->err = "Out of memory";
		return -1;
	}
	memcpy(n->needle, s, len);
	n->needle[len] = '\0';
	n->nlen = len;
	/* Folded once here: every matcher (ours and mime's) ignores ASCII
	 * case anyway. */
	for (size_t i = 0; i < len; i++)
		n->needle[i] = (char)srch_fold((unsigned char)n->needle[i]);
	if ((n->skip = malloc(256 * sizeof(*n->skip))) == NULL) {
		ps->err = "Out of memory";
		return -1;
	}
	srch_skip_table(n->skip, &n->md2, (const unsigned char *)n->needle,
	    len);
	return 0;
}

static int
srch_arg_set(struct srch_ps *ps, struct imap_args *a, struct srch_node *n,
    int uid)
{
	const char *s, *err;
	size_t len;

	if (imap_get_atom(a, &s, &len) == -1) {
		ps->err = "UID needs a set of UIDs: SEARCH UID 100:200";
		return -1;
	}
	if (imap_seqset_parse(s, len, uid ? ps->maxuid : ps->nmsgs, &n->set,
	    &err) == -1) {
		ps->err = err;
		return -1;
	}
	if (!uid && imap_seqset_max(&n->set) > ps->nmsgs) {
		ps->err = "Invalid message number: the set goes beyond the "
		    "last message (use * for the last one)";
		return -1;
	}
	return 0;
}

/* The arguments of key DEF into node N. */
static int
srch_args(struct srch_ps *ps, struct imap_args *a, const struct srch_keydef *def,
    int ni, int depth)
{
	struct srch_node *n = &ps->p->v[ni];
	const char *s;
	size_t len;
	int c1, c2;

	n->flag = def->flag;
	switch (def->arg) {
	case SA_NONE:
		return 0;
	case SA_STRING:
		n->field = def->field ? strdup(def->field) : NULL;
		if (def->field != NULL && n->field == NULL) {
			ps->err = "Out of memory";
			return -1;
		}
		return srch_arg_string(ps, a, n, "This search key needs a "
		    "string: SEARCH SUBJECT \"lunch\"");
	case SA_HEADER:
		if (imap_get_astring(a, &s, &len) == -1 || len == 0 ||
		    (n->field = strdup(s)) == NULL) {
			ps->err = "HEADER needs a field name and a string: "
			    "SEARCH HEADER Message-ID \"<x@y>\"";
			return -1;
		}
		return srch_arg_string(ps, a, n, "HEADER needs a field name "
		    "and a string: SEARCH HEADER Message-ID \"<x@y>\"");
	case SA_DATE:
		if (imap_get_astring(a, &s, &len) == -1 ||
		    srch_parse_date(s, len, &n->day) == -1) {
			ps->err = "This search key needs a date such as "
			    "1-Feb-2026: SEARCH SINCE 1-Feb-2026";
			return -1;
		}
		return 0;
	case SA_NUMBER:
		if (imap_get_uint(a, (unsigned long long)SP_MESSAGE_MAX * 4,
		    &n->num) == -1) {
			ps->err = "LARGER and SMALLER need a size in octets: "
			    "SEARCH LARGER 10000";
			return -1;
		}
		return 0;
	case SA_UIDSET:
		return srch_arg_set(ps, a, n, 1);
	case SA_KEYWORD: {
		uint32_t bit;
		if (imap_get_atom(a, &s, &len) == -1) {
			ps->err = "KEYWORD needs a keyword: SEARCH KEYWORD $Label1";
			return -1;
		}
		/* a flag-keyword is an atom, and '\\' is no atom-char
		 * (RFC 3501 9): "KEYWORD \Seen" is a syntax error */
		int fr = imap_flag_parse(s, len, &bit);
		if (fr == 1) {
			snprintf(ps->buf, sizeof(ps->buf), "%.20s is a system "
			    "flag, not a keyword: SEARCH %s%.20s", s,
			    n->op == S_UNKW ? "UN" : "", s + 1);
			ps->err = ps->buf;
			return -1;
		}
		if (fr != 0) {
			ps->err = "Not a keyword (an atom without \\): SEARCH "
			    "KEYWORD $Label1";
			return -1;
		}
		n->kw = ps->mb ? sp_keyword_index(ps->mb, s, 0) : -1;
		return 0;
	}
	case SA_NOT:
		if ((c1 = srch_key(ps, a, depth + 1)) == -1)
			return -1;
		ps->p->v[ni].first = c1;
		return 0;
	case SA_OR:
		if ((c1 = srch_key(ps, a, depth + 1)) == -1 ||
		    (c2 = srch_key(ps, a, depth + 1)) == -1)
			return -1;
		ps->p->v[ni].first = c1;
		ps->p->v[c1].next = c2;
		return 0;
	}
	return -1;
}

/* Keys of cursor A up to its end, as an AND node. */
static int
srch_and(struct srch_ps *ps, struct imap_args *a, int depth)
{
	int ni, last = -1, k;

	if ((ni = srch_node_new(ps, S_AND)) == -1)
		return -1;
	if (imap_args_end(a)) {
		ps->err = "A search key is missing: SEARCH ALL, SEARCH UNSEEN, "
		    "SEARCH FROM alice ...";
		return -1;
	}
	while (!imap_args_end(a)) {
		if ((k = srch_key(ps, a, depth)) == -1)
			return -1;
		if (last == -1)
			ps->p->v[ni].first = k;
		else
			ps->p->v[last].next = k;
		last = k;
	}
	return ni;
}

static int
srch_key(struct srch_ps *ps, struct imap_args *a, int depth)
{
	const struct imap_arg *arg = imap_args_peek(a);
	struct imap_args sub;
	size_t i;
	int ni;

	if (depth > SRCH_DEPTH_MAX) {
		ps->err = "Search keys are nested too deeply (OR, NOT and "
		    "parentheses: at most 64 levels)";
		return -1;
	}
	if (arg == NULL) {
		ps->err = "A search key is missing (OR needs two keys, NOT one)";
		return -1;
	}
	if (arg->type == IMAP_ARG_LIST) {
		imap_get_list(a, &sub);
		return srch_and(ps, &sub, depth + 1);
	}
	if (arg->type != IMAP_ARG_ATOM) {
		ps->err = "A search key was expected, not a string: SEARCH "
		    "SUBJECT \"text\"";
		return -1;
	}
	if ((arg->s[0] >= '0' && arg->s[0] <= '9') || arg->s[0] == '*') {
		if ((ni = srch_node_new(ps, S_SEQ)) == -1)
			return -1;
		return srch_arg_set(ps, a, &ps->p->v[ni], 0) == -1 ? -1 : ni;
	}
	for (i = 0; i < nitems(srch_keys); i++)
		if (strcasecmp(arg->s, srch_keys[i].name) == 0)
			break;
	if (i == nitems(srch_keys)) {
		char word[41];
		size_t k;
		for (k = 0; k + 1 < sizeof(word) && arg->s[k] != '\0'; k++)
			word[k] = (unsigned char)arg->s[k] < 0x7f ? arg->s[k] : '?';
		word[k] = '\0';
		snprintf(ps->buf, sizeof(ps->buf), "Unknown search key %s: use "
		    "ALL, SEEN, UNSEEN, FROM, TO, SUBJECT, BODY, TEXT, SINCE, "
		    "BEFORE, LARGER, UID, OR, NOT ... (RFC 3501 6.4.4)", word);
		ps->err = ps->buf;
		return -1;
	}
	imap_args_next(a);
	if ((ni = srch_node_new(ps, srch_keys[i].op)) == -1)
		return -1;
	return srch_args(ps, a, &srch_keys[i], ni, depth) == -1 ? -1 : ni;
}

/* Costs bottom-up, and every AND's children sorted by cost (stable). */
static int
srch_order(struct srch_prog *p, int ni)
{
	struct srch_node *n = &p->v[ni];
	int c, cost = 0;

	switch (n->op) {
	case S_HEADER: case S_SBEFORE: case S_SON: case S_SSINCE:
		return n->cost = 1;
	case S_BODY: case S_TEXT:
		return n->cost = 2;
	case S_AND: case S_OR: case S_NOT:
		break;
	default:
		return n->cost = 0;
	}
	for (c = n->first; c != -1; c = p->v[c].next) {
		int k = srch_order(p, c);
		cost = k > cost ? k : cost;
	}
	if (n->op == S_AND) {
		int head = -1, tail[3] = { -1, -1, -1 }, hd[3] = { -1, -1, -1 };
		for (c = n->first; c != -1; ) {
			int nx = p->v[c].next, k = p->v[c].cost;
			p->v[c].next = -1;
			if (tail[k] == -1)
				hd[k] = c;
			else
				p->v[tail[k]].next = c;
			tail[k] = c;
			c = nx;
		}
		int prev = -1;
		for (int k = 0; k < 3; k++) {
			if (hd[k] == -1)
				continue;
			if (prev == -1)
				head = hd[k];
			else
				p->v[prev].next = hd[k];
			prev = tail[k];
		}
		n->first = head;
	}
	return n->cost = cost;
}

static int
srch_charset(struct srch_ps *ps, struct imap_args *a, int *badcharset_r)
{
	const struct imap_arg *arg = imap_args_peek(a);
	const char *cs;

	if (arg == NULL || !imap_arg_is(arg, "CHARSET"))
		return 0;
	imap_args_next(a);
	if (imap_get_astring(a, &cs, NULL) == -1) {
		ps->err = "CHARSET needs a name: SEARCH CHARSET UTF-8 ...";
		return -1;
	}
	if (strcasecmp(cs, "US-ASCII") != 0 && strcasecmp(cs, "UTF-8") != 0) {
		*badcharset_r = 1;
		ps->err = "Only the charsets US-ASCII and UTF-8 are supported";
		return -1;
	}
	return 0;
}

int
srch_parse(struct imap_args *a, struct sp_mbox *mb, uint32_t nmsgs,
    uint32_t maxuid, struct srch_prog **p_r, char *err, size_t errcap,
    int *badcharset_r)
{
	struct srch_ps ps = { .mb = mb, .nmsgs = nmsgs, .maxuid = maxuid };
	struct srch_prog *p;

	*p_r = NULL;
	*badcharset_r = 0;
	snprintf(err, errcap, "Out of memory");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	if ((p->v = calloc(SRCH_KEYS_MAX, sizeof(*p->v))) == NULL) {
		free(p);
		return -1;
	}
	ps.p = p;
	if (srch_charset(&ps, a, badcharset_r) == -1 ||
	    (p->root = srch_and(&ps, a, 0)) == -1) {
		snprintf(err, errcap, "%s", ps.err ? ps.err : "Invalid SEARCH");
		srch_free(&p);
		return -1;
	}
	srch_order(p, p->root);
	*p_r = p;
	return 0;
}

void
srch_free(struct srch_prog **pp)
{
	struct srch_prog *p = *pp;

	if (p == NULL)
		return;
	for (int i = 0; i < p->n; i++) {
		if (p->v[i].op == S_SEQ || p->v[i].op == S_UID)
			imap_seqset_free(&p->v[i].set);
		free(p->v[i].field);
		free(p->v[i].needle);
		free(p->v[i].skip);
	}
	free(p->v);
	free(p);
	*pp = NULL;
}

int
srch_size(const struct srch_prog *p)
{
	return p->n;
}

int
srch_costs(const struct srch_prog *p, int *v, int max)
{
	int n = 0;

	for (int c = p->v[p->root].first; c != -1 && n < max;
	    c = p->v[c].next)
		v[n++] = p->v[c].cost;
	return n;
}

/* ---- evaluation ---------------------------------------------------------- */

void
srch_msg_release(struct srch_msg *m)
{
	if (m->hmime != NULL)
		mime_free(&m->hmime);
	if (m->fmime != NULL)
		mime_free(&m->fmime);
	free(m->hdr);
	free(m->full);
	m->hdr = m->full = NULL;
	m->hstate = m->fstate = 0;
	m->bodykind = 0;
	if (m->raw == 1)	/* sp_raw's copies live until sp_unmap */
		sp_unmap(m->mb);
	m->raw = 0;
	m->rawp = NULL;
	m->rawlen = 0;
}

/* M's served header (hstate 2: read; 1: also parsed; -1: failed). */
static int
srch_header_text(struct srch_msg *m)
{
	struct sp_err err;

	if (m->hstate == 0)
		m->hstate = sp_served(m->mb, m->idx, SP_PART_HEADER, &m->hdr,
		    &m->hdrlen, &err) == 0 ? 2 : -1;
	return m->hstate > 0 ? 0 : -1;
}

/* The parsed header of M (served header only), or NULL. */
static struct mime_msg *
srch_header(struct srch_msg *m)
{
	if (srch_header_text(m) == 0 && m->hstate == 2)
		m->hstate = mime_parse(m->hdr, m->hdrlen, &m->hmime) == 0 ? 1 : -1;
	return m->hstate == 1 ? m->hmime : NULL;
}

/* The parsed whole message, or NULL. */
static struct mime_msg *
srch_full(struct srch_msg *m)
{
	struct sp_err err;

	if (m->fstate == 0) {
		m->fstate = -1;
		if (sp_served(m->mb, m->idx, SP_PART_ALL, &m->full, &m->fulllen,
		    &err) == 0 && mime_parse(m->full, m->fulllen, &m->fmime) == 0)
			m->fstate = 1;
	}
	return m->fstate == 1 ? m->fmime : NULL;
}

/*
 * Kinds of body for the BODY fast path (cached per message).  The raw scan
 * must give exactly what mime_body_contains would (decoded text of the
 * text parts only), so it decides alone only where the two agree:
 *  - SB_PLAIN: one text part, 7bit/8bit/binary: the raw body IS the text,
 *    a raw hit is a hit and a miss a miss;
 *  - SB_MIXED_PLAIN: a composite whose text is all unencoded: a miss is a
 *    miss (every decoded byte is in the raw body), but a hit may be in a
 *    part header, a boundary or a base64 attachment: the parser decides;
 *  - everything else goes to the parser.
 */
enum {
	SB_UNKNOWN = 0,
	SB_PLAIN,		/* one text part, not encoded */
	SB_ENCODED,		/* one part, encoded or not text: the parser */
	SB_MIXED,		/* multipart or message: not yet looked into */
	SB_MIXED_PLAIN,		/* ... a raw miss is a miss */
	SB_MIXED_ENCODED	/* ... some text is encoded: the parser */
};

/* Part headers are short; a "header" we cannot bound within this many
 * bytes around a Content-Transfer-Encoding line is treated as text. */
#define SRCH_PARTHDR_MAX	4096

/* Does header line L/LEN start with field NAME? */
static int
srch_is_field(const char *l, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && l[n] == ':' && strncasecmp(l, name, n) == 0;
}

static int
srch_is_encoding(const char *v, size_t len)
{
	return srch_memcasemem(v, len, "base64", 6) != NULL ||
	    srch_memcasemem(v, len, "quoted-printable", 16) != NULL;
}

/* Classify M's body from its raw top-level header. */
static int
srch_bodykind(const char *hdr, size_t hlen)
{
	int composite = 0, encoded = 0, text = 1;
	const char *p = hdr, *end = hdr + hlen;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (srch_is_field(p, len, "Content-Type")) {
			const char *v = p + 13;
			while (v < p + len && (*v == ' ' || *v == '\t'))
				v++;
			size_t vl = (size_t)(p + len - v);
			composite = (vl >= 10 && strncasecmp(v, "multipart/", 10)
			    == 0) || (vl >= 8 && strncasecmp(v, "message/", 8) == 0);
			/* no usable type is text/plain (RFC 2045 5.2): only a
			 * clear non-text type is not searched; a value folded
			 * onto the next line we do not guess at (the parser) */
			text = vl > 0 && (strncasecmp(v, "text/", 5) == 0 ||
			    memchr(v, '/', vl) == NULL);
		} else if (srch_is_field(p, len, "Content-Transfer-Encoding")) {
			size_t k = 26;
			while (k < len && (p[k] == ' ' || p[k] == '\t'))
				k++;
			/* folded onto the next line: unsure, the parser */
			encoded = k == len || srch_is_encoding(p + 26, len - 26);
		}
		p = nl ? nl + 1 : end;
	}
	if (composite)
		return SB_MIXED;
	return encoded || !text ? SB_ENCODED : SB_PLAIN;
}

/* Is there a blank line ending at P (P[-1] is '\n' of an empty line)? */
static int
srch_blank_before(const char *b, const char *p)
{
	return p - b >= 2 && p[-1] == '\n' && (p[-2] == '\n' ||
	    (p - b >= 3 && p[-2] == '\r' && p[-3] == '\n'));
}

/*
 * Is the part header around P (a Content-Transfer-Encoding line in body
 * B/LEN) that of a text part?  Its block runs from the blank line (or
 * boundary) before to the blank line after; no Content-Type means
 * text/plain (RFC 2045 5.2).
 */
static int
srch_part_is_text(const char *b, size_t len, const char *p)
{
	const char *s = p, *e = p, *end = b + len;

	while (s > b && !srch_blank_before(b, s) && p - s < SRCH_PARTHDR_MAX)
		s--;
	while (e < end && !(e > b && *e == '\n' && (e[-1] == '\n' ||
	    (e[-1] == '\r' && e - 1 > b && e[-2] == '\n'))) &&
	    e - p < SRCH_PARTHDR_MAX)
		e++;
	if (p - s >= SRCH_PARTHDR_MAX || e - p >= SRCH_PARTHDR_MAX)
		return 1;
	const char *ct = srch_memcasemem(s, (size_t)(e - s), "content-type:", 13);
	if (ct == NULL)
		return 1;
	ct += 13;
	while (ct < e && (*ct == ' ' || *ct == '\t'))
		ct++;
	return (size_t)(e - ct) >= 5 && strncasecmp(ct, "text/", 5) == 0;
}

/* Is there an RFC 2047 encoded word ("=?") in P/LEN? */
static int
srch_has_ew(const char *p, size_t len)
{
	const char *end = p + len, *q;

	while ((q = memchr(p, '=', (size_t)(end - p))) != NULL) {
		if (q + 1 < end && q[1] == '?')
			return 1;
		p = q + 1;
	}
	return 0;
}

/* Do the LEN bytes at V start with WORD (ASCII case ignored)? */
static int
srch_starts(const char *v, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(v, word, n) == 0;
}

/* The value of the header line at P (field name NLEN bytes with its
 * colon) up to EOL, blanks skipped. */
static const char *
srch_value(const char *p, size_t nlen, const char *eol)
{
	const char *v = p + nlen;

	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	return v;
}

/*
 * Could the decoded text of composite raw body B/LEN (top-level header
 * HDR/HLEN) hold bytes that B does not?  Yes if a text part is encoded
 * (base64, quoted-printable), or if there is an attached message (whose
 * header BODY searches decoded and unfolded) and B has an encoded word or
 * a folded line.  A digest's parts are messages without saying so.  A
 * value folded right after the colon is taken as "yes".  One Horspool
 * pass for "content-t", the prefix of both field names: a large base64
 * attachment is mostly skipped.
 */
static int
srch_encoded_text(const char *hdr, size_t hlen, const char *b, size_t len)
{
	const char *p = b, *end = b + len;
	int rfc822 = srch_memcasemem(hdr, hlen, "multipart/digest", 16) != NULL;

	while ((p = srch_memcasemem(p, (size_t)(end - p), "content-t", 9)) !=
	    NULL) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *v;
		if (eol == NULL)
			eol = end;
		size_t ll = (size_t)(eol - p);
		if (srch_starts(p, ll, "content-transfer-encoding:")) {
			v = srch_value(p, 26, eol);
			if ((v == eol || srch_is_encoding(v, (size_t)(eol - v))) &&
			    srch_part_is_text(b, len, p))
				return 1;
		} else if (srch_starts(p, ll, "content-type:")) {
			v = srch_value(p, 13, eol);
			if (v == eol ||
			    srch_starts(v, (size_t)(eol - v), "message/rfc822") ||
			    srch_starts(v, (size_t)(eol - v), "multipart/digest"))
				rfc822 = 1;
		}
		p = eol;
	}
	return rfc822 && (srch_has_ew(b, len) || memchr(b, '\t', len) != NULL ||
	    srch_memcasemem(b, len, "\n ", 2) != NULL);
}

/*
 * The stored bytes of M (one sp_raw copy per message, kept until
 * srch_msg_release): the header at *HDR_R (*HLEN_R bytes), the body at
 * *BODY_R (*BLEN_R bytes).  -1 if they cannot be had (the slow path).
 */
static int
srch_raw(struct srch_msg *m, const char **hdr_r, size_t *hlen_r,
    const char **body_r, size_t *blen_r)
{
	const struct sp_msg *sm = sp_msg(m->mb, m->idx);
	struct sp_err err;

	if (m->raw == 0)
		m->raw = sp_raw(m->mb, m->idx, &m->rawp, &m->rawlen, &err) == 0 ?
		    1 : -1;
	if (m->raw != 1)
		return -1;
	size_t ho = (size_t)(sm->hdr_off - sm->from_off);
	size_t bo = (size_t)(sm->body_off - sm->from_off);
	if (ho > bo || bo > m->rawlen)
		return -1;
	*hdr_r = m->rawp + ho;
	*hlen_r = bo - ho;
	*body_r = m->rawp + bo;
	*blen_r = m->rawlen - bo;
	return 0;
}

/* Has N's needle line ends or blanks (which header unfolding and the raw
 * line structure can hide from a raw scan)? */
static int
srch_needle_plain(const struct srch_node *n)
{
	for (size_t i = 0; i < n->nlen; i++)
		if (n->needle[i] == '\r' || n->needle[i] == '\n' ||
		    n->needle[i] == ' ' || n->needle[i] == '\t')
			return 0;
	return n->nlen > 0;
}

/*
 * Could M's header contain N's needle?  A needle without blanks cannot
 * straddle a folded line (folding always leaves a blank), so if the served
 * header has neither the needle nor an RFC 2047 "=?" word, no decoded
 * field has it either: 0.  Otherwise 1 (the MIME parser decides).
 */
static int
srch_header_maybe(const struct srch_node *n, struct srch_msg *m)
{
	if (!srch_needle_plain(n) || srch_header_text(m) == -1)
		return 1;
	return srch_has_ew(m->hdr, m->hdrlen) ||
	    srch_horspool(m->hdr, m->hdrlen, (const unsigned char *)n->needle,
	    n->nlen, n->skip, n->md2) != NULL;
}

static int
srch_body(const struct srch_node *n, struct srch_msg *m)
{
	const char *hdr, *body;
	size_t hlen, blen;
	struct mime_msg *mm;
	int hit;

	/* line ends differ (LF stored, CRLF served) and mboxrd adds a '>'
	 * before "From ": such needles are for the parser */
	if (memchr(n->needle, '\r', n->nlen) || memchr(n->needle, '\n', n->nlen)
	    || memchr(n->needle, '>', n->nlen))
		goto slow;
	if (srch_raw(m, &hdr, &hlen, &body, &blen) == -1)
		goto slow;
	if (m->bodykind == SB_UNKNOWN)
		m->bodykind = srch_bodykind(hdr, hlen);
	if (m->bodykind == SB_ENCODED)
		goto slow;
	hit = srch_horspool(body, blen, (const unsigned char *)n->needle,
	    n->nlen, n->skip, n->md2) != NULL;
	/* one unencoded text part is stored as served: the raw answer is
	 * the answer */
	if (m->bodykind == SB_PLAIN)
		return hit;
	if (hit)		/* maybe in a part header, boundary, base64 */
		goto slow;
	if (m->bodykind == SB_MIXED)
		m->bodykind = srch_encoded_text(hdr, hlen, body, blen) ?
		    SB_MIXED_ENCODED :
		    SB_MIXED_PLAIN;
	if (m->bodykind == SB_MIXED_PLAIN)
		return 0;
slow:
	mm = srch_full(m);
	return mm != NULL && mime_body_contains(mm, n->needle);
}

/* The day of the Date: header in its own zone; the internal date's day if
 * there is none (RFC 3501: "disregarding time and timezone"). */
static long
srch_sent_day(struct srch_msg *m)
{
	struct mime_msg *h = srch_header(m);
	time_t t;
	int tz;

	if (h != NULL && mime_date(h, &t, &tz) == 0) {
		long days = (long)((t + (time_t)tz * 60) / 86400);
		if (t + (time_t)tz * 60 < 0 && (t + (time_t)tz * 60) % 86400)
			days--;
		return days;
	}
	return srch_utc_day(sp_msg(m->mb, m->idx)->internaldate);
}

static int srch_eval(const struct srch_prog *p, int ni, struct srch_msg *m);

static int
srch_eval_text(const struct srch_node *n, struct srch_msg *m)
{
	struct mime_msg *h;

	switch (n->op) {
	case S_HEADER:
		if (!srch_header_maybe(n, m))
			return 0;
		h = srch_header(m);
		return h != NULL && mime_header_contains(h, n->field, n->needle);
	case S_BODY:
		return srch_body(n, m);
	case S_TEXT:
		/* needle is folded here: matching is case-insensitive anyway */
		if (srch_header_maybe(n, m) && (h = srch_header(m)) != NULL &&
		    mime_header_contains(h, NULL, n->needle))
			return 1;
		return srch_body(n, m);
	default:
		return 0;
	}
}

static int
srch_eval(const struct srch_prog *p, int ni, struct srch_msg *m)
{
	const struct srch_node *n = &p->v[ni];
	int c;

	switch (n->op) {
	case S_AND:
		for (c = n->first; c != -1; c = p->v[c].next)
			if (!srch_eval(p, c, m))
				return 0;
		return 1;
	case S_OR:
		return srch_eval(p, n->first, m) ||
		    srch_eval(p, p->v[n->first].next, m);
	case S_NOT:
		return !srch_eval(p, n->first, m);
	case S_ALL:
		return 1;
	case S_SEQ:
		return imap_seqset_has(&n->set, m->seq);
	case S_UID:
		return imap_seqset_has(&n->set, m->uid);
	case S_FLAG:
		return (m->flags & n->flag) != 0;
	case S_UNFLAG:
		return (m->flags & n->flag) == 0;
	case S_KW:
		return n->kw >= 0 && (m->keywords & (1u << n->kw));
	case S_UNKW:
		return n->kw < 0 || !(m->keywords & (1u << n->kw));
	case S_NEW:
		return m->recent && !(m->flags & SP_SEEN);
	case S_OLD:
		return !m->recent;
	case S_RECENT:
		return m->recent;
	case S_BEFORE:
		return srch_utc_day(sp_msg(m->mb, m->idx)->internaldate) < n->day;
	case S_ON:
		return srch_utc_day(sp_msg(m->mb, m->idx)->internaldate) == n->day;
	case S_SINCE:
		return srch_utc_day(sp_msg(m->mb, m->idx)->internaldate) >= n->day;
	case S_SBEFORE:
		return srch_sent_day(m) < n->day;
	case S_SON:
		return srch_sent_day(m) == n->day;
	case S_SSINCE:
		return srch_sent_day(m) >= n->day;
	case S_LARGER:
		return sp_msg(m->mb, m->idx)->size > n->num;
	case S_SMALLER:
		return sp_msg(m->mb, m->idx)->size < n->num;
	default:
		return srch_eval_text(n, m);
	}
}

int
srch_match(const struct srch_prog *p, struct srch_msg *m)
{
	return srch_eval(p, p->root, m);
}

/* ---- the command --------------------------------------------------------- */

enum imap_rc
imap_cmd_search(struct imap_session *s, struct imap_cmd *c)
{
	struct srch_prog *p = NULL;
	struct sbuf out = { NULL, 0, 0, 0 };
	char err[256];
	uint32_t maxuid;
	int badcs;

	if (imap_mbox_refresh(s) == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE",
		    "Cannot read the mailbox");
	maxuid = s->nmsgs > 0 ? s->msgs[s->nmsgs - 1].uid : 0;
	if (srch_parse(&c->args, s->mbox, s->nmsgs, maxuid, &p, err,
	    sizeof(err), &badcs) == -1)
		return badcs ? imap_reply(c, IMAP_RC_NO,
		    "BADCHARSET (US-ASCII UTF-8)", "%s", err) :
		    imap_reply(c, IMAP_RC_BAD, NULL, "%s", err);
	sbuf_puts(&out, "* SEARCH");
	for (uint32_t seq = 1; seq <= s->nmsgs; seq++) {
		const struct imap_msgref *r = &s->msgs[seq - 1];
		if (r->idx == IMAP_GONE)
			continue;
		struct srch_msg m = { .mb = s->mbox, .idx = r->idx, .seq = seq,
		    .uid = r->uid, .flags = r->flags, .keywords = r->keywords,
		    .recent = r->recent };
		if (srch_match(p, &m))
			sbuf_printf(&out, " %u", (unsigned)(c->uid ? r->uid : seq));
		srch_msg_release(&m);
	}
	sbuf_puts(&out, "\r\n");
	srch_free(&p);
	if (out.oom) {
		sbuf_free(&out);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	}
	io_write(&s->io, out.p, out.len);
	sbuf_free(&out);
	return IMAP_RC_OK;
}
