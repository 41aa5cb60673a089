/*
 * auth.c - the AUTHORIZATION state: USER, PASS, AUTH PLAIN, APOP (refused),
 * CAPA, QUIT.
 *
 * Every failure, whatever its cause (unknown user, bad password, locked
 * account, invalid name), gets the same "-ERR [AUTH] authentication
 * failed"; login_verify() costs the same time in every case and sleeps
 * after a failure.  Passwords never reach the log: the transcript masks
 * them (pop3_auth_mask) and every buffer that held one is wiped.
 */
#include <string.h>
#include <strings.h>

#include "pop3.h"

static enum pop3_event auth_user(struct pop3_session *);
static enum pop3_event auth_pass(struct pop3_session *);
static enum pop3_event auth_auth(struct pop3_session *);
static enum pop3_event auth_apop(struct pop3_session *);
static enum pop3_event auth_quit(struct pop3_session *);

const struct pop3_cmd pop3_auth_cmds[] = {
	{ "USER", auth_user, 1, 1, "USER name (your login name), then "
	    "PASS password" },
	{ "PASS", auth_pass, 1, -1, "PASS password (after USER name)" },
	{ "AUTH", auth_auth, 0, 2, "AUTH PLAIN [base64 of "
	    "\"\\0user\\0password\"]" },
	{ "APOP", auth_apop, 0, 3, "APOP is not offered: use USER and PASS" },
	{ "CAPA", pop3_capa, 0, 0, "CAPA (no argument)" },
	{ "QUIT", auth_quit, 0, 0, "QUIT (no argument)" },
	{ NULL, NULL, 0, 0, NULL }
};

/* Check USER/PASS; METHOD names the way for the log. */
static enum pop3_event
auth_try(struct pop3_session *s, const char *user, const char *pass,
    const char *method)
{
	char safe[2 * SP_USER_MAX];
	enum auth_result r;

	log_safe(safe, sizeof(safe), user, strlen(user));
	r = login_verify(s->ps, &s->cfg->auth, user, pass, &s->au);
	explicit_bzero(s->user, sizeof(s->user));
	switch (r) {
	case AUTH_OK:
		s->method = method;
		log_info("login: user=%s method=%s", s->au.name, method);
		return POP3_LOGIN;
	case AUTH_FAIL:
		log_info("login failed: user=%s method=%s", safe, method);
		return POP3_AUTHFAIL;
	case AUTH_TEMPFAIL:
	default:
		log_warnx("login: user=%s method=%s: authentication "
		    "unavailable", safe, method);
		io_puts(&s->io, "-ERR [SYS/TEMP] authentication is unavailable "
		    "now; try again later\r\n");
		return POP3_DONE;
	}
}

static enum pop3_event
auth_user(struct pop3_session *s)
{
	/* The dispatcher capped the argument at POP3_ARG_MAX.  The name is
	 * not checked here: an unknown user learns nothing until PASS. */
	memcpy(s->user, s->argv[0], strlen(s->argv[0]) + 1);
	io_puts(&s->io, "+OK now PASS password\r\n");
	return POP3_DONE;
}

static enum pop3_event
auth_pass(struct pop3_session *s)
{
	if (s->user[0] == '\0')
		return POP3_NEEDUSER;
	return auth_try(s, s->user, s->argv[0], "USER/PASS");
}

/* Read the client's response to "+ " into BUF.  Returns its length, or -1
 * with the reply written (or the connection gone: *EV_R). */
static long
auth_continue(struct pop3_session *s, char *buf, size_t cap,
    enum pop3_event *ev_r)
{
	enum io_status st;
	unsigned flags;
	size_t len;

	io_puts(&s->io, "+ \r\n");
	st = io_getline(&s->io, buf, cap, &len, &flags);
	*ev_r = POP3_DONE;
	switch (st) {
	case IO_OK:
		break;
	case IO_TOOLONG:
		io_puts(&s->io, "-ERR AUTH response too long; AUTH "
		    "cancelled\r\n");
		return -1;
	default:
		*ev_r = POP3_IOERR;
		return -1;
	}
	io_log_client(&s->io, buf, len, 0);
	if (flags & IO_LINE_NUL) {
		io_puts(&s->io, "-ERR the line contains a NUL byte; AUTH "
		    "cancelled\r\n");
		return -1;
	}
	if (len == 1 && buf[0] == '*') {
		io_puts(&s->io, "-ERR AUTH cancelled\r\n");	/* RFC 5034 4 */
		return -1;
	}
	return (long)len;
}

static enum pop3_event
auth_auth(struct pop3_session *s)
{
	char resp[POP3_SASL_LINE_MAX + 1];
	char user[POP3_SASL_LINE_MAX], pass[POP3_SASL_LINE_MAX];
	enum pop3_event ev;
	const char *b64;
	long len;

	if (s->argc == 0) {
		/* RFC 1734's listing, which some clients still ask for. */
		io_puts(&s->io, "+OK SASL mechanisms follow\r\nPLAIN\r\n"
		    ".\r\n");
		return POP3_DONE;
	}
	if (strcasecmp(s->argv[0], "PLAIN") != 0) {
		io_puts(&s->io, "-ERR only AUTH PLAIN is offered (or USER "
		    "then PASS)\r\n");
		return POP3_DONE;
	}
	if (s->argc == 2) {
		b64 = s->argv[1];
		len = strcmp(b64, "=") == 0 ? 0 : (long)strlen(b64);
	} else {
		if ((len = auth_continue(s, resp, sizeof(resp), &ev)) == -1) {
			explicit_bzero(resp, sizeof(resp));
			return ev;
		}
		b64 = resp;
	}
	if (sasl_plain(b64, (size_t)len, user, sizeof(user), pass,
	    sizeof(pass)) == -1) {
		explicit_bzero(resp, sizeof(resp));
		io_puts(&s->io, "-ERR [AUTH] invalid AUTH PLAIN response: "
		    "expected base64 of \"\\0user\\0password\"\r\n");
		return POP3_DONE;
	}
	explicit_bzero(resp, sizeof(resp));
	ev = auth_try(s, user, pass, "AUTH PLAIN");
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(user, sizeof(user));
	return ev;
}

static enum pop3_event
auth_apop(struct pop3_session *s)
{
	/* APOP needs every password stored in clear on the server; we keep
	 * only crypt hashes, so we neither advertise it (no timestamp in the
	 * greeting) nor accept it. */
	io_puts(&s->io, "-ERR APOP is not offered here (it needs clear-text "
	    "passwords on the server); use USER then PASS, or AUTH PLAIN\r\n");
	return POP3_DONE;
}

static enum pop3_event
auth_quit(struct pop3_session *s)
{
	io_puts(&s->io, "+OK bye\r\n");
	return POP3_QUIT;
}

/* Skip one word and the blanks after it. */
static size_t
auth_skip_word(const char *line, size_t len, size_t i)
{
	while (i < len && line[i] != ' ' && line[i] != '\t')
		i++;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i;
}

size_t
pop3_auth_mask(const char *line, size_t len)
{
	size_t i = 0, w;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	w = i;
	if (len - w >= 4 && (len - w == 4 || line[w + 4] == ' ' ||
	    line[w + 4] == '\t')) {
		if (strncasecmp(line + w, "PASS", 4) == 0)
			return auth_skip_word(line, len, w);
		if (strncasecmp(line + w, "AUTH", 4) == 0 ||
		    strncasecmp(line + w, "APOP", 4) == 0)
			return auth_skip_word(line, len,
			    auth_skip_word(line, len, w));
	}
	return len;
}
