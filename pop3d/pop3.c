/*
 * pop3.c - the POP3 session: the command loop, the dispatcher that writes
 * every generic reply, and the one multi-line streamer.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

static const char *const pop3_state_name[] = {
	[POP3_AUTHORIZATION] = "AUTHORIZATION",
	[POP3_TRANSACTION] = "TRANSACTION",
};

/* What a student can type in each state, for "unknown command" replies. */
static const char *const pop3_state_help[] = {
	[POP3_AUTHORIZATION] = "not logged in yet: try USER name, then PASS "
	    "password (or AUTH PLAIN, CAPA, QUIT)",
	[POP3_TRANSACTION] = "try STAT, LIST, RETR, TOP, DELE, UIDL, RSET, "
	    "NOOP, QUIT",
};

/* Copy client text SRC into DST (capacity CAP) as printable ASCII only,
 * cut with "..." if longer than POP3_ECHO_MAX: safe to quote in a reply. */
static const char *
pop3_echo(char *dst, size_t cap, const char *src)
{
	size_t i, n = strlen(src);

	for (i = 0; i < n && i < POP3_ECHO_MAX && i + 4 < cap; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	if (i < n && i + 4 <= cap) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

const struct pop3_cmd *
pop3_lookup(const struct pop3_cmd *table, const char *name)
{
	for (; table->name != NULL; table++)
		if (strcasecmp(table->name, name) == 0)
			return table;
	return NULL;
}

/* ---- the streamer -------------------------------------------------------- */

/*
 * The served form comes from libspool already dot-stuffed, straight into
 * the output buffer: a message of up to IO_OUT_BUF goes out with its +OK
 * line and the final "." in one write, a larger one in IO_OUT_BUF pieces.
 */
enum pop3_event
pop3_stream(struct pop3_session *s, uint32_t idx, uint64_t body_lines,
    const char *status)
{
	struct sp_serve *r;
	struct sp_err err;
	ssize_t n = 0;
	size_t room;
	char *p;

	/* The reader checks the From_ line and reads the message (or its
	 * first part): a mailbox cut under us gets -ERR, not "+OK" and then
	 * an error in the middle of the text. */
	if (sp_serve_open(s->mb, idx, body_lines == 0 ? SP_PART_HEADER :
	    SP_PART_ALL, body_lines, SP_SERVE_DOTSTUFF, &r, &err) == -1) {
		log_warnx("user=%s: reading message %u: %s", s->au.name,
		    idx + 1, err.msg);
		return POP3_SYSERR;
	}
	io_puts(&s->io, status);
	s->io.transcript_quiet++;
	while (n != -1) {
		if ((p = io_reserve(&s->io, SP_SERVE_MIN, &room)) == NULL)
			break;
		if ((n = sp_serve_read(r, p, room, &err)) <= 0)
			break;
		io_commit(&s->io, (size_t)n);
	}
	s->io.transcript_quiet--;
	sp_serve_close(&r);
	if (n == -1) {
		log_warnx("user=%s: reading message %u: %s", s->au.name,
		    idx + 1, err.msg);
		return POP3_SYSERR;
	}
	if (s->io.out_error)
		return POP3_IOERR;
	io_puts(&s->io, ".\r\n");
	return POP3_DONE;
}

/* ---- the dispatcher ------------------------------------------------------- */

/* Split s->line into the command word and s->argv.  Returns the word, or
 * NULL for an empty line. */
static char *
pop3_split(struct pop3_session *s, const struct pop3_cmd **cmd_r)
{
	const struct pop3_cmd *table = s->state == POP3_AUTHORIZATION ?
	    pop3_auth_cmds : pop3_trans_cmds;
	char *p = s->line, *word;

	s->argc = 0;
	*cmd_r = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	word = p;
	p += strcspn(p, " \t");
	if (*p != '\0')
		*p++ = '\0';
	*cmd_r = pop3_lookup(table, word);
	if (*cmd_r != NULL && (*cmd_r)->maxargs < 0) {
		/* PASS: the rest of the line after one space, spaces kept
		 * (RFC 1939 7 allows spaces in a password). */
		if (*p != '\0')
			s->argv[s->argc++] = p;
		return word;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (s->argc == POP3_ARGS_MAX) {
			s->argc++;	/* too many: USAGE */
			break;
		}
		s->argv[s->argc++] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	return word;
}

/* Write the reply for EV.  Returns EV, or POP3_QUIT when the session must
 * end (too many failed logins). */
static enum pop3_event
pop3_reply(struct pop3_session *s, enum pop3_event ev)
{
	char arg[POP3_ECHO_MAX + 8];

	if (s->argc > 0)
		pop3_echo(arg, sizeof(arg), s->argv[0]);
	else
		arg[0] = '\0';
	switch (ev) {
	case POP3_DONE:
	case POP3_LOGIN:
	case POP3_QUIT:
	case POP3_IOERR:
		break;
	case POP3_USAGE:
		io_printf(&s->io, "-ERR usage: %s\r\n", s->cmd->usage);
		break;
	case POP3_BADNUM:
		io_printf(&s->io, "-ERR \"%s\" is not a message number; LIST "
		    "shows them\r\n", arg);
		break;
	case POP3_NOMSG:
		if (s->count == 0)
			io_printf(&s->io, "-ERR no message %s: the maildrop is "
			    "empty\r\n", arg);
		else
			io_printf(&s->io, "-ERR no message %s: messages are "
			    "numbered 1 to %u\r\n", arg, s->count);
		break;
	case POP3_ISDELETED:
		io_printf(&s->io, "-ERR message %s is deleted (RSET undeletes "
		    "it)\r\n", arg);
		break;
	case POP3_NEEDUSER:
		io_puts(&s->io, "-ERR give USER name first, then PASS "
		    "password\r\n");
		break;
	case POP3_AUTHFAIL:
		if (++s->failures >= POP3_AUTH_TRIES) {
			io_puts(&s->io, "-ERR [AUTH] authentication failed; "
			    "too many failures, goodbye\r\n");
			return POP3_QUIT;
		}
		io_puts(&s->io, "-ERR [AUTH] authentication failed\r\n");
		break;
	case POP3_SYSERR:
		io_puts(&s->io, "-ERR [SYS/TEMP] cannot read the mailbox now; "
		    "try again later\r\n");
		break;
	}
	return ev;
}

/* A command that exists but not in this state: say where we are. */
static void
pop3_wrong_state(struct pop3_session *s, const char *word)
{
	char w[POP3_ECHO_MAX + 8];

	pop3_echo(w, sizeof(w), word);
	for (char *p = w; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (s->state == POP3_AUTHORIZATION)
		io_printf(&s->io, "-ERR log in first: USER name, then "
		    "PASS password (%s works after login)\r\n", w);
	else
		io_printf(&s->io, "-ERR already logged in as %s; %s is only "
		    "for logging in. Now %s\r\n", s->au.name, w,
		    pop3_state_help[s->state]);
}

static enum pop3_event
pop3_dispatch(struct pop3_session *s)
{
	const struct pop3_cmd *other;
	char w[POP3_ECHO_MAX + 8];
	char *word;
	int i;

	word = pop3_split(s, &s->cmd);
	if (word == NULL) {
		io_printf(&s->io, "-ERR empty line; %s\r\n",
		    pop3_state_help[s->state]);
		return POP3_DONE;
	}
	if (s->cmd == NULL) {
		other = pop3_lookup(s->state == POP3_AUTHORIZATION ?
		    pop3_trans_cmds : pop3_auth_cmds, word);
		if (other != NULL)
			pop3_wrong_state(s, word);
		else
			io_printf(&s->io, "-ERR unknown command \"%s\"; %s\r\n",
			    pop3_echo(w, sizeof(w), word),
			    pop3_state_help[s->state]);
		return POP3_DONE;
	}
	if (s->argc < s->cmd->minargs ||
	    (s->cmd->maxargs >= 0 && s->argc > s->cmd->maxargs))
		return pop3_reply(s, POP3_USAGE);
	/* RFC 1939 3: arguments up to 40 characters.  PASS (a password may
	 * be longer) and AUTH's initial response (RFC 5034) are exempt. */
	for (i = 0; i < s->argc && s->cmd->maxargs >= 0; i++)
		if (strlen(s->argv[i]) > POP3_ARG_MAX &&
		    strcasecmp(s->cmd->name, "AUTH") != 0) {
			io_printf(&s->io, "-ERR argument too long (at most %d "
			    "characters); usage: %s\r\n", POP3_ARG_MAX,
			    s->cmd->usage);
			return POP3_DONE;
		}
	return pop3_reply(s, s->cmd->fn(s));
}

/* ---- the session ---------------------------------------------------------- */

/* Run commands until the session ends.  Returns the exit code. */
static int
pop3_loop(struct pop3_session *s)
{
	enum io_status st;
	enum pop3_event ev;
	unsigned flags;

	for (;;) {
		st = io_getline(&s->io, s->line, sizeof(s->line), &s->len,
		    &flags);
		switch (st) {
		case IO_OK:
			break;
		case IO_TOOLONG:
			io_printf(&s->io, "-ERR line too long (a command line "
			    "is at most %d octets); ignored\r\n",
			    POP3_CMD_MAX);
			continue;
		case IO_EOF:
			if (s->state == POP3_TRANSACTION)
				log_info("user=%s: connection closed without "
				    "QUIT: nothing deleted", s->au.name);
			return 0;
		case IO_TIMEOUT:
			io_puts(&s->io, "-ERR autologout: idle for too long "
			    "(nothing deleted)\r\n");
			(void)io_flush(&s->io);
			log_info("%s%s: timeout in %s state, nothing deleted",
			    s->state == POP3_TRANSACTION ? "user=" : "",
			    s->state == POP3_TRANSACTION ? s->au.name :
			    "session", pop3_state_name[s->state]);
			return 0;
		case IO_ERR:
			return 1;
		}
		io_log_client(&s->io, s->line, s->len,
		    pop3_auth_mask(s->line, s->len));
		if (flags & IO_LINE_NUL) {
			explicit_bzero(s->line, sizeof(s->line));
			io_puts(&s->io, "-ERR the line contains a NUL byte; "
			    "ignored\r\n");
			continue;
		}
		ev = pop3_dispatch(s);
		if (s->state == POP3_AUTHORIZATION)
			explicit_bzero(s->line, sizeof(s->line));
		switch (ev) {
		case POP3_LOGIN:
			/* With privilege separation the child hands the
			 * session to the root parent, which becomes the user:
			 * login_complete does not return.  Without, it
			 * returns at once. */
			if (login_complete(s->ps, &s->io, &s->au, s->method,
			    strlen(s->method)) == -1) {
				io_puts(&s->io, "-ERR [SYS/TEMP] cannot switch "
				    "to your user id; try again later\r\n");
				(void)io_flush(&s->io);
				return 1;
			}
			if (pop3_enter_trans(s) == POP3_QUIT)
				return io_flush(&s->io) == 0 ? 0 : 1;
			break;
		case POP3_QUIT:
			return io_flush(&s->io) == 0 ? 0 : 1;
		case POP3_SYSERR:
			(void)io_flush(&s->io);
			return 1;
		case POP3_IOERR:
			return 1;
		default:
			break;
		}
	}
}

int
pop3_serve(const struct pop3_cfg *cfg, int rfd, int wfd)
{
	struct pop3_session *s;
	struct privsep_login login;
	int rc = 1;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("calloc");
		return 1;
	}
	s->cfg = cfg;
	s->lock_fd = -1;
	s->state = POP3_AUTHORIZATION;
	if (io_init(&s->io, rfd, wfd, cfg->idle_sec) == -1) {
		log_warn("io_init");
		free(s);
		return 1;
	}
	s->io.transcript = cfg->transcript;

	if (cfg->privsep) {
		memset(&login, 0, sizeof(login));
		switch (privsep_start(&cfg->auth, &s->io, &s->ps, &login)) {
		case PRIVSEP_CHILD:
			break;
		case PRIVSEP_LOGGED_IN:
			s->au = login.user;
			s->method = "USER/PASS";
			if (login.resume_len == strlen("AUTH PLAIN") &&
			    memcmp(login.resume, "AUTH PLAIN",
			    login.resume_len) == 0)
				s->method = "AUTH PLAIN";
			rc = pop3_enter_trans(s) == POP3_QUIT ?
			    (io_flush(&s->io) == 0 ? 0 : 1) : pop3_loop(s);
			goto done;
		case PRIVSEP_ENDED:
			rc = 0;
			goto done;
		case PRIVSEP_FAILED:
			goto done;
		}
	}
	io_printf(&s->io, "+OK %s POP3 server ready\r\n",
	    cfg->hostname != NULL ? cfg->hostname : "localhost");
	rc = pop3_loop(s);
done:
	pop3_trans_close(s);
	explicit_bzero(s->line, sizeof(s->line));
	io_free(&s->io);
	free(s);
	return rc;
}

/* CAPA (RFC 2449), in both states.  USER and SASL are dropped after login,
 * where they no longer apply. */
enum pop3_event
pop3_capa(struct pop3_session *s)
{
	io_puts(&s->io, "+OK capability list follows\r\nTOP\r\nUIDL\r\n");
	if (s->state == POP3_AUTHORIZATION)
		io_puts(&s->io, "USER\r\nSASL PLAIN\r\n");
	io_puts(&s->io, "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "EXPIRE NEVER\r\nIMPLEMENTATION " POP3_IMPLEMENTATION "\r\n.\r\n");
	return POP3_DONE;
}
