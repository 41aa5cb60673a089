/*
 * deliver.c - append one message to a mailbox, all or nothing (mboxrd),
 * the safe opening of a delivery target, and the error mapping.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"

/* ---- errors --------------------------------------------------------------- */

int
sp_fail(struct sp_err *err, enum sp_class cls, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (err == NULL)
		return -1;
	err->cls = cls;
	snprintf(err->dsn, sizeof err->dsn, "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	/* One line, printable: paths come from configuration, but be sure. */
	for (i = 0; err->msg[i] != '\0'; i++)
		if ((unsigned char)err->msg[i] < 0x20 || err->msg[i] == 0x7f)
			err->msg[i] = '?';
	return -1;
}

int
sp_fail_errno(struct sp_err *err, int e, const char *what, const char *path)
{
	switch (e) {
	case EFBIG:
	case EDQUOT:
		return sp_fail(err, SP_PERMFAIL, "5.2.2",
		    "%s %s: mailbox full: %s", what, path, strerror(e));
	case ENOSPC:
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "%s %s: %s", what, path, strerror(e));
	case ELOOP:
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "%s %s: mailbox is a symbolic link", what, path);
	default:
		return sp_fail(err, SP_TEMPFAIL, "4.3.0",
		    "%s %s: %s", what, path, strerror(e));
	}
}

void
sp_err_ok(struct sp_err *err)
{
	if (err == NULL)
		return;
	err->cls = SP_OK;
	memcpy(err->dsn, "2.0.0", 6);
	err->msg[0] = '\0';
}

/* ---- buffered output at explicit offsets ----------------------------------- */

int
sp_out_init(struct sp_out *o, int fd, off_t off)
{
	o->fd = fd;
	o->off = off;
	o->len = 0;
	o->err = 0;
	o->buf = malloc(SP_IO_CHUNK);
	if (o->buf == NULL) {
		o->err = ENOMEM;
		return -1;
	}
	return 0;
}

static void
out_write(struct sp_out *o, const char *p, size_t n)
{
	while (n > 0 && o->err == 0) {
		ssize_t w = pwrite(o->fd, p, n, o->off);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			return;
		}
		if (w == 0) {
			o->err = ENOSPC;
			return;
		}
		p += w;
		n -= (size_t)w;
		o->off += w;
	}
}

int
sp_out_flush(struct sp_out *o)
{
	if (o->len > 0 && o->err == 0)
		out_write(o, o->buf, o->len);
	o->len = 0;
	return o->err == 0 ? 0 : -1;
}

void
sp_out_put(struct sp_out *o, const char *p, size_t n)
{
	if (o->err != 0)
		return;
	if (n >= SP_IO_CHUNK) {
		sp_out_flush(o);
		out_write(o, p, n);
		return;
	}
	if (o->len + n > SP_IO_CHUNK)
		sp_out_flush(o);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void
sp_out_done(struct sp_out *o)
{
	free(o->buf);
	o->buf = NULL;
}

/* ---- mboxrd formatting ------------------------------------------------------ */

static const char *const sp_wday[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const sp_mon[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* "From SENDER Www Mmm dd hh:mm:ss yyyy\n" in UTC (asctime layout). */
static void
put_from_line(struct sp_out *o, const char *from, time_t when)
{
	char line[SP_FROMLINE_MAX];
	struct tm tm;
	size_t i, n = 0;

	memcpy(line, "From ", 5);
	n = 5;
	if (from == NULL || from[0] == '\0' || strcmp(from, "<>") == 0)
		from = "MAILER-DAEMON";
	/* The sender is one word: no spaces or controls (they would make
	 * the line ambiguous); at most SMTP_ADDR_MAX bytes. */
	for (i = 0; from[i] != '\0' && i < SMTP_ADDR_MAX; i++) {
		unsigned char c = (unsigned char)from[i];

		line[n++] = (c <= 0x20 || c == 0x7f) ? '_' : (char)c;
	}
	if (when == (time_t)-1 || gmtime_r(&when, &tm) == NULL) {
		when = 0;
		gmtime_r(&when, &tm);
	}
	n += (size_t)snprintf(line + n, sizeof line - n,
	    " %s %s %2d %02d:%02d:%02d %d\n", sp_wday[tm.tm_wday % 7],
	    sp_mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, tm.tm_year + 1900);
	if (n >= sizeof line)
		n = sizeof line - 1;
	sp_out_put(o, line, n);
}

/* Put one line (without its end) as stored: CR LF becomes LF, a lone CR
 * stays, /^>*From / gets one more '>'. */
static void
put_line(struct sp_out *o, const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (sp_is_quoted_from(p, n) || (n >= 5 && memcmp(p, "From ", 5) == 0))
		sp_out_put(o, ">", 1);
	sp_out_put(o, p, n);
	/* "x\r\r\n" is the line "x\r": stored "x\r\n" it would read as
	 * "x", so such a line keeps its CR LF. */
	if (n > 0 && p[n - 1] == '\r')
		sp_out_put(o, "\r\n", 2);
	else
		sp_out_put(o, "\n", 1);
}

void
sp_out_message(struct sp_out *o, const char *from, time_t when,
    const char *msg, size_t len, const char *block, size_t blen)
{
	const char *p = msg, *end = msg + len, *nl;
	int in_hdr = 1, skip = 0;

	put_from_line(o, from, when);
	while (p < end) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (in_hdr) {
			if (n == 0 || (n == 1 && p[0] == '\r')) {
				in_hdr = 0;
				if (block != NULL)
					sp_out_put(o, block, blen);
				sp_out_put(o, "\n", 1);
				p += n + (nl != NULL);
				continue;
			}
			if (p[0] == ' ' || p[0] == '\t')
				;	/* continuation: same fate as its field */
			else
				skip = sp_state_header(p, n) >= 0;
			if (!skip)
				put_line(o, p, n);
		} else
			put_line(o, p, n);
		p += n + (nl != NULL);
	}
	if (in_hdr) {
		/* Header only: give it its blank line. */
		if (block != NULL)
			sp_out_put(o, block, blen);
		sp_out_put(o, "\n", 1);
	}
	sp_out_put(o, "\n", 1);	/* the blank line after the message */
}

/* What must be written before an append so that the file ends in a blank
 * line (a message start needs one): "", "\n" or "\n\n". */
int
sp_tail_fix(int fd, off_t size, const char **fix_r)
{
	char b[2];
	ssize_t n;

	*fix_r = "";
	if (size == 0)
		return 0;
	n = pread(fd, b, size >= 2 ? 2 : 1, size >= 2 ? size - 2 : 0);
	if (n < 1)
		return -1;
	/* A final lone CR must stay one: "\r" + "\n" would read as CR LF. */
	if (b[n - 1] == '\r')
		*fix_r = "\r\n\n";
	else if (size == 1)
		*fix_r = b[0] == '\n' ? "\n" : "\n\n";
	else if (b[1] != '\n')
		*fix_r = "\n\n";
	else if (b[0] != '\n')
		*fix_r = "\n";
	return 0;
}

/* ---- opening a target ---------------------------------------------------------- */

struct create_arg {
	const char *path;
	int fd;
};

static int
create_excl(void *v)
{
	struct create_arg *a = v;

	a->fd = open(a->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0600);
	return a->fd == -1 ? -1 : 0;
}

/* The checks of a mailbox we are about to write. */
static int
check_file(const struct sp_target *t, const struct stat *st, uid_t uid,
    struct sp_err *err)
{
	if (!S_ISREG(st->st_mode))
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s is not a regular file", t->path);
	if (st->st_nlink != 1)
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s has %lu hard links", t->path,
		    (unsigned long)st->st_nlink);
	if (st->st_uid != uid)
		return sp_fail(err, SP_PERMFAIL, "5.2.0",
		    "mailbox %s is owned by uid %lu, not %lu", t->path,
		    (unsigned long)st->st_uid, (unsigned long)uid);
	return 0;
}

/* sp_target_open with a caller's guard on GUARD_FD (-1: none). */
static int
target_open(const struct sp_target *t, int guard_fd, int *fd_r,
    struct sp_lock **lock_r, off_t *size_r, int *created_r,
    struct sp_err *err)
{
	struct stat lst, fst;
	uid_t uid = t->uid == (uid_t)-1 ? geteuid() : t->uid;
	gid_t gid = t->gid == (gid_t)-1 ? getegid() : t->gid;
	struct sp_lock *lock = NULL;
	int fd = -1, tries;

	*fd_r = -1;
	*lock_r = NULL;
	*created_r = 0;
	for (tries = 0; ; tries++) {
		if (lstat(t->path, &lst) == -1) {
			struct create_arg a;

			if (errno != ENOENT)
				return sp_fail_errno(err, errno, "lstat", t->path);
			a.path = t->path;
			if (sp_with_group(t->path, create_excl, &a) == -1) {
				if (errno == EEXIST && tries < 3)
					continue;	/* raced: open it */
				return sp_fail_errno(err, errno, "create", t->path);
			}
			fd = a.fd;
			*created_r = 1;
			if (fstat(fd, &fst) == -1 ||
			    ((fst.st_uid != uid || fst.st_gid != gid) &&
			    fchown(fd, uid, gid) == -1 && fst.st_uid != uid)) {
				int e = errno;

				close(fd);
				unlink(t->path);
				return sp_fail_errno(err, e, "chown", t->path);
			}
			fchmod(fd, 0600);
			if (fstat(fd, &lst) == -1) {
				int e = errno;

				close(fd);
				return sp_fail_errno(err, e, "fstat", t->path);
			}
		} else {
			if (S_ISLNK(lst.st_mode))
				return sp_fail(err, SP_PERMFAIL, "5.2.0",
				    "mailbox %s is a symbolic link", t->path);
			if (check_file(t, &lst, uid, err) == -1)
				return -1;
			fd = open(t->path, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
			    O_CLOEXEC | O_NOCTTY);
			if (fd == -1)
				return sp_fail_errno(err, errno, "open", t->path);
		}
		break;
	}
	if (sp_lock_guarded(fd, t->path, SP_LOCK_EXCL, guard_fd, &lock,
	    err) == -1) {
		close(fd);
		return -1;
	}
	/* Re-check under the lock: the name must still be this file. */
	if (fstat(fd, &fst) == -1 || lstat(t->path, &lst) == -1 ||
	    fst.st_dev != lst.st_dev || fst.st_ino != lst.st_ino) {
		sp_unlock(&lock);
		close(fd);
		return sp_fail(err, SP_TEMPFAIL, "4.2.0",
		    "mailbox %s was replaced while we locked it", t->path);
	}
	if (check_file(t, &fst, uid, err) == -1 ||
	    sp_journal_recover(fd, t->path, err) == -1 ||
	    fstat(fd, &fst) == -1) {
		sp_unlock(&lock);
		close(fd);
		return -1;
	}
	*fd_r = fd;
	*lock_r = lock;
	*size_r = fst.st_size;
	return 0;
}

int
sp_target_open(const struct sp_target *t, int *fd_r, struct sp_lock **lock_r,
    off_t *size_r, int *created_r, struct sp_err *err)
{
	return target_open(t, -1, fd_r, lock_r, size_r, created_r, err);
}

/* ---- sp_deliver -------------------------------------------------------------- */

static int
deliver(const struct sp_target *t, const char *from, time_t when,
    const char *msg, size_t len, int guard_fd, struct sp_err *err)
{
	struct sp_lock *lock = NULL;
	struct sp_out o;
	struct sigaction ign, oldxfsz;
	sigset_t oldmask;
	const char *fix;
	off_t size;
	int fd, e = 0, created;

	if ((long long)len > SP_MESSAGE_MAX)
		return sp_fail(err, SP_PERMFAIL, "5.3.4",
		    "message too big for mailbox delivery (%zu bytes)", len);
	if (target_open(t, guard_fd, &fd, &lock, &size, &created, err) == -1)
		return -1;
	if (t->max_bytes > 0 && size + (off_t)len > t->max_bytes) {
		sp_unlock(&lock);
		close(fd);
		return sp_fail(err, SP_PERMFAIL, "5.2.2",
		    "mailbox %s full: %lld bytes, limit %lld", t->path,
		    (long long)size, t->max_bytes);
	}
	if (sp_tail_fix(fd, size, &fix) == -1 || sp_out_init(&o, fd, size) == -1) {
		e = errno ? errno : EIO;
		sp_unlock(&lock);
		close(fd);
		return sp_fail_errno(err, e, "read", t->path);
	}
	/* The critical section: no signal may cut it, and RLIMIT_FSIZE must
	 * give EFBIG rather than kill us. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &oldxfsz);
	sp_sig_block(&oldmask);
	sp_lock_intent(lock, size);
	sp_out_put(&o, fix, strlen(fix));
	sp_out_message(&o, from, when, msg, len, NULL, 0);
	if (sp_out_flush(&o) == -1)
		e = o.err;
	else if (t->max_bytes > 0 && o.off > t->max_bytes)
		e = EDQUOT;
	else if (fsync(fd) == -1)
		e = errno;
	else if (created && sp_fsync_dir(t->path) == -1)
		e = errno;	/* the new name is not durable: no 250 */
	/* Exactly the durability a 250 needs: one fsync of the data, and of
	 * the directory only when this call created the mailbox. */
	if (e != 0) {
		/* Roll back while still locked. */
		if (ftruncate(fd, size) == 0)
			fsync(fd);
	}
	sp_lock_done(lock);
	sp_sig_restore(&oldmask);
	sigaction(SIGXFSZ, &oldxfsz, NULL);
	sp_out_done(&o);
	sp_unlock(&lock);
	close(fd);
	if (e != 0)
		return sp_fail_errno(err, e, "write", t->path);
	sp_err_ok(err);
	return 0;
}

int
sp_deliver(const struct sp_target *t, const char *from, time_t when,
    const char *msg, size_t len, struct sp_err *err)
{
	return deliver(t, from, when, msg, len, -1, err);
}

int
sp_deliver_guarded(const struct sp_target *t, const char *from, time_t when,
    const char *msg, size_t len, int guard_fd, struct sp_err *err)
{
	return deliver(t, from, when, msg, len, guard_fd, err);
}
