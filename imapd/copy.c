/*
 * copy.c - COPY, UID COPY (RFC 3501 6.4.7, RFC 4315 COPYUID) and MOVE,
 * UID MOVE (RFC 6851), and fold_copy, the all-or-nothing copy of messages
 * between mbox files that RENAME INBOX uses too.
 */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "part2.h"
#include "part2impl.h"

/* Messages per sp_append call (with FOLD_BATCH_BYTES): bounds the
 * per-batch arrays (a keyword table of SP_KEYWORDS_MAX pointers each). */
#define FOLD_BATCH_MSGS		4096

/* Longest envelope sender we carry over (RFC 5321 path, with room). */
#define FOLD_FROM_MAX		(SMTP_ADDR_MAX + 3)

/* The system flags a copy keeps (\Recent is the destination's). */
#define FOLD_FLAGS_KEPT	(SP_SEEN | SP_ANSWERED | SP_FLAGGED | SP_DELETED | \
			 SP_DRAFT)

void
fold_uidset(struct sbuf *b, const uint32_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			sbuf_addc(b, ',');
		if (j > i)
			sbuf_printf(b, "%u:%u", (unsigned)v[i], (unsigned)v[j]);
		else
			sbuf_printf(b, "%u", (unsigned)v[i]);
		i = j + 1;
	}
}

/* A batch being assembled. */
struct fold_batch {
	struct sp_newmsg *v;
	const char **kw;		/* SP_KEYWORDS_MAX per message */
	char (*from)[FOLD_FROM_MAX];
	size_t n;
};

static void
fold_batch_clear(struct fold_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((char *)b->v[i].data);
	b->n = 0;
}

/* Add message I of MB to batch B.  -1 on an I/O or memory error. */
static int
fold_batch_add(struct fold_batch *b, struct sp_mbox *mb, uint32_t i,
    struct sp_err *err)
{
	const struct sp_msg *m = sp_msg(mb, i);
	struct sp_newmsg *nm = &b->v[b->n];
	const char **kw = b->kw + b->n * SP_KEYWORDS_MAX;
	char *buf;
	size_t len, nk = 0;

	if (sp_served(mb, i, SP_PART_ALL, &buf, &len, err) == -1)
		return -1;
	if (sp_envelope_from(mb, i, b->from[b->n], FOLD_FROM_MAX, err) == -1)
		b->from[b->n][0] = '\0';
	for (unsigned k = 0; k < SP_KEYWORDS_MAX; k++)
		if ((m->keywords & (1u << k)) && sp_keyword(mb, k) != NULL)
			kw[nk++] = sp_keyword(mb, k);
	nm->data = buf;
	nm->len = len;
	nm->from = b->from[b->n][0] ? b->from[b->n] : NULL;
	nm->when = m->internaldate;
	nm->flags = m->flags & FOLD_FLAGS_KEPT;
	nm->keywords = kw;
	nm->nkeywords = nk;
	b->n++;
	return 0;
}

/* Remove again the messages with UIDS[0..N) from DST (a later batch of a
 * copy failed).  Best effort: the caller already reports a failure. */
static void
fold_rollback(const char *dst, const uint32_t *uids, size_t n)
{
	struct sp_mbox *mb = NULL;
	struct sp_err err;

	if (n == 0 || sp_open(dst, SP_RDWR, &mb, &err) == -1)
		return;
	for (uint32_t i = 0; i < sp_count(mb); i++) {
		const struct sp_msg *m = sp_msg(mb, i);
		for (size_t k = 0; k < n; k++)
			if (uids[k] == m->uid) {
				sp_set_state(mb, i, m->flags | SP_EXPUNGE,
				    m->keywords);
				break;
			}
	}
	sp_sync(mb, NULL, NULL, &err);
	sp_close(&mb);
}

int
fold_copy(struct sp_mbox *mb, const uint32_t *idx, size_t n, const char *dst,
    uint32_t *uidv_r, uint32_t *uids_r, const char **why_r)
{
	struct sp_target t = { dst, (uid_t)-1, (gid_t)-1, 0 };
	struct fold_batch b = { NULL, NULL, NULL, 0 };
	size_t cap = n < FOLD_BATCH_MSGS ? n : FOLD_BATCH_MSGS, done = 0;
	uint32_t *uids = NULL, uidv = 0, first;
	struct sp_err err;
	int rc = -1;

	*why_r = "Out of memory";
	if (n == 0)
		return 0;
	b.v = calloc(cap, sizeof(*b.v));
	b.kw = calloc(cap * SP_KEYWORDS_MAX, sizeof(*b.kw));
	b.from = calloc(cap, sizeof(*b.from));
	uids = calloc(n, sizeof(*uids));
	if (b.v == NULL || b.kw == NULL || b.from == NULL || uids == NULL)
		goto out;
	while (done < n) {
		size_t bytes = 0;
		while (done + b.n < n && b.n < cap && (b.n == 0 ||
		    bytes + sp_msg(mb, idx[done + b.n])->size <= FOLD_BATCH_BYTES)) {
			bytes += sp_msg(mb, idx[done + b.n])->size;
			if (fold_batch_add(&b, mb, idx[done + b.n], &err) == -1) {
				*why_r = "Cannot read a message to copy";
				goto fail;
			}
		}
		if (sp_append(&t, b.v, b.n, &uidv, &first, &err) == -1) {
			*why_r = err.cls == SP_BUSY ? "The destination mailbox "
			    "is locked: try again" : "Cannot write to the "
			    "destination mailbox";
			goto fail;
		}
		for (size_t k = 0; k < b.n; k++)
			uids[done + k] = first + (uint32_t)k;
		done += b.n;
		fold_batch_clear(&b);
	}
	if (uidv_r != NULL)
		*uidv_r = uidv;
	if (uids_r != NULL)
		memcpy(uids_r, uids, n * sizeof(*uids));
	rc = 0;
	goto out;
fail:
	fold_rollback(dst, uids, done);
out:
	fold_batch_clear(&b);
	free(b.v);
	free(b.kw);
	free(b.from);
	free(uids);
	return rc;
}

/* ---- COPY and MOVE ------------------------------------------------------ */

/* The messages SET selects: sp indexes and UIDs.  -1 if one is gone. */
static int
fold_select_msgs(struct imap_session *s, const struct imap_seqset *set,
    int by_uid, uint32_t **idx_r, uint32_t **uids_r, size_t *n_r)
{
	uint32_t cur = 0, seq, *idx, *uids;
	size_t n = 0;

	*idx_r = *uids_r = NULL;
	*n_r = 0;
	if (s->nmsgs == 0)
		return 0;
	idx = calloc(s->nmsgs, sizeof(*idx));
	uids = calloc(s->nmsgs, sizeof(*uids));
	if (idx == NULL || uids == NULL) {
		free(idx);
		free(uids);
		return -2;
	}
	while ((seq = imap_seqset_next(s, set, by_uid, &cur)) != 0 &&
	    n < s->nmsgs) {
		uint32_t i = imap_msg_index(s, seq);
		if (i == IMAP_GONE) {
			free(idx);
			free(uids);
			return -1;
		}
		idx[n] = i;
		uids[n++] = s->msgs[seq - 1].uid;
	}
	*idx_r = idx;
	*uids_r = uids;
	*n_r = n;
	return 0;
}

int
fold_uids_to_set(const uint32_t *v, size_t n, struct imap_seqset *set)
{
	set->n = 0;
	set->r = calloc(n ? n : 1, sizeof(*set->r));
	if (set->r == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (set->n > 0 && set->r[set->n - 1].hi + 1 == v[i])
			set->r[set->n - 1].hi = v[i];
		else
			set->r[set->n++] = (struct imap_range){ v[i], v[i] };
	}
	return 0;
}

/* Write "[COPYUID ...]" into B. */
static void
fold_copyuid(struct sbuf *b, uint32_t uidv, const uint32_t *src,
    const uint32_t *dst, size_t n)
{
	sbuf_printf(b, "COPYUID %u ", (unsigned)uidv);
	fold_uidset(b, src, n);
	sbuf_addc(b, ' ');
	fold_uidset(b, dst, n);
}

/* MOVE's second half: COPYUID untagged, then expunge the originals. */
static enum imap_rc
fold_move_expunge(struct imap_session *s, struct imap_cmd *c,
    const struct sbuf *code, const uint32_t *uids, size_t n)
{
	struct imap_seqset set;
	struct sp_err err;

	io_puts(&s->io, "* OK [");
	io_write(&s->io, code->p, code->len);
	io_puts(&s->io, "] Moved\r\n");
	if (fold_uids_to_set(uids, n, &set) == -1)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	int r = imap_mbox_expunge(s, &set, 0, 0, &err);
	imap_seqset_free(&set);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Messages copied "
		    "but not removed from this mailbox: %s", err.msg);
	return IMAP_RC_OK;
}

static enum imap_rc
fold_copymove(struct imap_session *s, struct imap_cmd *c, int move)
{
	struct imap_seqset set = { NULL, 0 };
	struct sbuf code = { NULL, 0, 0, 0 };
	uint32_t *idx = NULL, *uids = NULL, *dst = NULL, uidv;
	const char *wire, *why;
	struct fold_box b;
	enum imap_rc rc;
	size_t n, len;
	int bad, r;

	if (imap_seqset_arg(s, c, &set) == -1)
		return IMAP_RC_BAD;
	if (imap_get_astring(&c->args, &wire, &len) == -1 ||
	    !imap_args_end(&c->args)) {
		imap_seqset_free(&set);
		return imap_bad_usage(c, "a message set and a mailbox name "
		    "are needed");
	}
	if (fold_box(s, wire, len, 0, &b, &bad, &why) == -1) {
		imap_seqset_free(&set);
		return imap_reply(c, bad ? IMAP_RC_BAD : IMAP_RC_NO,
		    bad ? NULL : "CANNOT", "%s", why);
	}
	if (b.kind != MBX_FILE) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, b.kind == MBX_DIR ? "CANNOT" :
		    "TRYCREATE", "%s", b.kind == MBX_DIR ? "That name is a "
		    "directory, not a mailbox" : "No such mailbox: CREATE it "
		    "first");
	}
	if (move && s->readonly) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "The mailbox is "
		    "read-only (EXAMINE): MOVE needs SELECT; use COPY");
	}
	if (imap_mbox_refresh(s) == -1) {
		imap_seqset_free(&set);
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE",
		    "Cannot read the mailbox");
	}
	r = fold_select_msgs(s, &set, c->uid, &idx, &uids, &n);
	imap_seqset_free(&set);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, "EXPUNGEISSUED", "Some of the "
		    "messages were expunged meanwhile: nothing %s",
		    move ? "moved" : "copied");
	if (r == -2)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	if (n == 0) {
		rc = imap_reply(c, IMAP_RC_OK, NULL, "No messages %s",
		    move ? "moved" : "copied");
		goto out;
	}
	if ((dst = calloc(n, sizeof(*dst))) == NULL) {
		rc = imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
		goto out;
	}
	if (fold_copy(s->mbox, idx, n, b.path, &uidv, dst, &why) == -1) {
		rc = imap_reply(c, IMAP_RC_NO, "SERVERBUG", "%s: nothing %s",
		    why, move ? "moved" : "copied");
		goto out;
	}
	fold_copyuid(&code, uidv, uids, dst, n);
	/* the new EXISTS, before the tagged reply (RFC 3501 7.4.1 allows
	 * it here; after the completion a client would miss it) */
	if (fold_is_selected(s, b.path))
		imap_mbox_announce(s, 0);
	if (move) {
		rc = fold_move_expunge(s, c, &code, uids, n);
	} else if (!code.oom && code.len < sizeof(c->code)) {
		rc = imap_reply(c, IMAP_RC_OK, code.p, "%s completed", c->name);
	} else if (!code.oom) {
		/* Too long for the dispatcher's code buffer: write it all. */
		io_printf(&s->io, "%s OK [", c->tag);
		io_write(&s->io, code.p, code.len);
		io_printf(&s->io, "] %s completed\r\n", c->name);
		rc = IMAP_RC_DONE;
	} else {
		rc = IMAP_RC_OK;
	}
out:
	sbuf_free(&code);
	free(idx);
	free(uids);
	free(dst);
	return rc;
}

enum imap_rc
imap_cmd_copy(struct imap_session *s, struct imap_cmd *c)
{
	return fold_copymove(s, c, 0);
}

enum imap_rc
imap_cmd_move(struct imap_session *s, struct imap_cmd *c)
{
	return fold_copymove(s, c, 1);
}
