/*
 * addr.c - the syntax of SMTP paths (RFC 5321 4.1.2, RFC 6531 3.3) and
 * which domains are ours.  Validators fail closed: whatever is not
 * recognised is a syntax error.
 */
#include <arpa/inet.h>

#include <string.h>
#include <strings.h>

#include "smtp.h"

/* RFC 5322 atext, plus UTF-8 bytes (checked as a whole afterwards). */
static int
smtp_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
	    c >= 0x80;
}

int
smtp_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], n, cp, k;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* Dot-string: atom *("." atom).  Returns the length, 0 if none. */
static size_t
smtp_dotstring(const char *s)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;
		while (smtp_atext((unsigned char)s[i]))
			i++;
		if (i == start)
			return 0;	/* empty atom: "..", leading or trailing dot */
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Quoted-string starting at S[0] == '"': copies the unquoted text into
 * OUT (capacity CAP) and returns the length consumed, 0 on error. */
static size_t
smtp_quoted(const char *s, char *out, size_t cap)
{
	size_t i = 1, o = 0;

	for (;;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)s[++i];
			if (c < ' ' || c > '~')
				return 0;
		} else if (c < ' ' || c == 0x7f) {
			return 0;	/* also the end of the string */
		}
		if (o + 1 >= cap)
			return 0;
		out[o++] = (char)c;
		i++;
	}
	out[o] = '\0';
	return i + 1;
}

/* Domain name: labels of letters, digits and hyphens (or UTF-8), not
 * starting or ending with a hyphen, 1-63 long.  Returns the length. */
static size_t
smtp_domain_syntax(const char *s)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;
		while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || (unsigned char)s[i] >= 0x80)
			i++;
		if (i == start || i - start > SMTP_LABEL_MAX || s[start] == '-' ||
		    s[i - 1] == '-')
			return 0;
		if (s[i] != '.')
			return i;
		i++;
		if (s[i] == '>' || s[i] == '\0')
			return i;	/* one trailing dot, as Postfix allows */
	}
}

/* Address literal "[1.2.3.4]" or "[IPv6:...]".  Returns the length. */
static size_t
smtp_literal(const char *s)
{
	const char *end = strchr(s, ']');
	char buf[INET6_ADDRSTRLEN + 5];	/* "IPv6:" and the address */
	unsigned char a[sizeof(struct in6_addr)];
	size_t n;

	if (end == NULL || (n = (size_t)(end - s - 1)) >= sizeof(buf) || n == 0)
		return 0;
	memcpy(buf, s + 1, n);
	buf[n] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, a) != 1)
			return 0;
	} else if (inet_pton(AF_INET, buf, a) != 1) {
		return 0;
	}
	return n + 2;
}

/* Skip a source route "@a,@b:" (RFC 5321 4.1.2, to be ignored). */
static const char *
smtp_source_route(const char *s)
{
	while (*s == '@') {
		size_t n = smtp_domain_syntax(s + 1);
		if (n == 0)
			return NULL;
		s += 1 + n;
		if (*s == ',')
			s++;
		else if (*s == ':')
			return s + 1;
		else
			return NULL;
	}
	return NULL;
}

enum smtp_addr_err
smtp_parse_path(const char *arg, int null_ok, struct smtp_path *p)
{
	const char *s = arg, *local;
	size_t n, llen;

	memset(p, 0, sizeof(*p));
	p->params = "";
	while (*s == ' ')
		s++;
	if (*s != '<')
		return SMTP_ADDR_NOBRACKET;
	s++;
	if (*s == '>') {
		if (!null_ok)
			return SMTP_ADDR_SYNTAX;
		s++;
		goto params;
	}
	if (*s == '@' && (s = smtp_source_route(s)) == NULL)
		return SMTP_ADDR_SYNTAX;
	local = s;
	if (*s == '"') {
		if ((n = smtp_quoted(s, p->local, sizeof(p->local))) == 0)
			return SMTP_ADDR_SYNTAX;
	} else {
		if ((n = smtp_dotstring(s)) == 0)
			return SMTP_ADDR_SYNTAX;
		if (n >= sizeof(p->local))
			return SMTP_ADDR_TOOLONG;
		memcpy(p->local, s, n);
		p->local[n] = '\0';
	}
	s += n;
	llen = n;
	if (llen > SMTP_LOCAL_MAX + 2)		/* with its quotes */
		return SMTP_ADDR_TOOLONG;
	if (*s == '>') {
		/* only <postmaster> may come without a domain */
		if (strcasecmp(p->local, "postmaster") != 0)
			return SMTP_ADDR_SYNTAX;
	} else {
		if (*s++ != '@')
			return SMTP_ADDR_SYNTAX;
		n = *s == '[' ? smtp_literal(s) : smtp_domain_syntax(s);
		if (n == 0)
			return SMTP_ADDR_SYNTAX;
		if (n > SMTP_DOMAIN_MAX)
			return SMTP_ADDR_TOOLONG;
		memcpy(p->domain, s, n);
		p->domain[n] = '\0';
		s += n;
		if (*s != '>')
			return SMTP_ADDR_SYNTAX;
	}
	n = (size_t)(s - local);
	if (n > SMTP_ADDR_MAX)
		return SMTP_ADDR_TOOLONG;
	memcpy(p->addr, local, n);
	p->addr[n] = '\0';
	s++;
	if (!smtp_utf8_valid(p->addr, n))
		return SMTP_ADDR_SYNTAX;
	for (n = 0; p->addr[n] != '\0'; n++)
		if ((unsigned char)p->addr[n] >= 0x80)
			p->utf8 = 1;
params:
	if (*s != '\0' && *s != ' ')
		return SMTP_ADDR_SYNTAX;
	while (*s == ' ')
		s++;
	p->params = s;
	return SMTP_ADDR_OK;
}

/* Compare domain D (one trailing dot ignored) with NAME, case-blind. */
static int
smtp_domain_eq(const char *d, const char *name)
{
	size_t n = strlen(d);

	if (n > 0 && d[n - 1] == '.')
		n--;
	return strlen(name) == n && strncasecmp(d, name, n) == 0;
}

int
smtp_domain_local(const struct smtp_cfg *cfg, const char *domain)
{
	size_t i;

	if (smtp_domain_eq(domain, cfg->host) ||
	    smtp_domain_eq(domain, "localhost") ||
	    smtp_domain_eq(domain, "[127.0.0.1]") ||
	    smtp_domain_eq(domain, "[IPv6:::1]"))
		return 1;
	for (i = 0; i < cfg->ndomains; i++)
		if (smtp_domain_eq(domain, cfg->domains[i]))
			return 1;
	return 0;
}
