/*
 * test_spool_lock_guarded.c - a dotlock guarded by the caller
 * (sp_lock_guarded, sp_deliver_guarded, sp_guard_watch, sp_guard_recover)
 * keeps the guardian process's guarantee: a delivery killed with SIGKILL
 * at any point leaves no PATH.lock and either all of the message or none
 * of it; a normal delivery is reported released; recovery never touches a
 * dotlock that is not the dead process's, nor a file put in place of the
 * one it wrote; and no guardian process is started (unless the caller's
 * guard is gone: then one of the locker's own).  Also: the dotlock's
 * temporary file never takes the name of another user's mailbox.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"

#define KILLS		24		/* SIGKILLs at random points */
#define BIG_LEN		(16u << 20)	/* a delivery long enough to cut */

static char tdir[256], mpath[512], lpath[600], spath[600];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "guard") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	snprintf(lpath, sizeof lpath, "%s.lock", mpath);
	snprintf(spath, sizeof spath, "%s/.user.lock.spare", tdir);
	signal(SIGPIPE, SIG_IGN);
	return tu_write_mbox(mpath, 20);
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir(tdir);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Entries of the spool directory other than the mailbox and the kept
 * dotlock file of guarded locks: a dotlock or a temporary dotlock file
 * left behind. */
static int
litter(void)
{
	DIR *d = opendir(tdir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "user") != 0 &&
		    strcmp(e->d_name, ".user.lock.spare") != 0)
			n++;
	closedir(d);
	return n;
}

static char *
big_message(void)
{
	char *m = malloc(BIG_LEN);
	size_t i;

	assert_non_null(m);
	memcpy(m, "Subject: big\r\n\r\n", 16);
	for (i = 16; i < BIG_LEN; i++)
		m[i] = (i % 64 == 62) ? '\r' : (i % 64 == 63) ? '\n' :
		    'a' + (char)(i % 23);
	return m;
}

/* Fork a delivery of MSG guarded through a pipe; *GFD_R: its read end. */
static pid_t
start_delivery(const char *msg, size_t len, int *gfd_r)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	int g[2];
	pid_t pid;

	assert_int_equal(pipe(g), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct sp_err err;

		close(g[0]);
		_exit(sp_deliver_guarded(&t, "big@example.org", 1700000000,
		    msg, len, g[1], &err) == 0 ? 0 : 1);
	}
	close(g[1]);
	*gfd_r = g[0];
	return pid;
}

/* A delivery that ends normally: released, no process of its own. */
static void
test_guarded_delivery(void **state)
{
	char m[4096];
	size_t len = tu_message(20, m);
	struct sp_guard_note note;
	unsigned count[32];
	uint32_t n;
	int gfd, st;
	pid_t pid;

	(void)state;
	pid = start_delivery(m, len, &gfd);
	assert_int_equal(sp_guard_watch(gfd, &note), 0);
	assert_int_equal(note.held, 0);
	close(gfd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* no guardian was started: the delivery had no child to reap */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(litter(), 0);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, 32, &n), 0);
	assert_int_equal(n, 21);
	assert_int_equal(count[20], 1);
}

/* Killed at random points of a 16 MiB delivery: all or nothing, and the
 * dotlock removed by the recovery, never by luck. */
static void
test_guarded_kill_delivery(void **state)
{
	char *m = big_message();
	struct sp_guard_note note;
	off_t base = file_size(mpath), sz;
	double t0, dur;
	unsigned seed = (unsigned)getpid();
	int gfd, st, trial, whole = 0, none = 0, cut = 0, recovered = 0;
	pid_t pid;

	(void)state;
	t0 = tu_now();
	pid = start_delivery(m, BIG_LEN, &gfd);
	assert_int_equal(sp_guard_watch(gfd, &note), 0);
	close(gfd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	dur = tu_now() - t0;
	assert_int_equal(truncate(mpath, base), 0);
	for (trial = 0; trial < KILLS; trial++) {
		unsigned count[32];
		uint32_t n;
		int bad, r;

		pid = start_delivery(m, BIG_LEN, &gfd);
		usleep((useconds_t)(dur * 1e6 * (double)(rand_r(&seed) % 1000) /
		    1000.0));
		kill(pid, SIGKILL);
		r = sp_guard_watch(gfd, &note);
		close(gfd);
		if (r == 1) {
			recovered++;
			if (note.appending && file_size(mpath) > base)
				cut++;
			/* before the reap: the pid cannot be reused yet */
			assert_int_equal(sp_guard_recover(mpath, pid, &note), 0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_int_equal(litter(), 0);
		sz = file_size(mpath);
		memset(count, 0, sizeof count);
		bad = tu_verify(mpath, count, 32, &n);
		/* the big message has no X-Id: one "bad" when present */
		for (n = 0; n < 20; n++)
			assert_int_equal(count[n], 1);
		if (sz == base) {
			assert_int_equal(bad, 0);
			none++;
		} else {
			struct sp_mbox *mb;
			struct sp_err err;

			assert_int_equal(bad, 1);
			assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
			assert_int_equal(sp_count(mb), 21);
			assert_int_equal(sp_msg(mb, 20)->size, BIG_LEN);
			sp_close(&mb);
			whole++;
			assert_int_equal(truncate(mpath, base), 0);
		}
	}
	print_message("guarded delivery of %u MiB (%.0f ms) killed %d times: "
	    "%d recovered by the caller (%d cut back), %d left nothing, %d "
	    "the whole message, 0 a part\n", BIG_LEN >> 20, dur * 1e3, KILLS,
	    recovered, cut, none, whole);
	assert_int_equal(none + whole, KILLS);
	free(m);
}

/* Killed while holding the lock, before any append: the dotlock goes,
 * the file is untouched. */
static void
test_guarded_kill_holding(void **state)
{
	struct sp_guard_note note;
	struct sp_lock *l;
	off_t base = file_size(mpath);
	int g[2], sync[2], st;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(g), 0);
	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct sp_err err;
		int fd = open(mpath, O_RDWR);

		close(g[0]);
		close(sync[0]);
		if (fd == -1 || sp_lock_guarded(fd, mpath, SP_LOCK_EXCL, g[1], &l,
		    &err) == -1)
			_exit(1);
		if (write(sync[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(g[1]);
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	close(sync[0]);
	assert_int_equal(access(lpath, F_OK), 0);
	kill(pid, SIGKILL);
	assert_int_equal(sp_guard_watch(g[0], &note), 1);
	close(g[0]);
	assert_int_equal(note.held, 1);
	assert_int_equal(note.appending, 0);
	assert_int_equal(sp_guard_recover(mpath, pid, &note), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(litter(), 0);
	assert_int_equal(file_size(mpath), base);
}

/* Recovery acts only on what the dead process left: a dotlock holding
 * another pid stays; a file that is not the one it appended to is not
 * cut. */
static void
test_guarded_recover_rules(void **state)
{
	struct sp_guard_note note;
	struct stat st;
	char pid[32];
	off_t base = file_size(mpath);
	int fd;

	(void)state;
	/* a live process's dotlock (ours), a note from a dead one (pid 1 is
	 * never a delivery process) */
	fd = open(lpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	assert_int_equal(write(fd, pid, strlen(pid)), (ssize_t)strlen(pid));
	close(fd);
	assert_int_equal(stat(mpath, &st), 0);
	memset(&note, 0, sizeof note);
	note.held = 1;
	note.appending = 1;
	note.size = 10;
	note.dev = st.st_dev;
	note.ino = st.st_ino;
	assert_int_equal(sp_guard_recover(mpath, 1, &note), 0);
	assert_int_equal(access(lpath, F_OK), 0);	/* not its lock */
	assert_int_equal(file_size(mpath), base);	/* nor its to cut */
	/* the dead pid's lock, but another file under the name: the lock
	 * goes, the file stays whole */
	assert_int_equal(unlink(lpath), 0);
	fd = open(lpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "1\n", 2), 2);
	close(fd);
	note.ino = st.st_ino + 1;
	assert_int_equal(sp_guard_recover(mpath, 1, &note), 0);
	assert_int_equal(access(lpath, F_OK), -1);
	assert_int_equal(file_size(mpath), base);
	/* nothing held: nothing done */
	memset(&note, 0, sizeof note);
	assert_int_equal(sp_guard_recover(mpath, 1, &note), 0);
	assert_int_equal(file_size(mpath), base);
}

/* "Released" is reported at once, while the locker lives on; an unknown
 * word is taken for a death. */
static void
test_guarded_watch_words(void **state)
{
	struct sp_guard_note note;
	struct sp_lock *l;
	struct sp_err err;
	int g[2], fd;

	(void)state;
	assert_int_equal(pipe(g), 0);
	fd = open(mpath, O_RDWR);
	assert_true(fd != -1);
	assert_int_equal(sp_lock_guarded(fd, mpath, SP_LOCK_EXCL, g[1], &l,
	    &err), 0);
	assert_int_equal(access(lpath, F_OK), 0);
	sp_unlock(&l);
	assert_int_equal(access(lpath, F_OK), -1);
	/* the write end is still open (ours): the watch must not wait */
	assert_int_equal(sp_guard_watch(g[0], &note), 0);
	/* a shared lock takes no dotlock and says nothing */
	assert_int_equal(sp_lock_guarded(fd, mpath, SP_LOCK_SHARED, g[1], &l,
	    &err), 0);
	sp_unlock(&l);
	close(fd);
	{
		char junk[64];

		memset(junk, 'x', sizeof junk);
		assert_int_equal(write(g[1], junk, sizeof junk), (ssize_t)sizeof junk);
	}
	close(g[1]);
	assert_int_equal(sp_guard_watch(g[0], &note), 1);
	assert_int_equal(note.held, 1);
	assert_int_equal(note.appending, 0);
	close(g[0]);
	assert_int_equal(litter(), 0);
}

/* Is the dotlock still there after 5 s?  (A guardian process of the
 * locker's own removes it asynchronously.) */
static int
lock_stays(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (access(lpath, F_OK) == -1 && litter() == 0)
			return 0;
		usleep(5000);
	}
	return 1;
}

/* The caller's guard died before the delivery (its pipe has no reader):
 * the locker starts a guardian of its own, which keeps the guarantee
 * when the locker is killed in turn. */
static void
test_guard_gone_fallback(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	char *m = big_message();
	off_t base = file_size(mpath);
	unsigned seed = (unsigned)getpid() * 7u;
	double t0, dur;
	int trial, st, g[2], none = 0, whole = 0;
	pid_t pid;

	(void)state;
	t0 = tu_now();
	for (trial = -1; trial < 8; trial++) {
		assert_int_equal(pipe(g), 0);
		close(g[0]);		/* the guard is gone */
		pid = fork();
		assert_true(pid != -1);
		if (pid == 0) {
			struct sp_err err;

			_exit(sp_deliver_guarded(&t, "big@example.org", 1700000000,
			    m, BIG_LEN, g[1], &err) == 0 ? 0 : 1);
		}
		close(g[1]);
		if (trial == -1) {
			/* undisturbed: delivered, nothing left */
			assert_int_equal(waitpid(pid, &st, 0), pid);
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			dur = tu_now() - t0;
			assert_false(lock_stays());
			assert_int_equal(file_size(mpath) > base, 1);
			assert_int_equal(truncate(mpath, base), 0);
			continue;
		}
		usleep((useconds_t)(dur * 1e6 * (double)(rand_r(&seed) % 1000) /
		    1000.0));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_false(lock_stays());
		if (file_size(mpath) == base)
			none++;
		else {
			struct sp_mbox *mb;
			struct sp_err err;

			assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
			assert_int_equal(sp_count(mb), 21);
			assert_int_equal(sp_msg(mb, 20)->size, BIG_LEN);
			sp_close(&mb);
			whole++;
			assert_int_equal(truncate(mpath, base), 0);
		}
	}
	print_message("guard gone, 8 kills: %d left nothing, %d the whole "
	    "message, 0 a part\n", none, whole);
	free(m);
}

/* A guarded lock keeps its dotlock file as .NAME.lock.spare and the next
 * one reuses it (no new inode); a spare that is not sound (a symbolic
 * link, a file with another link) is never used nor followed. */
static void
test_guarded_spare(void **state)
{
	char m[4096], other[600];
	size_t len = tu_message(20, m);
	struct sp_guard_note note;
	struct stat st, st2;
	unsigned count[32];
	uint32_t n;
	int gfd, status, i, fd;
	pid_t pid;

	(void)state;
	for (i = 0; i < 2; i++) {
		pid = start_delivery(m, len, &gfd);
		assert_int_equal(sp_guard_watch(gfd, &note), 0);
		close(gfd);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(lstat(spath, i == 0 ? &st : &st2), 0);
	}
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_nlink, 1);
	assert_true(st.st_ino == st2.st_ino);	/* reused, not made anew */
	assert_int_equal(access(lpath, F_OK), -1);
	assert_int_equal(litter(), 0);
	/* planted: a symbolic link to the mailbox */
	assert_int_equal(unlink(spath), 0);
	assert_int_equal(symlink(mpath, spath), 0);
	pid = start_delivery(m, len, &gfd);
	assert_int_equal(sp_guard_watch(gfd, &note), 0);
	close(gfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(spath, &st), 0);
	assert_true(S_ISREG(st.st_mode));	/* a new one, not the link */
	assert_int_equal(lstat(mpath, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	/* planted: a second name of another file */
	snprintf(other, sizeof other, "%s/other", tdir);
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "keep me\n", 8), 8);
	close(fd);
	assert_int_equal(unlink(spath), 0);
	assert_int_equal(link(other, spath), 0);
	pid = start_delivery(m, len, &gfd);
	assert_int_equal(sp_guard_watch(gfd, &note), 0);
	close(gfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_size, 8);	/* not written as a lock */
	assert_int_equal(st.st_nlink, 1);	/* its extra name dropped */
	assert_int_equal(unlink(other), 0);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, 32, &n), 0);
	assert_int_equal(n, 24);
	assert_int_equal(count[20], 4);
	assert_int_equal(litter(), 0);
	/* an unguarded lock keeps nothing: its file is removed */
	assert_int_equal(unlink(spath), 0);
	{
		struct sp_lock *l;
		struct sp_err err;

		fd = open(mpath, O_RDWR);
		assert_int_equal(sp_lock(fd, mpath, SP_LOCK_EXCL, &l, &err), 0);
		sp_unlock(&l);
		close(fd);
		assert_int_equal(access(spath, F_OK), -1);
	}
}

/* The dotlock's temporary file can never be a mailbox: a user called
 * "user.lock.PID" (a valid name) keeps its mailbox when user's locker has
 * that pid. */
static void
test_tmp_never_a_mailbox(void **state)
{
	char other[700], buf[16];
	struct sp_lock *l;
	struct sp_err err;
	int fd;

	(void)state;
	snprintf(other, sizeof other, "%s.lock.%ld", mpath, (long)getpid());
	assert_true(sp_user_valid(strrchr(other, '/') + 1));
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "precious\n", 9), 9);
	close(fd);
	fd = open(mpath, O_RDWR);
	assert_true(fd != -1);
	assert_int_equal(sp_lock(fd, mpath, SP_LOCK_EXCL, &l, &err), 0);
	assert_int_equal(access(lpath, F_OK), 0);
	sp_unlock(&l);
	close(fd);
	fd = open(other, O_RDONLY);
	assert_true(fd != -1);
	assert_int_equal(read(fd, buf, sizeof buf), 9);
	close(fd);
	assert_memory_equal(buf, "precious\n", 9);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(litter(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guarded_delivery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guarded_kill_delivery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guarded_kill_holding, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guarded_recover_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guarded_watch_words, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guard_gone_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guarded_spare, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tmp_never_a_mailbox, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
