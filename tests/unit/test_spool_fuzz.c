/*
 * test_spool_fuzz.c - random mailboxes made of the bytes that matter to
 * the parser (LF, CR, "From ", '>', state header names, separators with and
 * without blank lines) must index without error under ASan, serve exactly
 * sp_msg()->size bytes, and survive random syncs (flags, keywords,
 * expunges): every kept message serves the same bytes afterwards and keeps
 * its UID, and nothing else changes.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool_tu.h"

#define ROUNDS		150	/* random mailboxes per run */
#define MAXMSG		512

static char tdir[256], mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "fuzz") == -1)
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

static unsigned long
rnd(unsigned long *s)
{
	*s = *s * 6364136223846793005ul + 1442695040888963407ul;
	return *s >> 33;
}

static const char *const pieces[] = {
	"\n", "\n", "\n", "\r\n", "\r", "From ", ">From ", ">>From x\n", "From",
	"text ", "more text ", ">", "\n\n", "Status: RO\n", "X-Status: AF\n",
	"X-Keywords: a b c\n", "X-UID: 7\n", "X-UID: 99999\n", "Content-Length: 3\n",
	"X-IMAPbase: 123 0000000050 kw\n", "Subject: hi\n", " folded\n",
	"\nFrom z Mon Jan  1 00:00:00 2024\n", "\n\nFrom y Tue Feb  2 01:02:03 2010\n",
	"\r\n\r\nFrom c Wed Mar  3 00:00 2020\r\n", "From nodate\n", "\0", "\xff",
};

static size_t
gen(char *b, size_t cap, unsigned long *s)
{
	size_t n = 0;
	unsigned k, parts = 50 + (unsigned)(rnd(s) % 3000);

	n += (size_t)sprintf(b, "From first Mon Jan  1 00:00:00 2024\n");
	for (k = 0; k < parts && n + 64 < cap; k++) {
		const char *p = pieces[rnd(s) % (sizeof pieces / sizeof pieces[0])];
		size_t l = p[0] == '\0' ? 1 : strlen(p);

		memcpy(b + n, p, l);
		n += l;
	}
	if (rnd(s) % 2)
		b[n++] = '\n';
	return n;
}

struct snap {
	uint32_t uid;
	char *data;
	size_t len;
};

static void
one_round(unsigned long seed)
{
	static char buf[1 << 20];
	static struct snap before[MAXMSG];
	unsigned long s = seed;
	size_t len = gen(buf, sizeof buf, &s);
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i, n, nb = 0, *exp = NULL, nexp = 0, k;
	FILE *f = fopen(mpath, "wb");

	fwrite(buf, 1, len, f);
	fclose(f);
	if (sp_open(mpath, SP_RDWR, &mb, &err) == -1)
		fail_msg("seed %lu: open: %s", seed, err.msg);
	n = sp_count(mb);
	assert_true(n >= 1 && n < MAXMSG);
	for (i = 0; i < n; i++) {
		const struct sp_msg *m = sp_msg(mb, i);
		char *d, *h, from[64];
		size_t dl, hl;

		if (sp_served(mb, i, SP_PART_ALL, &d, &dl, &err) == -1)
			fail_msg("seed %lu msg %u: %s", seed, i, err.msg);
		if (dl != m->size)
			fail_msg("seed %lu msg %u: served %zu, size %llu", seed, i, dl,
			    (unsigned long long)m->size);
		assert_int_equal(sp_served(mb, i, SP_PART_HEADER, &h, &hl, &err), 0);
		assert_int_equal(hl, m->hdr_size);
		assert_memory_equal(h, d, hl);
		free(h);
		assert_int_equal(sp_envelope_from(mb, i, from, sizeof from, &err), 0);
		before[nb].uid = m->uid;
		before[nb].data = d;
		before[nb].len = dl;
		nb++;
		if (i > 0)
			assert_true(m->uid > sp_msg(mb, i - 1)->uid);
		/* Random state: expunge a third, flags and keywords on others. */
		switch (rnd(&s) % 3) {
		case 0:
			sp_set_state(mb, i, SP_EXPUNGE, 0);
			break;
		case 1:
			sp_set_state(mb, i, (uint32_t)(rnd(&s) % 32),
			    1u << sp_keyword_index(mb, rnd(&s) % 2 ? "$Junk" : "Work", 1));
			break;
		default:
			break;
		}
	}
	if (sp_sync(mb, &exp, &nexp, &err) == -1)
		fail_msg("seed %lu: sync: %s", seed, err.msg);
	sp_close(&mb);
	/* Reopen: the kept ones, same UIDs, same served bytes, in order. */
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), nb - nexp);
	for (i = 0, k = 0; i < nb; i++) {
		const struct sp_msg *m;
		char *d;
		size_t dl;

		if (k < nexp && exp[k] == i) {
			k++;
			continue;
		}
		m = sp_msg(mb, i - k);
		if (m->uid != before[i].uid)
			fail_msg("seed %lu: message %u: uid %u, was %u", seed, i,
			    m->uid, before[i].uid);
		assert_int_equal(sp_served(mb, i - k, SP_PART_ALL, &d, &dl, &err), 0);
		if (dl != before[i].len || memcmp(d, before[i].data, dl) != 0)
			fail_msg("seed %lu: message %u (uid %u) served differently after "
			    "sync (%zu vs %zu bytes)", seed, i, m->uid, dl, before[i].len);
		free(d);
	}
	sp_close(&mb);
	for (i = 0; i < nb; i++)
		free(before[i].data);
	free(exp);
}

/* Appends of random text (another program, possibly half done) seen by
 * sp_refresh must index exactly as a fresh sp_open does. */
static void
refresh_round(unsigned long seed)
{
	static char buf[1 << 20];
	unsigned long s = seed;
	size_t len = gen(buf, sizeof buf, &s), cut;
	struct sp_mbox *a, *b;
	struct sp_err err;
	uint32_t i, step;
	FILE *f;

	/* First part of the text, then the rest in two more pieces. */
	cut = len / 3;
	f = fopen(mpath, "wb");
	fwrite(buf, 1, cut, f);
	fclose(f);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &a, &err), 0);
	for (step = 0; step < 2; step++) {
		size_t to = step == 0 ? 2 * len / 3 : len;

		f = fopen(mpath, "ab");
		fwrite(buf + cut, 1, to - cut, f);
		fclose(f);
		cut = to;
		assert_true(sp_refresh(a, &err) >= 0);
		assert_int_equal(sp_open(mpath, SP_RDONLY, &b, &err), 0);
		if (sp_count(a) != sp_count(b))
			fail_msg("seed %lu: refresh %u messages, open %u", seed,
			    sp_count(a), sp_count(b));
		for (i = 0; i < sp_count(a); i++) {
			const struct sp_msg *x = sp_msg(a, i), *y = sp_msg(b, i);

			if (x->from_off != y->from_off || x->body_off != y->body_off ||
			    x->end_off != y->end_off || x->size != y->size ||
			    x->hdr_size != y->hdr_size || x->body_lines != y->body_lines ||
			    x->uid != y->uid || x->flags != y->flags)
				fail_msg("seed %lu step %u: message %u of %u differs after "
				    "refresh: from %lld/%lld body %lld/%lld end %lld/%lld "
				    "size %llu/%llu uid %u/%u flags %x/%x", seed, step, i,
				    sp_count(a), (long long)x->from_off, (long long)y->from_off,
				    (long long)x->body_off, (long long)y->body_off,
				    (long long)x->end_off, (long long)y->end_off,
				    (unsigned long long)x->size, (unsigned long long)y->size,
				    x->uid, y->uid, x->flags, y->flags);
		}
		assert_int_equal(sp_uidnext(a), sp_uidnext(b));
		sp_close(&b);
	}
	sp_close(&a);
}

static const char *const mpieces[] = {
	"\r\n", "\r\n", "\n", "\r", "From ", ">From ", ">>From ", ">", "text",
	" more", "Status: RO\r\n", "X-UID: 5\r\n", "X-Keywords: x\n",
	"Content-Length: 1\r\n", " cont\r\n", "\t", ".", "..\r\n", "\0", "\xff",
	"\r\n\r\n", "Subject: s\r\n", "\r\r\n",
};

/* What serving a delivered message must give (the spool.h rules). */
static size_t
expect_served(const char *m, size_t len, char *out)
{
	size_t pos = 0, o = 0;
	int in_hdr = 1, skip = 0;

	while (pos < len) {
		const char *nl = memchr(m + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (m + pos)) : len - pos;
		const char *p = m + pos;

		pos += n + (nl != NULL);
		if (in_hdr && (n == 0 || (n == 1 && p[0] == '\r'))) {
			in_hdr = 0;
			memcpy(out + o, "\r\n", 2);
			o += 2;
			continue;
		}
		if (in_hdr) {
			static const char *const st[] = { SP_STATE_HEADERS };
			size_t i, k;

			if (p[0] != ' ' && p[0] != '\t') {
				skip = 0;
				for (i = 0; i < sizeof st / sizeof st[0]; i++) {
					k = strlen(st[i]);
					if (n > k && p[k] == ':' &&
					    strncasecmp(p, st[i], k) == 0)
						skip = 1;
				}
			}
			if (skip)
				continue;
		}
		if (n > 0 && p[n - 1] == '\r')
			n--;		/* its CR LF (or a final CR) */
		memcpy(out + o, p, n);
		o += n;
		memcpy(out + o, "\r\n", 2);
		o += 2;
	}
	if (in_hdr) {
		memcpy(out + o, "\r\n", 2);
		o += 2;
	}
	return o;
}

static void
test_fuzz_deliver(void **state)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	static char m[300][4096], exp[8192];
	static size_t ml[300];
	unsigned long s = 99991;
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i;

	(void)state;
	for (i = 0; i < 300; i++) {
		unsigned k, parts = 1 + (unsigned)(rnd(&s) % 60);
		size_t n = 0;

		for (k = 0; k < parts; k++) {
			const char *p = mpieces[rnd(&s) % (sizeof mpieces / sizeof mpieces[0])];
			size_t l = p[0] == '\0' ? 1 : strlen(p);

			memcpy(m[i] + n, p, l);
			n += l;
		}
		ml[i] = n;
		assert_int_equal(sp_deliver(&t, "fuzz@example.org", 1700000000, m[i], n,
		    &err), 0);
	}
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 300);
	for (i = 0; i < 300; i++) {
		size_t el = expect_served(m[i], ml[i], exp), dl;
		char *d;

		assert_int_equal(sp_served(mb, i, SP_PART_ALL, &d, &dl, &err), 0);
		if (dl != el || memcmp(d, exp, el) != 0)
			fail_msg("delivered message %u served differently (%zu vs %zu "
			    "bytes expected)", i, dl, el);
		free(d);
	}
	sp_close(&mb);
}

static void
test_fuzz(void **state)
{
	unsigned long r, rounds = ROUNDS, base = 7919;
	const char *e;

	(void)state;
	/* FUZZ_ROUNDS / FUZZ_SEED: longer campaigns by hand. */
	if ((e = getenv("FUZZ_ROUNDS")) != NULL)
		rounds = strtoul(e, NULL, 10);
	if ((e = getenv("FUZZ_SEED")) != NULL)
		base = strtoul(e, NULL, 10);
	for (r = 1; r <= rounds; r++) {
		one_round(r * base);
		refresh_round(r * base + 1);
	}
	print_message("%lu random mailboxes: served sizes exact, syncs kept every "
	    "other message byte for byte, refresh equals a fresh open\n", rounds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_deliver, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
