/*
 * spool.h - the mailbox store: locking, delivery, reading and rewriting
 * of traditional mbox files (/var/mail/USER and folders).
 *
 * Contract for every function here:
 *  - returns 0 on success, -1 on failure with *err filled (class, RFC 3463
 *    status and a message fit for syslog);
 *  - never prints, never exits, never leaves a lock held on a failure path;
 *  - no global state: two mailboxes may be open side by side.
 *
 * Format written: mboxrd.  A message is stored as
 *   "From SENDER Www Mmm dd hh:mm:ss yyyy\n" headers "\n" body "\n"
 * with LF line ends, every body or header line matching /^>*From / given
 * one more '>', and one blank line after the message.
 * Format read: mboxrd, mboxo (Postfix), and files with Content-Length
 * (which is ignored: the separator rule decides).  A message starts only at
 * a "From " line that follows a blank line or the start of the file and
 * that looks like a separator (a sender and a parsable date).
 *
 * The "served" form of a message is what POP3 and IMAP clients see: the
 * stored bytes with one '>' removed from each /^>+From / line, the private
 * state headers (see SP_STATE_HEADERS) left out, and every line end CRLF
 * (an LF preceded by CR stays as is).  Delivering a message whose lines all
 * end in CRLF and reading it back served gives the same bytes, except that a
 * message not ending in a line end gets one (mbox cannot store otherwise).
 */
#ifndef SPOOL_SPOOL_H
#define SPOOL_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "params.h"

/* Headers that hold mailbox state.  They are stripped from new mail at
 * delivery (nobody can forge them), never served to clients, and rewritten
 * by sp_sync(). */
#define SP_STATE_HEADERS \
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase", \
	"Content-Length", "X-UIDL"

/* ---- errors ------------------------------------------------------------ */

enum sp_class {
	SP_OK = 0,
	SP_TEMPFAIL,		/* try again later: 4xx, -ERR [SYS/TEMP], NO */
	SP_PERMFAIL,		/* will not work: 5xx, -ERR [SYS/PERM] */
	SP_BUSY			/* mailbox locked by someone else: [IN-USE] */
};

struct sp_err {
	enum sp_class cls;
	char dsn[8];		/* RFC 3463 code, e.g. "4.3.0", "5.2.2" */
	char msg[256];		/* one line, no secrets, safe for syslog */
};

/* ---- names ------------------------------------------------------------- */

/*
 * sp_user_valid - is NAME acceptable as a mailbox (user) name?  Refuses the
 * empty string, anything over SP_USER_MAX, '/', a leading '.' or '-', "..",
 * control characters, bytes >= 0x80, spaces, and a name ending in ".lock"
 * (it would be another user's dotlock).  Returns 1 or 0.
 */
int sp_user_valid(const char *name);

/* ---- locking ----------------------------------------------------------- */

/*
 * A lock on one mailbox file, by Debian Policy 11.6: an fcntl lock on the
 * file and the dotlock PATH.lock, both taken non-blocking with randomised
 * retries (2 ms doubling up to SP_LOCK_DELAY_MS) within a total budget of
 * SP_LOCK_TRIES * SP_LOCK_DELAY_MS, then SP_BUSY.  The dotlock is made
 * NFS-safe (unique temporary file, link(), st_nlink == 2 check, O_EXCL
 * fallback where link() is refused); it holds our pid.  A dotlock older
 * than SP_DOTLOCK_STALE_SEC, or whose pid is dead on this host, is removed.
 * While we hold a dotlock a tiny guardian process waits on a pipe and
 * removes the dotlock if we die (even by SIGKILL), so no stale dotlock is
 * left behind; it is started before the dotlock is made, and it also cuts
 * back an append that its parent began but did not finish (sp_deliver,
 * sp_append).  One lock per mailbox per process at a time (fcntl locks
 * are per process: never nest sp_lock on one file).
 *
 * If the spool directory is not writable by our effective ids but is
 * group-writable by a group in our saved set (group mail after a privilege
 * drop), the lock functions raise that group only around the creation and
 * removal of the dotlock (and of the journal and of a new mailbox).  Where
 * the directory cannot be written at all the dotlock is skipped with fcntl
 * alone (documented in README).
 */
enum sp_lockmode {
	SP_LOCK_SHARED,		/* fcntl read lock; waits while a dotlock is held */
	SP_LOCK_EXCL		/* fcntl write lock + dotlock */
};

struct sp_lock;		/* opaque */

/* Lock the open file FD whose path is PATH.  *lock_r is set on success. */
int sp_lock(int fd, const char *path, enum sp_lockmode mode,
    struct sp_lock **lock_r, struct sp_err *err);
/* Release and free; sets *lock to NULL.  Safe on NULL. */
void sp_unlock(struct sp_lock **lock);

/*
 * A guardian the caller runs: instead of a guardian process per dotlock
 * (one fork each), a process that outlives the locker and waits for it
 * (smtpd's root parent, which forks one delivery process per recipient)
 * guards its dotlock, with the same guarantee: a SIGKILL of the locker
 * leaves neither a stale PATH.lock nor a half-written message.
 *   - The caller makes a pipe before the locker starts.  The locker passes
 *     its write end to sp_lock_guarded / sp_deliver_guarded (which never
 *     close it) and ignores SIGPIPE.  It writes fixed records to it: a
 *     dotlock is being taken; an append starts at size S in file dev/ino;
 *     the append is complete or rolled back; released.
 *   - The guard closes its copy of the write end and calls sp_guard_watch
 *     on the read end: 0 when the locker has released (or never locked),
 *     1 when the pipe reached EOF with a dotlock in play: the locker died.
 *   - Then sp_guard_recover, in a process with the locker's rights (the
 *     mailbox owner, group mail): with the fcntl lock, and only if the
 *     dotlock still holds the dead pid (nobody wrote since) and the file
 *     is the one it wrote (dev/ino), the unfinished append is cut back and
 *     fsync()ed; then the dotlock (and its temporary file) is removed if it
 *     still holds that pid.  Returns 0, or -1 if the mailbox cannot be opened.
 * If the guard is gone (the pipe has no reader) when the dotlock is about
 * to be taken or an append to start, the locker starts a guardian process
 * of its own instead.  A guarded exclusive lock keeps its dotlock file
 * between locks as DIR/.NAME.lock.spare (the locker's, 0600; a name no
 * mailbox can have): the next one renames it back into use, so taking the
 * dotlock allocates no inode (on ext4 without a journal a new inode is
 * searched for past every inode freed in the last minutes: 0.3 ms and
 * more per delivery under a steady load).  A spare that is not a regular
 * file of the locker with one link is never used.
 * GUARD_FD -1 gives sp_lock / sp_deliver (a guardian process of our own,
 * nothing kept).
 */
struct sp_guard_note {
	int held;		/* a dotlock was in play, not released */
	int appending;		/* an append was under way: cut back to size */
	off_t size;		/* the mailbox size before that append */
	dev_t dev;		/* the file being appended */
	ino_t ino;
};
int sp_lock_guarded(int fd, const char *path, enum sp_lockmode mode,
    int guard_fd, struct sp_lock **lock_r, struct sp_err *err);
int sp_guard_watch(int fd, struct sp_guard_note *note);
int sp_guard_recover(const char *path, pid_t dead,
    const struct sp_guard_note *note);

/* ---- delivery ---------------------------------------------------------- */

struct sp_target {
	const char *path;	/* the mailbox file, e.g. /var/mail/etudiant */
	uid_t uid;		/* required owner; (uid_t)-1: the caller's euid */
	gid_t gid;		/* group for a new mailbox; (gid_t)-1: caller's egid */
	long long max_bytes;	/* mailbox size cap after append; 0 = none */
};

/*
 * sp_deliver - append one message, all or nothing.
 *
 * MSG/LEN is the message (headers, blank line, body) with CRLF or LF line
 * ends; CR LF is stored as LF.  FROM is the envelope sender for the
 * separator line ("" or NULL gives MAILER-DAEMON); WHEN its date.
 * Private state headers are removed from the header section, From_ lines
 * are quoted (mboxrd), a final newline and the blank line are added.
 *
 * The mailbox is opened with O_NOFOLLOW and refused unless it is a regular
 * file with one link owned by t->uid; a missing one is created with
 * O_EXCL, mode 0600, group t->gid.  After locking, lstat/fstat are compared
 * (dev, ino, nlink).  Any pending rewrite journal is recovered first.  Data is
 * written, fsync()ed, and only then unlocked; on any failure (ENOSPC, EFBIG,
 * EDQUOT, EIO, a signal) the file is truncated back to its size before the
 * append while still locked.  Error mapping follows Postfix: ENOSPC and
 * unknown errors are temporary (4.3.0), EFBIG/EDQUOT and the cap permanent
 * (5.2.2), a refused mailbox permanent (5.2.0 or 5.1.1).
 */
int sp_deliver(const struct sp_target *t, const char *from, time_t when,
    const char *msg, size_t len, struct sp_err *err);
/* sp_deliver with the caller's guard on GUARD_FD (see sp_lock_guarded). */
int sp_deliver_guarded(const struct sp_target *t, const char *from,
    time_t when, const char *msg, size_t len, int guard_fd,
    struct sp_err *err);

/*
 * sp_append - append N messages with their IMAP state (APPEND, COPY, MOVE),
 * all or nothing, under one lock.  Each message is given in served form
 * (CRLF or LF); its private state headers are dropped and ours written:
 * Status/X-Status/X-Keywords from FLAGS and KEYWORDS, and an explicit X-UID.
 * Before appending, UIDs of messages that have none are made persistent and
 * X-IMAPbase's next UID is advanced in place, so the UIDs reported here are
 * the ones every later reader sees.  *UIDVALIDITY_R and *FIRST_UID_R (the
 * UID of msgs[0]; the others follow by one) may be NULL.  New messages are
 * \Recent (no "O" in Status) whatever FLAGS says; keywords beyond the
 * mailbox's SP_KEYWORDS_MAX are not kept.  Same checks and
 * rollback as sp_deliver; T->path must already exist unless the caller
 * wants it created (it is, as in sp_deliver).
 */
struct sp_newmsg {
	const char *data;
	size_t len;
	const char *from;		/* envelope sender for From_; NULL: MAILER-DAEMON */
	time_t when;			/* internal date */
	uint32_t flags;			/* SP_SEEN ... SP_DRAFT */
	const char *const *keywords;	/* keyword names */
	size_t nkeywords;
};
int sp_append(const struct sp_target *t, const struct sp_newmsg *msgs,
    size_t n, uint32_t *uidvalidity_r, uint32_t *first_uid_r,
    struct sp_err *err);

/* ---- reading ----------------------------------------------------------- */

/* Message flags (IMAP system flags); stored in Status / X-Status. */
enum {
	SP_SEEN		= 1 << 0,	/* Status: R */
	SP_ANSWERED	= 1 << 1,	/* X-Status: A */
	SP_FLAGGED	= 1 << 2,	/* X-Status: F */
	SP_DELETED	= 1 << 3,	/* X-Status: D */
	SP_DRAFT	= 1 << 4,	/* X-Status: T */
	SP_RECENT	= 1 << 5,	/* no Status: O yet; cleared by sp_sync */
	SP_EXPUNGE	= 1 << 6	/* not a flag: remove at the next sp_sync */
};

/* What the index knows of one message.  Offsets are in the file. */
struct sp_msg {
	off_t from_off;		/* the "From " separator line */
	off_t hdr_off;		/* first header line */
	off_t body_off;		/* first body byte (after the blank line) */
	off_t end_off;		/* end of the body, before the separator blank */
	uint64_t size;		/* served size: octets sent, CRLF, unquoted */
	uint64_t hdr_size;	/* served size of the header incl. blank line */
	uint32_t body_lines;	/* lines in the body */
	uint32_t uid;		/* X-UID, or assigned in file order */
	uint32_t flags;		/* SP_* above */
	uint32_t keywords;	/* bit i = keyword i of sp_keyword() */
	time_t internaldate;	/* date of the From_ line (UTC) */
};

struct sp_mbox;		/* opaque */

enum sp_openflags {
	SP_RDONLY = 0,		/* never rewrite (IMAP EXAMINE) */
	SP_RDWR = 1,		/* sp_sync() allowed */
	SP_CREATE = 2		/* a missing file opens as an empty mailbox */
};

/*
 * sp_open - open PATH and index it in one pass at memory speed, under a
 * shared lock (released on return: the index stays valid until the file
 * changes, which sp_refresh() notices).  A pending rewrite journal is
 * recovered first (under the exclusive lock; if that lock cannot be had,
 * sp_open fails rather than index a half-applied rewrite).  Memory is O(messages): the
 * file is scanned through a bounded window, never held whole.  Messages
 * without X-UID get UIDs from X-IMAPbase's next UID in file order, so every
 * process computes the same UIDs (X-IMAPbase holds UIDVALIDITY and the last
 * UID given, UIDNEXT - 1, as UW and Dovecot write it, so Dovecot computes
 * the same ones too); a missing or inconsistent X-IMAPbase gives
 * a new UIDVALIDITY: the date of the first message's From_ line (the same
 * in every process), or the current time for an empty or missing mailbox.
 * Fails with SP_PERMFAIL if PATH is not a regular file or is a symlink.
 */
int sp_open(const char *path, int flags, struct sp_mbox **mb_r,
    struct sp_err *err);
void sp_close(struct sp_mbox **mb);
/* Remove the index cache DIR/.NAME.index of mailbox PATH, for a caller
 * that deleted or renamed the mailbox (a stale cache is never used, but
 * it would be left behind, and keep its directory from being removed). */
void sp_cache_remove(const char *path);

uint32_t sp_count(const struct sp_mbox *mb);
/* Message I (0-based, I < sp_count); the pointer is valid until the next
 * sp_refresh or sp_sync. */
const struct sp_msg *sp_msg(const struct sp_mbox *mb, uint32_t i);
uint32_t sp_uidvalidity(const struct sp_mbox *mb);
uint32_t sp_uidnext(const struct sp_mbox *mb);
/* Keyword I (0-based) of the mailbox, NULL past the end. */
const char *sp_keyword(const struct sp_mbox *mb, unsigned i);
/* Index of keyword NAME (case-insensitive), adding it if CREATE; -1 if
 * absent or the table (SP_KEYWORDS_MAX) is full. */
int sp_keyword_index(struct sp_mbox *mb, const char *name, int create);

/* Change the in-memory state of message I (flags and keywords; SP_EXPUNGE
 * marks it for removal).  Written by the next sp_sync(). */
void sp_set_state(struct sp_mbox *mb, uint32_t i, uint32_t flags,
    uint32_t keywords);

/*
 * sp_refresh - look again at the file.  Returns 0 if unchanged, 1 if mail
 * was appended (new messages are indexed from the old end, existing indexes
 * stay valid), 2 if the file was rewritten by someone (the index is rebuilt;
 * in-memory state changes for messages still present, matched by UID, are
 * kept), -1 on error.  Kept means merged: what this session's sp_set_state
 * calls added to and removed from the flags and keywords it had loaded is
 * applied to the file's current state, (now | added) & ~removed, so changes
 * another session made to other flags of the same message survive.
 */
int sp_refresh(struct sp_mbox *mb, struct sp_err *err);

/*
 * sp_sync - write the in-memory state back, under the exclusive locks:
 * messages marked SP_EXPUNGE are removed, state headers (Status, X-Status,
 * X-Keywords, X-UID, and X-IMAPbase in the first message) are rewritten for
 * every message whose state changed or that had no X-UID yet.  Messages are
 * matched to the file by UID after a fresh scan, so mail appended by others
 * since sp_open is kept (and indexed), and flag or keyword changes others
 * made meanwhile are merged with ours as in sp_refresh.  If a message is
 * gone from the file (another program expunged it) its marks are dropped.  Every message of
 * the index loses SP_RECENT ("Status: O" is written); messages appended by
 * others since the last sp_open/sp_refresh keep theirs.
 *
 * Changes that fit the old state block (padding) are written in place, one
 * pwrite each; otherwise the changed tail of the file is rewritten through a
 * journal (see README, "Rewriting"), so that a SIGKILL at any point loses
 * nothing that was not deleted.  The file is never replaced by rename.
 * After sp_sync, message numbers change: call sp_count/sp_msg again.
 * EXPUNGED_R, if not NULL, gets the 0-based pre-sync indexes of the removed
 * messages in ascending order (malloc'ed, caller frees), *NEXP their count.
 */
int sp_sync(struct sp_mbox *mb, uint32_t **expunged_r, uint32_t *nexp,
    struct sp_err *err);

/* The envelope sender of message I's From_ line into BUF (NUL-terminated,
 * truncated to CAP).  Returns 0, or -1 on I/O error. */
int sp_envelope_from(struct sp_mbox *mb, uint32_t i, char *buf, size_t cap,
    struct sp_err *err);

/* ---- serving ----------------------------------------------------------- */

enum sp_part {
	SP_PART_ALL,		/* header, blank line, body */
	SP_PART_HEADER,		/* header with its terminating blank line */
	SP_PART_BODY		/* body only */
};

/*
 * sp_lines - call FN for each served line of PART of message I, in order,
 * without its line end (the caller adds CRLF): the output of sp_serve_open
 * cut at its line ends.  The header's terminating blank line is passed as
 * an empty line with IN_BODY 0.  LINE points into a buffer valid only during
 * the call.  A line is always passed whole: the buffer grows to the longest
 * line, and a line over SP_MESSAGE_MAX bytes is refused (-1, SP_PERMFAIL).
 * Stops early and returns FN's value if it returns non-zero; returns 0 at
 * the end, -1 on I/O error.
 */
typedef int (*sp_line_fn)(void *ctx, const char *line, size_t len,
    int in_body);
int sp_lines(struct sp_mbox *mb, uint32_t i, enum sp_part part,
    sp_line_fn fn, void *ctx, struct sp_err *err);

/*
 * sp_served - the served form of PART of message I, in a malloc'ed buffer
 * (*buf_r, *len_r), CRLF line ends.  Exactly sp_msg()->size bytes for
 * SP_PART_ALL and hdr_size for SP_PART_HEADER, followed by a NUL byte that
 * *len_r does not count (the message itself may contain NULs).
 */
int sp_served(struct sp_mbox *mb, uint32_t i, enum sp_part part,
    char **buf_r, size_t *len_r, struct sp_err *err);

/*
 * sp_serve_open - a reader of the served form of PART of message I that
 * streams it in bounded memory (POP3 RETR and TOP): sp_serve_read fills the
 * caller's buffer (an output buffer, so the bytes are copied once).  The
 * stored bytes are read with pread (never mapped: a file cut by another
 * program gives an error, not SIGBUS), the whole message in one read when it
 * fits SP_SERVE_BUF, in pieces of that size otherwise.  The output is byte
 * for byte that of sp_lines with CRLF after each line, so SP_PART_ALL gives
 * sp_msg()->size bytes.  At most BODY_LINES lines of the body are served
 * (UINT64_MAX: all).  FLAGS may hold SP_SERVE_DOTSTUFF: a '.' is added
 * before every line that begins with one (RFC 1939 3; the terminating "."
 * line is the caller's).  The message's From_ line is checked first: if
 * another program moved it, SP_TEMPFAIL, and nothing was served.  A reader
 * must be closed before the next sp_refresh, sp_sync or sp_close of MB.
 */
#define SP_SERVE_DOTSTUFF	1
/* Smallest buffer sp_serve_read accepts: a peeked header line start and
 * two line ends must fit. */
#define SP_SERVE_MIN		64
/* Stored bytes read at a time: a 10 KiB message is one pread; a 64 MiB
 * one costs this much memory, not 64 MiB. */
#define SP_SERVE_BUF		((size_t)256 * 1024)
struct sp_serve;	/* opaque */
int sp_serve_open(struct sp_mbox *mb, uint32_t i, enum sp_part part,
    uint64_t body_lines, int flags, struct sp_serve **r_r,
    struct sp_err *err);
/* Up to CAP (at least SP_SERVE_MIN) served bytes into BUF.  Returns the
 * count (less than CAP by at most SP_SERVE_MIN while more is to come), 0 at
 * the end, -1 on I/O error. */
ssize_t sp_serve_read(struct sp_serve *r, char *buf, size_t cap,
    struct sp_err *err);
/* Free; sets *R to NULL.  Safe on NULL. */
void sp_serve_close(struct sp_serve **r);

/*
 * sp_raw - the stored bytes [from_off, end_off) of message I, read-only
 * (quoting and state headers as on disk) for fast scans such as SEARCH,
 * NUL-terminated.  A private copy, not a mapping (a file cut by another
 * program must not raise SIGBUS), so call sp_unmap after each message or
 * batch.  *p_r stays valid until sp_unmap or the next
 * sp_refresh/sp_sync/sp_close.
 */
int sp_raw(struct sp_mbox *mb, uint32_t i, const char **p_r, size_t *len_r,
    struct sp_err *err);
void sp_unmap(struct sp_mbox *mb);

/* ---- session lock ------------------------------------------------------ */

/*
 * A POP3 maildrop lock for the length of a session (RFC 1939 8) that does
 * not block delivery: flock(LOCK_EX|LOCK_NB) on the mailbox file itself.
 * On Linux flock and fcntl locks are independent, so smtpd, Postfix
 * local(8), mutt and Dovecot (fcntl + dotlock) still deliver and read; a
 * second POP3 session gets SP_BUSY in err->cls.  A missing mailbox is
 * created empty (mode 0600, owned by the effective ids) first.  sp_sync
 * keeps the inode, so the lock stays valid across our own rewrites.
 */
int sp_session_lock(const char *path, int *fd_r, struct sp_err *err);
void sp_session_unlock(int *fd);

#endif
