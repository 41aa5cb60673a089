/*
 * test_auth.c - passwd-file and PAM authentication (libspool/auth.c).
 *
 * The PAM tests need root (a real account made with useradd + chpasswd,
 * a PAM service file in /etc/pam.d); elsewhere they are skipped, saying
 * why.  Timings are printed, never asserted tightly: the test only checks
 * that a failure for an unknown user costs a real crypt (> 1 ms) too.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "tfixture.h"

#define PAM_TEST_USER	"mstest_pam"
#define PAM_TEST_PASS	"Pam-test-pw-8812"
#define PAM_TEST_SVC	"mstest"
#define PAM_SVC_FILE	"/etc/pam.d/" PAM_TEST_SVC

struct fx {
	struct tf_lab lab;		/* lab.passwd: the passwd-file */
	struct auth_cfg cfg;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;

	if (f == NULL)
		return -1;
	tf_lab_init(&f->lab, "auth", 0);
	fp = fopen(f->lab.passwd, "w");
	if (fp == NULL)
		return -1;
	fputs("# mailsuite test users\n\n", fp);
	fclose(fp);
	ts_passwd_file(f->lab.passwd, "alice", "wonderland");
	ts_passwd_file_ex(f->lab.passwd, "bob", "builder",
	    "1234:5678:Bob:/home/bob");
	ts_passwd_file(f->lab.passwd, "root", "rootpw");
	ts_passwd_file_ex(f->lab.passwd, "zero", "zeropw", "0:0");
	fp = fopen(f->lab.passwd, "a");
	fputs("locked:!$6$abcdefgh$Zx0y2Lr0nI5m5W2t8d0m8OQ0bQv1t9oY6B0H4y7/"
	    "gXJlGp7hdZ2Q6mCx1WnVwHh0k3r0w7c0dF5p1Z2a3B4c5.\n", fp);
	fputs("star:*\n", fp);
	fputs("empty::\n", fp);
	fputs("badid:$6$x$y:12x:5\n", fp);
	fclose(fp);
	f->cfg.backend = AUTH_BACKEND_FILE;
	f->cfg.passwd_file = f->lab.passwd;
	f->cfg.spool_dir = "/var/spool/test";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	return tf_lab_teardown(state);	/* lab is first */
}

static void
test_file_good(void **state)
{
	struct fx *f = *state;
	struct auth_user u;

	assert_int_equal(auth_check(&f->cfg, "alice", "wonderland", &u),
	    AUTH_OK);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.uid, getuid());	/* no ids: ours */
	assert_int_equal(u.gid, getgid());
	assert_string_equal(u.mailbox, "/var/spool/test/alice");
	assert_int_equal(auth_check(&f->cfg, "bob", "builder", &u), AUTH_OK);
	assert_int_equal(u.uid, 1234);
	assert_int_equal(u.gid, 5678);
	assert_string_equal(u.home, "/home/bob");
	assert_string_equal(u.mailbox, "/var/spool/test/bob");
}

static void
test_file_failures(void **state)
{
	struct fx *f = *state;
	struct auth_user u;
	char longpw[AUTH_PASS_MAX + 2];

	assert_int_equal(auth_check(&f->cfg, "alice", "Wonderland", &u),
	    AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "alice", "", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "nobody_here", "x", &u),
	    AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "locked", "x", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "star", "x", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "empty", "", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "empty", "x", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "badid", "x", &u), AUTH_FAIL);
	/* the right password does not open uid 0 */
	assert_int_equal(auth_check(&f->cfg, "zero", "zeropw", &u), AUTH_FAIL);
	/* invalid names fail the same way */
	assert_int_equal(auth_check(&f->cfg, "../alice", "wonderland", &u),
	    AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "alice:x", "wonderland", &u),
	    AUTH_FAIL);
	assert_int_equal(auth_check(&f->cfg, "", "wonderland", &u), AUTH_FAIL);
	/* a password over AUTH_PASS_MAX is refused even when right */
	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	ts_passwd_file(f->lab.passwd, "longpw", longpw);
	assert_int_equal(auth_check(&f->cfg, "longpw", longpw, &u), AUTH_FAIL);
	longpw[AUTH_PASS_MAX] = '\0';		/* exactly the limit: fine */
	ts_passwd_file(f->lab.passwd, "maxpw", longpw);
	assert_int_equal(auth_check(&f->cfg, "maxpw", longpw, &u), AUTH_OK);
}

static void
test_file_format(void **state)
{
	struct fx *f = *state;
	struct auth_user u;
	char line[6000];
	FILE *fp;

	/* an overlong line is skipped whole; its tail is not an entry */
	memset(line, 'a', sizeof(line));
	memcpy(line + 4990, "\nfake:", 6);
	line[sizeof(line) - 1] = '\0';
	fp = fopen(f->lab.passwd, "a");
	assert_non_null(fp);
	fprintf(fp, "%s\r\n", line);
	fclose(fp);
	ts_passwd_file(f->lab.passwd, "after", "pw-after");
	assert_int_equal(auth_check(&f->cfg, "after", "pw-after", &u),
	    AUTH_OK);
	assert_int_equal(auth_check(&f->cfg, "# mailsuite test users", "x",
	    &u), AUTH_FAIL);
	/* an unreadable file is a temporary failure */
	f->cfg.passwd_file = "/nonexistent/passwd";
	assert_int_equal(auth_check(&f->cfg, "alice", "wonderland", &u),
	    AUTH_TEMPFAIL);
	assert_int_equal(auth_lookup(&f->cfg, "alice", &u), AUTH_TEMPFAIL);
	f->cfg.passwd_file = f->lab.passwd;
}

static void
test_file_lookup(void **state)
{
	struct fx *f = *state;
	struct auth_user u;

	assert_int_equal(auth_lookup(&f->cfg, "bob", &u), AUTH_OK);
	assert_int_equal(u.uid, 1234);
	assert_string_equal(u.mailbox, "/var/spool/test/bob");
	/* a locked account still has a mailbox */
	assert_int_equal(auth_lookup(&f->cfg, "locked", &u), AUTH_OK);
	assert_int_equal(auth_lookup(&f->cfg, "nosuch", &u), AUTH_FAIL);
	assert_int_equal(auth_lookup(&f->cfg, "zero", &u), AUTH_FAIL);
	assert_int_equal(auth_lookup(&f->cfg, "badid", &u), AUTH_FAIL);
	assert_int_equal(auth_lookup(&f->cfg, "../bob", &u), AUTH_FAIL);
}

static double
time_check(const struct auth_cfg *cfg, const char *user, const char *pass,
    enum auth_result want)
{
	struct timespec a, b;
	struct auth_user u;

	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(auth_check(cfg, user, pass, &u), want);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static double
time_verify(const struct auth_cfg *cfg, const char *user, const char *pass,
    enum auth_result want)
{
	struct timespec a, b;
	struct auth_user u;

	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(login_verify(NULL, cfg, user, pass, &u), want);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void
test_file_verify(void **state)
{
	struct fx *f = *state;
	double t;

	/* success: no delay */
	t = time_verify(&f->cfg, "alice", "wonderland", AUTH_OK);
	assert_true(t < 1000);
	t = time_verify(&f->cfg, "nosuchuser", "x", AUTH_FAIL);
	printf("# login_verify failure (ms): passwd-file unknown %.2f\n", t);
	assert_true(t >= AUTH_FAIL_DELAY_SEC * 1000.0);
}

static void
test_file_timing(void **state)
{
	struct fx *f = *state;
	double good = 0, bad = 0, unknown = 0, locked = 0, toolong = 0;
	char longpw[AUTH_PASS_MAX + 2];
	int i, n = 5;

	memset(longpw, 'q', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	for (i = 0; i < n; i++) {
		good += time_check(&f->cfg, "alice", "wonderland", AUTH_OK);
		bad += time_check(&f->cfg, "alice", "wrong", AUTH_FAIL);
		unknown += time_check(&f->cfg, "nosuchuser", "wrong",
		    AUTH_FAIL);
		locked += time_check(&f->cfg, "locked", "wrong", AUTH_FAIL);
		toolong += time_check(&f->cfg, "alice", longpw, AUTH_FAIL);
	}
	printf("# passwd-file timing (ms, mean of %d): good %.2f, bad %.2f, "
	    "unknown %.2f, locked %.2f, overlong password %.2f\n", n,
	    good / n, bad / n, unknown / n, locked / n, toolong / n);
	/* the dummy crypt is really run for every kind of failure */
	assert_true(unknown / n > 1.0);
	assert_true(locked / n > 1.0);
	assert_true(toolong / n > 1.0);
	assert_true(bad / n > 1.0);
}

/* ---- PAM, as root ------------------------------------------------------- */

static int
pam_setup(void **state)
{
	FILE *fp;

	*state = NULL;
	if (getuid() != 0)
		return 0;
	(void)system("userdel -r " PAM_TEST_USER " >/dev/null 2>&1");
	if (system("useradd -M -s /usr/sbin/nologin " PAM_TEST_USER) != 0 ||
	    system("echo '" PAM_TEST_USER ":" PAM_TEST_PASS "' | chpasswd")
	    != 0)
		return -1;
	fp = fopen(PAM_SVC_FILE, "w");
	if (fp == NULL)
		return -1;
	fputs("# mailsuite test_auth: removed after the test\n"
	    "@include common-auth\n@include common-account\n", fp);
	fclose(fp);
	*state = (void *)1;
	return 0;
}

static int
pam_teardown(void **state)
{
	if (*state != NULL) {
		(void)system("userdel " PAM_TEST_USER " >/dev/null 2>&1");
		unlink(PAM_SVC_FILE);
	}
	return 0;
}

static void
test_pam(void **state)
{
	struct auth_cfg cfg = { AUTH_BACKEND_PAM, PAM_TEST_SVC, NULL,
	    "/var/mail" };
	struct auth_user u;
	double good = 0, bad = 0, unknown = 0;
	int i, n = 3;

	if (*state == NULL) {
		printf("# PAM tests skipped: need root to create a user and "
		    "a PAM service\n");
		skip();
	}
	assert_int_equal(auth_check(&cfg, PAM_TEST_USER, PAM_TEST_PASS, &u),
	    AUTH_OK);
	assert_string_equal(u.name, PAM_TEST_USER);
	assert_true(u.uid != 0);
	assert_string_equal(u.mailbox, "/var/mail/" PAM_TEST_USER);
	assert_int_equal(auth_check(&cfg, PAM_TEST_USER, "wrong", &u),
	    AUTH_FAIL);
	assert_int_equal(auth_check(&cfg, PAM_TEST_USER, "", &u), AUTH_FAIL);
	assert_int_equal(auth_check(&cfg, "mstest_nouser", "wrong", &u),
	    AUTH_FAIL);
	/* root never logs in, whatever PAM says */
	assert_int_equal(auth_check(&cfg, "root", "", &u), AUTH_FAIL);
	assert_int_equal(auth_lookup(&cfg, PAM_TEST_USER, &u), AUTH_OK);
	assert_int_equal(auth_lookup(&cfg, "root", &u), AUTH_FAIL);
	assert_int_equal(auth_lookup(&cfg, "mstest_nouser", &u), AUTH_FAIL);
	for (i = 0; i < n; i++) {
		good += time_check(&cfg, PAM_TEST_USER, PAM_TEST_PASS,
		    AUTH_OK);
		bad += time_check(&cfg, PAM_TEST_USER, "wrong", AUTH_FAIL);
		unknown += time_check(&cfg, "mstest_nouser", "wrong",
		    AUTH_FAIL);
	}
	printf("# PAM timing (ms, mean of %d): good %.2f, bad %.2f, "
	    "unknown %.2f\n", n, good / n, bad / n, unknown / n);
	assert_true(unknown / n > 1.0);
	assert_true(bad / n > 1.0);
	/* unknown users cost a real hash too: within a factor of 3 */
	assert_true(unknown * 3 > bad);
	/* login_verify pads every failure to AUTH_FAIL_DELAY_SEC from its
	 * start: the backends' differences disappear */
	bad = time_verify(&cfg, PAM_TEST_USER, "wrong", AUTH_FAIL);
	unknown = time_verify(&cfg, "mstest_nouser", "wrong", AUTH_FAIL);
	printf("# login_verify failure (ms): PAM bad %.2f, unknown %.2f\n",
	    bad, unknown);
	assert_true(bad >= AUTH_FAIL_DELAY_SEC * 1000.0);
	assert_true(unknown >= AUTH_FAIL_DELAY_SEC * 1000.0);
	assert_true(bad < AUTH_FAIL_DELAY_SEC * 1000.0 + 500);
	assert_true(unknown < AUTH_FAIL_DELAY_SEC * 1000.0 + 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_good),
		cmocka_unit_test(test_file_failures),
		cmocka_unit_test(test_file_format),
		cmocka_unit_test(test_file_lookup),
		cmocka_unit_test(test_file_timing),
		cmocka_unit_test(test_file_verify),
	};
	const struct CMUnitTest pam_tests[] = {
		cmocka_unit_test(test_pam),
	};
	int rc;

	log_open("test_auth", LOGTO_STDERR);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	rc |= cmocka_run_group_tests(pam_tests, pam_setup, pam_teardown);
	return rc;
}
