/*
 * privsep.c - smtpd's privilege separation (started as root).
 *
 *   root parent  <-- socketpair -->  child: chrooted, PRIV_USER, speaks SMTP
 *        |
 *        +-- fork per recipient: becomes USER:mail, sp_deliver()
 *
 * The child asks two things, in fixed-size records: "who is local part
 * X?" at RCPT, and "deliver this message from S to R1..Rn" at the final
 * dot (the record, n recipient records, then the bytes).  The parent reads
 * every record as hostile: sizes are bounded before anything is allocated,
 * strings must be NUL-terminated in their arrays and free of control
 * characters, and each recipient is looked up again.  The worst a
 * subverted child can do is what any SMTP client may: send mail to local
 * users.  No client string reaches a path other than a valid user name
 * (sp_user_valid), nor a shell or exec.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp.h"

static int
smtp_writen(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t r = write(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read N bytes; 0, or -1 on EOF or error (a short record is an error). */
static int
smtp_readn(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- the child's side --------------------------------------------------- */

enum auth_result
smtp_link_lookup(int linkfd, const char *local, char *user)
{
	struct smtp_link_req q;
	struct smtp_link_rep a;

	if (strlen(local) >= sizeof(q.local))
		return AUTH_FAIL;
	memset(&q, 0, sizeof(q));
	q.type = SMTP_LINK_LOOKUP;
	memcpy(q.local, local, strlen(local) + 1);
	if (smtp_writen(linkfd, &q, sizeof(q)) == -1 ||
	    smtp_readn(linkfd, &a, sizeof(a)) == -1)
		return AUTH_TEMPFAIL;
	a.user[sizeof(a.user) - 1] = '\0';
	memcpy(user, a.user, sizeof(a.user));
	return a.result == AUTH_OK ? AUTH_OK : a.result == AUTH_FAIL ?
	    AUTH_FAIL : AUTH_TEMPFAIL;
}

int
smtp_link_deliver(int linkfd, const char *from, time_t when,
    const struct smtp_msg *m, const struct smtp_rcpt *rcpt, size_t n,
    struct sp_err *errs)
{
	struct smtp_link_req q;
	size_t i;

	memset(&q, 0, sizeof(q));
	q.type = SMTP_LINK_DELIVER;
	q.nrcpt = (uint32_t)n;
	q.len = m->len;
	q.when = when;
	memcpy(q.from, from, strlen(from) + 1);
	if (smtp_writen(linkfd, &q, sizeof(q)) == 0 &&
	    smtp_writen(linkfd, rcpt, n * sizeof(*rcpt)) == 0 &&
	    smtp_writen(linkfd, SMTP_MSG_DATA(m), m->len) == 0 &&
	    smtp_readn(linkfd, errs, n * sizeof(*errs)) == 0) {
		for (i = 0; i < n; i++) {
			errs[i].dsn[sizeof(errs[i].dsn) - 1] = '\0';
			errs[i].msg[sizeof(errs[i].msg) - 1] = '\0';
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		errs[i].cls = SP_TEMPFAIL;
		memcpy(errs[i].dsn, "4.3.0", 6);
		memcpy(errs[i].msg, "local delivery unavailable", 27);
	}
	return -1;
}

/* ---- the parent's side -------------------------------------------------- */

/* A string from the child: NUL-terminated inside its array, no control
 * characters (it goes into a header line). */
static int
smtp_clean(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);
	const char *p;

	if (end == NULL)
		return 0;
	for (p = s; p < end; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int
smtp_parent_lookup(const struct smtp_cfg *cfg, int fd,
    const struct smtp_link_req *q)
{
	struct smtp_link_rep a;

	memset(&a, 0, sizeof(a));
	if (!smtp_clean(q->local, sizeof(q->local)))
		a.result = AUTH_FAIL;
	else
		a.result = (int32_t)smtp_lookup_user(cfg, q->local, a.user,
		    NULL);
	if (a.result != AUTH_OK)
		a.user[0] = '\0';
	return smtp_writen(fd, &a, sizeof(a));
}

static int
smtp_parent_deliver(const struct smtp_cfg *cfg, int fd,
    const struct smtp_link_req *q)
{
	/* the common part: content and trace headers */
	unsigned long long max = (unsigned long long)cfg->size_max +
	    3 * SMTP_TRACE_MAX;
	struct smtp_rcpt *rcpt = NULL;
	struct sp_err *errs = NULL;
	pid_t pids[SMTP_RCPT_MAX];
	struct smtp_msg m;
	size_t i;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (q->nrcpt == 0 || q->nrcpt > SMTP_RCPT_MAX || q->len > max ||
	    !smtp_clean(q->from, sizeof(q->from))) {
		log_warnx("privsep: bad delivery request from the child");
		return -1;
	}
	rcpt = calloc(q->nrcpt, sizeof(*rcpt));
	errs = calloc(q->nrcpt, sizeof(*errs));
	m.len = m.cap = (size_t)q->len;
	m.buf = malloc(SMTP_PREFIX_MAX + m.cap + 1);
	if (rcpt == NULL || errs == NULL || m.buf == NULL) {
		log_warn("privsep");
		goto out;
	}
	if (smtp_readn(fd, rcpt, q->nrcpt * sizeof(*rcpt)) == -1 ||
	    smtp_readn(fd, SMTP_MSG_DATA(&m), m.len) == -1)
		goto out;
	for (i = 0; i < q->nrcpt; i++) {
		if (!smtp_clean(rcpt[i].addr, sizeof(rcpt[i].addr)) ||
		    !smtp_clean(rcpt[i].user, sizeof(rcpt[i].user))) {
			log_warnx("privsep: bad recipient from the child");
			goto out;
		}
	}
	smtp_deliver_local(cfg, q->from, (time_t)q->when, &m, rcpt, q->nrcpt,
	    errs, pids);
	/* answer first: the delivery processes have said what they did */
	rc = smtp_writen(fd, errs, q->nrcpt * sizeof(*errs));
	smtp_deliver_reap(pids, q->nrcpt);
out:
	free(rcpt);
	free(errs);
	free(m.buf);
	return rc;
}

int
smtp_privsep_parent(const struct smtp_cfg *cfg, int linkfd, pid_t child)
{
	struct smtp_link_req q;
	int status = 0, rc = 0;
	pid_t r;

	/* a stop request reaches the child, which says 421 and hangs up;
	 * we finish what we write and leave when it does */
	signal(SIGTERM, SIG_IGN);
	while (smtp_readn(linkfd, &q, sizeof(q)) == 0) {
		if (q.type == SMTP_LINK_LOOKUP)
			rc = smtp_parent_lookup(cfg, linkfd, &q);
		else if (q.type == SMTP_LINK_DELIVER)
			rc = smtp_parent_deliver(cfg, linkfd, &q);
		else {
			log_warnx("privsep: unknown request %u from the child",
			    (unsigned)q.type);
			rc = -1;
		}
		if (rc == -1) {
			kill(child, SIGKILL);
			break;
		}
	}
	close(linkfd);
	while ((r = waitpid(child, &status, 0)) == -1 && errno == EINTR)
		;
	if (rc == -1 || r == -1)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
