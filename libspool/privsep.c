/*
 * privsep.c - the pre-authentication split of pop3d and imapd (popa3d's
 * design; see proto.h).
 *
 *   root parent                         child (chroot, unprivileged)
 *   -----------                         ----------------------------
 *   fork  ------------------------------>  speaks the protocol
 *   <- VERIFY user, pass                   login_verify()
 *   auth_check, wipe; RESULT user info ->
 *   <- HANDOFF unread input, RESUME        login_complete(), _exit(0)
 *   kill/reap child, priv_become(user),
 *   io_unread(input): the session goes on as the user
 *
 * The channel is an AF_UNIX SOCK_SEQPACKET pair carrying one fixed-size
 * record per message, so a message is never split or merged.  Everything
 * the child sends is untrusted: the record size, the NUL termination of
 * the strings and every length are checked, the parent counts
 * verifications, and the user handed over is the one the PARENT last
 * verified, whatever the child says.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "privsep_msg.h"

/* Verifications the parent performs per session, whatever the child
 * asks: defence in depth behind the protocols' own POP3_AUTH_TRIES and
 * IMAP_AUTH_TRIES, which the child enforces. */
#define PRIVSEP_VERIFY_MAX	10

struct privsep {
	int fd;
};

/* Receive one record of exactly N bytes: 1, 0 on EOF, -1 on error or a
 * record of another size. */
static int
ps_recv(int fd, void *p, size_t n)
{
	ssize_t r;

	do {
		r = recv(fd, p, n, MSG_TRUNC);
	} while (r == -1 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r != (ssize_t)n)
		return -1;
	return 1;
}

static int
ps_send(int fd, const void *p, size_t n)
{
	ssize_t w;

	do {
		w = send(fd, p, n, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	return w == (ssize_t)n ? 0 : -1;
}

/* Milliseconds until the session deadline of IO (-1: none). */
static int
ps_wait_ms(const struct io *io)
{
	struct timespec ts;
	long long left;

	if (io->deadline <= 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	left = (io->deadline - ts.tv_sec) * 1000;
	if (left <= 0)
		return 0;
	return left > 86400000 ? 86400000 : (int)left;
}

/* Reap CHILD: PRIVSEP_ENDED if it exited 0, else PRIVSEP_FAILED. */
static enum privsep_role
ps_reap(pid_t child)
{
	int st;

	while (waitpid(child, &st, 0) == -1)
		if (errno != EINTR)
			return PRIVSEP_FAILED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return PRIVSEP_ENDED;
	if (WIFSIGNALED(st))
		log_warnx("privsep: session process killed by signal %d",
		    WTERMSIG(st));
	return PRIVSEP_FAILED;
}

/* Is the child's request well formed? */
static int
ps_req_valid(const struct ps_req *q)
{
	if (q->type != PS_VERIFY && q->type != PS_HANDOFF)
		return 0;
	if (memchr(q->user, '\0', sizeof(q->user)) == NULL ||
	    memchr(q->pass, '\0', sizeof(q->pass)) == NULL)
		return 0;
	return q->data_len <= sizeof(q->data) &&
	    q->resume_len <= sizeof(q->resume);
}

/*
 * The root parent: serve the child on FD until it hands over or ends.
 */
static enum privsep_role
ps_parent(const struct auth_cfg *cfg, struct io *io, int fd, pid_t child,
    struct privsep_login *login)
{
	struct ps_req *q = malloc(sizeof(*q));
	struct ps_rep rep;
	struct auth_user ok_user;
	int verified = 0, count = 0, r;
	enum privsep_role role = PRIVSEP_FAILED;

	if (q == NULL) {
		log_warn("privsep: malloc");
		goto kill;
	}
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		r = poll(&pfd, 1, ps_wait_ms(io));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warnx("privsep: session time limit reached");
			goto kill;
		}
		memset(q, 0, sizeof(*q));
		if ((r = ps_recv(fd, q, sizeof(*q))) == 0) {
			role = ps_reap(child);
			goto out;
		}
		if (r == -1 || !ps_req_valid(q)) {
			log_warnx("privsep: malformed request from the "
			    "session process");
			goto kill;
		}
		if (q->type == PS_HANDOFF)
			break;
		memset(&rep, 0, sizeof(rep));
		verified = 0;
		if (++count > PRIVSEP_VERIFY_MAX) {
			log_warnx("privsep: more than %d logins tried",
			    PRIVSEP_VERIFY_MAX);
			rep.result = AUTH_FAIL;
		} else {
			rep.result = auth_check(cfg, q->user, q->pass,
			    &rep.user);
		}
		explicit_bzero(q->pass, sizeof(q->pass));
		if (rep.result == AUTH_OK && rep.user.uid != 0) {
			ok_user = rep.user;
			verified = 1;
		} else if (rep.result == AUTH_OK) {
			log_warnx("privsep: %s maps to uid 0 (a passwd-file "
			    "entry needs uid:gid when run as root): refused",
			    rep.user.name);
			memset(&rep.user, 0, sizeof(rep.user));
			rep.result = AUTH_FAIL;
		}
		if (ps_send(fd, &rep, sizeof(rep)) == -1) {
			log_warn("privsep: send");
			goto kill;
		}
	}
	/* HANDOFF */
	if (!verified) {
		log_warnx("privsep: handoff without a verified login");
		goto kill;
	}
	kill(child, SIGKILL);	/* it has said all it may say */
	while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
		;
	if (priv_become(ok_user.uid, ok_user.gid, priv_mail_gid()) == -1)
		goto out;
	if (io_unread(io, q->data, q->data_len) == -1)
		goto out;
	memset(login, 0, sizeof(*login));
	login->user = ok_user;
	memcpy(login->resume, q->resume, q->resume_len);
	login->resume_len = q->resume_len;
	role = PRIVSEP_LOGGED_IN;
	goto out;
kill:
	kill(child, SIGKILL);
	while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
		;
	role = PRIVSEP_FAILED;
out:
	if (q != NULL) {
		explicit_bzero(q, sizeof(*q));
		free(q);
	}
	close(fd);
	return role;
}

enum privsep_role
privsep_start(const struct auth_cfg *cfg, struct io *io,
    struct privsep **ps_r, struct privsep_login *login)
{
	struct privsep *ps;
	int sv[2];
	pid_t pid;

	*ps_r = NULL;
	if (!priv_is_root())
		return PRIVSEP_CHILD;	/* no split: login_verify in-process */
	/* nothing buffered may be sent twice, by both processes */
	if (io_flush(io) == -1)
		return PRIVSEP_FAILED;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("privsep: socketpair");
		return PRIVSEP_FAILED;
	}
	if ((pid = fork()) == -1) {
		log_warn("privsep: fork");
		close(sv[0]);
		close(sv[1]);
		return PRIVSEP_FAILED;
	}
	if (pid != 0) {
		close(sv[1]);
		return ps_parent(cfg, io, sv[0], pid, login);
	}
	close(sv[0]);
	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    priv_drop_unprivileged() == -1) {
		free(ps);
		close(sv[1]);
		return PRIVSEP_FAILED;
	}
	ps->fd = sv[1];
	*ps_r = ps;
	return PRIVSEP_CHILD;
}

/* Ask the parent; AUTH_TEMPFAIL if it cannot answer. */
static enum auth_result
ps_verify(struct privsep *ps, const char *user, const char *pass,
    struct auth_user *u)
{
	struct ps_req *q = calloc(1, sizeof(*q));
	struct ps_rep rep;
	enum auth_result res = AUTH_TEMPFAIL;

	if (q == NULL)
		return AUTH_TEMPFAIL;
	q->type = PS_VERIFY;
	if (strlen(user) >= sizeof(q->user) ||
	    strlen(pass) >= sizeof(q->pass)) {
		/* the parent would refuse it: do not send it */
		free(q);
		return AUTH_FAIL;
	}
	memcpy(q->user, user, strlen(user));
	memcpy(q->pass, pass, strlen(pass));
	if (ps_send(ps->fd, q, sizeof(*q)) == 0 &&
	    ps_recv(ps->fd, &rep, sizeof(rep)) == 1) {
		res = (enum auth_result)rep.result;
		if (res == AUTH_OK)
			*u = rep.user;
		else if (res != AUTH_FAIL)
			res = AUTH_TEMPFAIL;
	}
	explicit_bzero(q, sizeof(*q));
	free(q);
	return res;
}

/*
 * After a failure, wait until AUTH_FAIL_DELAY_SEC after the START of the
 * check: every failure then takes the same time, whatever the backend
 * spent (pam_unix hashes twice for a known user and not at all for an
 * unknown one, which the dummy crypt only partly hides).
 */
static void
ps_fail_delay_from(const struct timespec *start)
{
	struct timespec end = *start;

	end.tv_sec += AUTH_FAIL_DELAY_SEC;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL)
	    == EINTR)
		;
}

enum auth_result
login_verify(struct privsep *ps, const struct auth_cfg *cfg,
    const char *user, const char *pass, struct auth_user *u)
{
	struct timespec start;
	enum auth_result r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ps != NULL)
		r = ps_verify(ps, user, pass, u);
	else
		r = auth_check(cfg, user, pass, u);
	if (r != AUTH_OK)
		ps_fail_delay_from(&start);
	return r;
}

int
login_complete(struct privsep *ps, struct io *io, const struct auth_user *u,
    const void *resume, size_t len)
{
	struct ps_req *q;
	const char *left;
	size_t n;

	if (ps == NULL) {
		/* already the user (or root in a test without the split) */
		if (!priv_is_root() || u->uid == geteuid())
			return 0;
		return priv_become(u->uid, u->gid, priv_mail_gid());
	}
	if (len > PRIVSEP_RESUME_MAX || io_flush(io) == -1 ||
	    (q = calloc(1, sizeof(*q))) == NULL)
		_exit(1);
	left = io_leftover(io, &n);
	q->type = PS_HANDOFF;
	q->data_len = (uint32_t)n;
	memcpy(q->data, left, n);
	q->resume_len = (uint32_t)len;
	if (len > 0)
		memcpy(q->resume, resume, len);
	if (ps_send(ps->fd, q, sizeof(*q)) == -1)
		_exit(1);
	/* the parent takes over now; anything of ours would race it */
	_exit(0);
}
