/*
 * mime_int.h - what the mime_*.c files share: the part tree built by
 * mime.c and the small RFC 822 / RFC 2045 lexer.  Not for other modules:
 * they use mime.h.
 */
#ifndef IMAPD_MIME_INT_H
#define IMAPD_MIME_INT_H

#include <stddef.h>

#include "mime.h"

/* A piece of the message buffer; P == NULL means absent. */
struct mime_rng {
	const char *p;
	size_t n;
};

enum mime_kind {
	MIME_K_LEAF,		/* a basic or text body */
	MIME_K_MULTI,		/* multipart/ with a boundary: has children */
	MIME_K_RFC822		/* message/rfc822: one child, the inner message */
};

/*
 * One node of the tree.  The root (index 0) is the message; a
 * message/rfc822 node has one child whose header is the inner message's
 * header.  Offsets are into the buffer given to mime_parse.
 */
struct mime_part {
	size_t hdr_off, hdr_len;	/* header, blank line included */
	size_t body_off, body_len;
	struct mime_rng type, subtype;	/* from Content-Type; absent: default */
	struct mime_rng ctype;		/* raw Content-Type value (params) */
	struct mime_rng cte, cid, cdesc, cdisp, clang, cloc, cmd5;
	int ct_ok;			/* Content-Type present and valid */
	int dflt_rfc822;		/* no valid Content-Type, in a digest */
	enum mime_kind kind;
	int opaque_rfc822;		/* message/rfc822 beyond the limits */
	int opaque_multi;		/* multipart beyond the limits: no
					 * children, its body one opaque part */
	int parent, child, next;	/* indices, -1 = none */
	int lastchild;			/* to append in O(1) */
	unsigned nchild;
};

/* The ENVELOPE fields (RFC 3501 7.4.2), in the order they are sent. */
enum {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO,
	ENV_CC, ENV_BCC, ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_N
};

/*
 * Occurrences of one field kept by the pass over a header: Dovecot joins
 * repeated To:, Cc: ... fields into one list.  A header repeating a field
 * more often than this (no real mail does) has that field found again by
 * a second scan, so the answer is the same.
 */
#define MIME_ENV_REPEAT	4

/* The envelope fields of one header, found in one pass. */
struct mime_env {
	struct mime_rng v[ENV_N][MIME_ENV_REPEAT];
	unsigned n[ENV_N];		/* occurrences, MIME_ENV_REPEAT + 1 at
					 * most (then: scan again) */
};

struct mime_msg {
	const char *buf;
	size_t len;
	struct mime_part *parts;
	size_t nparts, cap;
	/* the top-level header's envelope fields, collected by the parser's
	 * pass over that header: ENVELOPE needs no pass of its own */
	struct mime_env env;
};

/* One header field: NAME (without the colon) and its raw VALUE (folded,
 * without the final line end). */
struct mime_field {
	const char *name;
	size_t namelen;
	const char *val;
	size_t vallen;
};

/* Iterate over the fields of the header [*POS, END) of B; returns 1 with
 * *F filled, 0 at the blank line or the end.  Lines without a colon are
 * skipped. */
int mime_hdr_next(const char *b, size_t end, size_t *pos,
    struct mime_field *f);
/* First field NAME (case-insensitive) of header HS/HLEN. */
int mime_hdr_find(const char *b, size_t hs, size_t hlen, const char *name,
    struct mime_rng *val);
/* Note field F in E if it is one of the ENVELOPE's (mime_render.c). */
void mime_env_note(struct mime_env *e, const struct mime_field *f);

/* Append VAL unfolded (CR and LF removed), leading and trailing blanks
 * trimmed, to OUT. */
void mime_unfold(struct sbuf *out, const char *p, size_t n);

/* ---- lexer (RFC 822 CFWS, RFC 2045 tokens) over [*P, END) ------------- */
void mime_skip_cfws(const char **p, const char *end);
/* A token: *P advances past it; 0 if none. */
int mime_token(const char **p, const char *end, struct mime_rng *tok);
/* A quoted string starting at *P == '"': the raw inside (escapes kept). */
int mime_qstring(const char **p, const char *end, struct mime_rng *in);
/* Append a quoted-string or comment inside with backslash escapes
 * removed and line ends dropped. */
void mime_unescape(struct sbuf *out, const char *p, size_t n);

/* Content-Type parameters, in order. */
struct mime_param {
	struct mime_rng name, val;
	int quoted;
};
/* Next parameter after type/subtype (or disposition type): 1, or 0 at the
 * end.  Broken input is skipped. */
int mime_param_next(const char **p, const char *end, struct mime_param *pa);
/* Parse "type/subtype" at the start of a Content-Type value; *P is left
 * after it.  Returns 0 or -1. */
int mime_ctype(const char **p, const char *end, struct mime_rng *type,
    struct mime_rng *subtype);

int mime_rng_eq(const struct mime_rng *r, const char *s);

/* LFs in P/N: a part's line count (RFC 3501 body-fld-lines), counted
 * when BODYSTRUCTURE asks for it, only for the parts that show it. */
size_t mime_count_lf(const char *p, size_t n);

/* Case-insensitive (ASCII) compare of N bytes. */
int mime_ci_eq(const char *a, const char *b, size_t n);

#endif
