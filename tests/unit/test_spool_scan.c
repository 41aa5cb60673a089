/*
 * test_spool_scan.c - the index against a naive reference: a 24 MiB
 * mailbox of random messages (CRLF and LF lines, quoted and unquoted From
 * lines, long lines, messages larger than the mapping window, no final
 * newline) is indexed by sp_open and parsed line by line here; every
 * offset, size and line count must agree, and served bytes must match.
 * Then the parallel scan: the same mailboxes, and one whose keywords first
 * appear late in the file (more than the table holds), cut into 2 to 8
 * segments, must give exactly the index of the one-thread scan.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>
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
#include "spool_int.h"
#include "spool_tu_index.h"

#define FILE_BYTES	(24u << 20)	/* three mapping windows */

static char tdir[256], mpath[512];

static int
setup(void **state)
{
	(void)state;
	if (tu_mkdir(tdir, sizeof tdir, "scan") == -1)
		return -1;
	snprintf(mpath, sizeof mpath, "%s/user", tdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (getenv("KEEP")) return 0;
	return tu_rmdir(tdir);
}

static unsigned long
rnd(unsigned long *s)
{
	*s = *s * 6364136223846793005ul + 1442695040888963407ul;
	return *s >> 33;
}

/* Random mailbox text: returns the buffer, *len its size. */
static char *
gen(size_t *len, unsigned long seed)
{
	size_t cap = FILE_BYTES + (4u << 20), n = 0;
	char *b = malloc(cap);
	unsigned long s = seed;
	unsigned id = 0;

	while (n < FILE_BYTES) {
		unsigned lines, i, kind = (unsigned)(rnd(&s) % 100);
		int crlf = rnd(&s) % 4 == 0;
		const char *eol = crlf ? "\r\n" : "\n";

		n += (size_t)sprintf(b + n, "From gen%u@example.org Mon Jan  1 00:00:00 2024\n", id++);
		n += (size_t)sprintf(b + n, "Subject: %u%s", id, eol);
		if (rnd(&s) % 3 == 0)
			n += (size_t)sprintf(b + n, "Status: RO%sX-UID: %u%s", eol, id, eol);
		if (rnd(&s) % 5 == 0)
			n += (size_t)sprintf(b + n, ">From a header%s", eol);
		n += (size_t)sprintf(b + n, "X-Long: folded%s\tcontinued%s%s", eol, eol, eol);
		lines = kind < 1 ? 3000 + (unsigned)(rnd(&s) % 100000) :
		    (unsigned)(rnd(&s) % 60);
		for (i = 0; i < lines && n < cap - (200u << 10); i++) {
			unsigned r = (unsigned)(rnd(&s) % 100);

			if (r < 5)
				n += (size_t)sprintf(b + n, ">From quoted%s", eol);
			else if (r < 7)
				n += (size_t)sprintf(b + n, ">>>From deeper%s", eol);
			else if (r < 9)
				n += (size_t)sprintf(b + n, "From unquoted, no blank before%s", eol);
			else if (r < 14)
				n += (size_t)sprintf(b + n, "%s", eol);
			else if (r < 15 && rnd(&s) % 40 == 0) {
				size_t k = 1000 + rnd(&s) % 120000;

				memset(b + n, 'L', k);
				n += k;
				n += (size_t)sprintf(b + n, "%s", eol);
			} else if (r < 16)
				n += (size_t)sprintf(b + n, "F%s>%s", eol, eol);
			else
				n += (size_t)sprintf(b + n, "line %u of %u with text%s", i, id, eol);
			/* A blank line then "From " that is no separator. */
			if (r == 99)
				n += (size_t)sprintf(b + n, "%sFrom nobody%s", eol, eol);
		}
		if (rnd(&s) % 7 == 0)
			n += (size_t)sprintf(b + n, "%s", eol);	/* ends in a blank */
		b[n++] = '\n';
	}
	/* The last message without its blank line and final newline. */
	n += (size_t)sprintf(b + n, "From gen%u@example.org Mon Jan  1 00:00:00 2024\nSubject: last\n\nno newline", id);
	*len = n;
	return b;
}

struct ref {
	size_t from, hdr, body, end;
	uint64_t size, hdr_size;
	uint32_t lines;
};

static int
is_state(const char *p, size_t n)
{
	static const char *const names[] = { SP_STATE_HEADERS };
	size_t i, k;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		k = strlen(names[i]);
		if (n > k && p[k] == ':' && strncasecmp(p, names[i], k) == 0)
			return 1;
	}
	return 0;
}

static int
quoted(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == '>')
		i++;
	return i > 0 && n - i >= 5 && memcmp(p + i, "From ", 5) == 0;
}

/* Served length of the line [p, p+n) (n without LF; HAS_LF). */
static uint64_t
served_line(const char *p, size_t n, int has_lf)
{
	if (has_lf && n > 0 && p[n - 1] == '\r')
		n--;
	return n - (size_t)quoted(p, n) + 2;
}

/* The reference: line by line, byte at a time where it is simplest. */
static size_t
reference(const char *b, size_t len, struct ref *r, size_t max)
{
	size_t pos = 0, nm = 0;

	while (pos < len && nm < max) {
		struct ref *m = &r[nm++];
		size_t e, next;
		int in_state = 0;

		memset(m, 0, sizeof *m);
		m->from = pos;
		pos = (size_t)((const char *)memchr(b + pos, '\n', len - pos) - b) + 1;
		m->hdr = pos;
		for (;;) {
			const char *nl = memchr(b + pos, '\n', len - pos);
			size_t n = nl ? (size_t)(nl - (b + pos)) : len - pos;

			if (n == 0 || (n == 1 && b[pos] == '\r')) {
				m->hdr_size += 2;
				pos += n + 1;
				break;
			}
			if (b[pos] != ' ' && b[pos] != '\t')
				in_state = is_state(b + pos, n);
			if (!in_state)
				m->hdr_size += served_line(b + pos, n, nl != NULL);
			pos += n + 1;
		}
		m->body = pos;
		/* The next separator: "\nFrom gen" after a blank line. */
		next = len;
		for (e = pos; e + 9 < len; e++) {
			if (b[e] == '\n' && memcmp(b + e + 1, "From gen", 8) == 0 &&
			    e > 0 && b[e - 1] == '\n') {
				next = e + 1;
				break;
			}
		}
		m->end = next == len ? len : next - 1;
		if (next == len && len - pos >= 1 && b[len - 1] == '\n' &&
		    len >= 2 && b[len - 2] == '\n')
			m->end = len - 1;
		m->size = m->hdr_size;
		for (e = m->body; e < m->end;) {
			const char *nl = memchr(b + e, '\n', m->end - e);
			size_t n = nl ? (size_t)(nl - (b + e)) : m->end - e;

			m->size += served_line(b + e, n, nl != NULL);
			m->lines++;
			e += n + 1;
		}
		pos = next;
	}
	return nm;
}

static void
check_seed(unsigned long seed)
{
	struct sp_mbox *mb;
	struct sp_err err;
	struct ref *r;
	size_t len, nr, i;
	char *b = gen(&len, seed);
	FILE *f = fopen(mpath, "wb");

	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	r = calloc(200000, sizeof *r);
	nr = reference(b, len, r, 200000);
	assert_int_equal(sp_open(mpath, SP_RDONLY, &mb, &err), 0);
	assert_int_equal(sp_count(mb), nr);
	for (i = 0; i < nr; i++) {
		const struct sp_msg *m = sp_msg(mb, (uint32_t)i);

		if ((size_t)m->from_off != r[i].from || (size_t)m->hdr_off != r[i].hdr ||
		    (size_t)m->body_off != r[i].body || (size_t)m->end_off != r[i].end ||
		    m->size != r[i].size || m->hdr_size != r[i].hdr_size ||
		    m->body_lines != r[i].lines)
			fail_msg("message %zu: from %lld/%zu hdr %lld/%zu body %lld/%zu "
			    "end %lld/%zu size %llu/%llu hdr %llu/%llu lines %u/%u", i,
			    (long long)m->from_off, r[i].from, (long long)m->hdr_off,
			    r[i].hdr, (long long)m->body_off, r[i].body,
			    (long long)m->end_off, r[i].end,
			    (unsigned long long)m->size, (unsigned long long)r[i].size,
			    (unsigned long long)m->hdr_size,
			    (unsigned long long)r[i].hdr_size, m->body_lines, r[i].lines);
		if (i % 37 == 0 || i + 1 == nr) {
			char *buf;
			size_t blen;

			assert_int_equal(sp_served(mb, (uint32_t)i, SP_PART_ALL, &buf,
			    &blen, &err), 0);
			assert_int_equal(blen, r[i].size);
			free(buf);
		}
	}
	print_message("seed %lu: %zu messages, %zu bytes: index equals the reference\n",
	    seed, nr, len);
	sp_close(&mb);
	free(r);
	free(b);
}

static void
test_against_reference(void **state)
{
	(void)state;
	check_seed(12345);
	check_seed(777);
	check_seed(4242);
}

/* ---- the parallel scan gives the one-thread index -------------------------------------- */

static void
index_file(const char *path, unsigned segments, struct sp_index *ix)
{
	struct sp_err err;
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	memset(ix, 0, sizeof *ix);
	ix->base_next_off = -1;
	if (sp_scan_split(fd, 0, st.st_size, ix, &err, segments) != 0)
		fail_msg("%u segments: %s", segments, err.msg);
	close(fd);
}

static void
check_split(const char *path)
{
	struct sp_index one, many;
	unsigned n;

	index_file(path, 1, &one);
	for (n = 2; n <= SP_SCAN_THREADS_MAX; n++) {
		index_file(path, n, &many);
		if (one.n != many.n)
			fail_msg("%u segments: %u messages, one thread %u", n,
			    many.n, one.n);
		tu_assert_same_index(&one, &many);
		sp_index_free(&many);
	}
	print_message("%s: %u messages, %u keywords: the same index in 1 to %u "
	    "segments\n", path, one.n, one.nkw, SP_SCAN_THREADS_MAX);
	sp_index_free(&one);
}

static void
test_split_random(void **state)
{
	size_t len;
	char *b = gen(&len, 999);
	FILE *f = fopen(mpath, "wb");

	(void)state;
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
	check_split(mpath);
}

/* Keywords named first late in the file, 40 names for a table of 32; an
 * X-IMAPbase in the first message; empty headers and bodies; separators
 * back to back. */
static void
test_split_keywords(void **state)
{
	FILE *f = fopen(mpath, "wb");
	unsigned i;

	(void)state;
	fprintf(f, "From a@b Mon Jan  1 00:00:00 2024\nX-IMAPbase: 1700000000 "
	    "0000004000 base1 base2\nSubject: first\n\nbody\n\n");
	for (i = 1; i < 4000; i++) {
		fprintf(f, "From s%u@b Tue Jan  2 00:00:%02u 2024\n", i, i % 60);
		if (i % 97 == 0) {		/* no header, no body */
			fprintf(f, "\n");
			continue;
		}
		fprintf(f, "Subject: %u\nX-UID: %u\n", i, i % 500 == 0 ? 1 : i + 1);
		if (i % 3 == 0)
			fprintf(f, "X-Keywords: k%u k%u\n", (i * 7 / 97) % 40, i % 40 >= 39 ?
			    39 : i / 100);
		if (i % 5 == 0)
			fprintf(f, "Status: RO\nX-Status: AF\n");
		fprintf(f, "\nline one\n%sFrom nobody here\n>From quoted\n\n",
		    i % 11 == 0 ? "\n" : "");
	}
	fclose(f);
	check_split(mpath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_against_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_keywords, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
