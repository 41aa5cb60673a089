/*
 * test_serve.c - the served form (libspool/serve.c) against a reference of
 * this file's own: a naive statement of spool.h's rules, byte by byte into
 * lines, that calls nothing of libspool.  Foreign mbox files full of edge
 * cases are fed to the transform (sp_xf_run) cut at every chunk size from 1
 * byte to the whole message, for every part, with and without POP3
 * dot-stuffing and TOP line counts, and with an output room as small as it
 * may be; then through the reader (sp_serve_read, sp_served, sp_lines)
 * including a message larger than its read buffer with a line longer than
 * two of them, a file cut under the reader, and into the connection
 * layer's output buffer (io_reserve/io_commit) as pop3d streams RETR.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto.h"
#include "spool.h"
#include "spool_tu.h"
#include "spool_int.h"

static char tdir[256];
static char mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "serve") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir(tdir);
}

#define SEP	"From sender@example.org Thu Nov 26 22:00:00 2026\n"

/*
 * Foreign mailboxes (as mutt, Postfix or a hand edit leave them, not as
 * sp_deliver writes): each string is a whole file.  The messages cover
 * quoted From_ lines (>From, >>>From, >Fromage, >From at a line end), dots
 * to stuff, CR LF and bare CR, state headers with continuation lines, long
 * header names, lines around the 16-byte blocks, a header without a blank
 * line, and files ending without a newline in the body or in the header.
 */
static const char *const files[] = {
	SEP "Subject: a\nFrom: b\n\nbody\n.\n..dots\n. x\n>From here\n"
	"  >From not at start\n>>From there\n>>>From three\n>Fromage\n>From\n"
	">Fro\n>\n>>\n\nlast\n"
	"\n"
	SEP "Subject: crlf\r\nStatus: RO\r\nX-UID: 5\r\n\r\nline\r\n\r\n.\r\n"
	">From x\r\n>From \r\nbare\rcr\r\ncr at end\r\r\n.\r\n\r\n"
	"\n"
	SEP "X-Keywords: a\n b\n\tc\nSubject: s\n continued\n"
	"Content-Length: 10\nX-Status: A\nstatus: lower\nStatusx: y\n"
	"Status\nX-IMAPbase: 1 2\n\t3\n\nbody\n"
	"\n"
	SEP "X-Very-Long-Header-Name-That-Goes-On-And-On-And-On: v\n"
	"X-Keywords:                                              pad\n"
	".dot: header\n>From header\n>Fromage: x\n\t.cont\n"
	"Subject: a long subject line that is longer than thirty-two bytes\n"
	"\nxxxxxxxxxxxxxxx\nxxxxxxxxxxxxxxxx\nxxxxxxxxxxxxxxxxx\n"
	"xxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxx\r\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	".xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	">xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	">Fromxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef\r\n"
	"\n\n\n.\n"
	"\n"
	SEP "Status: O\nX-UID: 3\n\nonly state headers\n"
	"\n"
	SEP "Subject: empty body\n\n"
	"\n"
	SEP "Subject: blank is CR LF\r\n\r\ntext\nFrom me, not a separator\n"
	"\n"
	SEP "Subject: no newline at the end\n\nfirst\n>From last line",

	SEP "Subject: one\n\n.\n"
	"\n"
	SEP "Subject: header only, cut\nX-UID: 7\n continued\n>From h\r",

	SEP "Subject: the end is a quoted From_\n\nx\n>>From ",

	SEP "Status: RO\nX-Status: cut in a state header",

	SEP ".starts with a dot, no colon, no newline",
};

/* ---- the reference: the served form as spool.h states it -------------- */

/*
 * Written from the description in spool.h, not from serve.c, and calling
 * nothing of libspool: the stored bytes are taken one at a time into a
 * line, and each whole line is then judged by the rules.  Slow and plain
 * on purpose, so that it is easy to check by eye and shares no code (and
 * no bug) with the transform it holds to account.
 */

static const char *const ref_state_names[] = { SP_STATE_HEADERS };

struct ref {
	char *p;
	size_t len, cap;
};

static void
ref_add(struct ref *r, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2 + 64;
		r->p = realloc(r->p, r->cap);
		assert_non_null(r->p);
	}
	memcpy(r->p + r->len, p, n);
	r->len += n;
}

/* Does header line L/N begin a state header field: is the text before its
 * first ':' one of SP_STATE_HEADERS, in any case? */
static int
ref_state_field(const char *l, size_t n)
{
	size_t k = 0, i;

	while (k < n && l[k] != ':')
		k++;
	if (k == n)
		return 0;
	for (i = 0; i < sizeof ref_state_names / sizeof ref_state_names[0];
	    i++)
		if (strlen(ref_state_names[i]) == k &&
		    strncasecmp(ref_state_names[i], l, k) == 0)
			return 1;
	return 0;
}

/* Line L/N out as POP3 sends it: a '.' in front if DOT and it starts with
 * one, CR LF after. */
static void
ref_out(struct ref *r, const char *l, size_t n, int dot)
{
	if (dot && n > 0 && l[0] == '.')
		ref_add(r, ".", 1);
	ref_add(r, l, n);
	ref_add(r, "\r\n", 2);
}

/* Serve stored line L/N (its line end not included): one '>' off if it
 * matches /^>+From /, then out. */
static void
ref_put(struct ref *r, const char *l, size_t n, int dot)
{
	size_t k = 0;

	while (k < n && l[k] == '>')
		k++;
	if (k > 0 && k + 5 <= n && l[k] == 'F' && l[k + 1] == 'r' &&
	    l[k + 2] == 'o' && l[k + 3] == 'm' && l[k + 4] == ' ') {
		l++;
		n--;
	}
	ref_out(r, l, n, dot);
}

/*
 * The served form of PART of message I of the file text F, into R: the
 * header lines that do not belong to a state header field (a line starting
 * with a space or tab continues the field before it), the blank line that
 * ends the header (added if there is none), at most LINES body lines
 * (UINT64_MAX: all), with POP3 dot-stuffing if DOT.  A line ends at an LF
 * or at the end of the message; a CR just before the LF belongs to the
 * line end, any other CR is text.  Only the message's bounds are taken
 * from the index (the separator rules are not the served form's); the
 * header's end is found here and must be the index's body_off.
 */
static void
reference(const char *f, struct sp_mbox *mb, uint32_t i, enum sp_part part,
    int dot, uint64_t lines, struct ref *r)
{
	const struct sp_msg *m = sp_msg(mb, i);
	const char *msg = f + m->from_off;
	size_t n = (size_t)(m->end_off - m->from_off), at, ll = 0;
	size_t body = n;
	int in_hdr = 1, in_state = 0, from_line = 1;
	char *line = malloc(n + 1);

	assert_non_null(line);
	r->len = 0;
	for (at = 0; at <= n; at++) {
		int lf = at < n;

		if (at < n && msg[at] != '\n') {
			line[ll++] = msg[at];
			continue;
		}
		if (!lf && ll == 0)
			break;		/* the message ended with its last LF */
		if (lf && ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (from_line) {
			from_line = 0;	/* the separator: never served */
			assert_int_equal(at + 1, m->hdr_off - m->from_off);
		} else if (in_hdr && lf && ll == 0) {
			in_hdr = 0;
			body = at + 1;
			if (part != SP_PART_BODY)
				ref_add(r, "\r\n", 2);
		} else if (in_hdr) {
			if (line[0] != ' ' && line[0] != '\t')
				in_state = ref_state_field(line, ll);
			if (!in_state && part != SP_PART_BODY)
				ref_put(r, line, ll, dot);
		} else if (part != SP_PART_HEADER && lines > 0) {
			lines--;
			ref_put(r, line, ll, dot);
		}
		ll = 0;
	}
	if (in_hdr && part != SP_PART_BODY)
		ref_add(r, "\r\n", 2);
	assert_int_equal(body, m->body_off - m->from_off);
	free(line);
}

/* ---- sp_lines, CRLF added, as POP3 once streamed it --------------------- */

struct lines_out {
	struct ref out;
	int dot;
	uint64_t left;		/* body lines still wanted */
	int hdr_seen;		/* a line with IN_BODY 0 came */
	int body_seen;		/* a line with IN_BODY 1 came */
	int blank_seen;		/* the header's blank line came */
};

static int
lines_line(void *ctx, const char *line, size_t len, int in_body)
{
	struct lines_out *c = ctx;

	/* IN_BODY is 0 for the header, its blank line last, then 1 */
	if (in_body) {
		c->body_seen = 1;
		if (c->left == 0)
			return 1;
		c->left--;
	} else {
		assert_false(c->body_seen);
		assert_false(c->blank_seen);
		c->hdr_seen = 1;
		c->blank_seen = len == 0;
	}
	ref_out(&c->out, line, len, c->dot);
	return 0;
}

/* sp_lines of PART of message I, with CRLF, dot-stuffing and a TOP count
 * added as pop3d once did, against the reference R. */
static void
check_lines(struct sp_mbox *mb, uint32_t i, enum sp_part part, int dot,
    uint64_t lines, const struct ref *r)
{
	struct lines_out c;
	struct sp_err err;
	int rc;

	memset(&c, 0, sizeof c);
	c.dot = dot;
	c.left = lines;
	rc = sp_lines(mb, i, part, lines_line, &c, &err);
	assert_true(rc == 0 || (rc == 1 && c.left == 0));
	assert_int_equal(c.hdr_seen, part != SP_PART_BODY);
	assert_int_equal(c.blank_seen, part != SP_PART_BODY);
	if (part == SP_PART_HEADER)
		assert_false(c.body_seen);
	assert_int_equal(c.out.len, r->len);
	assert_memory_equal(c.out.p, r->p, r->len);
	free(c.out.p);
}

/* ---- feeding the transform in chunks ------------------------------------ */

/* The stored bytes of PART of message I within the file text F. */
static const char *
part_bytes(const char *f, const struct sp_msg *m, enum sp_part part,
    size_t *len_r, uint64_t *hdr_len_r)
{
	off_t from = part == SP_PART_BODY ? m->body_off : m->hdr_off;
	off_t to = part == SP_PART_HEADER ? m->body_off : m->end_off;

	*len_r = (size_t)(to - from);
	*hdr_len_r = (uint64_t)(m->body_off - m->hdr_off);
	return f + from;
}

/* Feed IN/N to a new transform CHUNK bytes at a time, offering at most ROOM
 * bytes of output per call; the result goes to OUT (capacity CAP). */
static size_t
feed(const char *in, size_t n, enum sp_part part, uint64_t hdr_len, int dot,
    uint64_t lines, size_t chunk, size_t room, char *out, size_t cap)
{
	struct sp_xf x;
	size_t pos = 0, olen = 0;

	sp_xf_init(&x, part, hdr_len, lines, dot);
	while (pos < n && !sp_xf_done(&x)) {
		size_t c = n - pos < chunk ? n - pos : chunk, off = 0;

		while (off < c && !sp_xf_done(&x)) {
			size_t r = cap - olen < room ? cap - olen : room, got;
			size_t k;

			assert_true(r >= SP_XF_SLACK);
			k = sp_xf_run(&x, in + pos + off, c - off, out + olen, r,
			    &got);
			assert_true(got <= r);
			assert_true(k > 0 || got > 0 || sp_xf_done(&x));
			off += k;
			olen += got;
		}
		pos += c;
	}
	assert_true(cap - olen >= SP_XF_SLACK);
	olen += sp_xf_end(&x, out + olen);
	assert_true(sp_xf_done(&x));
	return olen;
}

static struct sp_mbox *
open_file(const char *text)
{
	struct sp_mbox *mb;
	struct sp_err err;
	int fd;

	fd = open(mpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_true(sp_count(mb) > 0);
	return mb;
}

static const enum sp_part parts[] = {
	SP_PART_ALL, SP_PART_HEADER, SP_PART_BODY
};
static const uint64_t counts[] = { UINT64_MAX, 0, 1, 3 };

/* Every message of every file, every part, dot-stuffing on and off, TOP
 * counts, every chunk size from 1 byte to the whole, with ample room and
 * with the least room the transform accepts. */
static void
test_chunks(void **state)
{
	struct ref r = { NULL, 0, 0 };
	size_t fi, pi, ci, chunk, n, olen, cap;
	uint32_t i;
	char *out;

	(void)state;
	for (fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
		struct sp_mbox *mb = open_file(files[fi]);

		for (i = 0; i < sp_count(mb); i++) {
			const struct sp_msg *m = sp_msg(mb, i);

			for (pi = 0; pi < 3; pi++) {
				uint64_t hl;
				const char *in = part_bytes(files[fi], m,
				    parts[pi], &n, &hl);
				int dot;

				cap = 2 * n + 4 * SP_XF_SLACK;
				out = malloc(cap);
				assert_non_null(out);
				for (dot = 0; dot < 2; dot++)
				for (ci = 0; ci < 4; ci++) {
					reference(files[fi], mb, i, parts[pi],
					    dot, counts[ci], &r);
					check_lines(mb, i, parts[pi], dot,
					    counts[ci], &r);
					for (chunk = 1; chunk <= n + 1;
					    chunk++) {
						olen = feed(in, n, parts[pi], hl,
						    dot, counts[ci], chunk,
						    SIZE_MAX, out, cap);
						assert_int_equal(olen, r.len);
						assert_memory_equal(out, r.p,
						    r.len);
						olen = feed(in, n, parts[pi], hl,
						    dot, counts[ci], chunk,
						    SP_XF_SLACK, out, cap);
						assert_int_equal(olen, r.len);
						assert_memory_equal(out, r.p,
						    r.len);
					}
				}
				free(out);
			}
			/* The served sizes of the index are what comes out. */
			reference(files[fi], mb, i, SP_PART_ALL, 0,
			    UINT64_MAX, &r);
			assert_int_equal(m->size, r.len);
			reference(files[fi], mb, i, SP_PART_HEADER, 0,
			    UINT64_MAX, &r);
			assert_int_equal(m->hdr_size, r.len);
		}
		sp_close(&mb);
	}
	free(r.p);
}

/* Through the reader: sp_serve_read with buffers from SP_SERVE_MIN up,
 * and sp_served. */
static void
check_reader(struct sp_mbox *mb, uint32_t i, enum sp_part part, int dot,
    uint64_t lines, size_t bufsz, struct ref *r)
{
	struct sp_serve *s;
	struct sp_err err;
	char *out = malloc(r->len + bufsz), *buf = malloc(bufsz);
	size_t olen = 0;
	ssize_t k;

	assert_non_null(out);
	assert_non_null(buf);
	assert_int_equal(sp_serve_open(mb, i, part, lines,
	    dot ? SP_SERVE_DOTSTUFF : 0, &s, &err), 0);
	while ((k = sp_serve_read(s, buf, bufsz, &err)) > 0) {
		assert_true((size_t)k <= bufsz);
		assert_true(olen + (size_t)k <= r->len);
		memcpy(out + olen, buf, (size_t)k);
		olen += (size_t)k;
	}
	assert_int_equal(k, 0);
	assert_int_equal(sp_serve_read(s, buf, bufsz, &err), 0);
	sp_serve_close(&s);
	assert_null(s);
	assert_int_equal(olen, r->len);
	assert_memory_equal(out, r->p, r->len);
	free(out);
	free(buf);
}

static void
test_reader(void **state)
{
	static const size_t sizes[] = { SP_SERVE_MIN, SP_SERVE_MIN + 1, 100,
	    4096 };
	struct ref r = { NULL, 0, 0 };
	struct sp_err err;
	size_t fi, pi, si, blen;
	uint32_t i;
	char *buf;

	(void)state;
	for (fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
		struct sp_mbox *mb = open_file(files[fi]);

		for (i = 0; i < sp_count(mb); i++)
			for (pi = 0; pi < 3; pi++) {
				for (si = 0; si < 4; si++) {
					reference(files[fi], mb, i, parts[pi],
					    1, 2, &r);
					check_reader(mb, i, parts[pi], 1, 2,
					    sizes[si], &r);
					reference(files[fi], mb, i, parts[pi],
					    0, UINT64_MAX, &r);
					check_reader(mb, i, parts[pi], 0,
					    UINT64_MAX, sizes[si], &r);
				}
				assert_int_equal(sp_served(mb, i, parts[pi],
				    &buf, &blen, &err), 0);
				assert_int_equal(blen, r.len);
				assert_memory_equal(buf, r.p, r.len);
				assert_int_equal(buf[blen], '\0');
				free(buf);
			}
		sp_close(&mb);
	}
	free(r.p);
}

/*
 * A message several times the reader's buffer: a first line two buffers
 * long, then at each later buffer boundary a quoted From_ line or a dot
 * line, cut by the boundary or starting right at it.  The reader streams
 * it (its memory is one buffer, not the message) and gives the reference
 * bytes.
 */
static void
test_big(void **state)
{
	static const char *const edge[] = { ">From x\n", ".\n", ">>From y\r\n",
	    "..z\n" };
	size_t len = 6 * SP_SERVE_BUF, hl, pos, k;
	struct ref r = { NULL, 0, 0 };
	struct sp_mbox *mb;
	char *text;

	(void)state;
	text = malloc(len + 1);
	assert_non_null(text);
	hl = strlen(SEP "Subject: big\n\n");
	memcpy(text, SEP "Subject: big\n\n", hl);
	for (pos = hl; pos < len; pos++)
		text[pos] = pos > 2 * SP_SERVE_BUF + 100 && pos % 61 == 0 ?
		    '\n' : (char)('a' + pos % 26);
	/* the file is read from offset 0 (the From_ line) in buffers */
	for (k = 0; k < 4; k++) {
		size_t b = (2 + k) * SP_SERVE_BUF, at = k % 2 ? b : b - 3;

		text[at - 1] = '\n';
		memcpy(text + at, edge[k], strlen(edge[k]));
	}
	text[len - 1] = '\n';
	text[len] = '\0';
	mb = open_file(text);
	assert_int_equal(sp_count(mb), 1);
	reference(text, mb, 0, SP_PART_ALL, 1, UINT64_MAX, &r);
	check_reader(mb, 0, SP_PART_ALL, 1, UINT64_MAX, 65536, &r);
	check_reader(mb, 0, SP_PART_ALL, 1, UINT64_MAX, SP_SERVE_MIN, &r);
	check_lines(mb, 0, SP_PART_ALL, 1, UINT64_MAX, &r);
	reference(text, mb, 0, SP_PART_BODY, 0, UINT64_MAX, &r);
	check_reader(mb, 0, SP_PART_BODY, 0, UINT64_MAX, 65536, &r);
	check_lines(mb, 0, SP_PART_BODY, 0, UINT64_MAX, &r);
	reference(text, mb, 0, SP_PART_ALL, 1, 5000, &r);
	check_reader(mb, 0, SP_PART_ALL, 1, 5000, 65536, &r);
	check_lines(mb, 0, SP_PART_ALL, 1, 5000, &r);
	sp_close(&mb);
	free(r.p);
	free(text);
}

/* sp_lines stops at FN's first non-zero value and returns it; a message
 * that does not exist is an error before any call. */
struct stop {
	int calls, at;
};

static int
stop_line(void *ctx, const char *line, size_t len, int in_body)
{
	struct stop *st = ctx;

	(void)line;
	(void)len;
	(void)in_body;
	return ++st->calls == st->at ? 7 : 0;
}

static void
test_lines_stop(void **state)
{
	struct stop st = { 0, 3 };
	struct sp_mbox *mb;
	struct sp_err err;

	(void)state;
	mb = open_file(files[0]);
	assert_int_equal(sp_lines(mb, 0, SP_PART_ALL, stop_line, &st, &err),
	    7);
	assert_int_equal(st.calls, 3);
	st.calls = 0;
	st.at = -1;
	assert_int_equal(sp_lines(mb, sp_count(mb), SP_PART_ALL, stop_line,
	    &st, &err), -1);
	assert_int_equal(err.cls, SP_PERMFAIL);
	assert_int_equal(st.calls, 0);
	sp_close(&mb);
}

/* The file cut by another program under an open reader: an error, never
 * a crash or a short message taken as whole. */
static void
test_cut(void **state)
{
	size_t len = 2 * SP_SERVE_BUF, hl, pos;
	struct stop st = { 0, -1 };
	struct sp_serve *s;
	struct sp_mbox *mb;
	struct sp_err err;
	char *text, *buf;
	ssize_t k = 0;

	(void)state;
	text = malloc(len + 1);
	buf = malloc(65536);
	assert_non_null(text);
	assert_non_null(buf);
	hl = strlen(SEP "Subject: cut\n\n");
	memcpy(text, SEP "Subject: cut\n\n", hl);
	for (pos = hl; pos < len; pos++)
		text[pos] = pos % 70 == 0 ? '\n' : 'x';
	text[len - 1] = '\n';
	text[len] = '\0';
	mb = open_file(text);
	assert_int_equal(sp_serve_open(mb, 0, SP_PART_ALL, UINT64_MAX, 0, &s,
	    &err), 0);
	assert_int_equal(truncate(mpath, (off_t)SP_SERVE_BUF + 10), 0);
	while ((k = sp_serve_read(s, buf, 65536, &err)) > 0)
		;
	assert_int_equal(k, -1);
	assert_int_equal(err.cls, SP_TEMPFAIL);
	sp_serve_close(&s);
	free(buf);
	/* sp_lines on the cut file: an error, not a short message */
	assert_int_equal(sp_lines(mb, 0, SP_PART_ALL, stop_line, &st, &err),
	    -1);
	assert_int_equal(err.cls, SP_TEMPFAIL);
	/* the From_ line itself gone: refused before anything is served */
	assert_int_equal(truncate(mpath, 10), 0);
	assert_int_equal(sp_serve_open(mb, 0, SP_PART_ALL, UINT64_MAX, 0, &s,
	    &err), -1);
	assert_null(s);
	assert_int_equal(sp_served(mb, 0, SP_PART_ALL, &buf, &len, &err), -1);
	assert_null(buf);
	assert_int_equal(sp_lines(mb, 0, SP_PART_ALL, stop_line, &st, &err),
	    -1);
	assert_int_equal(err.cls, SP_TEMPFAIL);
	sp_close(&mb);
	free(text);
}

/* Stream message I as pop3d does, into IO; return what reached FD. */
static char *
io_stream(struct io *io, int fd, struct sp_mbox *mb, uint32_t i,
    size_t *len_r, off_t *before_flush)
{
	struct sp_serve *s;
	struct sp_err err;
	struct stat st;
	size_t room;
	ssize_t k;
	char *p;

	assert_int_equal(sp_serve_open(mb, i, SP_PART_ALL, UINT64_MAX,
	    SP_SERVE_DOTSTUFF, &s, &err), 0);
	for (;;) {
		p = io_reserve(io, SP_SERVE_MIN, &room);
		assert_non_null(p);
		assert_true(room >= SP_SERVE_MIN);
		if ((k = sp_serve_read(s, p, room, &err)) <= 0)
			break;
		io_commit(io, (size_t)k);
	}
	assert_int_equal(k, 0);
	sp_serve_close(&s);
	assert_int_equal(fstat(fd, &st), 0);
	*before_flush = st.st_size;
	assert_int_equal(io_flush(io), 0);
	assert_int_equal(fstat(fd, &st), 0);
	*len_r = (size_t)st.st_size;
	p = malloc(*len_r + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, *len_r, 0), (ssize_t)*len_r);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return p;
}

/* Through io_reserve/io_commit: a small message stays in the buffer until
 * the flush (one write per response), a large one goes out in full
 * buffers; both byte for byte. */
static void
test_io_stream(void **state)
{
	static const char small[] = "\n\n" SEP "Subject: small\n\n.\n";
	size_t len = 3 * IO_OUT_BUF + 123, hl, pos, got;
	struct ref r = { NULL, 0, 0 };
	struct sp_mbox *mb;
	char opath[600], *text, *out;
	off_t early;
	struct io io;
	int fd;

	(void)state;
	text = malloc(len + 1);
	assert_non_null(text);
	hl = strlen(SEP "Subject: io\n\n");
	memcpy(text, SEP "Subject: io\n\n", hl);
	for (pos = hl; pos < len; pos++)
		text[pos] = pos % 50 == 0 ? '\n' : pos % 50 == 1 ? '.' : 'q';
	memcpy(text + len - strlen(small), small, strlen(small));
	text[len] = '\0';
	mb = open_file(text);
	assert_int_equal(sp_count(mb), 2);
	snprintf(opath, sizeof opath, "%s/out", tdir);
	fd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(io_init(&io, -1, fd, 0), 0);

	reference(text, mb, 1, SP_PART_ALL, 1, UINT64_MAX, &r);
	out = io_stream(&io, fd, mb, 1, &got, &early);
	assert_int_equal(early, 0);
	assert_int_equal(got, r.len);
	assert_memory_equal(out, r.p, r.len);
	free(out);

	reference(text, mb, 0, SP_PART_ALL, 1, UINT64_MAX, &r);
	out = io_stream(&io, fd, mb, 0, &got, &early);
	assert_true(early >= (off_t)(2 * IO_OUT_BUF - 2 * SP_SERVE_MIN));
	assert_int_equal(got, r.len);
	assert_memory_equal(out, r.p, r.len);
	free(out);

	io_free(&io);
	close(fd);
	sp_close(&mb);
	free(r.p);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_stream, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
