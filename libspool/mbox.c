/*
 * mbox.c - the index: one pass over the mailbox through a bounded read
 * window, finding separators, header and body boundaries, served sizes,
 * line counts and the state headers; UIDs; sp_open/sp_refresh and the
 * accessors.
 *
 * The body scan looks at 16 bytes at a time (SSE2 where the compiler has
 * it, portable code otherwise) for three things at once: LF bytes (line
 * count), CR LF pairs (served size), and line starts with 'F' or '>'
 * (candidate separators and quoted From_ lines).  Everything else in a
 * message body is skipped at memory speed.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "spool_int.h"

/* ---- small helpers ------------------------------------------------------- */

uint32_t
sp_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 16777619u;
	}
	return h;
}

/* /^>+From / */
int
sp_is_quoted_from(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == '>')
		i++;
	return i > 0 && n - i >= 5 && memcmp(p + i, "From ", 5) == 0;
}

static const char *const sp_state_names[] = {
	SP_STATE_HEADERS
};
enum {
	ST_STATUS, ST_XSTATUS, ST_XKEYWORDS, ST_XUID, ST_XIMAP, ST_XIMAPBASE,
	ST_CLEN, ST_XUIDL, ST_NUM
};

int
sp_state_header(const char *p, size_t n)
{
	const char *colon;
	size_t len;
	int i;

	if (n == 0 || (p[0] != 'S' && p[0] != 's' && p[0] != 'X' &&
	    p[0] != 'x' && p[0] != 'C' && p[0] != 'c'))
		return -1;
	colon = memchr(p, ':', n < 32 ? n : 32);
	if (colon == NULL)
		return -1;
	len = (size_t)(colon - p);
	/* Called for every header line of every message: no strlen. */
	for (i = 0; i < ST_NUM; i++) {
		const char *name = sp_state_names[i];

		if ((name[0] | 0x20) == (p[0] | 0x20) &&
		    strncasecmp(name, p, len) == 0 && name[len] == '\0')
			return i;
	}
	return -1;
}

/* ---- From_ line ---------------------------------------------------------------- */

static int
word_index(const char *p, const char *const *tab, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(p, tab[i], 3) == 0)
			return i;
	return -1;
}

static const char *const wdays[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long long
days_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int
num(const char **pp, const char *end, int maxdig, int *v)
{
	const char *p = *pp;
	int n = 0, d = 0;

	while (p < end && *p >= '0' && *p <= '9' && d < maxdig) {
		n = n * 10 + (*p - '0');
		p++;
		d++;
	}
	if (d == 0)
		return -1;
	*pp = p;
	*v = n;
	return d;
}

/* Parse "Mmm dd hh:mm[:ss] [tz] yyyy [tz]" at P (after "Www "). */
static int
parse_date(const char *p, const char *end, time_t *when_r)
{
	int mon, day, hh, mm, ss = 0, year = -1, v, d, tok;

	mon = word_index(p, months, 12);
	if (mon < 0)
		return -1;
	p += 3;
	while (p < end && *p == ' ')
		p++;
	if (num(&p, end, 2, &day) < 0 || day < 1 || day > 31)
		return -1;
	while (p < end && *p == ' ')
		p++;
	if (num(&p, end, 2, &hh) < 0 || hh > 23 || p >= end || *p++ != ':' ||
	    num(&p, end, 2, &mm) < 0 || mm > 59)
		return -1;
	if (p < end && *p == ':') {
		p++;
		if (num(&p, end, 2, &ss) < 0 || ss > 60)
			return -1;
	}
	/* The year is one of the next three words; others are time zones
	 * ("+0100", "GMT") or "remote from host". */
	for (tok = 0; tok < 3 && year < 0; tok++) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		if ((d = num(&p, end, 4, &v)) == 4 && (p == end || *p == ' '))
			year = v;
		while (p < end && *p != ' ')
			p++;
	}
	if (year < 1970)
		return -1;
	*when_r = (time_t)(days_civil(year, (unsigned)mon + 1, (unsigned)day) *
	    86400 + hh * 3600 + mm * 60 + ss);
	return 0;
}

int
sp_from_line(const char *p, size_t n, time_t *when_r, const char **sender_r,
    size_t *slen_r)
{
	const char *s, *end = p + n;
	size_t i, rl;

	if (n < 5 + 20 || memcmp(p, "From ", 5) != 0)
		return 0;
	if (end[-1] == '\r')
		end--;
	s = p + 5;
	rl = (size_t)(end - s);
	/* Find " Www Mmm " (the sender may be empty or contain spaces). */
	for (i = 0; i + 8 <= rl; i++) {
		if ((i == 0 || s[i - 1] == ' ') && s[i + 3] == ' ' &&
		    word_index(s + i, wdays, 7) >= 0 &&
		    parse_date(s + i + 4, end, when_r) == 0) {
			size_t sl = i;

			while (sl > 0 && s[sl - 1] == ' ')
				sl--;
			if (sender_r != NULL) {
				*sender_r = s;
				*slen_r = sl;
			}
			return 1;
		}
	}
	return 0;
}

/* ---- the scan window ------------------------------------------------------------- */

/*
 * The file is read with pread into one reused buffer rather than mapped:
 * measured faster (the copy lands in a cache-sized buffer; a mapping pays
 * for populating its page tables on every window), bounded memory, and a
 * file cut under us gives a read error instead of SIGBUS.
 */
void
sp_win_init(struct sp_win *w, int fd, off_t fsize)
{
	w->fd = fd;
	w->fsize = fsize;
	w->base = NULL;
	w->cap = 0;
	w->woff = 0;
	w->wlen = 0;
}

void
sp_win_done(struct sp_win *w)
{
	free(w->base);
	w->base = NULL;
	w->cap = 0;
	w->wlen = 0;
}

const char *
sp_win_at(struct sp_win *w, off_t off, size_t want, size_t *avail)
{
	size_t len, got = 0;
	ssize_t r;

	*avail = 0;
	if (off >= w->fsize)
		return "";
	if ((off_t)want > w->fsize - off)
		want = (size_t)(w->fsize - off);
	if (w->base != NULL && off >= w->woff &&
	    off + (off_t)want <= w->woff + (off_t)w->wlen) {
		*avail = (size_t)(w->woff + (off_t)w->wlen - off);
		return w->base + (off - w->woff);
	}
	len = want > SP_WIN_SIZE ? want : SP_WIN_SIZE;
	if ((off_t)len > w->fsize - off)
		len = (size_t)(w->fsize - off);
	if (len > w->cap) {
		char *nb = malloc(len);

		if (nb == NULL)
			return NULL;
		free(w->base);
		w->base = nb;
		w->cap = len;
	}
	w->wlen = 0;
	while (got < len) {
		r = pread(w->fd, w->base + got, len - got, off + (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return NULL;
		if (r == 0) {
			errno = EIO;	/* shorter than when we began */
			return NULL;
		}
		got += (size_t)r;
	}
	w->woff = off;
	w->wlen = len;
	*avail = len;
	return w->base;
}

/* ---- index storage ------------------------------------------------------------------- */

void
sp_index_free(struct sp_index *ix)
{
	unsigned i;

	free(ix->msg);
	free(ix->ix);
	for (i = 0; i < ix->nkw; i++)
		free(ix->kw[i]);
	memset(ix, 0, sizeof *ix);
	ix->base_next_off = -1;
}

int
sp_kw_add(struct sp_index *ix, const char *name, size_t len)
{
	unsigned i;
	char *s;

	if (len == 0 || len > SP_KEYWORD_MAX)
		return -1;
	for (i = 0; i < ix->nkw; i++)
		if (strlen(ix->kw[i]) == len &&
		    strncasecmp(ix->kw[i], name, len) == 0)
			return (int)i;
	if (ix->nkw >= SP_KEYWORDS_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* An IMAP atom: no controls, spaces, specials or 8-bit. */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return -1;
	}
	s = malloc(len + 1);
	if (s == NULL)
		return -1;
	memcpy(s, name, len);
	s[len] = '\0';
	ix->kw[ix->nkw] = s;
	return (int)ix->nkw++;
}

int
sp_index_seed(struct sp_index *dst, const struct sp_index *src)
{
	unsigned i;

	for (i = 0; i < src->nkw; i++)
		if (sp_kw_add(dst, src->kw[i], strlen(src->kw[i])) < 0)
			return -1;
	return 0;
}

static int
push(struct sp_index *ix, struct sp_err *err)
{
	if (ix->n >= SP_MESSAGES_MAX)
		return sp_fail(err, SP_PERMFAIL, "5.3.4",
		    "mailbox has more than %u messages", SP_MESSAGES_MAX);
	if (ix->n == ix->cap) {
		uint32_t nc = ix->cap ? ix->cap * 2 : 64;
		struct sp_msg *m = realloc(ix->msg, nc * sizeof *m);
		struct sp_ixmsg *x;

		if (m == NULL)
			return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
		ix->msg = m;
		x = realloc(ix->ix, nc * sizeof *x);
		if (x == NULL)
			return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
		ix->ix = x;
		ix->cap = nc;
	}
	memset(&ix->msg[ix->n], 0, sizeof ix->msg[0]);
	memset(&ix->ix[ix->n], 0, sizeof ix->ix[0]);
	ix->ix[ix->n].state_off = -1;
	return 0;
}

/* ---- the scanner ------------------------------------------------------------------------ */

struct scan {
	int pseudo_subject;	/* UW's "FOLDER INTERNAL DATA" message */
	int pseudo_base;	/* its X-IMAP was parsed */
	struct sp_win w;
	int fd;
	off_t fsize;
	struct sp_index *ix;
	struct sp_err *err;
};

/* N bytes at OFF, from the window if they are in it, else by pread into
 * BUF (never moves the window). */
static const char *
peek(struct scan *s, off_t off, size_t n, char *buf, size_t *got)
{
	ssize_t r;

	*got = 0;
	if (off < 0 || off >= s->fsize)
		return buf;
	if ((off_t)n > s->fsize - off)
		n = (size_t)(s->fsize - off);
	if (s->w.base != NULL && off >= s->w.woff &&
	    off + (off_t)n <= s->w.woff + (off_t)s->w.wlen) {
		*got = n;
		return s->w.base + (off - s->w.woff);
	}
	do
		r = pread(s->fd, buf, n, off);
	while (r == -1 && errno == EINTR);
	*got = r > 0 ? (size_t)r : 0;
	return buf;
}

static int
byte_at(struct scan *s, off_t off)
{
	char b[1];
	size_t got;
	const char *p = peek(s, off, 1, b, &got);

	return got == 1 ? (unsigned char)p[0] : -1;
}

/* Is there a separator line at OFF?  Its length with LF into *LEN_R. */
static int
sep_at(struct scan *s, off_t off, size_t *len_r, time_t *when_r,
    uint32_t *hash_r)
{
	char buf[SP_FROMLINE_MAX];
	size_t got;
	const char *p = peek(s, off, sizeof buf, buf, &got), *nl;

	if (got < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	nl = memchr(p, '\n', got);
	if (nl == NULL)
		return 0;
	if (!sp_from_line(p, (size_t)(nl - p), when_r, NULL, NULL))
		return 0;
	*len_r = (size_t)(nl - p) + 1;
	if (hash_r != NULL)
		*hash_r = sp_hash(p, (size_t)(nl - p));
	return 1;
}

static int
find_str(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(p + i, needle, k) == 0)
			return 1;
	return 0;
}

/* Parse a state header's value (first SP_HDRPARSE_MAX bytes). */
static void
parse_state(struct scan *s, int kind, const char *p, size_t n, off_t off,
    struct sp_ixmsg *x, int first)
{
	const char *v = memchr(p, ':', n), *end = p + n, *w;
	unsigned long long u;
	int k;

	if (v == NULL)
		return;
	v++;
	switch (kind) {
	case ST_STATUS:
		for (; v < end; v++) {
			if (*v == 'R')
				x->disk_flags |= SP_SEEN;
			else if (*v == 'O')
				x->disk_flags &= ~(uint32_t)SP_RECENT;
		}
		break;
	case ST_XSTATUS:
		for (; v < end; v++) {
			if (*v == 'A')
				x->disk_flags |= SP_ANSWERED;
			else if (*v == 'F')
				x->disk_flags |= SP_FLAGGED;
			else if (*v == 'T')
				x->disk_flags |= SP_DRAFT;
			else if (*v == 'D')
				x->disk_flags |= SP_DELETED;
		}
		break;
	case ST_XKEYWORDS:
		while (v < end) {
			while (v < end && (*v == ' ' || *v == '\t' || *v == '\r'))
				v++;
			w = v;
			while (v < end && *v != ' ' && *v != '\t' && *v != '\r')
				v++;
			if (v > w) {
				k = sp_kw_add(s->ix, w, (size_t)(v - w));
				if (k >= 0)
					x->disk_kw |= 1u << k;
				else
					x->split = 1;	/* rewrite would drop it */
			}
		}
		break;
	case ST_XUID:
		while (v < end && *v == ' ')
			v++;
		for (u = 0; v < end && *v >= '0' && *v <= '9' && u <= UINT32_MAX; v++)
			u = u * 10 + (unsigned)(*v - '0');
		if (u > 0 && u <= UINT32_MAX)
			x->disk_uid = (uint32_t)u;
		break;
	case ST_XIMAP:
	case ST_XIMAPBASE:
		/* Ours or Dovecot's in the first real message wins over UW's
		 * pseudo message. */
		if (!first || (s->ix->has_base && !s->ix->base_pseudo))
			break;
		{
			unsigned long long val = 0, nx = 0;
			const char *d;
			unsigned nk = 0;

			while (v < end && *v == ' ')
				v++;
			for (; v < end && *v >= '0' && *v <= '9' && val <= UINT32_MAX; v++)
				val = val * 10 + (unsigned)(*v - '0');
			while (v < end && *v == ' ')
				v++;
			d = v;
			for (; v < end && *v >= '0' && *v <= '9' && nx <= UINT32_MAX; v++)
				nx = nx * 10 + (unsigned)(*v - '0');
			/* The second number is the last UID given (UW-IMAP's
			 * X-IMAP and Dovecot write it so), UIDNEXT - 1. */
			if (val == 0 || val > UINT32_MAX || nx >= UINT32_MAX)
				break;
			s->ix->has_base = 1;
			s->ix->base_pseudo = 0;
			s->pseudo_base = kind == ST_XIMAP;
			s->ix->base_validity = (uint32_t)val;
			s->ix->base_next = (uint32_t)nx + 1;
			s->ix->base_next_off = v - d == 10 && kind == ST_XIMAPBASE ?
			    off + (d - p) : -1;
			while (v < end) {
				while (v < end && (*v == ' ' || *v == '\r'))
					v++;
				w = v;
				while (v < end && *v != ' ' && *v != '\r')
					v++;
				if (v > w && sp_kw_add(s->ix, w, (size_t)(v - w)) >= 0)
					nk++;
			}
			s->ix->base_nkw = nk;
		}
		break;
	default:
		break;
	}
}

/*
 * The header from POS to its blank line.  Fills the served header size,
 * the state block and the state values; *BODY_R is the first body byte.
 */
static int
scan_header(struct scan *s, off_t pos, struct sp_msg *m, struct sp_ixmsg *x,
    int first, off_t *body_r, int *blank_lf_r)
{
	uint64_t served = 0;
	int in_state = 0, run = 0;

	x->disk_flags = SP_RECENT;
	*blank_lf_r = 0;
	for (;;) {
		char buf[SP_HDRPARSE_MAX];
		size_t avail, len, plen, got;
		const char *p, *nl, *pre;
		off_t lpos = pos;
		int lf, cr;

		if (pos >= s->fsize) {
			served += 2;	/* a blank line is served even if missing */
			*body_r = pos;
			break;
		}
		/* The usual case: the line is inside the window. */
		p = s->w.base != NULL && pos >= s->w.woff &&
		    pos < s->w.woff + (off_t)s->w.wlen ?
		    s->w.base + (pos - s->w.woff) : NULL;
		avail = p != NULL ? (size_t)(s->w.woff + (off_t)s->w.wlen - pos) : 0;
		nl = p != NULL ? memchr(p, '\n', avail) : NULL;
		if (nl != NULL) {
			len = (size_t)(nl - p);
			pre = p;
			plen = len < sizeof buf ? len : sizeof buf;
			cr = len > 0 && p[len - 1] == '\r';
		} else {
			/* Find the end of the line, however long. */
			for (len = 0;;) {
				p = sp_win_at(&s->w, lpos, SP_WIN_SIZE / 2, &avail);
				if (p == NULL)
					return sp_fail_errno(s->err, errno, "read",
					    "mailbox");
				if (avail == 0) {
					nl = NULL;
					break;
				}
				nl = memchr(p, '\n', avail);
				if (nl != NULL) {
					len += (size_t)(nl - p);
					break;
				}
				len += avail;
				lpos += (off_t)avail;
			}
			pre = peek(s, pos, len < sizeof buf ? len : sizeof buf, buf,
			    &plen);
			/* A CR is a line end's only before an LF. */
			cr = nl != NULL && len > 0 &&
			    byte_at(s, pos + (off_t)len - 1) == '\r';
		}
		lf = nl != NULL;
		if (len == 0 || (len == 1 && cr)) {
			served += 2;
			*body_r = pos + (off_t)len + lf;
			*blank_lf_r = lf;
			break;
		}
		if (plen > 0 && (pre[0] == ' ' || pre[0] == '\t'))
			;	/* continuation line: as its field */
		else {
			int k = sp_state_header(pre, plen);

			if (first && plen > 8 && strncasecmp(pre, "Subject:", 8) == 0 &&
			    find_str(pre, plen, "FOLDER INTERNAL DATA"))
				s->pseudo_subject = 1;

			in_state = k >= 0;
			if (in_state)
				parse_state(s, k, pre, plen, pos, x, first);
		}
		if (in_state) {
			if (run == 0) {
				x->state_off = pos;
				run = 1;
			} else if (run == 2)
				x->split = 1;
			x->state_end = pos + (off_t)len + lf;
		} else {
			if (run == 1)
				run = 2;
			served += len - (size_t)cr + 2;
			if (plen > 0 && pre[0] == '>' && sp_is_quoted_from(pre, plen))
				served--;
		}
		(void)got;
		pos += (off_t)len + lf;
	}
	m->hdr_size = served;
	return 0;
}

/* Bits set in a 16-bit mask. */
static inline unsigned
pop16(unsigned x)
{
	x = x - ((x >> 1) & 0x5555u);
	x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
	x = (x + (x >> 4)) & 0x0f0fu;
	return (x + (x >> 8)) & 0x1fu;
}

/* What scan_body found: the body's end, and the separator that ended it
 * (already parsed, so that the next message need not parse it again). */
struct body {
	off_t end, next;
	uint64_t lf, crlf, quoted;
	size_t sep_len;		/* 0 at the end of the file */
	time_t sep_when;
	uint32_t sep_hash;
};

/*
 * Event at E (an LF followed by 'F' or '>'), with the bytes after it at Q
 * (QN of them in the window).  Returns 1 at a separator (B->end/next set).
 */
static int
event(struct scan *s, off_t e, const char *q, size_t qn, off_t scan0,
    off_t body, struct body *b, uint64_t lf_at, uint64_t crlf_at)
{
	size_t flen;
	time_t when;
	uint32_t hash;

	if (qn < 2)
		return 0;
	if (q[1] == '>') {
		if (sp_is_quoted_from(q + 1, qn - 1 < SP_FROMLINE_MAX ?
		    qn - 1 : SP_FROMLINE_MAX))
			b->quoted++;
		else if (qn - 1 < SP_FROMLINE_MAX && e + (off_t)qn < s->fsize) {
			/* Rare: a line of many '>' at the edge of the window. */
			char buf[SP_FROMLINE_MAX];
			size_t got;
			const char *p = peek(s, e + 1, sizeof buf, buf, &got);

			if (sp_is_quoted_from(p, got))
				b->quoted++;
		}
		return 0;
	}
	/* 'F': a separator needs "From " after a blank line. */
	if (qn >= 6 && memcmp(q + 1, "From ", 5) != 0)
		return 0;
	if (e == 0 || byte_at(s, e - 1) != '\n') {
		if (e < 2 || byte_at(s, e - 1) != '\r' || byte_at(s, e - 2) != '\n')
			return 0;
		if (!sep_at(s, e + 1, &flen, &when, &hash))
			return 0;
		b->end = e - 1;		/* blank line "\r\n" */
		b->lf = lf_at;
		b->crlf = crlf_at - (e - 1 >= scan0 ? 1 : 0);
	} else {
		if (!sep_at(s, e + 1, &flen, &when, &hash))
			return 0;
		b->end = e;
		b->lf = lf_at;
		b->crlf = crlf_at;
	}
	if (b->end < body)
		b->end = body;
	b->next = e + 1;
	b->sep_len = flen;
	b->sep_when = when;
	b->sep_hash = hash;
	return 1;
}

/*
 * The body from BODY to the next separator or EOF.  SCAN0 is BODY-1 when
 * that byte is the LF of the header's blank line (so that a first body
 * line is seen as a line start), else BODY.
 */
static int
scan_body(struct scan *s, off_t body, off_t scan0, struct body *b)
{
	off_t pos = scan0;
	uint64_t lf = 0, crlf = 0;

	memset(b, 0, sizeof *b);
	while (pos < s->fsize) {
		size_t avail, n, i = 0;
		/* Ask for little more than the look-ahead margin: the window
		 * is then used to its end before it moves (each byte read
		 * once). */
		const char *p = sp_win_at(&s->w, pos, 4 * (SP_FROMLINE_MAX + 64),
		    &avail);
		int at_eof;

		if (p == NULL)
			return sp_fail_errno(s->err, errno, "read", "mailbox");
		at_eof = pos + (off_t)avail >= s->fsize;
		n = at_eof ? avail : avail - (SP_FROMLINE_MAX + 64);
#if defined(__SSE2__)
		{
			/* LF bytes are counted in 16 byte-wide counters (a
			 * compare gives -1, subtracted), folded into LF every
			 * 255 blocks before they overflow. */
			const __m128i NL = _mm_set1_epi8('\n'),
			    CR = _mm_set1_epi8('\r'), F = _mm_set1_epi8('F'),
			    GT = _mm_set1_epi8('>'), Z = _mm_setzero_si128();
			__m128i acc = Z;
			unsigned folds = 0;

			for (; i + 16 <= n && i + 17 <= avail; i += 16) {
				__m128i a = _mm_loadu_si128((const __m128i *)(p + i));
				__m128i c = _mm_loadu_si128((const __m128i *)(p + i + 1));
				__m128i anl = _mm_cmpeq_epi8(a, NL);
				__m128i acr = _mm_cmpeq_epi8(a, CR);
				__m128i cfg = _mm_or_si128(_mm_cmpeq_epi8(c, F),
				    _mm_cmpeq_epi8(c, GT));

				/* One rarely taken branch per block: a CR, or a
				 * line that starts with 'F' or '>'. */
				if (_mm_movemask_epi8(_mm_or_si128(acr,
				    _mm_and_si128(anl, cfg))) != 0) {
					unsigned lm = (unsigned)_mm_movemask_epi8(anl);
					unsigned ev = lm & (unsigned)_mm_movemask_epi8(cfg);
					unsigned pairs = (unsigned)_mm_movemask_epi8(
					    _mm_and_si128(acr, _mm_cmpeq_epi8(c, NL)));
					__m128i sad = _mm_sad_epu8(acc, Z);
					uint64_t base = lf +
					    (uint64_t)_mm_cvtsi128_si32(sad) +
					    (uint64_t)_mm_cvtsi128_si32(
					    _mm_srli_si128(sad, 8));

					while (ev != 0) {
						unsigned bit = (unsigned)__builtin_ctz(ev);
						unsigned below = (1u << bit) - 1;

						if (event(s, pos + (off_t)(i + bit),
						    p + i + bit, avail - i - bit, scan0, body,
						    b, base + pop16(lm & below),
						    crlf + pop16(pairs & below)))
							goto found;
						ev &= ev - 1;
					}
					crlf += pop16(pairs);
				}
				acc = _mm_sub_epi8(acc, anl);
				if (++folds == 255) {
					__m128i sad = _mm_sad_epu8(acc, Z);

					lf += (uint64_t)_mm_cvtsi128_si32(sad) +
					    (uint64_t)_mm_cvtsi128_si32(
					    _mm_srli_si128(sad, 8));
					acc = Z;
					folds = 0;
				}
			}
			{
				__m128i sad = _mm_sad_epu8(acc, Z);

				lf += (uint64_t)_mm_cvtsi128_si32(sad) +
				    (uint64_t)_mm_cvtsi128_si32(_mm_srli_si128(sad, 8));
			}
		}
#endif
		for (; i < n; i++) {
			char ch = p[i];

			if (ch == '\n') {
				if (i + 1 < avail && (p[i + 1] == 'F' ||
				    p[i + 1] == '>') &&
				    event(s, pos + (off_t)i, p + i, avail - i, scan0,
				    body, b, lf, crlf))
					goto found;
				lf++;
			} else if (ch == '\r' && i + 1 < avail && p[i + 1] == '\n')
				crlf++;
		}
		pos += (off_t)n;
	}
	/* End of file: drop the separator blank line if there is one. */
	b->next = s->fsize;
	b->end = s->fsize;
	b->lf = lf;
	b->crlf = crlf;
	if (s->fsize - scan0 >= 2 && byte_at(s, s->fsize - 1) == '\n') {
		if (byte_at(s, s->fsize - 2) == '\n' && s->fsize - 1 >= body) {
			b->end = s->fsize - 1;
			b->lf--;
		} else if (s->fsize >= 3 && byte_at(s, s->fsize - 2) == '\r' &&
		    byte_at(s, s->fsize - 3) == '\n' && s->fsize - 2 >= body) {
			b->end = s->fsize - 2;
			b->lf--;
			b->crlf--;
		}
	}
	return 0;
found:
	return 0;
}

/* Where the first message starts: 0, or the first separator after a
 * blank line (text before it is not a message and is kept as is). */
static off_t
first_message(struct scan *s)
{
	struct body b;
	size_t flen;
	time_t when;

	if (sep_at(s, 0, &flen, &when, NULL))
		return 0;
	if (scan_body(s, 0, 0, &b) == -1)
		return -1;
	return b.next;
}

/*
 * The messages whose separators lie in [POS, END) (POS is a separator or
 * END), appended to S->ix.  FILE_FIRST: POS is the file's first message,
 * the only one whose X-IMAPbase counts and that may be UW's pseudo message.
 */
static int
scan_messages(struct scan *s, off_t pos, off_t end, int file_first)
{
	struct sp_index *ix = s->ix;
	size_t flen = 0;	/* the separator at POS when already parsed */
	time_t when = 0;
	uint32_t h = 0;

	while (pos < end) {
		struct sp_msg *m;
		struct sp_ixmsg *x;
		struct body b;
		off_t body;
		int blank_lf, first = file_first && ix->n == 0;

		if (flen == 0 && !sep_at(s, pos, &flen, &when, &h))
			return sp_fail(s->err, SP_TEMPFAIL, "4.3.0",
			    "no message separator at offset %lld", (long long)pos);
		if (push(ix, s->err) == -1)
			return -1;
		m = &ix->msg[ix->n];
		x = &ix->ix[ix->n];
		m->from_off = pos;
		m->hdr_off = pos + (off_t)flen;
		m->internaldate = when;
		x->fromhash = h;
		if (scan_header(s, m->hdr_off, m, x, first, &body, &blank_lf) == -1)
			return -1;
		m->body_off = body;
		if (body >= s->fsize) {
			memset(&b, 0, sizeof b);
			b.end = b.next = s->fsize;
		} else if (scan_body(s, body, blank_lf ? body - 1 : body, &b) == -1)
			return -1;
		else if (blank_lf && b.lf > 0)
			b.lf--;		/* the LF of the header's blank line (not
					 * counted if a separator follows it) */
		m->end_off = b.end;
		{
			uint64_t bytes = (uint64_t)(b.end - body);
			int noeol = b.end > body && byte_at(s, b.end - 1) != '\n';

			m->body_lines = (uint32_t)(b.lf + (uint64_t)noeol);
			m->size = m->hdr_size + bytes - b.quoted + (b.lf - b.crlf) +
			    (noeol ? 2 : 0);
		}
		m->flags = x->disk_flags;
		m->keywords = x->disk_kw;
		pos = b.next;
		flen = b.sep_len;
		when = b.sep_when;
		h = b.sep_hash;
		if (first && s->pseudo_subject && s->pseudo_base) {
			/* UW-IMAP's folder data: not a message for anyone. */
			ix->base_pseudo = 1;
			ix->pseudo_end = pos;
			s->pseudo_subject = s->pseudo_base = 0;
			continue;
		}
		s->pseudo_subject = 0;
		ix->n++;
	}
	return 0;
}

static void
scan_init(struct scan *s, int fd, off_t fsize, struct sp_index *ix,
    struct sp_err *err)
{
	sp_win_init(&s->w, fd, fsize);
	s->fd = fd;
	s->fsize = fsize;
	s->pseudo_subject = s->pseudo_base = 0;
	s->ix = ix;
	s->err = err;
}

/* The first separator after OFF (a From_ line after a blank line, its LF
 * at OFF or later), FSIZE if none, -1 on a read error.  Every segment of a
 * parallel scan cuts the file with this same function, so neighbours
 * agree on their common boundary. */
static off_t
separator_after(struct scan *s, off_t off)
{
	struct body b;

	if (off >= s->fsize)
		return s->fsize;
	if (scan_body(s, off, off, &b) == -1)
		return -1;
	return b.next;
}

/* ---- the scan in parallel ------------------------------------------------------------------- */

/*
 * A big mailbox is cut into segments at separators, one per processor;
 * each is scanned by its own thread into its own index, and the indexes are
 * joined in file order.  Reading the page cache is bound by the copy and the
 * scan on one core; two cores read it twice as fast (bench/bench_spool).
 */
struct segment {
	pthread_t tid;
	int started;
	int fd;
	off_t fsize;
	off_t cut, next_cut;	/* nominal cut points */
	off_t from, to;		/* the separators after them: the segment */
	int last;		/* ends at FSIZE */
	struct sp_index ix;
	struct sp_err err;
	int rc;
};

/* Scan G's messages, [G->from, G->to), into G->ix. */
static int
segment_messages(struct segment *g)
{
	struct scan s;
	int rc;

	scan_init(&s, g->fd, g->fsize, &g->ix, &g->err);
	rc = scan_messages(&s, g->from, g->to, 0);
	sp_win_done(&s.w);
	return rc;
}

static void *
segment_scan(void *arg)
{
	struct segment *g = arg;
	struct scan s;

	scan_init(&s, g->fd, g->fsize, &g->ix, &g->err);
	g->from = separator_after(&s, g->cut);
	g->to = g->last ? g->fsize : separator_after(&s, g->next_cut);
	sp_win_done(&s.w);
	g->rc = g->from < 0 || g->to < 0 ? sp_fail_errno(&g->err, errno,
	    "read", "mailbox") : segment_messages(g);
	return NULL;
}

/*
 * A segment whose keyword table filled up may have refused names that the
 * one-thread scan, which numbers keywords in file order, would have taken
 * (or the reverse): scan it again here, its table seeded with IX's as it
 * stands after the segments before it.  Rare: more than SP_KEYWORDS_MAX
 * names in one mailbox.
 */
static int
segment_rescan(struct segment *g, const struct sp_index *ix)
{
	sp_index_free(&g->ix);
	if (sp_index_seed(&g->ix, ix) == -1)
		return sp_fail(&g->err, SP_TEMPFAIL, "4.3.0", "out of memory");
	return segment_messages(g);
}

/* How many segments for BYTES: one per online processor, each of at least
 * SP_SCAN_SPLIT_MIN bytes, at most SP_SCAN_THREADS_MAX. */
static unsigned
segment_count(off_t bytes)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	off_t n = bytes / SP_SCAN_SPLIT_MIN;

	if (cpus < 1)
		cpus = 1;
	if (n > cpus)
		n = cpus;
	if (n > SP_SCAN_THREADS_MAX)
		n = SP_SCAN_THREADS_MAX;
	return n < 1 ? 1 : (unsigned)n;
}

/* Append segment G's messages to IX, keywords renumbered as IX's. */
static int
segment_join(struct sp_index *ix, struct segment *g, struct sp_err *err)
{
	int map[SP_KEYWORDS_MAX];
	uint32_t i;

	sp_kw_map(ix, &g->ix, map);
	for (i = 0; i < g->ix.n; i++) {
		struct sp_ixmsg *x = &g->ix.ix[i];
		uint32_t kw = 0, k;

		for (k = 0; k < g->ix.nkw; k++) {
			if (!(x->disk_kw & (1u << k)))
				continue;
			if (map[k] >= 0)
				kw |= 1u << map[k];
			else
				x->split = 1;	/* IX's table is full */
		}
		x->disk_kw = kw;
		g->ix.msg[i].keywords = kw;
		if (push(ix, err) == -1)
			return -1;
		ix->msg[ix->n] = g->ix.msg[i];
		ix->ix[ix->n] = *x;
		ix->n++;
	}
	return 0;
}

/* Segments 1..N-1 in threads that take no signal, segment 0 (S, from
 * FROM) here; then the join.  A thread that cannot be created has its
 * segment scanned here. */
static int
scan_parallel(struct scan *s, off_t from, int file_first, unsigned n)
{
	struct segment seg[SP_SCAN_THREADS_MAX];
	off_t span = s->fsize - from, end;
	sigset_t all, old;
	unsigned k;
	int rc;

	memset(seg, 0, sizeof seg);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (k = 1; k < n; k++) {
		struct segment *g = &seg[k];

		g->fd = s->fd;
		g->fsize = s->fsize;
		g->cut = from + span / n * k;
		g->next_cut = from + span / n * (k + 1);
		g->last = k == n - 1;
		g->ix.base_next_off = -1;
		g->rc = sp_index_seed(&g->ix, s->ix) == -1 ?
		    sp_fail(&g->err, SP_TEMPFAIL, "4.3.0", "out of memory") : 0;
		if (g->rc == 0)
			g->started = pthread_create(&g->tid, NULL, segment_scan,
			    g) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	end = n > 1 ? separator_after(s, seg[1].cut) : s->fsize;
	rc = end < 0 ? sp_fail_errno(s->err, errno, "read", "mailbox") :
	    scan_messages(s, from, end, file_first);
	for (k = 1; k < n; k++) {
		struct segment *g = &seg[k];

		if (g->started)
			pthread_join(g->tid, NULL);
		else if (g->rc == 0)
			segment_scan(g);
		if (rc == 0 && g->rc == 0 && g->ix.nkw == SP_KEYWORDS_MAX)
			g->rc = segment_rescan(g, s->ix);
		if (rc == 0 && g->rc == -1) {
			*s->err = g->err;
			rc = -1;
		}
		if (rc == 0)
			rc = segment_join(s->ix, g, s->err);
		sp_index_free(&g->ix);
	}
	return rc;
}

int
sp_scan_split(int fd, off_t start, off_t fsize, struct sp_index *ix,
    struct sp_err *err, unsigned segments)
{
	struct scan s;
	off_t pos;
	int rc;

	scan_init(&s, fd, fsize, ix, err);
	pos = start == 0 ? first_message(&s) : start;
	if (segments == 0)
		segments = segment_count(fsize - pos);
	if (segments > SP_SCAN_THREADS_MAX)
		segments = SP_SCAN_THREADS_MAX;
	rc = pos < 0 ? -1 : scan_parallel(&s, pos, start == 0, segments);
	ix->size = fsize;
	sp_win_done(&s.w);
	if (rc == 0)
		sp_index_uids(ix, (uint32_t)time(NULL));
	return rc;
}

int
sp_scan(int fd, off_t start, off_t fsize, struct sp_index *ix,
    struct sp_err *err)
{
	return sp_scan_split(fd, start, fsize, ix, err, 0);
}

/*
 * UIDs: X-UID where present and ascending, otherwise the next UID in file
 * order, so every process computes the same ones.  UIDVALIDITY: the
 * X-IMAPbase value; a mailbox without one takes the date of its first
 * message's From_ line (deterministic, and later than the UIDVALIDITY of
 * any earlier content of the file in practice).
 */
void
sp_index_uids(struct sp_index *ix, uint32_t empty_validity)
{
	uint32_t i, next, last = 0;

	if (ix->has_base) {
		ix->uidvalidity = ix->base_validity;
		next = ix->base_next > 0 ? ix->base_next : 1;
	} else {
		if (ix->n > 0 && ix->msg[0].internaldate > 0)
			ix->uidvalidity = (uint32_t)ix->msg[0].internaldate;
		else
			ix->uidvalidity = empty_validity ? empty_validity : 1;
		next = 1;
	}
	for (i = 0; i < ix->n; i++) {
		uint32_t u = ix->ix[i].disk_uid;

		if (u != 0 && u > last && u < UINT32_MAX) {
			ix->msg[i].uid = u;
			ix->ix[i].uid_ok = 1;
			if (u >= next)
				next = u + 1;
		} else {
			ix->msg[i].uid = next++;
			ix->ix[i].uid_ok = 0;
		}
		last = ix->msg[i].uid;
	}
	ix->uidnext = next;
}

/* ---- sp_open and friends ------------------------------------------------------------------ */

static int
mb_scan(struct sp_mbox *mb, struct sp_err *err)
{
	struct sp_lock *lock = NULL;
	struct sp_index nix, cix;
	char jp[SP_PATH_MAX];
	struct stat st;
	time_t now;
	int seeded;

	memset(&nix, 0, sizeof nix);
	nix.base_next_off = -1;
	if (sp_index_seed(&nix, &mb->ix) == -1) {
		sp_index_free(&nix);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	}
	/* A journal left by a crash: recover it under the exclusive lock. */
	if (sp_journal_path(mb->path, jp, sizeof jp) == 0 &&
	    lstat(jp, &st) == 0) {
		int rw = open(mb->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC), r;

		/* Without write access we read the file as it is (the next
		 * writer recovers it); but if we could recover and cannot take
		 * the lock to do it, we must not index a half-applied
		 * rewrite: fail, the caller retries. */
		if (rw != -1) {
			r = sp_lock(rw, mb->path, SP_LOCK_EXCL, &lock, err);
			if (r == 0) {
				r = sp_journal_recover(rw, mb->path, err);
				sp_unlock(&lock);
			}
			close(rw);
			if (r == -1) {
				sp_index_free(&nix);
				return -1;
			}
		}
	}
	if (sp_lock(mb->fd, mb->path, SP_LOCK_SHARED, &lock, err) == -1) {
		sp_index_free(&nix);
		return -1;
	}
	if (fstat(mb->fd, &st) == -1) {
		sp_fail_errno(err, errno, "fstat", mb->path);
		sp_unlock(&lock);
		sp_index_free(&nix);
		return -1;
	}
	/* An unchanged mailbox: its index from the cache (ixcache.c). */
	now = time(NULL);
	mb->cache_due = 0;
	if (sp_cache_load(mb->path, &st, &nix, &cix) == 0) {
		sp_unlock(&lock);
		sp_index_free(&nix);
		sp_index_free(&mb->ix);
		mb->ix = cix;
		mb->st = st;
		return 0;
	}
	/* Only an unseeded scan is the file's own keyword table. */
	seeded = nix.nkw > 0;
	if (sp_scan(mb->fd, 0, st.st_size, &nix, err) == -1) {
		if (errno != 0 && err != NULL && err->cls == SP_OK)
			sp_fail_errno(err, errno, "read", mb->path);
		sp_unlock(&lock);
		sp_index_free(&nix);
		return -1;
	}
	sp_unlock(&lock);
	mb->cache_due = !seeded;
	mb->cache_key = st;
	mb->cache_now = now;
	mb->cache_nkw = nix.nkw;
	sp_index_free(&mb->ix);
	mb->ix = nix;
	mb->st = st;
	return 0;
}

/* Save the open's scan as the index cache if it is still the index in use:
 * with the file's own keyword table, never a session's pending change
 * (sp_cache_save writes the state as loaded from the file). */
static void
mb_save_cache(struct sp_mbox *mb)
{
	struct sp_index file;

	if (!mb->cache_due || mb->fd == -1 ||
	    !sp_stat_same(&mb->st, &mb->cache_key))
		return;
	file = mb->ix;
	file.nkw = mb->cache_nkw;
	sp_cache_save(mb->path, mb->fd, &mb->cache_key, mb->cache_now, &file);
}

static int
mb_openfd(struct sp_mbox *mb, struct sp_err *err)
{
	struct stat st;

	mb->fd = open(mb->path, ((mb->flags & SP_RDWR) ? O_RDWR : O_RDONLY) |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (mb->fd == -1) {
		if (errno == ENOENT && (mb->flags & SP_CREATE))
			return 0;
		return sp_fail_errno(err, errno, "open", mb->path);
	}
	if (fstat(mb->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(mb->fd);
		mb->fd = -1;
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s is not a regular file", mb->path);
	}
	return 0;
}

int
sp_open(const char *path, int flags, struct sp_mbox **mb_r, struct sp_err *err)
{
	struct sp_mbox *mb;

	*mb_r = NULL;
	mb = calloc(1, sizeof *mb);
	if (mb == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	if (snprintf(mb->path, sizeof mb->path, "%s", path) >=
	    (int)sizeof mb->path) {
		free(mb);
		return sp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path too long");
	}
	mb->flags = flags;
	mb->ix.base_next_off = -1;
	if (mb_openfd(mb, err) == -1) {
		free(mb);
		return -1;
	}
	if (mb->fd == -1) {
		mb->ix.uidvalidity = (uint32_t)time(NULL);
		mb->ix.uidnext = 1;
	} else if (mb_scan(mb, err) == -1) {
		close(mb->fd);
		sp_index_free(&mb->ix);
		free(mb);
		return -1;
	}
	*mb_r = mb;
	sp_err_ok(err);
	return 0;
}

void
sp_close(struct sp_mbox **mbp)
{
	struct sp_mbox *mb;

	if (mbp == NULL || (mb = *mbp) == NULL)
		return;
	mb_save_cache(mb);
	sp_unmap(mb);
	if (mb->fd != -1)
		close(mb->fd);
	sp_index_free(&mb->ix);
	free(mb);
	*mbp = NULL;
}

uint32_t
sp_count(const struct sp_mbox *mb)
{
	return mb->ix.n;
}

const struct sp_msg *
sp_msg(const struct sp_mbox *mb, uint32_t i)
{
	return i < mb->ix.n ? &mb->ix.msg[i] : NULL;
}

uint32_t
sp_uidvalidity(const struct sp_mbox *mb)
{
	return mb->ix.uidvalidity;
}

uint32_t
sp_uidnext(const struct sp_mbox *mb)
{
	return mb->ix.uidnext;
}

const char *
sp_keyword(const struct sp_mbox *mb, unsigned i)
{
	return i < mb->ix.nkw ? mb->ix.kw[i] : NULL;
}

int
sp_keyword_index(struct sp_mbox *mb, const char *name, int create)
{
	unsigned i;

	for (i = 0; i < mb->ix.nkw; i++)
		if (strcasecmp(mb->ix.kw[i], name) == 0)
			return (int)i;
	if (!create)
		return -1;
	return sp_kw_add(&mb->ix, name, strlen(name));
}

void
sp_set_state(struct sp_mbox *mb, uint32_t i, uint32_t flags, uint32_t keywords)
{
	if (i >= mb->ix.n)
		return;
	if (mb->ix.msg[i].flags == flags && mb->ix.msg[i].keywords == keywords)
		return;
	mb->ix.msg[i].flags = flags;
	mb->ix.msg[i].keywords = keywords;
	mb->ix.ix[i].dirty = 1;
}

/*
 * Pending changes and merging.  A session's change to a message is what
 * its in-memory state adds to and removes from the state it loaded from
 * the file (disk_flags, disk_kw); another process may have changed other
 * bits of the file meanwhile.  Merging applies only our change to the
 * file's current state: new = (now | added) & ~removed, for flags and for
 * keywords, the latter by name (the two keyword tables may differ), so two
 * sessions changing different flags of one message both win.
 */
void
sp_kw_map(struct sp_index *dst, const struct sp_index *src, int *map)
{
	unsigned k;

	for (k = 0; k < SP_KEYWORDS_MAX; k++)
		map[k] = -1;
	for (k = 0; k < src->nkw; k++)
		map[k] = sp_kw_add(dst, src->kw[k], strlen(src->kw[k]));
}

void
sp_state_merge(const struct sp_index *old, uint32_t j, const int *map,
    uint32_t nowf, uint32_t nowk, uint32_t *f_r, uint32_t *k_r)
{
	const struct sp_msg *m = &old->msg[j];
	const struct sp_ixmsg *x = &old->ix[j];
	uint32_t addk = 0, delk = 0, k;

	if (!x->dirty) {
		*f_r = nowf;
		*k_r = nowk;
		return;
	}
	for (k = 0; k < old->nkw && k < SP_KEYWORDS_MAX; k++) {
		uint32_t bit = 1u << k, to;

		if (map[k] < 0 || ((m->keywords ^ x->disk_kw) & bit) == 0)
			continue;
		to = 1u << map[k];
		if (m->keywords & bit)
			addk |= to;
		else
			delk |= to;
	}
	*f_r = (nowf | (m->flags & ~x->disk_flags)) &
	    ~(x->disk_flags & ~m->flags);
	*k_r = (nowk | addk) & ~delk;
}

/* Carry in-memory changes of OLD into NEW by UID (both ascending). */
static void
carry_state(struct sp_index *nix, const struct sp_index *old)
{
	int map[SP_KEYWORDS_MAX];
	uint32_t i = 0, j = 0;

	if (nix->uidvalidity != old->uidvalidity)
		return;
	sp_kw_map(nix, old, map);
	while (i < nix->n && j < old->n) {
		if (nix->msg[i].uid < old->msg[j].uid)
			i++;
		else if (nix->msg[i].uid > old->msg[j].uid)
			j++;
		else {
			if (old->ix[j].dirty) {
				sp_state_merge(old, j, map, nix->msg[i].flags,
				    nix->msg[i].keywords, &nix->msg[i].flags,
				    &nix->msg[i].keywords);
				nix->ix[i].dirty = 1;
			}
			i++;
			j++;
		}
	}
}

/*
 * Appended mail: the file grew and the last message we know is still
 * where it was (same From_ line).  Re-scan from that message (it may have
 * been incomplete).
 */
static int
refresh_append(struct sp_mbox *mb, const struct stat *st, struct sp_err *err)
{
	struct sp_index *ix = &mb->ix;
	struct sp_lock *lock = NULL;
	struct sp_msg last;
	struct sp_ixmsg lastx;
	char buf[SP_FROMLINE_MAX];
	ssize_t r;
	const char *nl;
	uint32_t n0;

	if (ix->n == 0)
		return 1;	/* nothing to compare: rebuild */
	last = ix->msg[ix->n - 1];
	lastx = ix->ix[ix->n - 1];
	r = pread(mb->fd, buf, sizeof buf, last.from_off);
	if (r <= 0 || (nl = memchr(buf, '\n', (size_t)r)) == NULL ||
	    sp_hash(buf, (size_t)(nl - buf)) != lastx.fromhash)
		return 1;
	if (sp_lock(mb->fd, mb->path, SP_LOCK_SHARED, &lock, err) == -1)
		return -1;
	n0 = ix->n - 1;
	ix->n = n0;
	if (sp_scan(mb->fd, last.from_off, st->st_size, ix, err) == -1 ||
	    ix->n <= n0 || ix->msg[n0].uid != last.uid) {
		/* Something else changed: rebuild from scratch. */
		sp_unlock(&lock);
		ix->n = n0 + 1;
		ix->msg[n0] = last;
		ix->ix[n0] = lastx;
		return 1;
	}
	sp_unlock(&lock);
	/* The old last message keeps its in-memory changes, if any (else
	 * what the file says now: it may have been incomplete). */
	if (lastx.dirty) {
		struct sp_index one = *ix;
		int map[SP_KEYWORDS_MAX];
		unsigned k;

		/* Same keyword table (the tail scan only adds to it). */
		for (k = 0; k < SP_KEYWORDS_MAX; k++)
			map[k] = (int)k;
		one.msg = &last;
		one.ix = &lastx;
		sp_state_merge(&one, 0, map, ix->msg[n0].flags,
		    ix->msg[n0].keywords, &ix->msg[n0].flags,
		    &ix->msg[n0].keywords);
		ix->ix[n0].dirty = 1;
	}
	mb->st = *st;
	return 0;
}

int
sp_refresh(struct sp_mbox *mb, struct sp_err *err)
{
	struct sp_index old;
	struct stat st;
	uint32_t n0 = mb->ix.n;
	int r;

	if (mb->fd == -1) {
		if (mb_openfd(mb, err) == -1)
			return -1;
		if (mb->fd == -1)
			return 0;
		memset(&mb->st, 0, sizeof mb->st);
	}
	if (fstat(mb->fd, &st) == -1)
		return sp_fail_errno(err, errno, "fstat", mb->path);
	{
		struct stat lst;

		/* Replaced by rename (some MUAs do): follow the name. */
		if (lstat(mb->path, &lst) == 0 && (lst.st_ino != st.st_ino ||
		    lst.st_dev != st.st_dev)) {
			close(mb->fd);
			if (mb_openfd(mb, err) == -1) {
				mb->fd = -1;
				return -1;
			}
			if (mb->fd == -1 || fstat(mb->fd, &st) == -1)
				return sp_fail(err, SP_TEMPFAIL, "4.3.0",
				    "mailbox %s disappeared", mb->path);
			memset(&mb->st, 0, sizeof mb->st);
		}
	}
	if (st.st_size == mb->st.st_size &&
	    st.st_mtim.tv_sec == mb->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == mb->st.st_mtim.tv_nsec &&
	    st.st_ino == mb->st.st_ino)
		return 0;
	sp_unmap(mb);
	if (st.st_size > mb->st.st_size && st.st_ino == mb->st.st_ino) {
		r = refresh_append(mb, &st, err);
		if (r == -1)
			return -1;
		if (r == 0)
			return mb->ix.n != n0 ? 1 : 0;
	}
	/* Rewritten: rebuild, keep in-memory changes by UID. */
	old = mb->ix;
	memset(&mb->ix, 0, sizeof mb->ix);
	mb->ix.base_next_off = -1;
	if (sp_index_seed(&mb->ix, &old) == -1 || mb_scan(mb, err) == -1) {
		sp_index_free(&mb->ix);
		mb->ix = old;
		return -1;
	}
	carry_state(&mb->ix, &old);
	sp_index_free(&old);
	return 2;
}
