/*
 * log.c - syslog(3) with an err(3)-style interface, and log_safe.
 *
 * One process serves one connection, so syslog gets LOG_PID and the
 * facility is LOG_MAIL.  openlog() uses LOG_NDELAY so that the /dev/log
 * socket is open before a chroot.  The destination is process-wide state,
 * as syslog's own is: this is the one file-scope variable of the
 * connection layer.  Before log_open() messages go to standard error, so
 * library code called from a test is heard.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

/* One logged message, as syslog truncates anyway. */
#define LOG_MSG_MAX	1024

static struct {
	const char *ident;
	int to;			/* LOGTO_* */
} log_dest = { "mailsuite", LOGTO_STDERR };

void
log_open(const char *ident, int to_stderr)
{
	log_dest.ident = ident;
	log_dest.to = to_stderr;
	if (to_stderr != LOGTO_STDERR)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_vlog(int prio, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_dest.to != LOGTO_STDERR)
		syslog(prio, "%s", msg);
	if (log_dest.to != LOGTO_SYSLOG)
		fprintf(stderr, "%s[%ld]: %s\n", log_dest.ident,
		    (long)getpid(), msg);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", msg, err);
}

/* Bytes needed to show C: itself or \xNN. */
static size_t
log_safe_width(unsigned char c)
{
	return (c < 0x20 || c >= 0x7f || c == '\\') ? 4 : 1;
}

char *
log_safe(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, pos = 0, total = 0, room;

	if (cap == 0)
		return dst;
	for (i = 0; i < len; i++)
		total += log_safe_width((unsigned char)src[i]);
	room = cap - 1;
	if (total > room)	/* keep room for "..." */
		room = room >= 3 ? room - 3 : 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t w = log_safe_width(c);

		if (pos + w > room)
			break;
		if (w == 1) {
			dst[pos++] = (char)c;
		} else {
			dst[pos++] = '\\';
			dst[pos++] = 'x';
			dst[pos++] = hex[c >> 4];
			dst[pos++] = hex[c & 0xf];
		}
	}
	if (total > cap - 1)
		for (i = 0; i < 3 && pos < cap - 1; i++)
			dst[pos++] = '.';
	dst[pos] = '\0';
	return dst;
}
