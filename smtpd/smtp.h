/*
 * smtp.h - smtpd: an inetd-style SMTP server for local delivery only.
 *
 * One process serves one connection on a pair of descriptors.  main.c
 * parses the options into a struct smtp_cfg and calls smtp_serve(); when
 * started as root it first splits into a root parent that only looks up
 * recipients and delivers (privsep.c) and an unprivileged, chrooted child
 * that speaks SMTP and asks the parent through a socketpair (smtp_link).
 *
 * Files: smtp.c (session, command table, dispatcher, replies), addr.c
 * (address and parameter syntax), data.c (the DATA reader and the trace
 * headers), local.c (recipient lookup and delivery), privsep.c (the root
 * parent and the messages on the socketpair).
 */
#ifndef SMTPD_SMTP_H
#define SMTPD_SMTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <time.h>

#include "params.h"
#include "proto.h"
#include "spool.h"

/* ---- limits of smtpd (beyond params.h) ---------------------------------- */

/* Extra local domains (-d): a handful is all a lab or a small host needs. */
#define SMTP_DOMAINS_MAX	16
/* A host or domain name: 255 octets; a label of it 63 (RFC 1035 2.3.4). */
#define SMTP_DOMAIN_MAX		255
#define SMTP_LABEL_MAX		63
/* A local part: 64 octets (RFC 5321 4.5.3.1.1). */
#define SMTP_LOCAL_MAX		64
/* Characters of an unknown ESMTP parameter name echoed in the reply. */
#define SMTP_PARAM_SHOWN	32
/* An RFC 5322 date with its zone comment, "Mon, 16 Jan 2023 13:09:16
 * +0100 (CET)", with room. */
#define SMTP_DATE_MAX		64
/* Room kept in front of a message for the per-recipient trace headers
 * (Return-Path, X-Original-To, Delivered-To: three addresses of at most
 * SMTP_ADDR_MAX octets and their names). */
#define SMTP_PREFIX_MAX		(4 * SMTP_ADDR_MAX)
/* Trace headers beyond which a message is taken for a mail loop
 * (Postfix's hopcount_limit). */
#define SMTP_HOPS_MAX		50
/* Room for the Received: header (HELO name cut to SMTP_HELO_SHOWN, host,
 * address, id, one recipient, date) and the added Date:/Message-ID:. */
#define SMTP_TRACE_MAX		(2 * SMTP_ADDR_MAX + 2 * SMTP_DOMAIN_MAX + 256)
/* Characters of the HELO argument kept for Received: and the logs. */
#define SMTP_HELO_SHOWN		SMTP_DOMAIN_MAX
/* Characters of an unknown command echoed back in the reply: enough to
 * recognise a typo, too few to be a reflection channel. */
#define SMTP_VERB_SHOWN		16
/* A mistyped command is suggested when it is this close (Damerau edits)
 * to a real one: HLEO -> HELO, QUITE -> QUIT. */
#define SMTP_SUGGEST_DIST	2
/* Message lines copied into the -v transcript before it goes quiet:
 * enough to follow a lab session, not a 10 MB attachment. */
#define SMTP_TRANSCRIPT_DATA	50
/* Hanging up on a client that is still sending, we read and drop its
 * input for this long (or this much) so that our last reply is not lost
 * to a TCP reset. */
#define SMTP_LINGER_MS		2000
#define SMTP_LINGER_BYTES	(1024 * 1024)
/* Queue id: hexadecimal, as long as Postfix's short ids (10-12). */
#define SMTP_ID_LEN		12

/* ---- configuration (main.c fills it from the options) ------------------ */

struct smtp_cfg {
	char host[SMTP_DOMAIN_MAX + 1];		/* -h, greeting and Received */
	const char *domains[SMTP_DOMAINS_MAX];	/* -d, extra local domains */
	size_t ndomains;
	long long size_max;			/* -z, SIZE and the DATA cap */
	long long mailbox_max;			/* per-mailbox cap, 0 = none */
	int timeout;				/* -t, idle seconds */
	int verify;				/* -V: VRFY looks users up */
	enum io_transcript transcript;		/* -v */
	struct auth_cfg auth;			/* spool dir, passwd-file */
	int root;				/* started as root: privsep */
	gid_t mail_gid;				/* group mail, looked up once */
	int greeted;				/* main.c sent the 220 already */
};

/* The greeting line, CRLF-terminated, into BUF; its length (0: no room). */
size_t smtp_greeting(const struct smtp_cfg *cfg, char *buf, size_t cap);

/* Fill CFG with the defaults; HOST is left empty for the caller to set
 * (-h) or to fill with smtp_hostname(). */
void smtp_cfg_init(struct smtp_cfg *cfg);

/*
 * smtp_hostname - our name: gethostname(), made fully qualified from
 * /etc/hosts when a line there names it (never asks DNS, which may be
 * absent or slow in a lab).  Writes at most CAP bytes, NUL-terminated.
 */
void smtp_hostname(char *buf, size_t cap);

/*
 * smtp_serve - run one SMTP session on RFD/WFD and return the exit code
 * (0 after QUIT or a client hang-up, 1 on a set-up failure).  LINKFD is the
 * socketpair to the root parent, or -1 to look up and deliver in-process
 * (started as an ordinary user, and in the tests).
 */
int smtp_serve(const struct smtp_cfg *cfg, int rfd, int wfd, int linkfd);

/* ---- addresses (addr.c) ------------------------------------------------ */

/* A parsed MAIL FROM / RCPT TO argument. */
struct smtp_path {
	char addr[SMTP_ADDR_MAX + 1];	/* local@domain, "" for <> */
	char local[SMTP_LOCAL_MAX + 1];	/* local part, quotes removed */
	char domain[SMTP_DOMAIN_MAX + 1];	/* "" when absent (<postmaster>) */
	int utf8;			/* contains bytes >= 0x80 */
	const char *params;		/* after the '>': ESMTP parameters */
};

enum smtp_addr_err {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_NOBRACKET,	/* no <...>: the classic student mistake */
	SMTP_ADDR_SYNTAX,	/* bad local part, domain or junk */
	SMTP_ADDR_TOOLONG	/* local part or whole address too long */
};

/*
 * smtp_parse_path - parse ARG, what follows "FROM:" or "TO:" (spaces before
 * '<' allowed, as Postfix allows), into *P: "<" [source-route ":"]
 * Mailbox ">" or "<>" when NULL_OK.  Local part: dot-string or quoted
 * string; domain: a dotted name or an address literal.  Bytes >= 0x80 must
 * be valid UTF-8 (accepted only when the caller allows SMTPUTF8; P->utf8
 * tells).  A bare "<postmaster>" is accepted (RFC 5321 4.5.1).
 */
enum smtp_addr_err smtp_parse_path(const char *arg, int null_ok,
    struct smtp_path *p);

/* Is DOMAIN (no trailing dot needed) one of ours under CFG?  Case-blind. */
int smtp_domain_local(const struct smtp_cfg *cfg, const char *domain);

/* Is S/LEN well-formed UTF-8 (no overlongs, no surrogates)? */
int smtp_utf8_valid(const char *s, size_t len);

/* ---- recipients and delivery (local.c) -------------------------------- */

/* One recipient of the current transaction. */
struct smtp_rcpt {
	char addr[SMTP_ADDR_MAX + 1];	/* as given, for X-Original-To */
	char user[SP_USER_MAX + 1];	/* the mailbox name it resolved to */
};

/*
 * smtp_lookup_user - map a local part to a mailbox name in USER (capacity
 * SP_USER_MAX + 1): lower-cased, checked with sp_user_valid, looked up
 * (passwd-file or system accounts).  "postmaster" that is no user goes to
 * "root" (RFC 5321 4.5.1; /etc/aliases does the same on Debian).
 * Returns AUTH_OK, AUTH_FAIL (unknown) or AUTH_TEMPFAIL.  If U is not NULL
 * it gets the account.
 */
enum auth_result smtp_lookup_user(const struct smtp_cfg *cfg,
    const char *local, char *user, struct auth_user *u);

/*
 * A message being delivered: DATA bytes with SMTP_PREFIX_MAX bytes of
 * headroom in front, where each recipient's trace headers are written
 * right before the common part.
 */
struct smtp_msg {
	char *buf;		/* malloc'ed: headroom + common part */
	size_t len;		/* bytes of the common part */
	size_t cap;		/* allocated after the headroom */
};

/* The common part (after the headroom). */
#define SMTP_MSG_DATA(m)	((m)->buf + SMTP_PREFIX_MAX)

/*
 * smtp_deliver_local - deliver M to the N recipients RCPT (already resolved
 * to mailbox names) with envelope sender FROM ("" = null sender) and
 * date WHEN; ERRS[i] gets each result.  As root, each mailbox is written
 * by a child with the recipient's uid and group mail; with PIDS (N
 * entries, -1 where none) those children are left for smtp_deliver_reap,
 * so that the answer goes out before they have finished exiting; without,
 * each is reaped at once.
 */
void smtp_deliver_local(const struct smtp_cfg *cfg, const char *from,
    time_t when, struct smtp_msg *m, const struct smtp_rcpt *rcpt,
    size_t n, struct sp_err *errs, pid_t *pids);
void smtp_deliver_reap(const pid_t *pids, size_t n);

/*
 * smtp_prefix - write the per-recipient headers for recipient R into BUF
 * (capacity CAP): Return-Path, X-Original-To, Delivered-To.  Returns the
 * length, 0 if it does not fit.
 */
size_t smtp_prefix(char *buf, size_t cap, const char *from,
    const struct smtp_rcpt *r, const struct smtp_cfg *cfg);

/* ---- privilege separation (privsep.c) ---------------------------------- */

/*
 * The records on the socketpair, in host byte order (both ends are this
 * program).  A request is one struct smtp_link_req; DELIVER is followed by
 * NRCPT struct smtp_rcpt and LEN message bytes (the common part).  The
 * parent answers LOOKUP with one struct smtp_link_rep and DELIVER with
 * NRCPT struct sp_err.
 */
enum smtp_link_type { SMTP_LINK_LOOKUP = 1, SMTP_LINK_DELIVER = 2 };

struct smtp_link_req {
	uint32_t type;
	uint32_t nrcpt;			/* DELIVER: recipient records */
	uint64_t len;			/* DELIVER: message bytes */
	int64_t when;
	char from[SMTP_ADDR_MAX + 1];	/* DELIVER */
	char local[SMTP_LOCAL_MAX + 1];	/* LOOKUP */
};

struct smtp_link_rep {
	int32_t result;			/* enum auth_result */
	char user[SP_USER_MAX + 1];
};

/* Child side: look up LOCAL through the parent on LINKFD. */
enum auth_result smtp_link_lookup(int linkfd, const char *local,
    char *user);
/* Child side: hand the message to the parent and get the results.  -1 if
 * the parent is gone (every ERRS[i] is then a temporary failure). */
int smtp_link_deliver(int linkfd, const char *from, time_t when,
    const struct smtp_msg *m, const struct smtp_rcpt *rcpt, size_t n,
    struct sp_err *errs);

/*
 * smtp_privsep_parent - the root parent: serve the child's requests on
 * LINKFD (each checked as untrusted) until it hangs up, reap CHILD, and
 * return the exit code for the process.
 */
int smtp_privsep_parent(const struct smtp_cfg *cfg, int linkfd, pid_t child);

/* ---- the session (smtp.c) ---------------------------------------------- */

enum smtp_state {
	SMTP_S_GREET = 1 << 0,	/* connected: HELO/EHLO first */
	SMTP_S_IDLE = 1 << 1,	/* greeted: MAIL may start a transaction */
	SMTP_S_MAIL = 1 << 2,	/* MAIL given: RCPT next */
	SMTP_S_RCPT = 1 << 3	/* a recipient accepted: more RCPT or DATA */
};

struct smtp_session {
	const struct smtp_cfg *cfg;
	struct io io;
	int linkfd;			/* to the root parent, or -1 */
	enum smtp_state state;
	int esmtp;			/* greeted with EHLO */
	char helo[SMTP_HELO_SHOWN + 1];	/* sanitised HELO argument */
	char peer_addr[INET6_ADDRSTRLEN + 5];	/* "192.0.2.1", "IPv6:..." */
	char peer_name[16];		/* "localhost" or "unknown" */
	/* the transaction */
	char from[SMTP_ADDR_MAX + 1];
	int utf8;			/* MAIL ... SMTPUTF8 */
	int body8;			/* BODY=8BITMIME */
	struct smtp_rcpt *rcpt;		/* grown as RCPTs come (most messages
					 * have one): a session zeroes and
					 * touches 1 KiB, not SMTP_RCPT_MAX
					 * records (38 KiB) per connection */
	size_t nrcpt, rcpt_cap;
	char id[SMTP_ID_LEN + 1];	/* queue id of the last message */
	time_t when;			/* time DATA started */
	int data_lf_dot;		/* DATA: a "." line ended or preceded
					 * by a bare LF was taken as content
					 * (a client typing with nc): said at
					 * the timeout */
	/* counters */
	int errors;
	unsigned messages;
	unsigned long id_seq;		/* ids never repeat in a session */
	int id_seq_set;
	char line[SMTP_CMD_MAX];
};

/* Reply CODE with enhanced status ESC ("" for none) and text; code >= 400
 * counts as an error.  MORE: a continuation line ("250-"). */
void smtp_reply(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...) ATTR_PRINTF(4, 5);
void smtp_reply_more(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...) ATTR_PRINTF(4, 5);

/* ---- DATA and trace headers (data.c) ----------------------------------- */

/*
 * smtp_data - read the message after the 354 reply, up to CR LF . CR LF,
 * into a fresh M (trace headers added), enforcing the size cap and the text
 * line limit.  Returns an event for the dispatcher (see smtp.c): the whole
 * message was read and is in M, or why not.
 */
enum smtp_data_result {
	SMTP_DATA_OK,
	SMTP_DATA_TOOBIG,	/* read to the end; over the size limit */
	SMTP_DATA_LONGLINE,	/* read to the end; a line over 1000 */
	SMTP_DATA_NUL,		/* read to the end; NUL bytes inside */
	SMTP_DATA_NOMEM,	/* read to the end; could not hold it */
	SMTP_DATA_LOOP,		/* over SMTP_HOPS_MAX trace headers */
	SMTP_DATA_EOF,		/* client gone before the end: nothing kept */
	SMTP_DATA_TIMEOUT,
	SMTP_DATA_IOERR
};
enum smtp_data_result smtp_data(struct smtp_session *s, struct smtp_msg *m);

/* RFC 5322 date of T (local time) into BUF: "Mon, 16 Jan 2023 13:09:16
 * +0100 (CET)". */
void smtp_date(char *buf, size_t cap, time_t t);

void smtp_msg_free(struct smtp_msg *m);

#endif
