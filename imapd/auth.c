/*
 * auth.c - the NOT AUTHENTICATED state: LOGIN and AUTHENTICATE PLAIN
 * (RFC 3501 6.2, RFC 4616, SASL-IR RFC 4959).
 *
 * In the privilege-separated child, a successful login hands the session
 * to the root parent (login_complete never returns); the parent, now the
 * user, sends the tagged OK (imap_serve).  Otherwise the login completes
 * here.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "cmds.h"

/* The one failure text, whatever went wrong (no user enumeration). */
#define AUTH_FAILED_TEXT \
	"Authentication failed: wrong user name or password"

void
imap_logged_in(struct imap_session *s, const struct auth_user *u)
{
	int n;

	s->user = *u;
	s->state = IMAP_ST_AUTH;
	s->auth_failures = 0;
	io_set_timeout(&s->io, s->cfg->timeout_sec);
	imap_parser_set_literal_max(&s->parser, IMAP_LITERAL_MAX);
	n = -1;
	if (s->cfg->mail_dir != NULL)
		n = snprintf(s->mail_dir, sizeof(s->mail_dir), "%s/%s",
		    s->cfg->mail_dir, u->name);
	else if (u->home[0] != '\0')
		n = snprintf(s->mail_dir, sizeof(s->mail_dir), "%s/mail",
		    u->home);
	if (n < 0 || (size_t)n >= sizeof(s->mail_dir))
		s->mail_dir[0] = '\0';	/* no folders, INBOX only */
	log_info("login: %s", u->name);
}

/*
 * Check USER/PASS and log in; wipes PASS.  Returns the reply.  USERLEN and
 * PASSLEN are the octets the client sent: a NUL inside (a literal may
 * hold one) would cut the string the checks see, so that
 * "password\0anything" passed for "password"; such credentials fail.
 */
static enum imap_rc
imap_auth_try(struct imap_session *s, struct imap_cmd *c, const char *user,
    size_t userlen, char *pass, size_t passlen)
{
	struct auth_user u;
	enum auth_result r;
	char safe[SP_USER_MAX * 4 + 8];

	memset(&u, 0, sizeof(u));
	if (passlen > AUTH_PASS_MAX || userlen > SP_USER_MAX ||
	    strlen(user) != userlen || strlen(pass) != passlen) {
		auth_fail_delay();
		r = AUTH_FAIL;
	} else {
		r = login_verify(s->ps, &s->cfg->auth, user, pass, &u);
	}
	explicit_bzero(pass, passlen);
	if (r == AUTH_TEMPFAIL)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Temporary "
		    "authentication failure, try again later");
	if (r != AUTH_OK) {
		log_info("login failed: %s", log_safe(safe, sizeof(safe), user,
		    strlen(user)));
		if (++s->auth_failures >= IMAP_AUTH_TRIES_MAX) {
			io_printf(&s->io, "%s NO [AUTHENTICATIONFAILED] %s\r\n",
			    c->tag, AUTH_FAILED_TEXT);
			imap_untagged(s, "BYE Too many failed logins");
			return IMAP_RC_FATAL;
		}
		return imap_reply(c, IMAP_RC_NO, "AUTHENTICATIONFAILED", "%s",
		    AUTH_FAILED_TEXT);
	}
	if (s->ps != NULL) {
		io_flush(&s->io);
		login_complete(s->ps, &s->io, &u, c->tag, strlen(c->tag));
		return IMAP_RC_FATAL;	/* not reached */
	}
	imap_logged_in(s, &u);
	explicit_bzero(&u, sizeof(u));
	return imap_reply(c, IMAP_RC_OK, NULL, "[CAPABILITY %s] Logged in",
	    imap_capability(s));
}

enum imap_rc
imap_cmd_login(struct imap_session *s, struct imap_cmd *c)
{
	const char *user, *pass;
	size_t userlen, passlen;

	if (imap_get_astring(&c->args, &user, &userlen) == -1)
		return imap_bad_usage(c, "LOGIN needs a user name and a "
		    "password");
	if (imap_get_astring(&c->args, &pass, &passlen) == -1)
		return imap_bad_usage(c, "LOGIN needs a user name and a "
		    "password");
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "LOGIN takes exactly two arguments "
		    "(quote a password with spaces: \"my password\")");
	/* the parser's copy of the password is ours to wipe */
	return imap_auth_try(s, c, user, userlen, (char *)pass, passlen);
}

/* Read the client's SASL response line after "+ ". */
static int
imap_auth_response(struct imap_session *s, size_t *len_r)
{
	unsigned fl;
	enum io_status st;

	io_puts(&s->io, "+ \r\n");
	st = io_getline(&s->io, s->line, IMAP_LINE_MAX + 1, len_r, &fl);
	if (st == IO_OK)
		io_log_client(&s->io, s->line, *len_r, 0);
	return st == IO_OK ? 0 : st == IO_TOOLONG ? -2 : -1;
}

enum imap_rc
imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *c)
{
	char user[SP_USER_MAX + 2], pass[AUTH_PASS_MAX + 2];
	const char *mech, *ir = NULL;
	size_t irlen = 0;
	enum imap_rc rc;
	int r;

	if (imap_get_atom(&c->args, &mech, NULL) == -1)
		return imap_bad_usage(c, "AUTHENTICATE needs a mechanism");
	if (!imap_args_end(&c->args) &&
	    imap_get_astring(&c->args, &ir, &irlen) == -1)
		return imap_bad_usage(c, "AUTHENTICATE's initial response is "
		    "base64 text");
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "AUTHENTICATE takes a mechanism and "
		    "at most an initial response");
	if (strcasecmp(mech, "PLAIN") != 0)
		return imap_reply(c, IMAP_RC_NO, NULL, "Unsupported "
		    "authentication mechanism: only PLAIN is offered");
	if (ir == NULL) {
		if ((r = imap_auth_response(s, &irlen)) == -1)
			return IMAP_RC_FATAL;
		if (r == -2)
			return imap_reply(c, IMAP_RC_BAD, NULL, "Response too "
			    "long");
		ir = s->line;
	}
	if (strcmp(ir, "*") == 0)
		return imap_reply(c, IMAP_RC_BAD, NULL, "AUTHENTICATE "
		    "cancelled");
	if (strcmp(ir, "=") == 0)
		irlen = 0;
	r = sasl_plain(ir, irlen, user, sizeof(user), pass, sizeof(pass));
	explicit_bzero((char *)ir, irlen);
	if (r == -1)
		return imap_reply(c, IMAP_RC_BAD, NULL, "Invalid PLAIN "
		    "response: base64 of \"\\0user\\0password\" expected");
	rc = imap_auth_try(s, c, user, strlen(user), pass, strlen(pass));
	explicit_bzero(pass, sizeof(pass));
	return rc;
}
