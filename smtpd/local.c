/*
 * local.c - local recipients: who they are and how a copy reaches each
 * mailbox.
 *
 * Started as an ordinary user, smtpd looks users up and calls sp_deliver()
 * itself, into the spool directory it owns.  Started as root, this code
 * runs in the root parent (privsep.c): every mailbox is written by a child
 * that has become the recipient (uid) with group mail, so a new mailbox is
 * USER:mail 0600 and no write ever happens as root for another user.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

/* Forks tried, SMTP_RECOVER_PAUSE_MS apart, to recover after a delivery
 * process killed with its lock held: about the 1 s libspool gives its own
 * guardian (SP_GUARD_RETRY_MS). */
#define SMTP_RECOVER_TRIES	10
#define SMTP_RECOVER_PAUSE_MS	100

/* RFC 5321 4.5.1: postmaster must be accepted.  Without such an account
 * its mail goes where Debian's /etc/aliases sends it: root. */
#define SMTP_POSTMASTER		"postmaster"
#define SMTP_POSTMASTER_TO	"root"

/* Root's account for postmaster's mail.  auth_lookup() refuses uid 0 (no
 * one logs in to read mail as root), so system accounts are read here. */
static enum auth_result
smtp_lookup_root(const struct smtp_cfg *cfg, struct auth_user *u)
{
	struct passwd pw, *pwp;
	char buf[4096];

	if (cfg->auth.backend == AUTH_BACKEND_FILE)
		return auth_lookup(&cfg->auth, SMTP_POSTMASTER_TO, u);
	if (getpwnam_r(SMTP_POSTMASTER_TO, &pw, buf, sizeof(buf), &pwp) != 0)
		return AUTH_TEMPFAIL;
	if (pwp == NULL)
		return AUTH_FAIL;
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", SMTP_POSTMASTER_TO);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	snprintf(u->mailbox, sizeof(u->mailbox), "%s/%s", cfg->auth.spool_dir,
	    SMTP_POSTMASTER_TO);
	return AUTH_OK;
}

/*
 * As root, a recipient is written by a process with its uid: an account
 * that maps to uid 0 would be written as root.  The one such account we
 * take is the system's root itself, postmaster's destination; a
 * passwd-file entry without uid:gid means "the running user", root here,
 * which is a configuration error: the mail is deferred (451, the sender
 * retries) and the log says what to fix, rather than bounced.
 */
static enum auth_result
smtp_check_uid(const struct smtp_cfg *cfg, const char *user,
    const struct auth_user *u)
{
	if (!cfg->root || u->uid != 0)
		return AUTH_OK;
	if (cfg->auth.backend != AUTH_BACKEND_FILE &&
	    strcmp(user, SMTP_POSTMASTER_TO) == 0)
		return AUTH_OK;
	log_warnx("configuration error: recipient %s maps to uid 0 (a "
	    "passwd-file entry needs uid:gid when smtpd runs as root): "
	    "mail for it is deferred", user);
	return AUTH_TEMPFAIL;
}

/* smtp_lookup_user without the uid check. */
static enum auth_result
smtp_lookup_name(const struct smtp_cfg *cfg, const char *local, char *user,
    struct auth_user *u)
{
	enum auth_result r;
	size_t i, n = strlen(local);

	if (n == 0 || n > SP_USER_MAX)
		return AUTH_FAIL;
	/* local parts of local users are case-blind, as in Postfix local(8) */
	for (i = 0; i <= n; i++)
		user[i] = (char)tolower((unsigned char)local[i]);
	if (!sp_user_valid(user))
		return AUTH_FAIL;
	if (strcmp(user, SMTP_POSTMASTER_TO) == 0)
		return smtp_lookup_root(cfg, u);
	r = auth_lookup(&cfg->auth, user, u);
	if (r == AUTH_FAIL && strcmp(user, SMTP_POSTMASTER) == 0) {
		r = smtp_lookup_root(cfg, u);
		if (r == AUTH_OK)
			memcpy(user, SMTP_POSTMASTER_TO,
			    sizeof(SMTP_POSTMASTER_TO));
		else if (r == AUTH_FAIL && !cfg->root)
			r = AUTH_OK;	/* lab mode: the spool file "postmaster" */
	}
	return r;
}

enum auth_result
smtp_lookup_user(const struct smtp_cfg *cfg, const char *local, char *user,
    struct auth_user *u)
{
	struct auth_user tmp;
	enum auth_result r;

	if (u == NULL)
		u = &tmp;
	memset(u, 0, sizeof(*u));
	r = smtp_lookup_name(cfg, local, user, u);
	return r == AUTH_OK ? smtp_check_uid(cfg, user, u) : r;
}

size_t
smtp_prefix(char *buf, size_t cap, const char *from,
    const struct smtp_rcpt *r, const struct smtp_cfg *cfg)
{
	int n;

	n = snprintf(buf, cap, "Return-Path: <%s>\r\nX-Original-To: %s\r\n"
	    "Delivered-To: %s@%s\r\n", from, r->addr, r->user, cfg->host);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Become the owner of T's mailbox (T->uid, group T->gid): 0, or -1 with
 * ERR set. */
static int
smtp_become_owner(const struct sp_target *t, struct sp_err *err)
{
	if (t->gid == (gid_t)-1) {
		err->cls = SP_TEMPFAIL;
		snprintf(err->dsn, sizeof(err->dsn), "4.3.0");
		snprintf(err->msg, sizeof(err->msg), "no group mail on this "
		    "system");
		return -1;
	}
	if (t->uid != 0 && priv_become(t->uid, t->gid, (gid_t)-1) == -1) {
		err->cls = SP_TEMPFAIL;
		snprintf(err->dsn, sizeof(err->dsn), "4.3.0");
		snprintf(err->msg, sizeof(err->msg), "cannot become the "
		    "recipient");
		return -1;
	}
	return 0;
}

/* The child that writes one mailbox as its owner, its dotlock guarded by
 * the parent through GUARD (no guardian process of its own): never
 * returns. */
static void
smtp_deliver_child(int fd, int guard, const struct sp_target *t,
    const char *from, time_t when, const char *msg, size_t len)
{
	struct sp_err err;

	memset(&err, 0, sizeof(err));
	/* a parent gone must not kill us in the middle of the mailbox */
	signal(SIGPIPE, SIG_IGN);
	if (smtp_become_owner(t, &err) == 0 &&
	    sp_deliver_guarded(t, from, when, msg, len, guard, &err) == 0)
		err.cls = SP_OK;
	if (write(fd, &err, sizeof(err)) != (ssize_t)sizeof(err))
		_exit(1);
	_exit(0);
}

/*
 * The delivery process PID died with its dotlock in play (SIGKILL, a
 * crash): as the mailbox owner, cut back its unfinished append and remove
 * its dotlock (sp_guard_recover), in a process of its own since we stay
 * root.  Rare: the price of not starting a guardian per delivery.
 */
static void
smtp_deliver_recover(const struct sp_target *t, pid_t dead,
    const struct sp_guard_note *note)
{
	struct timespec pause = { 0, SMTP_RECOVER_PAUSE_MS * 1000000L };
	struct sp_err err;
	pid_t pid;
	int tries = 0;

	log_warnx("delivery process %ld to %s died holding its lock: "
	    "recovering", (long)dead, t->path);
	/* a refused fork (process limit, memory) is retried: the lock and a
	 * half-written message must not stay for want of a process */
	while ((pid = fork()) == -1 && ++tries < SMTP_RECOVER_TRIES)
		nanosleep(&pause, NULL);
	if (pid == -1) {
		log_warn("fork: %s stays locked until its lock is found "
		    "stale", t->path);
		return;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_IGN);
		if (smtp_become_owner(t, &err) == -1 ||
		    sp_guard_recover(t->path, dead, note) == -1)
			_exit(1);
		_exit(0);
	}
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

/* As root: fork a child that becomes the recipient and delivers.  With
 * PID_R the child is left for the caller to reap (smtp_deliver_reap) once
 * the client has its answer: the result comes through the pipe before
 * the child's exit, which need not delay the reply. */
static void
smtp_deliver_as(const struct sp_target *t, const char *from, time_t when,
    const char *msg, size_t len, struct sp_err *err, pid_t *pid_r)
{
	struct sp_guard_note note;
	int p[2], g[2], status;
	pid_t pid;
	ssize_t r;

	err->cls = SP_TEMPFAIL;
	snprintf(err->dsn, sizeof(err->dsn), "4.3.0");
	snprintf(err->msg, sizeof(err->msg), "delivery process failed");
	if (pipe(p) == -1) {
		log_warn("pipe");
		return;
	}
	if (pipe(g) == -1) {
		log_warn("pipe");
		close(p[0]);
		close(p[1]);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(p[0]);
		close(p[1]);
		close(g[0]);
		close(g[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		close(g[0]);
		signal(SIGTERM, SIG_IGN);	/* finish the mailbox first */
		smtp_deliver_child(p[1], g[1], t, from, when, msg, len);
	}
	close(p[1]);
	close(g[1]);
	/* we guard its dotlock: until it says "released", or dies */
	if (sp_guard_watch(g[0], &note) != 0)
		smtp_deliver_recover(t, pid, &note);
	close(g[0]);
	do
		r = read(p[0], err, sizeof(*err));
	while (r == -1 && errno == EINTR);
	close(p[0]);
	if (pid_r != NULL)
		*pid_r = pid;
	else
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	if (r != (ssize_t)sizeof(*err)) {
		memset(err, 0, sizeof(*err));
		err->cls = SP_TEMPFAIL;
		snprintf(err->dsn, sizeof(err->dsn), "4.3.0");
		snprintf(err->msg, sizeof(err->msg), "delivery process failed");
	}
	err->dsn[sizeof(err->dsn) - 1] = '\0';
	err->msg[sizeof(err->msg) - 1] = '\0';
}

static void
smtp_fail(struct sp_err *err, enum sp_class cls, const char *dsn,
    const char *msg)
{
	err->cls = cls;
	snprintf(err->dsn, sizeof(err->dsn), "%s", dsn);
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

/*
 * Loop guard, as Postfix local(8): a message that already carries
 * "Delivered-To: USER@HOST" for this very mailbox went round in a circle.
 * Looks at the header section of the common part only.
 */
static int
smtp_looped(const struct smtp_msg *m, const char *user, const char *host)
{
	const char *p = SMTP_MSG_DATA(m), *end = p + m->len;
	size_t ul = strlen(user), hl = strlen(host);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v;
		size_t n;

		if (eol == NULL)
			eol = end;
		n = (size_t)(eol - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the end of the header section */
		if (n > 13 && strncasecmp(p, "Delivered-To:", 13) == 0) {
			for (v = p + 13; v < p + n && (*v == ' ' || *v == '\t');
			    v++)
				;
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			if ((size_t)(p + n - v) == ul + 1 + hl &&
			    strncasecmp(v, user, ul) == 0 && v[ul] == '@' &&
			    strncasecmp(v + ul + 1, host, hl) == 0)
				return 1;
		}
		p = eol + 1;
	}
	return 0;
}

/* One recipient: look it up again (it may be gone since RCPT), put its
 * headers in front of the common part and deliver. */
static void
smtp_deliver_one(const struct smtp_cfg *cfg, const char *from, time_t when,
    struct smtp_msg *m, const struct smtp_rcpt *r, struct sp_err *err,
    pid_t *pid_r)
{
	struct auth_user u;
	struct sp_target t;
	char user[SP_USER_MAX + 1], path[SP_PATH_MAX];
	char prefix[SMTP_PREFIX_MAX];
	size_t plen;
	char *start;
	enum auth_result ar;
	int n;

	memset(err, 0, sizeof(*err));
	ar = smtp_lookup_user(cfg, r->user, user, &u);
	if (ar == AUTH_TEMPFAIL) {
		smtp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "temporary lookup failure");
		return;
	}
	if (ar != AUTH_OK || strcmp(user, r->user) != 0) {
		smtp_fail(err, SP_PERMFAIL, "5.1.1", "user unknown");
		return;
	}
	if (smtp_looped(m, user, cfg->host)) {
		smtp_fail(err, SP_PERMFAIL, "5.4.6", "mail forwarding loop: "
		    "already delivered to this mailbox");
		return;
	}
	n = snprintf(path, sizeof(path), "%s/%s", cfg->auth.spool_dir, user);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		smtp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path "
		    "too long");
		return;
	}
	if ((plen = smtp_prefix(prefix, sizeof(prefix), from, r, cfg)) == 0) {
		smtp_fail(err, SP_PERMFAIL, "5.1.3", "bad address");
		return;
	}
	start = SMTP_MSG_DATA(m) - plen;
	memcpy(start, prefix, plen);
	memset(&t, 0, sizeof(t));
	t.path = path;
	t.max_bytes = cfg->mailbox_max;
	if (cfg->root) {
		t.uid = u.uid;
		t.gid = cfg->mail_gid;
		smtp_deliver_as(&t, from, when, start, plen + m->len, err,
		    pid_r);
		return;
	}
	t.uid = (uid_t)-1;
	t.gid = (gid_t)-1;
	if (sp_deliver(&t, from, when, start, plen + m->len, err) == 0)
		err->cls = SP_OK;
}

void
smtp_deliver_local(const struct smtp_cfg *cfg, const char *from, time_t when,
    struct smtp_msg *m, const struct smtp_rcpt *rcpt, size_t n,
    struct sp_err *errs, pid_t *pids)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (pids != NULL)
			pids[i] = -1;
		smtp_deliver_one(cfg, from, when, m, &rcpt[i], &errs[i],
		    pids != NULL ? &pids[i] : NULL);
	}
}

void
smtp_deliver_reap(const pid_t *pids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			while (waitpid(pids[i], NULL, 0) == -1 &&
			    errno == EINTR)
				;
}
