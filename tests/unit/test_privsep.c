/*
 * test_privsep.c - privilege separation (libspool/privsep.c, priv.c).
 *
 * Needs root (fork + chroot + setresuid); elsewhere every test is skipped,
 * saying why.  The server under test is a tiny line protocol run through
 * tests/lib/tsession:
 *   child (pre-auth):  "* child uid=U euid=E chroot=yes|no regain=no|YES"
 *                      "LOGIN user pass" -> "NO" or the handoff
 *                      "QUIT" -> ends the session
 *   parent (the user): "* user NAME res=R,R,R gid=G,G,S resume=..." then
 *                      "GOT <line>" for every line.
 */
#define _GNU_SOURCE	/* getresuid */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "privsep_msg.h"
#include "tsession.h"

/* The virtual user's ids: no account needed with a passwd-file. */
#define TEST_UID	"31337"
#define TEST_GID	"31338"

struct fx {
	char *dir;
	char file[512];
	struct auth_cfg cfg;
};

/* The channel to the parent, found as a compromised child would: the
 * one SOCK_SEQPACKET descriptor. */
static int
find_channel(void)
{
	int fd, type;
	socklen_t tl;

	for (fd = 3; fd < 256; fd++) {
		tl = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
		    type == SOCK_SEQPACKET)
			return fd;
	}
	return -1;
}

/* "RACE": 10 wrong passwords straight to the parent, then the right
 * one; says how many failed and the last result. */
static void
race(struct io *io)
{
	static struct ps_req q;
	struct ps_rep rep;
	int fd = find_channel(), i, fails = 0;

	for (i = 0; i < 11; i++) {
		memset(&q, 0, sizeof(q));
		q.type = PS_VERIFY;
		strcpy(q.user, "alice");
		strcpy(q.pass, i < 10 ? "wrong" : "pw-alice");
		if (send(fd, &q, sizeof(q), 0) != (ssize_t)sizeof(q) ||
		    recv(fd, &rep, sizeof(rep), 0) != (ssize_t)sizeof(rep))
			break;
		if (i < 10 && rep.result == AUTH_FAIL)
			fails++;
	}
	io_printf(io, "RACE fail=%d then=%u\r\n", fails, rep.result);
}

/* "EVIL n": send the parent hostile record n. */
static void
evil(int n)
{
	static struct ps_req q;
	int fd = find_channel();

	memset(&q, 0, sizeof(q));
	q.type = PS_VERIFY;
	strcpy(q.user, "alice");
	strcpy(q.pass, "pw-alice");
	switch (n) {
	case 1:		/* a record of the wrong size */
		send(fd, &q, 10, 0);
		break;
	case 2:		/* handoff without a verified login */
		q.type = PS_HANDOFF;
		send(fd, &q, sizeof(q), 0);
		break;
	case 3:		/* user name not NUL-terminated */
		memset(q.user, 'a', sizeof(q.user));
		send(fd, &q, sizeof(q), 0);
		break;
	case 4:		/* verify, then a handoff with a lying length */
		send(fd, &q, sizeof(q), 0);
		recv(fd, &q, sizeof(q), 0);
		memset(&q, 0, sizeof(q));
		q.type = PS_HANDOFF;
		q.data_len = IO_IN_BUF + 1;
		send(fd, &q, sizeof(q), 0);
		break;
	case 5:		/* an unknown type */
		q.type = 99;
		send(fd, &q, sizeof(q), 0);
		break;
	}
	pause();	/* the parent kills us */
}

static int
child_dialogue(struct io *io, struct privsep *ps, const struct auth_cfg *cfg)
{
	char line[256], *user, *pass, *sp;
	struct auth_user u;
	size_t len;
	unsigned flags;
	struct stat st;

	io_printf(io, "* child uid=%ld euid=%ld chroot=%s regain=%s\r\n",
	    (long)getuid(), (long)geteuid(),
	    stat("/etc/passwd", &st) == -1 ? "yes" : "no",
	    setuid(0) == 0 ? "YES" : "no");
	while (io_getline(io, line, sizeof(line), &len, &flags) == IO_OK) {
		if (strncmp(line, "EVIL ", 5) == 0)
			evil(atoi(line + 5));
		if (strcmp(line, "RACE") == 0) {
			race(io);
			continue;
		}
		if (strcmp(line, "QUIT") == 0) {
			io_puts(io, "BYE\r\n");
			io_flush(io);
			return 0;
		}
		if (strncmp(line, "LOGIN ", 6) != 0 ||
		    (sp = strchr(line + 6, ' ')) == NULL) {
			io_puts(io, "BAD\r\n");
			continue;
		}
		user = line + 6;
		*sp = '\0';
		pass = sp + 1;
		if (login_verify(ps, cfg, user, pass, &u) == AUTH_OK)
			login_complete(ps, io, &u, "TAG7", 4);
		explicit_bzero(line, sizeof(line));
		io_puts(io, "NO\r\n");
	}
	return 0;
}

static int
psrv(int rfd, int wfd, void *arg)
{
	const struct auth_cfg *cfg = arg;
	struct privsep *ps;
	struct privsep_login login;
	struct io io;
	char line[256];
	size_t len;
	unsigned flags;
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (io_init(&io, rfd, wfd, 10) == -1)
		return 1;
	switch (privsep_start(cfg, &io, &ps, &login)) {
	case PRIVSEP_CHILD:
		return child_dialogue(&io, ps, cfg);
	case PRIVSEP_ENDED:
		return 0;
	case PRIVSEP_FAILED:
		return 3;
	case PRIVSEP_LOGGED_IN:
		break;
	}
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	io_printf(&io, "* user %s res=%ld,%ld,%ld gid=%ld,%ld,%ld resume=%.*s"
	    "\r\n", login.user.name, (long)r, (long)e, (long)s, (long)rg,
	    (long)eg, (long)sg, (int)login.resume_len, login.resume);
	while (io_getline(&io, line, sizeof(line), &len, &flags) == IO_OK)
		io_printf(&io, "GOT %s\r\n", line);
	io_flush(&io);
	io_free(&io);
	return 0;
}

static int
setup(void **state)
{
	struct fx *f;

	if (getuid() != 0) {
		*state = NULL;
		return 0;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->dir = ts_tmpdir("privsep");
	snprintf(f->file, sizeof(f->file), "%s/passwd", f->dir);
	ts_passwd_file_ex(f->file, "alice", "pw-alice",
	    TEST_UID ":" TEST_GID "::/nonexistent");
	ts_passwd_file_ex(f->file, "rooty", "pw-rooty", "0:0");
	ts_passwd_file(f->file, "noids", "pw-noids");
	f->cfg.backend = AUTH_BACKEND_FILE;
	f->cfg.passwd_file = f->file;
	f->cfg.spool_dir = f->dir;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f != NULL) {
		ts_rmtree(f->dir);
		free(f->dir);
		free(f);
	}
	return 0;
}

#define NEED_ROOT(state) do { if (*(state) == NULL) { \
	printf("# skipped: privilege separation needs root\n"); skip(); } \
	} while (0)

static void
test_login_handoff(void **state)
{
	struct fx *f = *state;
	struct ts *t;
	const char *l;
	char want[128];
	gid_t mail;

	NEED_ROOT(state);
	t = ts_start(psrv, &f->cfg);
	l = ts_expect(t, "* child uid=");
	/* the pre-auth child is not root, is chrooted, cannot regain root */
	assert_null(strstr(l, "uid=0 "));
	assert_null(strstr(l, "euid=0 "));
	assert_non_null(strstr(l, "chroot=yes"));
	assert_non_null(strstr(l, "regain=no"));
	ts_send(t, "LOGIN alice wrong\r\n");
	ts_expect(t, "NO");
	/* login and two pipelined lines in one packet: they must survive
	 * the handoff, in order */
	ts_send(t, "LOGIN alice pw-alice\r\nAFTER one\r\nAFTER two\r\n");
	mail = priv_mail_gid();
	snprintf(want, sizeof(want), "* user alice res=%s,%s,%s gid=%s,%s,%ld "
	    "resume=TAG7", TEST_UID, TEST_UID, TEST_UID, TEST_GID, TEST_GID,
	    mail == (gid_t)-1 ? atol(TEST_GID) : (long)mail);
	assert_string_equal(ts_expect(t, "* user"), want);
	assert_string_equal(ts_expect(t, "GOT"), "GOT AFTER one");
	assert_string_equal(ts_expect(t, "GOT"), "GOT AFTER two");
	ts_send(t, "later\r\n");
	assert_string_equal(ts_expect(t, "GOT"), "GOT later");
	shutdown(t->fd, SHUT_WR);
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);
}

static void
test_child_ends(void **state)
{
	struct fx *f = *state;
	struct ts *t;

	NEED_ROOT(state);
	t = ts_start(psrv, &f->cfg);
	ts_expect(t, "* child");
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "BYE");
	ts_expect_eof(t, 5000);
	assert_int_equal(ts_finish(t), 0);	/* PRIVSEP_ENDED */
}

static void
test_never_root(void **state)
{
	struct fx *f = *state;
	struct ts *t;

	NEED_ROOT(state);
	t = ts_start(psrv, &f->cfg);
	ts_expect(t, "* child");
	/* uid 0 in the file, and no ids at all (= root when run as root):
	 * right passwords, yet no session as root */
	ts_send(t, "LOGIN rooty pw-rooty\r\n");
	ts_expect(t, "NO");
	ts_send(t, "LOGIN noids pw-noids\r\n");
	ts_expect(t, "NO");
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "BYE");
	assert_int_equal(ts_finish(t), 0);
}

/* A compromised child tries passwords at full speed, without the delay
 * of login_verify: the parent stops checking after 10. */
static void
test_parent_caps_tries(void **state)
{
	struct fx *f = *state;
	struct ts *t;

	NEED_ROOT(state);
	t = ts_start(psrv, &f->cfg);
	ts_expect(t, "* child");
	ts_send(t, "RACE\r\n");
	assert_string_equal(ts_expect(t, "RACE"),
	    "RACE fail=10 then=1");	/* 1 == AUTH_FAIL */
	ts_send(t, "QUIT\r\n");
	ts_expect(t, "BYE");
	assert_int_equal(ts_finish(t), 0);
}

static void
test_hostile_child(void **state)
{
	struct fx *f = *state;
	int n;

	NEED_ROOT(state);
	for (n = 1; n <= 5; n++) {
		struct ts *t = ts_start(psrv, &f->cfg);
		char cmd[32];

		ts_expect(t, "* child");
		snprintf(cmd, sizeof(cmd), "EVIL %d\r\n", n);
		ts_send(t, cmd);
		/* the parent kills the child and ends: PRIVSEP_FAILED */
		ts_expect_eof(t, 5000);
		if (ts_finish(t) != 3)
			fail_msg("hostile record %d was not refused", n);
	}
}

static void
test_priv_become(void **state)
{
	struct ts *t;

	NEED_ROOT(state);
	(void)t;
	/* in a forked process: we must stay root */
	{
		pid_t pid = fork();
		int st;

		assert_true(pid != -1);
		if (pid == 0) {
			uid_t r, e, s;
			gid_t rg, eg, sg;

			if (priv_become(0, 0, (gid_t)-1) != -1)
				_exit(10);
			if (priv_become(4242, 4243, 8) != 0)
				_exit(11);
			getresuid(&r, &e, &s);
			getresgid(&rg, &eg, &sg);
			if (r != 4242 || e != 4242 || s != 4242)
				_exit(12);
			if (rg != 4243 || eg != 4243 || sg != 8)
				_exit(13);
			if (getgroups(0, NULL) != 0)
				_exit(14);
			/* the saved gid can be raised and dropped again */
			if (setegid(8) != 0 || setegid(4243) != 0)
				_exit(15);
			if (setuid(0) == 0 || seteuid(0) == 0)
				_exit(16);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_handoff),
		cmocka_unit_test(test_child_ends),
		cmocka_unit_test(test_never_root),
		cmocka_unit_test(test_parent_caps_tries),
		cmocka_unit_test(test_hostile_child),
		cmocka_unit_test(test_priv_become),
	};

	log_open("test_privsep", LOGTO_STDERR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
