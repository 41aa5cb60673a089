/*
 * params.h - every limit and timeout of the suite, each with its reason.
 *
 * One place to read what a client can make us spend.  A limit that a
 * protocol fixes cites the RFC; a limit we chose says why.  Code never
 * writes one of these numbers literally.
 */
#ifndef SPOOL_PARAMS_H
#define SPOOL_PARAMS_H

/* ---- storage (libspool) ------------------------------------------------ */

/* Default spool directory (Debian Policy 11.6). Every program takes -s DIR. */
#define SP_SPOOL_DIR		"/var/mail"

/* Longest user name accepted as a mailbox name: useradd's own limit (32)
 * with room; anything longer cannot be a local account. */
#define SP_USER_MAX		64

/* Longest path we build (spool dir + user + ".lock" suffixes). */
#define SP_PATH_MAX		1024

/* Dotlock and fcntl acquisition: Postfix local(8) tries 20 times, 1 s apart
 * (deliver_lock_attempts, deliver_lock_delay).  We retry as often, with a
 * random delay of 0.5-1.5 s so that contenders do not move in step. */
#define SP_LOCK_TRIES		20
#define SP_LOCK_DELAY_MS	1000

/* A dotlock older than this is stale and removed (Postfix:
 * stale_lock_time = 500s).  A dotlock whose owner process is known to be
 * dead is removed at once. */
#define SP_DOTLOCK_STALE_SEC	500

/* Default per-mailbox size cap (bytes); 0 means none.  Postfix's
 * mailbox_size_limit default is 51200000. */
#define SP_MAILBOX_MAX_DEFAULT	((long long)51200000)

/* Largest message we index or serve (bytes).  Larger "messages" in a
 * foreign mbox are still indexed; this caps what one delivery may add. */
#define SP_MESSAGE_MAX		((long long)1 << 30)

/* Most messages one mailbox index will hold: bounds index memory
 * (about 100 bytes each) against a hostile mailbox. */
#define SP_MESSAGES_MAX		(4u * 1024 * 1024)

/* Keywords per mailbox we track (one bit each in the index). */
#define SP_KEYWORDS_MAX		32

/* Bytes reserved as spaces in X-Keywords so that most flag changes are
 * rewritten in place (Dovecot and UW-IMAP pad the same way). */
#define SP_STATE_PAD		32

/* Index cache (.NAME.index, libspool/ixcache.c).  File timestamps are
 * coarse: two same-size rewrites inside one clock tick keep mtime and
 * ctime, so a cache keyed on them is written only for a mailbox whose
 * last change is at least this old; any later change then gets a later
 * timestamp and a different key. */
#define SP_CACHE_SETTLE_SEC	2

/* Smallest mailbox whose index is cached: below 1 MiB a scan takes
 * under 0.3 ms (3.9 GB/s), too little to be worth an extra file beside
 * every small folder. */
#define SP_CACHE_MIN_BYTES	((long long)1 << 20)

/* ---- connection layer (libspool/proto.h) ------------------------------- */

/* SMTP: a command line is at most 512 octets with CRLF, a text line 1000
 * (RFC 5321 4.5.3.1.4, 4.5.3.1.6). */
#define SMTP_CMD_MAX		512
#define SMTP_TEXT_MAX		1000
/* A mailbox address: local part 64 + @ + domain 255 (RFC 5321 4.5.3.1). */
#define SMTP_ADDR_MAX		(64 + 1 + 255)
/* Recipients per message: RFC 5321 4.5.3.1.8 asks for at least 100. */
#define SMTP_RCPT_MAX		100
/* Default message size limit, as Postfix's message_size_limit. */
#define SMTP_SIZE_DEFAULT	((long long)10240000)
/* Idle timeout: Postfix smtpd_timeout default. */
#define SMTP_TIMEOUT_SEC	300
/* Errors before we hang up (Postfix smtpd_hard_error_limit is 20). */
#define SMTP_ERRORS_MAX		20

/* POP3: arguments are at most 40 characters, so a command line fits in
 * 255 (RFC 1939 3; RFC 2449 4). */
#define POP3_ARG_MAX		40
#define POP3_CMD_MAX		255
/* Autologout timer: RFC 1939 3 says at least 10 minutes. */
#define POP3_TIMEOUT_SEC	600
/* Failed logins before the session ends. */
#define POP3_AUTH_TRIES		3

/* IMAP: command line (without literals) and literal caps. */
#define IMAP_LINE_MAX		(64 * 1024)
#define IMAP_LITERAL_MAX	((long long)64 * 1024 * 1024)
#define IMAP_NEST_MAX		32
/* Autologout: RFC 3501 5.4 asks for at least 30 minutes after login;
 * before login a client has 3 minutes, as in Dovecot. */
#define IMAP_TIMEOUT_SEC	(30 * 60)
#define IMAP_PREAUTH_TIMEOUT_SEC (3 * 60)
#define IMAP_AUTH_TRIES		3

/* Whole-session cap for every server: a slow drip cannot hold a process
 * for ever. */
#define SESSION_MAX_SEC		(4 * 60 * 60)

/* Delay after a failed authentication (seconds). */
#define AUTH_FAIL_DELAY_SEC	2

/* Longest password we accept: longer is refused without hashing. */
#define AUTH_PASS_MAX		256

/* Output buffer: responses are built here and written once. */
#define IO_OUT_BUF		(64 * 1024)

#endif
