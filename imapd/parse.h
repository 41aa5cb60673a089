/*
 * parse.h - the IMAP command parser (RFC 3501 9, RFC 7888 LITERAL+).
 *
 * A command is one or more lines joined by literals:
 *   tag SP name [SP arguments] CRLF
 * where an argument line may end in "{n}" (synchronising: the server
 * answers "+ ..." before the client sends the n octets) or "{n+}"
 * (LITERAL+: the octets follow at once), after which the command goes on
 * with the next line.
 *
 * The parser is fed from outside, so it never blocks and works the same
 * whether input comes in one piece or one byte at a time: the session
 * loop reads a line (io_getline) and gives it to imap_parse_line, or reads
 * literal octets (io_read, any number at a time) and gives them to
 * imap_parse_literal; the result says what it needs next.  Nothing the
 * client announces is allocated before it has been checked against the
 * limits: IMAP_LINE_MAX octets of command text (the lines, without
 * literals, all lines of one command together), IMAP_LITERAL_MAX octets of
 * literal data per command, IMAP_NEST_MAX levels of parentheses.
 *
 * Tokens:
 *  - atom: a run of octets other than SP, CTL, '(', ')', '"'.  A '['
 *    inside an atom opens a section that runs to the matching ']' and may
 *    hold spaces, parentheses and quoted strings, so that
 *    BODY[HEADER.FIELDS (DATE FROM)]<0.100> is ONE atom (fetch.c reads
 *    the section itself).  Flags (\Seen), LIST patterns (* %) and sequence
 *    sets (1:*,4) are atoms.  The atom NIL (any case) has its own type.
 *  - quoted: "..." with \" and \\ escapes (any other escape is refused);
 *    the value is unescaped.
 *  - literal: {n} / {n+} at the end of a line, then n octets, which may
 *    hold anything, NUL included (use len, not strlen).
 *  - list: ( ... ), nested at most IMAP_NEST_MAX deep.
 * Extra spaces between tokens are tolerated (people type in telnet).
 * Errors are reported once per command, with a sentence that names what
 * was expected, and the command is dropped whole: the session stays in
 * step with the client (see IMAP_PR_SKIP).
 */
#ifndef IMAPD_PARSE_H
#define IMAPD_PARSE_H

#include <stddef.h>

#include "proto.h"	/* struct sbuf, params.h */

/* Longest tag we accept: tags are short counters ("a001"); a long one is a
 * typing accident or an attack, and it is echoed in every reply. */
#define IMAP_TAG_MAX		64

/* Longest command name ("UNSUBSCRIBE", "AUTHENTICATE" are the longest we
 * know; a longer word is reported as unknown, truncated). */
#define IMAP_NAME_MAX		32

/* Literal octets per command before login: a user name and a password
 * (AUTH_PASS_MAX) fit many times over; an unauthenticated client cannot
 * make the pre-auth process hold IMAP_LITERAL_MAX. */
#define IMAP_PREAUTH_LITERAL_MAX	(16 * 1024)

enum imap_argtype {
	IMAP_ARG_ATOM,		/* atom, with any "[...]" section inside */
	IMAP_ARG_NIL,		/* the atom NIL */
	IMAP_ARG_QUOTED,	/* quoted string, unescaped */
	IMAP_ARG_LITERAL,	/* literal octets */
	IMAP_ARG_LIST		/* parenthesised list: its items follow */
};

/* One argument.  S is NUL-terminated (for a LIST: "(") and valid until
 * the next imap_parser_reset; LEN excludes the NUL. */
struct imap_arg {
	enum imap_argtype type;
	const char *s;
	size_t len;
	size_t off;		/* private: offset of S in the arena */
	size_t next;		/* private: index of the next sibling */
	int literal_plus;	/* LITERAL: sent as {n+} */
};

/*
 * A cursor over one level of arguments: the command's top level, or the
 * items of one list.  Handlers take arguments in order with the imap_get_*
 * helpers below and finish with imap_args_end().
 */
struct imap_args {
	const struct imap_arg *v;
	size_t pos, end;
};

/* What the parser wants next, or what it found. */
enum imap_pr {
	IMAP_PR_LINE,		/* feed the next line (the command goes on) */
	IMAP_PR_LITERAL,	/* feed imap_parser_literal_need() octets;
				 * if imap_parser_literal_sync(), first send a
				 * continuation ("+ Ready for literal data") */
	IMAP_PR_SKIP,		/* the command is refused but the client is
				 * sending a LITERAL+ literal anyway: discard
				 * imap_parser_literal_need() octets (io_skip),
				 * then feed lines again until IMAP_PR_ERROR */
	IMAP_PR_EMPTY,		/* an empty line: ignore it, read the next */
	IMAP_PR_DONE,		/* a whole command: imap_parser_tag/name/args */
	IMAP_PR_ERROR,		/* a whole refused command: tagged (or, with
				 * no tag, untagged) BAD imap_parser_error() */
	IMAP_PR_FATAL		/* cannot stay in step (a LITERAL+ whose size
				 * is not a number; out of memory): say BYE
				 * with imap_parser_error() and end */
};

struct imap_parser {
	/* everything here is private to parse.c */
	struct sbuf text;		/* arena: token text and literal data */
	struct imap_arg *args;
	size_t nargs, argcap;
	size_t open[IMAP_NEST_MAX + 1];	/* indexes of the open lists */
	unsigned depth;
	size_t line_total;		/* command text so far (no literals) */
	unsigned long long lit_total;	/* literal octets so far */
	unsigned long long lit_need;	/* octets still to come */
	unsigned long long lit_max;	/* per command; 0: IMAP_LITERAL_MAX */
	int lit_sync;
	int state;			/* enum in parse.c */
	int have_tag, have_name;
	char tag[IMAP_TAG_MAX + 1];
	char name[IMAP_NAME_MAX + 1];
	size_t first_arg;		/* index of the first argument */
	char err[256];
	/* transcript masking (-v): where the secret starts in the first line
	 * (LOGIN password, AUTHENTICATE initial response), or (size_t)-1 */
	size_t mask_from;
	int mask_literals;		/* secret literals: log their size only */
};

void imap_parser_init(struct imap_parser *p);
/* Cap the literal octets of each command at MAX (<= IMAP_LITERAL_MAX):
 * IMAP_PREAUTH_LITERAL_MAX before login. */
void imap_parser_set_literal_max(struct imap_parser *p,
    unsigned long long max);
/* Forget the current command (keeps memory for the next one). */
void imap_parser_reset(struct imap_parser *p);
void imap_parser_free(struct imap_parser *p);

/*
 * imap_parse_line - feed one line LINE/LEN without its line end.
 * LINE_FLAGS are io_getline's IO_LINE_* flags (a NUL refuses the command).
 * Call after imap_parser_reset for a new command, or when the previous
 * call asked for IMAP_PR_LINE.  Returns IMAP_PR_*.
 */
enum imap_pr imap_parse_line(struct imap_parser *p, const char *line,
    size_t len, unsigned line_flags);

/*
 * imap_parse_literal - feed N octets of the literal being read (any N up
 * to imap_parser_literal_need()).  Returns IMAP_PR_LITERAL while more are
 * needed, IMAP_PR_LINE when the literal is complete.
 */
enum imap_pr imap_parse_literal(struct imap_parser *p, const void *data,
    size_t n);

/*
 * imap_parse_toolong - the next line of the command was longer than the
 * caller's buffer (io_getline said IO_TOOLONG and discarded it): the
 * command is refused.  Returns IMAP_PR_ERROR (or IMAP_PR_FATAL).
 */
enum imap_pr imap_parse_toolong(struct imap_parser *p);

/* Octets still wanted by IMAP_PR_LITERAL / IMAP_PR_SKIP. */
unsigned long long imap_parser_literal_need(const struct imap_parser *p);
/* Is the literal being read synchronising (send "+" before reading)? */
int imap_parser_literal_sync(const struct imap_parser *p);

/* The tag ("" if none yet), and the command name as typed ("" if none);
 * valid after any result. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);
/* The message for IMAP_PR_ERROR / IMAP_PR_FATAL. */
const char *imap_parser_error(const struct imap_parser *p);
/* After IMAP_PR_DONE: a cursor over the arguments (after the name). */
void imap_parser_args(const struct imap_parser *p, struct imap_args *a);
/* Offset in the first line from which the transcript must mask (a
 * password), or (size_t)-1. */
size_t imap_parser_mask_from(const struct imap_parser *p);

/* ---- reading arguments (handlers) --------------------------------------- */

/* Is there no argument left at this level?  1 or 0. */
int imap_args_end(const struct imap_args *a);
/* Arguments left at this level. */
size_t imap_args_left(const struct imap_args *a);
/* The next argument without taking it; NULL at the end. */
const struct imap_arg *imap_args_peek(const struct imap_args *a);
/* Take the next argument, whatever its type; NULL at the end. */
const struct imap_arg *imap_args_next(struct imap_args *a);

/*
 * The typed getters take the next argument if it has the right type and
 * return 0, else take nothing and return -1.  Strings are NUL-terminated;
 * *LEN_R may be NULL.
 *  imap_get_atom:    an atom (NIL counts: it is the atom "NIL").
 *  imap_get_string:  quoted or literal.
 *  imap_get_astring: atom, NIL, quoted or literal (RFC 3501 astring).
 *  imap_get_nstring: NIL (*S_R = NULL) or string.
 *  imap_get_list:    a list; *SUB gets a cursor over its items.
 *  imap_get_uint:    an atom that is a decimal number <= MAX (parse_uint).
 */
int imap_get_atom(struct imap_args *a, const char **s_r, size_t *len_r);
int imap_get_string(struct imap_args *a, const char **s_r, size_t *len_r);
int imap_get_astring(struct imap_args *a, const char **s_r, size_t *len_r);
int imap_get_nstring(struct imap_args *a, const char **s_r, size_t *len_r);
int imap_get_list(struct imap_args *a, struct imap_args *sub);
int imap_get_uint(struct imap_args *a, unsigned long long max,
    unsigned long long *v_r);

/* Is ARG an atom equal to WORD, ignoring ASCII case?  1 or 0. */
int imap_arg_is(const struct imap_arg *arg, const char *word);

#endif
