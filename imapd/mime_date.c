/*
 * mime_date.c - RFC 5322 3.3 date-time, with the obsolete forms of 4.3
 * that real mail carries: no weekday, 2- or 3-digit years, no seconds,
 * zone names (UT, GMT, EST ... PDT, military letters), comments such as
 * "(PDT)", and dashes as in "4-May-2001".
 */
#include <string.h>

#include "mime_int.h"

/* Years we accept: before 1900 or after 9999 is not a mail date. */
#define MIME_YEAR_MIN	1900
#define MIME_YEAR_MAX	9999

struct mime_dlex {
	const char *p, *end;
};

/* Blanks, comments and commas; with DASH also one '-' (4-May-2001). */
static void
mime_dskip(struct mime_dlex *l, int dash)
{
	mime_skip_cfws(&l->p, l->end);
	while (l->p < l->end && (*l->p == ',' || (dash && *l->p == '-'))) {
		if (*l->p == '-')
			dash = 0;
		l->p++;
		mime_skip_cfws(&l->p, l->end);
	}
}

/* Digits: 1..MAXD of them; returns how many, 0 if none. */
static int
mime_dnum(struct mime_dlex *l, int maxd, int *v)
{
	int n = 0;

	*v = 0;
	while (l->p < l->end && *l->p >= '0' && *l->p <= '9' && n < maxd) {
		*v = *v * 10 + (*l->p++ - '0');
		n++;
	}
	if (l->p < l->end && *l->p >= '0' && *l->p <= '9')
		return 0;		/* too many digits */
	return n;
}

static int
mime_dword(struct mime_dlex *l, const char **w, size_t *n)
{
	const char *s = l->p;

	while (l->p < l->end && ((*l->p >= 'a' && *l->p <= 'z') ||
	    (*l->p >= 'A' && *l->p <= 'Z')))
		l->p++;
	*w = s;
	*n = (size_t)(l->p - s);
	return *n > 0;
}

static int
mime_month(const char *w, size_t n)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int i;

	if (n < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (mime_ci_eq(w, months + 3 * i, 3))
			return i + 1;
	return -1;
}

/* Zone name to minutes east of UTC (RFC 5322 4.3; military zones and
 * unknown names count as 0, "-0000"). */
static int
mime_zone_name(const char *w, size_t n)
{
	static const struct {
		const char *name;
		int off;
	} z[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 },
		{ "EST", -5 * 60 }, { "EDT", -4 * 60 },
		{ "CST", -6 * 60 }, { "CDT", -5 * 60 },
		{ "MST", -7 * 60 }, { "MDT", -6 * 60 },
		{ "PST", -8 * 60 }, { "PDT", -7 * 60 },
	};
	size_t i;

	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++)
		if (strlen(z[i].name) == n && mime_ci_eq(w, z[i].name, n))
			return z[i].off;
	return 0;
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static long long
mime_days(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
mime_mdays(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return md[m - 1];
}

int
mime_parse_date(const char *s, size_t len, time_t *t_r, int *tzoff_r)
{
	struct mime_dlex l = { s, s + len };
	const char *w;
	size_t wn;
	int day, mon, year, hh, mm, ss = 0, tz = 0, nd, v, sign;

	mime_dskip(&l, 0);
	if (mime_dword(&l, &w, &wn))		/* the weekday, unchecked */
		mime_dskip(&l, 0);
	if (mime_dnum(&l, 2, &day) == 0)
		return -1;
	mime_dskip(&l, 1);
	if (!mime_dword(&l, &w, &wn) || (mon = mime_month(w, wn)) < 0)
		return -1;
	mime_dskip(&l, 1);
	if ((nd = mime_dnum(&l, 4, &year)) < 2)
		return -1;
	if (nd == 2)				/* RFC 5322 4.3 */
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	mime_dskip(&l, 0);
	if (mime_dnum(&l, 2, &hh) == 0 || l.p >= l.end || *l.p != ':')
		return -1;
	l.p++;
	if (mime_dnum(&l, 2, &mm) == 0)
		return -1;
	if (l.p < l.end && *l.p == ':') {
		l.p++;
		if (mime_dnum(&l, 2, &ss) == 0)
			return -1;
	}
	mime_skip_cfws(&l.p, l.end);
	if (l.p < l.end && (*l.p == '+' || *l.p == '-')) {
		sign = *l.p++ == '-' ? -1 : 1;
		if (mime_dnum(&l, 4, &v) != 4 || v % 100 > 59)
			return -1;
		tz = sign * (v / 100 * 60 + v % 100);
	} else if (mime_dword(&l, &w, &wn))
		tz = mime_zone_name(w, wn);
	if (year < MIME_YEAR_MIN || year > MIME_YEAR_MAX || day < 1 ||
	    day > mime_mdays(year, mon) || hh > 23 || mm > 59 || ss > 60)
		return -1;
	*t_r = (time_t)(mime_days(year, mon, day) * 86400LL + hh * 3600LL +
	    mm * 60LL + ss - tz * 60LL);
	*tzoff_r = tz;
	return 0;
}

int
mime_date(const struct mime_msg *m, time_t *t_r, int *tzoff_r)
{
	struct mime_rng v;

	if (!mime_hdr_find(m->buf, m->parts[0].hdr_off, m->parts[0].hdr_len,
	    "Date", &v))
		return -1;
	return mime_parse_date(v.p, v.n, t_r, tzoff_r);
}
