/*
 * test_spool_state.c - UIDs and flags: Dovecot- and UW-style files open
 * with their UIDs and flags, UIDs persist across open/sync/open, an
 * in-place flag change moves no byte of other messages, sp_refresh sees
 * appends and rewrites, sp_sync keeps mail appended by others, sp_append
 * gives UIDs every reader agrees on.
 */
#include <sys/stat.h>
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
#include "tfixture.h"

static char tdir[256], mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "state") == -1)
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
put_file(const char *text)
{
	FILE *f = fopen(mpath, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
deliver_id(unsigned id)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;
	char m[4096];
	size_t len = tu_message(id, m);

	assert_int_equal(sp_deliver(&t, "x@example.org", 1700000000 + id, m, len,
	    &err), 0);
}

static const char dovecot[] =
    "From alice@example.org Mon Jan  1 10:00:00 2024\n"
    "X-IMAPbase: 1234567890 0000000010 $Forwarded Junk\n"
    "Subject: one\n"
    "Status: RO\n"
    "X-Status: AF\n"
    "X-Keywords: Junk\n"
    "Content-Length: 5\n"
    "X-UID: 3\n"
    "\n"
    "body\n"
    "\n"
    "From bob@example.org Mon Jan  1 11:00:00 2024\n"
    "Subject: two\n"
    "X-UID: 7\n"
    "Status: O\n"
    "X-Keywords: $Forwarded Junk\n"
    "\n"
    "second\n"
    "\n"
    "From carol@example.org Tue Jan  2 12:00:00 2024\n"
    "Subject: three\n"
    "\n"
    "third\n"
    "\n";

static void
test_dovecot_file(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	const struct sp_msg *m;
	char *buf, from[64];
	size_t len;
	int kj, kf;

	(void)state;
	put_file(dovecot);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 3);
	assert_int_equal(sp_uidvalidity(mb), 1234567890u);
	assert_int_equal(sp_msg(mb, 0)->uid, 3);
	assert_int_equal(sp_msg(mb, 1)->uid, 7);
	assert_int_equal(sp_msg(mb, 2)->uid, 11);
	assert_int_equal(sp_uidnext(mb), 12);
	kj = sp_keyword_index(mb, "junk", 0);
	kf = sp_keyword_index(mb, "$Forwarded", 0);
	assert_true(kj >= 0 && kf >= 0);
	m = sp_msg(mb, 0);
	assert_int_equal(m->flags, SP_SEEN | SP_ANSWERED | SP_FLAGGED);
	assert_int_equal(m->keywords, 1u << kj);
	m = sp_msg(mb, 1);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->keywords, (1u << kj) | (1u << kf));
	assert_int_equal(sp_msg(mb, 2)->flags, SP_RECENT);
	assert_int_equal(sp_served(mb, 0, SP_PART_ALL, &buf, &len, &err), 0);
	assert_int_equal(len, strlen("Subject: one\r\n\r\nbody\r\n"));
	assert_memory_equal(buf, "Subject: one\r\n\r\nbody\r\n", len);
	assert_int_equal(sp_msg(mb, 0)->size, len);
	free(buf);
	assert_int_equal(sp_envelope_from(mb, 1, from, sizeof from, &err), 0);
	assert_string_equal(from, "bob@example.org");
	assert_int_equal(sp_msg(mb, 2)->internaldate, 1704196800);
	/* Sync writes our format; every UID and flag stays. */
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	sp_close(&mb);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 3);
	assert_int_equal(sp_uidvalidity(mb), 1234567890u);
	assert_int_equal(sp_msg(mb, 0)->uid, 3);
	assert_int_equal(sp_msg(mb, 1)->uid, 7);
	assert_int_equal(sp_msg(mb, 2)->uid, 11);
	assert_int_equal(sp_uidnext(mb), 12);
	assert_int_equal(sp_msg(mb, 0)->flags, SP_SEEN | SP_ANSWERED | SP_FLAGGED);
	assert_int_equal(sp_msg(mb, 2)->flags, 0);	/* no longer \Recent */
	kj = sp_keyword_index(mb, "Junk", 0);
	assert_int_equal(sp_msg(mb, 1)->keywords & (1u << kj), 1u << kj);
	sp_close(&mb);
}

static const char uw[] =
    "From MAILER-DAEMON Mon Jan  1 09:00:00 2024\n"
    "Date: Mon, 1 Jan 2024 09:00:00 +0000\n"
    "From: Mail System Internal Data <MAILER-DAEMON@host>\n"
    "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
    "X-IMAP: 1111111111 0000000021 work\n"
    "Status: RO\n"
    "\n"
    "This text is part of the internal format of your mail folder.\n"
    "\n"
    "From alice@example.org Mon Jan  1 10:00:00 2024\n"
    "Subject: uw one\n"
    "Status: R\n"
    "X-Status: D\n"
    "X-Keywords: work\n"
    "X-UID: 20\n"
    "\n"
    "body\n"
    "\n";

static void
test_uw_file(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;

	(void)state;
	put_file(uw);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 1);		/* pseudo message hidden */
	assert_int_equal(sp_uidvalidity(mb), 1111111111u);
	assert_int_equal(sp_msg(mb, 0)->uid, 20);
	assert_int_equal(sp_uidnext(mb), 22);
	assert_int_equal(sp_msg(mb, 0)->flags, SP_SEEN | SP_DELETED | SP_RECENT);
	assert_int_equal(sp_msg(mb, 0)->keywords, 1u << sp_keyword_index(mb, "work", 0));
	sp_close(&mb);
	deliver_id(1);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 2);
	assert_int_equal(sp_msg(mb, 1)->uid, 22);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	sp_close(&mb);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 2);
	assert_int_equal(sp_uidvalidity(mb), 1111111111u);
	assert_int_equal(sp_msg(mb, 0)->uid, 20);
	assert_int_equal(sp_msg(mb, 1)->uid, 22);
	assert_int_equal(sp_uidnext(mb), 23);
	sp_close(&mb);
}

static void
test_virtual_uids_stable(void **state)
{
	struct sp_mbox *a, *b;
	struct sp_err err;
	uint32_t i, uv;

	(void)state;
	for (i = 0; i < 5; i++)
		deliver_id(i);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &a, &err), 0);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &b, &err), 0);
	uv = sp_uidvalidity(a);
	assert_int_equal(uv, sp_uidvalidity(b));
	assert_int_equal(uv, 1700000000u);	/* date of the first From_ line */
	for (i = 0; i < 5; i++)
		assert_int_equal(sp_msg(a, i)->uid, sp_msg(b, i)->uid);
	sp_close(&a);
	sp_close(&b);
	/* Persisted by a sync of only a flag change; unchanged after it. */
	assert_int_equal(sp_open(mpath, SP_RDWR, &a, &err), 0);
	sp_set_state(a, 2, SP_SEEN, 0);
	assert_int_equal(sp_sync(a, NULL, NULL, &err), 0);
	sp_close(&a);
	deliver_id(5);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &a, &err), 0);
	assert_int_equal(sp_uidvalidity(a), uv);
	for (i = 0; i < 6; i++)
		assert_int_equal(sp_msg(a, i)->uid, i + 1);
	assert_int_equal(sp_uidnext(a), 7);
	sp_close(&a);
}

static void
test_inplace_no_move(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	char *a, *b;
	size_t al, bl, i;
	off_t lo, hi;
	uint32_t n;

	(void)state;
	for (i = 0; i < 20; i++)
		deliver_id((unsigned)i);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);	/* persist */
	a = tf_slurp(mpath, &al);
	assert_non_null(a);
	n = sp_count(mb);
	assert_int_equal(n, 20);
	lo = sp_msg(mb, 7)->hdr_off;
	hi = sp_msg(mb, 7)->body_off;
	sp_set_state(mb, 7, SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DRAFT, 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	b = tf_slurp(mpath, &bl);
	assert_non_null(b);
	assert_int_equal(al, bl);
	for (i = 0; i < al; i++)
		if (a[i] != b[i] && ((off_t)i < lo || (off_t)i >= hi))
			fail_msg("byte %zu changed outside message 8's header", i);
	assert_true(memcmp(a, b, al) != 0);
	free(a);
	a = b;
	/* A new keyword also changes X-IMAPbase's list, in message 1. */
	sp_set_state(mb, 7, SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DRAFT,
	    1u << sp_keyword_index(mb, "$Label1", 1));
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	b = tf_slurp(mpath, &bl);
	assert_non_null(b);
	assert_int_equal(al, bl);
	for (i = 0; i < al; i++)
		if (a[i] != b[i] && ((off_t)i < lo || (off_t)i >= hi) &&
		    ((off_t)i < sp_msg(mb, 0)->hdr_off ||
		    (off_t)i >= sp_msg(mb, 0)->body_off))
			fail_msg("byte %zu changed outside the two headers", i);
	assert_int_equal(sp_msg(mb, 7)->flags,
	    SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DRAFT);
	sp_close(&mb);
	free(a);
	free(b);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_msg(mb, 7)->flags,
	    SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DRAFT);
	assert_string_equal(sp_keyword(mb, (unsigned)sp_keyword_index(mb, "$label1", 0)),
	    "$Label1");
	sp_close(&mb);
}

static void
test_refresh(void **state)
{
	struct sp_mbox *a, *b;
	struct sp_err err;
	uint32_t i, uid5;
	unsigned count[16];

	(void)state;
	for (i = 0; i < 6; i++)
		deliver_id(i);
	assert_int_equal(sp_open(mpath, SP_RDWR, &a, &err), 0);
	assert_int_equal(sp_refresh(a, &err), 0);
	deliver_id(6);
	deliver_id(7);
	assert_int_equal(sp_refresh(a, &err), 1);
	assert_int_equal(sp_count(a), 8);
	assert_int_equal(sp_msg(a, 7)->uid, 8);
	/* Another session expunges message 1; we flagged message 5. */
	sp_set_state(a, 5, SP_FLAGGED, 0);
	uid5 = sp_msg(a, 5)->uid;
	assert_int_equal(sp_open(mpath, SP_RDWR, &b, &err), 0);
	sp_set_state(b, 1, SP_EXPUNGE, 0);
	assert_int_equal(sp_sync(b, NULL, NULL, &err), 0);
	sp_close(&b);
	assert_int_equal(sp_refresh(a, &err), 2);
	assert_int_equal(sp_count(a), 7);
	assert_int_equal(sp_msg(a, 4)->uid, uid5);
	assert_int_equal(sp_msg(a, 4)->flags, SP_FLAGGED);
	/* Our sync: the other's expunge and our flag both hold; a message
	 * appended meanwhile is kept. */
	deliver_id(8);
	sp_set_state(a, 0, SP_EXPUNGE, 0);
	assert_int_equal(sp_sync(a, NULL, NULL, &err), 0);
	assert_int_equal(sp_count(a), 7);
	sp_close(&a);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, 16, &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(count[0] + count[1], 0);
	assert_int_equal(count[8], 1);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &a, &err), 0);
	for (i = 0; i < sp_count(a); i++)
		if (sp_msg(a, i)->uid == uid5)
			assert_int_equal(sp_msg(a, i)->flags, SP_FLAGGED);
	sp_close(&a);
}

/* Flags and keywords of every message of PATH, by position. */
static void
file_state(unsigned n, uint32_t *flags, int *work, int *other)
{
	struct sp_mbox *mb;
	struct sp_err err;
	int kw, ko;
	unsigned i;

	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), n);
	kw = sp_keyword_index(mb, "Work", 0);
	ko = sp_keyword_index(mb, "Other", 0);
	for (i = 0; i < n; i++) {
		const struct sp_msg *m = sp_msg(mb, i);

		flags[i] = m->flags & (SP_SEEN | SP_ANSWERED | SP_FLAGGED |
		    SP_DELETED | SP_DRAFT);
		work[i] = kw >= 0 && (m->keywords & (1u << kw)) != 0;
		other[i] = ko >= 0 && (m->keywords & (1u << ko)) != 0;
	}
	sp_close(&mb);
}

/*
 * Two sessions change different flags and keywords of the same messages:
 * both changes survive, whether the second session refreshes before its
 * sync (carry_state) or syncs straight away (sp_sync's merge), and a
 * removal by one does not undo the other's addition.
 */
static void
test_merge_sessions(void **state)
{
	struct sp_mbox *a, *b, *c;
	struct sp_err err;
	uint32_t f[3];
	int w[3], o[3], kw, ko;

	(void)state;
	deliver_id(0);
	deliver_id(1);
	deliver_id(2);
	/* Message 1 starts \Answered \Deleted with keyword Work. */
	assert_int_equal(sp_open(mpath, SP_RDWR, &c, &err), 0);
	kw = sp_keyword_index(c, "Work", 1);
	assert_true(kw >= 0);
	sp_set_state(c, 1, SP_ANSWERED | SP_DELETED, 1u << kw);
	assert_int_equal(sp_sync(c, NULL, NULL, &err), 0);
	sp_close(&c);

	assert_int_equal(sp_open(mpath, SP_RDWR, &a, &err), 0);
	assert_int_equal(sp_open(mpath, SP_RDWR, &b, &err), 0);
	/* B's table gets Other before Work: its numbering differs from A's. */
	ko = sp_keyword_index(b, "Other", 1);
	assert_true(ko >= 0);
	/* Message 0: A adds \Flagged and Work, B adds \Seen and Other. */
	kw = sp_keyword_index(a, "Work", 0);
	sp_set_state(a, 0, SP_FLAGGED, 1u << kw);
	sp_set_state(b, 0, SP_SEEN, 1u << ko);
	/* Message 1: A removes \Answered; B removes Work and adds \Seen. */
	sp_set_state(a, 1, SP_DELETED, 1u << kw);
	sp_set_state(b, 1, SP_ANSWERED | SP_DELETED | SP_SEEN, 0);
	/* Message 2: only A; B's untouched copy must not undo it. */
	sp_set_state(a, 2, SP_DRAFT, 0);
	assert_int_equal(sp_sync(a, NULL, NULL, &err), 0);
	sp_close(&a);

	/* B syncs without refreshing first: sp_sync merges. */
	assert_int_equal(sp_sync(b, NULL, NULL, &err), 0);
	file_state(3, f, w, o);
	assert_int_equal(f[0], SP_SEEN | SP_FLAGGED);
	assert_true(w[0] && o[0]);
	assert_int_equal(f[1], SP_DELETED | SP_SEEN);
	assert_true(!w[1] && !o[1]);
	assert_int_equal(f[2], SP_DRAFT);
	assert_true(!w[2] && !o[2]);

	/* The same through sp_refresh: A changes, B refreshes (the file was
	 * rewritten: carry_state), sees both, then syncs. */
	assert_int_equal(sp_open(mpath, SP_RDWR, &a, &err), 0);
	sp_set_state(b, 0, SP_SEEN | SP_FLAGGED | SP_ANSWERED,
	    sp_msg(b, 0)->keywords & ~(1u << sp_keyword_index(b, "Other", 0)));
	sp_set_state(a, 0, SP_SEEN, sp_msg(a, 0)->keywords);	/* -\Flagged */
	sp_set_state(a, 2, SP_DRAFT | SP_FLAGGED, 1u << sp_keyword_index(a, "Other", 0));
	sp_set_state(b, 2, SP_DRAFT | SP_SEEN, 0);
	assert_int_equal(sp_sync(a, NULL, NULL, &err), 0);
	sp_close(&a);
	assert_int_equal(sp_refresh(b, &err), 2);
	assert_int_equal(sp_msg(b, 0)->flags & ~(uint32_t)SP_RECENT,
	    SP_SEEN | SP_ANSWERED);
	assert_int_equal(sp_msg(b, 2)->flags & ~(uint32_t)SP_RECENT,
	    SP_DRAFT | SP_FLAGGED | SP_SEEN);
	assert_int_equal(sp_sync(b, NULL, NULL, &err), 0);
	sp_close(&b);
	file_state(3, f, w, o);
	assert_int_equal(f[0], SP_SEEN | SP_ANSWERED);
	assert_true(w[0] && !o[0]);
	assert_int_equal(f[1], SP_DELETED | SP_SEEN);
	assert_int_equal(f[2], SP_DRAFT | SP_FLAGGED | SP_SEEN);
	assert_true(!w[2] && o[2]);
}

static void
test_append(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_newmsg nm[3];
	struct sp_mbox *mb;
	struct sp_err err;
	const char *kws[] = { "$Forwarded", "Work" };
	char m[3][4096];
	uint32_t uv, first, i, uv2, first2;
	unsigned count[64];

	(void)state;
	memset(nm, 0, sizeof nm);
	for (i = 0; i < 3; i++) {
		nm[i].len = tu_message(10 + i, m[i]);
		nm[i].data = m[i];
		nm[i].when = 1700000000;
		nm[i].from = "appender@example.org";
	}
	nm[0].flags = SP_SEEN;
	nm[1].flags = SP_FLAGGED | SP_DRAFT;
	nm[1].keywords = kws;
	nm[1].nkeywords = 2;
	/* Into a missing mailbox: created, UIDs from 1. */
	assert_int_equal(sp_append(&t, nm, 3, &uv, &first, &err), 0);
	assert_int_equal(first, 1);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_uidvalidity(mb), uv);
	assert_int_equal(sp_count(mb), 3);
	assert_int_equal(sp_uidnext(mb), 4);
	assert_int_equal(sp_msg(mb, 0)->flags, SP_SEEN | SP_RECENT);
	assert_int_equal(sp_msg(mb, 1)->flags, SP_FLAGGED | SP_DRAFT | SP_RECENT);
	assert_int_equal(sp_msg(mb, 1)->keywords,
	    (1u << sp_keyword_index(mb, "work", 0)) |
	    (1u << sp_keyword_index(mb, "$forwarded", 0)));
	sp_close(&mb);
	/* Deliveries without X-UID, then an append: their virtual UIDs are
	 * persisted first and the append follows them. */
	deliver_id(20);
	deliver_id(21);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_msg(mb, 4)->uid, 5);
	sp_close(&mb);
	assert_int_equal(sp_append(&t, nm, 2, &uv2, &first2, &err), 0);
	assert_int_equal(uv2, uv);
	assert_int_equal(first2, 6);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 7);
	for (i = 0; i < 7; i++)
		assert_int_equal(sp_msg(mb, i)->uid, i + 1);
	assert_int_equal(sp_uidnext(mb), 8);
	sp_close(&mb);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, 64, &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(count[10], 2);
	assert_int_equal(count[11], 2);
	assert_int_equal(count[12], 1);
}

static void
test_empty_and_missing(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i;

	(void)state;
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), -1);
	assert_int_equal(sp_open(mpath, SP_RDWR | SP_CREATE, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 0);
	assert_int_equal(sp_refresh(mb, &err), 0);
	deliver_id(1);
	assert_true(sp_refresh(mb, &err) > 0);
	assert_int_equal(sp_count(mb), 1);
	/* Emptied: the file is empty, the next message starts a new base. */
	sp_set_state(mb, 0, SP_EXPUNGE, 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	assert_int_equal(sp_count(mb), 0);
	sp_close(&mb);
	{
		struct stat st;

		assert_int_equal(stat(mpath, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
	deliver_id(2);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	i = sp_msg(mb, 0)->uid;
	assert_int_equal(i, 1);
	assert_int_equal(sp_uidvalidity(mb), 1700000002u);
	sp_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dovecot_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uw_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_uids_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inplace_no_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_missing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
