/*
 * test_smtp_privsep.c - smtpd's root parent (privsep.c) fed by a test that
 * plays a subverted child: well-formed requests are served, every
 * malformed record ends the session (the child is killed) and delivers
 * nothing.  The parent runs in-process delivery here (not root-started).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../smtpd/smtp.h"
#include "tfixture.h"

struct fx {
	struct tf_lab lab;
	struct smtp_cfg cfg;
	int fd;			/* our end: we are the "child" */
	int pipe;		/* closing it ends the stand-in child */
	pid_t parent;		/* smtp_privsep_parent runs here */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;

	assert_non_null(f);
	tf_lab_init(&f->lab, "smtpps", TF_SPOOL);
	fp = fopen(f->lab.passwd, "w");
	assert_non_null(fp);
	fprintf(fp, "etudiant:*\n");
	fclose(fp);
	smtp_cfg_init(&f->cfg);
	snprintf(f->cfg.host, sizeof(f->cfg.host), "mx.test");
	tf_auth_file(&f->cfg.auth, &f->lab);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	return tf_lab_teardown(state);	/* lab is first */
}

/*
 * Start the parent on a socketpair, with a stand-in for the child it would
 * kill on bad input: a process of its own that lives until we close the
 * pipe P[1] (as the real child lives until the session ends).
 */
static void
start(struct fx *f)
{
	int sv[2], p[2];
	char c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	f->parent = fork();
	assert_true(f->parent != -1);
	if (f->parent == 0) {
		pid_t child;

		close(sv[0]);
		close(p[1]);
		if ((child = fork()) == 0) {
			close(sv[1]);
			while (read(p[0], &c, 1) > 0)
				;
			_exit(0);
		}
		close(p[0]);
		_exit(smtp_privsep_parent(&f->cfg, sv[1], child));
	}
	close(sv[1]);
	close(p[0]);
	f->fd = sv[0];
	f->pipe = p[1];
}

/* Hang up and return the parent's exit code: 0 when its child ended by
 * itself, 1 when the parent killed it for a bad request. */
static int
finish(struct fx *f)
{
	int status;

	close(f->fd);
	close(f->pipe);
	assert_int_equal(waitpid(f->parent, &status, 0), f->parent);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
put(struct fx *f, const void *p, size_t n)
{
	assert_int_equal(write(f->fd, p, n), (ssize_t)n);
}

static int
mbox_exists(struct fx *f, const char *user)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", f->lab.spool, user);
	return access(path, F_OK) == 0;
}

static void
deliver_req(struct smtp_link_req *q, uint32_t nrcpt, uint64_t len)
{
	memset(q, 0, sizeof(*q));
	q->type = SMTP_LINK_DELIVER;
	q->nrcpt = nrcpt;
	q->len = len;
	q->when = 1673870956;
	snprintf(q->from, sizeof(q->from), "mbappe@fft.fr");
}

static void
test_lookup(void **state)
{
	struct fx *f = *state;
	struct smtp_link_req q;
	struct smtp_link_rep a;

	start(f);
	memset(&q, 0, sizeof(q));
	q.type = SMTP_LINK_LOOKUP;
	snprintf(q.local, sizeof(q.local), "Etudiant");
	put(f, &q, sizeof(q));
	assert_int_equal(read(f->fd, &a, sizeof(a)), sizeof(a));
	assert_int_equal(a.result, AUTH_OK);
	assert_string_equal(a.user, "etudiant");
	snprintf(q.local, sizeof(q.local), "../etudiant");
	put(f, &q, sizeof(q));
	assert_int_equal(read(f->fd, &a, sizeof(a)), sizeof(a));
	assert_int_equal(a.result, AUTH_FAIL);
	assert_string_equal(a.user, "");
	/* no NUL inside the array: refused, not read past */
	memset(q.local, 'a', sizeof(q.local));
	put(f, &q, sizeof(q));
	assert_int_equal(read(f->fd, &a, sizeof(a)), sizeof(a));
	assert_int_equal(a.result, AUTH_FAIL);
	assert_int_equal(finish(f), 0);
}

static void
test_deliver_ok(void **state)
{
	static const char msg[] = "Received: from x\r\n\r\nhello\r\n";
	struct fx *f = *state;
	struct smtp_link_req q;
	struct smtp_rcpt r;
	struct sp_err e;

	start(f);
	deliver_req(&q, 1, sizeof(msg) - 1);
	put(f, &q, sizeof(q));
	memset(&r, 0, sizeof(r));
	snprintf(r.addr, sizeof(r.addr), "etudiant@mx.test");
	snprintf(r.user, sizeof(r.user), "etudiant");
	put(f, &r, sizeof(r));
	put(f, msg, sizeof(msg) - 1);
	assert_int_equal(read(f->fd, &e, sizeof(e)), sizeof(e));
	assert_int_equal(e.cls, SP_OK);
	assert_int_equal(finish(f), 0);
	assert_true(mbox_exists(f, "etudiant"));
}

/* A recipient the child claims but that does not exist: refused (5.1.1)
 * and nothing created, though the request itself is well-formed. */
static void
test_deliver_unknown_user(void **state)
{
	struct fx *f = *state;
	struct smtp_link_req q;
	struct smtp_rcpt r;
	struct sp_err e;

	start(f);
	deliver_req(&q, 1, 3);
	put(f, &q, sizeof(q));
	memset(&r, 0, sizeof(r));
	snprintf(r.addr, sizeof(r.addr), "x@mx.test");
	snprintf(r.user, sizeof(r.user), "passwd");
	put(f, &r, sizeof(r));
	put(f, "x\r\n", 3);
	assert_int_equal(read(f->fd, &e, sizeof(e)), sizeof(e));
	assert_int_equal(e.cls, SP_PERMFAIL);
	assert_string_equal(e.dsn, "5.1.1");
	assert_int_equal(finish(f), 0);
	assert_false(mbox_exists(f, "passwd"));
}

static void
lookup_ok(struct fx *f, const char *local)
{
	struct smtp_link_req q;
	struct smtp_link_rep a;

	memset(&q, 0, sizeof(q));
	q.type = SMTP_LINK_LOOKUP;
	snprintf(q.local, sizeof(q.local), "%s", local);
	put(f, &q, sizeof(q));
	assert_int_equal(read(f->fd, &a, sizeof(a)), sizeof(a));
	assert_int_equal(a.result, AUTH_OK);
}

static void
write_passwd(struct fx *f, uid_t autre)
{
	FILE *fp = fopen(f->lab.passwd, "w");

	assert_non_null(fp);
	fprintf(fp, "etudiant:*:65534:65534\nautre:*:%ld:%ld\n", (long)autre,
	    (long)autre);
	assert_int_equal(fclose(fp), 0);
}

/*
 * As root (root-started smtpd): each copy is written by a process with the
 * recipient's uid and group mail, mode 0600.  The recipient is looked up
 * again at the final dot: an account whose uid changed since RCPT gets
 * its copy written with the new uid, not the one seen at RCPT.
 */
static void
test_root_owner(void **state)
{
	static const char msg[] = "Received: from x\r\n\r\nhello\r\n";
	struct fx *f = *state;
	struct smtp_link_req q;
	struct smtp_rcpt r[2];
	struct sp_err e[2];
	struct group *gr;
	struct stat st;
	char path[700];

	gr = geteuid() == 0 ? getgrnam("mail") : NULL;
	if (gr == NULL) {
		printf("skipped: needs root and a group mail\n");
		skip();
		return;
	}
	write_passwd(f, 65534);
	assert_int_equal(chmod(f->lab.dir, 0711), 0);
	assert_int_equal(chown(f->lab.spool, 0, gr->gr_gid), 0);
	assert_int_equal(chmod(f->lab.spool, 02775), 0);
	f->cfg.root = 1;
	f->cfg.mail_gid = gr->gr_gid;
	start(f);
	lookup_ok(f, "etudiant");
	lookup_ok(f, "autre");
	write_passwd(f, 65533);		/* autre's account changes */
	deliver_req(&q, 2, sizeof(msg) - 1);
	put(f, &q, sizeof(q));
	memset(r, 0, sizeof(r));
	snprintf(r[0].addr, sizeof(r[0].addr), "etudiant@mx.test");
	snprintf(r[0].user, sizeof(r[0].user), "etudiant");
	snprintf(r[1].addr, sizeof(r[1].addr), "autre@mx.test");
	snprintf(r[1].user, sizeof(r[1].user), "autre");
	put(f, r, sizeof(r));
	put(f, msg, sizeof(msg) - 1);
	assert_int_equal(read(f->fd, e, sizeof(e)), sizeof(e));
	assert_int_equal(e[0].cls, SP_OK);
	assert_int_equal(e[1].cls, SP_OK);
	assert_int_equal(finish(f), 0);
	snprintf(path, sizeof(path), "%s/etudiant", f->lab.spool);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, gr->gr_gid);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/autre", f->lab.spool);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 65533);
}

/* Each malformed record: the parent kills the child and exits 1. */
static void
hostile(struct fx *f, const struct smtp_link_req *q, const struct smtp_rcpt *r)
{
	char c;

	start(f);
	put(f, q, sizeof(*q));
	if (r != NULL) {
		put(f, r, sizeof(*r));
		put(f, "x\r\n", 3);
	}
	/* the parent answers nothing and hangs up */
	assert_int_equal(read(f->fd, &c, 1), 0);
	assert_int_equal(finish(f), 1);
	assert_false(mbox_exists(f, "etudiant"));
}

static void
test_hostile_records(void **state)
{
	struct fx *f = *state;
	struct smtp_link_req q;
	struct smtp_rcpt r;

	memset(&r, 0, sizeof(r));
	snprintf(r.addr, sizeof(r.addr), "etudiant@mx.test");
	snprintf(r.user, sizeof(r.user), "etudiant");

	memset(&q, 0, sizeof(q));
	q.type = 99;
	hostile(f, &q, NULL);			/* unknown type */
	deliver_req(&q, 0, 3);
	hostile(f, &q, NULL);			/* no recipient */
	deliver_req(&q, SMTP_RCPT_MAX + 1, 3);
	hostile(f, &q, NULL);			/* too many */
	deliver_req(&q, 1, (uint64_t)1 << 40);
	hostile(f, &q, NULL);			/* a terabyte */
	deliver_req(&q, 1, 3);
	memset(q.from, 'a', sizeof(q.from));
	hostile(f, &q, NULL);			/* sender not terminated */
	deliver_req(&q, 1, 3);
	snprintf(q.from, sizeof(q.from), "a@b\r\nX-Evil: 1");
	hostile(f, &q, NULL);			/* header injection */
	deliver_req(&q, 1, 3);
	snprintf(r.addr, sizeof(r.addr), "etudiant@mx.test\nX-Evil: 1");
	hostile(f, &q, &r);			/* in a recipient */
	snprintf(r.addr, sizeof(r.addr), "etudiant@mx.test");
	memset(r.user, 'e', sizeof(r.user));
	hostile(f, &q, &r);			/* user not terminated */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_unknown_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hostile_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_root_owner, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("smtp_privsep", tests, NULL, NULL);
}
