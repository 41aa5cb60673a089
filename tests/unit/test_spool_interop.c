/*
 * test_spool_interop.c - other programs' view of our mailboxes and ours
 * of theirs: Python's mailbox.mbox reads what libspool wrote, libspool
 * reads what Python wrote and a Postfix-style mboxo file (with mutt's
 * Content-Length and traps for the separator rule); formail if installed.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
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
#include "tfixture.h"

#define NMSG	60

static char tdir[256], mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "interop") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (getenv("KEEP") != NULL)
		return 0;
	return tu_rmdir(tdir);
}

static int
have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static void
run(const char *cmd)
{
	int st = system(cmd);

	if (st != 0)
		fail_msg("command failed (%d): %s", st, cmd);
}

/* Stored form of message ID as another reader sees it: LF line ends,
 * /^>*From / quoted once more, no From_ line, no trailing blank line. */
static size_t
stored_body(unsigned id, char *out)
{
	char tmp[8192];
	size_t n = tu_stored(id, "x", tmp);
	char *nl = memchr(tmp, '\n', n);
	size_t skip = (size_t)(nl - tmp) + 1;

	memcpy(out, tmp + skip, n - skip - 1);
	return n - skip - 1;
}

static void
test_python_reads_ours(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;
	char cmd[2048], path[700], m[4096];
	unsigned id;

	(void)state;
	if (!have("python3")) {
		print_message("skipped: python3 not installed\n");
		skip();
	}
	for (id = 0; id < NMSG; id++) {
		size_t len = tu_message(id, m);

		assert_int_equal(sp_deliver(&t, "x@example.org", 1700000000, m, len,
		    &err), 0);
	}
	snprintf(cmd, sizeof cmd,
	    "python3 -c 'import mailbox,sys\n"
	    "mb = mailbox.mbox(sys.argv[1], create=False)\n"
	    "for i, k in enumerate(mb.iterkeys()):\n"
	    "    open(\"%%s/py.%%d\" %% (sys.argv[2], i), \"wb\").write(mb.get_bytes(k))\n"
	    "open(sys.argv[2] + \"/py.count\", \"w\").write(str(len(mb)))\n"
	    "' '%s' '%s'", mpath, tdir);
	run(cmd);
	snprintf(path, sizeof path, "%s/py.count", tdir);
	{
		size_t n;
		char *c = tf_slurp(path, &n);

		assert_non_null(c);
		c[n] = '\0';
		assert_int_equal(atoi(c), NMSG);
		free(c);
	}
	for (id = 0; id < NMSG; id++) {
		char exp[8192], *got;
		size_t elen = stored_body(id, exp), glen;

		snprintf(path, sizeof path, "%s/py.%u", tdir, id);
		got = tf_slurp(path, &glen);
		assert_non_null(got);
		assert_int_equal(glen, elen);
		assert_memory_equal(got, exp, elen);
		free(got);
	}
}

static void
test_ours_reads_python(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	char cmd[2048], path[700], m[4096];
	unsigned id, used[NMSG], nused = 0, i;
	const unsigned pool = 2000;

	(void)state;
	if (!have("python3")) {
		print_message("skipped: python3 not installed\n");
		skip();
	}
	/* Python writes mboxo: a ">From" line in a message cannot survive
	 * it (that is mboxo's flaw), so only messages without one. */
	for (id = 0; id < pool && nused < NMSG; id++) {
		size_t len = tu_message(id, m);
		FILE *f;

		if (tu_find(m, len, "\n>") != NULL)
			continue;
		snprintf(path, sizeof path, "%s/in.%u", tdir, nused);
		f = fopen(path, "wb");
		fwrite(m, 1, len, f);
		fclose(f);
		used[nused++] = id;
	}
	assert_true(nused > 10);
	snprintf(cmd, sizeof cmd,
	    "python3 -c 'import mailbox,sys\n"
	    "mb = mailbox.mbox(sys.argv[1])\n"
	    "for i in range(int(sys.argv[3])):\n"
	    "    mb.add(open(\"%%s/in.%%d\" %% (sys.argv[2], i), \"rb\").read())\n"
	    "mb.add(b\"Subject: no newline\\r\\n\\r\\nlast\")\n"
	    "mb.flush()\n"
	    "' '%s' '%s' %u", mpath, tdir, nused);
	run(cmd);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), nused + 1);
	for (i = 0; i < nused; i++) {
		char *buf;
		size_t len, elen = tu_message(used[i], m);

		assert_int_equal(sp_served(mb, i, SP_PART_ALL, &buf, &len, &err), 0);
		assert_int_equal(len, elen);
		assert_memory_equal(buf, m, len);
		assert_int_equal(sp_msg(mb, i)->size, len);
		free(buf);
	}
	{
		char *buf;
		size_t len;
		const char *exp = "Subject: no newline\r\n\r\nlast\r\n";

		assert_int_equal(sp_served(mb, nused, SP_PART_ALL, &buf, &len, &err), 0);
		assert_int_equal(len, strlen(exp));
		assert_memory_equal(buf, exp, len);
		free(buf);
	}
	sp_close(&mb);
}

/* As Postfix local(8) writes (mboxo: only "From " quoted), plus mutt's
 * Content-Length, a "From " line that follows no blank line, and one
 * after a blank line that is not a separator (no date). */
static const char postfix[] =
    "From MAILER-DAEMON  Thu Nov 26 19:00:00 2026\n"
    "Return-Path: <alice@example.org>\n"
    "X-Original-To: etudiant\n"
    "Delivered-To: etudiant@host\n"
    "Subject: first\n"
    "Content-Length: 9999\n"
    "\n"
    ">From the start\n"
    "From not after a blank line\n"
    "\n"
    "From someone who writes no date\n"
    "\n"
    "From alice@example.org Thu Nov 26 19:05:00 2026\n"
    "Subject: second\n"
    "\n"
    "two\n"
    "\n"
    "From bob@example.org Thu Nov 26 19:10:00 2026 +0100\n"
    "Subject: third, UW date with a zone\n"
    "\n"
    "three\n"
    "\n";

static void
test_postfix_mboxo(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	char *buf;
	size_t len;
	FILE *f;
	const char *exp0 = "Return-Path: <alice@example.org>\r\n"
	    "X-Original-To: etudiant\r\nDelivered-To: etudiant@host\r\n"
	    "Subject: first\r\n\r\nFrom the start\r\nFrom not after a blank line\r\n"
	    "\r\nFrom someone who writes no date\r\n";

	(void)state;
	f = fopen(mpath, "w");
	fputs(postfix, f);
	fclose(f);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 3);
	assert_int_equal(sp_served(mb, 0, SP_PART_ALL, &buf, &len, &err), 0);
	assert_int_equal(len, strlen(exp0));
	assert_memory_equal(buf, exp0, len);
	free(buf);
	assert_int_equal(sp_msg(mb, 0)->body_lines, 4);
	assert_int_equal(sp_served(mb, 2, SP_PART_BODY, &buf, &len, &err), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "three\r\n", 7);
	free(buf);
	assert_int_equal(sp_served(mb, 1, SP_PART_HEADER, &buf, &len, &err), 0);
	assert_memory_equal(buf, "Subject: second\r\n\r\n", len);
	assert_int_equal(len, sp_msg(mb, 1)->hdr_size);
	free(buf);
	sp_close(&mb);
}

/* Separator variants found in the wild, and lines that only look like one. */
static const char variants[] =
    "From a Mon Jan  1 00:00 2024\n\nno seconds\n\n"
    "From b Mon Jan 1 00:00:00 GMT 2024\n\nzone before the year\n\n"
    "From c Mon Jan  1 00:00:00 2024 remote from host\n\nUUCP\n\n"
    "From  Mon Jan  1 00:00:00 2024\n\nempty sender\n\n"
    "From d e f Mon Jan  1 00:00:00 2024\n\nspaces in the sender\n\n"
    "From e Mon Jan  1 00:00:00 2024\r\n\r\nCRLF file\r\n\r\n"
    "From f Mon Jan  1 00:00:00 2024\n\nlast\n"
    "\nFrom g Jan 1 2024\n"
    "\nFrom h Mon Foo  1 00:00:00 2024\n"
    "\nFrom i Mon Jan 41 00:00:00 2024\n"
    "\nFrom j Mon Jan  1 00:00:00\n"
    "\nFrom k\n\n"
    "From l Mon Jan  1 00:00:00 2024\nSubject: empty, blank shared\n\n"
    "From m Mon Jan  1 00:00:00 2024\nSubject: no blank line at all\n"
    "From n Mon Jan  1 00:00:00 2024\n";

static void
test_separator_variants(void **state)
{
	static const char *const senders[] = { "a", "b", "c", "", "d e f", "e", "f" };
	struct sp_mbox *mb;
	struct sp_err err;
	char buf[64];
	uint32_t i;
	FILE *f;

	(void)state;
	f = fopen(mpath, "w");
	fputs(variants, f);
	fclose(f);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 9);
	for (i = 0; i < 7; i++) {
		assert_int_equal(sp_envelope_from(mb, i, buf, sizeof buf, &err), 0);
		assert_string_equal(buf, senders[i]);
		assert_int_equal(sp_msg(mb, i)->internaldate, 1704067200);
	}
	/* Message 7 holds every line that was no separator. */
	assert_int_equal(sp_msg(mb, 6)->body_lines, 11);
	/* A header whose blank line is also the separator's: empty body. */
	assert_int_equal(sp_msg(mb, 7)->body_lines, 0);
	assert_int_equal(sp_msg(mb, 7)->size, sp_msg(mb, 7)->hdr_size);
	assert_int_equal(sp_msg(mb, 7)->hdr_size,
	    strlen("Subject: empty, blank shared\r\n\r\n"));
	/* No blank line: the next From line is a header line of it. */
	assert_int_equal(sp_msg(mb, 8)->body_lines, 0);
	assert_int_equal(sp_msg(mb, 8)->hdr_size,
	    strlen("Subject: no blank line at all\r\nFrom n Mon Jan  1 00:00:00 2024\r\n\r\n"));
	sp_close(&mb);
}

/* ---- Dovecot (doveadm) on the same file -------------------------------- */

static char dvdir[600];

static void
doveadm(const char *args, const char *out)
{
	char cmd[2048];

	snprintf(cmd, sizeof cmd, "setpriv --reuid=65534 --regid=65534 --clear-groups "
	    "env USER=nobody HOME=%s doveadm -c %s/dc.conf %s > %s/%s 2>&1",
	    dvdir, dvdir, args, dvdir, out);
	if (system(cmd) != 0) {
		char path[700], *c;
		size_t n;

		snprintf(path, sizeof path, "%s/%s", dvdir, out);
		c = tf_slurp(path, &n);
		fail_msg("doveadm %s failed: %.*s", args, c ? (int)n : 0, c ? c : "");
	}
}

/* "uid: N" / "flags: ..." pairs of a doveadm fetch into UIDS and FLAGS. */
static int
dv_fetch(unsigned *uids, char flags[][128], int max)
{
	char path[700], line[512];
	FILE *f;
	int n = 0;

	doveadm("fetch 'uid flags' mailbox INBOX all", "fetch.out");
	snprintf(path, sizeof path, "%s/fetch.out", dvdir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL && n <= max) {
		if (strncmp(line, "uid: ", 5) == 0)
			uids[n] = (unsigned)atoi(line + 5);
		else if (strncmp(line, "flags:", 6) == 0) {
			snprintf(flags[n], sizeof flags[n], "%.100s", line + 6);
			n++;
		}
	}
	fclose(f);
	return n;
}

static void
test_dovecot_interop(void **state)
{
	struct sp_target t = { NULL, 65534, 65534, 0 };
	char box[700], conf[700], m[4096], fl[8][128];
	unsigned uids[8], uv;
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i;
	FILE *f;
	int n;

	(void)state;
	if (geteuid() != 0 || !have("doveadm") || !have("setpriv")) {
		print_message("skipped: needs root, doveadm (dovecot-core) and setpriv\n");
		skip();
	}
	snprintf(dvdir, sizeof dvdir, "%s/dv", tdir);
	snprintf(box, sizeof box, "%s/inbox", dvdir);
	snprintf(conf, sizeof conf, "%s/dc.conf", dvdir);
	mkdir(dvdir, 0755);
	chmod(tdir, 0755);
	f = fopen(conf, "w");
	fprintf(f, "base_dir = %s/run\nstate_dir = %s/state\nlog_path = %s/log\n"
	    "mail_location = mbox:%s/mail:INBOX=%s:INDEX=MEMORY\n"
	    "mbox_write_locks = fcntl dotlock\nmail_uid = 65534\nmail_gid = 65534\n"
	    "first_valid_uid = 1\nssl = no\n"
	    "userdb {\n driver = static\n args = uid=65534 gid=65534 home=%s\n}\n"
	    "passdb {\n driver = static\n args = nopassword=y\n}\n",
	    dvdir, dvdir, dvdir, dvdir, box, dvdir);
	fclose(f);
	assert_int_equal(chown(dvdir, 65534, 65534), 0);
	t.path = box;
	for (i = 0; i < 5; i++) {
		size_t len = tu_message(i, m);

		assert_int_equal(sp_deliver(&t, "x@example.org", 1700000000, m, len,
		    &err), 0);
	}
	/* Ours first: flags, a keyword, an expunge. */
	assert_int_equal(sp_open(box, SP_RDWR, &mb, &err), 0);
	uv = sp_uidvalidity(mb);
	sp_set_state(mb, 0, SP_SEEN, 0);
	sp_set_state(mb, 1, SP_FLAGGED, 1u << sp_keyword_index(mb, "Work", 1));
	sp_set_state(mb, 2, SP_EXPUNGE, 0);
	sp_set_state(mb, 3, SP_ANSWERED | SP_DELETED, 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	sp_close(&mb);
	n = dv_fetch(uids, fl, 8);
	assert_int_equal(n, 4);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	assert_int_equal(uids[2], 4);
	assert_int_equal(uids[3], 5);
	assert_non_null(strstr(fl[0], "\\Seen"));
	assert_non_null(strstr(fl[1], "\\Flagged"));
	assert_non_null(strstr(fl[1], "Work"));
	assert_non_null(strstr(fl[2], "\\Answered"));
	assert_non_null(strstr(fl[2], "\\Deleted"));
	assert_null(strstr(fl[3], "\\Seen"));
	/* Dovecot's turn: a flag and an expunge; then a delivery of ours. */
	doveadm("flags add '\\Seen' mailbox INBOX uid 5", "flags.out");
	doveadm("expunge mailbox INBOX uid 1", "expunge.out");
	{
		size_t len = tu_message(5, m);

		assert_int_equal(sp_deliver(&t, "x@example.org", 1700000000, m, len,
		    &err), 0);
	}
	assert_int_equal(sp_open(box, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_uidvalidity(mb), uv);
	assert_int_equal(sp_count(mb), 4);
	assert_int_equal(sp_msg(mb, 0)->uid, 2);
	/* (Dovecot drops "Work" from X-Keywords when it moves X-IMAPbase,
	 * also on its own files: not checked here.) */
	assert_int_equal(sp_msg(mb, 0)->flags & SP_FLAGGED, SP_FLAGGED);
	assert_int_equal(sp_msg(mb, 2)->uid, 5);
	assert_int_equal(sp_msg(mb, 2)->flags & SP_SEEN, SP_SEEN);
	/* The new message: the UID we compute is the one Dovecot gives. */
	assert_int_equal(sp_msg(mb, 3)->uid, 6);
	sp_close(&mb);
	n = dv_fetch(uids, fl, 8);
	assert_int_equal(n, 4);
	assert_int_equal(uids[3], 6);
	assert_int_equal(sp_open(box, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_msg(mb, 3)->uid, 6);
	assert_int_equal(sp_uidvalidity(mb), uv);
	{
		unsigned count[8];
		uint32_t k;

		sp_close(&mb);
		memset(count, 0, sizeof count);
		assert_int_equal(tu_verify(box, count, 8, &k), 0);
		assert_int_equal(k, 4);
		assert_int_equal(count[1] + count[3] + count[4] + count[5], 4);
	}
}

static void
test_formail_reads_ours(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;
	char cmd[1400], path[700], m[4096];
	unsigned id;
	size_t n;
	char *c;

	(void)state;
	if (!have("formail")) {
		print_message("skipped: formail (procmail) not installed\n");
		skip();
	}
	for (id = 0; id < 20; id++) {
		size_t len = tu_message(id, m);

		assert_int_equal(sp_deliver(&t, NULL, 1700000000, m, len, &err), 0);
	}
	snprintf(path, sizeof path, "%s/formail.count", tdir);
	snprintf(cmd, sizeof cmd, "formail -s echo x < '%s' | wc -l > '%s'",
	    mpath, path);
	run(cmd);
	c = tf_slurp(path, &n);
	c[n] = '\0';
	assert_int_equal(atoi(c), 20);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_python_reads_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ours_reads_python, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postfix_mboxo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_separator_variants, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_formail_reads_ours, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_interop, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
