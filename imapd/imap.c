/*
 * imap.c - the IMAP session: the command table, the dispatcher that
 * writes the tagged replies, the reply helpers, and the commands valid in
 * every state (CAPABILITY, LOGOUT, ID, ENABLE, NAMESPACE).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imapd.h"
#include "cmds.h"
#include "part2.h"

/* Literal data is read in pieces of this size (the parser copies it). */
#define IMAP_LITERAL_CHUNK	(64 * 1024)

#define ANY	IMAP_ST_ANY
#define NOAUTH	IMAP_ST_NOAUTH
#define LOGGED	IMAP_ST_LOGGED
#define SEL	IMAP_ST_SELECTED

static enum imap_rc imap_cmd_uid(struct imap_session *, struct imap_cmd *);

static const struct imap_command imap_commands[] = {
	{ "CAPABILITY",	imap_cmd_capability,	ANY,	0, "CAPABILITY" },
	{ "NOOP",	imap_cmd_noop,		ANY,	0, "NOOP" },
	{ "LOGOUT",	imap_cmd_logout,	ANY,	0, "LOGOUT" },
	{ "ID",		imap_cmd_id,		ANY,	0,
	    "ID NIL (or ID (\"name\" \"value\" ...))" },
	{ "LOGIN",	imap_cmd_login,		NOAUTH,	0, "LOGIN user password" },
	{ "AUTHENTICATE", imap_cmd_authenticate, NOAUTH, 0,
	    "AUTHENTICATE PLAIN [base64 of \\0user\\0password]" },
	{ "ENABLE",	imap_cmd_enable,	LOGGED,	0, "ENABLE extension ..." },
	{ "NAMESPACE",	imap_cmd_namespace,	LOGGED,	0, "NAMESPACE" },
	{ "SELECT",	imap_cmd_select,	LOGGED,	0, "SELECT INBOX" },
	{ "EXAMINE",	imap_cmd_examine,	LOGGED,	0, "EXAMINE INBOX" },
	{ "CREATE",	imap_cmd_create,	LOGGED,	0, "CREATE mailbox" },
	{ "DELETE",	imap_cmd_delete,	LOGGED,	0, "DELETE mailbox" },
	{ "RENAME",	imap_cmd_rename,	LOGGED,	0,
	    "RENAME old-name new-name" },
	{ "SUBSCRIBE",	imap_cmd_subscribe,	LOGGED,	0, "SUBSCRIBE mailbox" },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe,	LOGGED,	0,
	    "UNSUBSCRIBE mailbox" },
	{ "LIST",	imap_cmd_list,		LOGGED,	0, "LIST \"\" \"*\"" },
	{ "LSUB",	imap_cmd_lsub,		LOGGED,	0, "LSUB \"\" \"*\"" },
	{ "STATUS",	imap_cmd_status,	LOGGED,	0,
	    "STATUS INBOX (MESSAGES UNSEEN)" },
	{ "APPEND",	imap_cmd_append,	LOGGED,	0,
	    "APPEND mailbox [(flags)] [\"date\"] {size}" },
	{ "IDLE",	imap_cmd_idle,		LOGGED,	0,
	    "IDLE (then DONE on a line of its own)" },
	{ "CHECK",	imap_cmd_check,		SEL,	0, "CHECK" },
	{ "CLOSE",	imap_cmd_close,		SEL,	0, "CLOSE" },
	{ "UNSELECT",	imap_cmd_unselect,	SEL,	0, "UNSELECT" },
	{ "EXPUNGE",	imap_cmd_expunge,	SEL,	1, "EXPUNGE" },
	{ "SEARCH",	imap_cmd_search,	SEL,	1,
	    "SEARCH criteria (for example SEARCH UNSEEN)" },
	{ "FETCH",	imap_cmd_fetch,		SEL,	1,
	    "FETCH 1 BODY[]" },
	{ "STORE",	imap_cmd_store,		SEL,	1,
	    "STORE 1 +FLAGS (\\Seen)" },
	{ "COPY",	imap_cmd_copy,		SEL,	1, "COPY 1:3 mailbox" },
	{ "MOVE",	imap_cmd_move,		SEL,	1, "MOVE 1:3 mailbox" },
	{ "UID",	imap_cmd_uid,		SEL,	0,
	    "UID FETCH 1:* (FLAGS), UID STORE, UID COPY, UID MOVE, "
	    "UID SEARCH or UID EXPUNGE" },
};

const struct imap_command *
imap_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(imap_commands); i++)
		if (strcasecmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	return NULL;
}

/* Edit distance of A and B (short words), capped at 9. */
static unsigned
imap_distance(const char *a, const char *b)
{
	unsigned d[IMAP_NAME_MAX + 1][IMAP_NAME_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > IMAP_NAME_MAX || lb > IMAP_NAME_MAX)
		return 9;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			unsigned c = toupper((unsigned char)a[i - 1]) ==
			    toupper((unsigned char)b[j - 1]) ? 0 : 1;
			unsigned m = d[i - 1][j - 1] + c;

			if (d[i - 1][j] + 1 < m)
				m = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < m)
				m = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] != b[j - 1] &&
			    toupper((unsigned char)a[i - 1]) ==
			    toupper((unsigned char)b[j - 2]) &&
			    toupper((unsigned char)a[i - 2]) ==
			    toupper((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < m)
				m = d[i - 2][j - 2] + 1;
			d[i][j] = m;
		}
	return d[la][lb] > 9 ? 9 : d[la][lb];
}

/* The known command closest to NAME, if close enough to be a typo. */
static const struct imap_command *
imap_command_guess(const char *name)
{
	const struct imap_command *best = NULL;
	unsigned bestd = 3, d;
	size_t i;

	if (strlen(name) < 3)
		return NULL;
	for (i = 0; i < nitems(imap_commands); i++)
		if ((d = imap_distance(name, imap_commands[i].name)) < bestd) {
			bestd = d;
			best = &imap_commands[i];
		}
	return best;
}

/* The capabilities are exactly what works: AUTH=PLAIN and SASL-IR only
 * before login, where AUTHENTICATE is allowed.  MULTIAPPEND (RFC 3502):
 * append.c stores several messages of one APPEND all or none. */
const char *
imap_capability(const struct imap_session *s)
{
	if (s->state == IMAP_ST_NOAUTH)
		return "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE "
		    "UIDPLUS UNSELECT CHILDREN MOVE SPECIAL-USE MULTIAPPEND "
		    "AUTH=PLAIN";
	return "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT "
	    "CHILDREN MOVE SPECIAL-USE MULTIAPPEND";
}

/* ---- commands valid in every state -------------------------------------- */

enum imap_rc
imap_cmd_capability(struct imap_session *s, struct imap_cmd *c)
{
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "CAPABILITY takes no arguments");
	imap_untagged(s, "CAPABILITY %s", imap_capability(s));
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_logout(struct imap_session *s, struct imap_cmd *c)
{
	struct sp_err err;

	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "LOGOUT takes no arguments");
	if (s->mbox != NULL && imap_mbox_sync(s, &err) == -1)
		log_warnx("%s: %s", s->user.name, err.msg);
	imap_untagged(s, "BYE Logging out");
	return IMAP_RC_LOGOUT;
}

enum imap_rc
imap_cmd_id(struct imap_session *s, struct imap_cmd *c)
{
	struct imap_args l;
	const char *v;

	if (imap_get_list(&c->args, &l) == -1 &&
	    imap_get_nstring(&c->args, &v, NULL) == -1)
		return imap_bad_usage(c, "ID needs NIL or a list");
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "ID takes one argument");
	imap_untagged(s, "ID (\"name\" \"mailsuite imapd\")");
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_enable(struct imap_session *s, struct imap_cmd *c)
{
	const char *ext;

	(void)s;
	if (imap_args_end(&c->args))
		return imap_bad_usage(c, "ENABLE needs the extensions to enable");
	while (!imap_args_end(&c->args))
		if (imap_get_atom(&c->args, &ext, NULL) == -1)
			return imap_bad_usage(c, "ENABLE takes extension names");
	/* We offer no extension that ENABLE turns on (RFC 5161 3.1: the
	 * untagged ENABLED lists only those that were). */
	imap_untagged(s, "ENABLED");
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_namespace(struct imap_session *s, struct imap_cmd *c)
{
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "NAMESPACE takes no arguments");
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	return IMAP_RC_OK;
}

/* UID FETCH / STORE / COPY / MOVE / SEARCH / EXPUNGE */
static enum imap_rc
imap_cmd_uid(struct imap_session *s, struct imap_cmd *c)
{
	const struct imap_command *sub;
	const char *name;

	if (imap_get_atom(&c->args, &name, NULL) == -1)
		return imap_bad_usage(c, "UID needs a command after it");
	if ((sub = imap_command_find(name)) == NULL || !sub->uid_ok)
		return imap_bad_usage(c, "UID goes only with FETCH, STORE, "
		    "COPY, MOVE, SEARCH and EXPUNGE");
	c->uid = 1;
	c->def = sub;
	c->name = sub->name;
	return sub->fn(s, c);
}

/* ---- the dispatcher ---------------------------------------------------- */

/* "Fetch completed", as Dovecot and the lab handout say it. */
static void
imap_default_text(struct imap_cmd *c)
{
	size_t i;

	snprintf(c->text, sizeof(c->text), "%s completed", c->name);
	for (i = 1; c->text[i] != ' ' && c->text[i] != '\0'; i++)
		c->text[i] = (char)tolower((unsigned char)c->text[i]);
}

static void
imap_tagged(struct imap_session *s, const char *tag, const char *status,
    const char *code, const char *text)
{
	io_printf(&s->io, "%s %s %s%s%s%s\r\n", tag, status,
	    *code != '\0' ? "[" : "", code, *code != '\0' ? "] " : "", text);
}

/* Why a known command is not allowed in this state, for a student. */
static const char *
imap_state_why(const struct imap_session *s, const struct imap_command *d)
{
	if (s->state == IMAP_ST_NOAUTH)
		return "is allowed only after login: log in first with "
		    "\"a1 LOGIN user password\"";
	if (d->states == IMAP_ST_NOAUTH)
		return "is not allowed: you are already logged in";
	return "needs a selected mailbox: SELECT or EXAMINE one first "
	    "(for example \"a1 EXAMINE INBOX\")";
}

/* A command word with no tag before it ("logout" typed alone). */
static void
imap_missing_tag(struct imap_session *s, const struct imap_command *d)
{
	imap_untagged(s, "BAD Missing tag: IMAP commands start with a tag, "
	    "for example \"a1 %s\"", d->usage);
}

static enum imap_rc
imap_dispatch(struct imap_session *s)
{
	const char *tag = imap_parser_tag(&s->parser);
	const char *name = imap_parser_name(&s->parser);
	const struct imap_command *d = imap_command_find(name), *g;
	struct imap_cmd c;
	enum imap_rc rc;
	char safe[IMAP_NAME_MAX * 4 + 8];

	if (d == NULL && (g = imap_command_find(tag)) != NULL) {
		imap_missing_tag(s, g);
		return IMAP_RC_BAD;
	}
	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.name = name;
	c.def = d;
	imap_parser_args(&s->parser, &c.args);
	if (d == NULL) {
		log_safe(safe, sizeof(safe), name, strlen(name));
		if ((g = imap_command_guess(name)) != NULL)
			rc = imap_reply(&c, IMAP_RC_BAD, NULL, "Unknown command "
			    "'%s': did you mean %s? (for example \"%s %s\")",
			    safe, g->name, tag, g->usage);
		else
			rc = imap_reply(&c, IMAP_RC_BAD, NULL, "Unknown command "
			    "'%s': commands are CAPABILITY, LOGIN, LIST, "
			    "SELECT, EXAMINE, FETCH, STORE, LOGOUT, ...", safe);
	} else if (!(d->states & s->state)) {
		rc = imap_reply(&c, IMAP_RC_BAD, NULL, "%s %s", d->name,
		    imap_state_why(s, d));
	} else {
		c.name = d->name;
		rc = d->fn(s, &c);
	}
	switch (rc) {
	case IMAP_RC_OK:
	case IMAP_RC_LOGOUT:
		if (c.text[0] == '\0')
			imap_default_text(&c);
		imap_tagged(s, tag, "OK", c.code, c.text);
		break;
	case IMAP_RC_NO:
		imap_tagged(s, tag, "NO", c.code, c.text);
		break;
	case IMAP_RC_BAD:
		imap_tagged(s, tag, "BAD", c.code, c.text);
		break;
	case IMAP_RC_DONE:
	case IMAP_RC_FATAL:
		break;
	}
	return rc;
}

/* ---- the session loop ---------------------------------------------------- */

/* Log a client line to the transcript, a password masked. */
static void
imap_log_line(struct imap_session *s, const char *line, size_t len)
{
	io_log_client(&s->io, line, len, imap_parser_mask_from(&s->parser));
}

static enum io_status
imap_read_literal(struct imap_session *s, enum imap_pr *pr)
{
	char buf[IMAP_LITERAL_CHUNK];
	enum io_status st;
	char note[64];

	snprintf(note, sizeof(note), "<literal of %llu octets>",
	    imap_parser_literal_need(&s->parser));
	io_log_client(&s->io, note, strlen(note), (size_t)-1);
	if (imap_parser_literal_sync(&s->parser))
		io_puts(&s->io, "+ Ready for literal data\r\n");
	while (*pr == IMAP_PR_LITERAL) {
		unsigned long long need = imap_parser_literal_need(&s->parser);
		size_t n = need < sizeof(buf) ? (size_t)need : sizeof(buf);

		if ((st = io_read(&s->io, buf, n)) != IO_OK)
			return st;
		*pr = imap_parse_literal(&s->parser, buf, n);
	}
	return IO_OK;
}

/*
 * Read one whole command (lines and literals) into the parser.  Returns
 * IO_OK with *PR one of IMAP_PR_DONE, IMAP_PR_ERROR, IMAP_PR_FATAL.
 */
static enum io_status
imap_read_command(struct imap_session *s, enum imap_pr *pr)
{
	enum io_status st;
	size_t len;
	unsigned fl;

	imap_parser_reset(&s->parser);
	for (;;) {
		st = io_getline(&s->io, s->line, IMAP_LINE_MAX + 1, &len, &fl);
		if (st == IO_TOOLONG) {
			io_log_client(&s->io, "<line too long>", 15, (size_t)-1);
			*pr = imap_parse_toolong(&s->parser);
		} else if (st != IO_OK) {
			return st;
		} else {
			*pr = imap_parse_line(&s->parser, s->line, len, fl);
			imap_log_line(s, s->line, len);
		}
		if (*pr == IMAP_PR_LITERAL &&
		    (st = imap_read_literal(s, pr)) != IO_OK)
			return st;
		if (*pr == IMAP_PR_SKIP) {
			unsigned long long n =
			    imap_parser_literal_need(&s->parser);

			if ((st = io_skip(&s->io, (size_t)n)) != IO_OK)
				return st;
		}
		if (*pr == IMAP_PR_DONE || *pr == IMAP_PR_ERROR ||
		    *pr == IMAP_PR_FATAL)
			return IO_OK;
	}
}

/* A refused command: BAD with the tag if we have one. */
static void
imap_refused(struct imap_session *s)
{
	const char *tag = imap_parser_tag(&s->parser);
	const char *name = imap_parser_name(&s->parser);
	const struct imap_command *d;

	/* "fetch 1 body[": the first word is a command, the second is not */
	if ((d = imap_command_find(tag)) != NULL &&
	    imap_command_find(name) == NULL)
		imap_missing_tag(s, d);
	else if (*tag != '\0')
		io_printf(&s->io, "%s BAD %s\r\n", tag,
		    imap_parser_error(&s->parser));
	else
		imap_untagged(s, "BAD %s", imap_parser_error(&s->parser));
}

static int
imap_loop(struct imap_session *s)
{
	enum imap_rc rc;
	enum io_status st;
	enum imap_pr pr;

	for (;;) {
		st = imap_read_command(s, &pr);
		if (st == IO_TIMEOUT) {
			imap_untagged(s, "BYE Autologout: idle for too long");
			io_flush(&s->io);
			return 0;
		}
		if (st != IO_OK)
			return st == IO_EOF ? 0 : 1;
		if (pr == IMAP_PR_FATAL) {
			imap_untagged(s, "BYE %s", imap_parser_error(&s->parser));
			io_flush(&s->io);
			return 1;
		}
		if (pr == IMAP_PR_ERROR) {
			imap_refused(s);
			rc = IMAP_RC_BAD;
		} else {
			rc = imap_dispatch(s);
		}
		if (rc == IMAP_RC_LOGOUT || rc == IMAP_RC_FATAL) {
			/* FATAL after a BYE or a vanished client is a normal
			 * end; only a failed write is an error */
			return io_flush(&s->io) == -1 || s->io.out_error ? 1 : 0;
		}
		s->bad_count = rc == IMAP_RC_BAD ? s->bad_count + 1 : 0;
		if (s->bad_count >= IMAP_BAD_MAX) {
			imap_untagged(s, "BYE Too many invalid commands");
			io_flush(&s->io);
			return 1;
		}
		if (s->io.out_error)
			return 1;
	}
}

void
imap_config_default(struct imap_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->auth.backend = AUTH_BACKEND_PAM;
	cfg->auth.pam_service = "imapd";
	cfg->auth.spool_dir = SP_SPOOL_DIR;
	cfg->spool_dir = SP_SPOOL_DIR;
	cfg->timeout_sec = IMAP_TIMEOUT_SEC;
	cfg->preauth_timeout_sec = IMAP_PREAUTH_TIMEOUT_SEC;
	cfg->transcript = IO_TRANSCRIPT_OFF;
	cfg->privsep = 1;
}

void
imap_session_end(struct imap_session *s)
{
	struct sp_err err;

	if (s->mbox != NULL) {
		if (imap_mbox_sync(s, &err) == -1)
			log_warnx("%s: %s", s->user.name, err.msg);
		imap_mbox_close(s);
	}
	imap_mime_drop(s);
	imap_parser_free(&s->parser);
	free(s->line);
	s->line = NULL;
	io_flush(&s->io);
	io_free(&s->io);
}

static void
imap_greeting(struct imap_session *s)
{
	const char *host = s->cfg->hostname;

	io_printf(&s->io, "* OK [CAPABILITY %s] %s%sIMAP4rev1 server ready\r\n",
	    imap_capability(s), host != NULL ? host : "",
	    host != NULL ? " " : "");
}

/*
 * The privilege-separated child logged the client in with the tag it
 * handed over in the RESUME blob: answer that command now.  The blob comes
 * from the untrusted child: anything but a plausible tag becomes "*".
 */
static void
imap_resume(struct imap_session *s, const struct privsep_login *login)
{
	char tag[IMAP_TAG_MAX + 1];
	size_t n = login->resume_len, i;

	if (n > IMAP_TAG_MAX || n > sizeof(login->resume))
		n = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)login->resume[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\+", c) != NULL)
			break;
	}
	if (n == 0 || i < n)
		snprintf(tag, sizeof(tag), "*");
	else
		snprintf(tag, sizeof(tag), "%.*s", (int)n, login->resume);
	io_printf(&s->io, "%s OK [CAPABILITY %s] Logged in\r\n", tag,
	    imap_capability(s));
}

int
imap_serve(int rfd, int wfd, void *arg)
{
	const struct imap_config *cfg = arg;
	struct imap_session *s;
	struct privsep_login login;
	int rc = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return 1;
	s->cfg = cfg;
	s->state = IMAP_ST_NOAUTH;
	imap_parser_init(&s->parser);
	imap_parser_set_literal_max(&s->parser, IMAP_PREAUTH_LITERAL_MAX);
	if ((s->line = malloc(IMAP_LINE_MAX + 2)) == NULL ||
	    io_init(&s->io, rfd, wfd, cfg->preauth_timeout_sec) == -1) {
		free(s->line);
		free(s);
		return 1;
	}
	s->io.transcript = cfg->transcript;
	if (cfg->privsep && priv_is_root()) {
		memset(&login, 0, sizeof(login));
		switch (privsep_start(&cfg->auth, &s->io, &s->ps, &login)) {
		case PRIVSEP_CHILD:
			imap_greeting(s);
			break;
		case PRIVSEP_LOGGED_IN:
			imap_logged_in(s, &login.user);
			imap_resume(s, &login);
			break;
		case PRIVSEP_ENDED:
			rc = -1;
			break;
		case PRIVSEP_FAILED:
			rc = -2;
			break;
		}
	} else {
		imap_greeting(s);
	}
	if (rc == 0)
		rc = imap_loop(s);
	else
		rc = rc == -1 ? 0 : 1;
	imap_session_end(s);
	free(s);
	return rc;
}
