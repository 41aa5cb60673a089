/*
 * part2impl.h - private interfaces of the folder and search modules of
 * imapd: modified UTF-7 (mutf7.c), mailbox names, their confinement to the
 * user's mail directory, LIST wildcards, subscriptions and special-use
 * attributes (mboxname.c), and SEARCH program trees (search.c).
 *
 * Names come in three forms:
 *  - the WIRE form: what the client sends and sees, modified UTF-7
 *    (RFC 3501 5.1.3), hierarchy separator '/';
 *  - the NAME form: the same name decoded to UTF-8, checked by mbx_check
 *    and canonical ("INBOX" in upper case whatever the client typed);
 *  - the PATH: MAILDIR/NAME on disk (INBOX is the spool file instead).
 * Only the NAME form is ever matched, stored (subscriptions) or turned into
 * a path, and only after mbx_check accepted it.
 */
#ifndef IMAPD_PART2IMPL_H
#define IMAPD_PART2IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "params.h"

struct imap_args;
struct imap_cmd;
struct imap_session;
struct mime_msg;
struct sbuf;
struct sp_mbox;
struct srch_prog;

/* ---- limits ------------------------------------------------------------ */

/* Longest mailbox name in UTF-8 bytes: Dovecot's default
 * mailbox_list_name_max_length is 255 per level; a whole name of 512 is
 * plenty for a hierarchy and keeps MAILDIR/NAME well under SP_PATH_MAX. */
#define MBX_NAME_MAX		512
/* Longest wire (modified UTF-7) name: an encoded name is at most 8/3 of its
 * UTF-16 units plus the shift characters; 4x the UTF-8 limit covers it. */
#define MBX_WIRE_MAX		(4 * MBX_NAME_MAX)
/* Hierarchy levels of a name, and directory depth LIST descends: deep
 * enough for any real folder tree, shallow enough to bound the walk and the
 * file descriptors it holds. */
#define MBX_DEPTH_MAX		16
/* Entries (folders + directories) one LIST walk reports: bounds memory and
 * time against a mail directory with a million files in it. */
#define MBX_LIST_MAX		10000
/* Subscriptions kept (lines of the subscriptions file), and the size of
 * that file we read. */
#define MBX_SUBS_MAX		2000
#define MBX_SUBS_BYTES_MAX	(MBX_SUBS_MAX * (MBX_NAME_MAX + 1))
/* Wildcards in one LIST pattern: matching costs O(name * pattern) at worst;
 * no client needs more than a few. */
#define MBX_WILDCARDS_MAX	32

/* Files in the mail directory that are ours, not mailboxes: dotfiles are
 * never mailboxes (journals, the subscriptions file, editor backups). */
#define MBX_SUBS_FILE		".subscriptions"
/* libspool's dotlock for mailbox PATH is PATH.lock: such files are hidden
 * and no mailbox name may end in it. */
#define MBX_LOCK_SUFFIX		".lock"

/* ---- modified UTF-7 (mutf7.c) ----------------------------------------- */

/*
 * mutf7_decode - decode the wire name S/LEN to UTF-8 in OUT (capacity CAP,
 * NUL-terminated).  Refuses (-1) what RFC 3501 5.1.3 forbids: bytes outside
 * 0x20-0x7e, an unterminated or empty "&...-" other than "&-", base64 that
 * encodes printable ASCII, two adjacent encoded runs, non-zero or excess
 * padding bits, unpaired surrogates, U+0000, and a result longer than
 * CAP - 1.  Returns the UTF-8 length.
 */
long mutf7_decode(const char *s, size_t len, char *out, size_t cap);

/*
 * mutf7_encode - encode UTF-8 S/LEN as a wire name in OUT (capacity CAP,
 * NUL-terminated).  Refuses (-1) invalid UTF-8 (overlong forms, surrogates,
 * code points above U+10FFFF) and a result that does not fit.  Returns the
 * encoded length.  mutf7_decode(mutf7_encode(x)) == x for every valid x.
 */
long mutf7_encode(const char *s, size_t len, char *out, size_t cap);

/* Is S/LEN valid UTF-8 (as mutf7_encode accepts it)?  1 or 0. */
int mutf7_utf8_valid(const char *s, size_t len);

/* ---- mailbox names (mboxname.c) --------------------------------------- */

/* Flags for mbx_check and mbx_from_wire. */
enum {
	MBX_DIR_OK = 1 << 0	/* a trailing '/' is allowed ("CREATE foo/") */
};

/* Case-insensitive "INBOX"?  1 or 0. */
int mbx_is_inbox(const char *name);

/*
 * mbx_check - may NAME (UTF-8, NUL-terminated) be a mailbox?  Refuses the
 * empty name, names over MBX_NAME_MAX or MBX_DEPTH_MAX levels, a leading
 * '/', empty components ("a//b", and a trailing '/' unless MBX_DIR_OK),
 * "." and ".." and every component starting with '.', components ending in
 * MBX_LOCK_SUFFIX, control characters and DEL, the wildcards '*' and '%',
 * invalid UTF-8, and an INBOX with children ("INBOX/x": INBOX is a file in
 * the spool and has no inferiors).  Returns 0, or -1 with *WHY_R set to a
 * sentence for the client.
 */
int mbx_check(const char *name, int flags, const char **why_r);

/*
 * mbx_from_wire - decode wire name S/LEN into NAME (capacity CAP) and check
 * it: mutf7_decode, then INBOX in any case becomes "INBOX", then mbx_check.
 * Returns 0; -1 with *WHY_R set if S is not valid modified UTF-7 (a
 * syntax error: BAD); -2 with *WHY_R set if mbx_check refuses the name (a
 * policy: NO).
 */
int mbx_from_wire(const char *s, size_t len, int flags, char *name,
    size_t cap, const char **why_r);

/* Append the wire form of NAME to OUT (capacity CAP).  -1 if it cannot be
 * encoded or does not fit. */
long mbx_to_wire(const char *name, char *out, size_t cap);

/* What mbx_resolve found at the end of a name. */
enum mbx_kind {
	MBX_NONE,		/* nothing there (the parents may be missing) */
	MBX_FILE,		/* a regular file: a mailbox */
	MBX_DIR			/* a directory: a \Noselect parent */
};

/*
 * mbx_resolve - where does checked NAME (not INBOX) live under MAILDIR?
 * Writes MAILDIR/NAME to PATH (capacity CAP) and walks the components with
 * openat(O_NOFOLLOW | O_DIRECTORY) from MAILDIR, so that no symlink, device
 * or other odd file anywhere under MAILDIR is followed or used: each
 * intermediate component must be a real directory, the last one a regular
 * file or a directory (or absent).  MAILDIR itself may be a symlink (users
 * link ~/mail elsewhere).  *KIND_R gets what is there; a missing MAILDIR
 * or parent gives MBX_NONE.  Returns 0, or -1 with *WHY_R set (a symlink,
 * a special file, a file where a directory is needed, an I/O error).
 *
 * The check and the later open are two steps: the process already runs as
 * the user, so a race wins nothing the user could not do anyway; the check
 * is there so that the protocol never follows a link to another user's
 * files, and the opens that follow use O_NOFOLLOW on the last component.
 */
int mbx_resolve(const char *maildir, const char *name, char *path,
    size_t cap, enum mbx_kind *kind_r, const char **why_r);

/*
 * mbx_mkparents - create the missing parent directories of NAME under
 * MAILDIR (and MAILDIR itself), mode 0700, refusing symlinks on the way.
 * With MBX_DIR_OK in FLAGS the last component (NAME ends in '/') is made a
 * directory too.  0 or -1 with *WHY_R.
 */
int mbx_mkparents(const char *maildir, const char *name, int flags,
    const char **why_r);

/*
 * mbx_match - does NAME match the LIST pattern PAT (both UTF-8)?  '*'
 * matches any run of characters, '%' any run without '/', every other
 * character itself; when NAME is "INBOX", letters match in any case
 * ("inbox", "inb%" find it).  Runs in O(len(NAME) * len(PAT)) at worst,
 * no recursion.  1 or 0.
 */
int mbx_match(const char *pat, const char *name);

/*
 * mbx_pattern - join a LIST reference REF and pattern PAT (UTF-8, already
 * decoded) into OUT (capacity CAP) as RFC 3501 6.3.8 describes: a pattern
 * starting with '/' or a reference ending with '/' give one separator.
 * -1 if too long or with more than MBX_WILDCARDS_MAX wildcards.
 */
int mbx_pattern(const char *ref, const char *pat, char *out, size_t cap);

/* Could some name below directory DIRNAME ("a/b", no trailing slash)
 * match PAT?  Used to prune the LIST walk.  1 or 0 (1 when unsure). */
int mbx_match_below(const char *pat, const char *dirname);

/* The RFC 6154 attribute ("\\Sent", ...) of top-level NAME, by name, or
 * NULL. */
const char *mbx_special_use(const char *name);

/* One entry of a LIST walk. */
struct mbx_entry {
	char *name;		/* UTF-8 name, malloc'ed */
	enum mbx_kind kind;	/* MBX_FILE or MBX_DIR */
	int children;		/* a directory with visible entries */
};

struct mbx_list {
	struct mbx_entry *v;
	size_t n, cap;
	int truncated;		/* MBX_LIST_MAX reached */
};

/*
 * mbx_walk - every mailbox and directory under MAILDIR whose name matches
 * PAT (or, for directories, that may have matching descendants), in
 * sorted order, skipping dotfiles, MBX_LOCK_SUFFIX files, symlinks, special
 * files, names that are not valid UTF-8 or that mbx_check refuses, and a
 * top-level "INBOX" in any case (INBOX is the spool file).  A missing
 * MAILDIR gives an empty list.  Entries are appended to L (zeroed at
 * first).  Returns 0, or -1 on an I/O or memory error (L holds what was
 * found).
 */
int mbx_walk(const char *maildir, const char *pat, struct mbx_list *l);
void mbx_list_free(struct mbx_list *l);

/* ---- subscriptions (mboxname.c) ---------------------------------------- */

struct mbx_subs {
	char **v;		/* UTF-8 names, malloc'ed */
	size_t n;
};

/* Read MAILDIR/.subscriptions (missing: none).  Lines that mbx_check
 * refuses are dropped; at most MBX_SUBS_MAX kept.  0 or -1. */
int mbx_subs_load(const char *maildir, struct mbx_subs *s);
void mbx_subs_free(struct mbx_subs *s);

/*
 * mbx_subs_change - add (ADD 1) or remove (ADD 0) NAME in the
 * subscriptions file, under an flock of MAILDIR, rewriting the file
 * atomically (temporary file, fsync, rename, fsync of the directory).
 * Adding a present name or removing an absent one changes nothing and
 * succeeds.  Creates MAILDIR if needed.  0, or -1 with *WHY_R.
 */
int mbx_subs_change(const char *maildir, const char *name, int add,
    const char **why_r);

/*
 * mbx_subs_rename - after RENAME of FROM to TO (checked names; a trailing
 * '/' is ignored), carry the subscriptions along: FROM becomes TO and
 * FROM/x becomes TO/x, under the same flock and atomic rewrite as
 * mbx_subs_change.  A carried name that would be too long or deep, or
 * that is subscribed already, is dropped.  No subscriptions file: nothing
 * to do.  0, or -1 with *WHY_R (the rename itself stands).
 */
int mbx_subs_rename(const char *maildir, const char *from, const char *to,
    const char **why_r);

/* ---- SEARCH programs (search.c) ---------------------------------------- */

/* Nesting of OR, NOT and parenthesised groups in one SEARCH: real clients
 * nest a few levels; 1000 nested ORs must be refused, not recursed into. */
#define SRCH_DEPTH_MAX		64
/* Search keys in one SEARCH: a command line of IMAP_LINE_MAX could hold
 * about 20000 "ALL" keys; no client sends more than a few dozen. */
#define SRCH_KEYS_MAX		1000


/*
 * srch_parse - parse the search program of SEARCH / UID SEARCH from A
 * (optional "CHARSET name" first; then one or more keys, an implicit AND).
 * MB gives keyword indexes (may be NULL: every KEYWORD is unknown), NMSGS
 * the number of messages (the '*' of sequence sets, and their limit),
 * MAXUID the highest UID (the '*' of UID sets).  Returns 0 and *P_R, or -1
 * with a sentence in ERR (capacity ERRCAP) for BAD, or for NO [BADCHARSET]
 * when *BADCHARSET_R is set.  Cheap keys (flags, sizes, dates, sequence sets)
 * are ordered before costly ones (headers, then BODY and TEXT) in every
 * AND.
 */
int srch_parse(struct imap_args *a, struct sp_mbox *mb, uint32_t nmsgs,
    uint32_t maxuid, struct srch_prog **p_r, char *err, size_t errcap,
    int *badcharset_r);
void srch_free(struct srch_prog **p);
/* Number of nodes of P (tests). */
int srch_size(const struct srch_prog *p);
/* The costs (0 index, 1 header, 2 body) of the top-level keys of P in the
 * order they are evaluated, into V (at most MAX); returns their number
 * (tests). */
int srch_costs(const struct srch_prog *p, int *v, int max);

/*
 * One message as SEARCH sees it: its place in the session's view and, once
 * a key needs them, its served header, MIME structure and raw bytes
 * (loaded lazily and released by srch_msg_release).
 */
struct srch_msg {
	struct sp_mbox *mb;
	uint32_t idx;			/* sp index */
	uint32_t seq, uid;
	uint32_t flags, keywords;	/* as the session shows them */
	int recent;
	/* private, zero-initialise */
	char *hdr;
	size_t hdrlen;
	struct mime_msg *hmime;
	int hstate;
	char *full;
	size_t fulllen;
	struct mime_msg *fmime;
	int fstate;
	int bodykind;
	int raw;			/* 1: RAWP valid; -1: sp_raw failed */
	const char *rawp;		/* sp_raw's copy, until release */
	size_t rawlen;
};

/* Does the message match P?  1 or 0. */
int srch_match(const struct srch_prog *p, struct srch_msg *m);
void srch_msg_release(struct srch_msg *m);

/*
 * srch_memcasemem - the first occurrence of NEEDLE/NLEN in HAY/HLEN,
 * ignoring ASCII case (other bytes compared exactly); NULL if none.  A
 * Horspool scan: sublinear on text, no allocation.
 */
const char *srch_memcasemem(const char *hay, size_t hlen, const char *needle,
    size_t nlen);

/* Days since 1970-01-01 of the proleptic Gregorian date Y-M-D (M 1-12). */
long srch_days(int y, int m, int d);
/* An RFC 3501 date ("1-Feb-1994", day one or two digits) as srch_days;
 * -1 if invalid. */
int srch_parse_date(const char *s, size_t len, long *days_r);

/* ---- session helpers shared by folder.c, append.c, copy.c ------------- */


/* Where a wire mailbox name leads, for the session's user. */
struct fold_box {
	char name[MBX_NAME_MAX + 1];	/* NAME form ("INBOX" canonical) */
	char path[SP_PATH_MAX];
	int inbox;			/* the spool file */
	enum mbx_kind kind;		/* INBOX: MBX_FILE even if missing */
};

/*
 * fold_box - decode, check and resolve wire name WIRE/LEN (FLAGS as
 * mbx_check) into *B.  Returns 0, or -1 with *WHY_R set (an invalid name
 * or a refused path: the caller answers NO, or BAD for an invalid name
 * when *BAD_R is set).
 */
int fold_box(struct imap_session *s, const char *wire, size_t len,
    int flags, struct fold_box *b, int *bad_r, const char **why_r);

/* Is path PATH the session's selected mailbox?  1 or 0. */
int fold_is_selected(const struct imap_session *s, const char *path);

/*
 * fold_copy - append messages IDX[0..N) of MB (0-based indexes) with their
 * flags, keywords, envelope sender and internal date to mailbox file DST,
 * all or nothing: in batches of at most FOLD_BATCH_BYTES under one
 * sp_append each, and if a later batch fails the earlier ones are removed
 * again.  UIDS_R (N entries, may be NULL) gets the new UIDs, *UIDV_R the
 * destination's UIDVALIDITY.  0, or -1 with *WHY_R.
 */
int fold_copy(struct sp_mbox *mb, const uint32_t *idx, size_t n,
    const char *dst, uint32_t *uidv_r, uint32_t *uids_r, const char **why_r);

/* Bytes of served messages one sp_append is given at a time: bounds the
 * memory a COPY of a whole large mailbox needs. */
#define FOLD_BATCH_BYTES	((size_t)32 * 1024 * 1024)

/* An RFC 3501 date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may be
 * " d" or "d") as a UTC time (append.c).  0 or -1. */
int fold_datetime(const char *s, size_t len, time_t *t_r);

/* Append the UIDs V[0..N) to B as a compact uid-set ("4:7,9"), in order. */
void fold_uidset(struct sbuf *b, const uint32_t *v, size_t n);

/* The UIDs V[0..N) (ascending) as an imap_seqset (malloc'ed ranges, free
 * with imap_seqset_free), for imap_mbox_expunge.  0, or -1 out of
 * memory. */
struct imap_seqset;
int fold_uids_to_set(const uint32_t *v, size_t n, struct imap_seqset *set);

#endif
