/*
 * reply.c - writing IMAP responses: the tagged reply a handler sets
 * (imap_reply), untagged lines, strings as quoted or literal, literals,
 * flag lists; and reading flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

enum imap_rc
imap_reply(struct imap_cmd *c, enum imap_rc rc, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	snprintf(c->code, sizeof(c->code), "%s", code != NULL ? code : "");
	va_start(ap, fmt);
	vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
	return rc;
}

enum imap_rc
imap_bad_usage(struct imap_cmd *c, const char *what)
{
	const char *usage = c->def != NULL ? c->def->usage : c->name;

	return imap_reply(c, IMAP_RC_BAD, NULL, "%s: %s %s%s", what, c->tag,
	    c->uid ? "UID " : "", usage);
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	io_write(&s->io, "* ", 2);
	if ((size_t)n < sizeof(small)) {
		io_write(&s->io, small, (size_t)n);
	} else {
		char *p = malloc((size_t)n + 1);

		if (p == NULL)
			return;
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
		io_write(&s->io, p, (size_t)n);
		free(p);
	}
	io_write(&s->io, "\r\n", 2);
}

/* Can P/LEN go out as a quoted string? */
static int
imap_quotable(const char *p, size_t len)
{
	size_t i;

	if (len > 1024)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return 0;
	}
	return 1;
}

void
imap_sbuf_string(struct sbuf *b, const char *p, size_t len)
{
	size_t i;

	if (p == NULL) {
		sbuf_puts(b, "NIL");
		return;
	}
	if (!imap_quotable(p, len)) {
		sbuf_printf(b, "{%zu}\r\n", len);
		sbuf_add(b, p, len);
		return;
	}
	sbuf_addc(b, '"');
	for (i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			sbuf_addc(b, '\\');
		sbuf_addc(b, p[i]);
	}
	sbuf_addc(b, '"');
}

void
imap_write_string(struct imap_session *s, const char *p, size_t len)
{
	struct sbuf b = { 0 };

	if (p != NULL && !imap_quotable(p, len)) {
		imap_write_literal(s, p, len);
		return;
	}
	imap_sbuf_string(&b, p, len);
	if (!b.oom)
		io_write(&s->io, b.p, b.len);
	sbuf_free(&b);
}

void
imap_write_literal(struct imap_session *s, const char *p, size_t len)
{
	io_printf(&s->io, "{%zu}\r\n", len);
	s->io.transcript_quiet++;
	io_write(&s->io, p, len);
	s->io.transcript_quiet--;
}

static const struct {
	uint32_t flag;
	const char *name;
} imap_flag_names[] = {
	{ SP_ANSWERED,	"\\Answered" },
	{ SP_FLAGGED,	"\\Flagged" },
	{ SP_DELETED,	"\\Deleted" },
	{ SP_SEEN,	"\\Seen" },
	{ SP_DRAFT,	"\\Draft" },
};

void
imap_sbuf_flags(struct imap_session *s, struct sbuf *b, uint32_t flags,
    uint32_t keywords, int recent)
{
	const char *sep = "";
	size_t i;

	sbuf_addc(b, '(');
	for (i = 0; i < nitems(imap_flag_names); i++)
		if (flags & imap_flag_names[i].flag) {
			sbuf_puts(b, sep);
			sbuf_puts(b, imap_flag_names[i].name);
			sep = " ";
		}
	if (recent) {
		sbuf_puts(b, sep);
		sbuf_puts(b, "\\Recent");
		sep = " ";
	}
	for (i = 0; i < SP_KEYWORDS_MAX && s->mbox != NULL; i++) {
		const char *kw;

		if (!(keywords & (1u << i)) ||
		    (kw = sp_keyword(s->mbox, (unsigned)i)) == NULL)
			continue;
		sbuf_puts(b, sep);
		sbuf_puts(b, kw);
		sep = " ";
	}
	sbuf_addc(b, ')');
}

void
imap_sbuf_uint(struct sbuf *b, unsigned long long v)
{
	char d[20], *p = d + sizeof(d);

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	sbuf_add(b, p, (size_t)(d + sizeof(d) - p));
}

int
imap_flag_parse(const char *name, size_t len, uint32_t *flag_r)
{
	size_t i;

	if (len == 0)
		return -1;
	if (name[0] == '\\') {
		for (i = 0; i < nitems(imap_flag_names); i++)
			if (strlen(imap_flag_names[i].name) == len &&
			    strncasecmp(imap_flag_names[i].name, name, len) == 0) {
				*flag_r = imap_flag_names[i].flag;
				return 1;
			}
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return -1;
	}
	return 0;
}

