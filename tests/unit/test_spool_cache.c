/*
 * test_spool_cache.c - the index cache (libspool/ixcache.c).
 *
 * A hit gives exactly the index a scan gives; any change of the mailbox
 * (append, same-size flag rewrite, truncation, a new inode) is rescanned;
 * a mailbox changed less than SP_CACHE_SETTLE_SEC ago is not cached; a
 * cache broken in any way the loader checks (checksum, size, version,
 * struct sizes, order, UIDs, keyword bits and names, owner, mode,
 * symlink) is refused, removed if ours, and the open equals a scan; a
 * spool directory we cannot write gives no cache and no error; imapd's
 * LIST never shows the cache.  Caches are forged with sp_cache_save itself
 * (it writes whatever index it is given, with a valid checksum) and
 * sp_cache_sum, so each check is reached on its own.
 */
#define _GNU_SOURCE		/* setresgid, setresuid */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"
#include "spool_int.h"
#include "spool_tu_index.h"
#include "../../imapd/part2impl.h"

/* Messages in the test mailbox: about 1.3 MiB, above SP_CACHE_MIN_BYTES. */
#define NMSG		4000
/* A uid that is not ours (nobody). */
#define OTHER_UID	65534

static char tdir[256], mpath[512], cpath[600];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "cache") == -1)
		return -1;
	chmod(tdir, 0755);
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	snprintf(cpath, sizeof cpath, "%s/.user.index", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (getenv("KEEP"))
		return 0;
	return tu_rmdir(tdir);
}

/* NMSG messages: X-IMAPbase first, X-UID on most (one out of order),
 * keywords, Status/X-Status, padded X-Keywords so flag changes stay in
 * place.  KW 0: no keywords at all. */
static void
write_mbox(const char *path, int kw)
{
	FILE *f = fopen(path, "w");
	unsigned i;

	assert_non_null(f);
	for (i = 0; i < NMSG; i++) {
		fprintf(f, "From s%u@example.org Tue Jan  2 00:%02u:%02u 2024\n",
		    i, i / 60 % 60, i % 60);
		if (i == 0)
			fprintf(f, "X-IMAPbase: 1700000000 0000009000%s\n",
			    kw ? " base1 base2" : "");
		fprintf(f, "Subject: message %u\nFrom: a%u@example.org\n", i, i % 7);
		if (i % 10 != 3)
			fprintf(f, "X-UID: %u\n", i == 500 ? 2 : i + 1);
		fprintf(f, "Status: %s\nX-Status: %s\n", i % 4 ? "RO" : "O",
		    i % 6 == 0 ? "AF" : "");
		if (kw && i % 3 == 0)
			fprintf(f, "X-Keywords: k%u $Label%u%32s\n", i % 11, i % 3, "");
		else
			fprintf(f, "X-Keywords: %32s\n", "");
		fprintf(f, "\nline one of %u\nFrom the body, quoted on read\n"
		    ">From quoted\n%s\nlast line %u, some text to make it longer "
		    "and longer still, lorem ipsum dolor sit amet\n\n",
		    i, i % 5 ? "" : "\n\n", i);
	}
	assert_int_equal(fclose(f), 0);
}

/* The index a scan of PATH gives, and the stat it was taken with. */
static void
scan_file(const char *path, struct sp_index *ix, struct stat *st)
{
	struct sp_err err;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, st), 0);
	memset(ix, 0, sizeof *ix);
	ix->base_next_off = -1;
	if (sp_scan(fd, 0, st->st_size, ix, &err) != 0)
		fail_msg("scan: %s", err.msg);
	close(fd);
}

/* A settled save of IX (a scan of PATH, or a forgery of one). */
static int
save(const char *path, const struct sp_index *ix)
{
	struct stat st;
	int fd = open(path, O_RDONLY), r;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	r = sp_cache_save(path, fd, &st, st.st_ctim.tv_sec +
	    SP_CACHE_SETTLE_SEC + 1, ix);
	close(fd);
	return r;
}

static int
load(const char *path, struct sp_index *ix)
{
	struct sp_index seed;
	struct stat st;
	int fd = open(path, O_RDONLY), r;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	memset(&seed, 0, sizeof seed);
	r = sp_cache_load(path, &st, &seed, ix);
	return r;
}

/* sp_open's index equals a fresh scan of the file. */
static void
assert_open_is_scan(const char *path)
{
	struct sp_index ref;
	struct sp_mbox *mb;
	struct sp_err err;
	struct stat st;

	if (sp_open(path, SP_RDWR, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	scan_file(path, &ref, &st);
	tu_assert_same_index(&mb->ix, &ref);
	sp_close(&mb);
	sp_index_free(&ref);
}

static int
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* Save the scan with message 7's date moved by one second: an index
 * that sp_open can only have got from the cache. */
static void
save_marked(const char *path)
{
	struct sp_index ix;
	struct stat st;

	scan_file(path, &ix, &st);
	ix.msg[7].internaldate += 1;
	assert_int_equal(save(path, &ix), 0);
	sp_index_free(&ix);
}

static int
open_is_marked(const char *path)
{
	struct sp_index ref;
	struct sp_mbox *mb;
	struct sp_err err;
	struct stat st;
	int marked;

	if (sp_open(path, SP_RDONLY, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	scan_file(path, &ref, &st);
	marked = mb->ix.msg[7].internaldate == ref.msg[7].internaldate + 1;
	sp_close(&mb);
	sp_index_free(&ref);
	return marked;
}

/* ---- hits ------------------------------------------------------------------- */

static void
test_hit_same_as_scan(void **state)
{
	struct sp_index ref, got;
	struct sp_mbox *mb;
	struct sp_err err;
	struct stat st, cst;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	assert_true(ref.n == NMSG && ref.nkw > 10 && ref.has_base);
	assert_int_equal(save(mpath, &ref), 0);
	assert_int_equal(lstat(cpath, &cst), 0);
	assert_true(S_ISREG(cst.st_mode));
	assert_int_equal(cst.st_mode & 07777, 0600);
	assert_int_equal(cst.st_uid, geteuid());
	print_message("cache of %u messages: %lld bytes (%lld a message)\n",
	    ref.n, (long long)cst.st_size, (long long)cst.st_size / ref.n);

	assert_int_equal(load(mpath, &got), 0);
	tu_assert_same_index(&got, &ref);
	sp_index_free(&got);

	/* Through sp_open, and the session's own changes are not saved. */
	if (sp_open(mpath, SP_RDWR, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	tu_assert_same_index(&mb->ix, &ref);
	sp_set_state(mb, 2, SP_DELETED | SP_FLAGGED, 1);
	sp_close(&mb);
	assert_int_equal(load(mpath, &got), 0);
	tu_assert_same_index(&got, &ref);
	sp_index_free(&got);
	sp_index_free(&ref);

	/* sp_open really takes it: a marked cache shows. */
	save_marked(mpath);
	assert_true(open_is_marked(mpath));
}

/* Every odd thing the scanner accepts must pass the loader's checks (a
 * refused valid cache costs a scan every time): UW's pseudo message with
 * X-IMAP, CRLF lines, a header line longer than SP_HDRPARSE_MAX, empty
 * headers and bodies, separators back to back, split state headers, a
 * file that ends inside a header line without a line end. */
static void
test_odd_mailbox(void **state)
{
	struct sp_index ref, got;
	struct stat st;
	FILE *f = fopen(mpath, "w");
	unsigned i;

	(void)state;
	assert_non_null(f);
	fprintf(f, "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
	    "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
	    "X-IMAP: 1700000000 0000000100 uwa uwb\nStatus: RO\n\n"
	    "This text is part of the internal format of your mail folder.\n\n");
	for (i = 0; i < NMSG; i++) {
		fprintf(f, "From s%u@b Tue Jan  2 00:00:%02u 2024\n", i, i % 60);
		switch (i % 7) {
		case 0:		/* no header, no body */
			fprintf(f, "\n");
			continue;
		case 1:
			fprintf(f, "Subject: crlf %u\r\nX-UID: %u\r\n\r\n"
			    "body\r\n>From x\r\n\r\n", i, 200 + i);
			continue;
		case 2:
			fprintf(f, "X-Long: %04500u\nStatus: R\nSubject: s\n"
			    "X-Status: F\n\n\n\n", i);
			continue;
		default:
			fprintf(f, "Subject: %u\nX-Keywords: uwa k%u\n\nline\n"
			    "%s\n", i, i % 5, i % 3 ? "" : "From not a separator");
		}
	}
	fprintf(f, "From last@b Wed Jan  3 00:00:00 2024\nSubject: cut");
	assert_int_equal(fclose(f), 0);
	scan_file(mpath, &ref, &st);
	assert_true(st.st_size >= SP_CACHE_MIN_BYTES);
	assert_true(ref.base_pseudo && ref.pseudo_end > 0);
	assert_int_equal(save(mpath, &ref), 0);
	if (load(mpath, &got) != 0)
		fail_msg("a valid cache of an odd mailbox was refused");
	tu_assert_same_index(&got, &ref);
	print_message("%u messages, last one cut: the cache is used\n", got.n);
	sp_index_free(&got);
	sp_index_free(&ref);
}

/* A dirty index (a session's pending changes) is saved as the file is. */
static void
test_save_file_state(void **state)
{
	struct sp_index ref, dirty, got;
	struct stat st;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	scan_file(mpath, &dirty, &st);
	dirty.msg[4].flags = SP_DELETED | SP_EXPUNGE;
	dirty.msg[4].keywords = 3;
	dirty.ix[4].dirty = 1;
	assert_int_equal(save(mpath, &dirty), 0);
	assert_int_equal(load(mpath, &got), 0);
	tu_assert_same_index(&got, &ref);
	sp_index_free(&got);
	sp_index_free(&dirty);
	sp_index_free(&ref);
}

/* A refresh that rescans with this session's keyword table: a cache
 * whose table begins with it is used, another is not (and is kept). */
static void
test_seeded(void **state)
{
	struct sp_index ref, seed, got;
	struct stat st;
	unsigned k;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	assert_int_equal(save(mpath, &ref), 0);
	memset(&seed, 0, sizeof seed);
	for (k = 0; k < 3; k++)
		assert_int_equal(sp_kw_add(&seed, ref.kw[k], strlen(ref.kw[k])), k);
	assert_int_equal(sp_cache_load(mpath, &st, &seed, &got), 0);
	tu_assert_same_index(&got, &ref);
	sp_index_free(&got);
	assert_int_equal(sp_kw_add(&seed, "zzz", 3), 3);
	assert_int_equal(sp_cache_load(mpath, &st, &seed, &got), -1);
	assert_int_equal(got.n, 0);
	assert_true(exists(cpath));
	sp_index_free(&seed);
	sp_index_free(&ref);
}

/* ---- changes ------------------------------------------------------------------ */

static void
check_changed(const char *what)
{
	struct sp_index got;

	assert_int_equal(load(mpath, &got), -1);
	assert_int_equal(got.n, 0);
	assert_false(open_is_marked(mpath));
	assert_open_is_scan(mpath);
	print_message("%s: rescanned\n", what);
}

static void
test_changed_append(void **state)
{
	FILE *f;

	(void)state;
	write_mbox(mpath, 1);
	save_marked(mpath);
	f = fopen(mpath, "a");
	fprintf(f, "From new@example.org Wed Jan  3 00:00:00 2024\nSubject: new\n"
	    "\nnew body\n\n");
	fclose(f);
	check_changed("append");
}

static void
sync_flag(uint32_t i, uint32_t flag)
{
	struct sp_mbox *mb;
	struct sp_err err;

	if (sp_open(mpath, SP_RDWR, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	sp_set_state(mb, i, sp_msg(mb, i)->flags | flag, sp_msg(mb, i)->keywords | 1);
	if (sp_sync(mb, NULL, NULL, &err) != 0)
		fail_msg("sync: %s", err.msg);
	sp_close(&mb);
}

static void
test_changed_flags_in_place(void **state)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	struct stat a, b;

	(void)state;
	write_mbox(mpath, 1);
	sync_flag(8, SP_SEEN);		/* the first rewrite writes every X-UID */
	save_marked(mpath);
	assert_true(open_is_marked(mpath));	/* before the change: a hit */
	assert_int_equal(stat(mpath, &a), 0);
	/* save_marked pretends SP_CACHE_SETTLE_SEC have passed; at least let
	 * the file's coarse clock (one jiffy) move on, as that rule ensures. */
	nanosleep(&tick, NULL);
	sync_flag(9, SP_FLAGGED | SP_SEEN);
	assert_int_equal(stat(mpath, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	assert_int_equal(a.st_ino, b.st_ino);
	check_changed("flags rewritten in place, same size");
}

static void
test_changed_truncate(void **state)
{
	struct sp_index ref;
	struct stat st;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	save_marked(mpath);
	assert_int_equal(truncate(mpath, ref.msg[NMSG / 2].from_off), 0);
	sp_index_free(&ref);
	check_changed("truncated");
}

static void
test_changed_inode(void **state)
{
	char tmp[600], cmd[1400];

	(void)state;
	write_mbox(mpath, 1);
	save_marked(mpath);
	snprintf(tmp, sizeof tmp, "%s/user.new", tdir);
	snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", mpath, tmp);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rename(tmp, mpath), 0);
	check_changed("same bytes, new inode");
}

/* pop3d: QUIT with DELE rewrites the file; the next login sees it. */
static void
test_changed_expunge(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t uid5;
	int lk = -1;

	(void)state;
	write_mbox(mpath, 0);
	save_marked(mpath);
	if (sp_session_lock(mpath, &lk, &err) == -1)
		fail_msg("lock: %s", err.msg);
	if (sp_open(mpath, SP_RDWR | SP_CREATE, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(sp_count(mb), NMSG);
	uid5 = sp_msg(mb, 5)->uid;
	sp_set_state(mb, 0, sp_msg(mb, 0)->flags | SP_EXPUNGE, 0);
	sp_set_state(mb, 5, sp_msg(mb, 5)->flags | SP_EXPUNGE, 0);
	if (sp_sync(mb, NULL, NULL, &err) != 0)
		fail_msg("sync: %s", err.msg);
	sp_close(&mb);
	sp_session_unlock(&lk);
	check_changed("two messages expunged");
	if (sp_open(mpath, SP_RDONLY, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(sp_count(mb), NMSG - 2);
	assert_true(sp_msg(mb, 4)->uid > uid5);
	sp_close(&mb);
}

/* ---- when a cache is written ---------------------------------------------- */

static void
test_not_settled(void **state)
{
	struct sp_index ix;
	struct stat st;
	time_t t;
	int fd;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ix, &st);
	fd = open(mpath, O_RDONLY);
	t = st.st_mtim.tv_sec > st.st_ctim.tv_sec ? st.st_mtim.tv_sec :
	    st.st_ctim.tv_sec;
	assert_int_equal(sp_cache_save(mpath, fd, &st, t, &ix), -1);
	assert_int_equal(sp_cache_save(mpath, fd, &st, t + 1, &ix), -1);
	assert_false(exists(cpath));
	/* A fresh file opened now: not cached. */
	assert_open_is_scan(mpath);
	assert_false(exists(cpath));
	/* The file changed after the key was taken: not cached. */
	{
		FILE *f = fopen(mpath, "a");

		fputs("\n", f);
		fclose(f);
	}
	assert_int_equal(sp_cache_save(mpath, fd, &st, t + 10, &ix), -1);
	assert_false(exists(cpath));
	close(fd);
	sp_index_free(&ix);

	/* Settled: cached. */
	scan_file(mpath, &ix, &st);
	assert_int_equal(save(mpath, &ix), 0);
	assert_true(exists(cpath));
	sp_index_free(&ix);
}

/* A small mailbox gets no cache (SP_CACHE_MIN_BYTES). */
static void
test_small(void **state)
{
	struct sp_index ix;
	struct stat st;

	(void)state;
	assert_int_equal(tu_write_mbox(mpath, 20), 0);
	scan_file(mpath, &ix, &st);
	assert_true(st.st_size < SP_CACHE_MIN_BYTES);
	assert_int_equal(save(mpath, &ix), -1);
	assert_false(exists(cpath));
	sp_index_free(&ix);
}

/* The real path: a settled mailbox opened gets a cache, the next open
 * uses it; a same-size rewrite seen by sp_refresh, settled, is saved by
 * the refresh's full re-read.  Sleeps SP_CACHE_SETTLE_SEC + 1 once. */
static void
test_open_saves(void **state)
{
	struct sp_mbox *mb, *mb2;
	struct sp_err err;
	struct stat a, b;

	(void)state;
	write_mbox(mpath, 0);
	if (sp_open(mpath, SP_RDWR, &mb, &err) != 0)
		fail_msg("open: %s", err.msg);
	assert_false(exists(cpath));
	if (sp_open(mpath, SP_RDWR, &mb2, &err) != 0)
		fail_msg("open: %s", err.msg);
	sp_set_state(mb2, 1, sp_msg(mb2, 1)->flags | SP_ANSWERED, 0);
	if (sp_sync(mb2, NULL, NULL, &err) != 0)
		fail_msg("sync: %s", err.msg);
	sp_close(&mb2);
	sleep(SP_CACHE_SETTLE_SEC + 1);
	assert_int_equal(sp_refresh(mb, &err), 2);
	assert_int_equal(sp_msg(mb, 1)->flags & SP_ANSWERED, SP_ANSWERED);
	/* written when the mailbox is closed, not while the client waits for
	 * the open; a keyword the session added is not the file's */
	assert_false(exists(cpath));
	assert_true(sp_keyword_index(mb, "SessionOnly", 1) >= 0);
	sp_close(&mb);
	assert_int_equal(lstat(cpath, &a), 0);
	assert_open_is_scan(mpath);
	assert_int_equal(lstat(cpath, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);	/* a hit writes nothing */
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
}

/* ---- refused caches ------------------------------------------------------- */

/* Load must refuse the cache as it is now; ours is then removed. */
static void
check_refused(const char *what, int removed)
{
	struct sp_index got;

	if (load(mpath, &got) != -1)
		fail_msg("%s: the cache was used", what);
	assert_int_equal(got.n, 0);
	if (removed == exists(cpath))
		fail_msg("%s: cache %s", what, removed ? "kept" : "removed");
	assert_open_is_scan(mpath);
	unlink(cpath);
}

static void
read_cache(char **buf, size_t *len)
{
	FILE *f = fopen(cpath, "rb");
	struct stat st;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	*len = (size_t)st.st_size;
	*buf = malloc(*len);
	assert_int_equal(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

static void
write_cache(const char *buf, size_t len)
{
	FILE *f = fopen(cpath, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	chmod(cpath, 0600);
}

/* Rewrite the valid cache with the 4-byte field at OFF set to V and the
 * checksum made right again. */
static void
forge_u32(size_t off, uint32_t v)
{
	uint64_t sum;
	size_t len;
	char *b;

	read_cache(&b, &len);
	memcpy(b + off, &v, sizeof v);
	sum = sp_cache_sum(b, len - sizeof sum);
	memcpy(b + len - sizeof sum, &sum, sizeof sum);
	write_cache(b, len);
	free(b);
}

static void
test_refuse_bytes(void **state)
{
	struct sp_index ref;
	struct stat st;
	size_t len, offs[6];
	unsigned k;
	char *b;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	assert_int_equal(save(mpath, &ref), 0);
	read_cache(&b, &len);
	/* magic, key, keyword names, a msg record, an ix record, checksum */
	offs[0] = 2;
	offs[1] = 108;	/* base_validity */
	offs[2] = len - 8 - (size_t)ref.n * (sizeof(struct sp_msg) +
	    sizeof(struct sp_ixmsg)) - 3;
	offs[3] = len - 8 - (size_t)ref.n * (sizeof(struct sp_msg) +
	    sizeof(struct sp_ixmsg)) + 100 * sizeof(struct sp_msg) + 1;
	offs[4] = len - 8 - 50 * sizeof(struct sp_ixmsg) + 2;
	offs[5] = len - 3;
	for (k = 0; k < 6; k++) {
		b[offs[k]] ^= 0x10;
		write_cache(b, len);
		b[offs[k]] ^= 0x10;
		check_refused("flipped byte", 1);
	}
	/* A flipped key byte: the key of another file, a miss (kept). */
	b[49] ^= 0x10;
	write_cache(b, len);
	b[49] ^= 0x10;
	check_refused("flipped key byte", 0);
	write_cache(b, len - 1);
	check_refused("one byte short", 1);
	write_cache(b, 100);
	check_refused("header only", 1);
	write_cache(b, 0);
	check_refused("empty", 1);
	{
		char *big = calloc(1, len + 8);

		memcpy(big, b, len);
		write_cache(big, len + 8);
		free(big);
		check_refused("eight bytes too long", 1);
	}
	/* The untouched bytes are a hit (the cases above fail for cause). */
	write_cache(b, len);
	{
		struct sp_index got;

		assert_int_equal(load(mpath, &got), 0);
		sp_index_free(&got);
	}
	free(b);
	sp_index_free(&ref);
}

/* Header fields with a good checksum: version, struct sizes, counts. */
static void
test_refuse_header(void **state)
{
	static const struct {
		size_t off;
		uint32_t v;
		const char *what;
	} cases[] = {
		{ 8, 2, "version 2" },
		{ 8, 0, "version 0" },
		{ 12, 8, "header size" },
		{ 16, 80, "sizeof struct sp_msg" },
		{ 20, 32, "sizeof struct sp_ixmsg" },
		{ 24, 4, "sizeof off_t" },
		{ 28, 4, "sizeof time_t" },
		{ 88, NMSG - 1, "message count" },
		{ 88, SP_MESSAGES_MAX + 1, "message count over the limit" },
		{ 92, SP_KEYWORDS_MAX + 1, "keyword count over the limit" },
		{ 96, 3, "keyword bytes" },
		{ 100, 2, "has_base 2" },
		{ 116, SP_KEYWORDS_MAX, "base_nkw over nkw" },
	};
	struct sp_index ref;
	struct stat st;
	unsigned k;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		assert_int_equal(save(mpath, &ref), 0);
		forge_u32(cases[k].off, cases[k].v);
		check_refused(cases[k].what, 1);
	}
	/* The same forging with the right value: a hit. */
	assert_int_equal(save(mpath, &ref), 0);
	forge_u32(8, 1);
	forge_u32(88, NMSG);
	{
		struct sp_index got;

		assert_int_equal(load(mpath, &got), 0);
		tu_assert_same_index(&got, &ref);
		sp_index_free(&got);
	}
	sp_index_free(&ref);
}

enum forgery {
	F_FROM_ORDER, F_FROM_DUP, F_OVERLAP, F_HDR_BEFORE_FROM, F_BODY_BEFORE_HDR,
	F_END_BEFORE_BODY, F_END_PAST_FILE, F_UID_SAME, F_UID_DOWN, F_UID_ZERO,
	F_UID_NOT_SCANS, F_KW_BIT, F_FLAG_BIT, F_EXPUNGE, F_STATE_OUT,
	F_STATE_EMPTY, F_SIZE_HUGE, F_HDRSIZE_OVER, F_LINES, F_SPLIT,
	F_KW_NAME, F_KW_DUP, F_BASE_OFF, F_PSEUDO_END, F_NUM
};

static const char *const forgery_names[F_NUM] = {
	"from_off not increasing", "from_off repeated",
	"message starts before the previous one ends", "hdr_off <= from_off",
	"body_off < hdr_off", "end_off < body_off", "end_off past the file",
	"uid repeated", "uid decreasing", "uid 0",
	"uid not what the scan assigns", "keyword bit >= nkw",
	"unknown flag bit", "SP_EXPUNGE stored", "state block outside the header",
	"state_end without state_off", "served size beyond any bound",
	"header size > size", "more body lines than bytes", "split = 2",
	"keyword name with a space", "keyword named twice",
	"UIDNEXT offset past the file", "pseudo message past the first",
};

static void
forge(struct sp_index *ix, enum forgery f)
{
	struct sp_msg *m = &ix->msg[20];
	struct sp_ixmsg *x = &ix->ix[20];

	switch (f) {
	case F_FROM_ORDER: m->from_off = ix->msg[19].from_off - 1; break;
	case F_FROM_DUP: m->from_off = ix->msg[19].from_off; break;
	case F_OVERLAP: m->from_off = ix->msg[19].end_off - 1; break;
	case F_HDR_BEFORE_FROM: m->hdr_off = m->from_off; break;
	case F_BODY_BEFORE_HDR: m->body_off = m->hdr_off - 1; break;
	case F_END_BEFORE_BODY: m->end_off = m->body_off - 1; break;
	case F_END_PAST_FILE:
		ix->msg[ix->n - 1].end_off = ix->size + 1;
		break;
	case F_UID_SAME: m->uid = ix->msg[19].uid; break;
	case F_UID_DOWN: m->uid = ix->msg[19].uid - 1; break;
	case F_UID_ZERO: ix->msg[0].uid = 0; break;
	case F_UID_NOT_SCANS: ix->msg[ix->n - 1].uid += 5; break;
	case F_KW_BIT: x->disk_kw |= 1u << ix->nkw; break;
	case F_FLAG_BIT: x->disk_flags |= 1u << 12; break;
	case F_EXPUNGE: x->disk_flags |= SP_EXPUNGE; break;
	case F_STATE_OUT: x->state_end = m->body_off + 1; break;
	case F_STATE_EMPTY: x->state_off = -1; break;
	case F_SIZE_HUGE: m->size = UINT64_MAX / 2; break;
	case F_HDRSIZE_OVER: m->hdr_size = m->size + 1; break;
	case F_LINES: m->body_lines = (uint32_t)(m->end_off - m->body_off) + 2; break;
	case F_SPLIT: x->split = 2; break;
	case F_KW_NAME: ix->kw[1][1] = ' '; break;
	case F_KW_DUP:
		free(ix->kw[2]);
		ix->kw[2] = strdup(ix->kw[1]);
		break;
	case F_BASE_OFF: ix->base_next_off = ix->size - 5; break;
	case F_PSEUDO_END: ix->pseudo_end = ix->msg[0].from_off + 1; break;
	default: break;
	}
}

/* Each record rule, forged into an otherwise valid cache (good checksum). */
static void
test_refuse_records(void **state)
{
	struct sp_index ref, ix;
	struct stat st;
	unsigned f;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	assert_true(ref.nkw < 32 && ref.ix[20].state_off != -1);
	for (f = 0; f < F_NUM; f++) {
		scan_file(mpath, &ix, &st);
		forge(&ix, f);
		assert_int_equal(save(mpath, &ix), 0);
		sp_index_free(&ix);
		check_refused(forgery_names[f], 1);
	}
	sp_index_free(&ref);
}

/* Whose the file is, what it is, who may write it. */
static void
test_refuse_file(void **state)
{
	struct sp_index ref;
	struct stat st;
	char other[600];

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);

	assert_int_equal(save(mpath, &ref), 0);
	chmod(cpath, 0620);
	check_refused("group-writable", 1);
	assert_int_equal(save(mpath, &ref), 0);
	chmod(cpath, 0602);
	check_refused("other-writable", 1);

	/* A symlink to a valid cache: refused, removed. */
	assert_int_equal(save(mpath, &ref), 0);
	snprintf(other, sizeof other, "%s/elsewhere", tdir);
	assert_int_equal(rename(cpath, other), 0);
	assert_int_equal(symlink(other, cpath), 0);
	check_refused("symlink", 1);
	assert_true(exists(other));
	unlink(other);

	/* A directory in its place: refused, left alone; no save either. */
	assert_int_equal(mkdir(cpath, 0700), 0);
	check_refused("directory", 0);
	assert_int_equal(save(mpath, &ref), -1);
	rmdir(cpath);

	/* Another owner (only root can make one): refused and kept. */
	if (geteuid() == 0) {
		assert_int_equal(save(mpath, &ref), 0);
		assert_int_equal(chown(cpath, OTHER_UID, OTHER_UID), 0);
		check_refused("owned by another user", 0);
	} else
		print_message("not root: the other-owner case is not run\n");

	/* A cache saved for another file's key: stale, not removed. */
	assert_int_equal(save(mpath, &ref), 0);
	{
		FILE *f = fopen(mpath, "a");

		fputs("\n", f);
		fclose(f);
	}
	check_refused("stale key", 0);	/* kept: a miss, not a fault */
	sp_index_free(&ref);
}

/* ---- the directory ---------------------------------------------------------- */

/* In a child as OTHER_UID: open the mailbox it owns in a directory it
 * cannot write; no cache, no error, the index a scan gives. */
static void
test_dir_not_writable(void **state)
{
	struct sp_index ref;
	struct stat st;
	pid_t pid;
	int status;

	(void)state;
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	if (geteuid() == 0) {
		assert_int_equal(chown(mpath, OTHER_UID, OTHER_UID), 0);
		chmod(tdir, 0755);
	} else
		chmod(tdir, 0555);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sp_mbox *mb;
		struct sp_err err;
		int fd;

		if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
		    setresgid(OTHER_UID, OTHER_UID, OTHER_UID) == -1 ||
		    setresuid(OTHER_UID, OTHER_UID, OTHER_UID) == -1))
			_exit(10);
		if (sp_open(mpath, SP_RDONLY, &mb, &err) != 0 ||
		    sp_count(mb) != ref.n || mb->ix.nkw != ref.nkw)
			_exit(11);
		sp_close(&mb);
		fd = open(mpath, O_RDONLY);
		if (fd == -1 || fstat(fd, &st) == -1 || sp_cache_save(mpath, fd,
		    &st, st.st_ctim.tv_sec + 10, &ref) != -1)
			_exit(12);
		close(fd);
		_exit(exists(cpath) ? 13 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	chmod(tdir, 0755);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(cpath));
	sp_index_free(&ref);
}

/* The spool as Debian has it (root:mail 2775) and a server that kept
 * group mail as its saved gid only: the cache is made with that group
 * raised, owned by the user, mode 0600, and then used. */
static void
test_dir_saved_group(void **state)
{
	struct sp_index ref;
	struct stat st;
	pid_t pid;
	int status;
	gid_t mail = 8;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: skipped\n");
		return;
	}
	write_mbox(mpath, 1);
	scan_file(mpath, &ref, &st);
	assert_int_equal(chown(tdir, 0, mail), 0);
	assert_int_equal(chmod(tdir, 02775), 0);
	assert_int_equal(chown(mpath, OTHER_UID, mail), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sp_index got, seed;
		int fd;

		if (setgroups(0, NULL) == -1 ||
		    setresgid(OTHER_UID, OTHER_UID, mail) == -1 ||
		    setresuid(OTHER_UID, OTHER_UID, OTHER_UID) == -1)
			_exit(10);
		fd = open(mpath, O_RDONLY);
		if (fd == -1 || fstat(fd, &st) == -1 || sp_cache_save(mpath, fd,
		    &st, st.st_ctim.tv_sec + 10, &ref) != 0)
			_exit(11);
		close(fd);
		memset(&seed, 0, sizeof seed);
		if (sp_cache_load(mpath, &st, &seed, &got) != 0 || got.n != ref.n)
			_exit(12);
		sp_index_free(&got);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(cpath, &st), 0);
	assert_int_equal(st.st_uid, OTHER_UID);
	assert_int_equal(st.st_mode & 07777, 0600);
	sp_index_free(&ref);
}

/* imapd's LIST shows neither the cache, nor the journal, nor a
 * temporary cache left by a crash. */
static void
test_list_hides(void **state)
{
	char md[600], box[700], p[800];
	struct mbx_list l;
	struct sp_index ix;
	struct stat st;
	size_t i;

	(void)state;
	snprintf(md, sizeof md, "%s/mail", tdir);
	assert_int_equal(mkdir(md, 0700), 0);
	snprintf(box, sizeof box, "%s/Work", md);
	write_mbox(box, 1);
	scan_file(box, &ix, &st);
	assert_int_equal(save(box, &ix), 0);
	sp_index_free(&ix);
	snprintf(p, sizeof p, "%s/.Work.index", md);
	assert_true(exists(p));
	snprintf(p, sizeof p, "%s/.Work.journal", md);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof p, "%s/.Work.index.123.0badcafe", md);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	memset(&l, 0, sizeof l);
	assert_int_equal(mbx_walk(md, "*", &l), 0);
	for (i = 0; i < l.n; i++)
		print_message("LIST: %s\n", l.v[i].name);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "Work");
	mbx_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_hit_same_as_scan),
		T(test_odd_mailbox),
		T(test_save_file_state),
		T(test_seeded),
		T(test_changed_append),
		T(test_changed_flags_in_place),
		T(test_changed_truncate),
		T(test_changed_inode),
		T(test_changed_expunge),
		T(test_not_settled),
		T(test_small),
		T(test_open_saves),
		T(test_refuse_bytes),
		T(test_refuse_header),
		T(test_refuse_records),
		T(test_refuse_file),
		T(test_dir_not_writable),
		T(test_dir_saved_group),
		T(test_list_hides),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
