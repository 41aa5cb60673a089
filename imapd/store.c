/*
 * store.c - STORE and UID STORE (RFC 3501 6.4.6): FLAGS, +FLAGS, -FLAGS,
 * each with .SILENT; system flags and keywords.  The change is made in the
 * mailbox state at once and written to the file lazily (imap_mbox_sync at
 * CHECK, CLOSE, EXPUNGE, LOGOUT or the end of the session).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "cmds.h"

enum store_op { STORE_SET, STORE_ADD, STORE_REMOVE };

struct store_req {
	enum store_op op;
	int silent;
	uint32_t flags;
	uint32_t keywords;
};

/* "FLAGS", "+FLAGS.SILENT", ... */
static int
store_op(const char *a, struct store_req *q)
{
	q->op = STORE_SET;
	if (*a == '+' || *a == '-')
		q->op = *a++ == '+' ? STORE_ADD : STORE_REMOVE;
	if (strncasecmp(a, "FLAGS", 5) != 0)
		return -1;
	a += 5;
	if (*a == '\0')
		return 0;
	if (strcasecmp(a, ".SILENT") != 0)
		return -1;
	q->silent = 1;
	return 0;
}

/* One flag of the list into Q.  Returns 0 or the BAD/NO reply. */
static enum imap_rc
store_flag(struct imap_session *s, struct imap_cmd *c,
    const struct imap_arg *arg, struct store_req *q)
{
	uint32_t f;
	int r, k;

	if (arg->type != IMAP_ARG_ATOM)
		return imap_reply(c, IMAP_RC_BAD, NULL, "Invalid flag: flags "
		    "are atoms such as \\Seen or $Label1, not strings or "
		    "lists");
	if ((r = imap_flag_parse(arg->s, arg->len, &f)) == -1)
		return imap_reply(c, IMAP_RC_BAD, NULL, "Invalid flag '%.*s': "
		    "flags are \\Seen \\Answered \\Flagged \\Deleted \\Draft "
		    "or keywords (atoms)", (int)(arg->len > 64 ? 64 : arg->len),
		    arg->s);
	if (r == 1) {
		q->flags |= f;
		return IMAP_RC_OK;
	}
	k = sp_keyword_index(s->mbox, arg->s, q->op != STORE_REMOVE);
	if (k >= 0)
		q->keywords |= 1u << k;
	else if (q->op != STORE_REMOVE)
		return imap_reply(c, IMAP_RC_NO, "LIMIT", "Too many keywords "
		    "in this mailbox (at most %d)", SP_KEYWORDS_MAX);
	return IMAP_RC_OK;
}

static enum imap_rc
store_parse(struct imap_session *s, struct imap_cmd *c, struct store_req *q)
{
	const struct imap_arg *arg;
	struct imap_args l;
	const char *op;
	enum imap_rc rc;

	if (imap_get_atom(&c->args, &op, NULL) == -1 || store_op(op, q) == -1)
		return imap_bad_usage(c, "STORE needs FLAGS, +FLAGS or -FLAGS "
		    "(optionally .SILENT) and a flag list");
	if (imap_get_list(&c->args, &l) == 0) {
		if (!imap_args_end(&c->args))
			return imap_bad_usage(c, "Nothing may follow the flag "
			    "list");
	} else {
		l = c->args;	/* flags without parentheses */
		c->args.pos = c->args.end;
		if (imap_args_end(&l))
			return imap_bad_usage(c, "STORE needs the flags to "
			    "set");
	}
	while ((arg = imap_args_next(&l)) != NULL)
		if ((rc = store_flag(s, c, arg, q)) != IMAP_RC_OK)
			return rc;
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_store(struct imap_session *s, struct imap_cmd *c)
{
	struct store_req q = { 0 };
	struct imap_seqset set;
	struct sbuf b = { 0 };
	uint32_t seq, cur = 0;
	enum imap_rc rc;
	int gone = 0;

	if (imap_seqset_arg(s, c, &set) == -1)
		return IMAP_RC_BAD;
	if (s->readonly) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "READ-ONLY", "The mailbox is "
		    "read-only (opened with EXAMINE): use SELECT to change "
		    "flags");
	}
	if ((rc = store_parse(s, c, &q)) != IMAP_RC_OK) {
		imap_seqset_free(&set);
		return rc;
	}
	if (imap_mbox_refresh(s) == -1) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot read "
		    "the mailbox");
	}
	while ((seq = imap_seqset_next(s, &set, c->uid, &cur)) != 0) {
		struct imap_msgref *r = &s->msgs[seq - 1];
		uint32_t f = r->flags, k = r->keywords;

		if (imap_msg(s, seq) == NULL) {
			gone = 1;
			continue;
		}
		if (q.op == STORE_SET) {
			f = q.flags;
			k = q.keywords;
		} else if (q.op == STORE_ADD) {
			f |= q.flags;
			k |= q.keywords;
		} else {
			f &= ~q.flags;
			k &= ~q.keywords;
		}
		imap_set_flags(s, seq, f, k);
		if (q.silent)
			continue;
		sbuf_reset(&b);
		imap_sbuf_flags(s, &b, r->flags, r->keywords, r->recent);
		if (b.oom)
			continue;
		if (c->uid)
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq,
			    r->uid, b.p);
		else
			imap_untagged(s, "%u FETCH (FLAGS %s)", seq, b.p);
	}
	sbuf_free(&b);
	imap_seqset_free(&set);
	if (gone)
		return imap_reply(c, IMAP_RC_NO, "EXPUNGEISSUED", "Some of the "
		    "messages no longer exist");
	return IMAP_RC_OK;
}
