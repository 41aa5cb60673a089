/*
 * test_spool_basic.c - libspool storage: delivery round trips byte for
 * byte, served sizes, sp_lines, sync with deletions, UIDs and state.
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

#include "spool.h"
#include "spool_tu.h"

static char tdir[256];
static char mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "basic") == -1)
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
deliver(const char *msg, size_t len)
{
	struct sp_target t = { mpath, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;

	assert_int_equal(sp_deliver(&t, "sender@example.org", 1700000000, msg,
	    len, &err), 0);
}

/* The served form expected of a delivered message: CRLF everywhere, one
 * final line end added if missing. */
static char *
expect_served(const char *msg, size_t len, size_t *out)
{
	char *o = malloc(len * 2 + 3);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			o[n++] = '\r';
		o[n++] = msg[i];
	}
	if (len == 0 || msg[len - 1] != '\n') {
		o[n++] = '\r';
		o[n++] = '\n';
	}
	*out = n;
	return o;
}

struct linecat {
	char *buf;
	size_t len, cap;
};

static int
cat_line(void *ctx, const char *line, size_t len, int in_body)
{
	struct linecat *c = ctx;

	(void)in_body;
	if (c->len + len + 2 > c->cap) {
		c->cap = (c->len + len + 2) * 2;
		c->buf = realloc(c->buf, c->cap);
	}
	memcpy(c->buf + c->len, line, len);
	memcpy(c->buf + c->len + len, "\r\n", 2);
	c->len += len + 2;
	return 0;
}

static void
check_served(struct sp_mbox *mb, uint32_t i, const char *msg, size_t len)
{
	struct sp_err err;
	struct linecat c = { NULL, 0, 0 };
	char *buf, *exp;
	size_t blen, elen;

	exp = expect_served(msg, len, &elen);
	assert_int_equal(sp_served(mb, i, SP_PART_ALL, &buf, &blen, &err), 0);
	assert_int_equal(blen, elen);
	assert_memory_equal(buf, exp, elen);
	assert_int_equal(sp_msg(mb, i)->size, elen);
	assert_int_equal(sp_lines(mb, i, SP_PART_ALL, cat_line, &c, &err), 0);
	assert_int_equal(c.len, elen);
	assert_memory_equal(c.buf, exp, elen);
	free(c.buf);
	free(buf);
	free(exp);
}

static const char *const samples[] = {
	"Subject: plain\r\n\r\nHello\r\n",
	"Subject: froms\r\n\r\nFrom me to you\r\n>From quoted\r\n>>From twice\r\nx\r\n\r\nFrom Mon Jan  1 00:00:00 2024\r\n",
	"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n",
	"Subject: lf only\n\nbody with LF\nlines\n",
	"Subject: empty body\r\n\r\n",
	"Subject: no final newline\r\n\r\nlast line",
	"Subject: trailing blank lines\r\n\r\nx\r\n\r\n\r\n",
	"Subject: state\r\nStatus: RO\r\nX-UID: 99\r\nX-Keywords: forged\r\n\r\nbody\r\n",
};

static void
test_round_trip(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	size_t i, n = sizeof samples / sizeof samples[0];
	static const char bin[] = "Subject: bin\r\n\r\n\x00\x01\xff\x80 8bit\r\nNUL\x00here\r\n";
	const char *exp_state = "Subject: state\r\n\r\nbody\r\n";

	(void)state;
	for (i = 0; i < n; i++)
		deliver(samples[i], strlen(samples[i]));
	deliver(bin, sizeof bin - 1);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), n + 1);
	for (i = 0; i + 1 < n; i++)
		check_served(mb, (uint32_t)i, samples[i], strlen(samples[i]));
	check_served(mb, (uint32_t)(n - 1), exp_state, strlen(exp_state));
	check_served(mb, (uint32_t)n, bin, sizeof bin - 1);
	/* Line counts of the body. */
	assert_int_equal(sp_msg(mb, 0)->body_lines, 1);
	assert_int_equal(sp_msg(mb, 1)->body_lines, 6);
	assert_int_equal(sp_msg(mb, 4)->body_lines, 0);
	sp_close(&mb);
}

static void
test_big(void **state)
{
	size_t len = 10 * 1024 * 1024, i;
	char *m = malloc(len + 200000);
	size_t n = 0;
	struct sp_mbox *mb;
	struct sp_err err;

	(void)state;
	n += (size_t)sprintf(m, "Subject: big\r\n\r\n");
	/* a 100 kB line */
	for (i = 0; i < 100000; i++)
		m[n++] = 'a' + (char)(i % 26);
	m[n++] = '\r';
	m[n++] = '\n';
	while (n < len) {
		n += (size_t)sprintf(m + n, "%s line %zu of the big one\r\n",
		    n % 7 == 0 ? "From" : n % 5 == 0 ? ">From" : "text", n);
	}
	deliver(m, n);
	deliver(samples[0], strlen(samples[0]));
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 2);
	check_served(mb, 0, m, n);
	check_served(mb, 1, samples[0], strlen(samples[0]));
	sp_close(&mb);
	free(m);
}

static void
test_sync_delete(void **state)
{
	struct sp_mbox *mb;
	struct sp_err err;
	char msg[256];
	uint32_t i, *exp, nexp, uv, uids[40];

	(void)state;
	for (i = 0; i < 40; i++) {
		int n = snprintf(msg, sizeof msg, "Subject: m%u\r\n\r\nbody %u\r\n", i, i);

		deliver(msg, (size_t)n);
	}
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 40);
	uv = sp_uidvalidity(mb);
	for (i = 0; i < 40; i++) {
		uids[i] = sp_msg(mb, i)->uid;
		assert_int_equal(uids[i], i + 1);
		if (i % 2 == 0)
			sp_set_state(mb, i, sp_msg(mb, i)->flags | SP_EXPUNGE, 0);
		else if (i % 3 == 0)
			sp_set_state(mb, i, sp_msg(mb, i)->flags | SP_SEEN | SP_FLAGGED, 0);
	}
	assert_int_equal(sp_sync(mb, &exp, &nexp, &err), 0);
	assert_int_equal(nexp, 20);
	for (i = 0; i < 20; i++)
		assert_int_equal(exp[i], 2 * i);
	free(exp);
	assert_int_equal(sp_count(mb), 20);
	sp_close(&mb);
	assert_int_equal(sp_open(mpath, SP_RDWR, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 20);
	assert_int_equal(sp_uidvalidity(mb), uv);
	assert_int_equal(sp_uidnext(mb), 41);
	for (i = 0; i < 20; i++) {
		const struct sp_msg *m = sp_msg(mb, i);
		uint32_t k = 2 * i + 1;
		char *buf;
		size_t blen;
		int n = snprintf(msg, sizeof msg, "Subject: m%u\r\n\r\nbody %u\r\n", k, k);

		assert_int_equal(m->uid, k + 1);
		assert_int_equal(!!(m->flags & SP_SEEN), k % 3 == 0);
		assert_int_equal(!!(m->flags & SP_FLAGGED), k % 3 == 0);
		assert_int_equal(m->flags & SP_RECENT, 0);
		assert_int_equal(sp_served(mb, i, SP_PART_ALL, &buf, &blen, &err), 0);
		assert_int_equal(blen, (size_t)n);
		assert_memory_equal(buf, msg, (size_t)n);
		free(buf);
	}
	/* Delete the first: X-IMAPbase moves, UIDs stay. */
	sp_set_state(mb, 0, SP_EXPUNGE, 0);
	assert_int_equal(sp_sync(mb, NULL, NULL, &err), 0);
	sp_close(&mb);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), 19);
	assert_int_equal(sp_uidvalidity(mb), uv);
	assert_int_equal(sp_uidnext(mb), 41);
	assert_int_equal(sp_msg(mb, 0)->uid, 4);
	sp_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_delete, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
