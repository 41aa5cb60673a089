/*
 * data.c - the DATA reader: the message up to CR LF . CR LF, dot-unstuffed,
 * bare LF normalised to CR LF, with our trace headers added.
 *
 * Only CR LF "." CR LF ends the message: a "." line ended by a bare LF, or
 * following a line ended by a bare LF, is content (SMTP smuggling, CERT
 * VU#302671).  A line over the RFC 5321 limit, a NUL byte or too many
 * bytes make the message refused, but it is still read to its end so that
 * the session stays in step.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp.h"

/* Growth of the message buffer: doubled from this. */
#define SMTP_MSG_INITIAL	(64 * 1024)

struct smtp_rd {
	struct smtp_session *s;
	struct smtp_msg *m;
	enum smtp_data_result bad;	/* first reason to refuse, or OK */
	int in_hdr;			/* still in the header section */
	int seen_hdr;			/* a header field was seen */
	int have_date, have_msgid;
	int hops;			/* Received: and Delivered-To: */
	long long size;			/* content bytes, CR LF line ends */
	unsigned shown;			/* lines put in the transcript */
};

void
smtp_date(char *buf, size_t cap, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, cap, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
	    (off < 0 ? -off : off) % 60, tm.tm_zone != NULL ? tm.tm_zone : "UTC");
}

void
smtp_msg_free(struct smtp_msg *m)
{
	free(m->buf);
	m->buf = NULL;
	m->len = m->cap = 0;
}

/* Append P/N to the common part; on failure remember NOMEM. */
static void
smtp_add(struct smtp_rd *rd, const char *p, size_t n)
{
	struct smtp_msg *m = rd->m;

	if (rd->bad != SMTP_DATA_OK)
		return;
	if (m->cap - m->len < n) {
		size_t cap = m->cap;
		char *nb;
		while (cap - m->len < n)
			cap *= 2;
		if ((nb = realloc(m->buf, SMTP_PREFIX_MAX + cap)) == NULL) {
			rd->bad = SMTP_DATA_NOMEM;
			smtp_msg_free(m);
			return;
		}
		m->buf = nb;
		m->cap = cap;
	}
	memcpy(SMTP_MSG_DATA(m) + m->len, p, n);
	m->len += n;
}

static void
smtp_addf(struct smtp_rd *rd, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void
smtp_addf(struct smtp_rd *rd, const char *fmt, ...)
{
	char buf[SMTP_TRACE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		smtp_add(rd, buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf) - 1);
}

/* Received: as Postfix writes it (the seed shows one). */
static void
smtp_received(struct smtp_rd *rd)
{
	const struct smtp_session *s = rd->s;
	char date[SMTP_DATE_MAX];
	const char *with;

	smtp_date(date, sizeof(date), s->when);
	/* RFC 6531 4.3: UTF8SMTP is ESMTP with SMTPUTF8 */
	with = s->utf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	if (s->peer_addr[0] != '\0')
		smtp_addf(rd, "Received: from %s (%s [%s])\r\n",
		    s->helo, s->peer_name, s->peer_addr);
	else
		smtp_addf(rd, "Received: from %s (unknown)\r\n", s->helo);
	smtp_addf(rd, "\tby %s (mailsuite) with %s id %s", s->cfg->host, with,
	    s->id);
	if (s->nrcpt == 1)
		smtp_addf(rd, "\r\n\tfor <%s>; %s\r\n", s->rcpt[0].addr, date);
	else
		smtp_addf(rd, ";\r\n\t%s\r\n", date);
}

/* At the end of the header section: Date: and Message-ID: if missing. */
static void
smtp_hdr_end(struct smtp_rd *rd)
{
	const struct smtp_session *s = rd->s;
	char date[SMTP_DATE_MAX];
	struct tm tm;

	rd->in_hdr = 0;
	if (!rd->have_msgid) {
		localtime_r(&s->when, &tm);
		smtp_addf(rd, "Message-ID: <%04d%02d%02d%02d%02d%02d.%s@%s>\r\n",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, s->id, s->cfg->host);
	}
	if (!rd->have_date) {
		smtp_date(date, sizeof(date), s->when);
		smtp_addf(rd, "Date: %s\r\n", date);
	}
}

/* Does LINE start a header field ("Name:" with printable name)? */
static size_t
smtp_field_name(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == ':')
			return i;
		if (c <= ' ' || c >= 0x7f)
			return 0;
	}
	return 0;
}

/* Follow the header section of one content line (before it is added). */
static void
smtp_hdr_line(struct smtp_rd *rd, const char *line, size_t len)
{
	size_t n;

	if (len == 0) {
		smtp_hdr_end(rd);
		return;
	}
	if ((line[0] == ' ' || line[0] == '\t') && rd->seen_hdr)
		return;
	if ((n = smtp_field_name(line, len)) == 0) {
		/* the body starts without a blank line: give it one */
		smtp_hdr_end(rd);
		smtp_add(rd, "\r\n", 2);
		return;
	}
	rd->seen_hdr = 1;
	if (n == 4 && strncasecmp(line, "Date", 4) == 0)
		rd->have_date = 1;
	else if (n == 10 && strncasecmp(line, "Message-ID", 10) == 0)
		rd->have_msgid = 1;
	else if ((n == 8 && strncasecmp(line, "Received", 8) == 0) ||
	    (n == 12 && strncasecmp(line, "Delivered-To", 12) == 0))
		rd->hops++;
}

/* One content line, dot-unstuffed already. */
static void
smtp_content(struct smtp_rd *rd, const char *line, size_t len)
{
	if (rd->in_hdr)
		smtp_hdr_line(rd, line, len);
	rd->size += (long long)len + 2;
	if (rd->size > rd->s->cfg->size_max) {
		if (rd->bad == SMTP_DATA_OK) {
			rd->bad = SMTP_DATA_TOOBIG;
			smtp_msg_free(rd->m);
		}
		return;
	}
	smtp_add(rd, line, len);
	smtp_add(rd, "\r\n", 2);
}

static void
smtp_transcript(struct smtp_rd *rd, const char *line, size_t len)
{
	struct io *io = &rd->s->io;
	char note[sizeof("[more message lines not shown]")];

	if (io->transcript == IO_TRANSCRIPT_OFF)
		return;
	if (rd->shown < SMTP_TRANSCRIPT_DATA)
		io_log_client(io, line, len, len);
	else if (rd->shown == SMTP_TRANSCRIPT_DATA) {
		snprintf(note, sizeof(note), "[more message lines not shown]");
		io_log_client(io, note, strlen(note), strlen(note));
	}
	rd->shown++;
}

static enum smtp_data_result
smtp_data_end(struct smtp_rd *rd, enum smtp_data_result r)
{
	if (r != SMTP_DATA_OK || rd->bad != SMTP_DATA_OK) {
		smtp_msg_free(rd->m);
		return r != SMTP_DATA_OK ? r : rd->bad;
	}
	if (rd->in_hdr)
		smtp_hdr_end(rd);
	if (rd->bad != SMTP_DATA_OK) {
		smtp_msg_free(rd->m);
		return rd->bad;
	}
	if (rd->hops > SMTP_HOPS_MAX) {
		smtp_msg_free(rd->m);
		return SMTP_DATA_LOOP;
	}
	return SMTP_DATA_OK;
}

/*
 * While a message comes in we send nothing, so the kernel delays its ACKs
 * (40 ms or more); a client that writes the body, then ".\r\n" in a
 * small segment of its own, has Nagle hold that segment until the ACK, and
 * the 250 would come that much later.  TCP_QUICKACK makes ACKs immediate
 * (and sends one that is pending), but it is not sticky: it is armed again
 * before each read.  *QUICK is cleared once the input proves not to be a
 * TCP socket (tests, pipes).
 */
static void
smtp_quickack(const struct smtp_session *s, int *quick)
{
	int one = 1;

	if (*quick && !io_pending_line(&s->io) &&
	    setsockopt(s->io.rfd, IPPROTO_TCP, TCP_QUICKACK, &one,
	    sizeof(one)) == -1)
		*quick = 0;
}

enum smtp_data_result
smtp_data(struct smtp_session *s, struct smtp_msg *m)
{
	struct smtp_rd rd;
	/* a text line: 1000 octets with CR LF (RFC 5321 4.5.3.1.6) */
	char line[SMTP_TEXT_MAX - 1];
	int prev_crlf = 1;	/* the DATA command line counts as one */
	size_t len;
	unsigned flags;
	int quick = 1;

	memset(&rd, 0, sizeof(rd));
	s->data_lf_dot = 0;
	rd.s = s;
	rd.m = m;
	rd.in_hdr = 1;
	m->len = 0;
	m->cap = SMTP_MSG_INITIAL;
	if ((m->buf = malloc(SMTP_PREFIX_MAX + m->cap)) == NULL) {
		m->cap = 0;
		rd.bad = SMTP_DATA_NOMEM;
	}
	smtp_received(&rd);
	for (;;) {
		smtp_quickack(s, &quick);
		switch (io_getline(&s->io, line, sizeof(line), &len, &flags)) {
		case IO_OK:
			break;
		case IO_TOOLONG:
			/* refused, but still a line: how it ended decides
			 * whether a "." line after it ends the message
			 * (an overlong line ended by a bare LF, then
			 * ".\r\n", is content, as for any line) */
			if (rd.bad == SMTP_DATA_OK) {
				rd.bad = SMTP_DATA_LONGLINE;
				smtp_msg_free(m);
			}
			prev_crlf = !(flags & IO_LINE_BARE_LF);
			continue;
		case IO_EOF:
			return smtp_data_end(&rd, SMTP_DATA_EOF);
		case IO_TIMEOUT:
			return smtp_data_end(&rd, SMTP_DATA_TIMEOUT);
		case IO_ERR:
			return smtp_data_end(&rd, SMTP_DATA_IOERR);
		}
		if (len == 1 && line[0] == '.') {
			if (prev_crlf && !(flags & IO_LINE_BARE_LF))
				break;
			s->data_lf_dot = 1;
		}
		prev_crlf = !(flags & IO_LINE_BARE_LF);
		smtp_transcript(&rd, line, len);
		if ((flags & IO_LINE_NUL) && rd.bad == SMTP_DATA_OK) {
			rd.bad = SMTP_DATA_NUL;
			smtp_msg_free(m);
		}
		if (rd.bad != SMTP_DATA_OK)
			continue;
		if (line[0] == '.')
			smtp_content(&rd, line + 1, len - 1);
		else
			smtp_content(&rd, line, len);
	}
	return smtp_data_end(&rd, SMTP_DATA_OK);
}
