/*
 * ixcache.c - the index cache: a mailbox's scanned index kept in
 * DIR/.NAME.index, so that a repeated open of an unchanged mailbox reads
 * ~110 bytes a message instead of the whole file.
 *
 * The cache is never trusted over the mailbox.  Its key is the mailbox's
 * fstat (dev, ino, size, mtime, ctime to the nanosecond), taken under the
 * shared lock just before the scan it records; it is used only when the
 * current fstat, under the same lock, is equal.  Timestamps are coarse, so
 * a cache is written only for a mailbox whose last change is
 * SP_CACHE_SETTLE_SEC old: a later change then has a later timestamp.
 *
 * The user can write this file (it is in his spool directory, or his own
 * folder directory), so a load checks everything before the index is
 * used: owner, mode, exact size, format version and struct sizes (another
 * build never misreads it), a 64-bit checksum, and every offset, order,
 * UID and keyword bit against what the scanner itself could produce.  Any
 * doubt: the cache is ignored (removed if ours) and the mailbox scanned.
 *
 * Layout (host byte order; the sizes in the header pin the ABI):
 *   struct cx_hdr | keyword names, each NUL-terminated | msg[n] | ix[n] |
 *   64-bit checksum of everything before it
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"

#define CX_MAGIC	"MSIXCACH"
/* Bump when the meaning of any stored field changes. */
#define CX_VERSION	1u
/* Keyword names: SP_KEYWORDS_MAX of at most SP_KEYWORD_MAX bytes + NUL. */
#define CX_KWBYTES_MAX	(SP_KEYWORDS_MAX * (SP_KEYWORD_MAX + 1))
/* Writer's buffer: a few writes for 100k messages (11 MB). */
#define CX_WBUF		((size_t)256 * 1024)
/* Flags the scanner can put in disk_flags. */
#define CX_FLAGS	(SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DELETED | \
			 SP_DRAFT | SP_RECENT)

struct cx_hdr {
	char magic[8];
	uint32_t version;
	uint32_t sz_hdr;	/* sizeof (struct cx_hdr) */
	uint32_t sz_msg;	/* sizeof (struct sp_msg) */
	uint32_t sz_ixmsg;	/* sizeof (struct sp_ixmsg) */
	uint32_t sz_off;	/* sizeof (off_t) */
	uint32_t sz_time;	/* sizeof (time_t) */
	/* the key: the mailbox's fstat */
	uint64_t dev, ino;
	int64_t fsize;
	int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
	/* struct sp_index, its file-derived fields */
	uint32_t n, nkw, kwbytes;
	uint32_t has_base, base_pseudo;
	uint32_t base_validity, base_next, base_nkw;
	int64_t pseudo_end, base_next_off;
	uint64_t total;		/* bytes of the cache file */
};

/* ---- checksum ------------------------------------------------------------- */

/*
 * FNV-1a's prime over 64-bit words in four independent lanes (one
 * multiply chain per lane: ~10 bytes a cycle, where byte-wise FNV-1a would
 * take 15 ms for 100k messages), folded with the tail bytes and the
 * length.  Each step is a bijection of the lane, so any change of one word
 * changes the result.  Against corruption and torn writes, not forgery:
 * the checks after it are what make a forged cache harmless.
 */
#define CX_FNV_PRIME	0x100000001b3ull
#define CX_FNV_BASIS	0xcbf29ce484222325ull

struct cx_sum {
	uint64_t h[4];
	unsigned char tail[32];
	size_t nt;
	uint64_t len;
};

static void
sum_init(struct cx_sum *c)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		c->h[i] = CX_FNV_BASIS + i;
	c->nt = 0;
	c->len = 0;
}

static void
sum_block(struct cx_sum *c, const unsigned char *p)
{
	uint64_t w[4];
	unsigned i;

	memcpy(w, p, sizeof w);
	for (i = 0; i < 4; i++)
		c->h[i] = (c->h[i] ^ w[i]) * CX_FNV_PRIME;
}

static void
sum_add(struct cx_sum *c, const void *vp, size_t n)
{
	const unsigned char *p = vp;

	c->len += n;
	if (c->nt > 0) {
		size_t k = sizeof c->tail - c->nt < n ? sizeof c->tail - c->nt : n;

		memcpy(c->tail + c->nt, p, k);
		c->nt += k;
		p += k;
		n -= k;
		if (c->nt < sizeof c->tail)
			return;
		sum_block(c, c->tail);
		c->nt = 0;
	}
	for (; n >= sizeof c->tail; p += sizeof c->tail, n -= sizeof c->tail)
		sum_block(c, p);
	memcpy(c->tail, p, n);
	c->nt = n;
}

static uint64_t sum_end(const struct cx_sum *c);

uint64_t
sp_cache_sum(const void *p, size_t n)
{
	struct cx_sum c;

	sum_init(&c);
	sum_add(&c, p, n);
	return sum_end(&c);
}

static uint64_t
sum_end(const struct cx_sum *c)
{
	uint64_t r = CX_FNV_BASIS;
	size_t i;

	for (i = 0; i < 4; i++)
		r = (r ^ c->h[i]) * CX_FNV_PRIME;
	for (i = 0; i < c->nt; i++)
		r = (r ^ c->tail[i]) * CX_FNV_PRIME;
	r = (r ^ c->len) * CX_FNV_PRIME;
	return r ^ (r >> 29);
}

/* ---- the key ---------------------------------------------------------------- */

static void
key_put(struct cx_hdr *h, const struct stat *st)
{
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->fsize = (int64_t)st->st_size;
	h->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	h->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
	h->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	h->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
}

int
sp_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int
key_matches(const struct cx_hdr *h, const struct stat *st)
{
	struct cx_hdr k;

	key_put(&k, st);
	return h->dev == k.dev && h->ino == k.ino && h->fsize == k.fsize &&
	    h->mtime_sec == k.mtime_sec && h->mtime_nsec == k.mtime_nsec &&
	    h->ctime_sec == k.ctime_sec && h->ctime_nsec == k.ctime_nsec;
}

/* Has nothing changed ST for SP_CACHE_SETTLE_SEC at NOW?  A timestamp
 * with nanoseconds counts as its next second. */
static int
key_settled(const struct stat *st, time_t now)
{
	time_t m = st->st_mtim.tv_sec + (st->st_mtim.tv_nsec > 0);
	time_t c = st->st_ctim.tv_sec + (st->st_ctim.tv_nsec > 0);

	return (m > c ? m : c) <= now - SP_CACHE_SETTLE_SEC;
}

/* Bytes of a cache of N messages with KWBYTES of names; 0 if too big. */
static uint64_t
cache_bytes(uint32_t n, uint32_t kwbytes)
{
	if (n > SP_MESSAGES_MAX || kwbytes > CX_KWBYTES_MAX)
		return 0;
	return sizeof(struct cx_hdr) + kwbytes +
	    (uint64_t)n * (sizeof(struct sp_msg) + sizeof(struct sp_ixmsg)) +
	    sizeof(uint64_t);
}

/* ---- removal ---------------------------------------------------------------- */

static int
cx_unlink(void *v)
{
	return unlink((const char *)v);
}

void
sp_cache_remove(const char *path)
{
	char cp[SP_PATH_MAX];

	if (sp_cache_path(path, cp, sizeof cp) == 0)
		sp_with_group(cp, cx_unlink, cp);
}

/* ---- load ------------------------------------------------------------------- */

static int
read_all(int fd, void *vp, size_t n, struct cx_sum *c)
{
	char *p = vp;
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, p + done, n - done);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	if (c != NULL)
		sum_add(c, p, n);
	return 0;
}

/* The header: our format, our build, sizes that add up to the file's. */
static int
hdr_ok(const struct cx_hdr *h, const struct stat *cst)
{
	return memcmp(h->magic, CX_MAGIC, sizeof h->magic) == 0 &&
	    h->version == CX_VERSION && h->sz_hdr == sizeof *h &&
	    h->sz_msg == sizeof(struct sp_msg) &&
	    h->sz_ixmsg == sizeof(struct sp_ixmsg) &&
	    h->sz_off == sizeof(off_t) && h->sz_time == sizeof(time_t) &&
	    h->nkw <= SP_KEYWORDS_MAX && h->base_nkw <= h->nkw &&
	    h->has_base <= 1 && h->base_pseudo <= h->has_base &&
	    cache_bytes(h->n, h->kwbytes) != 0 &&
	    h->total == cache_bytes(h->n, h->kwbytes) &&
	    (uint64_t)cst->st_size == h->total && h->fsize >= 0 &&
	    h->pseudo_end >= 0 && h->pseudo_end <= h->fsize &&
	    (h->base_next_off == -1 || (h->base_next_off >= 0 &&
	    h->base_next_off <= h->fsize - 10));
}

/* The keyword names, each as the scanner's sp_kw_add accepts it, none
 * twice. */
static int
load_keywords(struct sp_index *ix, const char *kw, uint32_t kwbytes,
    uint32_t nkw)
{
	const char *p = kw, *end = kw + kwbytes, *z;
	unsigned i;

	for (i = 0; i < nkw; i++) {
		if ((z = memchr(p, '\0', (size_t)(end - p))) == NULL ||
		    sp_kw_add(ix, p, (size_t)(z - p)) != (int)i)
			return -1;
		p = z + 1;
	}
	return p == end ? 0 : -1;
}

/* Does a scan seeded with SEED's table number keywords as IX does?  Yes
 * when SEED's names are the beginning of IX's, byte for byte: the scan
 * adds the same names in the same order after them. */
static int
seed_fits(const struct sp_index *ix, const struct sp_index *seed)
{
	unsigned i;

	if (seed->nkw > ix->nkw)
		return 0;
	for (i = 0; i < seed->nkw; i++)
		if (strcmp(seed->kw[i], ix->kw[i]) != 0)
			return 0;
	return 1;
}

/* Can message I be what the scanner found in a file of FSIZE bytes? */
static int
msg_ok(const struct sp_index *ix, uint32_t i, off_t fsize, uint32_t kwmask)
{
	const struct sp_msg *m = &ix->msg[i];
	const struct sp_ixmsg *x = &ix->ix[i];
	off_t prev_end = i > 0 ? ix->msg[i - 1].end_off : 0;

	if (m->from_off < prev_end || m->from_off >= m->hdr_off ||
	    m->hdr_off > m->body_off || m->body_off > m->end_off ||
	    m->end_off > fsize ||
	    (i > 0 && m->from_off <= ix->msg[i - 1].from_off))
		return 0;
	/* Served sizes: at most every byte doubled (LF to CRLF) plus the
	 * line ends and blank line the served form may add.  A sanity bound
	 * (a forged size could make a reader allocate without limit), not a
	 * tight one. */
	if (m->hdr_size > m->size ||
	    m->hdr_size > 2 * (uint64_t)(m->body_off - m->hdr_off) + 8 ||
	    m->size > 2 * (uint64_t)(m->end_off - m->hdr_off) + 16 ||
	    m->body_lines > (uint64_t)(m->end_off - m->body_off) + 1)
		return 0;
	if (x->state_off == -1) {
		if (x->state_end != 0)
			return 0;
	} else if (x->state_off < m->hdr_off || x->state_end <= x->state_off ||
	    x->state_end > m->body_off)
		return 0;
	if ((x->disk_flags & ~(uint32_t)CX_FLAGS) != 0 ||
	    (x->disk_kw & ~kwmask) != 0 || x->split > 1 || x->uid_ok > 1 ||
	    x->dirty != 0 || m->flags != x->disk_flags ||
	    m->keywords != x->disk_kw || m->uid == 0 ||
	    (i > 0 && m->uid <= ix->msg[i - 1].uid))
		return 0;
	return 1;
}

/* Every message valid, and the UIDs those sp_index_uids gives. */
static int
index_ok(struct sp_index *ix)
{
	uint32_t kwmask = ix->nkw >= 32 ? UINT32_MAX : (1u << ix->nkw) - 1;
	uint64_t *uids;
	uint32_t i;
	int ok = 1;

	for (i = 0; i < ix->n; i++)
		if (!msg_ok(ix, i, ix->size, kwmask))
			return 0;
	if (ix->n > 0 && ix->msg[0].from_off < ix->pseudo_end)
		return 0;
	if ((uids = malloc(((size_t)ix->n + 1) * sizeof *uids)) == NULL)
		return 0;
	for (i = 0; i < ix->n; i++)
		uids[i] = (uint64_t)ix->msg[i].uid << 1 | ix->ix[i].uid_ok;
	sp_index_uids(ix, (uint32_t)time(NULL));
	for (i = 0; i < ix->n && ok; i++)
		ok = uids[i] == ((uint64_t)ix->msg[i].uid << 1 | ix->ix[i].uid_ok);
	free(uids);
	return ok;
}

/* The cache file on FD, header H read: the rest into IX.  0: loaded; 1:
 * valid but numbered otherwise than a scan seeded with SEED; -1: refused. */
static int
load_body(int fd, const struct cx_hdr *h, struct cx_sum *c,
    const struct sp_index *seed, struct sp_index *ix)
{
	char kw[CX_KWBYTES_MAX + 1];
	size_t n = h->n > 0 ? h->n : 1;
	uint64_t want;

	if (read_all(fd, kw, h->kwbytes, c) == -1 ||
	    load_keywords(ix, kw, h->kwbytes, h->nkw) == -1)
		return -1;
	ix->msg = malloc(n * sizeof *ix->msg);
	ix->ix = malloc(n * sizeof *ix->ix);
	if (ix->msg == NULL || ix->ix == NULL ||
	    read_all(fd, ix->msg, h->n * sizeof *ix->msg, c) == -1 ||
	    read_all(fd, ix->ix, h->n * sizeof *ix->ix, c) == -1 ||
	    read_all(fd, &want, sizeof want, NULL) == -1 || want != sum_end(c))
		return -1;
	ix->n = ix->cap = h->n;
	ix->has_base = (int)h->has_base;
	ix->base_pseudo = (int)h->base_pseudo;
	ix->pseudo_end = (off_t)h->pseudo_end;
	ix->base_validity = h->base_validity;
	ix->base_next = h->base_next;
	ix->base_next_off = (off_t)h->base_next_off;
	ix->base_nkw = h->base_nkw;
	ix->size = (off_t)h->fsize;
	if (!index_ok(ix))
		return -1;
	return seed_fits(ix, seed) ? 0 : 1;
}

int
sp_cache_load(const char *path, const struct stat *st,
    const struct sp_index *seed, struct sp_index *ix)
{
	char cp[SP_PATH_MAX];
	struct stat lst, cst;
	struct cx_hdr h;
	struct cx_sum c;
	int fd, r, rc = -1, bad = 1;

	memset(ix, 0, sizeof *ix);
	ix->base_next_off = -1;
	if (sp_cache_path(path, cp, sizeof cp) == -1 || lstat(cp, &lst) == -1)
		return -1;		/* the usual miss: no cache */
	fd = S_ISREG(lst.st_mode) ? open(cp, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC) : -1;
	if (fd != -1 && fstat(fd, &cst) == 0 && S_ISREG(cst.st_mode) &&
	    cst.st_dev == lst.st_dev && cst.st_ino == lst.st_ino &&
	    cst.st_uid == geteuid() && (cst.st_mode & (S_IWGRP | S_IWOTH)) == 0) {
		sum_init(&c);
		if (read_all(fd, &h, sizeof h, &c) == 0 && hdr_ok(&h, &cst)) {
			if (!key_matches(&h, st))
				bad = 0;	/* stale: the next save replaces it */
			else if ((r = load_body(fd, &h, &c, seed, ix)) >= 0) {
				bad = 0;
				rc = r == 0 ? 0 : -1;
			}
		}
	}
	if (fd != -1)
		close(fd);
	if (rc == -1) {
		sp_index_free(ix);
		if (bad && lst.st_uid == geteuid() && !S_ISDIR(lst.st_mode))
			sp_with_group(cp, cx_unlink, cp);
	}
	return rc;
}

/* ---- save ------------------------------------------------------------------- */

struct cx_out {
	int fd;
	char *buf;
	size_t len;
	int err;
	struct cx_sum sum;
};

static void
out_flush(struct cx_out *o)
{
	size_t done = 0;

	while (!o->err && done < o->len) {
		ssize_t r = write(o->fd, o->buf + done, o->len - done);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			o->err = 1;
		else
			done += (size_t)r;
	}
	o->len = 0;
}

static void
out_put(struct cx_out *o, const void *p, size_t n, int summed)
{
	if (summed)
		sum_add(&o->sum, p, n);
	if (o->len + n > CX_WBUF)
		out_flush(o);
	memcpy(o->buf + o->len, p, n);	/* n is a record: < CX_WBUF */
	o->len += n;
}

/* The file's state, never a session's pending change; padding zeroed so
 * that the same index always gives the same bytes. */
static void
out_messages(struct cx_out *o, const struct sp_index *ix)
{
	uint32_t i;

	for (i = 0; i < ix->n; i++) {
		struct sp_msg m;

		memset(&m, 0, sizeof m);
		m.from_off = ix->msg[i].from_off;
		m.hdr_off = ix->msg[i].hdr_off;
		m.body_off = ix->msg[i].body_off;
		m.end_off = ix->msg[i].end_off;
		m.size = ix->msg[i].size;
		m.hdr_size = ix->msg[i].hdr_size;
		m.body_lines = ix->msg[i].body_lines;
		m.uid = ix->msg[i].uid;
		m.flags = ix->ix[i].disk_flags;
		m.keywords = ix->ix[i].disk_kw;
		m.internaldate = ix->msg[i].internaldate;
		out_put(o, &m, sizeof m, 1);
	}
	for (i = 0; i < ix->n; i++) {
		struct sp_ixmsg x;

		memset(&x, 0, sizeof x);
		x.state_off = ix->ix[i].state_off;
		x.state_end = ix->ix[i].state_end;
		x.fromhash = ix->ix[i].fromhash;
		x.disk_uid = ix->ix[i].disk_uid;
		x.disk_flags = ix->ix[i].disk_flags;
		x.disk_kw = ix->ix[i].disk_kw;
		x.split = ix->ix[i].split;
		x.uid_ok = ix->ix[i].uid_ok;
		out_put(o, &x, sizeof x, 1);
	}
}

static int
out_cache(struct cx_out *o, const struct stat *key, const struct sp_index *ix)
{
	struct cx_hdr h;
	uint64_t sum;
	uint32_t kwbytes = 0;
	unsigned k;

	for (k = 0; k < ix->nkw; k++)
		kwbytes += (uint32_t)strlen(ix->kw[k]) + 1;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, CX_MAGIC, sizeof h.magic);
	h.version = CX_VERSION;
	h.sz_hdr = sizeof h;
	h.sz_msg = sizeof(struct sp_msg);
	h.sz_ixmsg = sizeof(struct sp_ixmsg);
	h.sz_off = sizeof(off_t);
	h.sz_time = sizeof(time_t);
	key_put(&h, key);
	h.n = ix->n;
	h.nkw = ix->nkw;
	h.kwbytes = kwbytes;
	h.has_base = ix->has_base != 0;
	h.base_pseudo = ix->base_pseudo != 0;
	h.base_validity = ix->base_validity;
	h.base_next = ix->base_next;
	h.base_nkw = ix->base_nkw;
	h.pseudo_end = (int64_t)ix->pseudo_end;
	h.base_next_off = (int64_t)ix->base_next_off;
	h.total = cache_bytes(ix->n, kwbytes);
	if (h.total == 0)
		return -1;
	sum_init(&o->sum);
	out_put(o, &h, sizeof h, 1);
	for (k = 0; k < ix->nkw; k++)
		out_put(o, ix->kw[k], strlen(ix->kw[k]) + 1, 1);
	out_messages(o, ix);
	sum = sum_end(&o->sum);
	out_put(o, &sum, sizeof sum, 0);
	out_flush(o);
	return o->err ? -1 : 0;
}

struct cx_create {
	const char *path;
	int fd;
};

static int
cx_create(void *v)
{
	struct cx_create *a = v;

	a->fd = open(a->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NOCTTY | O_CLOEXEC, 0600);
	return a->fd == -1 ? -1 : 0;
}

struct cx_rename {
	const char *from, *to;
};

static int
cx_rename(void *v)
{
	struct cx_rename *a = v;

	return rename(a->from, a->to);
}

/* Write IX under a unique temporary name beside CP, rename it over CP. */
static int
cache_write(const char *cp, const struct stat *key, const struct sp_index *ix)
{
	char tmp[SP_PATH_MAX];
	struct cx_create a;
	struct cx_rename rn;
	struct cx_out o;
	int n, rc;

	n = snprintf(tmp, sizeof tmp, "%s.%ld.%08x", cp, (long)getpid(),
	    (unsigned)sp_random());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	memset(&o, 0, sizeof o);
	if ((o.buf = malloc(CX_WBUF)) == NULL)
		return -1;
	a.path = tmp;
	if (sp_with_group(tmp, cx_create, &a) == -1) {
		free(o.buf);
		return -1;	/* spool not writable: no cache */
	}
	o.fd = a.fd;
	rc = fchmod(o.fd, 0600) == -1 ? -1 : out_cache(&o, key, ix);
	if (close(o.fd) == -1)
		rc = -1;
	free(o.buf);
	rn.from = tmp;
	rn.to = cp;
	if (rc == 0 && sp_with_group(cp, cx_rename, &rn) == -1)
		rc = -1;
	if (rc == -1)
		sp_with_group(tmp, cx_unlink, tmp);
	return rc;
}

int
sp_cache_save(const char *path, int fd, const struct stat *key, time_t now,
    const struct sp_index *ix)
{
	char cp[SP_PATH_MAX];
	struct stat st;
	sigset_t old;
	int rc;

	if (key->st_size < SP_CACHE_MIN_BYTES || key->st_uid != geteuid() ||
	    ix->size != key->st_size || !key_settled(key, now) ||
	    fstat(fd, &st) == -1 || !sp_stat_same(&st, key) ||
	    sp_cache_path(path, cp, sizeof cp) == -1)
		return -1;
	/* No signal midway (SIGXFSZ would kill us for a file size limit:
	 * blocked, the write fails with EFBIG instead). */
	sp_sig_block(&old);
	rc = cache_write(cp, key, ix);
	sp_sig_restore(&old);
	return rc;
}
