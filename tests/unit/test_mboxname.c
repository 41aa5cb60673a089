/*
 * test_mboxname.c - mailbox name checks, path confinement to the mail
 * directory, the LIST walk and the subscriptions file (imapd/mboxname.c).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

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

#include "tsession.h"
#include "../../imapd/part2impl.h"

static void
touch(const char *dir, const char *name)
{
	char p[1024];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void
mkd(const char *dir, const char *name)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(mkdir(p, 0700), 0);
}

static void
test_check(void **state)
{
	static const char *good[] = { "a", "Work", "a/b", "Sent Messages",
	    "Entw\xc3\xbcrfe", "a.b", "a..b", "x/y/z", "INBOX", "inboxes",
	    "a-b_c+d=e@f" };
	static const char *bad[] = { "", "/etc/passwd", "../x", "a/../../b",
	    "..", ".", ".hidden", "a/.b", "a//b", "a/", "foo.lock",
	    "a/b.lock", "a\x01z", "a\x7f", "tab\there", "a*", "b%",
	    "INBOX/sub", "inbox/sub", "caf\xc3", "\xc0\xaf" };
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (mbx_check(good[i], 0, &why) != 0)
			fail_msg("refused \"%s\": %s", good[i], why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (mbx_check(bad[i], 0, &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(mbx_check("a/", MBX_DIR_OK, &why), 0);
	assert_int_equal(mbx_check("a//", MBX_DIR_OK, &why), -1);
	assert_int_equal(mbx_check("/", MBX_DIR_OK, &why), -1);
	/* too deep, too long */
	char deep[200] = "";
	for (int i = 0; i <= MBX_DEPTH_MAX; i++)
		strcat(deep, i ? "/a" : "a");
	assert_int_equal(mbx_check(deep, 0, &why), -1);
	char *lng = malloc(MBX_NAME_MAX + 2);
	memset(lng, 'x', MBX_NAME_MAX + 1);
	lng[MBX_NAME_MAX + 1] = '\0';
	assert_int_equal(mbx_check(lng, 0, &why), -1);
	lng[MBX_NAME_MAX] = '\0';
	assert_int_equal(mbx_check(lng, 0, &why), 0);
	free(lng);
}

static void
test_from_wire(void **state)
{
	char name[MBX_NAME_MAX + 1];
	const char *why;

	(void)state;
	assert_int_equal(mbx_from_wire("inbox", 5, 0, name, sizeof(name),
	    &why), 0);
	assert_string_equal(name, "INBOX");
	assert_int_equal(mbx_from_wire("Entw&APw-rfe", 12, 0, name,
	    sizeof(name), &why), 0);
	assert_string_equal(name, "Entw\xc3\xbcrfe");
	assert_int_equal(mbx_from_wire("a\0b", 3, 0, name, sizeof(name),
	    &why), -1);
	assert_int_equal(mbx_from_wire("&AGE-", 5, 0, name, sizeof(name),
	    &why), -1);
	/* a '/' smuggled in modified base64 is refused by the decoder */
	assert_int_equal(mbx_from_wire("&AC8-etc", 8, 0, name, sizeof(name),
	    &why), -1);
	/* U+0001 encoded: decoded, then refused as a control character */
	assert_int_equal(mbx_from_wire("a&AAE-", 6, 0, name, sizeof(name),
	    &why), -2);
	assert_int_equal(mbx_from_wire("Inbox/x", 7, 0, name, sizeof(name),
	    &why), -2);
	assert_int_equal(mbx_from_wire("../x", 4, 0, name, sizeof(name),
	    &why), -2);
	char wire[64];
	assert_int_equal(mbx_to_wire("\xe2\x98\xba", wire, sizeof(wire)), 5);
	assert_string_equal(wire, "&Jjo-");
}

/* A mail directory with a file, a directory tree, and traps. */
static char *
make_tree(void)
{
	char *d = ts_tmpdir("mboxname");
	char p[1024], q[1024];

	touch(d, "Work");
	touch(d, "Sent");
	mkd(d, "Archive");
	touch(d, "Archive/2025");
	mkd(d, "Archive/Old");
	touch(d, "Archive/Old/x");
	mkd(d, "Empty");
	touch(d, ".subscriptions");
	touch(d, "Work.lock");
	touch(d, "inbox");		/* a stray file: hidden, INBOX is the spool */
	snprintf(p, sizeof(p), "%s/linkout", d);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	snprintf(p, sizeof(p), "%s/dirlink", d);
	assert_int_equal(symlink("/etc", p), 0);
	snprintf(p, sizeof(p), "%s/Archive/uplink", d);
	snprintf(q, sizeof(q), "%s/Work", d);
	assert_int_equal(symlink(q, p), 0);
	snprintf(p, sizeof(p), "%s/fifo", d);
	assert_int_equal(mkfifo(p, 0600), 0);
	return d;
}

static void
test_resolve(void **state)
{
	char *d = make_tree(), path[SP_PATH_MAX];
	enum mbx_kind k;
	const char *why;

	(void)state;
	assert_int_equal(mbx_resolve(d, "Work", path, sizeof(path), &k, &why), 0);
	assert_int_equal(k, MBX_FILE);
	assert_true(strncmp(path, d, strlen(d)) == 0);
	assert_int_equal(mbx_resolve(d, "Archive", path, sizeof(path), &k,
	    &why), 0);
	assert_int_equal(k, MBX_DIR);
	assert_int_equal(mbx_resolve(d, "Archive/", path, sizeof(path), &k,
	    &why), 0);
	assert_int_equal(k, MBX_DIR);
	assert_int_equal(mbx_resolve(d, "Archive/Old/x", path, sizeof(path),
	    &k, &why), 0);
	assert_int_equal(k, MBX_FILE);
	assert_int_equal(mbx_resolve(d, "Nope", path, sizeof(path), &k, &why),
	    0);
	assert_int_equal(k, MBX_NONE);
	assert_int_equal(mbx_resolve(d, "Nope/deeper", path, sizeof(path), &k,
	    &why), 0);
	assert_int_equal(k, MBX_NONE);
	/* symlinks, at the end and in the middle, are refused */
	assert_int_equal(mbx_resolve(d, "linkout", path, sizeof(path), &k,
	    &why), -1);
	assert_int_equal(mbx_resolve(d, "dirlink/passwd", path, sizeof(path),
	    &k, &why), -1);
	assert_int_equal(mbx_resolve(d, "Archive/uplink", path, sizeof(path),
	    &k, &why), -1);
	/* a file used as a directory, a fifo */
	assert_int_equal(mbx_resolve(d, "Work/sub", path, sizeof(path), &k,
	    &why), -1);
	assert_int_equal(mbx_resolve(d, "fifo", path, sizeof(path), &k, &why),
	    -1);
	/* a hard link to a file elsewhere is refused */
	char p[1024], q[1024];
	snprintf(p, sizeof(p), "%s/Archive/2025", d);
	snprintf(q, sizeof(q), "%s/hard", d);
	assert_int_equal(link(p, q), 0);
	assert_int_equal(mbx_resolve(d, "hard", path, sizeof(path), &k, &why),
	    -1);
	/* a path too long for the buffer */
	assert_int_equal(mbx_resolve(d, "Work", path, 8, &k, &why), -1);
	/* a missing mail directory: nothing exists, no error */
	assert_int_equal(mbx_resolve("/nonexistent/mail", "Work", path,
	    sizeof(path), &k, &why), 0);
	assert_int_equal(k, MBX_NONE);
	ts_rmtree(d);
	free(d);
}

static void
test_mkparents(void **state)
{
	char *d = ts_tmpdir("mkparents"), maildir[1024], p[1100];
	struct stat st;
	const char *why;

	(void)state;
	snprintf(maildir, sizeof(maildir), "%s/mail", d);
	assert_int_equal(mbx_mkparents(maildir, "x/y/z", 0, &why), 0);
	snprintf(p, sizeof(p), "%s/x/y", maildir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/x/y/z", maildir);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(mbx_mkparents(maildir, "p/q/", MBX_DIR_OK, &why), 0);
	snprintf(p, sizeof(p), "%s/p/q", maildir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* through a symlink: refused */
	snprintf(p, sizeof(p), "%s/ln", maildir);
	assert_int_equal(symlink(d, p), 0);
	assert_int_equal(mbx_mkparents(maildir, "ln/evil/x", 0, &why), -1);
	snprintf(p, sizeof(p), "%s/evil", d);
	assert_int_equal(stat(p, &st), -1);
	ts_rmtree(d);
	free(d);
}

static void
test_walk(void **state)
{
	char *d = make_tree();
	struct mbx_list l = { NULL, 0, 0, 0 };

	(void)state;
	assert_int_equal(mbx_walk(d, "*", &l), 0);
	const char *want[] = { "Archive", "Archive/2025", "Archive/Old",
	    "Archive/Old/x", "Empty", "Sent", "Work" };
	assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.v[i].name, want[i]);
	assert_int_equal(l.v[0].kind, MBX_DIR);
	assert_true(l.v[0].children);
	assert_int_equal(l.v[4].kind, MBX_DIR);
	assert_false(l.v[4].children);
	assert_int_equal(l.v[6].kind, MBX_FILE);
	mbx_list_free(&l);

	/* "%": top level only, but directories still know their children */
	memset(&l, 0, sizeof(l));
	assert_int_equal(mbx_walk(d, "%", &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].name, "Archive");
	assert_true(l.v[0].children);
	mbx_list_free(&l);

	memset(&l, 0, sizeof(l));
	assert_int_equal(mbx_walk(d, "Archive/%", &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].name, "Archive/2025");
	assert_string_equal(l.v[1].name, "Archive/Old");
	assert_true(l.v[1].children);
	mbx_list_free(&l);

	memset(&l, 0, sizeof(l));
	assert_int_equal(mbx_walk("/nonexistent/mail", "*", &l), 0);
	assert_int_equal(l.n, 0);
	mbx_list_free(&l);
	ts_rmtree(d);
	free(d);
}

static void
test_subscriptions(void **state)
{
	char *d = ts_tmpdir("subs"), maildir[1024], p[1100], buf[256];
	struct mbx_subs s;
	const char *why;
	int fd;

	(void)state;
	snprintf(maildir, sizeof(maildir), "%s/mail", d);
	assert_int_equal(mbx_subs_load(maildir, &s), 0);
	assert_int_equal(s.n, 0);
	mbx_subs_free(&s);
	assert_int_equal(mbx_subs_change(maildir, "Work", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "INBOX", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "Work", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "a/b", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "INBOX", 0, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "never", 0, &why), 0);
	snprintf(p, sizeof(p), "%s/%s", maildir, MBX_SUBS_FILE);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "Work\na/b\n");
	/* no temporary file left behind */
	snprintf(p, sizeof(p), "%s/%s.tmp", maildir, MBX_SUBS_FILE);
	assert_int_equal(access(p, F_OK), -1);
	/* lines that are not valid names are ignored when read */
	snprintf(p, sizeof(p), "%s/%s", maildir, MBX_SUBS_FILE);
	fd = open(p, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "../etc\n.x\nok\ntorn", 18), 18);
	close(fd);
	assert_int_equal(mbx_subs_load(maildir, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.v[2], "ok");
	mbx_subs_free(&s);
	/* RENAME carries them: a -> z moves a/b, not "ab"; a name that is
	 * there already is not doubled; "Work/" is the directory Work */
	assert_int_equal(mbx_subs_change(maildir, "ab", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "z/b", 1, &why), 0);
	assert_int_equal(mbx_subs_change(maildir, "a", 1, &why), 0);
	assert_int_equal(mbx_subs_rename(maildir, "a", "z", &why), 0);
	assert_int_equal(mbx_subs_rename(maildir, "Work/", "Play/Work", &why),
	    0);
	assert_int_equal(mbx_subs_load(maildir, &s), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.v[0], "Play/Work");
	assert_string_equal(s.v[1], "ok");
	assert_string_equal(s.v[2], "ab");
	assert_string_equal(s.v[3], "z/b");
	assert_string_equal(s.v[4], "z");
	mbx_subs_free(&s);
	ts_rmtree(d);
	free(d);
}

/* A mail directory with more than MBX_LIST_MAX entries: the walk stops
 * there and says so. */
static void
test_walk_limit(void **state)
{
	char *d = ts_tmpdir("walklimit"), name[32];
	struct mbx_list l = { NULL, 0, 0, 0 };

	(void)state;
	for (int i = 0; i < MBX_LIST_MAX + 5; i++) {
		snprintf(name, sizeof(name), "m%05d", i);
		touch(d, name);
	}
	assert_int_equal(mbx_walk(d, "*", &l), 0);
	assert_int_equal(l.n, MBX_LIST_MAX);
	assert_true(l.truncated);
	mbx_list_free(&l);
	memset(&l, 0, sizeof(l));
	/* the directory itself is over the limit: whatever matches, the
	 * answer is flagged incomplete */
	assert_int_equal(mbx_walk(d, "m0000%", &l), 0);
	assert_true(l.n <= 10);
	assert_true(l.truncated);
	mbx_list_free(&l);
	ts_rmtree(d);
	free(d);
}

/* Two processes subscribing at once lose nothing (the flock). */
static void
test_subscriptions_concurrent(void **state)
{
	char *d = ts_tmpdir("subs2"), maildir[1024];
	struct mbx_subs s;
	pid_t pid[2];

	(void)state;
	snprintf(maildir, sizeof(maildir), "%s/mail", d);
	for (int k = 0; k < 2; k++) {
		if ((pid[k] = fork()) == 0) {
			const char *why;
			char name[32];
			for (int i = 0; i < 40; i++) {
				snprintf(name, sizeof(name), "p%d-%02d", k, i);
				if (mbx_subs_change(maildir, name, 1, &why) != 0)
					_exit(1);
			}
			_exit(0);
		}
		assert_true(pid[k] > 0);
	}
	for (int k = 0; k < 2; k++) {
		int st;
		assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(mbx_subs_load(maildir, &s), 0);
	assert_int_equal(s.n, 80);
	mbx_subs_free(&s);
	ts_rmtree(d);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_from_wire),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_mkparents),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_walk_limit),
		cmocka_unit_test(test_subscriptions),
		cmocka_unit_test(test_subscriptions_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
