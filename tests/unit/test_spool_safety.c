/*
 * test_spool_safety.c - delivery refuses what it must (symlinks, hard
 * links, foreign owners, FIFOs, bad names) and leaves a mailbox
 * byte-identical when it fails (RLIMIT_FSIZE, a full file system, the
 * size cap); locks and modes of new mailboxes.
 */
#define _GNU_SOURCE		/* setresgid, setresuid */
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"
#include "tfixture.h"

static char tdir[256], mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "safe") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	return 0;
}

static int
teardown(void **state)
{
	char mnt[600];

	(void)state;
	snprintf(mnt, sizeof mnt, "%s/small", tdir);
	umount2(mnt, MNT_DETACH);
	return tu_rmdir(tdir);
}

static int
deliver_id(const char *path, unsigned id, long long cap, struct sp_err *err)
{
	struct sp_target t = { path, (uid_t)-1, (gid_t)-1, cap };
	char m[4096];
	size_t len = tu_message(id, m);

	return sp_deliver(&t, "x@example.org", 1700000000, m, len, err);
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(sp_user_valid("etudiant"));
	assert_true(sp_user_valid("jean.dupont"));
	assert_true(sp_user_valid("a_b-c9"));
	assert_false(sp_user_valid(""));
	assert_false(sp_user_valid(NULL));
	assert_false(sp_user_valid("a/b"));
	assert_false(sp_user_valid("../etc"));
	assert_false(sp_user_valid(".."));
	assert_false(sp_user_valid("a..b"));
	assert_false(sp_user_valid(".hidden"));
	assert_false(sp_user_valid("-rf"));
	assert_false(sp_user_valid("bob\n"));
	assert_false(sp_user_valid("bo\x01" "b"));
	assert_false(sp_user_valid("bob smith"));
	assert_false(sp_user_valid("caf\xc3\xa9"));
	assert_false(sp_user_valid("bob.lock"));
	assert_false(sp_user_valid(
	    "a123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void
test_refuse_symlink(void **state)
{
	char other[600];
	struct sp_err err;
	struct stat st;

	(void)state;
	snprintf(other, sizeof other, "%s/target", tdir);
	close(open(other, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(symlink(other, mpath), 0);
	assert_int_equal(deliver_id(mpath, 1, 0, &err), -1);
	assert_int_equal(err.cls, SP_PERMFAIL);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* A dangling symlink must not create its target either. */
	unlink(other);
	assert_int_equal(deliver_id(mpath, 1, 0, &err), -1);
	assert_int_equal(lstat(other, &st), -1);
}

static void
test_refuse_hardlink(void **state)
{
	char other[600];
	struct sp_err err;
	struct stat st;

	(void)state;
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	snprintf(other, sizeof other, "%s/link", tdir);
	assert_int_equal(link(mpath, other), 0);
	assert_int_equal(stat(mpath, &st), 0);
	assert_int_equal(deliver_id(mpath, 2, 0, &err), -1);
	assert_int_equal(err.cls, SP_PERMFAIL);
	{
		struct stat st2;

		assert_int_equal(stat(mpath, &st2), 0);
		assert_int_equal(st2.st_size, st.st_size);
	}
}

static void
test_refuse_fifo(void **state)
{
	struct sp_err err;

	(void)state;
	assert_int_equal(mkfifo(mpath, 0600), 0);
	assert_int_equal(deliver_id(mpath, 1, 0, &err), -1);	/* no hang */
	assert_int_equal(err.cls, SP_PERMFAIL);
}

static void
test_refuse_foreign_owner(void **state)
{
	struct sp_err err;
	struct sp_target t = { mpath, 0, 0, 0 };
	struct stat st;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to chown a mailbox\n");
		skip();
	}
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	assert_int_equal(chown(mpath, 54321, 54321), 0);
	assert_int_equal(deliver_id(mpath, 2, 0, &err), -1);
	assert_int_equal(err.cls, SP_PERMFAIL);
	/* A new mailbox for another uid is created 0600 owned by it. */
	unlink(mpath);
	t.uid = 54321;
	t.gid = 8;
	assert_int_equal(sp_deliver(&t, NULL, 1700000000, "S: x\r\n\r\nb\r\n", 11,
	    &err), 0);
	assert_int_equal(stat(mpath, &st), 0);
	assert_int_equal(st.st_uid, 54321);
	assert_int_equal(st.st_gid, 8);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_new_mailbox_mode(void **state)
{
	struct sp_err err;
	struct stat st;

	(void)state;
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	assert_int_equal(stat(mpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
}

static void
test_cap(void **state)
{
	struct sp_err err;
	char *a, *b;
	size_t al, bl;

	(void)state;
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	a = tf_slurp(mpath, &al);
	assert_int_equal(deliver_id(mpath, 2, (long long)al + 10, &err), -1);
	assert_int_equal(err.cls, SP_PERMFAIL);
	assert_string_equal(err.dsn, "5.2.2");
	b = tf_slurp(mpath, &bl);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(a);
	free(b);
}

static void
test_efbig(void **state)
{
	struct sp_err err;
	char *a, *b, *big;
	size_t al, bl, i;
	pid_t pid;
	int st;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(deliver_id(mpath, (unsigned)i, 0, &err), 0);
	a = tf_slurp(mpath, &al);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		size_t n = 3 * 1024 * 1024;
		struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };

		rl.rlim_cur = rl.rlim_max = al + 200000;
		setrlimit(RLIMIT_FSIZE, &rl);
		big = malloc(n);
		memset(big, 'x', n);
		memcpy(big, "Subject: big\r\n\r\n", 16);
		for (i = 100; i < n; i += 100)
			big[i] = '\n';
		if (sp_deliver(&t, NULL, 0, big, n, &err) == 0)
			_exit(1);
		if (err.cls != SP_PERMFAIL || strcmp(err.dsn, "5.2.2") != 0)
			_exit(2);
		free(big);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	b = tf_slurp(mpath, &bl);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(a);
	free(b);
}

static void
test_enospc(void **state)
{
	char mnt[600], path[700];
	struct sp_err err;
	char *a, *b;
	size_t al, bl;
	unsigned id;
	unsigned count[400];
	uint32_t n;
	struct sp_mbox *mb;
	uint32_t i;

	(void)state;
	snprintf(mnt, sizeof mnt, "%s/small", tdir);
	mkdir(mnt, 0755);
	if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == -1) {
		print_message("skipped: cannot mount a small tmpfs (needs root): %s\n",
		    strerror(errno));
		skip();
	}
	snprintf(path, sizeof path, "%s/user", mnt);
	for (id = 0; id < 400; id++)
		if (deliver_id(path, id, 0, &err) == -1)
			break;
	assert_true(id < 400);
	assert_int_equal(err.cls, SP_TEMPFAIL);
	assert_string_equal(err.dsn, "4.3.0");
	a = tf_slurp(path, &al);
	/* Again: still refused, still byte-identical. */
	assert_int_equal(deliver_id(path, id, 0, &err), -1);
	b = tf_slurp(path, &bl);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(b);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(path, count, 400, &n), 0);
	assert_int_equal(n, id);
	/* A rewrite that cannot write its journal changes nothing. */
	assert_int_equal(sp_open(path, SP_RDWR, &mb, &err), 0);
	for (i = 1; i < sp_count(mb); i++)
		sp_set_state(mb, i, SP_SEEN | SP_FLAGGED, 0);
	sp_set_state(mb, 0, SP_EXPUNGE, 0);
	if (sp_sync(mb, NULL, NULL, &err) == -1) {
		sp_close(&mb);
		memset(count, 0, sizeof count);
		assert_int_equal(tu_verify(path, count, 400, &n), 0);
		assert_int_equal(n, id);
	} else
		sp_close(&mb);
	free(a);
	umount(mnt);
}

static void
test_session_lock(void **state)
{
	struct sp_err err;
	int fd1, fd2;

	(void)state;
	assert_int_equal(sp_session_lock(mpath, &fd1, &err), 0);
	/* flock is per open file: a second open in this process conflicts
	 * as another session would. */
	assert_int_equal(sp_session_lock(mpath, &fd2, &err), -1);
	assert_int_equal(err.cls, SP_BUSY);
	/* Delivery is not blocked by the session lock. */
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	sp_session_unlock(&fd1);
	assert_int_equal(fd1, -1);
	assert_int_equal(sp_session_lock(mpath, &fd2, &err), 0);
	sp_session_unlock(&fd2);
}

static void
test_stale_dotlock(void **state)
{
	char lp[600];
	struct sp_err err;
	FILE *f;
	pid_t pid;

	(void)state;
	/* A dotlock holding a dead pid is removed at once. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	snprintf(lp, sizeof lp, "%s.lock", mpath);
	f = fopen(lp, "w");
	fprintf(f, "%ld\n", (long)pid);
	fclose(f);
	assert_int_equal(deliver_id(mpath, 1, 0, &err), 0);
	assert_int_equal(access(lp, F_OK), -1);
}

/*
 * The servers' deployment: a 2775 root:mail spool, a process that runs as
 * the user with group mail only as its saved gid.  Creating the mailbox,
 * the dotlock and the journal must work by raising the saved gid, and the
 * effective gid must be the user's again afterwards.
 */
static void
test_saved_gid(void **state)
{
	char spool[600], box[700], lp[800], jp[800];
	struct stat st;
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to drop privileges\n");
		skip();
	}
	snprintf(spool, sizeof spool, "%s/spool", tdir);
	snprintf(box, sizeof box, "%s/u54321", spool);
	snprintf(lp, sizeof lp, "%s.lock", box);
	snprintf(jp, sizeof jp, "%s/.u54321.journal", spool);
	assert_int_equal(mkdir(spool, 0775), 0);
	assert_int_equal(chown(spool, 0, 8), 0);
	assert_int_equal(chmod(spool, 02775), 0);
	chmod(tdir, 0755);
	pid = fork();
	if (pid == 0) {
		struct sp_target t = { box, 54321, 8, 0 };
		struct sp_mbox *mb;
		struct sp_err err;
		char m[4096];
		unsigned id;

		if (setgroups(0, NULL) == -1 || setresgid(65534, 65534, 8) == -1 ||
		    setresuid(54321, 54321, 54321) == -1)
			_exit(10);
		for (id = 0; id < 6; id++) {
			size_t len = tu_message(id, m);

			if (sp_deliver(&t, NULL, 1700000000, m, len, &err) == -1) {
				fprintf(stderr, "deliver: %s\n", err.msg);
				_exit(11);
			}
			if (getegid() != 65534)
				_exit(12);
		}
		if (sp_open(box, SP_RDWR, &mb, &err) == -1)
			_exit(13);
		sp_set_state(mb, 0, SP_EXPUNGE, 0);
		sp_set_state(mb, 3, SP_EXPUNGE, 0);
		if (sp_sync(mb, NULL, NULL, &err) == -1) {
			fprintf(stderr, "sync: %s\n", err.msg);
			_exit(14);
		}
		if (getegid() != 65534 || sp_count(mb) != 4)
			_exit(15);
		sp_close(&mb);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(box, &st), 0);
	assert_int_equal(st.st_uid, 54321);
	assert_int_equal(st.st_gid, 8);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(lp, &st), -1);
	assert_int_equal(lstat(jp, &st), -1);
	{
		unsigned count[8];
		uint32_t n;

		memset(count, 0, sizeof count);
		assert_int_equal(tu_verify(box, count, 8, &n), 0);
		assert_int_equal(n, 4);
		assert_int_equal(count[0] + count[3], 0);
	}
}

/*
 * No dotlock without a guardian: when fork is refused (here RLIMIT_NPROC
 * for a user with no other process), the delivery fails temporarily after
 * a short retry and leaves neither a dotlock nor a byte behind; it must
 * not take a dotlock that nobody would remove if it were killed.
 */
static void
test_no_guardian_no_dotlock(void **state)
{
	char spool[600], box[700], lp[800];
	struct stat st;
	pid_t pid;
	int status, fd;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to run as a user with RLIMIT_NPROC\n");
		skip();
	}
	snprintf(spool, sizeof spool, "%s/spool", tdir);
	snprintf(box, sizeof box, "%s/u54322", spool);
	snprintf(lp, sizeof lp, "%s.lock", box);
	assert_int_equal(mkdir(spool, 0777), 0);
	assert_int_equal(chmod(spool, 0777), 0);
	chmod(tdir, 0755);
	fd = open(box, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, 54322, 54322), 0);
	close(fd);
	pid = fork();
	if (pid == 0) {
		struct sp_target t = { box, 54322, 54322, 0 };
		struct rlimit rl = { 1, 1 };
		struct sp_err err;
		char m[4096];
		size_t len = tu_message(1, m);

		if (setgroups(0, NULL) == -1 || setresgid(54322, 54322, 54322) == -1 ||
		    setresuid(54322, 54322, 54322) == -1 ||
		    setrlimit(RLIMIT_NPROC, &rl) == -1)
			_exit(10);
		if (fork() != -1)
			_exit(11);	/* the limit does not hold: test broken */
		if (sp_deliver(&t, NULL, 1700000000, m, len, &err) == 0)
			_exit(12);	/* delivered with no guardian */
		if (err.cls != SP_TEMPFAIL || err.dsn[0] != '4')
			_exit(13);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(lp, &st), -1);
	assert_int_equal(stat(box, &st), 0);
	assert_int_equal(st.st_size, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_refuse_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_hardlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_foreign_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_new_mailbox_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_efbig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_dotlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saved_gid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_guardian_no_dotlock, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
