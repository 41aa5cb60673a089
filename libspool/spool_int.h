/*
 * spool_int.h - private to the storage files of libspool (lock.c,
 * deliver.c, mbox.c, rewrite.c, serve.c, append.c, names.c).  Not part of
 * the contract: servers include spool.h only.
 */
#ifndef SPOOL_SPOOL_INT_H
#define SPOOL_SPOOL_INT_H

#include <signal.h>
#include <sys/stat.h>

#include "spool.h"

/* Window of the scanner: the file is read (pread) into one reused buffer
 * of this size at a time, so that RSS stays small even for a 1 GiB
 * mailbox (the buffer + the index).  1 MiB measured fastest here: the
 * buffer stays in the L2 cache between the kernel's copy and our scan,
 * while an 8 MiB mmap window spent its time populating page tables
 * (bench/bench_spool.c compares both in one run). */
#define SP_WIN_SIZE		((size_t)1 << 20)

/* A mailbox is scanned by one thread per online processor when each gets
 * at least this much: below it, starting a thread (~50 us) and joining
 * the indexes cost more than the copy saved (16 MiB take ~3 ms). */
#define SP_SCAN_SPLIT_MIN	((off_t)16 << 20)
/* At most this many threads: past a few, memory bandwidth, not the
 * processors, bounds the scan. */
#define SP_SCAN_THREADS_MAX	8

/* Longest From_ line that can be a separator: "From " + an address
 * (SMTP allows 64+1+255) + the date, with room.  Longer lines are text. */
#define SP_FROMLINE_MAX		1024

/* Bytes of a state header line that we parse (X-Keywords with 32 names
 * of SP_KEYWORD_MAX fits); the rest of a longer line is ignored. */
#define SP_HDRPARSE_MAX		4096

/* Longest keyword name we accept (IMAP atoms have no limit; Dovecot
 * refuses above 255, we keep state blocks small). */
#define SP_KEYWORD_MAX		64

/* I/O buffer for delivery, journal and copying: large enough that a
 * 10 MB message is a handful of system calls, small against RSS. */
#define SP_IO_CHUNK		((size_t)256 * 1024)

/* Largest state block we write: X-IMAPbase with every keyword, Status,
 * X-Status, X-Keywords with every keyword and padding, X-UID. */
#define SP_BLOCK_MAX		(2 * SP_KEYWORDS_MAX * (SP_KEYWORD_MAX + 1) + 256)

/* ---- errors (deliver.c) ---- */
int sp_fail(struct sp_err *err, enum sp_class cls, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Map errno E of operation WHAT on PATH (Postfix's mapping). */
int sp_fail_errno(struct sp_err *err, int e, const char *what,
    const char *path);
void sp_err_ok(struct sp_err *err);

/* ---- scan window (mbox.c) ---- */
struct sp_win {
	int fd;
	off_t fsize;
	char *base;		/* the buffer, NULL before the first read */
	size_t cap;		/* its size */
	off_t woff;		/* file offset of base[0] */
	size_t wlen;		/* bytes valid in it */
};
void sp_win_init(struct sp_win *w, int fd, off_t fsize);
void sp_win_done(struct sp_win *w);
/* A pointer to byte OFF with *AVAIL bytes valid behind it, at least
 * min(WANT, fsize - OFF).  NULL with errno on failure (EIO if the file
 * became shorter than FSIZE: it was cut by a program ignoring our lock;
 * a read never raises SIGBUS as a mapping would). */
const char *sp_win_at(struct sp_win *w, off_t off, size_t want,
    size_t *avail);

/* ---- buffered line reader over pread (serve.c; used by rewrite.c) ---- */
struct sp_rd {
	int fd;
	off_t pos;		/* file offset of buf[start] */
	off_t end;		/* stop here */
	char *buf;
	size_t cap, start, len;
};
int sp_rd_init(struct sp_rd *r, int fd, off_t from, off_t end);
void sp_rd_done(struct sp_rd *r);
/* Next line: *P (valid until the next call), *N without the LF, *LF 1 if
 * the line ended in LF.  Returns 1, 0 at the end, -1 on error. */
int sp_rd_line(struct sp_rd *r, const char **p, size_t *n, int *lf);

/* ---- the served-form transform (serve.c) ---- */

/*
 * A push transform from stored bytes to the served form (spool.h), fed in
 * chunks cut anywhere: state header fields hidden, one '>' removed from
 * /^>+From / lines, LF made CRLF (a CR LF stays), a missing final line end
 * and a missing blank line after the header added, and optionally POP3
 * dot-stuffing.  It is the one implementation of the served form: the
 * reader (sp_serve_*), sp_served and sp_lines are built on it.  The input
 * is [hdr_off, end_off) of a message for SP_PART_ALL, [hdr_off, body_off)
 * for SP_PART_HEADER, [body_off, end_off) for SP_PART_BODY: the header is
 * the first HDR_LEN bytes, as the index says (a blank line inside them ends
 * the served header early; what follows it there is dropped).  Memory is
 * the struct: a line of any length streams.
 */

/* Bytes of a header line that decide whether it is a state header:
 * sp_state_header looks for the colon in the first 32. */
#define SP_XF_PEEK		32

/* Output room that a step other than the bulk copy may need: a peeked
 * line start replayed (SP_XF_PEEK, a dot) and two line ends (the line's
 * and the header's blank line).  Must not exceed SP_SERVE_MIN. */
#define SP_XF_SLACK		(SP_XF_PEEK + 1 + 2 + 2)

struct sp_xf {
	uint64_t hdr_left;	/* header bytes still to come */
	uint64_t lines_left;	/* body lines still to serve */
	int st;			/* XF_* in serve.c */
	int in_hdr;		/* in the header segment */
	int hdr_only;		/* SP_PART_HEADER: done after it */
	int dot;		/* POP3 dot-stuffing */
	int blank;		/* the header's blank line was seen */
	int in_state;		/* the header field read is a state header */
	int last_cr;		/* the last byte copied of this line is a CR */
	int gt;			/* bytes of "From " matched after a '>' */
	size_t npeek;
	char peek[SP_XF_PEEK];
};

/* Set up for PART (the header is the first HDR_LEN input bytes; ignored for
 * SP_PART_BODY), at most BODY_LINES body lines (UINT64_MAX: all), with
 * dot-stuffing if DOT. */
void sp_xf_init(struct sp_xf *x, enum sp_part part, uint64_t hdr_len,
    uint64_t body_lines, int dot);
/* Transform IN/N into OUT (ROOM bytes free).  Returns the input bytes
 * consumed, *OUTN the bytes written.  Consumes all of IN unless the output
 * room runs short or the transform is done; with ROOM >= SP_XF_SLACK it
 * always makes progress. */
size_t sp_xf_run(struct sp_xf *x, const char *in, size_t n, char *out,
    size_t room, size_t *outn);
/* The input is over: write what is pending into OUT (SP_XF_SLACK bytes of
 * room needed) and return its length.  The transform is then done. */
size_t sp_xf_end(struct sp_xf *x, char *out);
/* Nothing more will come out (TOP's line count reached, header served,
 * or sp_xf_end called). */
int sp_xf_done(const struct sp_xf *x);

/* ---- index (mbox.c) ---- */

/* What the index knows beyond struct sp_msg: where the state headers are
 * and what they say on disk. */
struct sp_ixmsg {
	off_t state_off;	/* first state header line, -1 if none */
	off_t state_end;	/* end of the last one */
	uint32_t fromhash;	/* FNV-1a of the From_ line: detects moves */
	uint32_t disk_uid;	/* X-UID as read, 0 if none */
	uint32_t disk_flags;	/* flags as on disk (SP_RECENT: no "O") */
	uint32_t disk_kw;	/* keywords as on disk */
	uint8_t split;		/* state lines not contiguous or not all known */
	uint8_t uid_ok;		/* disk_uid was accepted as the UID */
	uint8_t dirty;		/* sp_set_state changed it */
};

struct sp_index {
	struct sp_msg *msg;
	struct sp_ixmsg *ix;
	uint32_t n, cap;
	uint32_t uidvalidity, uidnext;
	int has_base;		/* X-IMAPbase or X-IMAP parsed in message 0 */
	int base_pseudo;	/* ... from UW's hidden pseudo message */
	off_t pseudo_end;	/* end of that message, 0 if none */
	uint32_t base_validity, base_next;
	off_t base_next_off;	/* the 10 digits of UIDNEXT, -1 if not ours */
	unsigned base_nkw;	/* keywords listed in X-IMAPbase */
	char *kw[SP_KEYWORDS_MAX];
	unsigned nkw;
	off_t size;		/* bytes scanned */
};

void sp_index_free(struct sp_index *ix);
/* Copy the keyword table of SRC into empty DST (seed of a new scan). */
int sp_index_seed(struct sp_index *dst, const struct sp_index *src);
/* Scan [START, FSIZE) of FD and append the messages found; START is 0 or
 * the From_ line of a message.  Then assign UIDs (sp_index_uids). */
int sp_scan(int fd, off_t start, off_t fsize, struct sp_index *ix,
    struct sp_err *err);
/* sp_scan cut into SEGMENTS scanned in parallel (0: one per processor
 * when the file is big enough, see SP_SCAN_SPLIT_MIN); the index is the
 * same whatever SEGMENTS is (tests/unit/test_spool_scan.c checks it). */
int sp_scan_split(int fd, off_t start, off_t fsize, struct sp_index *ix,
    struct sp_err *err, unsigned segments);
void sp_index_uids(struct sp_index *ix, uint32_t empty_validity);
int sp_kw_add(struct sp_index *ix, const char *name, size_t len);
/* MAP[k] := index in DST of SRC's keyword k, by name (added to DST if
 * missing; -1 if DST's table is full). */
void sp_kw_map(struct sp_index *dst, const struct sp_index *src, int *map);
/* Merge this session's pending change to message J of OLD (its flags and
 * keywords against disk_flags/disk_kw, what it loaded from the file) into
 * the file's current state NOWF/NOWK (keywords numbered as in the MAP
 * target): (now | added) & ~removed.  A message without change (not
 * dirty) gets NOW. */
void sp_state_merge(const struct sp_index *old, uint32_t j, const int *map,
    uint32_t nowf, uint32_t nowk, uint32_t *f_r, uint32_t *k_r);
/* Index of state header NAME (the text before ':'), -1 if not one. */
int sp_state_header(const char *p, size_t n);
/* Is P/N a separator line "From sender date" (without LF)?  *WHEN_R gets
 * the date; *SENDER_R and *SLEN_R the sender. */
int sp_from_line(const char *p, size_t n, time_t *when_r,
    const char **sender_r, size_t *slen_r);
uint32_t sp_hash(const char *p, size_t n);
int sp_is_quoted_from(const char *p, size_t n);

/* ---- locks and files (lock.c) ---- */
/* Journal path of mailbox PATH: DIR/.NAME.journal. */
int sp_journal_path(const char *path, char *buf, size_t cap);
/* Run FN(ARG) with the saved group raised when PATH's directory needs it
 * (EACCES with our effective ids).  Returns FN's result, errno kept. */
int sp_with_group(const char *path, int (*fn)(void *), void *arg);
/* Block every catchable signal (and SIGXFSZ) into OLD; restore. */
void sp_sig_block(sigset_t *old);
void sp_sig_restore(const sigset_t *old);
void sp_sleep_ms(unsigned ms);
/* Tell the lock's guardian that an append starts at SIZE (if we are killed
 * before sp_lock_done, it cuts the file back to SIZE), or that it is over. */
void sp_lock_intent(struct sp_lock *l, off_t size);
void sp_lock_done(struct sp_lock *l);
uint32_t sp_random(void);

/* ---- rewrite (rewrite.c) ---- */
/* fsync the directory holding PATH (makes a created or removed name
 * durable).  -1 with errno if fsync fails; 0 also when the directory
 * cannot be opened (nothing more can be done). */
int sp_fsync_dir(const char *path);
/* With the exclusive lock held on FD: replay or discard a journal. */
int sp_journal_recover(int fd, const char *path, struct sp_err *err);

/* What a rewrite must make of message i of a fresh index. */
struct sp_want {
	uint32_t flags;		/* incl. SP_RECENT to keep "O" off; SP_EXPUNGE */
	uint32_t kw;
};
/* Rewrite FD (exclusive lock held) so that message i has WANT[i]; every
 * UID is persisted and X-IMAPbase put on the first kept message with
 * UIDNEXT. Crash-safe (in-place pwrite or journal). */
int sp_rewrite(int fd, const char *path, struct sp_index *ix,
    const struct sp_want *want, struct sp_err *err);
/* Format a state block into BUF; PAD_TO 0 gives the default padding,
 * otherwise the block is padded to exactly PAD_TO bytes if it fits.
 * Returns the length, or 0 if it does not fit. */
size_t sp_block(char *buf, size_t cap, const struct sp_index *ix,
    int with_base, uint32_t uidnext, uint32_t flags, uint32_t kw,
    uint32_t uid, size_t pad_to);

/* ---- delivery (deliver.c) ---- */
/* Open (or create) the target mailbox safely and lock it exclusively;
 * recovers a pending journal.  *SIZE_R is its size under the lock;
 * *CREATED_R is 1 if this call created the file (its directory entry is
 * not durable yet: the caller fsyncs the directory after the data). */
int sp_target_open(const struct sp_target *t, int *fd_r,
    struct sp_lock **lock_r, off_t *size_r, int *created_r,
    struct sp_err *err);
/* Append writer: formats mboxrd messages into FD from offset OFF. */
struct sp_out {
	int fd;
	off_t off;
	char *buf;
	size_t len;
	int err;		/* errno of the first failed write */
};
int sp_out_init(struct sp_out *o, int fd, off_t off);
void sp_out_put(struct sp_out *o, const char *p, size_t n);
int sp_out_flush(struct sp_out *o);
void sp_out_done(struct sp_out *o);
/* Write one message: From_ line, header without state headers, BLOCK
 * (may be NULL) at the end of the header, body quoted, blank line.
 * PREFIX_NL adds newlines first so that the file ends in a blank line. */
void sp_out_message(struct sp_out *o, const char *from, time_t when,
    const char *msg, size_t len, const char *block, size_t blen);
/* How many newlines must precede an append to FD of size SIZE. */
int sp_tail_fix(int fd, off_t size, const char **fix_r);

/* ---- index cache (ixcache.c; path in lock.c) ---- */

/*
 * A copy of a mailbox's scanned index in DIR/.NAME.index, so that opening
 * an unchanged mailbox costs a stat and one read of ~110 bytes a message
 * instead of a scan.  Never trusted over the mailbox: it is keyed on the
 * mailbox's dev, ino, size, mtime and ctime, written only once those are
 * SP_CACHE_SETTLE_SEC old, and checked in full (checksum, bounds, order)
 * before use.  Everything here fails silently: no cache means a scan.
 */

/* Cache path of mailbox PATH: DIR/.NAME.index. */
int sp_cache_path(const char *path, char *buf, size_t cap);
/* Fill the empty index IX from the cache of PATH if its key equals ST (the
 * mailbox's fstat under the shared lock) and its keyword table begins with
 * SEED's (SEED: the table a scan would be seeded with).  UIDs are
 * computed as sp_scan does.  Returns 0, or -1 (IX left empty) when there
 * is no usable cache; a refused one of ours is removed. */
int sp_cache_load(const char *path, const struct stat *st,
    const struct sp_index *seed, struct sp_index *ix);
/* Save IX, an unseeded scan of FD whose fstat under the lock was KEY at
 * time NOW, as the cache of PATH: only if KEY is settled at NOW, FD's
 * fstat still equals KEY, we own the mailbox, it is at least
 * SP_CACHE_MIN_BYTES and its directory lets us write.  Atomic (temporary
 * file renamed over the old cache).  Returns 0 if saved, else -1. */
int sp_cache_save(const char *path, int fd, const struct stat *key,
    time_t now, const struct sp_index *ix);
/* Are A and B the same key: dev, ino, size, mtime and ctime to the ns? */
int sp_stat_same(const struct stat *a, const struct stat *b);
/* The checksum that ends a cache file, of its N bytes before it (tests
 * forge caches with it). */
uint64_t sp_cache_sum(const void *p, size_t n);

/* ---- mailbox handle ---- */
struct sp_raw {
	char *p;
	size_t len;
};

struct sp_mbox {
	char path[SP_PATH_MAX];
	int fd;			/* -1: the file does not exist (SP_CREATE) */
	int flags;
	struct stat st;		/* as at the last scan */
	struct sp_index ix;
	/* The open's scan, to be saved as the index cache at sp_close if it
	 * is still the index in use (st unchanged): not at the open, where
	 * the client waits for it.  CACHE_NKW: the file's keywords (a session
	 * may add more to ix.kw). */
	int cache_due;
	struct stat cache_key;
	time_t cache_now;
	unsigned cache_nkw;
	struct sp_raw *raw;
	size_t nraw;
};

#endif
