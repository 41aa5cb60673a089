/*
 * select.c - the selected mailbox: SELECT, EXAMINE, CLOSE, UNSELECT,
 * CHECK, EXPUNGE, NOOP, IDLE, and the session's view of the mailbox
 * (message numbers, \Recent, untagged EXISTS / EXPUNGE / FETCH FLAGS).
 *
 * The view (s->msgs) maps sequence numbers to UIDs and to the index in the
 * sp_mbox.  Both are in UID order, so after any sp_refresh or sp_sync a
 * merge (view_remap) finds every message again in O(n); a message the file
 * no longer has becomes IMAP_GONE until an announcement point removes it
 * with "* N EXPUNGE".
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "cmds.h"
#include "part2.h"

/* The flags a client sees and sets (not \Recent, not the expunge mark). */
#define SYSFLAGS (SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DELETED | SP_DRAFT)

/* ---- the view ------------------------------------------------------------ */

const struct sp_msg *
imap_msg(const struct imap_session *s, uint32_t seq)
{
	if (s->mbox == NULL || seq == 0 || seq > s->nmsgs ||
	    s->msgs[seq - 1].idx == IMAP_GONE)
		return NULL;
	return sp_msg(s->mbox, s->msgs[seq - 1].idx);
}

uint32_t
imap_msg_index(const struct imap_session *s, uint32_t seq)
{
	if (seq == 0 || seq > s->nmsgs)
		return IMAP_GONE;
	return s->msgs[seq - 1].idx;
}

uint32_t
imap_seq_of_uid(const struct imap_session *s, uint32_t uid)
{
	uint32_t lo = 0, hi = s->nmsgs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nmsgs && s->msgs[lo].uid == uid ? lo + 1 : 0;
}

/* Find every message of the view in the sp_mbox again, by UID. */
static void
view_remap(struct imap_session *s)
{
	uint32_t n = sp_count(s->mbox), j = 0, i;

	for (i = 0; i < s->nmsgs; i++) {
		uint32_t uid = s->msgs[i].uid;

		while (j < n && sp_msg(s->mbox, j)->uid < uid)
			j++;
		s->msgs[i].idx = j < n && sp_msg(s->mbox, j)->uid == uid ?
		    j : IMAP_GONE;
	}
	imap_mime_drop(s);
}

/* Add the messages of the sp_mbox beyond the view's last UID.  Returns
 * the number added, or -1 (no memory). */
static long
view_grow(struct imap_session *s)
{
	uint32_t n = sp_count(s->mbox), last, j, lo, hi;
	long added = 0;

	last = s->nmsgs > 0 ? s->msgs[s->nmsgs - 1].uid : 0;
	for (lo = 0, hi = n; lo < hi;) {	/* first UID > last */
		uint32_t mid = lo + (hi - lo) / 2;

		if (sp_msg(s->mbox, mid)->uid <= last)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (n - lo > s->msgcap - s->nmsgs) {
		uint32_t cap = s->nmsgs + (n - lo);
		struct imap_msgref *v;

		cap += cap / 4 + 16;
		if ((v = reallocarray(s->msgs, cap, sizeof(*v))) == NULL)
			return -1;
		s->msgs = v;
		s->msgcap = cap;
	}
	for (j = lo; j < n; j++) {
		const struct sp_msg *m = sp_msg(s->mbox, j);
		struct imap_msgref *r = &s->msgs[s->nmsgs++];

		r->uid = m->uid;
		r->idx = j;
		r->flags = m->flags & SYSFLAGS;
		r->keywords = m->keywords;
		r->recent = (m->flags & SP_RECENT) != 0;
		if (r->recent) {
			s->nrecent++;
			/*
			 * \Recent is claimed lazily: the next sp_sync (CHECK,
			 * CLOSE, EXPUNGE, UNSELECT, LOGOUT, end of session)
			 * writes "Status: O" for every message of the index.
			 * No sp_set_state: the message is not marked changed,
			 * so flags another session sets on it meanwhile are
			 * kept.  For new mail from smtpd (no state block yet)
			 * that write is a rewrite of the file's tail, which a
			 * SELECT or the FETCH after it no longer pays.  Until
			 * then a second session may report it \Recent too
			 * (imapd(8), CAVEATS).
			 */
			if (!s->readonly)
				s->dirty = 1;
		}
		added++;
	}
	return added;
}

/* Drop the gone messages; with ANNOUNCE, tell the client (RFC 3501 7.4.1:
 * each EXPUNGE renumbers the ones after it, so the numbers sent are the
 * ones the client has at that moment). */
static void
view_compact(struct imap_session *s, int announce)
{
	uint32_t i, out = 0;

	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].idx != IMAP_GONE) {
			s->msgs[out++] = s->msgs[i];
			continue;
		}
		if (s->msgs[i].recent && s->nrecent > 0)
			s->nrecent--;
		if (announce)
			imap_untagged(s, "%u EXPUNGE", out + 1);
	}
	s->nmsgs = out;
}

/* Tell the client about flags that others changed. */
static void
view_flag_changes(struct imap_session *s)
{
	struct sbuf b = { 0 };
	uint32_t i;

	for (i = 0; i < s->nmsgs; i++) {
		struct imap_msgref *r = &s->msgs[i];
		const struct sp_msg *m;

		if (r->idx == IMAP_GONE)
			continue;
		m = sp_msg(s->mbox, r->idx);
		if ((m->flags & SYSFLAGS) == r->flags &&
		    m->keywords == r->keywords)
			continue;
		r->flags = m->flags & SYSFLAGS;
		r->keywords = m->keywords;
		sbuf_reset(&b);
		imap_sbuf_flags(s, &b, r->flags, r->keywords, r->recent);
		if (!b.oom)
			imap_untagged(s, "%u FETCH (FLAGS %s)", i + 1, b.p);
	}
	sbuf_free(&b);
}

int
imap_mbox_refresh(struct imap_session *s)
{
	struct sp_err err;
	int r;

	if (s->mbox == NULL)
		return 0;
	if ((r = sp_refresh(s->mbox, &err)) == -1) {
		log_warnx("%s: %s", s->mbox_path, err.msg);
		return -1;
	}
	if (r != 0)
		view_remap(s);
	return 0;
}

int
imap_mbox_announce(struct imap_session *s, int expunges)
{
	uint32_t before;
	long added;

	if (s->mbox == NULL)
		return 0;
	if (imap_mbox_refresh(s) == -1)
		return -1;
	if (expunges)
		view_compact(s, 1);
	view_flag_changes(s);
	before = s->nrecent;
	if ((added = view_grow(s)) == -1)
		return -1;
	if (added > 0 || (expunges && before != s->nrecent)) {
		imap_untagged(s, "%u EXISTS", s->nmsgs);
		imap_untagged(s, "%u RECENT", s->nrecent);
	}
	return 0;
}

int
imap_set_flags(struct imap_session *s, uint32_t seq, uint32_t flags,
    uint32_t keywords)
{
	const struct sp_msg *m;
	struct imap_msgref *r;

	if (s->readonly || (m = imap_msg(s, seq)) == NULL)
		return 0;
	r = &s->msgs[seq - 1];
	flags &= SYSFLAGS;
	if ((m->flags & SYSFLAGS) == flags && m->keywords == keywords)
		return 0;
	sp_set_state(s->mbox, r->idx, flags | (m->flags & ~SYSFLAGS),
	    keywords);
	r->flags = flags;
	r->keywords = keywords;
	s->dirty = 1;
	return 1;
}

int
imap_mbox_sync(struct imap_session *s, struct sp_err *err)
{
	if (s->mbox == NULL || s->readonly || !s->dirty)
		return 0;
	if (sp_sync(s->mbox, NULL, NULL, err) == -1)
		return -1;
	s->dirty = 0;
	view_remap(s);
	return 0;
}

int
imap_mbox_expunge(struct imap_session *s, const struct imap_seqset *uids,
    int deleted_only, int silent, struct sp_err *err)
{
	uint32_t i;

	if (s->readonly) {
		snprintf(err->msg, sizeof(err->msg), "Mailbox is read-only");
		err->cls = SP_PERMFAIL;
		return -1;
	}
	if (imap_mbox_refresh(s) == -1) {
		snprintf(err->msg, sizeof(err->msg), "Cannot read the mailbox");
		err->cls = SP_TEMPFAIL;
		return -1;
	}
	for (i = 0; i < s->nmsgs; i++) {
		const struct imap_msgref *r = &s->msgs[i];
		const struct sp_msg *m;

		if (r->idx == IMAP_GONE)
			continue;
		m = sp_msg(s->mbox, r->idx);
		if (uids != NULL && !imap_seqset_has(uids, r->uid))
			continue;
		if (deleted_only && !(m->flags & SP_DELETED))
			continue;
		sp_set_state(s->mbox, r->idx, m->flags | SP_EXPUNGE,
		    m->keywords);
		s->dirty = 1;
	}
	s->dirty = 1;
	if (imap_mbox_sync(s, err) == -1)
		return -1;
	view_compact(s, !silent);
	return 0;
}

void
imap_mbox_close(struct imap_session *s)
{
	imap_mime_drop(s);
	sp_close(&s->mbox);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->msgcap = s->nrecent = 0;
	s->dirty = 0;
	s->readonly = 0;
	s->mbox_name[0] = s->mbox_path[0] = '\0';
	if (s->state == IMAP_ST_SELECTED)
		s->state = IMAP_ST_AUTH;
}

/* Sync and close the selected mailbox, if any (SELECT of another). */
static void
deselect(struct imap_session *s)
{
	struct sp_err err;

	if (s->mbox == NULL)
		return;
	if (imap_mbox_sync(s, &err) == -1)
		log_warnx("%s: %s", s->mbox_path, err.msg);
	imap_mbox_close(s);
}

/* ---- SELECT / EXAMINE ------------------------------------------------------ */

static void
select_responses(struct imap_session *s)
{
	struct sbuf b = { 0 };
	uint32_t i, unseen = 0;
	unsigned k;

	sbuf_puts(&b, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (k = 0; sp_keyword(s->mbox, k) != NULL; k++)
		sbuf_printf(&b, " %s", sp_keyword(s->mbox, k));
	sbuf_addc(&b, ')');
	if (!b.oom)
		imap_untagged(s, "%s", b.p);
	sbuf_reset(&b);
	if (s->readonly) {
		imap_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
	} else {
		sbuf_puts(&b, "OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft");
		for (k = 0; sp_keyword(s->mbox, k) != NULL; k++)
			sbuf_printf(&b, " %s", sp_keyword(s->mbox, k));
		sbuf_puts(&b, k < SP_KEYWORDS_MAX ? " \\*)] Flags permitted." :
		    ")] Flags permitted.");
		if (!b.oom)
			imap_untagged(s, "%s", b.p);
	}
	sbuf_free(&b);
	imap_untagged(s, "%u EXISTS", s->nmsgs);
	imap_untagged(s, "%u RECENT", s->nrecent);
	for (i = 0; i < s->nmsgs; i++)
		if (!(s->msgs[i].flags & SP_SEEN)) {
			unseen = i + 1;
			break;
		}
	if (unseen != 0)
		imap_untagged(s, "OK [UNSEEN %u] First unseen.", unseen);
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", s->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID",
	    sp_uidnext(s->mbox));
}

static enum imap_rc
select_common(struct imap_session *s, struct imap_cmd *c, int readonly)
{
	const char *name, *why;
	char path[SP_PATH_MAX];
	struct sp_err err;
	size_t len;
	int flags;

	if (imap_get_astring(&c->args, &name, &len) == -1)
		return imap_bad_usage(c, readonly ? "EXAMINE needs a mailbox "
		    "name" : "SELECT needs a mailbox name");
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "Only one mailbox name is expected "
		    "(quote names with spaces)");
	deselect(s);
	if (strlen(name) != len || len >= sizeof(s->mbox_name))
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT", "No such "
		    "mailbox");
	if (imap_mailbox_path(s, name, path, sizeof(path), &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT", "%s", why);
	flags = readonly ? SP_RDONLY : SP_RDWR;
	if (strcmp(path, s->user.mailbox) == 0)
		flags |= SP_CREATE;
	if (sp_open(path, flags, &s->mbox, &err) == -1) {
		log_warnx("%s: %s", path, err.msg);
		return imap_reply(c, IMAP_RC_NO, err.cls == SP_BUSY ? "INUSE" :
		    "UNAVAILABLE", "Cannot open the mailbox: %s", err.msg);
	}
	s->readonly = readonly;
	s->uidvalidity = sp_uidvalidity(s->mbox);
	snprintf(s->mbox_name, sizeof(s->mbox_name), "%s", name);
	snprintf(s->mbox_path, sizeof(s->mbox_path), "%s", path);
	if (view_grow(s) == -1) {
		imap_mbox_close(s);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	}
	s->state = IMAP_ST_SELECTED;
	select_responses(s);
	return imap_reply(c, IMAP_RC_OK, readonly ? "READ-ONLY" : "READ-WRITE",
	    "%s completed", readonly ? "Examine" : "Select");
}

enum imap_rc
imap_cmd_select(struct imap_session *s, struct imap_cmd *c)
{
	return select_common(s, c, 0);
}

enum imap_rc
imap_cmd_examine(struct imap_session *s, struct imap_cmd *c)
{
	return select_common(s, c, 1);
}

/* ---- NOOP, CHECK, CLOSE, UNSELECT, EXPUNGE ------------------------------ */

enum imap_rc
imap_cmd_noop(struct imap_session *s, struct imap_cmd *c)
{
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "NOOP takes no arguments");
	if (imap_mbox_announce(s, 1) == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot read "
		    "the mailbox");
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_check(struct imap_session *s, struct imap_cmd *c)
{
	struct sp_err err;

	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "CHECK takes no arguments");
	if (imap_mbox_sync(s, &err) == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot save "
		    "the mailbox state: %s", err.msg);
	if (imap_mbox_announce(s, 1) == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot read "
		    "the mailbox");
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_close(struct imap_session *s, struct imap_cmd *c)
{
	struct sp_err err;
	int r = 0;

	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "CLOSE takes no arguments");
	if (!s->readonly)
		r = imap_mbox_expunge(s, NULL, 1, 1, &err);
	else
		r = imap_mbox_sync(s, &err);
	imap_mbox_close(s);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Mailbox "
		    "closed, but its state could not be saved: %s", err.msg);
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_unselect(struct imap_session *s, struct imap_cmd *c)
{
	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "UNSELECT takes no arguments");
	deselect(s);
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_expunge(struct imap_session *s, struct imap_cmd *c)
{
	struct imap_seqset set = { 0 };
	struct sp_err err;
	int r;

	if (c->uid && imap_seqset_arg(s, c, &set) == -1)
		return IMAP_RC_BAD;
	if (!imap_args_end(&c->args)) {
		imap_seqset_free(&set);
		return imap_bad_usage(c, c->uid ? "UID EXPUNGE takes one UID "
		    "set" : "EXPUNGE takes no arguments");
	}
	if (s->readonly) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "READ-ONLY", "The mailbox is "
		    "read-only (opened with EXAMINE): nothing is expunged");
	}
	r = imap_mbox_expunge(s, c->uid ? &set : NULL, 1, 0, &err);
	imap_seqset_free(&set);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Expunge "
		    "failed: %s", err.msg);
	return IMAP_RC_OK;
}

/* ---- IDLE (RFC 2177) ------------------------------------------------------ */

static long long
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec;
}

enum imap_rc
imap_cmd_idle(struct imap_session *s, struct imap_cmd *c)
{
	long long start = now_sec();
	enum io_status st;
	size_t len;
	unsigned fl;

	if (!imap_args_end(&c->args))
		return imap_bad_usage(c, "IDLE takes no arguments");
	io_puts(&s->io, "+ idling\r\n");
	for (;;) {
		struct pollfd pfd = { .fd = s->io.rfd, .events = POLLIN };

		if (io_flush(&s->io) == -1)
			return IMAP_RC_FATAL;
		if (!io_pending_line(&s->io) &&
		    poll(&pfd, 1, IMAP_IDLE_POLL_MS) == 0) {
			if (now_sec() - start > s->cfg->timeout_sec) {
				imap_untagged(s, "BYE Autologout: idle for "
				    "too long");
				return IMAP_RC_FATAL;
			}
			if (imap_mbox_announce(s, 1) == -1)
				return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE",
				    "Cannot read the mailbox");
			continue;
		}
		st = io_getline(&s->io, s->line, IMAP_LINE_MAX + 1, &len, &fl);
		if (st == IO_TOOLONG)
			return imap_reply(c, IMAP_RC_BAD, NULL, "Expected DONE "
			    "to end IDLE");
		if (st != IO_OK)
			return IMAP_RC_FATAL;
		io_log_client(&s->io, s->line, len, (size_t)-1);
		if (strcasecmp(s->line, "DONE") == 0)
			break;
		return imap_reply(c, IMAP_RC_BAD, NULL, "Expected DONE to end "
		    "IDLE, got another line");
	}
	if (imap_mbox_announce(s, 1) == -1)
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE", "Cannot read "
		    "the mailbox");
	return imap_reply(c, IMAP_RC_OK, NULL, "IDLE terminated");
}
