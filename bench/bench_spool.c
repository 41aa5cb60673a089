/*
 * bench_spool.c - libspool storage figures, each beside a baseline
 * measured in the same run:
 *   index build of a 1 GiB mbox of ~100k messages (sp_open) against a
 *   naive line-by-line getline() scan and against bare memchr over a
 *   mapping; peak RSS of each (measured in a child of its own);
 *   appends per second with fsync (sp_deliver) against a bare
 *   open/write/fsync/close append without any locking.
 * Data under $BENCH_DIR (default build/bench); the 1 GiB file is kept for
 * the next run.  Figures are with a warm page cache (the file is read
 * once before timing).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#define BENCH_BYTES	((long long)1 << 30)	/* the brief's 1 GiB */
#define BENCH_APPENDS	300

/* Keeps the baseline's counts alive. */
static volatile unsigned long bench_sink;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long
rnd(unsigned long *s)
{
	*s = *s * 6364136223846793005ul + 1442695040888963407ul;
	return *s >> 33;
}

static const char *const words[] = {
	"the", "mail", "server", "message", "From", "spool", "lock", "index",
	"student", "protocol", "delivery", "reply", "quoted", "text", "of",
	"and", "to", "a", "in", "is", "that", "for", "it", "with", "as", "on",
	"be", "at", "by", "this", "had", "not", "are", "but", "from", "or",
};

/* About 10 KiB per message: headers of a real mail, text lines, quoted
 * replies, now and then a "From " line in the body (stored as >From). */
static size_t
gen_message(char *b, unsigned long id, unsigned long *s)
{
	size_t n = 0;
	unsigned lines = 60 + (unsigned)(rnd(s) % 180), i, w;

	n += (size_t)sprintf(b + n, "From sender%lu@example.org Mon Jan  1 %02lu:%02lu:%02lu 2024\n",
	    id % 997, id / 3600 % 24, id / 60 % 60, id % 60);
	n += (size_t)sprintf(b + n,
	    "Return-Path: <sender%lu@example.org>\n"
	    "Received: from mx.example.org (mx.example.org [192.0.2.1])\n"
	    "\tby host.example.net (Postfix) with ESMTP id %lX\n"
	    "\tfor <etudiant@example.net>; Mon, 1 Jan 2024 10:00:00 +0000\n"
	    "Message-ID: <%lu.%lu@example.org>\n"
	    "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
	    "From: Sender %lu <sender%lu@example.org>\n"
	    "To: etudiant@example.net\n"
	    "Subject: message %lu about the spool\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n",
	    id % 997, id * 2654435761ul, id, id * 7, id % 997, id % 997, id);
	for (i = 0; i < lines; i++) {
		unsigned r = (unsigned)(rnd(s) % 100);

		if (r < 2)
			n += (size_t)sprintf(b + n, ">From the archives, line %u\n", i);
		else if (r < 12)
			b[n++] = '>', b[n++] = ' ';
		else if (r < 15) {
			b[n++] = '\n';
			continue;
		}
		for (w = 0; w < 8 + rnd(s) % 8; w++) {
			const char *wd = words[rnd(s) % (sizeof words / sizeof words[0])];

			/* mboxrd: a line starting "From " is stored quoted. */
			n += (size_t)sprintf(b + n, "%s%s ",
			    w == 0 && strcmp(wd, "From") == 0 ? ">" : "", wd);
		}
		b[n - 1] = '\n';
	}
	b[n++] = '\n';
	return n;
}

static int
generate(const char *path)
{
	struct stat st;
	unsigned long s = 42, id = 0;
	char *buf;
	size_t fill = 0, cap = (size_t)4 << 20;
	long long total = 0;
	int fd;

	if (stat(path, &st) == 0 && st.st_size >= BENCH_BYTES)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		return -1;
	buf = malloc(cap + 65536);
	while (total < BENCH_BYTES) {
		size_t n = gen_message(buf + fill, id++, &s);

		fill += n;
		total += (long long)n;
		if (fill >= cap) {
			if (write(fd, buf, fill) != (ssize_t)fill)
				return -1;
			fill = 0;
		}
	}
	if (fill > 0 && write(fd, buf, fill) != (ssize_t)fill)
		return -1;
	free(buf);
	return close(fd);
}

struct result {
	double secs;
	long rss_kb;
	unsigned long msgs;
};

/* Run FN in a child so that its peak RSS is its own. */
static int
in_child(int (*fn)(const char *, struct result *), const char *path,
    struct result *r)
{
	int p[2], st;
	pid_t pid;

	if (pipe(p) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct rusage ru;

		close(p[0]);
		if (fn(path, r) == -1)
			_exit(1);
		getrusage(RUSAGE_SELF, &ru);
		r->rss_kb = ru.ru_maxrss;
		if (write(p[1], r, sizeof *r) != (ssize_t)sizeof *r)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], r, sizeof *r) != (ssize_t)sizeof *r) {
		close(p[0]);
		waitpid(pid, &st, 0);
		return -1;
	}
	close(p[0]);
	waitpid(pid, &st, 0);
	return 0;
}

static int
run_index(const char *path, struct result *r)
{
	struct sp_mbox *mb;
	struct sp_err err;
	double t = now();

	if (sp_open(path, SP_RDONLY, &mb, &err) == -1) {
		fprintf(stderr, "sp_open: %s\n", err.msg);
		return -1;
	}
	r->secs = now() - t;
	r->msgs = sp_count(mb);
	sp_close(&mb);
	return 0;
}

/* The naive reader: getline, a message per "From " after a blank line,
 * counting lines and sizes as the index does. */
static int
run_getline(const char *path, struct result *r)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int blank = 1;
	unsigned long msgs = 0, lines = 0, bytes = 0;
	double t = now();

	if (f == NULL)
		return -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (blank && n > 5 && memcmp(line, "From ", 5) == 0)
			msgs++;
		blank = n == 1;
		lines++;
		bytes += (unsigned long)n + 1;
	}
	r->secs = now() - t;
	r->msgs = msgs;
	bench_sink = lines + bytes;
	free(line);
	fclose(f);
	return 0;
}

/* Bare memchr over the mapping, window by window: the memory speed. */
static int
run_memchr(const char *path, struct result *r)
{
	struct stat st;
	unsigned long lf = 0;
	off_t off;
	size_t win = (size_t)8 << 20;
	int fd = open(path, O_RDONLY);
	double t;

	if (fd == -1 || fstat(fd, &st) == -1)
		return -1;
	t = now();
	for (off = 0; off < st.st_size; off += (off_t)win) {
		size_t len = st.st_size - off < (off_t)win ? (size_t)(st.st_size - off) : win;
		char *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off);
		const char *q = p, *e = p + len;

		if (p == MAP_FAILED)
			return -1;
		while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
			lf++;
			q++;
		}
		munmap(p, len);
	}
	r->secs = now() - t;
	r->msgs = lf;
	close(fd);
	return 0;
}

/* Bare memchr over pread into one reused 1 MiB buffer (the index's way
 * of reading since it was measured faster than the mapping above). */
static int
run_pread(const char *path, struct result *r)
{
	size_t win = (size_t)1 << 20;
	char *buf = malloc(win);
	unsigned long lf = 0;
	ssize_t n;
	off_t off = 0;
	int fd = open(path, O_RDONLY);
	double t;

	if (fd == -1 || buf == NULL)
		return -1;
	t = now();
	while ((n = pread(fd, buf, win, off)) > 0) {
		const char *q = buf, *e = buf + n;

		while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
			lf++;
			q++;
		}
		off += n;
	}
	r->secs = now() - t;
	r->msgs = lf;
	free(buf);
	close(fd);
	return 0;
}

/* Microseconds per exclusive sp_lock + sp_unlock (fcntl, dotlock, the
 * guardian's fork and reaping) and per bare fork + pipe + reap of an idle
 * child (the guardian's share). */
static void
lock_costs(const char *dir, double *lock_us, double *fork_us)
{
	char path[1024];
	struct sp_lock *l;
	struct sp_err err;
	double t0;
	int i, fd;

	*lock_us = *fork_us = 0;
	snprintf(path, sizeof path, "%s/lock-cost.mbox", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd == -1)
		return;
	t0 = now();
	for (i = 0; i < BENCH_APPENDS; i++) {
		if (sp_lock(fd, path, SP_LOCK_EXCL, &l, &err) == -1)
			return;
		sp_unlock(&l);
	}
	*lock_us = (now() - t0) / BENCH_APPENDS * 1e6;
	close(fd);
	t0 = now();
	for (i = 0; i < BENCH_APPENDS; i++) {
		int p[2];
		pid_t pid;
		char c;

		if (pipe(p) == -1 || (pid = fork()) == -1)
			return;
		if (pid == 0) {
			close(p[1]);
			while (read(p[0], &c, 1) > 0)
				;
			_exit(0);
		}
		close(p[0]);
		close(p[1]);
		waitpid(pid, NULL, 0);
	}
	*fork_us = (now() - t0) / BENCH_APPENDS * 1e6;
}

static double
appends(const char *dir, int ours)
{
	char path[1024], msg[65536];
	struct sp_target t;
	struct sp_err err;
	unsigned long s = 7;
	size_t len;
	double t0;
	int i;

	snprintf(path, sizeof path, "%s/append-%s.mbox", dir, ours ? "ours" : "bare");
	unlink(path);
	len = gen_message(msg, 1, &s);
	if (len > 4000)
		len = 4000;
	t.path = path;
	t.uid = (uid_t)-1;
	t.gid = (gid_t)-1;
	t.max_bytes = 0;
	t0 = now();
	for (i = 0; i < BENCH_APPENDS; i++) {
		if (ours) {
			char *nl = memchr(msg, '\n', len);

			if (sp_deliver(&t, "bench@example.org", time(NULL), nl + 1,
			    len - (size_t)(nl + 1 - msg), &err) == -1) {
				fprintf(stderr, "sp_deliver: %s\n", err.msg);
				return 0;
			}
		} else {
			int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

			if (fd == -1 || write(fd, msg, len) != (ssize_t)len ||
			    fsync(fd) == -1)
				return 0;
			close(fd);
		}
	}
	return BENCH_APPENDS / (now() - t0);
}

int
main(void)
{
	const char *dir = getenv("BENCH_DIR");
	char path[1024];
	struct result ix, gl, mc, pr;
	struct stat st;
	double gib, a_ours, a_bare, lock_us, fork_us;

	if (dir == NULL)
		dir = "build/bench";
	snprintf(path, sizeof path, "%s/spool-1g.mbox", dir);
	if (generate(path) == -1 || stat(path, &st) == -1) {
		fprintf(stderr, "bench_spool: cannot write %s: %s\n", path,
		    strerror(errno));
		return 1;
	}
	gib = (double)st.st_size / 1e9;
	/* Warm the page cache (the figures are for a warm cache). */
	if (in_child(run_memchr, path, &mc) == -1 ||
	    in_child(run_memchr, path, &mc) == -1 ||
	    in_child(run_getline, path, &gl) == -1 ||
	    in_child(run_pread, path, &pr) == -1 ||
	    in_child(run_index, path, &ix) == -1) {
		fprintf(stderr, "bench_spool: a run failed\n");
		return 1;
	}
	printf("mailbox: %s, %.2f GB, %lu messages (warm page cache)\n", path,
	    gib, ix.msgs);
	printf("index build (sp_open):  %6.2f GB/s  %6.3f s  peak RSS %6.1f MiB\n",
	    gib / ix.secs, ix.secs, ix.rss_kb / 1024.0);
	printf("baseline getline scan:  %6.2f GB/s  %6.3f s  peak RSS %6.1f MiB  (%lu messages)\n",
	    gib / gl.secs, gl.secs, gl.rss_kb / 1024.0, gl.msgs);
	printf("reference bare memchr:  %6.2f GB/s  %6.3f s  peak RSS %6.1f MiB  (8 MiB mmap windows)\n",
	    gib / mc.secs, mc.secs, mc.rss_kb / 1024.0);
	printf("reference bare memchr:  %6.2f GB/s  %6.3f s  peak RSS %6.1f MiB  (pread, 1 MiB buffer)\n",
	    gib / pr.secs, pr.secs, pr.rss_kb / 1024.0);
	printf("index vs getline: %.1fx faster\n", gl.secs / ix.secs);
	a_ours = appends(dir, 1);
	a_bare = appends(dir, 0);
	printf("appends with fsync: sp_deliver %.0f/s; bare open+write+fsync %.0f/s "
	    "(%d messages of 4 KB)\n", a_ours, a_bare, BENCH_APPENDS);
	lock_costs(dir, &lock_us, &fork_us);
	printf("exclusive sp_lock+sp_unlock: %.0f us; of which a bare fork+pipe+reap "
	    "(the guardian) %.0f us\n", lock_us, fork_us);
	return ix.msgs > 0 && a_ours > 0 ? 0 : 1;
}
