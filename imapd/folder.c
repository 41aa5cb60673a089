/*
 * folder.c - the mailbox commands: LIST, LSUB, STATUS, CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 6.3, RFC 3348 CHILDREN,
 * RFC 6154 SPECIAL-USE), and imap_mailbox_path for SELECT and EXAMINE.
 *
 * INBOX is the spool file; every other mailbox is an mbox file under the
 * user's mail directory (s->mail_dir, "-m DIR", default ~/mail) and every
 * directory there a \Noselect parent.  Names are checked and confined by
 * mboxname.c before anything touches the disk.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imapd.h"
#include "part2.h"
#include "part2impl.h"

/* ---- names and paths --------------------------------------------------- */

int
fold_box(struct imap_session *s, const char *wire, size_t len, int flags,
    struct fold_box *b, int *bad_r, const char **why_r)
{
	int r;

	*bad_r = 0;
	if ((r = mbx_from_wire(wire, len, flags, b->name, sizeof(b->name),
	    why_r)) < 0) {
		*bad_r = r == -1;
		return -1;
	}
	b->inbox = strcmp(b->name, "INBOX") == 0;
	if (b->inbox) {
		b->kind = MBX_FILE;
		r = snprintf(b->path, sizeof(b->path), "%s", s->user.mailbox);
		if (r < 0 || (size_t)r >= sizeof(b->path)) {
			*why_r = "The INBOX path is too long";
			return -1;
		}
		return 0;
	}
	if (s->mail_dir[0] == '\0') {
		*why_r = "You have no mail directory: only INBOX exists";
		return -1;
	}
	return mbx_resolve(s->mail_dir, b->name, b->path, sizeof(b->path),
	    &b->kind, why_r);
}

int
fold_is_selected(const struct imap_session *s, const char *path)
{
	return s->mbox != NULL && strcmp(s->mbox_path, path) == 0;
}

int
imap_mailbox_path(struct imap_session *s, const char *name, char *path,
    size_t cap, const char **err_r)
{
	struct fold_box b;
	int bad;

	if (fold_box(s, name, strlen(name), 0, &b, &bad, err_r) == -1)
		return -1;
	if (b.kind == MBX_NONE) {
		*err_r = "No such mailbox (LIST \"\" \"*\" shows them; CREATE "
		    "makes one)";
		return -1;
	}
	if (b.kind == MBX_DIR) {
		*err_r = "That name is a directory (\\Noselect), not a mailbox";
		return -1;
	}
	if (strlen(b.path) >= cap) {
		*err_r = "The mailbox path is too long";
		return -1;
	}
	memcpy(path, b.path, strlen(b.path) + 1);
	return 0;
}

/* Take a mailbox name argument (astring) of C; BAD set on failure. */
static int
fold_arg_box(struct imap_session *s, struct imap_cmd *c, int flags,
    struct fold_box *b, enum imap_rc *rc_r)
{
	const char *wire, *why;
	size_t len;
	int bad;

	if (imap_get_astring(&c->args, &wire, &len) == -1) {
		*rc_r = imap_bad_usage(c, "a mailbox name is missing");
		return -1;
	}
	if (fold_box(s, wire, len, flags, b, &bad, &why) == -1) {
		*rc_r = bad ? imap_reply(c, IMAP_RC_BAD, NULL, "%s", why) :
		    imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
		return -1;
	}
	return 0;
}

static int
fold_args_done(struct imap_cmd *c, enum imap_rc *rc_r)
{
	if (imap_args_end(&c->args))
		return 0;
	*rc_r = imap_bad_usage(c, "too many arguments");
	return -1;
}

/* ---- LIST and LSUB ----------------------------------------------------- */

/* Append the wire form of NAME as an astring: bare when it is an atom
 * ("INBOX", as the lab handout shows), else quoted or a literal. */
static int
fold_sbuf_name(struct sbuf *b, const char *name)
{
	char wire[MBX_WIRE_MAX + 1];
	long n = mbx_to_wire(name, wire, sizeof(wire));

	if (n < 0)
		return -1;
	/* "NIL" bare would read as NIL, not as a name */
	int atom = n > 0 && strcasecmp(wire, "NIL") != 0;
	for (long i = 0; i < n && atom; i++)
		if (strchr("(){ %*\"\\]", wire[i]) != NULL ||
		    (unsigned char)wire[i] < 0x20 || wire[i] == 0x7f)
			atom = 0;
	if (atom)
		sbuf_add(b, wire, (size_t)n);
	else
		imap_sbuf_string(b, wire, (size_t)n);
	return 0;
}

static void
fold_list_line(struct imap_session *s, const char *cmd, const char *attrs,
    const char *name)
{
	struct sbuf b = { NULL, 0, 0, 0 };

	sbuf_printf(&b, "%s (%s) \"/\" ", cmd, attrs);
	if (fold_sbuf_name(&b, name) == 0 && !b.oom)
		imap_untagged(s, "%s", b.p);
	sbuf_free(&b);
}

/* Patterns in one extended LIST ("LIST "" (INBOX Sent)", RFC 5258). */
#define FOLD_PATTERNS_MAX	16

/* LIST options (RFC 5258 selection and return options, RFC 6154). */
enum {
	FOLD_SEL_SPECIAL = 1 << 0,	/* (SPECIAL-USE): special-use only */
	FOLD_SEL_SUBSCRIBED = 1 << 1,	/* (SUBSCRIBED): subscribed only */
	FOLD_RET_SUBSCRIBED = 1 << 2	/* RETURN (SUBSCRIBED): \Subscribed */
};

struct fold_listreq {
	char pat[FOLD_PATTERNS_MAX][2 * MBX_NAME_MAX + 2];
	size_t npat;
	int empty;			/* the one pattern is "" */
	unsigned opts;
	struct mbx_subs subs;		/* when an option needs them */
};

/* Decode REF and the wire pattern WP/PL and join them into PAT. */
static int
fold_one_pattern(struct imap_cmd *c, const char *ref, const char *wp,
    size_t pl, char *pat, size_t cap, enum imap_rc *rc_r)
{
	char p[MBX_NAME_MAX + 1];

	if (pl > MBX_WIRE_MAX || mutf7_decode(wp, pl, p, sizeof(p)) < 0) {
		*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Invalid pattern: names "
		    "are modified UTF-7 (RFC 3501 5.1.3)");
		return -1;
	}
	if (mbx_pattern(ref, p, pat, cap) == -1) {
		*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "The pattern is too "
		    "long or has too many wildcards");
		return -1;
	}
	return 0;
}

/* The reference and pattern(s): "ref pattern" or "ref (p1 p2 ...)". */
static int
fold_list_refpat(struct imap_cmd *c, int multi, struct fold_listreq *q,
    enum imap_rc *rc_r)
{
	char ref[MBX_NAME_MAX + 1];
	const struct imap_arg *a;
	struct imap_args sub, *src = &c->args;
	const char *ws, *wp;
	size_t rl, pl;

	if (imap_get_astring(&c->args, &ws, &rl) == -1 ||
	    (a = imap_args_peek(&c->args)) == NULL)
		goto usage;
	if (rl > MBX_WIRE_MAX || mutf7_decode(ws, rl, ref, sizeof(ref)) < 0) {
		*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Invalid reference: "
		    "names are modified UTF-7 (RFC 3501 5.1.3)");
		return -1;
	}
	if (multi && a->type == IMAP_ARG_LIST) {
		imap_get_list(&c->args, &sub);
		src = &sub;
		if (imap_args_end(src))
			goto usage;
	}
	do {
		if (q->npat == FOLD_PATTERNS_MAX) {
			*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "At most %d "
			    "patterns", FOLD_PATTERNS_MAX);
			return -1;
		}
		if (imap_get_astring(src, &wp, &pl) == -1)
			goto usage;
		if (fold_one_pattern(c, ref, wp, pl, q->pat[q->npat],
		    sizeof(q->pat[0]), rc_r) == -1)
			return -1;
		q->empty = pl == 0 && src == &c->args;
		q->npat++;
	} while (src != &c->args && !imap_args_end(src));
	return 0;
usage:
	*rc_r = imap_bad_usage(c, "a reference and a pattern are needed");
	return -1;
}

/* A list of LIST options (RET: after RETURN) into Q->opts. */
static int
fold_list_opts(struct imap_cmd *c, int ret, struct fold_listreq *q,
    enum imap_rc *rc_r)
{
	struct imap_args sub;
	const char *w;

	if (imap_get_list(&c->args, &sub) == -1)
		goto bad;
	while (!imap_args_end(&sub)) {
		if (imap_get_atom(&sub, &w, NULL) == -1)
			goto bad;
		if (strcasecmp(w, "SPECIAL-USE") == 0)
			q->opts |= ret ? 0 : FOLD_SEL_SPECIAL;
		else if (strcasecmp(w, "SUBSCRIBED") == 0)
			q->opts |= FOLD_RET_SUBSCRIBED |
			    (ret ? 0 : FOLD_SEL_SUBSCRIBED);
		else if (strcasecmp(w, ret ? "CHILDREN" : "RECURSIVEMATCH") != 0 &&
		    strcasecmp(w, "REMOTE") != 0)
			goto bad;
	}
	return 0;
bad:
	*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Unknown LIST option: "
	    "LIST (SPECIAL-USE) \"\" \"*\" RETURN (SUBSCRIBED CHILDREN) "
	    "is what we know");
	return -1;
}

static int
fold_list_parse(struct imap_cmd *c, struct fold_listreq *q, enum imap_rc *rc_r)
{
	const struct imap_arg *a = imap_args_peek(&c->args);

	if (a != NULL && a->type == IMAP_ARG_LIST &&
	    fold_list_opts(c, 0, q, rc_r) == -1)
		return -1;
	if (fold_list_refpat(c, 1, q, rc_r) == -1)
		return -1;
	a = imap_args_peek(&c->args);
	if (a != NULL && imap_arg_is(a, "RETURN")) {
		imap_args_next(&c->args);
		if (fold_list_opts(c, 1, q, rc_r) == -1)
			return -1;
	}
	return fold_args_done(c, rc_r);
}

/* Is NAME subscribed?  (subscriptions are few) */
static int
fold_subscribed(const struct mbx_subs *subs, const char *name)
{
	for (size_t i = 0; i < subs->n; i++)
		if (strcmp(subs->v[i], name) == 0)
			return 1;
	return 0;
}

/* Does NAME match one of Q's patterns? */
static int
fold_list_match(const struct fold_listreq *q, const char *name)
{
	for (size_t i = 0; i < q->npat; i++)
		if (mbx_match(q->pat[i], name))
			return 1;
	return 0;
}

/* Write the LIST line of NAME (KIND, CHILDREN) if Q's options keep it. */
static void
fold_list_entry(struct imap_session *s, const struct fold_listreq *q,
    const char *name, enum mbx_kind kind, int children)
{
	char attrs[96];
	const char *su = strchr(name, '/') || kind != MBX_FILE ? NULL :
	    mbx_special_use(name);
	int sub = (q->opts & FOLD_RET_SUBSCRIBED) &&
	    fold_subscribed(&q->subs, name);

	if (((q->opts & FOLD_SEL_SPECIAL) && su == NULL) ||
	    ((q->opts & FOLD_SEL_SUBSCRIBED) && !sub))
		return;
	if (kind == MBX_DIR)
		snprintf(attrs, sizeof(attrs), "\\Noselect %s%s",
		    children ? "\\HasChildren" : "\\HasNoChildren",
		    sub ? " \\Subscribed" : "");
	else
		snprintf(attrs, sizeof(attrs), "\\HasNoChildren%s%s%s",
		    su ? " " : "", su ? su : "", sub ? " \\Subscribed" : "");
	fold_list_line(s, "LIST", attrs, name);
}

enum imap_rc
imap_cmd_list(struct imap_session *s, struct imap_cmd *c)
{
	struct fold_listreq *q = calloc(1, sizeof(*q));
	struct mbx_list l = { NULL, 0, 0, 0 };
	enum imap_rc rc = IMAP_RC_OK;

	if (q == NULL)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	if (fold_list_parse(c, q, &rc) == -1)
		goto out;
	if (q->npat == 1 && q->empty) {
		/* RFC 3501 6.3.8: the hierarchy delimiter and root. */
		imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		goto out;
	}
	if ((q->opts & FOLD_RET_SUBSCRIBED) && s->mail_dir[0] != '\0' &&
	    mbx_subs_load(s->mail_dir, &q->subs) == -1) {
		rc = imap_reply(c, IMAP_RC_NO, "SERVERBUG",
		    "Cannot read the subscriptions file");
		goto out;
	}
	if (fold_list_match(q, "INBOX"))
		fold_list_entry(s, q, "INBOX", MBX_FILE, 0);
	if (s->mail_dir[0] != '\0' && mbx_walk(s->mail_dir,
	    q->npat == 1 ? q->pat[0] : "*", &l) == -1) {
		rc = imap_reply(c, IMAP_RC_NO, "SERVERBUG",
		    "Cannot read the mail directory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		if (q->npat == 1 || fold_list_match(q, l.v[i].name))
			fold_list_entry(s, q, l.v[i].name, l.v[i].kind,
			    l.v[i].children);
	if (l.truncated)
		rc = imap_reply(c, IMAP_RC_OK, "LIMIT", "LIST stopped after %d "
		    "mailboxes", MBX_LIST_MAX);
out:
	mbx_list_free(&l);
	mbx_subs_free(&q->subs);
	free(q);
	return rc;
}

/* The LSUB attributes of subscribed NAME: directories are \Noselect. */
static const char *
fold_lsub_attrs(struct imap_session *s, const char *name)
{
	char path[SP_PATH_MAX];
	enum mbx_kind kind;
	const char *why;

	if (strcmp(name, "INBOX") == 0 || s->mail_dir[0] == '\0')
		return "";
	if (mbx_resolve(s->mail_dir, name, path, sizeof(path), &kind,
	    &why) == 0 && kind == MBX_DIR)
		return "\\Noselect";
	return "";
}

/*
 * RFC 3501 6.3.9: with "%", a level above a subscribed name that is not
 * itself subscribed is shown \Noselect ("LSUB "" %" with foo/bar
 * subscribed gives foo).  SHOWN collects those already written.
 */
static void
fold_lsub_parents(struct imap_session *s, const struct mbx_subs *subs,
    const char *name, const char *pat, struct mbx_subs *shown)
{
	char pre[MBX_NAME_MAX + 1];

	for (const char *sl = strchr(name, '/'); sl; sl = strchr(sl + 1, '/')) {
		size_t n = (size_t)(sl - name);
		memcpy(pre, name, n);
		pre[n] = '\0';
		if (fold_subscribed(subs, pre) || fold_subscribed(shown, pre) ||
		    !mbx_match(pat, pre))
			continue;
		char **nv = realloc(shown->v, (shown->n + 1) * sizeof(*nv));
		if (nv == NULL)
			return;
		shown->v = nv;
		if ((shown->v[shown->n] = strdup(pre)) == NULL)
			return;
		shown->n++;
		fold_list_line(s, "LSUB", "\\Noselect", pre);
	}
}

enum imap_rc
imap_cmd_lsub(struct imap_session *s, struct imap_cmd *c)
{
	struct fold_listreq *q = calloc(1, sizeof(*q));
	struct mbx_subs subs = { NULL, 0 }, shown = { NULL, 0 };
	enum imap_rc rc;
	char *pat;

	if (q == NULL)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	if (fold_list_refpat(c, 0, q, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1) {
		free(q);
		return rc;
	}
	pat = q->pat[0];
	if (q->empty) {
		free(q);
		imap_untagged(s, "LSUB (\\Noselect) \"/\" \"\"");
		return IMAP_RC_OK;
	}
	if (s->mail_dir[0] != '\0' && mbx_subs_load(s->mail_dir, &subs) == -1) {
		free(q);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG",
		    "Cannot read the subscriptions file");
	}
	for (size_t i = 0; i < subs.n; i++) {
		if (mbx_match(pat, subs.v[i]))
			fold_list_line(s, "LSUB",
			    fold_lsub_attrs(s, subs.v[i]), subs.v[i]);
		else if (strchr(pat, '%') != NULL)
			fold_lsub_parents(s, &subs, subs.v[i], pat, &shown);
	}
	mbx_subs_free(&subs);
	mbx_subs_free(&shown);
	free(q);
	return IMAP_RC_OK;
}

/* ---- SUBSCRIBE, UNSUBSCRIBE -------------------------------------------- */

static enum imap_rc
fold_subscribe(struct imap_session *s, struct imap_cmd *c, int add)
{
	struct fold_box b;
	const char *why;
	enum imap_rc rc;

	if (fold_arg_box(s, c, 0, &b, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1)
		return rc;
	if (s->mail_dir[0] == '\0')
		return imap_reply(c, IMAP_RC_NO, "CANNOT",
		    "You have no mail directory for a subscriptions file");
	/* RFC 3501 6.3.6 allows subscribing to a name that does not exist
	 * (yet); we require it to exist, as Dovecot does by default, so that
	 * typing mistakes show. */
	if (add && b.kind == MBX_NONE)
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT",
		    "No such mailbox: CREATE it first");
	if (mbx_subs_change(s->mail_dir, b.name, add, &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "%s", why);
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *c)
{
	return fold_subscribe(s, c, 1);
}

enum imap_rc
imap_cmd_unsubscribe(struct imap_session *s, struct imap_cmd *c)
{
	return fold_subscribe(s, c, 0);
}

/* ---- STATUS ------------------------------------------------------------ */

enum {
	FOLD_ST_MESSAGES = 1 << 0,
	FOLD_ST_RECENT = 1 << 1,
	FOLD_ST_UIDNEXT = 1 << 2,
	FOLD_ST_UIDVALIDITY = 1 << 3,
	FOLD_ST_UNSEEN = 1 << 4
};

static const struct {
	const char *name;
	unsigned bit;
} fold_status_items[] = {
	{ "MESSAGES", FOLD_ST_MESSAGES }, { "RECENT", FOLD_ST_RECENT },
	{ "UIDNEXT", FOLD_ST_UIDNEXT }, { "UIDVALIDITY", FOLD_ST_UIDVALIDITY },
	{ "UNSEEN", FOLD_ST_UNSEEN },
};

/* The item list of STATUS, as bits in the order asked (ORDER, N). */
static int
fold_status_list(struct imap_cmd *c, unsigned *order, size_t *n,
    enum imap_rc *rc_r)
{
	static const char usage[] = "use MESSAGES, RECENT, UIDNEXT, "
	    "UIDVALIDITY or UNSEEN, e.g. STATUS INBOX (MESSAGES UNSEEN)";
	struct imap_args sub;
	const char *w;
	size_t i;

	*n = 0;
	if (imap_get_list(&c->args, &sub) == -1 || imap_args_end(&sub)) {
		*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "STATUS needs a "
		    "parenthesised list of items: %s", usage);
		return -1;
	}
	while (!imap_args_end(&sub)) {
		if (imap_get_atom(&sub, &w, NULL) == -1)
			w = "";
		for (i = 0; i < nitems(fold_status_items); i++)
			if (strcasecmp(w, fold_status_items[i].name) == 0)
				break;
		if (i == nitems(fold_status_items) || *n == 16) {
			*rc_r = imap_reply(c, IMAP_RC_BAD, NULL, "Unknown "
			    "STATUS item: %s", usage);
			return -1;
		}
		order[(*n)++] = fold_status_items[i].bit;
	}
	return 0;
}

/* The STATUS numbers, in the order of fold_status_items. */
struct fold_counts {
	uint32_t v[5];
};

static uint32_t
fold_count_value(const struct fold_counts *k, unsigned bit)
{
	for (size_t i = 0; i < nitems(fold_status_items); i++)
		if (fold_status_items[i].bit == bit)
			return k->v[i];
	return 0;
}

/* From the file: a fresh read-only index, no lock kept. */
static int
fold_counts_file(const struct fold_box *b, struct fold_counts *k,
    struct sp_err *err)
{
	struct sp_mbox *mb = NULL;
	uint32_t count, recent = 0, unseen = 0;

	if (sp_open(b->path, SP_RDONLY | (b->inbox ? SP_CREATE : 0), &mb,
	    err) == -1)
		return -1;
	count = sp_count(mb);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t f = sp_msg(mb, i)->flags;
		recent += (f & SP_RECENT) != 0;
		unseen += (f & SP_SEEN) == 0;
	}
	*k = (struct fold_counts){ { count, recent, sp_uidnext(mb),
	    sp_uidvalidity(mb), unseen } };
	sp_close(&mb);
	return 0;
}

/* The selected mailbox: the session's view, as the client knows it
 * (flags changed here but not yet written included). */
static void
fold_counts_view(const struct imap_session *s, struct fold_counts *k)
{
	uint32_t recent = 0, unseen = 0;

	for (uint32_t i = 0; i < s->nmsgs; i++) {
		recent += s->msgs[i].recent != 0;
		unseen += (s->msgs[i].flags & SP_SEEN) == 0;
	}
	*k = (struct fold_counts){ { s->nmsgs, recent, sp_uidnext(s->mbox),
	    s->uidvalidity, unseen } };
}

enum imap_rc
imap_cmd_status(struct imap_session *s, struct imap_cmd *c)
{
	unsigned order[16];
	struct fold_box b;
	struct fold_counts k;
	struct sp_err err;
	struct sbuf out = { NULL, 0, 0, 0 };
	enum imap_rc rc;
	size_t n;

	if (fold_arg_box(s, c, 0, &b, &rc) == -1 ||
	    fold_status_list(c, order, &n, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1)
		return rc;
	if (b.kind != MBX_FILE)
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT", "%s",
		    b.kind == MBX_DIR ? "That name is a directory "
		    "(\\Noselect), not a mailbox" : "No such mailbox");
	if (fold_is_selected(s, b.path))
		fold_counts_view(s, &k);
	else if (fold_counts_file(&b, &k, &err) == -1)
		return imap_reply(c, IMAP_RC_NO, err.cls == SP_BUSY ? "INUSE" :
		    "UNAVAILABLE", "Cannot open the mailbox: %s", err.msg);
	sbuf_puts(&out, "STATUS ");
	fold_sbuf_name(&out, b.name);
	sbuf_puts(&out, " (");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < nitems(fold_status_items); j++)
			if (fold_status_items[j].bit == order[i])
				sbuf_printf(&out, "%s%s %u", i ? " " : "",
				    fold_status_items[j].name,
				    (unsigned)fold_count_value(&k, order[i]));
	sbuf_addc(&out, ')');
	if (out.oom) {
		sbuf_free(&out);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	}
	imap_untagged(s, "%s", out.p);
	sbuf_free(&out);
	return IMAP_RC_OK;
}

/* ---- CREATE, DELETE ---------------------------------------------------- */

enum imap_rc
imap_cmd_create(struct imap_session *s, struct imap_cmd *c)
{
	struct fold_box b;
	const char *why;
	enum imap_rc rc;
	size_t len;
	int fd;

	if (fold_arg_box(s, c, MBX_DIR_OK, &b, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1)
		return rc;
	if (b.inbox || b.kind != MBX_NONE)
		return imap_reply(c, IMAP_RC_NO, "ALREADYEXISTS",
		    "Mailbox already exists");
	if (mbx_mkparents(s->mail_dir, b.name, MBX_DIR_OK, &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
	len = strlen(b.name);
	if (b.name[len - 1] == '/')
		return imap_reply(c, IMAP_RC_OK, NULL, "Directory created: "
		    "mailboxes can go below it");
	fd = open(b.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return imap_reply(c, IMAP_RC_NO, errno == EEXIST ?
		    "ALREADYEXISTS" : "CANNOT", "Cannot create the mailbox: %s",
		    errno == EEXIST ? "it exists" : strerror(errno));
	if (fsync(fd) == -1 || close(fd) == -1)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG",
		    "Cannot create the mailbox: %s", strerror(errno));
	return IMAP_RC_OK;
}

/* Unlink mailbox file PATH under its exclusive lock, so that no session
 * is half-way through appending to it. */
static int
fold_unlink_locked(const char *path, const char **why_r)
{
	struct sp_lock *lk = NULL;
	struct sp_err err;
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		*why_r = "Cannot open the mailbox";
		return -1;
	}
	if (sp_lock(fd, path, SP_LOCK_EXCL, &lk, &err) == -1) {
		*why_r = "The mailbox is locked by another program: try again";
		close(fd);
		return -1;
	}
	if (unlink(path) == -1) {
		*why_r = "Cannot remove the mailbox file";
		rc = -1;
	} else
		sp_cache_remove(path);
	sp_unlock(&lk);
	close(fd);
	return rc;
}

/*
 * DELETE of a \Noselect directory that still has mailboxes below it
 * (RFC 3501 6.3.4: an error).  No response code: RFC 5530 has none that
 * fits (INUSE means locked by another session, CANNOT that it can never
 * succeed, and it will once the children are gone); HASCHILDREN is
 * IMAP4rev2's (RFC 9051), which we do not announce.  The text teaches.
 */
static enum imap_rc
fold_delete_haschildren(struct imap_cmd *c, const struct fold_box *b)
{
	char wire[MBX_WIRE_MAX + 1];
	size_t n = strlen(b->name);
	long w;

	if (n > 0 && b->name[n - 1] == '/')
		n--;
	char name[MBX_NAME_MAX + 1];
	memcpy(name, b->name, n);
	name[n] = '\0';
	w = mbx_to_wire(name, wire, sizeof(wire));
	if (w < 0 || w > 200)
		return imap_reply(c, IMAP_RC_NO, NULL, "That directory still "
		    "has mailboxes in it: DELETE them first (LIST shows "
		    "them), then the directory");
	return imap_reply(c, IMAP_RC_NO, NULL, "%s still has mailboxes in "
	    "it: DELETE them first (LIST \"\" \"%s/*\" shows them), then %s",
	    wire, wire, wire);
}

enum imap_rc
imap_cmd_delete(struct imap_session *s, struct imap_cmd *c)
{
	struct fold_box b;
	const char *why;
	enum imap_rc rc;

	if (fold_arg_box(s, c, MBX_DIR_OK, &b, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1)
		return rc;
	if (b.inbox)
		return imap_reply(c, IMAP_RC_NO, "CANNOT",
		    "INBOX cannot be deleted");
	if (b.kind == MBX_NONE)
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT", "No such mailbox");
	if (fold_is_selected(s, b.path))
		return imap_reply(c, IMAP_RC_NO, "INUSE",
		    "The mailbox is selected: CLOSE it first");
	if (b.kind == MBX_DIR) {
		if (rmdir(b.path) == 0)
			return IMAP_RC_OK;
		if (errno == ENOTEMPTY || errno == EEXIST)
			return fold_delete_haschildren(c, &b);
		return imap_reply(c, IMAP_RC_NO, "CANNOT",
		    "Cannot remove the directory: %s", strerror(errno));
	}
	if (fold_unlink_locked(b.path, &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
	return IMAP_RC_OK;
}

/* ---- RENAME ------------------------------------------------------------ */

/*
 * RFC 3501 6.3.5: renaming INBOX moves all its messages to the new
 * mailbox and leaves INBOX empty.  The messages are copied with fold_copy,
 * then exactly the UIDs that were copied are expunged from INBOX: mail
 * that arrives meanwhile is in neither set and stays in INBOX, and nothing
 * is ever both copied and kept.  sp_sync matches messages by UID under
 * the exclusive lock, so a delivery between the copy and the expunge is
 * kept; we never hold INBOX's lock while sp_append locks the destination
 * (two files, two locks, no nesting on one file).
 */

/* Collect the sp indexes and UIDs of the messages to move from INBOX.
 * Selected read-write: the session's own view after an announce (so the
 * client has seen every message it will hear EXPUNGE for, and flags it
 * changed but did not save yet come along); otherwise a fresh index. */
static int
fold_inbox_msgs(struct imap_session *s, struct sp_mbox *mb, int view,
    uint32_t **idx_r, uint32_t **uids_r, size_t *n_r)
{
	uint32_t n = view ? s->nmsgs : sp_count(mb);
	size_t k = 0;

	*idx_r = *uids_r = NULL;
	*n_r = 0;
	if (n == 0)
		return 0;
	if ((*idx_r = calloc(n, sizeof(**idx_r))) == NULL ||
	    (*uids_r = calloc(n, sizeof(**uids_r))) == NULL) {
		free(*idx_r);
		*idx_r = NULL;
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t x = view ? s->msgs[i].idx : i;
		if (x == IMAP_GONE)
			continue;
		(*idx_r)[k] = x;
		(*uids_r)[k++] = sp_msg(mb, x)->uid;
	}
	*n_r = k;
	return 0;
}

static int
fold_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Expunge the messages with UIDS[0..N) (ascending) from INBOX file MB,
 * not selected here: marks, then sp_sync matches them by UID. */
static int
fold_expunge_uids(struct sp_mbox *mb, const uint32_t *uids, size_t n,
    struct sp_err *err)
{
	for (uint32_t i = 0; i < sp_count(mb); i++) {
		const struct sp_msg *m = sp_msg(mb, i);
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (uids[mid] < m->uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && uids[lo] == m->uid)
			sp_set_state(mb, i, m->flags | SP_EXPUNGE, m->keywords);
	}
	return sp_sync(mb, NULL, NULL, err);
}

/* The selected INBOX: expunge UIDS[0..N) (ascending) through the
 * session, which sends the EXPUNGE responses. */
static int
fold_expunge_view(struct imap_session *s, const uint32_t *uids, size_t n,
    struct sp_err *err)
{
	struct imap_seqset set;

	if (fold_uids_to_set(uids, n, &set) == -1) {
		snprintf(err->msg, sizeof(err->msg), "Out of memory");
		return -1;
	}
	int r = imap_mbox_expunge(s, &set, 0, 0, err);
	imap_seqset_free(&set);
	return r;
}

static enum imap_rc
fold_rename_inbox(struct imap_session *s, struct imap_cmd *c,
    const struct fold_box *src, const struct fold_box *dst)
{
	struct sp_mbox *own = NULL, *mb;
	struct sp_err err;
	uint32_t *idx = NULL, *uids = NULL;
	const char *why;
	size_t n;
	int fd, view = fold_is_selected(s, src->path) && !s->readonly, r;

	if (mbx_mkparents(s->mail_dir, dst->name, 0, &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
	fd = open(dst->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return imap_reply(c, IMAP_RC_NO, "ALREADYEXISTS",
		    "Cannot create the new mailbox");
	close(fd);
	if (view) {
		/* the client hears of new mail before its EXPUNGEs */
		if (imap_mbox_announce(s, 1) == -1 ||
		    imap_mbox_refresh(s) == -1) {
			unlink(dst->path);
			return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE",
			    "Cannot read INBOX");
		}
		mb = s->mbox;
	} else if (sp_open(src->path, SP_RDWR | SP_CREATE, &own, &err) == 0) {
		mb = own;
	} else {
		unlink(dst->path);
		return imap_reply(c, IMAP_RC_NO, "UNAVAILABLE",
		    "Cannot open INBOX: %s", err.msg);
	}
	if (fold_inbox_msgs(s, mb, view, &idx, &uids, &n) == -1) {
		sp_close(&own);
		unlink(dst->path);
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Out of memory");
	}
	if (fold_copy(mb, idx, n, dst->path, NULL, NULL, &why) == -1) {
		free(idx);
		free(uids);
		sp_close(&own);
		unlink(dst->path);
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
	}
	free(idx);
	if (n > 1)
		qsort(uids, n, sizeof(*uids), fold_uid_cmp);
	r = n == 0 ? 0 : view ? fold_expunge_view(s, uids, n, &err) :
	    fold_expunge_uids(mb, uids, n, &err);
	free(uids);
	sp_close(&own);
	if (r == -1)
		return imap_reply(c, IMAP_RC_NO, "SERVERBUG", "Messages copied, "
		    "but INBOX could not be emptied: %s", err.msg);
	return IMAP_RC_OK;
}

enum imap_rc
imap_cmd_rename(struct imap_session *s, struct imap_cmd *c)
{
	struct fold_box src, dst;
	const char *why;
	enum imap_rc rc;
	size_t sl;

	if (fold_arg_box(s, c, MBX_DIR_OK, &src, &rc) == -1 ||
	    fold_arg_box(s, c, 0, &dst, &rc) == -1 ||
	    fold_args_done(c, &rc) == -1)
		return rc;
	if (src.kind == MBX_NONE)
		return imap_reply(c, IMAP_RC_NO, "NONEXISTENT", "No such mailbox");
	if (dst.inbox || dst.kind != MBX_NONE)
		return imap_reply(c, IMAP_RC_NO, "ALREADYEXISTS",
		    "The new name exists already");
	if (s->mail_dir[0] == '\0')
		return imap_reply(c, IMAP_RC_NO, "CANNOT",
		    "You have no mail directory");
	if (src.inbox)
		return fold_rename_inbox(s, c, &src, &dst);
	sl = strlen(src.name);
	if (src.name[sl - 1] == '/')		/* "Archive/": the directory */
		sl--;
	if (strncmp(dst.name, src.name, sl) == 0 && dst.name[sl] == '/')
		return imap_reply(c, IMAP_RC_NO, "CANNOT",
		    "A mailbox cannot be moved inside itself");
	if (fold_is_selected(s, src.path))
		return imap_reply(c, IMAP_RC_NO, "INUSE",
		    "The mailbox is selected: CLOSE it first");
	if (mbx_mkparents(s->mail_dir, dst.name, 0, &why) == -1)
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "%s", why);
	if (rename(src.path, dst.path) == -1)
		return imap_reply(c, IMAP_RC_NO, "CANNOT", "Cannot rename: %s",
		    strerror(errno));
	sp_cache_remove(src.path);	/* keyed on the old file: stale */
	/* as Dovecot and Cyrus do: subscriptions follow the mailboxes, so
	 * that clients do not show dead folders */
	if (mbx_subs_rename(s->mail_dir, src.name, dst.name, &why) == -1)
		return imap_reply(c, IMAP_RC_OK, NULL, "Renamed, but the "
		    "subscriptions were not updated: %s", why);
	return IMAP_RC_OK;
}
