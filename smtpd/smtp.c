/*
 * smtp.c - the SMTP session: command table, dispatcher, replies.
 *
 * Every command is an entry of smtp_cmds[] with the states it is allowed
 * in, whether it takes an argument, the syntax a student is taught when
 * the argument is wrong, and its HELP text.  smtp_dispatch() checks the
 * state and the argument before calling the handler; handlers return an
 * event and smtp_event() writes the generic replies.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

/* What a handler tells the dispatcher. */
enum smtp_ev {
	SMTP_EV_REPLIED,	/* the handler wrote its reply */
	SMTP_EV_OK,		/* 250 2.0.0 Ok */
	SMTP_EV_SYNTAX,		/* 501 5.5.4 Syntax: <the command's syntax> */
	SMTP_EV_QUIT,		/* replied; end the session */
	SMTP_EV_CLOSE,		/* replied; hang up on a protocol error */
	SMTP_EV_GONE		/* client gone or I/O failed: end, no reply */
};

enum smtp_arg { SMTP_ARG_NONE, SMTP_ARG_REQ, SMTP_ARG_OPT };

#define SMTP_S_ANY	(SMTP_S_GREET | SMTP_S_IDLE | SMTP_S_MAIL | SMTP_S_RCPT)
#define SMTP_S_HELLO	(SMTP_S_IDLE | SMTP_S_MAIL | SMTP_S_RCPT)

struct smtp_cmd {
	const char *name;
	enum smtp_ev (*fn)(struct smtp_session *, char *);
	unsigned states;	/* SMTP_S_* where it is allowed */
	enum smtp_arg arg;
	const char *syntax;	/* taught after "501 5.5.4 Syntax: " */
	const char *help;	/* one line for HELP NAME */
};

static enum smtp_ev smtp_helo(struct smtp_session *, char *);
static enum smtp_ev smtp_ehlo(struct smtp_session *, char *);
static enum smtp_ev smtp_mail(struct smtp_session *, char *);
static enum smtp_ev smtp_rcpt(struct smtp_session *, char *);
static enum smtp_ev smtp_data_cmd(struct smtp_session *, char *);
static enum smtp_ev smtp_rset(struct smtp_session *, char *);
static enum smtp_ev smtp_noop(struct smtp_session *, char *);
static enum smtp_ev smtp_quit(struct smtp_session *, char *);
static enum smtp_ev smtp_vrfy(struct smtp_session *, char *);
static enum smtp_ev smtp_expn(struct smtp_session *, char *);
static enum smtp_ev smtp_help(struct smtp_session *, char *);

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO", smtp_helo, SMTP_S_ANY, SMTP_ARG_REQ, "HELO hostname",
	  "HELO hostname: say hello and who you are; the server answers its name" },
	{ "EHLO", smtp_ehlo, SMTP_S_ANY, SMTP_ARG_REQ, "EHLO hostname",
	  "EHLO hostname: as HELO, and the server lists its extensions" },
	{ "MAIL", smtp_mail, SMTP_S_IDLE, SMTP_ARG_REQ, "MAIL FROM:<address>",
	  "MAIL FROM:<address> [SIZE=bytes] [BODY=8BITMIME] [SMTPUTF8]: "
	  "start a message from this sender (<> for none)" },
	{ "RCPT", smtp_rcpt, SMTP_S_MAIL | SMTP_S_RCPT, SMTP_ARG_REQ,
	  "RCPT TO:<address>",
	  "RCPT TO:<address>: add a recipient (a local user); repeat for more" },
	{ "DATA", smtp_data_cmd, SMTP_S_RCPT, SMTP_ARG_NONE, "DATA",
	  "DATA: then type the message; end it with a line holding only \".\"" },
	{ "RSET", smtp_rset, SMTP_S_ANY, SMTP_ARG_NONE, "RSET",
	  "RSET: forget the message being prepared (sender and recipients)" },
	{ "NOOP", smtp_noop, SMTP_S_ANY, SMTP_ARG_OPT, "NOOP",
	  "NOOP: do nothing; the server answers 250 Ok" },
	/* an argument is ignored: whoever wants to leave may leave */
	{ "QUIT", smtp_quit, SMTP_S_ANY, SMTP_ARG_OPT, "QUIT",
	  "QUIT: end the session" },
	{ "VRFY", smtp_vrfy, SMTP_S_ANY, SMTP_ARG_REQ, "VRFY user",
	  "VRFY user: ask whether a local user exists" },
	{ "EXPN", smtp_expn, SMTP_S_ANY, SMTP_ARG_REQ, "EXPN list",
	  "EXPN list: expand a mailing list (there are none here)" },
	{ "HELP", smtp_help, SMTP_S_ANY, SMTP_ARG_OPT, "HELP [command]",
	  "HELP [command]: list the commands, or explain one" },
};

/* Commands of other protocols that web browsers and proxies send: a
 * cross-protocol attack, not a confused student.  As Postfix does. */
static const char *const smtp_forbidden[] = { "GET", "POST", "CONNECT", "PUT",
	"HEAD" };

/* ---- signals ------------------------------------------------------------ */

/* SIGTERM: say 421 and go, unless a delivery is being written, which then
 * finishes first.  The reply is prepared at the start of the session. */
static volatile sig_atomic_t smtp_sig_busy, smtp_sig_term;
static int smtp_sig_fd = -1;
static char smtp_sig_msg[SMTP_DOMAIN_MAX + sizeof("421 4.3.2  Service "
    "shutting down, closing connection\r\n")];
static size_t smtp_sig_len;

static void
smtp_on_term(int sig)
{
	(void)sig;
	if (smtp_sig_busy) {
		smtp_sig_term = 1;
		return;
	}
	if (smtp_sig_fd != -1 && write(smtp_sig_fd, smtp_sig_msg,
	    smtp_sig_len) < 0) {
		/* nothing more can be done */
	}
	_exit(0);
}

static void
smtp_signals(struct smtp_session *s, int wfd)
{
	struct sigaction sa;
	int n;

	n = snprintf(smtp_sig_msg, sizeof(smtp_sig_msg),
	    "421 4.3.2 %s Service shutting down, closing connection\r\n",
	    s->cfg->host);
	smtp_sig_len = n > 0 && (size_t)n < sizeof(smtp_sig_msg) ?
	    (size_t)n : 0;
	smtp_sig_fd = wfd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = smtp_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- replies ------------------------------------------------------------ */

static void
smtp_vreply(struct smtp_session *s, int code, char sep, const char *esc,
    const char *fmt, va_list ap)
{
	/* a reply line is at most 512 octets with CRLF (RFC 5321 4.5.3.1.5) */
	char line[SMTP_CMD_MAX];
	int n, m;

	if (code < 200 || code > 599)
		code = 451;		/* a bug of ours: never an odd code */
	n = snprintf(line, sizeof(line), "%d%c%s%s", code, sep, esc,
	    esc[0] != '\0' ? " " : "");
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(line) - (size_t)n - 2)
		m = (int)(sizeof(line) - (size_t)n - 3);
	n += m;
	line[n++] = '\r';
	line[n++] = '\n';
	io_write(&s->io, line, (size_t)n);
	if (code >= 400 && sep == ' ')
		s->errors++;
}

void
smtp_reply(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, ' ', esc, fmt, ap);
	va_end(ap);
}

void
smtp_reply_more(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, '-', esc, fmt, ap);
	va_end(ap);
}

/* ---- helpers ------------------------------------------------------------ */

static void
smtp_reset(struct smtp_session *s)
{
	s->from[0] = '\0';
	s->utf8 = s->body8 = 0;
	s->nrcpt = 0;
	if (s->state != SMTP_S_GREET)
		s->state = SMTP_S_IDLE;
}

/* After "MAIL" or "RCPT": KEYWORD ("FROM", "TO"), optional spaces, ':'.
 * Returns what follows the colon, or NULL. */
static const char *
smtp_keyword(const char *arg, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(arg, kw, n) != 0)
		return NULL;
	arg += n;
	while (*arg == ' ')
		arg++;
	return *arg == ':' ? arg + 1 : NULL;
}

/* Copy client text for a reply or Received: printable ASCII kept, the rest
 * shown as '?' (as Postfix shows "Bonjour?je?suis?un?etudiant"). */
static void
smtp_printable(char *dst, size_t cap, const char *src, int space_ok)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c > ' ' && c < 0x7f && c != '"' && c != '\\') ||
		    (space_ok && c == ' ') ? (char)c : '?';
	}
	dst[i] = '\0';
}

/* Damerau-Levenshtein distance between short words A and B (case-blind),
 * SMTP_SUGGEST_DIST + 1 if larger or too long to matter. */
static int
smtp_distance(const char *a, const char *b)
{
	/* a word of more than 8 letters is never within 2 edits of a
	 * 4-letter command */
	enum { W = 8 };
	int d[W + 1][W + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > W || lb > W)
		return SMTP_SUGGEST_DIST + 1;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			int cost = toupper((unsigned char)a[i - 1]) !=
			    toupper((unsigned char)b[j - 1]);
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && toupper((unsigned char)a[i - 1]) ==
			    toupper((unsigned char)b[j - 2]) &&
			    toupper((unsigned char)a[i - 2]) ==
			    toupper((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

static const struct smtp_cmd *
smtp_find(const char *verb)
{
	size_t i;

	for (i = 0; i < nitems(smtp_cmds); i++)
		if (strcasecmp(verb, smtp_cmds[i].name) == 0)
			return &smtp_cmds[i];
	return NULL;
}

static void
smtp_unknown(struct smtp_session *s, const char *verb)
{
	char shown[SMTP_VERB_SHOWN + 1];
	const struct smtp_cmd *best = NULL;
	int bestd = SMTP_SUGGEST_DIST + 1;
	size_t i;

	smtp_printable(shown, sizeof(shown), verb, 0);
	if (strlen(verb) > SMTP_VERB_SHOWN)
		memcpy(shown + SMTP_VERB_SHOWN - 3, "...", 3);
	if (strlen(verb) >= 3) {
		for (i = 0; i < nitems(smtp_cmds); i++) {
			int d = smtp_distance(verb, smtp_cmds[i].name);
			if (d < bestd) {
				bestd = d;
				best = &smtp_cmds[i];
			}
		}
	}
	if (best != NULL)
		smtp_reply(s, 502, "5.5.2", "Error: command \"%s\" not "
		    "recognized; did you mean %s? Try HELP", shown, best->name);
	else
		smtp_reply(s, 502, "5.5.2", "Error: command \"%s\" not "
		    "recognized; commands are HELO EHLO MAIL RCPT DATA RSET "
		    "NOOP QUIT VRFY HELP", shown);
}

/* A command out of order: say what must come first. */
static void
smtp_order(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->state == SMTP_S_GREET)
		smtp_reply(s, 503, "5.5.1", "Error: send HELO or EHLO first "
		    "(HELO hostname)");
	else if (c->fn == smtp_mail)
		smtp_reply(s, 503, "5.5.1", "Error: nested MAIL command: "
		    "finish this message with DATA, or cancel it with RSET");
	else if (s->state == SMTP_S_IDLE)
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command "
		    "(MAIL FROM:<address> comes before %s)", c->name);
	else
		smtp_reply(s, 503, "5.5.1", "Error: need RCPT command "
		    "(RCPT TO:<address> comes before %s)", c->name);
}

/* ---- handlers ----------------------------------------------------------- */

static void
smtp_set_helo(struct smtp_session *s, const char *arg)
{
	smtp_printable(s->helo, sizeof(s->helo), arg, 0);
	smtp_reset(s);
	s->state = SMTP_S_IDLE;
}

static enum smtp_ev
smtp_helo(struct smtp_session *s, char *arg)
{
	smtp_set_helo(s, arg);
	s->esmtp = 0;
	smtp_reply(s, 250, "", "%s", s->cfg->host);
	return SMTP_EV_REPLIED;
}

static enum smtp_ev
smtp_ehlo(struct smtp_session *s, char *arg)
{
	smtp_set_helo(s, arg);
	s->esmtp = 1;
	smtp_reply_more(s, 250, "", "%s", s->cfg->host);
	smtp_reply_more(s, 250, "", "PIPELINING");
	smtp_reply_more(s, 250, "", "SIZE %lld", s->cfg->size_max);
	smtp_reply_more(s, 250, "", "8BITMIME");
	smtp_reply_more(s, 250, "", "ENHANCEDSTATUSCODES");
	smtp_reply_more(s, 250, "", "SMTPUTF8");
	smtp_reply(s, 250, "", "HELP");
	return SMTP_EV_REPLIED;
}

/* Syntax errors in an address, with what was expected. */
static enum smtp_ev
smtp_addr_error(struct smtp_session *s, enum smtp_addr_err e, int rcpt)
{
	const char *cmd = rcpt ? "RCPT TO:<address>" : "MAIL FROM:<address>";
	const char *esc = rcpt ? "5.1.3" : "5.1.7";

	if (e == SMTP_ADDR_NOBRACKET)
		smtp_reply(s, 501, "5.5.4", "Syntax: %s (the address goes "
		    "between < and >)", cmd);
	else if (e == SMTP_ADDR_TOOLONG)
		smtp_reply(s, 501, esc, "Bad %s address syntax: too long "
		    "(at most 64 characters before the @, 320 in all)",
		    rcpt ? "recipient" : "sender");
	else
		smtp_reply(s, 501, esc, "Bad %s address syntax: expected %s "
		    "with an address like user@example.org",
		    rcpt ? "recipient" : "sender", cmd);
	return SMTP_EV_REPLIED;
}

/* RCPT TO:<etudiant>, the domain forgotten: show the address to type. */
static enum smtp_ev
smtp_rcpt_error(struct smtp_session *s, enum smtp_addr_err e,
    const char *arg)
{
	char user[SMTP_LOCAL_MAX + 1];
	const char *lt = strchr(arg, '<'), *gt;
	size_t n;

	if (e == SMTP_ADDR_SYNTAX && lt != NULL &&
	    (gt = strchr(lt, '>')) != NULL && (n = (size_t)(gt - lt - 1)) > 0 &&
	    n <= SMTP_LOCAL_MAX && memchr(lt, '@', n + 1) == NULL) {
		memcpy(user, lt + 1, n);
		user[n] = '\0';
		smtp_printable(user, sizeof(user), user, 0);
		smtp_reply(s, 501, "5.1.3", "Bad recipient address syntax: "
		    "the address needs a domain: RCPT TO:<%s@%s>", user,
		    s->cfg->host);
		return SMTP_EV_REPLIED;
	}
	return smtp_addr_error(s, e, 1);
}

/* One ESMTP parameter of MAIL: 0 if accepted, -1 after a reply. */
static int
smtp_mail_param(struct smtp_session *s, const char *name, size_t nlen,
    const char *val, size_t vlen)
{
	unsigned long long size;

	if (nlen == 4 && strncasecmp(name, "SIZE", 4) == 0 && val != NULL) {
		if (parse_uint(val, vlen, ~0ULL, &size) == -1) {
			smtp_reply(s, 501, "5.5.4", "Syntax: SIZE=bytes "
			    "(a decimal number)");
			return -1;
		}
		if (size > (unsigned long long)s->cfg->size_max) {
			smtp_reply(s, 552, "5.3.4", "Message size exceeds "
			    "fixed limit: at most %lld bytes", s->cfg->size_max);
			return -1;
		}
		return 0;
	}
	if (nlen == 4 && strncasecmp(name, "BODY", 4) == 0 && val != NULL) {
		if (vlen == 4 && strncasecmp(val, "7BIT", 4) == 0)
			return 0;
		if (vlen == 8 && strncasecmp(val, "8BITMIME", 8) == 0) {
			s->body8 = 1;
			return 0;
		}
		smtp_reply(s, 501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME");
		return -1;
	}
	if (nlen == 8 && strncasecmp(name, "SMTPUTF8", 8) == 0 && val == NULL) {
		s->utf8 = 1;
		return 0;
	}
	smtp_reply(s, 555, "5.5.4", "Unsupported option: %.*s (this server "
	    "knows SIZE=, BODY= and SMTPUTF8)", (int)(nlen > SMTP_PARAM_SHOWN ?
	    SMTP_PARAM_SHOWN : nlen),
	    name);
	return -1;
}

/* Walk "NAME[=VALUE] ..." calling smtp_mail_param (MAIL) or refusing all
 * (RCPT, which takes none here).  0 if all accepted. */
static int
smtp_params(struct smtp_session *s, const char *p, int rcpt)
{
	while (*p != '\0') {
		const char *name, *val = NULL;
		size_t nlen, vlen = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		name = p;
		while (*p != '\0' && *p != ' ' && *p != '=')
			p++;
		nlen = (size_t)(p - name);
		if (*p == '=') {
			val = ++p;
			while (*p != '\0' && *p != ' ')
				p++;
			vlen = (size_t)(p - val);
		}
		if (rcpt) {
			smtp_reply(s, 555, "5.5.4", "Unsupported option: "
			    "%.*s (RCPT TO takes no options here)",
			    (int)(nlen > SMTP_PARAM_SHOWN ? SMTP_PARAM_SHOWN :
			    nlen), name);
			return -1;
		}
		if (smtp_mail_param(s, name, nlen, val, vlen) == -1)
			return -1;
	}
	return 0;
}

static enum smtp_ev
smtp_mail(struct smtp_session *s, char *arg)
{
	struct smtp_path p;
	const char *rest;
	enum smtp_addr_err e;

	if ((rest = smtp_keyword(arg, "FROM")) == NULL)
		return SMTP_EV_SYNTAX;
	if ((e = smtp_parse_path(rest, 1, &p)) != SMTP_ADDR_OK)
		return smtp_addr_error(s, e, 0);
	s->utf8 = s->body8 = 0;
	if (smtp_params(s, p.params, 0) == -1) {
		s->utf8 = s->body8 = 0;
		return SMTP_EV_REPLIED;
	}
	if (p.utf8 && !s->utf8) {
		smtp_reply(s, 553, "5.6.7", "Non-ASCII sender address needs "
		    "the SMTPUTF8 option: MAIL FROM:<address> SMTPUTF8");
		return SMTP_EV_REPLIED;
	}
	memcpy(s->from, p.addr, sizeof(s->from));
	s->nrcpt = 0;
	s->state = SMTP_S_MAIL;
	smtp_reply(s, 250, "2.1.0", "Ok");
	return SMTP_EV_REPLIED;
}

static enum auth_result
smtp_lookup(struct smtp_session *s, const char *local, char *user)
{
	if (s->linkfd != -1)
		return smtp_link_lookup(s->linkfd, local, user);
	return smtp_lookup_user(s->cfg, local, user, NULL);
}

/* Room for one more recipient record: 0, or -1 out of memory. */
static int
smtp_rcpt_room(struct smtp_session *s)
{
	struct smtp_rcpt *r;
	size_t cap;

	if (s->nrcpt < s->rcpt_cap)
		return 0;
	cap = s->rcpt_cap == 0 ? 4 : s->rcpt_cap * 4;
	if (cap > SMTP_RCPT_MAX)
		cap = SMTP_RCPT_MAX;
	if ((r = realloc(s->rcpt, cap * sizeof(*r))) == NULL)
		return -1;
	s->rcpt = r;
	s->rcpt_cap = cap;
	return 0;
}

static int
smtp_rcpt_dup(const struct smtp_session *s, const char *addr)
{
	size_t i;

	for (i = 0; i < s->nrcpt; i++)
		if (strcasecmp(s->rcpt[i].addr, addr) == 0)
			return 1;
	return 0;
}

static enum smtp_ev
smtp_rcpt(struct smtp_session *s, char *arg)
{
	struct smtp_path p;
	const char *rest;
	enum smtp_addr_err e;
	char user[SP_USER_MAX + 1];
	char shown[SMTP_ADDR_MAX + 1];
	enum auth_result r;

	if ((rest = smtp_keyword(arg, "TO")) == NULL)
		return SMTP_EV_SYNTAX;
	if ((e = smtp_parse_path(rest, 0, &p)) != SMTP_ADDR_OK)
		return smtp_rcpt_error(s, e, rest);
	if (smtp_params(s, p.params, 1) == -1)
		return SMTP_EV_REPLIED;
	smtp_printable(shown, sizeof(shown), p.addr, 0);
	if (p.utf8 && !s->utf8) {
		smtp_reply(s, 553, "5.6.7", "<%s>: Non-ASCII recipient "
		    "address needs MAIL FROM:<address> SMTPUTF8", shown);
		return SMTP_EV_REPLIED;
	}
	if (s->nrcpt == SMTP_RCPT_MAX) {
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients (at "
		    "most %d per message; send the rest in another)",
		    SMTP_RCPT_MAX);
		return SMTP_EV_REPLIED;
	}
	if (smtp_rcpt_room(s) == -1) {
		smtp_reply(s, 452, "4.3.1", "Error: insufficient system "
		    "storage, try again later");
		return SMTP_EV_REPLIED;
	}
	if (p.domain[0] != '\0' && !smtp_domain_local(s->cfg, p.domain)) {
		smtp_reply(s, 554, "5.7.1", "<%s>: Relay access denied: this "
		    "server only takes mail for local users (@%s)", shown,
		    s->cfg->host);
		return SMTP_EV_REPLIED;
	}
	r = smtp_lookup(s, p.local, user);
	if (r == AUTH_TEMPFAIL) {
		smtp_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure, "
		    "try again later", shown);
		return SMTP_EV_REPLIED;
	}
	if (r != AUTH_OK) {
		smtp_reply(s, 550, "5.1.1", "<%s>: Recipient address "
		    "rejected: User unknown in local recipient table", shown);
		return SMTP_EV_REPLIED;
	}
	if (!smtp_rcpt_dup(s, p.addr)) {
		memcpy(s->rcpt[s->nrcpt].addr, p.addr, sizeof(p.addr));
		memcpy(s->rcpt[s->nrcpt].user, user, sizeof(user));
		s->nrcpt++;
	}
	s->state = SMTP_S_RCPT;
	smtp_reply(s, 250, "2.1.5", "Ok");
	return SMTP_EV_REPLIED;
}

/*
 * A queue id as Postfix makes them: the microseconds of the clock (5 hex
 * digits) and our pid (7; Linux pids fit in 22 bits), so no two processes
 * alive at once share one.  Later messages of the session count on from
 * the first, so a session never repeats an id either.
 */
static void
smtp_new_id(struct smtp_session *s)
{
	struct timespec ts;
	unsigned long us;

	if (s->id_seq_set) {
		us = (s->id_seq + 1) & 0xfffff;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		us = (unsigned long)ts.tv_nsec / 1000;	/* < 0xf4240 */
		s->id_seq_set = 1;
	}
	s->id_seq = us;
	snprintf(s->id, sizeof(s->id), "%05lX%07lX", us & 0xfffff,
	    (unsigned long)getpid() & 0xfffffff);
}

/*
 * What the client is told about a failed copy: the meaning of its RFC 3463
 * code, not the storage layer's message, which names paths and uids (that
 * goes to the log).
 */
static const char *
smtp_dsn_text(const struct sp_err *e)
{
	static const struct {
		const char *detail;	/* "x.y.z" without the class digit */
		const char *text;
	} texts[] = {
		{ ".1.1", "no such user" },
		{ ".2.2", "mailbox full" },
		{ ".3.4", "message too big for the mailbox" },
		{ ".4.6", "mail forwarding loop" },
		{ ".2.1", "mailbox disabled" },
		{ ".2.0", "mailbox unavailable" },
		{ ".3.0", "local mail system error" },
		{ ".3.1", "mail system full" },
	};
	size_t i;

	for (i = 0; i < nitems(texts); i++)
		if (strcmp(e->dsn + 1, texts[i].detail) == 0)
			return texts[i].text;
	return e->cls == SP_TEMPFAIL || e->cls == SP_BUSY ?
	    "mailbox temporarily unavailable" : "mailbox unavailable";
}

/* Log one line per recipient and build the reply for the whole message;
 * returns how many copies were delivered. */
static size_t
smtp_delivered(struct smtp_session *s, size_t size, const struct sp_err *errs)
{
	char from[SMTP_ADDR_MAX * 4 + 1], to[SMTP_ADDR_MAX * 4 + 1];
	char failed[SMTP_CMD_MAX / 2];
	size_t i, ok = 0, temp = 0, flen = 0;
	const struct sp_err *first = NULL;
	int cut = 0;

	log_safe(from, sizeof(from), s->from, strlen(s->from));
	failed[0] = '\0';
	for (i = 0; i < s->nrcpt; i++) {
		log_safe(to, sizeof(to), s->rcpt[i].addr,
		    strlen(s->rcpt[i].addr));
		if (errs[i].cls == SP_OK) {
			ok++;
			log_info("%s: from=<%s>, to=<%s>, size=%zu, "
			    "status=sent (delivered to mailbox %s)", s->id,
			    from, to, size, s->rcpt[i].user);
			continue;
		}
		temp += errs[i].cls != SP_PERMFAIL;
		if (first == NULL)
			first = &errs[i];
		log_info("%s: from=<%s>, to=<%s>, size=%zu, status=%s (%s %s)",
		    s->id, from, to, size, errs[i].cls == SP_PERMFAIL ?
		    "bounced" : "deferred", errs[i].dsn, errs[i].msg);
		if (!cut && flen + strlen(to) + 4 < sizeof(failed) - 16) {
			int n = snprintf(failed + flen, sizeof(failed) - flen,
			    "%s<%s>", flen ? ", " : "", to);
			flen += n > 0 ? (size_t)n : 0;
		} else if (!cut) {
			/* SMTP_CMD_MAX / 2 leaves room for this */
			memcpy(failed + flen, ", ...", 6);
			flen += 5;
			cut = 1;
		}
	}
	if (ok == s->nrcpt)
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", s->id);
	else if (ok > 0)
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s, but NOT "
		    "delivered to %s: %s", s->id, failed, smtp_dsn_text(first));
	else if (temp > 0)
		smtp_reply(s, 451, "4.3.0", "Error: not delivered, try again "
		    "later: %s", smtp_dsn_text(first));
	else
		smtp_reply(s, 554, first->dsn[0] == '5' ? first->dsn : "5.3.0",
		    "Error: not delivered: %s", smtp_dsn_text(first));
	return ok;
}

/* Deliver the message read by smtp_data() to every recipient. */
static void
smtp_deliver(struct smtp_session *s, struct smtp_msg *m)
{
	struct sp_err errs[SMTP_RCPT_MAX];
	size_t i;

	/* only the records in use: each untouched page of the array is a
	 * page fault saved */
	memset(errs, 0, s->nrcpt * sizeof(errs[0]));
	smtp_sig_busy = 1;
	if (s->linkfd != -1) {
		if (smtp_link_deliver(s->linkfd, s->from, s->when, m, s->rcpt,
		    s->nrcpt, errs) == -1)
			log_warnx("%s: the delivery process is gone", s->id);
	} else {
		smtp_deliver_local(s->cfg, s->from, s->when, m, s->rcpt,
		    s->nrcpt, errs, NULL);
	}
	for (i = 0; i < s->nrcpt; i++)
		if (errs[i].cls != SP_OK && errs[i].msg[0] == '\0')
			snprintf(errs[i].msg, sizeof(errs[i].msg),
			    "delivery failed");
	if (smtp_delivered(s, m->len, errs) > 0)
		s->messages++;
	smtp_sig_busy = 0;
}

static enum smtp_ev
smtp_data_cmd(struct smtp_session *s, char *arg)
{
	struct smtp_msg m;
	enum smtp_data_result r;

	(void)arg;
	smtp_reply(s, 354, "", "End data with <CR><LF>.<CR><LF>");
	s->when = time(NULL);
	smtp_new_id(s);
	r = smtp_data(s, &m);
	switch (r) {
	case SMTP_DATA_OK:
		smtp_deliver(s, &m);
		break;
	case SMTP_DATA_TOOBIG:
		smtp_reply(s, 552, "5.3.4", "Error: message too big: at most "
		    "%lld bytes; not delivered", s->cfg->size_max);
		break;
	case SMTP_DATA_LONGLINE:
		smtp_reply(s, 500, "5.5.2", "Error: line too long: a message "
		    "line holds at most %d characters (RFC 5321 4.5.3.1.6); "
		    "not delivered", SMTP_TEXT_MAX - 2);
		break;
	case SMTP_DATA_NUL:
		smtp_reply(s, 554, "5.6.0", "Error: message contains NUL "
		    "bytes; not delivered");
		break;
	case SMTP_DATA_LOOP:
		smtp_reply(s, 554, "5.4.6", "Error: too many hops (more than "
		    "%d Received: and Delivered-To: headers): mail loop? Not "
		    "delivered", SMTP_HOPS_MAX);
		break;
	case SMTP_DATA_NOMEM:
		smtp_reply(s, 451, "4.3.0", "Error: out of memory; not "
		    "delivered, try again later");
		break;
	case SMTP_DATA_TIMEOUT:
		smtp_msg_free(&m);
		if (s->data_lf_dot)
			smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded; "
			    "nothing delivered: a message ends with a line "
			    "\".\" sent with CR LF (nc -C does, nc alone does "
			    "not)", s->cfg->host);
		else
			smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
			    s->cfg->host);
		return SMTP_EV_QUIT;
	case SMTP_DATA_EOF:
	case SMTP_DATA_IOERR:
		smtp_msg_free(&m);
		log_info("%s: client gone during DATA: nothing delivered",
		    s->id);
		return SMTP_EV_GONE;
	}
	smtp_msg_free(&m);
	smtp_reset(s);
	if (smtp_sig_term) {
		smtp_reply(s, 421, "4.3.2", "%s Service shutting down, "
		    "closing connection", s->cfg->host);
		return SMTP_EV_QUIT;
	}
	return SMTP_EV_REPLIED;
}

static enum smtp_ev
smtp_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reset(s);
	return SMTP_EV_OK;
}

static enum smtp_ev
smtp_noop(struct smtp_session *s, char *arg)
{
	(void)s;
	(void)arg;
	return SMTP_EV_OK;
}

static enum smtp_ev
smtp_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 221, "2.0.0", "Bye");
	return SMTP_EV_QUIT;
}

/* VRFY user, VRFY <user@domain>, VRFY Name <user@domain>. */
static enum smtp_ev
smtp_vrfy(struct smtp_session *s, char *arg)
{
	struct smtp_path p;
	char user[SP_USER_MAX + 1], shown[SMTP_ADDR_MAX + 1];
	const char *lt = strchr(arg, '<');
	const char *local;
	enum auth_result r;

	if (!s->cfg->verify) {
		smtp_reply(s, 252, "2.0.0", "Cannot VRFY user, but will "
		    "accept the message and attempt delivery");
		return SMTP_EV_REPLIED;
	}
	if (lt != NULL) {
		if (smtp_parse_path(lt, 0, &p) != SMTP_ADDR_OK)
			return SMTP_EV_SYNTAX;
		if (p.domain[0] != '\0' &&
		    !smtp_domain_local(s->cfg, p.domain)) {
			smtp_printable(shown, sizeof(shown), p.addr, 0);
			smtp_reply(s, 554, "5.7.1", "<%s>: not a local "
			    "address", shown);
			return SMTP_EV_REPLIED;
		}
		local = p.local;
	} else {
		if (strlen(arg) > SMTP_LOCAL_MAX || strchr(arg, ' ') != NULL)
			return SMTP_EV_SYNTAX;
		local = arg;
	}
	smtp_printable(shown, sizeof(shown), local, 0);
	r = smtp_lookup(s, local, user);
	if (r == AUTH_OK)
		smtp_reply(s, 250, "2.1.5", "<%s@%s>", user, s->cfg->host);
	else if (r == AUTH_TEMPFAIL)
		smtp_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure",
		    shown);
	else
		smtp_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: "
		    "User unknown in local recipient table", shown);
	return SMTP_EV_REPLIED;
}

static enum smtp_ev
smtp_expn(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 502, "5.5.1", "Error: EXPN is not supported: there "
	    "are no mailing lists here (VRFY checks a user)");
	return SMTP_EV_REPLIED;
}

static enum smtp_ev
smtp_help(struct smtp_session *s, char *arg)
{
	const struct smtp_cmd *c;
	size_t i;

	if (arg != NULL && *arg != '\0') {
		char shown[SMTP_VERB_SHOWN + 1];
		if ((c = smtp_find(arg)) != NULL) {
			smtp_reply(s, 214, "2.0.0", "%s", c->help);
			return SMTP_EV_REPLIED;
		}
		smtp_printable(shown, sizeof(shown), arg, 0);
		smtp_reply(s, 504, "5.5.1", "HELP: no command \"%s\"; HELP "
		    "alone lists them", shown);
		return SMTP_EV_REPLIED;
	}
	smtp_reply_more(s, 214, "2.0.0", "Commands, in the order of a "
	    "message (one per line):");
	for (i = 0; i < nitems(smtp_cmds); i++)
		smtp_reply_more(s, 214, "2.0.0", "  %s", smtp_cmds[i].help);
	smtp_reply(s, 214, "2.0.0", "HELP command explains one command; "
	    "see also RFC 5321");
	return SMTP_EV_REPLIED;
}

/* ---- dispatcher --------------------------------------------------------- */

static enum smtp_ev
smtp_event(struct smtp_session *s, const struct smtp_cmd *c, enum smtp_ev ev)
{
	switch (ev) {
	case SMTP_EV_OK:
		smtp_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_EV_SYNTAX:
		smtp_reply(s, 501, "5.5.4", "Syntax: %s", c->syntax);
		break;
	case SMTP_EV_REPLIED:
	case SMTP_EV_QUIT:
	case SMTP_EV_CLOSE:
	case SMTP_EV_GONE:
		break;
	}
	return ev;
}

/* Run one command line (no line end, NUL-terminated, length LEN). */
static enum smtp_ev
smtp_dispatch(struct smtp_session *s, char *line, size_t len)
{
	const struct smtp_cmd *c;
	char *arg;
	size_t i;

	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0) {
		smtp_reply(s, 500, "5.5.2", "Error: empty command; try HELP");
		return SMTP_EV_REPLIED;
	}
	arg = line + strcspn(line, " ");
	if (*arg != '\0')
		*arg++ = '\0';
	while (*arg == ' ')
		arg++;
	if ((c = smtp_find(line)) == NULL) {
		for (i = 0; i < nitems(smtp_forbidden); i++) {
			if (strcasecmp(line, smtp_forbidden[i]) == 0) {
				smtp_reply(s, 521, "5.5.1", "Protocol error: "
				    "this is an SMTP server");
				return SMTP_EV_CLOSE;
			}
		}
		smtp_unknown(s, line);
		return SMTP_EV_REPLIED;
	}
	if (c->arg == SMTP_ARG_REQ && *arg == '\0')
		return smtp_event(s, c, SMTP_EV_SYNTAX);
	if (c->arg == SMTP_ARG_NONE && *arg != '\0')
		return smtp_event(s, c, SMTP_EV_SYNTAX);
	if ((c->states & s->state) == 0) {
		smtp_order(s, c);
		return SMTP_EV_REPLIED;
	}
	return smtp_event(s, c, c->fn(s, arg));
}

/* ---- the session -------------------------------------------------------- */

size_t
smtp_greeting(const struct smtp_cfg *cfg, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "220 %s ESMTP mailsuite\r\n", cfg->host);

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Who is on the other end: the socket's peer, or REMOTE_ADDR (xinetd). */
static void
smtp_peer(struct smtp_session *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *env;
	char buf[INET6_ADDRSTRLEN];

	s->peer_addr[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, buf, sizeof(buf));
		else if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
		    &((struct sockaddr_in6 *)&ss)->sin6_addr)) {
			/* ::ffff:a.b.c.d from a dual-stack listener */
			inet_ntop(AF_INET, ((struct sockaddr_in6 *)&ss)->
			    sin6_addr.s6_addr + 12, buf, sizeof(buf));
			ss.ss_family = AF_INET;
		} else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, buf, sizeof(buf));
		else
			buf[0] = '\0';
		if (buf[0] != '\0')
			snprintf(s->peer_addr, sizeof(s->peer_addr), "%s%s",
			    ss.ss_family == AF_INET6 ? "IPv6:" : "", buf);
	}
	if (s->peer_addr[0] == '\0' && (env = getenv("REMOTE_ADDR")) != NULL &&
	    strlen(env) < sizeof(buf) && strspn(env, "0123456789abcdefABCDEF.:")
	    == strlen(env))
		snprintf(s->peer_addr, sizeof(s->peer_addr), "%s%s",
		    strchr(env, ':') != NULL ? "IPv6:" : "", env);
	snprintf(s->peer_name, sizeof(s->peer_name), "%s",
	    strcmp(s->peer_addr, "127.0.0.1") == 0 ||
	    strcmp(s->peer_addr, "IPv6:::1") == 0 ? "localhost" : "unknown");
}

/* Read and run commands until QUIT, a hang-up, a timeout or too many
 * errors.  Returns a word for the session log line. */
static const char *
smtp_loop(struct smtp_session *s)
{
	size_t len;
	unsigned flags;

	for (;;) {
		switch (io_getline(&s->io, s->line, sizeof(s->line), &len,
		    &flags)) {
		case IO_OK:
			break;
		case IO_TOOLONG:
			smtp_reply(s, 500, "5.5.2", "Error: line too long: a "
			    "command holds at most %d characters",
			    SMTP_CMD_MAX - 2);
			goto next;
		case IO_TIMEOUT:
			smtp_reply(s, 421, "4.4.2", "%s Error: timeout "
			    "exceeded", s->cfg->host);
			return "timeout";
		case IO_EOF:
			return "disconnect";
		case IO_ERR:
			return "I/O error";
		}
		io_log_client(&s->io, s->line, len, len);
		if (flags & IO_LINE_NUL) {
			smtp_reply(s, 500, "5.5.2", "Error: NUL byte in the "
			    "command line: not allowed");
			goto next;
		}
		switch (smtp_dispatch(s, s->line, len)) {
		case SMTP_EV_QUIT:
			return "quit";
		case SMTP_EV_CLOSE:
			return "protocol error";
		case SMTP_EV_GONE:
			return "disconnect";
		default:
			break;
		}
next:
		if (s->errors >= SMTP_ERRORS_MAX) {
			smtp_reply(s, 421, "4.7.0", "%s Error: too many errors",
			    s->cfg->host);
			return "too many errors";
		}
	}
}

/*
 * Before hanging up on a client whose input we have not all read, send our
 * FIN and read what it still sends for a moment: closing with unread data
 * makes the kernel send a reset, which can destroy our last reply (421)
 * before the client reads it.
 */
static void
smtp_linger(struct smtp_session *s, int rfd, int wfd)
{
	char buf[4096];
	size_t total = 0;
	struct pollfd pfd = { rfd, POLLIN, 0 };
	struct timespec t0, t1;
	ssize_t r;

	if (shutdown(wfd, SHUT_WR) == -1)
		return;		/* not a socket: nothing to protect */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (total < SMTP_LINGER_BYTES) {
		long ms;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= SMTP_LINGER_MS || poll(&pfd, 1,
		    (int)(SMTP_LINGER_MS - ms)) <= 0)
			break;
		if ((r = read(rfd, buf, sizeof(buf))) <= 0)
			break;
		total += (size_t)r;
	}
	(void)s;
}

int
smtp_serve(const struct smtp_cfg *cfg, int rfd, int wfd, int linkfd)
{
	size_t left;
	struct smtp_session *s;
	const char *end;
	char helo[SMTP_HELO_SHOWN * 4 + 1];

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("session");
		return 1;
	}
	s->cfg = cfg;
	s->linkfd = linkfd;
	s->state = SMTP_S_GREET;
	if (io_init(&s->io, rfd, wfd, cfg->timeout) == -1) {
		log_warn("io_init");
		free(s);
		return 1;
	}
	s->io.transcript = cfg->transcript;
	smtp_peer(s, rfd);
	smtp_signals(s, wfd);
	if (!cfg->greeted)
		smtp_reply(s, 220, "", "%s ESMTP mailsuite", cfg->host);
	end = smtp_loop(s);
	io_flush(&s->io);
	io_leftover(&s->io, &left);
	if (left > 0 || (strcmp(end, "quit") != 0 &&
	    strcmp(end, "disconnect") != 0 && strcmp(end, "I/O error") != 0))
		smtp_linger(s, rfd, wfd);
	log_safe(helo, sizeof(helo), s->helo, strlen(s->helo));
	log_info("session from %s [%s] helo=%s: %u message%s, %d error%s, "
	    "end: %s", s->peer_name, s->peer_addr[0] ? s->peer_addr : "unknown",
	    helo[0] ? helo : "(none)", s->messages, s->messages == 1 ? "" :
	    "s", s->errors, s->errors == 1 ? "" : "s", end);
	io_free(&s->io);
	free(s->rcpt);
	free(s);
	return 0;
}
