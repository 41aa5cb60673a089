/*
 * append.c - APPEND (RFC 3501 6.3.11) with flags, date-time and literals,
 * several messages in one command (MULTIAPPEND, RFC 3502: all or none),
 * and APPENDUID (RFC 4315).
 *
 *   a1 APPEND Drafts (\Draft) "26-Nov-2026 10:00:00 +0100" {310}
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "part2.h"
#include "part2impl.h"

/* Messages in one MULTIAPPEND: each is already in memory (the parser caps
 * all literals of a command at IMAP_LITERAL_MAX); this bounds the arrays. */
#define APPEND_MSGS_MAX		1000

struct append_one {
	uint32_t flags;
	time_t when;
	const char *kw[SP_KEYWORDS_MAX];
	size_t nkw;
	const char *data;
	size_t len;
};

/* Two decimal digits at P.  -1 if not. */
static int
append_2digits(const char *p)
{
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* Days in month MON (0-11) of YEAR, proleptic Gregorian. */
static int
append_mdays(int year, int mon)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return dim[mon] + (mon == 1 && leap);
}

int
fold_datetime(const char *s, size_t len, time_t *t_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char buf[32];
	struct tm tm;
	const char *p;
	int day, zone;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	p = buf[0] == ' ' ? buf + 1 : buf;
	if (isdigit((unsigned char)p[0]) && p[1] == '-')
		day = p[0] - '0', p += 2;
	else if ((day = append_2digits(p)) >= 0 && p[2] == '-')
		p += 3;
	else
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	int mon = -1;
	for (int i = 0; i < 12 && mon < 0; i++)
		if (strncasecmp(p, months + 3 * i, 3) == 0)
			mon = i;
	if (mon < 0 || strlen(p) != 3 + 1 + 4 + 1 + 8 + 1 + 5 || p[3] != '-')
		return -1;
	tm.tm_mon = mon;
	int y1 = append_2digits(p + 4), y2 = append_2digits(p + 6);
	int hh = append_2digits(p + 9), mi = append_2digits(p + 12);
	int ss = append_2digits(p + 15);
	int zh = append_2digits(p + 19), zm = append_2digits(p + 21);
	if (y1 < 0 || y2 < 0 || hh < 0 || mi < 0 || ss < 0 || zh < 0 ||
	    zm < 0 || p[8] != ' ' || p[11] != ':' || p[14] != ':' ||
	    p[17] != ' ' || (p[18] != '+' && p[18] != '-') || day < 1 ||
	    day > 31 || hh > 23 || mi > 59 || ss > 60 || zm > 59)
		return -1;
	/* "31-Feb-2026" is no date: refused, not rolled into March */
	if (day > append_mdays(y1 * 100 + y2, mon))
		return -1;
	tm.tm_year = y1 * 100 + y2 - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	zone = (zh * 60 + zm) * 60 * (p[18] == '-' ? -1 : 1);
	*t_r = timegm(&tm) - zone;
	return 0;
}

/* The flag list of one message.  -1 with the BAD set. */
static int
append_flags(struct imap_cmd *c, struct append_one *m, enum imap_rc *rc_r)
{
	struct imap_args sub;
	const char *f;
	size_t len;
	uint32_t bit;

	if (imap_get_list(&c->args, &sub) == -1)
		return 0;
	while (!imap_args_end(&sub)) {
		int r = imap_get_atom(&sub, &f, &len) == -1 ? -1 :
		    imap_flag_parse(f, len, &bit);
		if (r == 1) {
			m->flags |= bit;
		} else if (r == 0 && m->nkw < SP_KEYWORDS_MAX) {
			m->kw[m->nkw++] = f;
		} else {
			*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Invalid flag in "
			    "APPEND: use \\Seen \\Answered \\Flagged \\Deleted "
			    "\\Draft or keywords, e.g. (\\Seen)");
			return -1;
		}
	}
	return 0;
}

/* One "[flags] [date-time] message" group.  -1 with the reply set. */
static int
append_parse_one(struct imap_cmd *c, struct append_one *m, enum imap_rc *rc_r)
{
	const struct imap_arg *a;

	memset(m, 0, sizeof(*m));
	m->when = time(NULL);
	if (append_flags(c, m, rc_r) == -1)
		return -1;
	a = imap_args_peek(&c->args);
	if (a != NULL && a->type == IMAP_ARG_QUOTED &&
	    imap_args_left(&c->args) >= 2) {
		imap_args_next(&c->args);
		if (fold_datetime(a->s, a->len, &m->when) == -1) {
			*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Invalid date-time"
			    ": write it as \"26-Nov-2026 10:00:00 +0100\"");
			return -1;
		}
	}
	if (imap_get_string(&c->args, &m->data, &m->len) == -1) {
		*rc_r = imap_bad_usage(c, "the message is missing (send it as "
		    "a literal {size})");
		return -1;
	}
	if (m->len == 0) {
		*rc_r = imap_reply(c, IMAP_RC_NO, NULL,
		    "An empty message cannot be appended");
		return -1;
	}
	return 0;
}

static enum imap_rc
append_store(struct imap_session *s, struct imap_cmd *c,
    const struct fold_box *b, struct append_one *v, size_t n)
{
	struct sp_target t = { b->path, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_newmsg *nm = calloc(n, sizeof(*nm));
	uint32_t uidv = 0, first = 0;
	struct sp_err err;
	char code[64];
	int r;

	if (nm == NULL)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	for (size_t i = 0; i < n; i++)
		nm[i] = (struct sp_newmsg){ v[i].data, v[i].len, NULL,
		    v[i].when, v[i].flags, v[i].kw, v[i].nkw };
	r = sp_append(&t, nm, n, &uidv, &first, &err);
	free(nm);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, err.cls == SP_BUSY ? "INUSE" :
		    err.cls == SP_PERMFAIL ? "OVERQUOTA" : "UNAVAILABLE",
		    "Cannot append: %s", err.msg);
	if (fold_is_selected(s, b->path))
		imap_mbox_announce(s, 0);	/* EXISTS for the new mail */
	if (n == 1)
		snprintf(code, sizeof(code), "APPENDUID %u %u", (unsigned)uidv,
		    (unsigned)first);
	else
		snprintf(code, sizeof(code), "APPENDUID %u %u:%u",
		    (unsigned)uidv, (unsigned)first,
		    (unsigned)(first + n - 1));
	return imap_reply(c, IMAP_RC_OK, code, "%s completed", c->name);
}

enum imap_rc
imap_cmd_append(struct imap_session *s, struct imap_cmd *c)
{
	struct append_one *v = NULL;
	const char *wire, *why;
	struct fold_box b;
	enum imap_rc rc;
	size_t n = 0, len;
	int bad;

	if (imap_get_astring(&c->args, &wire, &len) == -1)
		return imap_bad_usage(c, "a mailbox name is missing");
	if (fold_box(s, wire, len, 0, &b, &bad, &why) == -1)
		return imap_reply(c, bad ? IMAP_RC_BAD : IMAP_RC_NO,
		    bad ? NULL : "CANNOT", "%s", why);
	if ((v = calloc(APPEND_MSGS_MAX, sizeof(*v))) == NULL)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	do {
		if (n == APPEND_MSGS_MAX) {
			rc = imap_reply(c, IMAP_RC_NO, "LIMIT", "At most %d "
			    "messages per APPEND", APPEND_MSGS_MAX);
			goto out;
		}
		if (append_parse_one(c, &v[n++], &rc) == -1)
			goto out;
	} while (!imap_args_end(&c->args));
	if (b.kind != MBX_FILE)
		rc = imap_reply(c, IMAP_RC_NO, b.kind == MBX_DIR ? "CANNOT" :
		    "TRYCREATE", "%s", b.kind == MBX_DIR ? "That name is a "
		    "directory, not a mailbox" : "No such mailbox: CREATE it "
		    "first");
	else
		rc = append_store(s, c, &b, v, n);
out:
	free(v);
	return rc;
}
