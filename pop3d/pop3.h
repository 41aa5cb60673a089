/*
 * pop3.h - the POP3 server (RFC 1939, 2449, 3206, 5034): configuration,
 * session, the two state tables and the shared dispatcher.
 *
 * A session is served by pop3_serve() on one pair of descriptors.  It has
 * two states, each with its own command table in its own file:
 *   AUTHORIZATION  auth.c   USER PASS AUTH APOP CAPA QUIT
 *   TRANSACTION    trans.c  STAT LIST RETR TOP DELE NOOP RSET UIDL CAPA QUIT
 * The UPDATE state of RFC 1939 is the end of QUIT in TRANSACTION.
 * Handlers return an event (enum pop3_event); pop3_dispatch() writes every
 * generic reply, so the wording of errors lives in one place (pop3.c).
 */
#ifndef POP3_H
#define POP3_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"
#include "proto.h"
#include "spool.h"

/* A command line without its CRLF: RFC 2449 4 caps the line at 255 octets
 * with the CRLF. */
#define POP3_LINE_MAX		(POP3_CMD_MAX - 2)

/* Arguments on one line.  TOP has two; one more lets us say "too many". */
#define POP3_ARGS_MAX		3

/* An AUTH PLAIN response sent after "+ " may exceed the command limit
 * (RFC 5034 4): base64 of authzid, authcid and password with two NULs. */
#define POP3_SASL_LINE_MAX \
	(((2 * SP_USER_MAX + AUTH_PASS_MAX + 2 + 2) / 3) * 4 + 4)

/* The longest command word we quote back in an error. */
#define POP3_ECHO_MAX		16

/* What the greeting and CAPA IMPLEMENTATION call us. */
#define POP3_IMPLEMENTATION	"mailsuite-pop3d"

/* UIDL: UID then UIDVALIDITY, 8 upper-case hex digits each (Dovecot's
 * default pop3_uidl_format "%08Xu%08Xv"), so a mailbox moved from Dovecot
 * keeps its UIDLs and fetchmail/Thunderbird do not download again. */
#define POP3_UIDL_FMT		"%08X%08X"
#define POP3_UIDL_LEN		16

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION
};

/* What a handler reports; pop3_dispatch() writes the reply for every event
 * except POP3_DONE and POP3_LOGIN (the handler or the login path wrote it). */
enum pop3_event {
	POP3_DONE,		/* the handler wrote the whole reply */
	POP3_USAGE,		/* wrong arguments: "-ERR usage: ..." from the table */
	POP3_BADNUM,		/* a message number is not a number */
	POP3_NOMSG,		/* no such message */
	POP3_ISDELETED,		/* the message is marked deleted */
	POP3_NEEDUSER,		/* PASS before USER */
	POP3_AUTHFAIL,		/* one failed login; the dispatcher counts */
	POP3_LOGIN,		/* credentials good: open the maildrop */
	POP3_QUIT,		/* the handler wrote +OK: end the session */
	POP3_SYSERR,		/* mailbox I/O failed: "-ERR [SYS/TEMP]", end */
	POP3_IOERR		/* the connection failed: end, nothing written */
};

struct pop3_cfg {
	const char *hostname;		/* greeting; "localhost" if NULL */
	struct auth_cfg auth;		/* backend, PAM service, passwd-file, spool */
	int idle_sec;			/* autologout timer */
	enum io_transcript transcript;	/* -v */
	int privsep;			/* fork a chrooted pre-auth child (root) */
};

struct pop3_session;

/* One command: NAME (upper case), its handler, how many arguments it takes
 * (MAXARGS -1: the rest of the line is one argument, for PASS), and USAGE,
 * the syntax we teach when the arguments are wrong. */
struct pop3_cmd {
	const char *name;
	enum pop3_event (*fn)(struct pop3_session *s);
	int minargs, maxargs;
	const char *usage;
};

struct pop3_session {
	const struct pop3_cfg *cfg;
	struct io io;
	struct privsep *ps;		/* pre-auth child only */
	enum pop3_state state;
	const struct pop3_cmd *cmd;	/* the command being run */

	char line[POP3_LINE_MAX + 1];	/* the current command line */
	size_t len;
	char *argv[POP3_ARGS_MAX];	/* into line */
	int argc;

	/* AUTHORIZATION */
	char user[POP3_ARG_MAX + 1];	/* from USER, waiting for PASS */
	int failures;
	const char *method;		/* "USER/PASS" or "AUTH PLAIN", for the log */
	struct auth_user au;		/* the logged-in user */

	/* TRANSACTION: the maildrop as it was at login; mail delivered
	 * during the session is not shown (RFC 1939 keeps numbers fixed). */
	struct sp_mbox *mb;
	int lock_fd;
	uint32_t count;			/* messages at login */
	uint64_t octets;		/* their total size */
	unsigned char *dele;		/* 1: marked by DELE */
	uint32_t ndele;
	uint64_t dele_octets;
};

/* ---- pop3.c: session, dispatcher, replies --------------------------------- */

/* Serve one session on RFD/WFD.  Returns the exit code: 0 on a normal end
 * (QUIT, EOF, timeout), 1 on a set-up or I/O failure. */
int pop3_serve(const struct pop3_cfg *cfg, int rfd, int wfd);

/* Find NAME (case-insensitive) in the NULL-terminated TABLE. */
const struct pop3_cmd *pop3_lookup(const struct pop3_cmd *table,
    const char *name);

/* STATUS (the "+OK ...\r\n" line), then PART of message IDX (0-based in
 * the mailbox) dot-stuffed with CRLF line ends, at most BODY_LINES body
 * lines (UINT64_MAX: all), then the terminating ".".  Returns POP3_DONE,
 * or POP3_SYSERR (before STATUS when the message cannot be read at all;
 * after part of it, the session must end) or POP3_IOERR. */
enum pop3_event pop3_stream(struct pop3_session *s, uint32_t idx,
    uint64_t body_lines, const char *status);

/* ---- auth.c: AUTHORIZATION --------------------------------------------- */

extern const struct pop3_cmd pop3_auth_cmds[];
/* Byte offset from which the transcript must mask LINE (a password). */
size_t pop3_auth_mask(const char *line, size_t len);

/* ---- trans.c: TRANSACTION ---------------------------------------------- */

extern const struct pop3_cmd pop3_trans_cmds[];
/* After a good login: lock and open the maildrop, reply to PASS/AUTH.
 * Returns POP3_DONE (now in TRANSACTION) or POP3_QUIT (reply written,
 * session over: [IN-USE], [SYS/TEMP], [SYS/PERM]). */
enum pop3_event pop3_enter_trans(struct pop3_session *s);
/* The maildrop is no longer needed: unlock and free (no deletions). */
void pop3_trans_close(struct pop3_session *s);

/* ---- pop3.c: CAPA, in both tables --------------------------------------- */
enum pop3_event pop3_capa(struct pop3_session *s);

#endif
