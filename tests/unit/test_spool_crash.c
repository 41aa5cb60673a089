/*
 * test_spool_crash.c - a rewrite killed with SIGKILL at random points
 * never loses, duplicates or cuts a message and leaves no dotlock; a
 * foreign append after the crash is kept by the replay.
 */
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"
#include "tfixture.h"

#define NMSG		2000	/* the brief's figure */
#define TRIALS		32	/* kills per run (brief: 30 or more) */

static char tdir[256], mpath[512], orig[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "crash") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	snprintf(orig, sizeof orig, "%s/orig", tdir);
	return tu_write_mbox(orig, NMSG);
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmdir(tdir);
}

static void
copy_orig(void)
{
	char cmd[1200];

	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", orig, mpath);
	assert_int_equal(system(cmd), 0);
}

/* 0: the rewrite deletes every other message (the file shrinks);
 * 1: it flags every message (state blocks added: the file grows). */
static int grow_mode;

/* Child: open, mark every other message (even ids), sync. */
static void
delete_every_other(void)
{
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i;

	if (sp_open(mpath, SP_RDWR, &mb, &err) == -1)
		_exit(2);
	for (i = 0; i < sp_count(mb); i++)
		if (grow_mode)
			sp_set_state(mb, i, SP_SEEN | SP_FLAGGED, 0);
		else if (i % 2 == 0)
			sp_set_state(mb, i, SP_EXPUNGE, 0);
	if (sp_sync(mb, NULL, NULL, &err) == -1)
		_exit(3);
	sp_close(&mb);
	_exit(0);
}

static int
lock_left(void)
{
	char lp[600];
	struct stat st;
	int i;

	snprintf(lp, sizeof lp, "%s.lock", mpath);
	/* The guardian removes it as soon as it sees its parent die. */
	for (i = 0; i < 1000; i++) {	/* 5 s: a loaded machine */
		if (lstat(lp, &st) == -1)
			return 0;
		usleep(5000);
	}
	return 1;
}

/* A program that knows nothing of our journal appends raw. */
static void
foreign_append(unsigned id)
{
	char m[4096], line[128];
	size_t len = tu_message(id, m), i, k = 0;
	char *out = malloc(len + 256);
	int fd, n;

	n = snprintf(line, sizeof line, "From foreign@example.org Mon Jan  1 00:00:00 2024\n");
	memcpy(out, line, (size_t)n);
	k = (size_t)n;
	for (i = 0; i < len; i++)
		if (m[i] != '\r')
			out[k++] = m[i];
	/* tu_message has From_ lines in the body: quote them. */
	{
		char *q = malloc(k * 2 + 2), *p = out + n, *e;
		size_t qk = (size_t)n;

		memcpy(q, out, (size_t)n);
		for (; p < out + k; p = e + 1) {
			const char *r = p;

			e = memchr(p, '\n', (size_t)(out + k - p));
			while (*r == '>')
				r++;
			if (strncmp(r, "From ", 5) == 0)
				q[qk++] = '>';
			memcpy(q + qk, p, (size_t)(e - p + 1));
			qk += (size_t)(e - p + 1);
		}
		q[qk++] = '\n';
		fd = open(mpath, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, q, qk), (ssize_t)qk);
		close(fd);
		free(q);
	}
	free(out);
}

static void
run_trials(int foreign)
{
	static unsigned count[NMSG + 1];
	double t0, dur;
	pid_t pid;
	int st, trial, replayed = 0, completed = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	/* How long does an undisturbed rewrite take? */
	copy_orig();
	t0 = tu_now();
	pid = fork();
	if (pid == 0)
		delete_every_other();
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	dur = tu_now() - t0;
	for (trial = 0; trial < TRIALS; trial++) {
		char jp[600];
		struct stat jst;
		uint32_t n, i;
		int bad;
		double at = dur * (double)(rand_r(&seed) % 1000) / 1000.0 * 1.1;

		copy_orig();
		pid = fork();
		if (pid == 0)
			delete_every_other();
		usleep((useconds_t)(at * 1e6));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFEXITED(st))
			completed++;
		assert_false(lock_left());
		snprintf(jp, sizeof jp, "%s/.user.journal", tdir);
		if (lstat(jp, &jst) == 0)
			replayed++;
		if (foreign)
			foreign_append(NMSG);
		memset(count, 0, sizeof count);
		bad = tu_verify(mpath, count, NMSG + 1, &n);
		assert_int_equal(bad, 0);
		for (i = 0; i < NMSG; i++) {
			/* Odd ids were kept: exactly once.  Even ids were being
			 * deleted: at most once. */
			if ((grow_mode || i % 2 == 1) && count[i] != 1)
				fail_msg("trial %d (kill at %.1f ms): id %u seen %u times",
				    trial, at * 1e3, i, count[i]);
			if (count[i] > 1)
				fail_msg("trial %d: id %u duplicated", trial, i);
		}
		if (foreign)
			assert_int_equal(count[NMSG], 1);
		assert_int_equal(lstat(jp, &jst), -1);	/* recovered */
	}
	print_message("%d kills (%s%s), rewrite %.1f ms; %d left a journal, "
	    "%d had finished; 0 lost, 0 duplicated, no dotlock left\n", TRIALS,
	    grow_mode ? "growing rewrite" : "deleting every other",
	    foreign ? ", then a foreign append" : "", dur * 1e3, replayed,
	    completed);
}

/* Kill while the journal is being applied: wait until it is complete on
 * disk (its magic is written last), then kill within a few ms. */
static void
test_kill_during_apply(void **state)
{
	static unsigned count[NMSG + 1];
	char jp[600];
	unsigned seed = (unsigned)getpid() ^ 0x5eed;
	int trial, seen = 0;

	(void)state;
	snprintf(jp, sizeof jp, "%s/.user.journal", tdir);
	for (trial = 0; trial < 24; trial++) {
		uint32_t n, i;
		pid_t pid;
		int st, k;

		grow_mode = trial % 2;
		copy_orig();
		pid = fork();
		if (pid == 0)
			delete_every_other();
		for (k = 0; k < 200000; k++) {
			char magic[8];
			int fd = open(jp, O_RDONLY);

			if (fd != -1) {
				ssize_t r = pread(fd, magic, 8, 0);

				close(fd);
				if (r == 8 && memcmp(magic, "SPJRNL01", 8) == 0)
					break;
			}
			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = 0;
				break;
			}
			usleep(50);
		}
		if (pid != 0) {
			seen++;
			usleep((useconds_t)(rand_r(&seed) % 3000));
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		assert_false(lock_left());
		memset(count, 0, sizeof count);
		assert_int_equal(tu_verify(mpath, count, NMSG + 1, &n), 0);
		for (i = 0; i < NMSG; i++) {
			if ((grow_mode || i % 2 == 1) && count[i] != 1)
				fail_msg("apply trial %d: id %u seen %u times", trial, i,
				    count[i]);
			if (count[i] > 1)
				fail_msg("apply trial %d: id %u duplicated", trial, i);
		}
	}
	grow_mode = 0;
	print_message("24 kills within 3 ms of the journal being complete (%d caught "
	    "in time): 0 lost, 0 duplicated\n", seen);
}

static void
test_kill_rewrite(void **state)
{
	(void)state;
	run_trials(0);
}

static void
test_kill_then_foreign_append(void **state)
{
	(void)state;
	run_trials(1);
}

static void
test_kill_growing_rewrite(void **state)
{
	(void)state;
	grow_mode = 1;
	run_trials(0);
	run_trials(1);
	grow_mode = 0;
}

/* Big message for the delivery kills: BIG_LEN bytes of CRLF lines. */
#define BIG_LEN		(24u << 20)

static char *
big_message(void)
{
	char *m = malloc(BIG_LEN);
	size_t i;

	memcpy(m, "Subject: big\r\n\r\n", 16);
	for (i = 16; i < BIG_LEN; i++)
		m[i] = (i % 64 == 62) ? '\r' : (i % 64 == 63) ? '\n' : 'a' + (char)(i % 23);
	m[BIG_LEN - 2] = '\r';
	m[BIG_LEN - 1] = '\n';
	return m;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A delivery killed with SIGKILL at random points: the mailbox holds the
 * old messages and either all of the new one or none of it. */
static void
test_kill_delivery(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	char *m = big_message();
	off_t base;
	double t0, dur;
	pid_t pid;
	int st, trial, whole = 0, none = 0;
	unsigned seed = (unsigned)getpid();

	(void)state;
	tu_write_mbox(mpath, 50);
	base = file_size(mpath);
	t0 = tu_now();
	pid = fork();
	if (pid == 0) {
		struct sp_err err;

		_exit(sp_deliver(&t, "big@example.org", 1700000000, m, BIG_LEN,
		    &err) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	dur = tu_now() - t0;
	assert_int_equal(truncate(mpath, base), 0);
	for (trial = 0; trial < 16; trial++) {
		static unsigned count[64];
		struct sp_mbox *mb;
		struct sp_err err;
		uint32_t n;
		off_t sz;

		pid = fork();
		if (pid == 0)
			_exit(sp_deliver(&t, "big@example.org", 1700000000, m, BIG_LEN,
			    &err) == 0 ? 0 : 1);
		usleep((useconds_t)(dur * 1e6 * (double)(rand_r(&seed) % 1000) / 1000.0));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		assert_false(lock_left());
		/* The guardian has cut the file before removing the lock. */
		sz = file_size(mpath);
		memset(count, 0, sizeof count);
		{
			int bad = tu_verify(mpath, count, 64, &n);

			/* The big message has no X-Id: one "bad" if present. */
			assert_int_equal(bad, n == 51 ? 1 : 0);
			for (n = 0; n < 50; n++)
				assert_int_equal(count[n], 1);
			n = (uint32_t)(bad + 50);
		}
		if (sz == base)
			none++;
		else {
			assert_int_equal(n, 51);
			assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
			assert_int_equal(sp_msg(mb, 50)->size, BIG_LEN);
			sp_close(&mb);
			whole++;
			assert_int_equal(truncate(mpath, base), 0);
		}
	}
	print_message("delivery of %u MB (%.0f ms) killed 16 times: %d left nothing, "
	    "%d the whole message, 0 a part\n", BIG_LEN >> 20, dur * 1e3, none, whole);
	free(m);
}

/*
 * Deterministic: a rewrite whose journal is complete but whose apply
 * fails (RLIMIT_FSIZE stops the file from growing) leaves the journal; the
 * next open must replay it, not discard it.
 */
static void
test_journal_replayed(void **state)
{
	char jp[600];
	struct stat st;
	off_t size;
	pid_t pid;
	int status;
	unsigned count[NMSG];
	uint32_t n, i;
	struct sp_mbox *mb;
	struct sp_err err;

	(void)state;
	static const char *const kws[] = {
		"a-rather-long-keyword-number-one", "a-rather-long-keyword-number-two",
		"a-rather-long-keyword-number-three", "a-rather-long-keyword-number-4",
	};
	uint32_t kwbits = 0;

	assert_int_equal(tu_write_mbox(mpath, 400), 0);
	/* UIDs and the keyword table persisted first (so the rewrite below
	 * starts in the middle: X-IMAPbase does not change). */
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	for (i = 0; i < 4; i++)
		kwbits |= 1u << sp_keyword_index(mb, kws[i], 1);
	sp_set_state(mb, 0, 0, kwbits);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	sp_close(&mb);
	size = file_size(mpath);
	snprintf(jp, sizeof jp, "%s/.user.journal", tdir);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl;

		if (sp_open(mpath, SP_RDWR, &mb, &err) == -1)
			_exit(2);
		/* The second half gets state blocks: the file grows past its
		 * size, the journal (half the file) does not reach it. */
		for (i = 200; i < 400; i++)
			sp_set_state(mb, i, SP_SEEN | SP_FLAGGED, kwbits);
		rl.rlim_cur = rl.rlim_max = (rlim_t)size;
		setrlimit(RLIMIT_FSIZE, &rl);
		signal(SIGXFSZ, SIG_IGN);
		_exit(sp_sync(mb, NULL, NULL, &err) == -1 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(jp, &st), 0);	/* left for recovery */
	assert_int_equal(file_size(mpath), size);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(lstat(jp, &st), -1);
	assert_int_equal(sp_count(mb), 400);
	for (i = 0; i < 400; i++)
		assert_int_equal(sp_msg(mb, i)->flags & (SP_SEEN | SP_FLAGGED),
		    i < 200 ? 0 : SP_SEEN | SP_FLAGGED);
	sp_close(&mb);
	assert_true(file_size(mpath) > size);
	memset(count, 0, sizeof count);
	assert_int_equal(tu_verify(mpath, count, NMSG, &n), 0);
	assert_int_equal(n, 400);
	for (i = 0; i < 400; i++)
		assert_int_equal(count[i], 1);
}

/* ---- recovery rules, from journals written here by hand ---------------- */

/* The journal's checksum (rewrite.c): 8-byte words, then single bytes. */
static uint64_t
jsum(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h ^= w;
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	while (n-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Write the journal of mailbox state "content C at P, old length OLD". */
static void
write_journal(const char *jp, uint64_t p, uint64_t old, const char *c,
    size_t clen, int phase, int torn)
{
	char h[72];
	uint64_t v[7];
	struct stat st;
	FILE *f;

	assert_int_equal(stat(mpath, &st), 0);
	memset(h, 0, sizeof h);
	memcpy(h, "SPJRNL01", 8);
	v[0] = (uint64_t)st.st_dev;
	v[1] = (uint64_t)st.st_ino;
	v[2] = p;
	v[3] = old;
	v[4] = clen;
	v[5] = jsum(c, clen) + (uint64_t)torn;
	memcpy(h + 8, v, 6 * 8);
	v[6] = jsum(h, 56);
	memcpy(h + 56, &v[6], 8);
	h[64] = (char)phase;
	f = fopen(jp, "wb");
	fwrite(h, 1, sizeof h, f);
	fwrite(c, 1, clen, f);
	fclose(f);
}

static void
put(const char *path, const char *a, size_t al, const char *b, size_t bl,
    const char *c, size_t cl)
{
	FILE *f = fopen(path, "wb");

	fwrite(a, 1, al, f);
	fwrite(b, 1, bl, f);
	fwrite(c, 1, cl, f);
	fclose(f);
}

/* Offset of message I in buffer B (the I-th separator). */
static size_t
msg_off(const char *b, size_t n, unsigned i)
{
	size_t pos = 0;

	while (i-- > 0) {
		const char *q = tu_find((char *)b + pos + 1, n - pos - 1, "\n\nFrom ");

		assert_non_null(q);
		pos = (size_t)(q - b) + 2;
	}
	return pos;
}

static void
test_recovery_rules(void **state)
{
	char jp[600], fbuf[8192], *o, *c, *want, *got;
	size_t ol, fl, p, p2, cl, wl, gl, k;
	struct sp_mbox *mb;
	struct sp_err err;
	int cs;

	(void)state;
	snprintf(jp, sizeof jp, "%s/.user.journal", tdir);
	assert_int_equal(tu_write_mbox(mpath, 100), 0);
	o = tf_slurp(mpath, &ol);
	assert_non_null(o);
	fl = tu_stored(NMSG, "foreign@example.org", fbuf);
	p = msg_off(o, ol, 10);
	p2 = msg_off(o, ol, 20);
	for (cs = 0; cs < 7; cs++) {
		int shrink = cs < 4, phase = 0, torn = 0, foreign = 1;
		size_t done = 0;	/* bytes of C already in the mailbox */

		/* Shrink: messages 10-19 deleted.  Grow: 10-19 repeated at
		 * the end. */
		if (shrink) {
			cl = ol - p2;
			c = malloc(cl);
			memcpy(c, o + p2, cl);
		} else {
			cl = ol - p + (p2 - p);
			c = malloc(cl);
			memcpy(c, o + p, ol - p);
			memcpy(c + (ol - p), o + p, p2 - p);
		}
		switch (cs) {
		case 0:	/* shrink: nothing applied yet */
			put(mpath, o, ol, fbuf, fl, "", 0);
			break;
		case 1:	/* shrink: applied and cut, phase 2 written */
			phase = 2;
			put(mpath, o, p, c, cl, fbuf, fl);
			break;
		case 2:	/* shrink: cut, killed before phase 2 */
			put(mpath, o, p, c, cl, fbuf, fl);
			break;
		case 3:	/* shrink: half copied, not cut; no foreign append */
			foreign = 0;
			done = cl / 2;
			{
				char *t = malloc(ol);

				memcpy(t, o, ol);
				memcpy(t + p, c, done);
				put(mpath, t, ol, "", 0, "", 0);
				free(t);
			}
			break;
		case 4:	/* grow: phase 1, extended, half copied */
			phase = 1;
			{
				size_t ne = p + cl;
				char *t = calloc(1, ne);

				memcpy(t, o, ol);
				memcpy(t + p, c, cl / 2);
				put(mpath, t, ne, fbuf, fl, "", 0);
				free(t);
			}
			break;
		case 5:	/* grow: phase 1 written, killed before the extension */
			phase = 1;
			put(mpath, o, ol, fbuf, fl, "", 0);
			break;
		case 6:	/* a torn journal: discarded, mailbox as it is */
			torn = 1;
			put(mpath, o, ol, "", 0, "", 0);
			break;
		}
		(void)done;
		write_journal(jp, p, ol, c, cl, phase, torn);
		assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
		sp_close(&mb);
		assert_int_equal(access(jp, F_OK), -1);
		if (torn) {
			wl = ol;
			want = malloc(wl);
			memcpy(want, o, ol);
		} else {
			wl = p + cl + (foreign ? fl : 0);
			want = malloc(wl);
			memcpy(want, o, p);
			memcpy(want + p, c, cl);
			if (foreign)
				memcpy(want + p + cl, fbuf, fl);
		}
		got = tf_slurp(mpath, &gl);
		assert_non_null(got);
		if (gl != wl || memcmp(got, want, wl) != 0) {
			for (k = 0; k < gl && k < wl && got[k] == want[k]; k++)
				;
			fail_msg("recovery case %d: %zu bytes, want %zu; first "
			    "difference at %zu", cs, gl, wl, k);
		}
		free(got);
		free(want);
		free(c);
	}
	free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_then_foreign_append,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_growing_rewrite, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_replayed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_during_apply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recovery_rules, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
