/*
 * io.c - the bounded line reader and buffered writer every server uses.
 *
 * Reading: bytes are read into io->in (IO_IN_BUF) and lines are copied out
 * to the caller's buffer, whose capacity fixes the longest line.  A line
 * that does not fit is consumed up to its LF and reported once as
 * IO_TOOLONG, so its tail is never taken for a command.  Only "\r\n" and
 * "\n" end a line; a CR anywhere else is data.
 *
 * Writing: responses accumulate in io->out (IO_OUT_BUF) and go out when the
 * reader is about to wait for input, so one command gets one write and a
 * pipelined batch gets one write for all its answers.  A full buffer is
 * written at once, so a large response streams in IO_OUT_BUF chunks.
 *
 * Timeouts: every wait is a poll() bounded by the idle timeout and by the
 * session deadline; nothing uses alarm() or longjmp.  A write error or
 * timeout sticks in io->out_error and fails everything after it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* A transcript line shows this much of a line, sanitised. */
#define IO_LOG_LINE	512

static long long
io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
io_tcp_nodelay(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type, one = 1;
	socklen_t tl = sizeof(type);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 ||
	    type != SOCK_STREAM)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
io_init(struct io *io, int rfd, int wfd, int idle_sec)
{
	struct sigaction sa;
	int type;
	socklen_t tl = sizeof(type);

	memset(io, 0, sizeof(*io));
	io->rfd = rfd;
	io->wfd = wfd;
	io->idle_sec = idle_sec;
	io->deadline = io_now_ms() / 1000 + SESSION_MAX_SEC;
	io->s_line_start = 1;
	io->wfd_oflags = -1;
	if ((io->out = malloc(IO_OUT_BUF)) == NULL)
		return -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGPIPE, &sa, NULL);

	if (getsockopt(wfd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0) {
		io->wfd_sock = 1;
		io_tcp_nodelay(wfd);
	} else {
		int fl = fcntl(wfd, F_GETFL);

		/* A pipe (tests, `| smtpd`): non-blocking so that a
		 * write cannot outlive its timeout.  A terminal or file is
		 * left alone: it does not stop reading. */
		if (fl != -1 && !(fl & O_NONBLOCK)) {
			struct stat st;

			if (fstat(wfd, &st) == 0 && S_ISFIFO(st.st_mode) &&
			    fcntl(wfd, F_SETFL, fl | O_NONBLOCK) == 0)
				io->wfd_oflags = fl;
		}
	}
	return 0;
}

void
io_free(struct io *io)
{
	if (io->wfd_oflags != -1) {
		(void)fcntl(io->wfd, F_SETFL, io->wfd_oflags);
		io->wfd_oflags = -1;
	}
	free(io->out);
	io->out = NULL;
	io->out_len = io->out_logged = 0;
	explicit_bzero(io->in, sizeof(io->in));
	io->in_start = io->in_end = 0;
}

void
io_set_timeout(struct io *io, int idle_sec)
{
	io->idle_sec = idle_sec;
}

/* Wait until FD is ready for EVENTS: 0, IO_TIMEOUT or IO_ERR. */
static int
io_wait(struct io *io, int fd, short events)
{
	struct pollfd pfd;
	long long limit, now;
	int ms, n;

	for (;;) {
		now = io_now_ms();
		limit = -1;
		if (io->idle_sec > 0)
			limit = (long long)io->idle_sec * 1000;
		if (io->deadline > 0) {
			long long left = io->deadline * 1000 - now;

			if (left <= 0)
				return IO_TIMEOUT;
			if (limit < 0 || left < limit)
				limit = left;
		}
		ms = limit < 0 ? -1 : (int)(limit > 86400000 ? 86400000 : limit);
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;	/* ready, or HUP/ERR: the call tells */
		if (n == 0) {
			/* a wait capped at one day is not a timeout yet */
			if (limit > 86400000)
				continue;
			return IO_TIMEOUT;
		}
		if (errno != EINTR)
			return IO_ERR;
	}
}

/* ---- output ------------------------------------------------------------- */

/* Log one server line (without its CRLF) to the transcript. */
static void
io_log_line(struct io *io, const char *tag, const char *p, size_t n)
{
	char safe[IO_LOG_LINE];

	log_safe(safe, sizeof(safe), p, n);
	if (io->transcript == IO_TRANSCRIPT_SYSLOG)
		log_info("%s%s", tag, safe);
	else if (io->transcript == IO_TRANSCRIPT_STDERR)
		fprintf(stderr, "%s%s\n", tag, safe);
}

/* Log the complete lines in out[out_logged..out_len); with FORCE also a
 * partial last line (the buffer is about to be written). */
static void
io_log_output(struct io *io, int force)
{
	if (io->transcript == IO_TRANSCRIPT_OFF) {
		io->out_logged = io->out_len;
		return;
	}
	while (io->out_logged < io->out_len) {
		const char *p = io->out + io->out_logged;
		size_t n = io->out_len - io->out_logged, ln;
		const char *lf = memchr(p, '\n', n);

		if (lf == NULL && !force)
			return;
		ln = lf != NULL ? (size_t)(lf - p) + 1 : n;
		if (io->transcript_quiet <= 0) {
			size_t len = ln;

			if (len > 0 && p[len - 1] == '\n')
				len--;
			if (len > 0 && p[len - 1] == '\r')
				len--;
			io_log_line(io, io->s_line_start ? "S: " : "S+ ",
			    p, len);
		}
		io->s_line_start = lf != NULL;
		io->out_logged += ln;
	}
}

/* Write P/N to the peer, waiting for it at most the timeouts. */
static int
io_write_all(struct io *io, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		int rc;

		if (io->wfd_sock)
			w = send(io->wfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(io->wfd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = io_wait(io, io->wfd, POLLOUT)) != 0) {
				if (rc == IO_TIMEOUT)
					errno = ETIMEDOUT;
				return rc;
			}
			continue;
		}
		if (w == 0)
			errno = EIO;
		return IO_ERR;
	}
	return 0;
}

int
io_flush(struct io *io)
{
	int rc;

	if (io->out_error)
		return -1;
	if (io->out_len == 0)
		return 0;
	io_log_output(io, 1);
	rc = io_write_all(io, io->out, io->out_len);
	io->out_len = io->out_logged = 0;
	if (rc != 0) {
		io->out_error = rc;
		return -1;
	}
	return 0;
}

void
io_write(struct io *io, const void *p, size_t n)
{
	const char *s = p;

	if (io->out_error || io->out == NULL)
		return;
	while (n > 0) {
		size_t room = IO_OUT_BUF - io->out_len;
		size_t k = n < room ? n : room;

		memcpy(io->out + io->out_len, s, k);
		io->out_len += k;
		s += k;
		n -= k;
		io_log_output(io, 0);
		if (io->out_len == IO_OUT_BUF && io_flush(io) == -1)
			return;
	}
}

char *
io_reserve(struct io *io, size_t min, size_t *room_r)
{
	*room_r = 0;
	if (io->out_error || io->out == NULL || min > IO_OUT_BUF)
		return NULL;
	if (IO_OUT_BUF - io->out_len < min && io_flush(io) == -1)
		return NULL;
	*room_r = IO_OUT_BUF - io->out_len;
	return io->out + io->out_len;
}

void
io_commit(struct io *io, size_t n)
{
	if (io->out_error || io->out == NULL || n > IO_OUT_BUF - io->out_len)
		return;
	io->out_len += n;
	io_log_output(io, 0);
	if (io->out_len == IO_OUT_BUF)
		(void)io_flush(io);
}

void
io_puts(struct io *io, const char *s)
{
	io_write(io, s, strlen(s));
}

void
io_printf(struct io *io, const char *fmt, ...)
{
	char small[1024], *p = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		if ((p = malloc((size_t)n + 1)) == NULL) {
			io->out_error = IO_ERR;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	io_write(io, p, (size_t)n);
	if (p != small)
		free(p);
}

void
io_log_client(struct io *io, const char *line, size_t len, size_t mask_from)
{
	char safe[IO_LOG_LINE];

	if (io->transcript == IO_TRANSCRIPT_OFF)
		return;
	if (mask_from < len) {
		log_safe(safe, sizeof(safe) - 8, line, mask_from);
		strcat(safe, "********");
	} else {
		log_safe(safe, sizeof(safe), line, len);
	}
	if (io->transcript == IO_TRANSCRIPT_SYSLOG)
		log_info("C: %s", safe);
	else
		fprintf(stderr, "C: %s\n", safe);
}

/* ---- input -------------------------------------------------------------- */

/* Read more input into io->in: IO_OK, IO_EOF, IO_TIMEOUT or IO_ERR.
 * Pending output goes out first: we are about to wait for the client. */
static enum io_status
io_fill(struct io *io)
{
	ssize_t r;
	int rc;

	if (io->out_len > 0 && io_flush(io) == -1)
		return (enum io_status)io->out_error;
	if (io->out_error)
		return (enum io_status)io->out_error;
	if (io->in_start == io->in_end)
		io->in_start = io->in_end = 0;
	else if (io->in_end == sizeof(io->in)) {
		memmove(io->in, io->in + io->in_start,
		    io->in_end - io->in_start);
		io->in_end -= io->in_start;
		io->in_start = 0;
	}
	if (io->in_end == sizeof(io->in)) {
		/* cannot happen: callers consume before they read more */
		errno = ENOBUFS;
		return IO_ERR;
	}
	for (;;) {
		if ((rc = io_wait(io, io->rfd, POLLIN)) != 0) {
			if (rc == IO_TIMEOUT)
				errno = ETIMEDOUT;
			return (enum io_status)rc;
		}
		r = read(io->rfd, io->in + io->in_end,
		    sizeof(io->in) - io->in_end);
		if (r > 0) {
			io->in_end += (size_t)r;
			return IO_OK;
		}
		if (r == 0)
			return IO_EOF;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return IO_ERR;
	}
}

enum io_status
io_getline(struct io *io, char *buf, size_t cap, size_t *len_r,
    unsigned *flags_r)
{
	size_t len = 0;		/* bytes stored in BUF, CRs included */
	unsigned flags = 0;
	int toolong = cap == 0;
	int cr = 0;		/* the last byte before the LF was a CR
				 * (tracked even when BUF no longer holds it) */
	enum io_status st;

	*len_r = 0;
	*flags_r = 0;
	for (;;) {
		const char *p = io->in + io->in_start;
		size_t avail = io->in_end - io->in_start;
		const char *lf = memchr(p, '\n', avail);
		size_t n = lf != NULL ? (size_t)(lf - p) : avail;

		if (memchr(p, '\0', n) != NULL)
			flags |= IO_LINE_NUL;
		if (n > 0)
			cr = p[n - 1] == '\r';
		/* BUF holds the line and, in its last byte, a possible CR
		 * that the LF will turn out to end */
		if (!toolong && n <= cap - len) {
			memcpy(buf + len, p, n);
			len += n;
		} else {
			toolong = 1;
		}
		io->in_start += n;
		if (lf != NULL) {
			io->in_start++;		/* the LF */
			break;
		}
		if ((st = io_fill(io)) != IO_OK)
			return st;
	}
	if (!cr)
		flags |= IO_LINE_BARE_LF;
	else if (!toolong)
		len--;		/* the CR is in BUF: drop it */
	/* an overlong line reports its flags too, so that a caller can
	 * still tell a CR LF end from a bare LF (the DATA terminator) */
	*flags_r = flags;
	if (toolong || len >= cap) {
		if (cap > 0)
			buf[0] = '\0';
		return IO_TOOLONG;
	}
	buf[len] = '\0';
	*len_r = len;
	return IO_OK;
}

int
io_pending_line(const struct io *io)
{
	return memchr(io->in + io->in_start, '\n',
	    io->in_end - io->in_start) != NULL;
}

enum io_status
io_read(struct io *io, void *buf, size_t n)
{
	char *d = buf;
	enum io_status st;

	while (n > 0) {
		size_t avail = io->in_end - io->in_start;
		size_t k = n < avail ? n : avail;

		if (k > 0) {
			memcpy(d, io->in + io->in_start, k);
			io->in_start += k;
			d += k;
			n -= k;
			continue;
		}
		if ((st = io_fill(io)) != IO_OK)
			return st;
	}
	return IO_OK;
}

enum io_status
io_skip(struct io *io, size_t n)
{
	enum io_status st;

	while (n > 0) {
		size_t avail = io->in_end - io->in_start;
		size_t k = n < avail ? n : avail;

		if (k > 0) {
			io->in_start += k;
			n -= k;
			continue;
		}
		if ((st = io_fill(io)) != IO_OK)
			return st;
	}
	return IO_OK;
}

int
io_unread(struct io *io, const char *buf, size_t n)
{
	size_t have = io->in_end - io->in_start;

	if (n > sizeof(io->in) - have)
		return -1;
	if (n > sizeof(io->in) - io->in_end) {
		memmove(io->in, io->in + io->in_start, have);
		io->in_start = 0;
		io->in_end = have;
	}
	memcpy(io->in + io->in_end, buf, n);
	io->in_end += n;
	return 0;
}

const char *
io_leftover(const struct io *io, size_t *len_r)
{
	*len_r = io->in_end - io->in_start;
	return io->in + io->in_start;
}
