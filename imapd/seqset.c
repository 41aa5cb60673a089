/*
 * seqset.c - IMAP sequence sets (RFC 3501 9, sequence-set): "1,3:5,7:*"
 * parsed into sorted, merged ranges of message numbers or UIDs.
 */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* One number or '*' of TEXT[*I..].  0, or -1 if there is none (*ERR_R
 * then says why when it is a number out of range). */
static int
seq_number(const char *text, size_t len, size_t *i, uint32_t star,
    uint32_t *v_r, int *star_r, const char **err_r)
{
	unsigned long long v;
	size_t j = *i;

	if (j < len && text[j] == '*') {
		*v_r = star;
		*star_r = 1;
		*i = j + 1;
		return 0;
	}
	while (j < len && text[j] >= '0' && text[j] <= '9')
		j++;
	if (j == *i)
		return -1;
	if (parse_uint(text + *i, j - *i, UINT32_MAX, &v) == -1) {
		/* Dovecot wraps 4294967297 to 1; we say what is wrong */
		*err_r = "Number too large in the sequence set: message "
		    "numbers and UIDs go from 1 to 4294967295";
		return -1;
	}
	if (v == 0) {
		*err_r = "0 is not a message number: messages are numbered "
		    "from 1 (use 1:* for all of them)";
		return -1;
	}
	*v_r = (uint32_t)v;
	*i = j;
	return 0;
}

/* Sort and merge SET's ranges. */
static void
seqset_normalise(struct imap_seqset *set)
{
	size_t i, n = 0;

	if (set->n == 0)
		return;
	qsort(set->r, set->n, sizeof(set->r[0]), range_cmp);
	for (i = 1; i < set->n; i++) {
		struct imap_range *last = &set->r[n];

		if (set->r[i].lo <= last->hi ||
		    (last->hi != UINT32_MAX && set->r[i].lo == last->hi + 1)) {
			if (set->r[i].hi > last->hi)
				last->hi = set->r[i].hi;
		} else {
			set->r[++n] = set->r[i];
		}
	}
	set->n = n + 1;
}

int
imap_seqset_parse(const char *text, size_t len, uint32_t star,
    struct imap_seqset *set, const char **err_r)
{
	size_t i = 0, cap = 0;

	memset(set, 0, sizeof(*set));
	*err_r = "Invalid sequence set: use numbers from 1, ranges a:b, '*' "
	    "for the last message, and commas (for example 1:3,5,7:*)";
	if (len == 0)
		return -1;
	for (;;) {
		uint32_t lo, hi;
		int star_used = 0;

		if (seq_number(text, len, &i, star, &lo, &star_used,
		    err_r) == -1)
			goto bad;
		hi = lo;
		if (i < len && text[i] == ':') {
			i++;
			if (seq_number(text, len, &i, star, &hi, &star_used,
			    err_r) == -1)
				goto bad;
		}
		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (lo == 0)		/* '*' in an empty mailbox */
			lo = 1;
		if (hi != 0) {
			if (set->n == cap) {
				struct imap_range *r;

				if (cap >= IMAP_SEQ_RANGES_MAX) {
					*err_r = "Sequence set has too many "
					    "ranges";
					goto bad;
				}
				cap = cap ? cap * 2 : 8;
				if ((r = reallocarray(set->r, cap,
				    sizeof(*r))) == NULL) {
					*err_r = "Out of memory";
					goto bad;
				}
				set->r = r;
			}
			set->r[set->n].lo = lo;
			set->r[set->n].hi = hi;
			set->n++;
		}
		if (i == len)
			break;
		if (text[i++] != ',' || i == len)
			goto bad;
	}
	seqset_normalise(set);
	return 0;
bad:
	imap_seqset_free(set);
	return -1;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

/* Index of the first range with hi >= V, or SET->n. */
static size_t
seqset_find(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->r[mid].hi < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
imap_seqset_has(const struct imap_seqset *set, uint32_t v)
{
	size_t k = seqset_find(set, v);

	return k < set->n && set->r[k].lo <= v;
}

uint32_t
imap_seqset_max(const struct imap_seqset *set)
{
	return set->n > 0 ? set->r[set->n - 1].hi : 0;
}

int
imap_seqset_arg(struct imap_session *s, struct imap_cmd *c,
    struct imap_seqset *set)
{
	const char *text, *err;
	size_t len;
	uint32_t star;

	memset(set, 0, sizeof(*set));
	if (imap_get_atom(&c->args, &text, &len) == -1) {
		imap_bad_usage(c, "Expected a sequence set (such as 1:*)");
		return -1;
	}
	star = c->uid ? (s->nmsgs > 0 ? s->msgs[s->nmsgs - 1].uid : 0) :
	    s->nmsgs;
	if (imap_seqset_parse(text, len, star, set, &err) == -1) {
		imap_reply(c, IMAP_RC_BAD, NULL, "%s", err);
		return -1;
	}
	if (!c->uid && imap_seqset_max(set) > s->nmsgs) {
		imap_reply(c, IMAP_RC_BAD, NULL, "Invalid message number %u: "
		    "the mailbox has %u message%s (use UID %s for UIDs)",
		    imap_seqset_max(set), s->nmsgs, s->nmsgs == 1 ? "" : "s",
		    c->name);
		imap_seqset_free(set);
		return -1;
	}
	return 0;
}

/* First sequence number >= FROM whose UID is >= UID (binary search). */
static uint32_t
seq_from_uid(const struct imap_session *s, uint32_t from, uint32_t uid)
{
	uint32_t lo = from, hi = s->nmsgs + 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->msgs[mid - 1].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
imap_seqset_next(const struct imap_session *s, const struct imap_seqset *set,
    int by_uid, uint32_t *cur)
{
	uint32_t seq = *cur + 1;
	size_t k;

	while (seq <= s->nmsgs) {
		uint32_t v = by_uid ? s->msgs[seq - 1].uid : seq;

		k = seqset_find(set, v);
		if (k == set->n)
			break;
		if (set->r[k].lo <= v) {
			*cur = seq;
			return seq;
		}
		if (!by_uid)
			seq = set->r[k].lo;
		else
			seq = seq_from_uid(s, seq, set->r[k].lo);
	}
	*cur = s->nmsgs;
	return 0;
}
