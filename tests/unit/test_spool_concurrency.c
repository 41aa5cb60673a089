/*
 * test_spool_concurrency.c - 8 processes appending 500 messages each to
 * one mailbox, a competitor that locks with a dotlock only and one that
 * locks with fcntl only, while another process keeps deleting messages
 * under lock: afterwards every message not deleted is there exactly once
 * and intact.
 */
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"

#define APPENDERS	8
#define PER_APPENDER	500
#define FOREIGN		100	/* messages of each competitor */
#define ID_DOT		(APPENDERS * PER_APPENDER)
#define ID_FCNTL	(ID_DOT + FOREIGN)
#define ID_MAX		(ID_FCNTL + FOREIGN)
#define DELETED(id)	((id) % 10 == 3)

static char tdir[256], mpath[512], donepath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "conc") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	snprintf(donepath, sizeof donepath, "%s/done", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir(tdir);
}

static void
appender(unsigned first, unsigned n)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;
	char m[4096];
	unsigned id;
	int tries;

	for (id = first; id < first + n; id++) {
		size_t len = tu_message(id, m);

		/* As an MTA does: a busy mailbox is tried again later. */
		for (tries = 0; sp_deliver(&t, "app@example.org", time(NULL), m, len,
		    &err) == -1; tries++) {
			if (err.cls != SP_BUSY || tries > 100) {
				fprintf(stderr, "appender: %s\n", err.msg);
				_exit(1);
			}
			usleep(1000);
		}
	}
	_exit(0);
}

static void
raw_append(unsigned id, const char *sender)
{
	char out[8192];
	size_t len = tu_stored(id, sender, out);
	int fd = open(mpath, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd == -1 || write(fd, out, len) != (ssize_t)len || fsync(fd) == -1)
		_exit(1);
	close(fd);
}

/* Locks with PATH.lock alone (as old procmail or a shell script). */
static void
dotlock_only(void)
{
	char lp[600];
	unsigned id;
	int fd;

	snprintf(lp, sizeof lp, "%s.lock", mpath);
	for (id = ID_DOT; id < ID_DOT + FOREIGN; id++) {
		while ((fd = open(lp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
			usleep(500);
		close(fd);
		raw_append(id, "dot@example.org");
		unlink(lp);
		usleep(1000);
	}
	_exit(0);
}

/* Locks with fcntl alone (as popa3d or a Dovecot set up that way). */
static void
fcntl_only(void)
{
	struct flock fl;
	unsigned id;
	int fd;

	for (id = ID_FCNTL; id < ID_FCNTL + FOREIGN; id++) {
		fd = open(mpath, O_RDWR | O_CREAT, 0600);
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		while (fcntl(fd, F_SETLKW, &fl) == -1 && errno == EINTR)
			;
		raw_append(id, "fcntl@example.org");
		fl.l_type = F_UNLCK;
		fcntl(fd, F_SETLK, &fl);
		close(fd);
		usleep(1000);
	}
	_exit(0);
}

/* One pass: open, mark the messages to delete, sync.  Returns how many. */
static int
delete_pass(void)
{
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i, n, marked = 0;

	if (sp_open(mpath, SP_RDWR | SP_CREATE, &mb, &err) == -1)
		return -1;
	n = sp_count(mb);
	for (i = 0; i < n; i++) {
		char *h, *x;
		size_t len;
		unsigned id;

		if (sp_served(mb, i, SP_PART_HEADER, &h, &len, &err) == -1)
			break;
		x = tu_find(h, len, "\r\nX-Id: ");
		if (x != NULL && sscanf(x + 8, "%u", &id) == 1 && DELETED(id)) {
			sp_set_state(mb, i, SP_EXPUNGE, 0);
			marked++;
		}
		free(h);
	}
	if (sp_sync(mb, NULL, NULL, &err) == -1) {
		fprintf(stderr, "deleter: %s\n", err.msg);
		sp_close(&mb);
		return -1;
	}
	sp_close(&mb);
	return (int)marked;
}

static void
deleter(void)
{
	struct stat st;
	int passes = 0;

	while (lstat(donepath, &st) == -1) {
		if (delete_pass() < 0)
			_exit(1);
		passes++;
		usleep(20000);
	}
	if (delete_pass() < 0)
		_exit(1);
	fprintf(stderr, "deleter: %d passes while the others wrote\n", passes);
	_exit(0);
}

static void
test_concurrent(void **state)
{
	static unsigned count[ID_MAX];
	pid_t kids[APPENDERS + 2], del;
	int i, st, nk = 0, bad;
	uint32_t n;
	unsigned id;
	char lp[600];

	(void)state;
	for (i = 0; i < APPENDERS; i++)
		if ((kids[nk++] = fork()) == 0)
			appender((unsigned)i * PER_APPENDER, PER_APPENDER);
	if ((kids[nk++] = fork()) == 0)
		dotlock_only();
	if ((kids[nk++] = fork()) == 0)
		fcntl_only();
	if ((del = fork()) == 0)
		deleter();
	for (i = 0; i < nk; i++) {
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	close(open(donepath, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(waitpid(del, &st, 0), del);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	bad = tu_verify(mpath, count, ID_MAX, &n);
	assert_int_equal(bad, 0);
	for (id = 0; id < ID_MAX; id++) {
		if (DELETED(id) && count[id] != 0)
			fail_msg("id %u should be deleted, seen %u times", id, count[id]);
		if (!DELETED(id) && count[id] != 1)
			fail_msg("id %u seen %u times", id, count[id]);
	}
	assert_int_equal(n, ID_MAX - ID_MAX / 10);
	snprintf(lp, sizeof lp, "%s.lock", mpath);
	assert_int_equal(access(lp, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
