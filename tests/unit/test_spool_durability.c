/*
 * test_spool_durability.c - a delivery makes exactly the data it reports
 * durable, no more: one fsync of the mailbox, plus one of its directory
 * when the delivery created the mailbox (its name must survive a crash
 * too), and nothing else on the path of a 250.  fsync and fdatasync are
 * interposed here (this program's definitions win over libc's for every
 * call the storage code makes) and counted by the kind of file synced.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"

static char tdir[256], mpath[512];
static unsigned n_file, n_dir, n_data;

int
fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		n_dir++;
	else
		n_file++;
	return (int)syscall(SYS_fsync, fd);
}

int
fdatasync(int fd)
{
	n_data++;
	return (int)syscall(SYS_fdatasync, fd);
}

static void
count_reset(void)
{
	n_file = n_dir = n_data = 0;
}

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "dur") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir(tdir);
}

static void
deliver_id(unsigned id)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;
	char m[4096];
	size_t len = tu_message(id, m);

	assert_int_equal(sp_deliver(&t, "x@example.org", 1700000000 + id, m,
	    len, &err), 0);
}

/* sp_deliver: a new mailbox needs its directory synced, an existing one
 * only its data; exactly one fsync of the data either way. */
static void
test_deliver_syncs(void **state)
{
	struct stat st;
	unsigned count[8];
	uint32_t n;

	(void)state;
	assert_int_equal(stat(mpath, &st), -1);
	count_reset();
	deliver_id(1);
	assert_int_equal(n_file, 1);
	assert_int_equal(n_dir, 1);
	assert_int_equal(n_data, 0);
	count_reset();
	deliver_id(2);
	assert_int_equal(n_file, 1);
	assert_int_equal(n_dir, 0);
	assert_int_equal(n_data, 0);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count[1] + count[2], 2);
}

/* sp_append: the same rule (UIDs already persistent: no rewrite). */
static void
test_append_syncs(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_newmsg m;
	struct sp_err err;
	static const char text[] = "Subject: a\r\n\r\nbody\r\n";
	uint32_t v, u;

	(void)state;
	memset(&m, 0, sizeof m);
	m.data = text;
	m.len = sizeof text - 1;
	m.when = 1700000000;
	count_reset();
	assert_int_equal(sp_append(&t, &m, 1, &v, &u, &err), 0);
	assert_int_equal(u, 1);
	assert_int_equal(n_file, 1);
	assert_int_equal(n_dir, 1);
	count_reset();
	assert_int_equal(sp_append(&t, &m, 1, &v, &u, &err), 0);
	assert_int_equal(u, 2);
	assert_int_equal(n_file, 1);
	assert_int_equal(n_dir, 0);
	assert_int_equal(n_data, 0);
}

/* An in-place flag change (fits the padded state block): one fsync. */
static void
test_inplace_sync(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;

	(void)state;
	deliver_id(1);
	deliver_id(2);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	sp_set_state(mb, 0, SP_SEEN, 0);
	sp_set_state(mb, 1, SP_SEEN, 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);	/* blocks added */
	sp_set_state(mb, 1, SP_SEEN | SP_FLAGGED, 0);
	count_reset();
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);	/* in place */
	assert_int_equal(n_file, 1);
	assert_int_equal(n_dir, 0);
	assert_int_equal(n_data, 0);
	assert_int_equal(sp_msg(mb, 1)->flags, SP_SEEN | SP_FLAGGED);
	sp_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_syncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_syncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inplace_sync, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
