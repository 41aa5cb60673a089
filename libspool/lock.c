/*
 * lock.c - mailbox locking by Debian Policy 11.6: an fcntl lock on the
 * file, then the NFS-safe dotlock PATH.lock, both non-blocking with
 * bounded randomised retries; a guardian that removes our dotlock if we
 * die (a process of ours, or a caller that watches us: sp_lock_guarded);
 * the POP3 session lock (flock).
 */
#define _GNU_SOURCE		/* getresgid */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"

/* First retry delay; it doubles up to SP_LOCK_DELAY_MS.  Contended local
 * deliveries usually wait a few milliseconds, not Postfix's full second,
 * while the total budget stays Postfix's: SP_LOCK_TRIES * SP_LOCK_DELAY_MS. */
#define SP_LOCK_FIRST_MS	2

/* How long to retry starting the guardian when fork is refused (process
 * or memory limits: transient on a loaded machine) before the lock fails
 * temporarily: we never hold a dotlock that nobody would remove. */
#define SP_GUARD_RETRY_MS	1000

struct sp_lock {
	int fd;
	enum sp_lockmode mode;
	int dotlocked;
	char dotpath[SP_PATH_MAX];
	pid_t guard;		/* guardian process, 0 if none */
	int guard_fd;		/* its pipe, -1 if none */
	int ext_fd;		/* the caller's guard pipe (sp_lock_guarded), -1 */
	int guard_ext;		/* guard_fd is ext_fd: never closed here */
	int spare;		/* keep the dotlock's file as .NAME.lock.spare */
	dev_t dot_dev;		/* our dotlock file (released only if it is */
	ino_t dot_ino;		/* still the one at PATH.lock) */
};

/* One word to the guardian: 'l' a dotlock is about to be taken (caller's
 * guard only), 'a' an append starts at SIZE in the file DEV/INO, 'c' it is
 * complete or rolled back, 'r' released.  Smaller than PIPE_BUF: written
 * whole or not at all. */
struct guard_rec {
	char what;
	off_t size;
	dev_t dev;
	ino_t ino;
};

uint32_t
sp_random(void)
{
	struct timespec ts;
	uint32_t x;
	static const char here = 0;

	/* Not for secrets: spreads retries and names temporary files.  No
	 * state kept (no globals in the library): mix clock, pid, address. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^
	    (uint32_t)getpid() * 40503u ^ (uint32_t)(uintptr_t)&here;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

void
sp_sleep_ms(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Randomised backoff: DELAY in [d/2, 3d/2), then double it. */
static unsigned
backoff(unsigned *delay)
{
	unsigned d = *delay, ms;

	ms = d / 2 + sp_random() % (d + 1);
	if (ms == 0)
		ms = 1;
	*delay = d * 2 > SP_LOCK_DELAY_MS ? SP_LOCK_DELAY_MS : d * 2;
	return ms;
}

void
sp_sig_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

void
sp_sig_restore(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* ---- paths and group ---------------------------------------------------- */

/* DIR/.NAME.SUFFIX for mailbox PATH = DIR/NAME (or .NAME.SUFFIX). */
static int
sibling_path(const char *path, const char *suffix, char *buf, size_t cap)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash == NULL)
		n = snprintf(buf, cap, ".%s.%s", path, suffix);
	else
		n = snprintf(buf, cap, "%.*s/.%s.%s", (int)(slash - path),
		    path, slash + 1, suffix);
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sp_journal_path(const char *path, char *buf, size_t cap)
{
	return sibling_path(path, "journal", buf, cap);
}

/* Index cache of PATH: DIR/.NAME.index, beside the journal. */
int
sp_cache_path(const char *path, char *buf, size_t cap)
{
	return sibling_path(path, "index", buf, cap);
}

/*
 * The servers keep group mail only as their saved gid after dropping
 * privileges.  When an operation in the spool directory fails with EACCES
 * and the saved gid differs from the effective one, raise it for that one
 * operation and lower it again at once.
 */
int
sp_with_group(const char *path, int (*fn)(void *), void *arg)
{
	gid_t rg, eg, sg;
	int r, e;

	(void)path;
	r = fn(arg);
	if (r != -1 || (errno != EACCES && errno != EPERM))
		return r;
	e = errno;
	if (getresgid(&rg, &eg, &sg) == -1 || sg == eg || setegid(sg) == -1) {
		errno = e;
		return r;
	}
	r = fn(arg);
	e = errno;
	if (setegid(eg) == -1) {
		/* Cannot lower the group again: fail closed. */
		abort();
	}
	errno = e;
	return r;
}

/* ---- fcntl ---------------------------------------------------------------- */

static int
fcntl_try(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	return fcntl(fd, F_SETLK, &fl);
}

/* ---- dotlock --------------------------------------------------------------- */

struct dot_arg {
	const char *lockpath;
	char tmp[SP_PATH_MAX];
	int use_spare;		/* claim and return .NAME.lock.spare */
	char spare[SP_PATH_MAX];
	int linked;		/* taken by link(), not the O_EXCL fallback */
	dev_t dev;		/* the file that became the dotlock */
	ino_t ino;
};

/*
 * The temporary file of OWNER's dotlock DOTPATH ("DIR/NAME.lock"):
 * "DIR/.NAME.lock.PID".  The leading dot makes it a name no mailbox can
 * have (sp_user_valid), so clearing a leftover of ours can never remove
 * the mailbox of a user called "NAME.lock.PID".  0, or -1 (too long).
 */
static int
dot_tmp_path(const char *dotpath, pid_t owner, char *buf, size_t cap)
{
	const char *slash = strrchr(dotpath, '/');
	int n;

	if (slash == NULL)
		n = snprintf(buf, cap, ".%s.%ld", dotpath, (long)owner);
	else
		n = snprintf(buf, cap, "%.*s/.%s.%ld", (int)(slash - dotpath),
		    dotpath, slash + 1, (long)owner);
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The kept dotlock file of DOTPATH: "DIR/.NAME.lock.spare" (a name no
 * mailbox can have, see dot_tmp_path). */
static int
dot_spare_path(const char *dotpath, char *buf, size_t cap)
{
	const char *slash = strrchr(dotpath, '/');
	int n;

	if (slash == NULL)
		n = snprintf(buf, cap, ".%s.spare", dotpath);
	else
		n = snprintf(buf, cap, "%.*s/.%s.spare", (int)(slash - dotpath),
		    dotpath, slash + 1);
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Write our pid at the start of FD; a longer old content is cut. */
static int
write_pid(int fd)
{
	char b[32];
	int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
	struct stat st;

	if (pwrite(fd, b, (size_t)n, 0) != n)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size != n && ftruncate(fd, n) == -1)
		return -1;
	return 0;
}

/*
 * Take the spare dotlock file under our temporary name: an fd open for
 * writing, or -1 (none, or not a sound one: then a new file is made).
 * Reusing it allocates no inode: on ext4 without a journal each new inode
 * is searched for past every inode freed in the last minutes, which costs
 * 0.3 ms and more per delivery under a steady load.  Sound means: a
 * regular file of ours with one link (never a mailbox, nor a link to one).
 */
static int
dot_claim_spare(struct dot_arg *a)
{
	struct stat st;
	int fd;

	if (!a->use_spare || rename(a->spare, a->tmp) == -1)
		return -1;
	fd = open(a->tmp, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == geteuid() && st.st_nlink == 1)
		return fd;
	if (fd != -1)
		close(fd);
	unlink(a->tmp);		/* not a spare of ours: drop that name */
	return -1;
}

/* One attempt: 1 taken, 0 held by someone, -1 error (errno). */
static int
dot_try_once(void *varg)
{
	struct dot_arg *a = varg;
	struct stat st;
	int fd, r, e, ok, claimed;

	/* The temporary name is ours by pid (one lock at a time per
	 * process), so the guardian can clean it up too. */
	if (dot_tmp_path(a->lockpath, getpid(), a->tmp, sizeof a->tmp) == -1)
		return -1;
	a->linked = 0;
	claimed = (fd = dot_claim_spare(a)) != -1;
	if (fd == -1)
		fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST) {
		/* Left by an earlier process with our pid: ours to remove. */
		unlink(a->tmp);
		fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	}
	if (fd == -1)
		return -1;
	if (write_pid(fd) == -1 || fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		unlink(a->tmp);
		errno = e;
		return -1;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	close(fd);
	r = link(a->tmp, a->lockpath);
	e = errno;
	/* NFS: link() may report failure after succeeding; the link count of
	 * our unique file tells the truth. */
	ok = r == 0 || (stat(a->tmp, &st) == 0 && st.st_nlink == 2);
	/* a spare we could not use goes back for the next try */
	if (ok || !claimed || rename(a->tmp, a->spare) == -1)
		unlink(a->tmp);
	if (ok) {
		a->linked = 1;
		return 1;
	}
	if (e == EEXIST)
		return 0;
	if (e == EPERM || e == ENOSYS || e == EOPNOTSUPP || e == EMLINK) {
		/* A file system without hard links: O_EXCL (safe locally). */
		fd = open(a->lockpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd == -1)
			return errno == EEXIST ? 0 : -1;
		write_pid(fd);
		if (fstat(fd, &st) == 0) {
			a->dev = st.st_dev;
			a->ino = st.st_ino;
		}
		close(fd);
		return 1;
	}
	errno = e;
	return -1;
}

static int
dot_unlink(void *varg)
{
	return unlink((const char *)varg);
}

/* Read the pid in a dotlock, 0 if none. */
static long
dot_pid(const char *lockpath)
{
	char b[32];
	ssize_t n;
	long pid = 0;
	int fd;

	fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	if (b[0] < '1' || b[0] > '9')
		return 0;
	pid = strtol(b, NULL, 10);
	return pid > 0 && pid < INT_MAX ? pid : 0;
}

/* Remove LOCKPATH if stale; 1 if it is gone now, 0 if it stays. */
static int
dot_stale(const char *lockpath)
{
	struct stat st, st2;
	long pid;
	int stale;

	if (lstat(lockpath, &st) == -1)
		return errno == ENOENT;
	pid = dot_pid(lockpath);
	stale = time(NULL) - st.st_mtime > SP_DOTLOCK_STALE_SEC;
	if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == -1 &&
	    errno == ESRCH)
		stale = 1;
	if (!stale)
		return 0;
	/* Remove only the file we judged (not a fresh lock made since). */
	if (lstat(lockpath, &st2) == -1)
		return errno == ENOENT;
	if (st2.st_ino != st.st_ino || st2.st_mtime != st.st_mtime)
		return 0;
	sp_with_group(lockpath, dot_unlink, (void *)lockpath);
	return 1;
}

/*
 * The owner of DOTPATH died (SIGKILL) in the middle of an append at SIZE
 * to the open file FD: take the fcntl lock it lost and, if its dotlock is
 * still there (so nobody has written since), cut the file back to SIZE.
 */
static void
guard_rollback(int fd, const char *dotpath, pid_t owner, off_t size)
{
	struct flock fl;
	struct stat st;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) == -1)
		if (errno != EINTR)
			return;
	if (dot_pid(dotpath) != (long)owner)
		return;
	if (fstat(fd, &st) == 0 && st.st_size > size &&
	    ftruncate(fd, size) == 0)
		fsync(fd);
}

/* OWNER died: remove its temporary dotlock file and its dotlock. */
static void
guard_remove(const char *dotpath, pid_t owner)
{
	char tmp[SP_PATH_MAX + 24];

	if (dot_tmp_path(dotpath, owner, tmp, sizeof tmp) == 0)
		sp_with_group(tmp, dot_unlink, tmp);
	if (dot_pid(dotpath) == (long)owner)
		sp_with_group(dotpath, dot_unlink, (void *)dotpath);
}

static int guard_start(struct sp_lock *l);

static void
guard_say(struct sp_lock *l, char what, off_t size)
{
	struct guard_rec rec;
	struct stat st;

	if (l == NULL || l->guard_fd == -1)
		return;
	memset(&rec, 0, sizeof rec);
	rec.what = what;
	rec.size = size;
	/* A caller's guard has no descriptor of the file: tell it which. */
	if (what == 'a' && l->guard_ext && fstat(l->fd, &st) == 0) {
		rec.dev = st.st_dev;
		rec.ino = st.st_ino;
	}
	if (write(l->guard_fd, &rec, sizeof rec) != (ssize_t)sizeof rec) {
		/* Without a guardian an append cut by SIGKILL stays cut.  A
		 * caller's guard that is gone (its process died) is replaced
		 * by one of our own before the dotlock is used; the new one
		 * is told of an append about to start. */
		if (l->guard_ext && (what == 'l' || what == 'a')) {
			l->guard_fd = -1;
			l->guard_ext = 0;
			if (guard_start(l) == 0 && what == 'a')
				guard_say(l, what, size);
		}
	}
}

void
sp_lock_intent(struct sp_lock *l, off_t size)
{
	guard_say(l, 'a', size);
}

void
sp_lock_done(struct sp_lock *l)
{
	guard_say(l, 'c', 0);
}

/* Start the guardian: 0, or -1 with errno (no pipe, fork refused). */
static int
guard_start(struct sp_lock *l)
{
	int p[2], e;
	pid_t pid;
	pid_t parent = getpid();

	if (pipe(p) == -1)
		return -1;
	pid = fork();
	if (pid == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		struct guard_rec rec;
		off_t intent = -1;
		ssize_t r;
		sigset_t none;

		/* The guardian: wait for words from the parent ('a' + size: an
		 * append starts at that size; 'c': it is complete or rolled
		 * back; 'r': released).  EOF without 'r' means it died holding
		 * the dotlock: cut an unfinished append, then remove the
		 * dotlock if it still holds the parent's pid. */
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(p[1]);
		for (;;) {
			do
				r = read(p[0], &rec, sizeof rec);
			while (r == -1 && errno == EINTR);
			if (r != (ssize_t)sizeof rec)
				break;
			if (rec.what == 'a')
				intent = rec.size;
			else if (rec.what == 'c')
				intent = -1;
			else if (rec.what != 'l')
				break;		/* 'r': released */
		}
		if (r == 0) {
			if (intent >= 0)
				guard_rollback(l->fd, l->dotpath, parent, intent);
			guard_remove(l->dotpath, parent);
		}
		/* Leave without exit handlers or sanitizer hooks: this copy of
		 * the process owns none of the memory it sees. */
		kill(getpid(), SIGKILL);
		_exit(0);
	}
	close(p[0]);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	l->guard = pid;
	l->guard_fd = p[1];
	return 0;
}

/* Tell the guardian "released": it exits without touching anything (a
 * caller's guard stops watching; its pipe stays the caller's). */
static void
guard_release(struct sp_lock *l)
{
	if (l->guard_fd != -1) {
		guard_say(l, 'r', 0);
		if (!l->guard_ext)
			close(l->guard_fd);
		l->guard_fd = -1;
		l->guard_ext = 0;
	}
}

/* Release the guardian and reap it. */
static void
guard_stop(struct sp_lock *l)
{
	guard_release(l);
	if (l->guard > 0) {
		while (waitpid(l->guard, NULL, 0) == -1 && errno == EINTR)
			;
		l->guard = 0;
	}
}

/* Take the dotlock: 0 taken (or skipped where the directory cannot be
 * written at all), -1 busy or error. */
static int
dot_lock(struct sp_lock *l, const char *path, struct sp_err *err)
{
	struct dot_arg a;
	unsigned delay = SP_LOCK_FIRST_MS;
	long budget = (long)SP_LOCK_TRIES * SP_LOCK_DELAY_MS, gbudget;
	int r;

	if (snprintf(l->dotpath, sizeof l->dotpath, "%s.lock", path) >=
	    (int)sizeof l->dotpath)
		return sp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path too long");
	a.lockpath = l->dotpath;
	/* A caller that guards us delivers often to this mailbox (smtpd):
	 * the dotlock's file is kept between deliveries. */
	a.use_spare = l->ext_fd != -1 &&
	    dot_spare_path(l->dotpath, a.spare, sizeof a.spare) == 0;
	/* The guardian first: if we die between link() and its fork, the
	 * dotlock would stay.  Never a dotlock without a guardian: if fork is
	 * refused (EAGAIN, ENOMEM on a loaded machine) retry for
	 * SP_GUARD_RETRY_MS, then fail temporarily.  A caller's guard is
	 * there already: it is told a dotlock is coming (if it is gone,
	 * guard_say has started ours instead). */
	if (l->ext_fd != -1) {
		l->guard_fd = l->ext_fd;
		l->guard_ext = 1;
		guard_say(l, 'l', 0);
	}
	for (gbudget = SP_GUARD_RETRY_MS; l->guard_fd == -1 && guard_start(l) == -1; ) {
		int e = errno;

		if (gbudget <= 0)
			return sp_fail_errno(err, e, "start the lock guardian for",
			    l->dotpath);
		r = (int)backoff(&delay);
		gbudget -= r;
		sp_sleep_ms((unsigned)r);
	}
	delay = SP_LOCK_FIRST_MS;
	for (;;) {
		r = sp_with_group(path, dot_try_once, &a);
		if (r == 1) {
			l->dotlocked = 1;
			l->spare = a.use_spare && a.linked;
			l->dot_dev = a.dev;
			l->dot_ino = a.ino;
			return 0;
		}
		if (r == -1) {
			int e = errno;

			guard_stop(l);
			if (e == EACCES || e == EPERM || e == EROFS) {
				/* No write access to the spool directory even with
				 * our saved group: fcntl alone (see README). */
				return 0;
			}
			return sp_fail_errno(err, e, "dotlock", l->dotpath);
		}
		if (dot_stale(l->dotpath))
			continue;
		if (budget <= 0) {
			guard_stop(l);
			return sp_fail(err, SP_BUSY, "4.2.0",
			    "mailbox locked by another program (%s)", l->dotpath);
		}
		r = (int)backoff(&delay);
		budget -= r;
		sp_sleep_ms((unsigned)r);
	}
}

static int
dot_keep(void *varg)
{
	struct sp_lock *l = varg;
	char spare[SP_PATH_MAX];

	if (dot_spare_path(l->dotpath, spare, sizeof spare) == -1)
		return -1;
	return rename(l->dotpath, spare);
}

/* Remove our dotlock; a kept one (l->spare) becomes the spare again, and
 * only if PATH.lock is still our file (not another's taken since ours was
 * judged stale). */
static void
dot_release(struct sp_lock *l)
{
	struct stat st;

	if (l->spare) {
		if (lstat(l->dotpath, &st) == -1 || st.st_dev != l->dot_dev ||
		    st.st_ino != l->dot_ino)
			return;
		if (sp_with_group(l->dotpath, dot_keep, l) == 0)
			return;
	}
	sp_with_group(l->dotpath, dot_unlink, l->dotpath);
}

/* Shared mode: wait while someone holds the dotlock (a writer that uses
 * dotlocks only). */
static int
dot_wait(const char *path, struct sp_err *err)
{
	char lp[SP_PATH_MAX];
	unsigned delay = SP_LOCK_FIRST_MS;
	long budget = (long)SP_LOCK_TRIES * SP_LOCK_DELAY_MS;
	struct stat st;
	int r;

	if (snprintf(lp, sizeof lp, "%s.lock", path) >= (int)sizeof lp)
		return sp_fail(err, SP_PERMFAIL, "5.3.5", "mailbox path too long");
	while (lstat(lp, &st) == 0) {
		if (dot_stale(lp))
			continue;
		if (budget <= 0)
			return sp_fail(err, SP_BUSY, "4.2.0",
			    "mailbox locked by another program (%s)", lp);
		r = (int)backoff(&delay);
		budget -= r;
		sp_sleep_ms((unsigned)r);
	}
	return 0;
}

int
sp_lock(int fd, const char *path, enum sp_lockmode mode,
    struct sp_lock **lock_r, struct sp_err *err)
{
	return sp_lock_guarded(fd, path, mode, -1, lock_r, err);
}

int
sp_lock_guarded(int fd, const char *path, enum sp_lockmode mode,
    int guard_fd, struct sp_lock **lock_r, struct sp_err *err)
{
	struct sp_lock *l;
	unsigned delay = SP_LOCK_FIRST_MS;
	long budget = (long)SP_LOCK_TRIES * SP_LOCK_DELAY_MS;
	int r;

	*lock_r = NULL;
	l = calloc(1, sizeof *l);
	if (l == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	l->fd = fd;
	l->mode = mode;
	l->guard_fd = -1;
	l->ext_fd = guard_fd;
	while (fcntl_try(fd, mode == SP_LOCK_EXCL ? F_WRLCK : F_RDLCK) == -1) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			r = errno;
			free(l);
			return sp_fail_errno(err, r, "fcntl lock", path);
		}
		if (budget <= 0) {
			free(l);
			return sp_fail(err, SP_BUSY, "4.2.0",
			    "mailbox %s is locked by another program", path);
		}
		r = (int)backoff(&delay);
		budget -= r;
		sp_sleep_ms((unsigned)r);
	}
	r = mode == SP_LOCK_EXCL ? dot_lock(l, path, err) : dot_wait(path, err);
	if (r == -1) {
		fcntl_try(fd, F_UNLCK);
		free(l);
		return -1;
	}
	*lock_r = l;
	return 0;
}

void
sp_unlock(struct sp_lock **lockp)
{
	struct sp_lock *l;
	int e = errno;

	if (lockp == NULL || (l = *lockp) == NULL)
		return;
	if (l->dotlocked) {
		dot_release(l);
		l->dotlocked = 0;
	}
	/* "Released" before the fcntl lock goes, so the guardian can never
	 * act on a mailbox that is no longer ours; reaping it (its exit is
	 * the slow part) happens after, off the locked section. */
	guard_release(l);
	fcntl_try(l->fd, F_UNLCK);
	guard_stop(l);
	free(l);
	*lockp = NULL;
	errno = e;
}

/* ---- a caller's guard (sp_lock_guarded) ------------------------------------ */

int
sp_guard_watch(int fd, struct sp_guard_note *note)
{
	struct guard_rec rec;
	ssize_t r;

	memset(note, 0, sizeof *note);
	for (;;) {
		do
			r = read(fd, &rec, sizeof rec);
		while (r == -1 && errno == EINTR);
		if (r != (ssize_t)sizeof rec)
			/* EOF (or a pipe error): the writer is gone */
			return note->held ? 1 : 0;
		switch (rec.what) {
		case 'l':
			note->held = 1;
			note->appending = 0;
			break;
		case 'a':
			note->appending = 1;
			note->size = rec.size;
			note->dev = rec.dev;
			note->ino = rec.ino;
			break;
		case 'c':
			note->appending = 0;
			break;
		case 'r':
			memset(note, 0, sizeof *note);
			return 0;
		default:
			/* not our words: act as if it died holding the lock;
			 * recovery checks the pid in the dotlock anyway */
			note->held = 1;
			note->appending = 0;
			return 1;
		}
	}
}

int
sp_guard_recover(const char *path, pid_t dead, const struct sp_guard_note *note)
{
	char lp[SP_PATH_MAX];
	struct stat st;
	int fd;

	if (!note->held)
		return 0;
	if (snprintf(lp, sizeof lp, "%s.lock", path) >= (int)sizeof lp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (note->appending) {
		fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		    O_NOCTTY);
		if (fd == -1)
			return -1;
		/* only the file it was writing, not one put in its place */
		if (fstat(fd, &st) == 0 && st.st_dev == note->dev &&
		    st.st_ino == note->ino)
			guard_rollback(fd, lp, dead, note->size);
		close(fd);	/* drops the fcntl lock the rollback took */
	}
	guard_remove(lp, dead);
	return 0;
}

/* ---- POP3 session lock ---------------------------------------------------- */

struct sess_arg {
	const char *path;
	int fd;
};

static int
session_open(void *v)
{
	struct sess_arg *a = v;

	a->fd = open(a->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY, 0600);
	return a->fd == -1 ? -1 : 0;
}

int
sp_session_lock(const char *path, int *fd_r, struct sp_err *err)
{
	struct sess_arg a;
	struct stat st;
	int fd;

	*fd_r = -1;
	a.path = path;
	fd = sp_with_group(path, session_open, &a) == 0 ? a.fd : -1;
	if (fd == -1) {
		if (errno == ELOOP)
			return sp_fail(err, SP_PERMFAIL, "5.2.0",
			    "mailbox %s is a symbolic link", path);
		return sp_fail_errno(err, errno, "open", path);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s is not a regular file", path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return sp_fail(err, SP_BUSY, "4.2.0",
			    "mailbox %s is in use by another POP3 session", path);
		return sp_fail_errno(err, e, "flock", path);
	}
	*fd_r = fd;
	return 0;
}

void
sp_session_unlock(int *fd)
{
	if (fd == NULL || *fd < 0)
		return;
	flock(*fd, LOCK_UN);
	close(*fd);
	*fd = -1;
}
