/*
 * serve.c - the served form of a message (what POP3 and IMAP clients
 * see): state headers left out, one '>' removed from /^>+From / lines,
 * CRLF line ends.  Reads with pread through a small buffer, so a file cut
 * by another program gives an error, never SIGBUS.
 */
#include <sys/types.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool_int.h"

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

static int
lines_range(struct sp_mbox *mb, off_t from, off_t to, int hdr,
    sp_line_fn fn, void *ctx, struct sp_err *err)
{
	struct sp_rd r;
	const char *p;
	size_t n;
	int lf, rc = 0, in_state = 0, blank = 0, got;

	if (sp_rd_init(&r, mb->fd, from, to) == -1)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	while ((got = sp_rd_line(&r, &p, &n, &lf)) == 1) {
		if (n > 0 && p[n - 1] == '\r' && lf)
			n--;
		if (hdr) {
			if (n == 0) {
				blank = 1;
				rc = fn(ctx, "", 0, 0);
				break;
			}
			if (p[0] != ' ' && p[0] != '\t')
				in_state = sp_state_header(p, n) >= 0;
			if (in_state)
				continue;
		}
		if (n > 0 && p[0] == '>' && sp_is_quoted_from(p, n)) {
			p++;
			n--;
		}
		if ((rc = fn(ctx, p, n, !hdr)) != 0)
			break;
	}
	if (got == -1) {
		int e = errno;

		sp_rd_done(&r);
		return sp_fail_errno(err, e, "read", mb->path);
	}
	if (hdr && !blank && rc == 0)
		rc = fn(ctx, "", 0, 0);
	sp_rd_done(&r);
	return rc;
}

int
sp_lines(struct sp_mbox *mb, uint32_t i, enum sp_part part, sp_line_fn fn,
    void *ctx, struct sp_err *err)
{
	const struct sp_msg *m;
	int rc;

	if (check_msg(mb, i, err) == -1)
		return -1;
	m = &mb->ix.msg[i];
	if (part != SP_PART_BODY) {
		rc = lines_range(mb, m->hdr_off, m->body_off, 1, fn, ctx, err);
		if (rc != 0 || part == SP_PART_HEADER)
			return rc;
	}
	return lines_range(mb, m->body_off, m->end_off, 0, fn, ctx, err);
}

struct served {
	char *buf;
	size_t len, cap;
	int oom;
};

static int
served_line(void *ctx, const char *line, size_t len, int in_body)
{
	struct served *s = ctx;

	(void)in_body;
	if (s->len + len + 2 > s->cap) {
		size_t nc = (s->len + len + 2) * 2;
		char *nb = realloc(s->buf, nc);

		if (nb == NULL) {
			s->oom = 1;
			return 1;
		}
		s->buf = nb;
		s->cap = nc;
	}
	memcpy(s->buf + s->len, line, len);
	s->buf[s->len + len] = '\r';
	s->buf[s->len + len + 1] = '\n';
	s->len += len + 2;
	return 0;
}

int
sp_served(struct sp_mbox *mb, uint32_t i, enum sp_part part, char **buf_r,
    size_t *len_r, struct sp_err *err)
{
	struct served s;
	uint64_t want;
	int rc;

	*buf_r = NULL;
	*len_r = 0;
	if (i >= mb->ix.n)
		return sp_fail(err, SP_PERMFAIL, "5.1.0", "no message %u", i + 1);
	want = part == SP_PART_ALL ? mb->ix.msg[i].size :
	    part == SP_PART_HEADER ? mb->ix.msg[i].hdr_size :
	    mb->ix.msg[i].size - mb->ix.msg[i].hdr_size;
	memset(&s, 0, sizeof s);
	s.cap = (size_t)want + 1;
	s.buf = malloc(s.cap);
	if (s.buf == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	rc = sp_lines(mb, i, part, served_line, &s, err);
	if (rc == 0 && s.len != want)
		rc = sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "mailbox %s was changed by another program", mb->path);
	else if (rc == 1 && s.oom)
		rc = sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	if (rc == 0 && served_line(&s, "", 0, 1) != 0)
		rc = sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	if (rc != 0) {
		free(s.buf);
		return -1;
	}
	/* A NUL after the data (not counted) for the convenience of C
	 * string functions on text parts. */
	s.len -= 2;
	s.buf[s.len] = '\0';
	*buf_r = s.buf;
	*len_r = s.len;
	return 0;
}

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
