/*
 * proto.h - the connection layer the three servers share: a bounded line
 * reader and buffered writer with timeouts, numbers, logging, SASL PLAIN,
 * authentication and privilege separation.
 *
 * Never included by the storage files (lock.c, deliver.c, mbox.c,
 * rewrite.c).  Library calls return 0 / -1 unless said otherwise; no call
 * exits or prints except the log functions.
 */
#ifndef SPOOL_PROTO_H
#define SPOOL_PROTO_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include "params.h"

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_NORETURN
#endif

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* ---- I/O --------------------------------------------------------------- */

/* Results of io_getline and io_read (skalibs getlnmax style). */
enum io_status {
	IO_OK = 0,		/* a whole line (or the bytes asked for) */
	IO_TOOLONG,		/* line longer than the caller's buffer: it was
				 * consumed up to its LF and is ONE error */
	IO_EOF,			/* peer closed (a partial last line is dropped) */
	IO_TIMEOUT,		/* idle timeout or session deadline passed */
	IO_ERR			/* read/write error, errno set */
};

/* Flags io_getline reports about the line it returns. */
enum {
	IO_LINE_BARE_LF = 1 << 0,	/* ended in LF without CR */
	IO_LINE_NUL	= 1 << 1	/* contained a NUL byte: treat as invalid */
};

/* Transcript (-v): every client line as "C: ..." and server line as
 * "S: ..." to syslog or stderr. */
enum io_transcript { IO_TRANSCRIPT_OFF, IO_TRANSCRIPT_SYSLOG, IO_TRANSCRIPT_STDERR };

#define IO_IN_BUF	(16 * 1024)

struct io {
	int rfd, wfd;
	int idle_sec;			/* per read/write wait */
	long long deadline;		/* CLOCK_MONOTONIC seconds; 0 = none;
					 * io_init: now + SESSION_MAX_SEC */
	enum io_transcript transcript;
	int transcript_quiet;		/* >0: bulk data, do not log S: lines */
	char in[IO_IN_BUF];
	size_t in_start, in_end;
	char *out;			/* IO_OUT_BUF bytes */
	size_t out_len;
	int out_error;			/* a write failed: all later I/O fails
					 * (IO_ERR or IO_TIMEOUT, sticky) */
	int s_line_start;		/* transcript: next output byte starts a line */
	size_t out_logged;		/* transcript: out[0..out_logged) seen */
	int wfd_sock;			/* WFD is a socket: send(MSG_DONTWAIT) */
	int wfd_oflags;			/* WFD's file status flags before io_init
					 * (a pipe is made non-blocking; io_free
					 * restores them); -1 if untouched */
};

/*
 * io_init - set up IO on RFD/WFD with an idle timeout of IDLE_SEC seconds
 * and a whole-session cap of SESSION_MAX_SEC.  Sets TCP_NODELAY when WFD is
 * a TCP socket (we buffer whole responses, so Nagle only adds stalls) and
 * ignores SIGPIPE.  Returns -1 only if the output buffer cannot be
 * allocated.
 *
 * Timeouts are deadlines given to poll(): IDLE_SEC bounds each wait for
 * input or for the peer to take output (0 = no idle limit), DEADLINE the
 * whole session.  Writes never block: a socket is written with
 * MSG_DONTWAIT, a pipe is made O_NONBLOCK, so a client that stops reading
 * gets IO_TIMEOUT like one that stops writing.  io_getline does not log:
 * the server passes each line to io_log_client, masking what is secret.
 * Server output is logged by io_write (whole lines, "S: ...") unless
 * transcript_quiet is set while the bulk is written.
 */
int io_init(struct io *io, int rfd, int wfd, int idle_sec);
void io_free(struct io *io);
void io_set_timeout(struct io *io, int idle_sec);

/*
 * io_getline - the next line into BUF (capacity CAP, NUL-terminated, line
 * end removed: "\r\n" or "\n"; a CR elsewhere is kept).  *LEN_R gets the
 * length, *FLAGS_R the IO_LINE_* flags.  A line that does not fit in CAP-1
 * bytes is read up to its LF and discarded whole: IO_TOOLONG once, with
 * *FLAGS_R still telling how it ended (IO_LINE_BARE_LF) and whether it held
 * a NUL (IO_LINE_NUL); *LEN_R is then 0.
 * Before blocking for input, pending output is flushed: responses go out
 * once per command, or once per batch when the client pipelines.
 * Resumable and exact when input arrives one byte at a time.
 */
enum io_status io_getline(struct io *io, char *buf, size_t cap,
    size_t *len_r, unsigned *flags_r);

/* io_read - exactly N bytes into BUF (IMAP literals).  io_skip discards N
 * bytes (a refused literal the client sends anyway). */
enum io_status io_read(struct io *io, void *buf, size_t n);
enum io_status io_skip(struct io *io, size_t n);

/* Is a complete line already buffered (pipelined input)? */
int io_pending_line(const struct io *io);

/* Take bytes into the input buffer as if read (privsep handoff); -1 if
 * they do not fit. */
int io_unread(struct io *io, const char *buf, size_t n);
/* The unread input, for handing over to another process. */
const char *io_leftover(const struct io *io, size_t *len_r);

/* Buffered output.  io_write flushes by itself when the buffer fills, so a
 * large response goes out in IO_OUT_BUF-sized writes.  Errors stick: after
 * one, io_flush returns -1. */
void io_write(struct io *io, const void *p, size_t n);
/* (After a write error or timeout io_getline, io_read and io_skip fail at
 * once too: out_error says which.) */
void io_puts(struct io *io, const char *s);
void io_printf(struct io *io, const char *fmt, ...) ATTR_PRINTF(2, 3);
int io_flush(struct io *io);
/*
 * io_reserve - the free tail of the output buffer, for a producer that
 * writes there directly instead of through io_write (bulk message text: one
 * copy less).  At least MIN (<= IO_OUT_BUF) bytes: the buffer is flushed
 * first if fewer are free.  *ROOM_R gets the free size.  NULL after a
 * write error (or if MIN is more than IO_OUT_BUF).  io_commit then adds
 * the first N bytes written there to the output (N <= *ROOM_R), logged and
 * flushed as io_write would: nothing goes out before the buffer is full or
 * the reader waits for input.
 */
char *io_reserve(struct io *io, size_t min, size_t *room_r);
void io_commit(struct io *io, size_t n);

/* Log a client line to the transcript; bytes from MASK_FROM on (if
 * MASK_FROM < LEN) are shown as "********" (passwords, AUTH data). */
void io_log_client(struct io *io, const char *line, size_t len,
    size_t mask_from);

/* ---- growable string buffer ------------------------------------------- */

/*
 * sbuf - a growable byte buffer for building responses (FETCH items,
 * ENVELOPE, ...).  Allocation failure sets OOM and makes later appends
 * no-ops; the caller checks OOM once at the end.  Always NUL-terminated
 * when P is not NULL.  Zero-initialise to start; sbuf_free releases.
 */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
void sbuf_reset(struct sbuf *b);	/* len = 0, keeps memory */
void sbuf_free(struct sbuf *b);

/* ---- numbers ----------------------------------------------------------- */

/*
 * parse_uint - a decimal number S[0..LEN) (LEN == (size_t)-1: up to NUL) in
 * [0, MAX].  Digits only: no sign, space, or empty string; overflow-safe.
 * Returns 0 and sets *out, or -1.
 */
int parse_uint(const char *s, size_t len, unsigned long long max,
    unsigned long long *out);

/* ---- logging ----------------------------------------------------------- */

/*
 * log_open - syslog with IDENT, LOG_PID|LOG_NDELAY, facility LOG_MAIL
 * (call before chroot so /dev/log stays open); with TO_STDERR also (or
 * only, for tests) to standard error.  Before log_open, messages go to
 * standard error.  The destination is process-wide, as syslog's is.
 */
void log_open(const char *ident, int to_stderr);
/* Values of TO_STDERR: syslog only, syslog and stderr, stderr only. */
enum { LOGTO_SYSLOG = 0, LOGTO_BOTH = 1, LOGTO_STDERR = 2 };
void log_info(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* As log_warnx with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_vlog(int prio, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);

/*
 * log_safe - copy client text SRC/LEN into DST (capacity CAP, always
 * NUL-terminated) with control characters, '\\' and bytes >= 0x7f written as
 * \xNN, truncated with "..." if it does not fit.  Returns DST.
 */
char *log_safe(char *dst, size_t cap, const char *src, size_t len);

/* ---- base64 and SASL PLAIN --------------------------------------------- */

/*
 * One decoder core serves every base64 in the suite: SASL (strict, padded,
 * below), mailbox names (imapd/mutf7.c: alphabet B64_ALPHA_IMAP, strict,
 * unpadded) and MIME bodies and encoded words (imapd/mime_search.c:
 * lenient).  The alphabets are 64 characters; they differ in the last one.
 */
extern const char b64_alpha_std[65];	/* RFC 4648 section 4: "...+/" */
extern const char b64_alpha_imap[65];	/* RFC 3501 5.1.3: "...+," */

/*
 * A decoder fed in pieces.  B64_STRICT: a character outside the alphabet
 * ('=' included: padding is the caller's business) is an error.
 * B64_LENIENT (Content-Transfer-Encoding, RFC 2045 6.8): it is skipped
 * (line ends, padding, garbage).
 */
enum b64_mode { B64_STRICT, B64_LENIENT };

struct b64_dec {
	signed char value[256];	/* of each byte in the alphabet, else -1 */
	enum b64_mode mode;
	unsigned long bits;	/* the NBITS (< 8) bits not yet output */
	unsigned nbits;
};

/* Start decoding with alphabet ALPHA (64 characters, as above). */
void b64_dec_init(struct b64_dec *d, const char *alpha, enum b64_mode mode);
/* Decode from S/LEN into OUT until CAP bytes are out or the input is
 * consumed; *USED_R = characters consumed.  Returns the bytes written, or
 * -1 on a character outside the alphabet in strict mode. */
long b64_dec_run(struct b64_dec *d, const char *s, size_t len,
    size_t *used_r, unsigned char *out, size_t cap);
/* 0 if the bits left over are all zero (a canonical end), else -1. */
int b64_dec_clean_end(const struct b64_dec *d);

/* Decode base64 S/LEN into OUT (capacity CAP); *OUTLEN_R.  -1 on a bad
 * character, bad padding or no room. */
int b64_decode(const char *s, size_t len, unsigned char *out, size_t cap,
    size_t *outlen_r);
/* Encode; returns the length written (NUL-terminated) or -1 if no room. */
long b64_encode(const unsigned char *p, size_t len, char *out, size_t cap);

/*
 * sasl_plain - decode a SASL PLAIN response (RFC 4616): base64 of
 * authzid NUL authcid NUL passwd.  An authzid, if present, must equal
 * authcid.  USER and PASS get NUL-terminated copies; -1 on malformed input.
 * The decoded buffer is wiped before returning.
 */
int sasl_plain(const char *b64, size_t len, char *user, size_t ucap,
    char *pass, size_t pcap);

/* ---- start-up: the options every server takes (opts.c) ----------------- */

/*
 * The options main() of each server shares: -p FILE (passwd-file backend),
 * -s DIR (spool directory), both into *AUTH; -t SECONDS (1 to
 * SESSION_MAX_SEC) into *TIMEOUT_SEC; -v sets VERBOSE; -h NAME into
 * *HOSTNAME unless HOSTNAME is NULL (the server checks -h itself).  The
 * defaults are whatever the fields hold before the getopt() loop.
 */
struct srv_opts {
	struct auth_cfg *auth;
	int *timeout_sec;
	const char **hostname;		/* NULL: -h is not handled here */
	int verbose;
};

/* Handle option CH with argument ARG: 1 if done, 0 if CH is not one of
 * ours (the caller's own or unknown), -1 if ARG is bad (-t). */
int srv_option(struct srv_opts *o, int ch, const char *arg);
/* Is FD a socket?  Under inetd stderr is the client: no logs there. */
int srv_fd_is_socket(int fd);

/* ---- authentication ---------------------------------------------------- */

enum auth_backend {
	AUTH_BACKEND_PAM,		/* system accounts, PAM service name */
	AUTH_BACKEND_FILE		/* passwd-file: user:crypt-hash[:uid:gid[:gecos:home]] */
};

struct auth_cfg {
	enum auth_backend backend;
	const char *pam_service;	/* "pop3d", "imapd" */
	const char *passwd_file;	/* AUTH_BACKEND_FILE */
	const char *spool_dir;		/* mailbox = spool_dir/name */
};

struct auth_user {
	char name[SP_USER_MAX + 1];
	uid_t uid;			/* file backend without uid: our uid */
	gid_t gid;
	char home[SP_PATH_MAX];
	char mailbox[SP_PATH_MAX];	/* spool_dir/name */
};

enum auth_result { AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL };

/*
 * auth_check - verify USER/PASS.  Unknown users, locked accounts and bad
 * passwords cost the same (a dummy crypt()) and all give AUTH_FAIL; the
 * caller sends one message for every case.  Invalid user names
 * (sp_user_valid) fail the same way.  Logs nothing secret.  On AUTH_OK
 * fills *U.  uid 0 is refused (AUTH_FAIL), except for a passwd-file entry
 * without ids, which means "the running user" (tests as root).
 * AUTH_TEMPFAIL only when the backend itself fails (file unreadable, PAM
 * error), never for a user-dependent reason.
 */
enum auth_result auth_check(const struct auth_cfg *cfg, const char *user,
    const char *pass, struct auth_user *u);

/* auth_lookup - does local user NAME exist (no password)?  For SMTP RCPT.
 * Returns AUTH_OK and fills *U, AUTH_FAIL if unknown, AUTH_TEMPFAIL.  As
 * for auth_check, a passwd-file entry without ids gives our own uid, 0
 * when run as root: a caller that writes as U->uid must refuse that. */
enum auth_result auth_lookup(const struct auth_cfg *cfg, const char *name,
    struct auth_user *u);

/* Sleep AUTH_FAIL_DELAY_SEC (after a failed login). */
void auth_fail_delay(void);

/* ---- privileges -------------------------------------------------------- */

/* The unprivileged user the pre-auth parsers run as; "nobody" if absent. */
#define PRIV_USER		"mailsuite"
#define PRIV_USER_FALLBACK	"nobody"
/* An empty directory to chroot into. */
#define PRIV_EMPTY_DIR		"/var/empty"
#define PRIV_EMPTY_DIR_FALLBACK	"/var/lib/mailsuite/empty"

int priv_is_root(void);
/* The gid of group "mail", or (gid_t)-1. */
gid_t priv_mail_gid(void);

/*
 * priv_drop_unprivileged - for a pre-auth parser: resolve PRIV_USER, chroot
 * to the empty directory, chdir("/"), setgroups(0), setresgid, setresuid,
 * then check that root cannot be regained.  Call log_open() and tzset()
 * before.  PRIV_EMPTY_DIR must be a root-owned directory others cannot
 * write; if it is missing, PRIV_EMPTY_DIR_FALLBACK is created (0755
 * root).  -1 with a logged reason on any failure (the caller must exit).
 */
int priv_drop_unprivileged(void);

/*
 * priv_become - become UID/GID for good (refusing uid 0), supplementary
 * groups cleared.  If KEEP_GID is not (gid_t)-1 it is kept only as the saved
 * gid, so the dotlock code can raise it briefly (Dovecot's
 * mail_privileged_group).  Checks that root cannot be regained.
 */
int priv_become(uid_t uid, gid_t gid, gid_t keep_gid);

/* ---- privilege separation (pop3d, imapd) ------------------------------- */

/*
 * Started as root, a server splits in two (popa3d's design):
 *  - a child, chrooted and unprivileged, speaks the protocol until the
 *    client has authenticated; it asks the parent to check each user and
 *    password (login_verify);
 *  - the root parent reads fixed-size requests from the child (as
 *    untrusted data), runs auth_check, wipes the password, and on success
 *    takes over: the child hands it the unread input and a small RESUME
 *    blob (an IMAP tag, say) and exits; the parent becomes the user with
 *    priv_become and continues the session.
 * Started as another user there is no split: login_verify calls auth_check
 * in-process and login_complete returns at once.
 */
#define PRIVSEP_RESUME_MAX	512

struct privsep;		/* opaque; NULL when not separated */

enum privsep_role {
	PRIVSEP_CHILD,		/* we are the pre-auth child: run the dialogue */
	PRIVSEP_LOGGED_IN,	/* we are the parent, now the user: go on */
	PRIVSEP_ENDED,		/* the child ended the session: exit 0 */
	PRIVSEP_FAILED		/* set-up failed (logged): exit 1 */
};

struct privsep_login {
	struct auth_user user;
	char resume[PRIVSEP_RESUME_MAX];
	size_t resume_len;
};

/*
 * privsep_start - fork.  Returns PRIVSEP_CHILD in the child (already
 * unprivileged, *PS_R set); in the parent, serves the child's requests and
 * returns PRIVSEP_LOGGED_IN with *LOGIN filled and the child's unread input
 * pushed into IO (priv_become done, keeping group mail as saved gid),
 * or PRIVSEP_ENDED / PRIVSEP_FAILED.  Pending output of IO is flushed
 * before the fork.  Not root: no split, PRIVSEP_CHILD with *PS_R NULL.
 * The parent checks at most 10 passwords per session (defence in depth),
 * hands over only the user it verified itself, never uid 0 (a
 * passwd-file entry must carry uid:gid when the server runs as root).
 */
enum privsep_role privsep_start(const struct auth_cfg *cfg, struct io *io,
    struct privsep **ps_r, struct privsep_login *login);

/*
 * login_verify - check USER/PASS: through the parent if PS, else with
 * auth_check.  Applies the failure delay: a failed call returns
 * AUTH_FAIL_DELAY_SEC after it started, whatever the backend spent, so
 * that timing does not tell unknown users from wrong passwords.  Wipes
 * nothing of the caller's; the caller wipes its password buffer.
 */
enum auth_result login_verify(struct privsep *ps, const struct auth_cfg *cfg,
    const char *user, const char *pass, struct auth_user *u);

/*
 * login_complete - after a successful login_verify.  With PS (the child):
 * hands the unread input of IO and RESUME/LEN to the parent and exits; it
 * never returns.  Without: becomes U's uid if we are root and not
 * already U (not reached in practice) and returns 0, or -1.
 */
int login_complete(struct privsep *ps, struct io *io,
    const struct auth_user *u, const void *resume, size_t len);

#endif
