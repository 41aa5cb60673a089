/*
 * rewrite.c - writing state back (sp_sync): state blocks rewritten in
 * place when they fit their padding, otherwise the changed tail of the
 * file rewritten through a journal, so that a SIGKILL at any point loses
 * nothing that was not deleted.  The file is never replaced by rename:
 * other programs hold locks on its inode.
 *
 * Journal (DIR/.NAME.journal, host byte order):
 *   magic "SPJRNL01", dev, ino, P, old_len, new_len, sum, hsum (u64 each),
 *   phase (u8) + 7 bytes of padding, then new_len bytes: the new content
 *   of [P, P + new_len).
 * Order of a rewrite:
 *   1. the journal is written and fsync'ed (and its directory);
 *   2. growth: phase := 1 (fdatasync), ftruncate to P + new_len;
 *   3. the content is copied from the journal to the mailbox at P;
 *   4. shrink: ftruncate to P + new_len, phase := 2 (fdatasync);
 *   5. fsync the mailbox; unlink the journal; fsync the directory.
 * Recovery (under the exclusive lock, by anything that takes it): a
 * journal whose size or checksums do not match is incomplete, the mailbox
 * was not touched yet: it is removed.  A complete one is replayed from
 * step 2 (replay is idempotent).  Bytes appended by another program after
 * the crash (past old_len, or past the new end once the size changed, as
 * the phase and the size tell) are first added to the journal (a new
 * journal renamed over the old one) so the replay keeps them.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"

#define SP_J_MAGIC	"SPJRNL01"

struct jhdr {
	char magic[8];
	uint64_t dev, ino, p, old_len, new_len, sum, hsum;
	uint8_t phase;		/* 0; 1 growth under way; 2 shrunk */
	uint8_t pad[7];
};
#define J_HSUM_LEN	(offsetof(struct jhdr, hsum))
#define J_PHASE_OFF	(offsetof(struct jhdr, phase))

/* ---- checksum: 64-bit, word at a time (detects torn journals) ------------ */

/*
 * Streaming: bytes are gathered into 8-byte words whatever the sizes of
 * the pieces, so the writer (line by line) and the reader (in large
 * chunks) compute the same value.
 */
struct sum {
	uint64_t h;
	unsigned char part[8];
	unsigned n;
};

static void
sum_word(struct sum *s, const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	s->h ^= w;
	s->h *= 0x100000001b3ull;
	s->h ^= s->h >> 29;
}

static void
sum_add(struct sum *s, const char *p, size_t n)
{
	const unsigned char *q = (const unsigned char *)p;

	while (n > 0 && s->n > 0) {
		s->part[s->n++] = *q++;
		n--;
		if (s->n == 8) {
			sum_word(s, s->part);
			s->n = 0;
		}
	}
	for (; n >= 8; q += 8, n -= 8)
		sum_word(s, q);
	while (n-- > 0)
		s->part[s->n++] = *q++;
}

static uint64_t
sum_end(const struct sum *s)
{
	uint64_t h = s->h;
	unsigned i;

	for (i = 0; i < s->n; i++) {
		h ^= s->part[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define SUM_INIT	0xcbf29ce484222325ull

static void
sum_init(struct sum *s)
{
	s->h = SUM_INIT;
	s->n = 0;
}

static uint64_t
sum_of(const char *p, size_t n)
{
	struct sum s;

	sum_init(&s);
	sum_add(&s, p, n);
	return sum_end(&s);
}

/* ---- state block ---------------------------------------------------------- */

size_t
sp_block(char *buf, size_t cap, const struct sp_index *ix, int with_base,
    uint32_t uidnext, uint32_t flags, uint32_t kw, uint32_t uid, size_t pad_to)
{
	char kwl[SP_BLOCK_MAX], tail[32];
	size_t n = 0, kn, tn, pad;
	unsigned i;

	if (with_base) {
		/* UIDVALIDITY and the last UID given, as UW and Dovecot. */
		n += (size_t)snprintf(buf + n, cap - n, "X-IMAPbase: %010u %010u",
		    ix->uidvalidity, uidnext - 1);
		for (i = 0; i < ix->nkw && n < cap; i++)
			n += (size_t)snprintf(buf + n, cap - n, " %s", ix->kw[i]);
		if (n < cap)
			n += (size_t)snprintf(buf + n, cap - n, "\n");
	}
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "Status: %s%s\nX-Status: %s%s%s%s\n",
		    (flags & SP_SEEN) ? "R" : "", (flags & SP_RECENT) ? "" : "O",
		    (flags & SP_ANSWERED) ? "A" : "", (flags & SP_FLAGGED) ? "F" : "",
		    (flags & SP_DRAFT) ? "T" : "", (flags & SP_DELETED) ? "D" : "");
	kn = (size_t)snprintf(kwl, sizeof kwl, "X-Keywords:");
	for (i = 0; i < ix->nkw && kn < sizeof kwl; i++)
		if (kw & (1u << i))
			kn += (size_t)snprintf(kwl + kn, sizeof kwl - kn, " %s",
			    ix->kw[i]);
	tn = (size_t)snprintf(tail, sizeof tail, "\nX-UID: %u\n", uid);
	if (n >= cap || kn >= sizeof kwl)
		return 0;
	if (pad_to == 0)
		pad = SP_STATE_PAD;
	else if (n + kn + tn > pad_to)
		return 0;
	else
		pad = pad_to - (n + kn + tn);
	if (n + kn + pad + tn > cap)
		return 0;
	memcpy(buf + n, kwl, kn);
	n += kn;
	memset(buf + n, ' ', pad);
	n += pad;
	memcpy(buf + n, tail, tn);
	return n + tn;
}

/* ---- small file helpers ------------------------------------------------------ */

static int
pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int
pread_all(int fd, char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, p, n, off);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int
sp_fsync_dir(const char *path)
{
	char dir[SP_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, r = 0;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		r = fsync(fd);
		close(fd);
	}
	return r;
}

struct jopen {
	const char *path;
	int fd;
};

static int
j_create(void *v)
{
	struct jopen *a = v;

	a->fd = open(a->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	return a->fd == -1 ? -1 : 0;
}

static int
j_unlink(void *v)
{
	return unlink((const char *)v);
}

struct jrename {
	const char *from, *to;
};

static int
j_rename(void *v)
{
	struct jrename *a = v;

	return rename(a->from, a->to);
}

/* Create PATH exclusively (removing a leftover first). */
static int
j_open_new(const char *path)
{
	struct jopen a;

	a.path = path;
	if (sp_with_group(path, j_create, &a) == 0)
		return a.fd;
	if (errno != EEXIST)
		return -1;
	sp_with_group(path, j_unlink, (void *)path);
	if (sp_with_group(path, j_create, &a) == 0)
		return a.fd;
	return -1;
}

/* ---- apply a complete journal ------------------------------------------------ */

static int
j_phase(int jfd, uint8_t phase)
{
	if (pwrite_all(jfd, (const char *)&phase, 1, (off_t)J_PHASE_OFF) == -1)
		return -1;
	return fdatasync(jfd);
}

static int
j_apply(int mfd, int jfd, const struct jhdr *h, const char *jpath)
{
	uint64_t new_end = h->p + h->new_len, done = 0;
	char *buf;

	if (new_end > h->old_len) {
		if (j_phase(jfd, 1) == -1 || ftruncate(mfd, (off_t)new_end) == -1)
			return -1;
	}
	buf = malloc(SP_IO_CHUNK);
	if (buf == NULL)
		return -1;
	while (done < h->new_len) {
		size_t n = h->new_len - done > SP_IO_CHUNK ? SP_IO_CHUNK :
		    (size_t)(h->new_len - done);

		if (pread_all(jfd, buf, n, (off_t)(sizeof *h + done)) == -1 ||
		    pwrite_all(mfd, buf, n, (off_t)(h->p + done)) == -1) {
			free(buf);
			return -1;
		}
		done += n;
	}
	free(buf);
	if (new_end < h->old_len) {
		if (ftruncate(mfd, (off_t)new_end) == -1 || j_phase(jfd, 2) == -1)
			return -1;
	}
	if (fsync(mfd) == -1)
		return -1;
	if (sp_with_group(jpath, j_unlink, (void *)jpath) == -1)
		return -1;
	sp_fsync_dir(jpath);
	return 0;
}

/* ---- journal writer ---------------------------------------------------------- */

struct jw {
	int fd;			/* journal */
	int src;		/* mailbox, for copies */
	char *buf;
	size_t len;
	uint64_t total;
	struct sum sum;
	int err;
};

static void
jw_flush(struct jw *w)
{
	if (w->len == 0 || w->err)
		return;
	if (pwrite_all(w->fd, w->buf, w->len, (off_t)(sizeof(struct jhdr) +
	    w->total - w->len)) == -1)
		w->err = errno;
	w->len = 0;
}

static void
jw_put(struct jw *w, const char *p, size_t n)
{
	sum_add(&w->sum, p, n);
	while (n > 0 && !w->err) {
		size_t k = SP_IO_CHUNK - w->len < n ? SP_IO_CHUNK - w->len : n;

		memcpy(w->buf + w->len, p, k);
		w->len += k;
		w->total += k;
		p += k;
		n -= k;
		if (w->len == SP_IO_CHUNK)
			jw_flush(w);
	}
}

/* Copy [from, to) of the mailbox into the journal. */
static void
jw_copy(struct jw *w, off_t from, off_t to)
{
	char *tmp;

	if (from >= to || w->err)
		return;
	tmp = malloc(SP_IO_CHUNK);
	if (tmp == NULL) {
		w->err = ENOMEM;
		return;
	}
	while (from < to && !w->err) {
		size_t n = to - from > (off_t)SP_IO_CHUNK ? SP_IO_CHUNK :
		    (size_t)(to - from);

		if (pread_all(w->src, tmp, n, from) == -1) {
			w->err = errno;
			break;
		}
		jw_put(w, tmp, n);
		from += (off_t)n;
	}
	free(tmp);
}

/* Copy message M's header without its state lines, BLOCK before the
 * blank line, then the rest up to END. */
static void
jw_message(struct jw *w, const struct sp_msg *m, off_t end, const char *block,
    size_t blen)
{
	struct sp_rd r;
	const char *p;
	size_t n;
	int lf = 1, got = 0, in_state = 0, blank = 0, last_cr = 0;

	jw_copy(w, m->from_off, m->hdr_off);
	if (sp_rd_init(&r, w->src, m->hdr_off, m->body_off) == -1) {
		w->err = ENOMEM;
		return;
	}
	while (!w->err && (got = sp_rd_line(&r, &p, &n, &lf)) == 1) {
		if (n == 0 || (n == 1 && p[0] == '\r' && lf)) {
			jw_put(w, block, blen);
			jw_put(w, p, n + (size_t)lf);
			blank = 1;
			break;
		}
		if (p[0] != ' ' && p[0] != '\t')
			in_state = sp_state_header(p, n) >= 0;
		if (!in_state) {
			jw_put(w, p, n + (size_t)lf);
			last_cr = p[n - 1] == '\r';
		}
	}
	if (got == -1 && !w->err)
		w->err = errno;
	sp_rd_done(&r);
	if (!blank) {
		/* End the last line; a lone CR there stays a lone CR. */
		if (!lf)
			jw_put(w, last_cr ? "\r\n" : "\n", last_cr ? 2 : 1);
		jw_put(w, block, blen);
		jw_put(w, "\n", 1);
	}
	jw_copy(w, m->body_off, end);
}

static void
hdr_fill(struct jhdr *h, const struct stat *st, uint64_t p, uint64_t old_len,
    uint64_t new_len, uint64_t sum)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, SP_J_MAGIC, 8);
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->p = p;
	h->old_len = old_len;
	h->new_len = new_len;
	h->sum = sum;
	h->hsum = sum_of((const char *)h, J_HSUM_LEN);
}

/* ---- recovery ------------------------------------------------------------------- */

static int
j_valid(int jfd, const struct stat *mst, struct jhdr *h)
{
	struct stat jst;
	struct sum s;
	uint64_t done = 0;
	char *buf;

	if (fstat(jfd, &jst) == -1 || jst.st_size < (off_t)sizeof *h ||
	    pread_all(jfd, (char *)h, sizeof *h, 0) == -1)
		return 0;
	if (memcmp(h->magic, SP_J_MAGIC, 8) != 0 ||
	    h->hsum != sum_of((const char *)h, J_HSUM_LEN) ||
	    (uint64_t)jst.st_size != sizeof *h + h->new_len ||
	    h->dev != (uint64_t)mst->st_dev || h->ino != (uint64_t)mst->st_ino)
		return 0;
	buf = malloc(SP_IO_CHUNK);
	if (buf == NULL)
		return -1;
	sum_init(&s);
	while (done < h->new_len) {
		size_t n = h->new_len - done > SP_IO_CHUNK ? SP_IO_CHUNK :
		    (size_t)(h->new_len - done);

		if (pread_all(jfd, buf, n, (off_t)(sizeof *h + done)) == -1) {
			free(buf);
			return 0;
		}
		sum_add(&s, buf, n);
		done += n;
	}
	free(buf);
	return sum_end(&s) == h->sum;
}

int
sp_journal_recover(int fd, const char *path, struct sp_err *err)
{
	char jp[SP_PATH_MAX], jn[SP_PATH_MAX + 8];
	struct stat st;
	struct jhdr h;
	sigset_t old;
	uint64_t new_end, t, cur;
	int jfd, v, rc = 0;

	if (sp_journal_path(path, jp, sizeof jp) == -1)
		return sp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path too long");
	jfd = open(jp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (jfd == -1) {
		if (errno == ENOENT)
			return 0;
		return sp_fail_errno(err, errno, "open journal", jp);
	}
	if (fstat(fd, &st) == -1) {
		close(jfd);
		return sp_fail_errno(err, errno, "fstat", path);
	}
	v = j_valid(jfd, &st, &h);
	if (v == -1) {
		close(jfd);
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	}
	if (v == 0) {
		/* Incomplete (the mailbox was not touched) or stale. */
		close(jfd);
		sp_with_group(jp, j_unlink, jp);
		sp_fsync_dir(jp);
		return 0;
	}
	sp_sig_block(&old);
	cur = (uint64_t)st.st_size;
	new_end = h.p + h.new_len;
	if (new_end > h.old_len)
		t = h.phase == 1 && cur >= new_end ? new_end : h.old_len;
	else if (new_end < h.old_len)
		t = h.phase == 2 || cur < h.old_len ? new_end : h.old_len;
	else
		t = h.old_len;
	if (cur > t) {
		/* Mail appended by someone else after the crash: make it part
		 * of the journal so the replay keeps it. */
		struct jw w;
		struct jhdr nh;
		struct jrename rn;
		int nfd;

		snprintf(jn, sizeof jn, "%s.new", jp);
		nfd = j_open_new(jn);
		memset(&w, 0, sizeof w);
		w.buf = malloc(SP_IO_CHUNK);
		if (nfd == -1 || w.buf == NULL) {
			rc = sp_fail_errno(err, nfd == -1 ? errno : ENOMEM,
			    "create journal", jn);
			goto out;
		}
		w.fd = nfd;
		w.src = jfd;
		sum_init(&w.sum);
		jw_copy(&w, (off_t)sizeof h, (off_t)(sizeof h + h.new_len));
		w.src = fd;
		jw_copy(&w, (off_t)t, (off_t)cur);
		jw_flush(&w);
		free(w.buf);
		hdr_fill(&nh, &st, h.p, cur, w.total, sum_end(&w.sum));
		if (w.err || pwrite_all(nfd, (const char *)&nh, sizeof nh, 0) == -1 ||
		    fsync(nfd) == -1) {
			rc = sp_fail_errno(err, w.err ? w.err : errno, "write journal",
			    jn);
			close(nfd);
			sp_with_group(jn, j_unlink, jn);
			goto out;
		}
		rn.from = jn;
		rn.to = jp;
		if (sp_with_group(jp, j_rename, &rn) == -1) {
			rc = sp_fail_errno(err, errno, "rename journal", jn);
			close(nfd);
			goto out;
		}
		sp_fsync_dir(jp);
		close(jfd);
		jfd = nfd;
		h = nh;
	}
	if (j_apply(fd, jfd, &h, jp) == -1)
		rc = sp_fail_errno(err, errno, "replay journal", path);
out:
	sp_sig_restore(&old);
	close(jfd);
	return rc;
}

/* ---- the rewrite ------------------------------------------------------------------- */

#define SP_FLAGMASK	(SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DELETED | \
			SP_DRAFT | SP_RECENT)

int
sp_rewrite(int fd, const char *path, struct sp_index *ix,
    const struct sp_want *want, struct sp_err *err)
{
	char jp[SP_PATH_MAX], block[SP_BLOCK_MAX];
	uint32_t i, fk = UINT32_MAX;
	off_t p = ix->size;
	uint8_t *need;
	int base_ok, rc = 0, jfd = -1, any = 0;
	struct jhdr jh;
	sigset_t old;
	struct stat st;

	if (sp_journal_path(path, jp, sizeof jp) == -1)
		return sp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path too long");
	if (fstat(fd, &st) == -1)
		return sp_fail_errno(err, errno, "fstat", path);
	need = calloc(ix->n + 1, 1);
	if (need == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	for (i = 0; i < ix->n; i++)
		if (!(want[i].flags & SP_EXPUNGE)) {
			fk = i;
			break;
		}
	base_ok = fk == 0 && ix->has_base && !ix->base_pseudo &&
	    ix->base_validity == ix->uidvalidity &&
	    ix->base_next == ix->uidnext && ix->base_next_off >= 0 &&
	    ix->base_nkw == ix->nkw;
	/* 1 = write in place, 2 = through the journal. */
	for (i = 0; i < ix->n; i++) {
		const struct sp_ixmsg *x = &ix->ix[i];
		size_t bl;

		if (want[i].flags & SP_EXPUNGE) {
			if (ix->msg[i].from_off < p)
				p = ix->msg[i].from_off;
			any = 1;
			continue;
		}
		if (x->uid_ok && !x->split && x->state_off >= 0 &&
		    (want[i].flags & SP_FLAGMASK) == (x->disk_flags & SP_FLAGMASK) &&
		    want[i].kw == x->disk_kw && (i != fk || base_ok))
			continue;
		any = 1;
		bl = 0;
		if (!x->split && x->state_off >= 0)
			bl = sp_block(block, sizeof block, ix, i == fk, ix->uidnext,
			    want[i].flags, want[i].kw, ix->msg[i].uid,
			    (size_t)(x->state_end - x->state_off));
		if (bl > 0)
			need[i] = 1;
		else {
			need[i] = 2;
			if (ix->msg[i].from_off < p)
				p = ix->msg[i].from_off;
		}
	}
	if (!any) {
		free(need);
		return 0;
	}
	sp_sig_block(&old);
	/* The journal first (written and synced): if it cannot be made,
	 * nothing in the mailbox has changed. */
	if (p < ix->size) {
		struct jw w;
		struct jhdr h;

		if ((jfd = j_open_new(jp)) == -1) {
			rc = sp_fail_errno(err, errno, "create journal", jp);
			goto out;
		}
		memset(&w, 0, sizeof w);
		w.fd = jfd;
		w.src = fd;
		sum_init(&w.sum);
		w.buf = malloc(SP_IO_CHUNK);
		if (w.buf == NULL)
			w.err = ENOMEM;
		for (i = 0; i < ix->n && !w.err; i++) {
			const struct sp_msg *m = &ix->msg[i];
			off_t end = i + 1 < ix->n ? ix->msg[i + 1].from_off : ix->size;
			size_t bl;

			if (m->from_off < p || (want[i].flags & SP_EXPUNGE))
				continue;
			if (need[i] == 0) {
				jw_copy(&w, m->from_off, end);
				continue;
			}
			bl = sp_block(block, sizeof block, ix, i == fk, ix->uidnext,
			    want[i].flags, want[i].kw, m->uid, 0);
			jw_message(&w, m, end, block, bl);
		}
		jw_flush(&w);
		free(w.buf);
		hdr_fill(&jh, &st, (uint64_t)p, (uint64_t)ix->size, w.total,
		    sum_end(&w.sum));
		h = jh;
		if (w.err || pwrite_all(jfd, (const char *)&h, sizeof h, 0) == -1 ||
		    fsync(jfd) == -1) {
			rc = sp_fail_errno(err, w.err ? w.err : errno,
			    "write journal", jp);
			close(jfd);
			jfd = -1;
			sp_with_group(jp, j_unlink, jp);
			goto out;
		}
		sp_fsync_dir(jp);
	}
	/* In place, before P: one pwrite per message, each atomic against a
	 * kill (the journal does not cover these bytes). */
	for (i = 0; i < ix->n && rc == 0; i++) {
		const struct sp_ixmsg *x = &ix->ix[i];
		size_t bl;

		if (need[i] != 1 || ix->msg[i].from_off >= p)
			continue;
		bl = sp_block(block, sizeof block, ix, i == fk, ix->uidnext,
		    want[i].flags, want[i].kw, ix->msg[i].uid,
		    (size_t)(x->state_end - x->state_off));
		if (pwrite_all(fd, block, bl, x->state_off) == -1)
			rc = sp_fail_errno(err, errno, "write", path);
	}
	if (rc == 0 && jfd != -1) {
		if (j_apply(fd, jfd, &jh, jp) == -1)
			/* The journal stays: the next locker replays it. */
			rc = sp_fail_errno(err, errno, "rewrite", path);
	} else if (rc == 0 && fsync(fd) == -1)
		rc = sp_fail_errno(err, errno, "fsync", path);
out:
	/* A journal left here is either complete (the next locker replays
	 * it) or empty (discarded as incomplete). */
	if (jfd != -1)
		close(jfd);
	sp_sig_restore(&old);
	free(need);
	return rc;
}

/* ---- sp_sync ------------------------------------------------------------------------ */

int
sp_sync(struct sp_mbox *mb, uint32_t **expunged_r, uint32_t *nexp,
    struct sp_err *err)
{
	struct sp_lock *lock = NULL;
	struct sp_index fresh, after;
	struct sp_want *want = NULL;
	uint32_t *exp = NULL, ne = 0, i, j;
	struct stat st;
	int rc = -1;

	if (expunged_r != NULL)
		*expunged_r = NULL;
	if (nexp != NULL)
		*nexp = 0;
	if (!(mb->flags & SP_RDWR))
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s is open read-only", mb->path);
	if (mb->fd == -1) {
		sp_err_ok(err);
		return 0;
	}
	memset(&fresh, 0, sizeof fresh);
	memset(&after, 0, sizeof after);
	fresh.base_next_off = after.base_next_off = -1;
	if (sp_lock(mb->fd, mb->path, SP_LOCK_EXCL, &lock, err) == -1)
		return -1;
	sp_unmap(mb);
	if (sp_journal_recover(mb->fd, mb->path, err) == -1 ||
	    fstat(mb->fd, &st) == -1 ||
	    sp_index_seed(&fresh, &mb->ix) == -1 ||
	    sp_scan(mb->fd, 0, st.st_size, &fresh, err) == -1)
		goto out;
	want = calloc(fresh.n + 1, sizeof *want);
	exp = calloc(mb->ix.n + 1, sizeof *exp);
	if (want == NULL || exp == NULL) {
		sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
		goto out;
	}
	for (i = 0; i < fresh.n; i++) {
		want[i].flags = fresh.msg[i].flags;
		want[i].kw = fresh.msg[i].keywords;
	}
	/* Match by UID: state of messages we know; others' appends kept. */
	if (fresh.uidvalidity == mb->ix.uidvalidity) {
		int map[SP_KEYWORDS_MAX];

		/* Others may have changed other flags of our messages since we
		 * loaded them: apply only our changes (sp_state_merge). */
		sp_kw_map(&fresh, &mb->ix, map);
		for (i = j = 0; i < fresh.n && j < mb->ix.n;) {
			const struct sp_msg *o = &mb->ix.msg[j];

			if (fresh.msg[i].uid < o->uid)
				i++;
			else if (fresh.msg[i].uid > o->uid)
				j++;
			else {
				uint32_t f, k;

				sp_state_merge(&mb->ix, j, map,
				    fresh.msg[i].flags, fresh.msg[i].keywords,
				    &f, &k);
				want[i].flags = f & ~(uint32_t)(SP_RECENT |
				    SP_EXPUNGE);
				want[i].kw = k;
				if (o->flags & SP_EXPUNGE) {
					want[i].flags |= SP_EXPUNGE;
					exp[ne++] = j;
				}
				i++;
				j++;
			}
		}
	}
	if (sp_rewrite(mb->fd, mb->path, &fresh, want, err) == -1)
		goto out;
	if (fstat(mb->fd, &st) == -1 || sp_index_seed(&after, &fresh) == -1 ||
	    sp_scan(mb->fd, 0, st.st_size, &after, err) == -1)
		goto out;
	sp_index_free(&mb->ix);
	mb->ix = after;
	memset(&after, 0, sizeof after);
	mb->st = st;
	rc = 0;
	sp_err_ok(err);
	if (expunged_r != NULL && ne > 0) {
		*expunged_r = exp;
		exp = NULL;
	}
	if (nexp != NULL)
		*nexp = ne;
out:
	if (rc == -1 && err != NULL && err->cls == SP_OK)
		sp_fail_errno(err, errno ? errno : EIO, "sync", mb->path);
	sp_unlock(&lock);
	sp_index_free(&fresh);
	sp_index_free(&after);
	free(want);
	free(exp);
	return rc;
}
