/*
 * imapd.h - the IMAP4rev1 server's session, command and reply interfaces
 * (RFC 3501), shared by the command files of imapd/.
 *
 * One process serves one connection (inetd style).  The session walks the
 * states of RFC 3501 3: NOT AUTHENTICATED -> AUTHENTICATED <-> SELECTED ->
 * LOGOUT.  imap.c reads each command with the parser (parse.h), finds it
 * in a static command table {name, handler, state mask, ...} and calls the
 * handler; the handler writes its untagged responses and returns an
 * enum imap_rc; the dispatcher writes the tagged reply.
 *
 * Message numbers: the session keeps its own view of the selected mailbox,
 * one struct imap_msgref per message sequence number.  The view changes
 * only at the points RFC 3501 7.4.1 allows (NOOP, CHECK, IDLE, EXPUNGE,
 * SELECT, APPEND, COPY; never during FETCH, STORE or SEARCH): until then a
 * message another process removed keeps its number and is "gone"
 * (imap_msg() returns NULL for it).
 */
#ifndef IMAPD_IMAPD_H
#define IMAPD_IMAPD_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "spool.h"
#include "parse.h"

struct mime_msg;
struct imap_command;

/* ---- limits ------------------------------------------------------------ */

/* Failed LOGIN/AUTHENTICATE attempts before we hang up (params.h). */
#define IMAP_AUTH_TRIES_MAX	IMAP_AUTH_TRIES
/* BAD replies in a row before we hang up: a client that is not speaking
 * IMAP (a web browser, a port scanner) should not keep a process busy. */
#define IMAP_BAD_MAX		20
/* Ranges in one sequence set: each costs 8 bytes; a line of IMAP_LINE_MAX
 * cannot hold more than half as many. */
#define IMAP_SEQ_RANGES_MAX	(IMAP_LINE_MAX / 2)
/* Text of one tagged reply (without tag and code). */
#define IMAP_TEXT_MAX		512
/* A response code inside [ ] (e.g. "COPYUID 12 1:3 7:9"): long enough for
 * a COPYUID of many ranges, then truncated by the helper. */
#define IMAP_CODE_MAX		1024
/* While idling we look at the mailbox this often (brief: ~1 s). */
#define IMAP_IDLE_POLL_MS	1000

/* ---- configuration (from main.c's options) ----------------------------- */

struct imap_config {
	struct auth_cfg auth;		/* PAM service "imapd" or passwd-file */
	const char *spool_dir;		/* -s: INBOX is SPOOL_DIR/USER */
	const char *mail_dir;		/* -m: folders; NULL: HOME/mail */
	const char *hostname;		/* -h: for the greeting */
	int timeout_sec;		/* -t: idle timeout after login */
	int preauth_timeout_sec;	/* before login */
	enum io_transcript transcript;	/* -v */
	int privsep;			/* split when started as root */
};

/* ---- session ----------------------------------------------------------- */

enum imap_state {
	IMAP_ST_NOAUTH = 1 << 0,	/* NOT AUTHENTICATED */
	IMAP_ST_AUTH = 1 << 1,		/* AUTHENTICATED */
	IMAP_ST_SELECTED = 1 << 2,	/* SELECTED */
	IMAP_ST_LOGOUT = 1 << 3
};
#define IMAP_ST_ANY	(IMAP_ST_NOAUTH | IMAP_ST_AUTH | IMAP_ST_SELECTED)
#define IMAP_ST_LOGGED	(IMAP_ST_AUTH | IMAP_ST_SELECTED)

/* Extensions a client turned on with ENABLE (RFC 5161). */
enum {
	IMAP_EXT_UTF8 = 1 << 0		/* not offered yet */
};

/* One message of the session's view, by sequence number - 1. */
struct imap_msgref {
	uint32_t uid;
	uint32_t idx;		/* index in the sp_mbox, IMAP_GONE if expunged
				 * by someone else and not yet announced */
	uint32_t flags;		/* flags as last shown to the client */
	uint32_t keywords;
	int recent;		/* \Recent in this session */
};
#define IMAP_GONE	UINT32_MAX

struct imap_session {
	struct io io;
	const struct imap_config *cfg;
	struct privsep *ps;		/* pre-auth child: the parent, or NULL */
	enum imap_state state;
	struct imap_parser parser;
	char *line;			/* IMAP_LINE_MAX + 2 octets */
	int bad_count;			/* BAD replies in a row */
	int auth_failures;
	unsigned enabled;		/* IMAP_EXT_* */

	/* after login */
	struct auth_user user;
	char mail_dir[SP_PATH_MAX];	/* -m DIR, or HOME/mail */

	/* SELECTED state */
	struct sp_mbox *mbox;
	char mbox_name[SP_PATH_MAX];	/* as the client named it (wire form) */
	char mbox_path[SP_PATH_MAX];
	int readonly;			/* EXAMINE, or not writable */
	int dirty;			/* state changed, or \Recent claimed,
					 * since the last sp_sync */
	struct imap_msgref *msgs;	/* the view, by sequence number - 1 */
	uint32_t nmsgs, msgcap;
	uint32_t nrecent;
	uint32_t uidvalidity;

	/* one-message MIME cache (fetch.c) */
	uint32_t mime_uid;		/* 0: empty */
	char *mime_buf;			/* served form of that message */
	size_t mime_len;
	struct mime_msg *mime;
	int mime_header_only;		/* parsed from the header alone */
};

/* ---- commands ---------------------------------------------------------- */

/* What a handler tells the dispatcher. */
enum imap_rc {
	IMAP_RC_OK,		/* tagged OK [code] text (default "NAME completed") */
	IMAP_RC_NO,		/* tagged NO [code] text */
	IMAP_RC_BAD,		/* tagged BAD [code] text */
	IMAP_RC_DONE,		/* the handler wrote the tagged reply itself */
	IMAP_RC_LOGOUT,		/* tagged OK written by dispatcher, then end */
	IMAP_RC_FATAL		/* end the session at once (I/O error, BYE sent) */
};

struct imap_cmd {
	const char *tag;
	const char *name;		/* canonical upper-case name ("FETCH") */
	int uid;			/* the UID form (UID FETCH ...) */
	struct imap_args args;		/* the arguments after the name */
	const struct imap_command *def;
	char code[IMAP_CODE_MAX];	/* response code, without [ ]; "" none */
	char text[IMAP_TEXT_MAX];	/* reply text; "" gives the default */
};

typedef enum imap_rc (*imap_handler)(struct imap_session *, struct imap_cmd *);

/* One entry of the command table (imap.c). */
struct imap_command {
	const char *name;
	imap_handler fn;
	unsigned states;		/* IMAP_ST_* mask where it is allowed */
	int uid_ok;			/* may follow "UID" */
	const char *usage;		/* taught in BAD replies: "LOGIN user password" */
};

/* The entry for NAME (case-insensitive), or NULL. */
const struct imap_command *imap_command_find(const char *name);

/*
 * Set the tagged reply's code (CODE may be NULL) and text and return RC:
 *   return imap_reply(c, IMAP_RC_NO, "TRYCREATE", "No such mailbox: %s", x);
 * imap_bad_usage: BAD "<what went wrong>: tag USAGE" from the table.
 */
enum imap_rc imap_reply(struct imap_cmd *c, enum imap_rc rc,
    const char *code, const char *fmt, ...) ATTR_PRINTF(4, 5);
enum imap_rc imap_bad_usage(struct imap_cmd *c, const char *what);

/* ---- writing responses --------------------------------------------------- */

/* "* " FMT "\r\n" */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
    ATTR_PRINTF(2, 3);
/* A string as a quoted string when it can be one (no CR, LF, NUL, '"' or
 * '\\' escapable, no 8-bit), else as a literal.  NULL writes NIL. */
void imap_write_string(struct imap_session *s, const char *p, size_t len);
void imap_sbuf_string(struct sbuf *b, const char *p, size_t len);
/* A literal: "{LEN}\r\n" then the octets. */
void imap_write_literal(struct imap_session *s, const char *p, size_t len);
/* The flag list "(\Seen \Answered kw1 ...)" of FLAGS/KEYWORDS (and \Recent
 * if RECENT), appended to B. */
void imap_sbuf_flags(struct imap_session *s, struct sbuf *b, uint32_t flags,
    uint32_t keywords, int recent);
/* V in decimal appended to B (what sbuf_printf("%llu") gives, without
 * its two vsnprintf calls: FETCH writes a few per message). */
void imap_sbuf_uint(struct sbuf *b, unsigned long long v);
/* The current CAPABILITY list (without "CAPABILITY"), for the state. */
const char *imap_capability(const struct imap_session *s);

/* ---- flags ------------------------------------------------------------- */

/*
 * imap_flag_parse - NAME/LEN as a flag: 1 and *FLAG_R for a system flag
 * (\Seen \Answered \Flagged \Deleted \Draft, any case), 0 for a keyword (an
 * atom without '\\' or atom-specials), -1 for anything else (\Recent,
 * unknown \Flags, bad characters).
 */
int imap_flag_parse(const char *name, size_t len, uint32_t *flag_r);

/* ---- sequence sets (seqset.c) -------------------------------------------- */

struct imap_range {
	uint32_t lo, hi;		/* inclusive, lo <= hi */
};

/* A parsed sequence set, sorted and merged. */
struct imap_seqset {
	struct imap_range *r;		/* malloc'ed */
	size_t n;
};

/*
 * imap_seqset_parse - parse TEXT/LEN (RFC 3501 sequence-set: "1,3:5,7:*")
 * with '*' meaning STAR (the highest sequence number, or the highest UID;
 * for an empty mailbox STAR is 0 and '*' matches nothing).  Numbers are
 * 1..4294967295 (0 and overflow refused).  Returns 0, or -1 with *ERR_R
 * set to a sentence for a BAD reply.  Does not check against the mailbox
 * size: see imap_seqset_check.
 */
int imap_seqset_parse(const char *text, size_t len, uint32_t star,
    struct imap_seqset *set, const char **err_r);
void imap_seqset_free(struct imap_seqset *set);
/* Is V in SET?  Binary search.  1 or 0. */
int imap_seqset_has(const struct imap_seqset *set, uint32_t v);
/* Highest number in SET (0 if empty). */
uint32_t imap_seqset_max(const struct imap_seqset *set);

/*
 * imap_seqset_arg - the next argument of C as a sequence set, for message
 * numbers (C->uid == 0: every number must be <= the number of messages,
 * else BAD "Invalid message number", like Dovecot) or UIDs (numbers beyond
 * the mailbox are simply absent).  On failure the tagged BAD is set in C
 * and -1 returned.
 */
int imap_seqset_arg(struct imap_session *s, struct imap_cmd *c,
    struct imap_seqset *set);

/*
 * imap_seqset_next - iterate the sequence numbers (1-based) of the view
 * that SET selects (by UID if BY_UID).  *CUR starts at 0; returns the next
 * sequence number, or 0 at the end.  Gone messages are included: check
 * imap_msg().
 */
uint32_t imap_seqset_next(const struct imap_session *s,
    const struct imap_seqset *set, int by_uid, uint32_t *cur);

/* ---- the selected mailbox (select.c) ------------------------------------- */

/* The stored message of sequence number SEQ (1-based), or NULL if out of
 * range or expunged by another process since the last announcement. */
const struct sp_msg *imap_msg(const struct imap_session *s, uint32_t seq);
/* The sp_mbox index of SEQ, or IMAP_GONE. */
uint32_t imap_msg_index(const struct imap_session *s, uint32_t seq);
/* The sequence number of UID, or 0. */
uint32_t imap_seq_of_uid(const struct imap_session *s, uint32_t uid);

/*
 * imap_set_flags - set message SEQ's flags and keywords (SP_SEEN ...
 * SP_DRAFT; SP_RECENT is the session's and is ignored) in the mailbox
 * state, to be written at the next imap_mbox_sync.  No-op on a read-only
 * mailbox or a gone message; returns 1 if something changed.
 */
int imap_set_flags(struct imap_session *s, uint32_t seq, uint32_t flags,
    uint32_t keywords);

/*
 * imap_mbox_announce - look at the file again (sp_refresh) and bring the
 * view up to date with untagged responses: EXPUNGE for messages gone (if
 * EXPUNGES; else they stay as gone), FETCH (FLAGS) for flags changed by
 * others, EXISTS and RECENT for new mail.  Call only where RFC 3501 7.4.1
 * allows.  Returns 0, or -1 (mailbox unreadable: a NO is in order).
 */
int imap_mbox_announce(struct imap_session *s, int expunges);

/*
 * imap_mbox_refresh - sp_refresh and remap the view without announcing
 * anything (FETCH/STORE/SEARCH call this first so that offsets are valid).
 */
int imap_mbox_refresh(struct imap_session *s);

/*
 * imap_mbox_sync - write the state (flags, and "Status: O" for the
 * messages this session reported \Recent) with sp_sync if anything
 * changed.  Called at CHECK, CLOSE, EXPUNGE, UNSELECT, SELECT of another
 * mailbox, LOGOUT and the end of the session: \Recent is claimed lazily,
 * so a session that opens new mail at the same moment as another may
 * report it \Recent too (imapd(8), CAVEATS).  Returns 0 or -1 with ERR.
 */
int imap_mbox_sync(struct imap_session *s, struct sp_err *err);

/*
 * imap_mbox_expunge - remove, from the selected read-write mailbox, the
 * messages whose UID is in UIDS (NULL: all) and, if DELETED_ONLY, that
 * have \Deleted; sync; and unless SILENT send "* N EXPUNGE" for each, in
 * the order RFC 3501 7.4.1 requires (also for messages other processes
 * removed).  Used by EXPUNGE, UID EXPUNGE, CLOSE (SILENT) and MOVE.
 * Returns 0 or -1 with ERR.
 */
int imap_mbox_expunge(struct imap_session *s, const struct imap_seqset *uids,
    int deleted_only, int silent, struct sp_err *err);

/* Close the selected mailbox (after a sync); back to AUTHENTICATED. */
void imap_mbox_close(struct imap_session *s);

/*
 * imap_mime_get - the parsed MIME structure of message SEQ and its served
 * form (*BUF_R and *LEN_R, valid until the next call), from a one-message
 * cache.  Returns 0, or -1 (gone, I/O error, no memory).
 */
int imap_mime_get(struct imap_session *s, uint32_t seq,
    struct mime_msg **m_r, const char **buf_r, size_t *len_r);
void imap_mime_drop(struct imap_session *s);

/* ---- the session (imap.c) ------------------------------------------------ */

/*
 * imap_serve - serve one connection on RFD/WFD with configuration CFG
 * (struct imap_config *, as ts_server_fn wants it).  Privilege separation
 * if CFG->privsep and we are root.  Returns the process exit code.
 */
int imap_serve(int rfd, int wfd, void *cfg);

/* Default configuration (the values of the man page). */
void imap_config_default(struct imap_config *cfg);

#endif
