/*
 * serve.c - the served form of a message (what POP3 and IMAP clients
 * see): state headers left out, one '>' removed from /^>+From / lines,
 * CRLF line ends.  Reads with pread, so a file cut by another program
 * gives an error, never SIGBUS.
 *
 * One implementation of these rules: a push transform (sp_xf_*) that turns
 * stored bytes into served bytes in one pass, copying 16 bytes at a time
 * between line ends, with POP3 dot-stuffing folded in.  sp_serve_* feeds
 * it from one pread per message (or per SP_SERVE_BUF) and writes into the
 * caller's buffer, which for pop3d is its output buffer; sp_served (imapd)
 * is that reader into a malloc'ed copy, sp_lines that reader cut at its
 * line ends.  The unit test holds the transform to a naive statement of
 * the rules of its own.
 *
 * Also here: sp_rd_*, a line reader over pread (the rewrite's).
 */
#include <sys/types.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool_int.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* ---- a line reader over pread ----------------------------------------- */

/* First size of the line reader's buffer; it grows for longer lines. */
#define SP_RD_BUF	((size_t)64 * 1024)

int
sp_rd_init(struct sp_rd *r, int fd, off_t from, off_t end)
{
	r->fd = fd;
	r->pos = from;
	r->end = end;
	r->start = r->len = 0;
	r->cap = SP_RD_BUF;
	r->buf = malloc(r->cap);
	return r->buf == NULL ? -1 : 0;
}

void
sp_rd_done(struct sp_rd *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Read more into the buffer: 1 read, 0 at the end, -1 error. */
static int
rd_fill(struct sp_rd *r)
{
	off_t at = r->pos + (off_t)r->len;
	size_t room;
	ssize_t n;

	if (at >= r->end)
		return 0;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->pos += (off_t)r->start;
		r->len -= r->start;
		r->start = 0;
		at = r->pos + (off_t)r->len;
	}
	if (r->len == r->cap) {
		char *nb;

		if (r->cap > (size_t)SP_MESSAGE_MAX) {
			errno = EFBIG;
			return -1;
		}
		nb = realloc(r->buf, r->cap * 2);
		if (nb == NULL)
			return -1;
		r->buf = nb;
		r->cap *= 2;
	}
	room = r->cap - r->len;
	if ((off_t)room > r->end - at)
		room = (size_t)(r->end - at);
	do
		n = pread(r->fd, r->buf + r->len, room, at);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0) {
		errno = EIO;	/* the file is shorter than the index says */
		return -1;
	}
	r->len += (size_t)n;
	return 1;
}

int
sp_rd_line(struct sp_rd *r, const char **p, size_t *n, int *lf)
{
	size_t scanned = r->start;

	for (;;) {
		const char *nl = memchr(r->buf + scanned, '\n', r->len - scanned);
		size_t done;
		int f;

		if (nl != NULL) {
			*p = r->buf + r->start;
			*n = (size_t)(nl - *p);
			*lf = 1;
			r->start = (size_t)(nl - r->buf) + 1;
			return 1;
		}
		done = r->len - r->start;
		f = rd_fill(r);
		if (f == -1)
			return -1;
		if (f == 0) {
			if (r->start == r->len)
				return 0;
			*p = r->buf + r->start;
			*n = r->len - r->start;
			*lf = 0;
			r->start = r->len;
			return 1;
		}
		scanned = r->start + done;
	}
}

/* Is message I still where the index says?  (Its From_ line.) */
static int
check_msg(struct sp_mbox *mb, uint32_t i, struct sp_err *err)
{
	char buf[SP_FROMLINE_MAX];
	const char *nl;
	ssize_t n;

	if (mb->fd == -1 || i >= mb->ix.n)
		return sp_fail(err, SP_PERMFAIL, "5.1.0", "no message %u", i + 1);
	n = pread(mb->fd, buf, sizeof buf, mb->ix.msg[i].from_off);
	if (n <= 0 || (nl = memchr(buf, '\n', (size_t)n)) == NULL ||
	    sp_hash(buf, (size_t)(nl - buf)) != mb->ix.ix[i].fromhash)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "mailbox %s was changed by another program", mb->path);
	return 0;
}

/* ---- the served-form transform ----------------------------------------- */

/* States of struct sp_xf. */
enum {
	XF_HLS,		/* at the start of a header line */
	XF_PEEK,	/* a header line start cut by the input, in x->peek */
	XF_SKIP,	/* in a state header line: dropped up to its LF */
	XF_HTAIL,	/* after the header's blank line: the rest of the header
			 * segment is dropped (the body starts at body_off) */
	XF_LS,		/* at the start of a served line */
	XF_GT,		/* after a '>' at a line start, matching "From "; the
			 * '>' and x->gt bytes of "From " are withheld */
	XF_MID,		/* in a served line: copied up to its LF */
	XF_DONE
};

static const char xf_from[] = "From ";

_Static_assert(SP_XF_SLACK <= SP_SERVE_MIN,
    "sp_serve_read's smallest buffer must hold any step of the transform");

void
sp_xf_init(struct sp_xf *x, enum sp_part part, uint64_t hdr_len,
    uint64_t body_lines, int dot)
{
	memset(x, 0, sizeof *x);
	x->dot = dot;
	x->lines_left = body_lines;
	x->hdr_only = part == SP_PART_HEADER;
	if (part == SP_PART_BODY) {
		x->st = body_lines == 0 ? XF_DONE : XF_LS;
	} else {
		x->in_hdr = 1;
		x->hdr_left = hdr_len;
		x->st = XF_HLS;
	}
}

int
sp_xf_done(const struct sp_xf *x)
{
	return x->st == XF_DONE;
}

/* The end of a served line at its LF: CRLF, or only LF after the CR the
 * line ended in. */
static char *
xf_eol(struct sp_xf *x, char *o)
{
	if (!x->last_cr)
		*o++ = '\r';
	*o++ = '\n';
	x->last_cr = 0;
	if (x->in_hdr)
		x->st = XF_HLS;
	else
		x->st = --x->lines_left == 0 ? XF_DONE : XF_LS;
	return o;
}

/* A '>' line start that is not a quoted From_ line: what was withheld
 * goes out as it was. */
static char *
xf_gt_flush(struct sp_xf *x, char *o)
{
	*o++ = '>';
	memcpy(o, xf_from, (size_t)x->gt);
	o += x->gt;
	x->st = XF_MID;
	x->last_cr = 0;
	return o;
}

/* The end of a line cut by the end of its segment: always CRLF (a CR that
 * no LF follows is text and stays). */
static char *
xf_unterminated(struct sp_xf *x, char *o)
{
	if (x->st == XF_GT)
		o = xf_gt_flush(x, o);
	*o++ = '\r';
	*o++ = '\n';
	x->last_cr = 0;
	return o;
}

#if defined(__SSE2__) && defined(__GNUC__)
/*
 * The bulk of XF_MID, 16 bytes at a time: each block is stored whole and
 * the output advanced to its first LF, where the line end goes.  A line
 * goes on in the same loop unless its first byte needs the line-start step
 * ('>', a dot to stuff), it is a header line (XF_HLS decides), or TOP's
 * count is reached.  Stops with fewer than 16 input bytes or 18 bytes of
 * room (a block and CR LF); xf_line does the rest.  Returns the bytes
 * consumed (at least one: N >= 16 and OREM >= 18 on entry).
 */
static size_t
xf_mid_sse2(struct sp_xf *x, const char *p, size_t n, char **op, size_t orem)
{
	const __m128i nl = _mm_set1_epi8('\n');
	const char *s = p, *e = p + n, *ls = p;	/* ls: this line's first byte */
	char *o = *op, *oe = o + orem;
	int cr = x->last_cr;	/* the line's byte before P is a CR */

	while (e - s >= 16 && oe - o >= 18) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
		unsigned j;

		_mm_storeu_si128((__m128i *)(void *)o, v);
		if (m == 0) {
			/* a second block in the same round */
			if (e - s < 32 || oe - o < 34) {
				s += 16;
				o += 16;
				continue;
			}
			v = _mm_loadu_si128((const __m128i *)(const void *)
			    (s + 16));
			m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
			_mm_storeu_si128((__m128i *)(void *)(o + 16), v);
			if (m == 0) {
				s += 32;
				o += 32;
				continue;
			}
			m <<= 16;
		}
		j = (unsigned)__builtin_ctz(m);
		s += j;
		o += j;
		if (!(s > ls ? s[-1] == '\r' : cr))
			*o++ = '\r';
		*o++ = '\n';
		ls = ++s;
		cr = 0;
		if (x->in_hdr) {
			x->st = XF_HLS;
			break;
		}
		if (--x->lines_left == 0) {
			x->st = XF_DONE;
			break;
		}
		if (s == e || *s == '>' || (*s == '.' && x->dot)) {
			x->st = XF_LS;
			break;
		}
	}
	x->last_cr = s > ls ? s[-1] == '\r' : cr;
	*op = o;
	return (size_t)(s - p);
}
#endif

/*
 * One step in a served line (XF_LS, XF_GT, XF_MID) over P/N, N > 0, into
 * *OP with OREM bytes of room: at least 3 in XF_MID, SP_XF_SLACK otherwise.
 * Returns the bytes consumed (0 when only the state changed).
 */
static size_t
xf_line(struct sp_xf *x, const char *p, size_t n, char **op, size_t orem)
{
	char *o = *op;
	size_t k = 0;

	if (x->st == XF_MID) {
		size_t lim = n < orem - 2 ? n : orem - 2;
		const char *lf;

#if defined(__SSE2__) && defined(__GNUC__)
		if (n >= 16 && orem >= 18)
			return xf_mid_sse2(x, p, n, op, orem);
#endif
		lf = memchr(p, '\n', lim);

		k = lf != NULL ? (size_t)(lf - p) : lim;
		memcpy(o, p, k);
		o += k;
		if (k > 0)
			x->last_cr = p[k - 1] == '\r';
		if (lf != NULL) {
			o = xf_eol(x, o);
			k++;
		}
	} else if (x->st == XF_LS) {
		if (p[0] == '\n') {
			o = xf_eol(x, o);
			k = 1;
		} else if (p[0] == '>') {
			x->st = XF_GT;
			x->gt = 0;
			k = 1;
		} else {
			if (p[0] == '.' && x->dot)
				*o++ = '.';
			x->st = XF_MID;
		}
	} else if (p[0] == '>' && x->gt == 0) {
		*o++ = '>';	/* one of the '>' that stay */
		k = 1;
	} else if (p[0] == xf_from[x->gt]) {
		k = 1;
		if (++x->gt == 5) {	/* quoted From_: one '>' less */
			memcpy(o, xf_from, 5);
			o += 5;
			x->st = XF_MID;
			x->last_cr = 0;
		}
	} else {
		o = xf_gt_flush(x, o);
	}
	*op = o;
	return k;
}

/*
 * What the header line starting with P/N is: all of it if LF (an LF
 * follows), else its first N bytes (SP_XF_PEEK, or all there is before the
 * end of the header segment).  Returns 1 for the blank line that ends the
 * header; otherwise sets the state to XF_SKIP or XF_LS.  A continuation
 * line belongs to the field before it.
 */
static int
xf_hdr_decide(struct sp_xf *x, const char *p, size_t n, int lf)
{
	if (lf && (n == 0 || (n == 1 && p[0] == '\r')))
		return 1;
	if (p[0] != ' ' && p[0] != '\t')
		x->in_state = sp_state_header(p, n) >= 0;
	x->st = x->in_state ? XF_SKIP : XF_LS;
	return 0;
}

static char *
xf_blank(struct sp_xf *x, char *o)
{
	*o++ = '\r';
	*o++ = '\n';
	x->blank = 1;
	x->st = XF_HTAIL;
	return o;
}

/* A peeked line start found served: run it through the line steps (it
 * holds no LF; at most SP_XF_PEEK + 1 bytes come out). */
static void
xf_replay(struct sp_xf *x, char **op)
{
	size_t i = 0;

	if (x->st == XF_LS)
		while (i < x->npeek)
			i += xf_line(x, x->peek + i, x->npeek - i, op,
			    SP_XF_SLACK);
	x->npeek = 0;
}

static size_t
xf_hls(struct sp_xf *x, const char *p, size_t n, char **op)
{
	size_t lim = n < SP_XF_PEEK ? n : SP_XF_PEEK;
	const char *lf = memchr(p, '\n', lim);

	if (lf == NULL && lim < SP_XF_PEEK) {
		/* cut by the input: keep what there is */
		memcpy(x->peek, p, lim);
		x->npeek = lim;
		x->st = XF_PEEK;
		return lim;
	}
	if (xf_hdr_decide(x, p, lf != NULL ? (size_t)(lf - p) : lim,
	    lf != NULL)) {
		*op = xf_blank(x, *op);
		return (size_t)(lf - p) + 1;
	}
	return 0;	/* the line itself is read by the next step */
}

static size_t
xf_peek(struct sp_xf *x, const char *p, size_t n, char **op)
{
	size_t lim = SP_XF_PEEK - x->npeek, k;
	const char *lf;

	if (lim > n)
		lim = n;
	lf = memchr(p, '\n', lim);
	k = lf != NULL ? (size_t)(lf - p) : lim;
	memcpy(x->peek + x->npeek, p, k);
	x->npeek += k;
	if (lf == NULL && x->npeek < SP_XF_PEEK)
		return k;
	if (xf_hdr_decide(x, x->peek, x->npeek, lf != NULL)) {
		x->npeek = 0;
		*op = xf_blank(x, *op);
		return k + 1;
	}
	xf_replay(x, op);
	return k;
}

/* The header segment is over (SP_XF_SLACK bytes of room): end a cut line,
 * add the blank line if there was none, go on with the body. */
static char *
xf_hdr_end(struct sp_xf *x, char *o)
{
	if (x->st == XF_PEEK) {
		(void)xf_hdr_decide(x, x->peek, x->npeek, 0);
		xf_replay(x, &o);
	}
	if (x->st == XF_LS || x->st == XF_GT || x->st == XF_MID)
		o = xf_unterminated(x, o);
	if (!x->blank) {
		*o++ = '\r';
		*o++ = '\n';
	}
	x->in_hdr = 0;
	x->st = x->hdr_only || x->lines_left == 0 ? XF_DONE : XF_LS;
	return o;
}

size_t
sp_xf_run(struct sp_xf *x, const char *in, size_t n, char *out, size_t room,
    size_t *outn)
{
	const char *p = in, *e = in + n;
	char *o = out, *oe = out + room;

	while (x->st != XF_DONE) {
		size_t avail = (size_t)(e - p), orem = (size_t)(oe - o), k;
		const char *lf;

		if (x->in_hdr) {
			if (x->hdr_left == 0) {
				if (orem < SP_XF_SLACK)
					break;
				o = xf_hdr_end(x, o);
				continue;
			}
			if (avail > x->hdr_left)
				avail = (size_t)x->hdr_left;
		}
		if (avail == 0 || orem < (x->st == XF_MID ? 3 : SP_XF_SLACK))
			break;
		switch (x->st) {
		case XF_HLS:
			k = xf_hls(x, p, avail, &o);
			break;
		case XF_PEEK:
			k = xf_peek(x, p, avail, &o);
			break;
		case XF_SKIP:
			lf = memchr(p, '\n', avail);
			k = lf != NULL ? (size_t)(lf - p) + 1 : avail;
			if (lf != NULL)
				x->st = XF_HLS;
			break;
		case XF_HTAIL:
			k = avail;
			break;
		default:
			k = xf_line(x, p, avail, &o, orem);
			break;
		}
		p += k;
		if (x->in_hdr)
			x->hdr_left -= k;
	}
	*outn = (size_t)(o - out);
	return (size_t)(p - in);
}

size_t
sp_xf_end(struct sp_xf *x, char *out)
{
	char *o = out;

	if (x->st != XF_DONE) {
		if (x->in_hdr)
			o = xf_hdr_end(x, o);
		if (x->st == XF_GT || x->st == XF_MID)
			o = xf_unterminated(x, o);
	}
	x->st = XF_DONE;
	return (size_t)(o - out);
}

/* ---- the served-form reader ------------------------------------------- */

/* POP3 TOP wants a few body lines: the first read takes the header and
 * this much of the body (a preview of ~200 lines), not SP_SERVE_BUF. */
#define SP_SERVE_TOP_BODY	((size_t)16 * 1024)

struct sp_serve {
	struct sp_mbox *mb;
	off_t pos;		/* next file offset to read */
	off_t end;		/* end of the part */
	char *buf;		/* stored bytes; buf[start, len) not yet fed */
	size_t cap, start, len;
	struct sp_xf xf;
};

/* Read the next min(cap, end - pos) stored bytes into the buffer. */
static int
serve_fill(struct sp_serve *r)
{
	size_t want = r->cap;

	r->start = r->len = 0;
	if ((off_t)want > r->end - r->pos)
		want = (size_t)(r->end - r->pos);
	while (r->len < want) {
		ssize_t n = pread(r->mb->fd, r->buf + r->len, want - r->len,
		    r->pos);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shorter than the index says */
			return -1;
		}
		r->len += (size_t)n;
		r->pos += (off_t)n;
	}
	return 0;
}

int
sp_serve_open(struct sp_mbox *mb, uint32_t i, enum sp_part part,
    uint64_t body_lines, int flags, struct sp_serve **r_r,
    struct sp_err *err)
{
	const struct sp_msg *m;
	struct sp_serve *r;
	const char *nl;
	size_t fl;

	*r_r = NULL;
	if (mb->fd == -1 || i >= mb->ix.n)
		return sp_fail(err, SP_PERMFAIL, "5.1.0", "no message %u", i + 1);
	m = &mb->ix.msg[i];
	if (part == SP_PART_BODY && check_msg(mb, i, err) == -1)
		return -1;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	r->mb = mb;
	/* The header is read with its From_ line, which is checked from
	 * the same buffer: one pread for a whole message. */
	r->pos = part == SP_PART_BODY ? m->body_off : m->from_off;
	r->end = part == SP_PART_HEADER ? m->body_off : m->end_off;
	r->cap = SP_SERVE_BUF;
	if ((off_t)r->cap > r->end - r->pos)
		r->cap = (size_t)(r->end - r->pos);
	if (body_lines != UINT64_MAX &&
	    (off_t)r->cap > m->body_off - r->pos + (off_t)SP_SERVE_TOP_BODY)
		r->cap = (size_t)(m->body_off - r->pos) + SP_SERVE_TOP_BODY;
	if (r->cap == 0)
		r->cap = 1;
	if ((r->buf = malloc(r->cap)) == NULL) {
		free(r);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	}
	sp_xf_init(&r->xf, part, (uint64_t)(m->body_off - m->hdr_off),
	    body_lines, (flags & SP_SERVE_DOTSTUFF) != 0);
	*r_r = r;
	if (part == SP_PART_BODY)
		return 0;
	if (serve_fill(r) == -1) {
		int e = errno;

		sp_serve_close(r_r);
		return sp_fail_errno(err, e, "read", mb->path);
	}
	fl = r->len < SP_FROMLINE_MAX ? r->len : SP_FROMLINE_MAX;
	if ((nl = memchr(r->buf, '\n', fl)) == NULL ||
	    sp_hash(r->buf, (size_t)(nl - r->buf)) != mb->ix.ix[i].fromhash ||
	    m->hdr_off - m->from_off > (off_t)r->len) {
		sp_serve_close(r_r);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "mailbox %s was changed by another program", mb->path);
	}
	r->start = (size_t)(m->hdr_off - m->from_off);
	return 0;
}

ssize_t
sp_serve_read(struct sp_serve *r, char *buf, size_t cap, struct sp_err *err)
{
	size_t got = 0, k, n;

	if (cap < SP_SERVE_MIN) {
		sp_fail(err, SP_TEMPFAIL, "4.3.0", "sp_serve_read: buffer of "
		    "%zu bytes, fewer than %d", cap, SP_SERVE_MIN);
		return -1;
	}
	while (!sp_xf_done(&r->xf)) {
		if (r->start == r->len) {
			if (r->pos >= r->end) {
				if (cap - got >= SP_XF_SLACK)
					got += sp_xf_end(&r->xf, buf + got);
				break;
			}
			if (serve_fill(r) == -1) {
				sp_fail_errno(err, errno, "read", r->mb->path);
				return -1;
			}
		}
		k = sp_xf_run(&r->xf, r->buf + r->start, r->len - r->start,
		    buf + got, cap - got, &n);
		r->start += k;
		got += n;
		if (k == 0 && n == 0)
			break;		/* BUF is full */
	}
	return (ssize_t)got;
}

void
sp_serve_close(struct sp_serve **r)
{
	if (*r == NULL)
		return;
	free((*r)->buf);
	free(*r);
	*r = NULL;
}

int
sp_served(struct sp_mbox *mb, uint32_t i, enum sp_part part, char **buf_r,
    size_t *len_r, struct sp_err *err)
{
	struct sp_serve *r;
	uint64_t want;
	size_t cap, len = 0;
	ssize_t n;
	char *buf;

	*buf_r = NULL;
	*len_r = 0;
	if (i >= mb->ix.n)
		return sp_fail(err, SP_PERMFAIL, "5.1.0", "no message %u", i + 1);
	want = part == SP_PART_ALL ? mb->ix.msg[i].size :
	    part == SP_PART_HEADER ? mb->ix.msg[i].hdr_size :
	    mb->ix.msg[i].size - mb->ix.msg[i].hdr_size;
	if (want > SIZE_MAX - SP_SERVE_MIN - 1)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	if (sp_serve_open(mb, i, part, UINT64_MAX, 0, &r, err) == -1)
		return -1;
	/* Room for SP_SERVE_MIN more than expected: a message that grew
	 * shows as too long instead of stalling the reader. */
	cap = (size_t)want + SP_SERVE_MIN;
	if ((buf = malloc(cap + 1)) == NULL) {
		sp_serve_close(&r);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	}
	do {
		if (cap - len < SP_SERVE_MIN) {
			n = 0;		/* longer than the index says */
			break;
		}
		if ((n = sp_serve_read(r, buf + len, cap - len, err)) > 0)
			len += (size_t)n;
	} while (n > 0);
	sp_serve_close(&r);
	if (n == -1 || len != want) {
		free(buf);
		if (n == -1)
			return -1;
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "mailbox %s was changed by another program", mb->path);
	}
	/* A NUL after the data (not counted) for the convenience of C
	 * string functions on text parts. */
	buf[len] = '\0';
	*buf_r = buf;
	*len_r = len;
	return 0;
}

/* ---- sp_lines: the served form line by line -------------------------- */

/* First size of sp_lines' buffer; it doubles for a longer line. */
#define SP_LINES_BUF	((size_t)64 * 1024)

/*
 * The reader's output cut at its line ends.  Every LF it writes ends a line
 * and follows a CR (a line end is CRLF, and a stored CR LF is served as
 * is), so a line is what lies before CR LF.  A line that does not fit the
 * buffer makes it grow: a line is never handed out in pieces.
 */
int
sp_lines(struct sp_mbox *mb, uint32_t i, enum sp_part part, sp_line_fn fn,
    void *ctx, struct sp_err *err)
{
	struct sp_serve *r;
	size_t cap = SP_LINES_BUF, len = 0, scanned = 0, start;
	int in_body = part == SP_PART_BODY, rc = 0;
	const char *lf;
	char *buf;
	ssize_t k;

	if (sp_serve_open(mb, i, part, UINT64_MAX, 0, &r, err) == -1)
		return -1;
	if ((buf = malloc(cap)) == NULL) {
		sp_serve_close(&r);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	}
	for (;;) {
		if (cap - len < SP_SERVE_MIN) {
			char *nb;

			if ((nb = realloc(buf, cap * 2)) == NULL) {
				rc = sp_fail(err, SP_TEMPFAIL, "4.3.0",
				    "out of memory");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		if ((k = sp_serve_read(r, buf + len, cap - len, err)) <= 0) {
			rc = (int)k;
			break;
		}
		len += (size_t)k;
		start = 0;
		while (rc == 0 && (lf = memchr(buf + scanned, '\n',
		    len - scanned)) != NULL) {
			size_t n = (size_t)(lf - buf) - start;

			if (n > 0 && lf[-1] == '\r')
				n--;
			if (n > (size_t)SP_MESSAGE_MAX)
				break;		/* refused below, from START */
			rc = fn(ctx, buf + start, n, in_body);
			if (n == 0)
				in_body = 1;	/* the header's blank line */
			start = scanned = (size_t)(lf - buf) + 1;
		}
		if (rc != 0)
			break;
		if (len - start > (size_t)SP_MESSAGE_MAX) {
			rc = sp_fail(err, SP_PERMFAIL, "5.3.4", "read %s: a "
			    "line longer than %lld bytes", mb->path,
			    (long long)SP_MESSAGE_MAX);
			break;
		}
		if (start > 0) {
			memmove(buf, buf + start, len - start);
			len -= start;
		}
		scanned = len;
	}
	/* The reader ends every line in CR LF: nothing is left here, but
	 * should a last line come without, it is still handed out. */
	if (rc == 0 && len > 0)
		rc = fn(ctx, buf, len, in_body);
	free(buf);
	sp_serve_close(&r);
	return rc;
}

/* ---- stored bytes ---------------------------------------------------- */

/*
 * The stored bytes of message I.  Copied into memory rather than mapped:
 * another program may cut the file at any time, and a mapping would then
 * give SIGBUS.  Copies live until sp_unmap.
 */
int
sp_raw(struct sp_mbox *mb, uint32_t i, const char **p_r, size_t *len_r,
    struct sp_err *err)
{
	const struct sp_msg *m;
	struct sp_raw *nr;
	size_t len, done = 0;
	char *p;

	*p_r = NULL;
	*len_r = 0;
	if (check_msg(mb, i, err) == -1)
		return -1;
	m = &mb->ix.msg[i];
	len = (size_t)(m->end_off - m->from_off);
	nr = realloc(mb->raw, (mb->nraw + 1) * sizeof *nr);
	if (nr == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	mb->raw = nr;
	p = malloc(len + 1);
	if (p == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	while (done < len) {
		ssize_t n = pread(mb->fd, p + done, len - done,
		    m->from_off + (off_t)done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n == 0 ? EIO : errno;

			free(p);
			return sp_fail_errno(err, e, "read", mb->path);
		}
		done += (size_t)n;
	}
	p[len] = '\0';
	mb->raw[mb->nraw].p = p;
	mb->raw[mb->nraw].len = len;
	mb->nraw++;
	*p_r = p;
	*len_r = len;
	return 0;
}

void
sp_unmap(struct sp_mbox *mb)
{
	size_t i;

	for (i = 0; i < mb->nraw; i++)
		free(mb->raw[i].p);
	free(mb->raw);
	mb->raw = NULL;
	mb->nraw = 0;
}

int
sp_envelope_from(struct sp_mbox *mb, uint32_t i, char *buf, size_t cap,
    struct sp_err *err)
{
	char line[SP_FROMLINE_MAX];
	const char *nl, *snd;
	size_t slen;
	time_t when;
	ssize_t n;

	if (cap > 0)
		buf[0] = '\0';
	if (check_msg(mb, i, err) == -1)
		return -1;
	n = pread(mb->fd, line, sizeof line, mb->ix.msg[i].from_off);
	if (n <= 0 || (nl = memchr(line, '\n', (size_t)n)) == NULL ||
	    !sp_from_line(line, (size_t)(nl - line), &when, &snd, &slen))
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "mailbox %s was changed by another program", mb->path);
	if (cap == 0)
		return 0;
	if (slen >= cap)
		slen = cap - 1;
	memcpy(buf, snd, slen);
	buf[slen] = '\0';
	return 0;
}
