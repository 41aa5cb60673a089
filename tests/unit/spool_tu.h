/*
 * spool_tu.h - helpers shared by the storage tests (tests/unit/test_spool_*.c):
 * a scratch directory, deterministic messages that can be checked byte for
 * byte, and a verifier that counts every message of a mailbox.
 */
#ifndef SPOOL_TU_H
#define SPOOL_TU_H

#include <sys/stat.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

static inline char *
tu_find(char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	return NULL;
}

/* Seconds on the monotonic clock. */
static inline double
tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int
tu_mkdir(char *buf, size_t cap, const char *tag)
{
	snprintf(buf, cap, "/tmp/sp%s.XXXXXX", tag);
	return mkdtemp(buf) == NULL ? -1 : 0;
}

static inline int
tu_rmdir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Message ID: CRLF lines, with From_ lines and quoted ones, of a length
 * that depends on ID.  Returns its length (BUF must hold 4096). */
static inline size_t
tu_message(unsigned id, char *buf)
{
	size_t n = 0;
	unsigned i, lines = 1 + id % 13;

	n += (size_t)sprintf(buf + n, "From: a%u@example.org\r\nSubject: message %u\r\n"
	    "X-Id: %u\r\n\r\n", id % 17, id, id);
	for (i = 0; i < lines; i++) {
		switch ((id + i) % 5) {
		case 0:
			n += (size_t)sprintf(buf + n, "From here on, line %u of %u\r\n", i, id);
			break;
		case 1:
			n += (size_t)sprintf(buf + n, ">From quoted %u\r\n", id * 7 + i);
			break;
		case 2:
			n += (size_t)sprintf(buf + n, "\r\n");
			break;
		default:
			n += (size_t)sprintf(buf + n, "text %u %u lorem ipsum dolor\r\n", id, i);
		}
	}
	n += (size_t)sprintf(buf + n, "end of %u\r\n", id);
	return n;
}

/*
 * Count the messages of PATH by X-Id into COUNT[0..MAXID) and check each
 * byte for byte against tu_message.  Returns the number of bad messages
 * (wrong bytes, unknown id), or -1 if the mailbox cannot be opened.
 */
static inline int
tu_verify(const char *path, unsigned *count, unsigned maxid, uint32_t *n_r)
{
	struct sp_mbox *mb;
	struct sp_err err;
	uint32_t i, n;
	int bad = 0;

	if (sp_open(path, SP_RDONLY, &mb, &err) == -1) {
		fprintf(stderr, "tu_verify: %s\n", err.msg);
		return -1;
	}
	n = sp_count(mb);
	for (i = 0; i < n; i++) {
		char *buf, exp[4096], *id;
		size_t len, elen;
		unsigned v;

		if (sp_served(mb, i, SP_PART_ALL, &buf, &len, &err) == -1) {
			fprintf(stderr, "tu_verify: %s\n", err.msg);
			bad++;
			continue;
		}
		id = tu_find(buf, len < 512 ? len : 512, "\r\nX-Id: ");
		if (id == NULL || sscanf(id + 8, "%u", &v) != 1 || v >= maxid) {
			fprintf(stderr, "tu_verify: message %u has no id\n", i);
			bad++;
		} else {
			elen = tu_message(v, exp);
			if (elen != len || memcmp(exp, buf, len) != 0) {
				fprintf(stderr, "tu_verify: message %u (id %u) differs\n", i, v);
				bad++;
			} else
				count[v]++;
		}
		free(buf);
	}
	sp_close(&mb);
	if (n_r != NULL)
		*n_r = n;
	return bad;
}

/* Message ID as stored by another program (mboxrd, LF, blank line after),
 * with From_ line SENDER.  OUT must hold 8192.  Returns its length. */
static inline size_t
tu_stored(unsigned id, const char *sender, char *out)
{
	char m[4096], *p, *e;
	size_t len = tu_message(id, m), k;

	k = (size_t)sprintf(out, "From %s Mon Jan  1 00:00:%02u 2024\n", sender, id % 60);
	for (p = m; p < m + len; p = e + 1) {
		const char *q = p;

		e = memchr(p, '\n', (size_t)(m + len - p));
		while (*q == '>')
			q++;
		if (strncmp(q, "From ", 5) == 0)
			out[k++] = '>';
		memcpy(out + k, p, (size_t)(e - p - 1));
		k += (size_t)(e - p - 1);
		out[k++] = '\n';
	}
	out[k++] = '\n';
	return k;
}

/* Write a mailbox of N messages 0..N-1 directly (no library), mboxrd. */
static inline int
tu_write_mbox(const char *path, unsigned n)
{
	FILE *f = fopen(path, "w");
	unsigned id;

	if (f == NULL)
		return -1;
	for (id = 0; id < n; id++) {
		char m[4096], *p, *e;
		size_t len = tu_message(id, m);

		fprintf(f, "From sender%u@example.org Mon Jan  1 00:00:%02u 2024\n", id, id % 60);
		for (p = m; p < m + len; p = e + 1) {
			const char *q = p;

			e = memchr(p, '\n', (size_t)(m + len - p));
			while (*q == '>')
				q++;
			if (strncmp(q, "From ", 5) == 0)
				fputc('>', f);
			fwrite(p, 1, (size_t)(e - p - 1), f);
			fputc('\n', f);
		}
		fputc('\n', f);
	}
	return fclose(f);
}

#endif
