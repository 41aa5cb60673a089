/*
 * parse.c - the IMAP command parser: lines and literals in, a tag, a
 * command name and an argument tree out (see parse.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

enum pstate {
	PS_START,		/* waiting for the first line of a command */
	PS_LINE,		/* waiting for the line after a literal */
	PS_LITERAL,		/* reading literal octets */
	PS_DISCARD,		/* refused: reading the rest of the command */
	PS_END			/* the command is complete (or refused) */
};

static const char lparen[] = "(";

void
imap_parser_init(struct imap_parser *p)
{
	memset(p, 0, sizeof(*p));
	imap_parser_reset(p);
}

void
imap_parser_set_literal_max(struct imap_parser *p, unsigned long long max)
{
	p->lit_max = max < (unsigned long long)IMAP_LITERAL_MAX ? max :
	    (unsigned long long)IMAP_LITERAL_MAX;
}

void
imap_parser_reset(struct imap_parser *p)
{
	sbuf_reset(&p->text);
	p->nargs = 0;
	p->depth = 0;
	p->line_total = 0;
	p->lit_total = 0;
	p->lit_need = 0;
	p->lit_sync = 0;
	p->state = PS_START;
	p->have_tag = p->have_name = 0;
	p->tag[0] = p->name[0] = '\0';
	p->first_arg = 0;
	p->err[0] = '\0';
	p->mask_from = (size_t)-1;
	p->mask_literals = 0;
}

void
imap_parser_free(struct imap_parser *p)
{
	sbuf_free(&p->text);
	free(p->args);
	p->args = NULL;
	p->nargs = p->argcap = 0;
}

static void
fail(struct imap_parser *p, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Record the first error of the command; later ones are consequences. */
static void
fail(struct imap_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* atom-specials of RFC 3501 9 that end an atom here: the rest (% * ] \)
 * are taken into atoms, for LIST patterns, flags and sections. */
static int
ends_atom(unsigned char c)
{
	return c == ' ' || c == '(' || c == ')' || c == '"' || is_ctl(c);
}

static int
tag_char(unsigned char c)
{
	return !ends_atom(c) && c != '{' && c != '%' && c != '*' &&
	    c != '\\' && c != '+' && c < 0x80;
}

static struct imap_arg *
new_arg(struct imap_parser *p, enum imap_argtype type)
{
	struct imap_arg *a;

	if (p->nargs == p->argcap) {
		size_t ncap = p->argcap ? p->argcap * 2 : 32;
		struct imap_arg *v = reallocarray(p->args, ncap, sizeof(*v));

		if (v == NULL)
			return NULL;
		p->args = v;
		p->argcap = ncap;
	}
	a = &p->args[p->nargs++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->off = p->text.len;
	a->next = p->nargs;
	return a;
}

/* Close argument A's text in the arena. */
static void
end_text(struct imap_parser *p, struct imap_arg *a)
{
	a->len = p->text.len - a->off;
	sbuf_addc(&p->text, '\0');
}

/*
 * Does LINE end in a literal announcement "{n}" / "{n+}"?  1 with *N_R and
 * *PLUS_R, 0 if not, -1 if it does but N is not a number we can hold.
 * *AT_R gets the offset of the '{'.
 */
static int
tail_literal(const char *line, size_t len, unsigned long long *n_r,
    int *plus_r, size_t *at_r)
{
	size_t i, end;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	end = len - 1;
	*plus_r = line[end - 1] == '+';
	if (*plus_r)
		end--;
	for (i = end; i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9'; i--)
		;
	if (i == 0 || line[i - 1] != '{' || i == end)
		return 0;
	*at_r = i - 1;
	if (parse_uint(line + i, end - i, ~0ULL, n_r) == -1)
		return -1;
	return 1;
}

/* The command ends here: fix up pointers, or report the error. */
static enum imap_pr
finish(struct imap_parser *p)
{
	size_t i;

	p->state = PS_END;
	if (p->err[0] == '\0' && p->depth > 0)
		fail(p, "Missing ')': %u list%s still open at the end of the "
		    "command", p->depth, p->depth > 1 ? "s" : "");
	if (p->err[0] == '\0' && p->text.oom)
		fail(p, "Out of memory");
	if (p->err[0] != '\0')
		return IMAP_PR_ERROR;
	for (i = 0; i < p->nargs; i++)
		p->args[i].s = p->args[i].type == IMAP_ARG_LIST ? lparen :
		    p->text.p + p->args[i].off;
	return IMAP_PR_DONE;
}

/*
 * A refused command whose line ended in a literal: a synchronising one is
 * never sent (we send no "+"), a LITERAL+ one must be swallowed.
 */
static enum imap_pr
refuse_line(struct imap_parser *p, const char *line, size_t len)
{
	unsigned long long n;
	int plus, r;
	size_t at;

	r = tail_literal(line, len, &n, &plus, &at);
	if (r == 1 && plus) {
		p->state = PS_DISCARD;
		p->lit_need = n;
		return IMAP_PR_SKIP;
	}
	if (r == -1 && plus) {
		snprintf(p->err, sizeof(p->err), "Literal size is not a number "
		    "we can skip: cannot stay in step with the client");
		p->state = PS_END;
		return IMAP_PR_FATAL;
	}
	p->state = PS_END;
	return IMAP_PR_ERROR;
}

/* A quoted string starting at LINE[*I] == '"'. */
static int
quoted(struct imap_parser *p, const char *line, size_t len, size_t *i)
{
	struct imap_arg *a = new_arg(p, IMAP_ARG_QUOTED);
	size_t j;

	if (a == NULL) {
		fail(p, "Out of memory");
		return -1;
	}
	for (j = *i + 1; j < len; j++) {
		unsigned char c = (unsigned char)line[j];

		if (c == '"')
			break;
		if (c == '\\') {
			if (j + 1 < len && (line[j + 1] == '"' ||
			    line[j + 1] == '\\')) {
				sbuf_addc(&p->text, line[++j]);
				continue;
			}
			fail(p, "Invalid escape in a quoted string: only \\\" "
			    "and \\\\ are allowed (send other text as a "
			    "literal {n})");
			return -1;
		}
		if (c == '\r' || c == '\n') {
			fail(p, "CR or LF in a quoted string: send such text "
			    "as a literal {n}");
			return -1;
		}
		sbuf_addc(&p->text, (char)c);
	}
	if (j == len) {
		fail(p, "Missing closing quote '\"' in a quoted string");
		return -1;
	}
	end_text(p, a);
	*i = j + 1;
	return 0;
}

/* An atom starting at LINE[*I], with "[...]" sections taken whole. */
static int
atom(struct imap_parser *p, const char *line, size_t len, size_t *i)
{
	struct imap_arg *a;
	size_t j = *i;

	while (j < len && !ends_atom((unsigned char)line[j])) {
		if (line[j++] != '[')
			continue;
		while (j < len && line[j] != ']') {
			if (line[j] == '"') {
				for (j++; j < len && line[j] != '"'; j++)
					if (line[j] == '\\' && j + 1 < len)
						j++;
				if (j == len)
					break;
			} else if (is_ctl((unsigned char)line[j])) {
				fail(p, "Control character inside [...]");
				return -1;
			}
			j++;
		}
		if (j >= len) {
			fail(p, "Missing ']' after '%.*s'", (int)(j - *i > 40 ?
			    40 : j - *i), line + *i);
			return -1;
		}
		j++;
	}
	if (j == *i) {
		fail(p, "Control character in the command (0x%02x)",
		    (unsigned char)line[j]);
		return -1;
	}
	if ((a = new_arg(p, IMAP_ARG_ATOM)) == NULL) {
		fail(p, "Out of memory");
		return -1;
	}
	if (j - *i == 3 && strncasecmp(line + *i, "NIL", 3) == 0)
		a->type = IMAP_ARG_NIL;
	sbuf_add(&p->text, line + *i, j - *i);
	end_text(p, a);
	*i = j;
	return 0;
}

/*
 * A literal announcement at LINE[*I] == '{': it must end the line.
 * Returns 1 if the caller must now read the literal, -1 on error.
 */
static int
literal(struct imap_parser *p, const char *line, size_t len, size_t i)
{
	unsigned long long n, max;
	struct imap_arg *a;
	size_t at;
	int plus;

	if (tail_literal(line, len, &n, &plus, &at) != 1 || at != i) {
		fail(p, "A literal is {n} or {n+} at the end of a line, "
		    "n its size in octets");
		return -1;
	}
	max = p->lit_max != 0 ? p->lit_max :
	    (unsigned long long)IMAP_LITERAL_MAX;
	if (n > max - p->lit_total) {
		fail(p, "[TOOBIG] Literal of %llu octets refused: at most %llu "
		    "per command%s", n, max, max < (unsigned long long)
		    IMAP_LITERAL_MAX ? " before login" : "");
		return -1;
	}
	if ((a = new_arg(p, IMAP_ARG_LITERAL)) == NULL) {
		fail(p, "Out of memory");
		return -1;
	}
	a->literal_plus = plus;
	p->lit_total += n;
	p->lit_need = n;
	p->lit_sync = !plus;
	return 1;
}

/* The tag and command name at the start of the first line. */
static int
tag_and_name(struct imap_parser *p, const char *line, size_t len, size_t *i)
{
	size_t j = 0, k;

	while (j < len && line[j] != ' ')
		j++;
	for (k = 0; k < j; k++)
		if (!tag_char((unsigned char)line[k]))
			break;
	if (k < j || j > IMAP_TAG_MAX) {
		char safe[64];

		fail(p, "Invalid tag '%s': a tag is a short word of letters "
		    "and digits, for example \"a1 LOGIN user password\"",
		    log_safe(safe, sizeof(safe), line, j));
		return -1;
	}
	memcpy(p->tag, line, j);
	p->tag[j] = '\0';
	p->have_tag = 1;
	while (j < len && line[j] == ' ')
		j++;
	for (k = j; k < len && line[k] != ' '; k++)
		;
	if (k == j) {
		fail(p, "Missing command name after the tag");
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%.*s", (int)(k - j), line + j);
	p->have_name = 1;
	for (; j < k; j++)
		if (!(line[j] >= 'A' && line[j] <= 'Z') &&
		    !(line[j] >= 'a' && line[j] <= 'z') && line[j] != '-') {
			fail(p, "Invalid command name: a command is a word "
			    "such as LOGIN, SELECT or FETCH");
			return -1;
		}
	if (strcasecmp(p->name, "LOGIN") == 0 ||
	    strcasecmp(p->name, "AUTHENTICATE") == 0)
		p->mask_literals = 1;
	*i = k;
	return 0;
}

/*
 * Tokenise LINE from *I.  Returns 0 at the end of the line, 1 if a literal
 * must be read, -1 on error.
 */
static int
tokens(struct imap_parser *p, const char *line, size_t len, size_t i)
{
	for (;;) {
		unsigned char c;

		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			return 0;
		c = (unsigned char)line[i];
		if (p->mask_literals && p->depth == 0 && p->mask_from ==
		    (size_t)-1 && p->nargs - p->first_arg == 1)
			p->mask_from = i;
		if (c == '(') {
			struct imap_arg *a;

			if (p->depth == IMAP_NEST_MAX) {
				fail(p, "Lists nested too deeply (at most %d "
				    "levels of parentheses)", IMAP_NEST_MAX);
				return -1;
			}
			if ((a = new_arg(p, IMAP_ARG_LIST)) == NULL) {
				fail(p, "Out of memory");
				return -1;
			}
			p->open[p->depth++] = p->nargs - 1;
			i++;
			continue;
		}
		if (c == ')') {
			if (p->depth == 0) {
				fail(p, "Unexpected ')' with no list open");
				return -1;
			}
			p->depth--;
			p->args[p->open[p->depth]].next = p->nargs;
			i++;
		} else if (c == '{') {
			return literal(p, line, len, i);
		} else if (c == '"') {
			if (quoted(p, line, len, &i) == -1)
				return -1;
		} else if (atom(p, line, len, &i) == -1) {
			return -1;
		}
		if (i < len && line[i] != ' ' && line[i] != ')') {
			fail(p, "Expected a space between arguments, "
			    "found '%c'", is_ctl((unsigned char)line[i]) ?
			    '?' : line[i]);
			return -1;
		}
	}
}

enum imap_pr
imap_parse_line(struct imap_parser *p, const char *line, size_t len,
    unsigned line_flags)
{
	size_t i = 0;
	int r;

	if (p->state == PS_START && len == 0 && p->err[0] == '\0')
		return IMAP_PR_EMPTY;
	if (p->state == PS_DISCARD)
		return refuse_line(p, line, len);
	if (p->state != PS_START && p->state != PS_LINE) {
		fail(p, "Parser misuse");
		p->state = PS_END;
		return IMAP_PR_ERROR;
	}
	if (p->state == PS_LINE)
		p->mask_from = p->mask_literals ? 0 : (size_t)-1;
	p->line_total += len;
	if (p->line_total > IMAP_LINE_MAX) {
		fail(p, "[TOOBIG] Command too long (at most %d octets "
		    "besides literals)", IMAP_LINE_MAX);
		return refuse_line(p, line, len);
	}
	if (line_flags & IO_LINE_NUL) {
		if (p->state == PS_START)
			(void)tag_and_name(p, line, strnlen(line, len), &i);
		p->err[0] = '\0';
		fail(p, "NUL octet in the command line");
		return refuse_line(p, line, len);
	}
	if (p->state == PS_START) {
		if (tag_and_name(p, line, len, &i) == -1)
			return refuse_line(p, line, len);
		p->first_arg = p->nargs;
	}
	r = tokens(p, line, len, i);
	if (r == -1)
		return refuse_line(p, line, len);
	if (r == 1) {
		p->state = PS_LITERAL;
		if (p->lit_need == 0)
			return imap_parse_literal(p, "", 0);
		return IMAP_PR_LITERAL;
	}
	return finish(p);
}

enum imap_pr
imap_parse_literal(struct imap_parser *p, const void *data, size_t n)
{
	struct imap_arg *a;

	if (p->state != PS_LITERAL || n > p->lit_need) {
		fail(p, "Parser misuse");
		p->state = PS_END;
		return IMAP_PR_FATAL;
	}
	sbuf_add(&p->text, data, n);
	p->lit_need -= n;
	if (p->text.oom) {
		snprintf(p->err, sizeof(p->err), "Out of memory");
		p->state = PS_END;
		return IMAP_PR_FATAL;
	}
	if (p->lit_need > 0)
		return IMAP_PR_LITERAL;
	a = &p->args[p->nargs - 1];
	end_text(p, a);
	p->state = PS_LINE;
	return IMAP_PR_LINE;
}

enum imap_pr
imap_parse_toolong(struct imap_parser *p)
{
	fail(p, "[TOOBIG] Line too long (at most %d octets)", IMAP_LINE_MAX);
	p->state = PS_END;
	return IMAP_PR_ERROR;
}

unsigned long long
imap_parser_literal_need(const struct imap_parser *p)
{
	return p->lit_need;
}

int
imap_parser_literal_sync(const struct imap_parser *p)
{
	return p->lit_sync;
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->tag : "";
}

const char *
imap_parser_name(const struct imap_parser *p)
{
	return p->have_name ? p->name : "";
}

const char *
imap_parser_error(const struct imap_parser *p)
{
	return p->err;
}

size_t
imap_parser_mask_from(const struct imap_parser *p)
{
	return p->mask_from;
}

void
imap_parser_args(const struct imap_parser *p, struct imap_args *a)
{
	a->v = p->args;
	a->pos = p->first_arg;
	a->end = p->nargs;
}

/* ---- reading arguments ---------------------------------------------------- */

int
imap_args_end(const struct imap_args *a)
{
	return a->pos >= a->end;
}

size_t
imap_args_left(const struct imap_args *a)
{
	size_t n = 0, i;

	for (i = a->pos; i < a->end; i = a->v[i].next)
		n++;
	return n;
}

const struct imap_arg *
imap_args_peek(const struct imap_args *a)
{
	return a->pos < a->end ? &a->v[a->pos] : NULL;
}

const struct imap_arg *
imap_args_next(struct imap_args *a)
{
	const struct imap_arg *arg = imap_args_peek(a);

	if (arg != NULL)
		a->pos = arg->next;
	return arg;
}

static int
take(struct imap_args *a, unsigned types, const char **s_r, size_t *len_r)
{
	const struct imap_arg *arg = imap_args_peek(a);

	if (arg == NULL || !(types & (1u << arg->type)))
		return -1;
	a->pos = arg->next;
	*s_r = arg->s;
	if (len_r != NULL)
		*len_r = arg->len;
	return 0;
}

#define T(x) (1u << (x))

int
imap_get_atom(struct imap_args *a, const char **s_r, size_t *len_r)
{
	return take(a, T(IMAP_ARG_ATOM) | T(IMAP_ARG_NIL), s_r, len_r);
}

int
imap_get_string(struct imap_args *a, const char **s_r, size_t *len_r)
{
	return take(a, T(IMAP_ARG_QUOTED) | T(IMAP_ARG_LITERAL), s_r, len_r);
}

int
imap_get_astring(struct imap_args *a, const char **s_r, size_t *len_r)
{
	return take(a, T(IMAP_ARG_ATOM) | T(IMAP_ARG_NIL) |
	    T(IMAP_ARG_QUOTED) | T(IMAP_ARG_LITERAL), s_r, len_r);
}

int
imap_get_nstring(struct imap_args *a, const char **s_r, size_t *len_r)
{
	const struct imap_arg *arg = imap_args_peek(a);

	if (arg != NULL && arg->type == IMAP_ARG_NIL) {
		a->pos = arg->next;
		*s_r = NULL;
		if (len_r != NULL)
			*len_r = 0;
		return 0;
	}
	return imap_get_string(a, s_r, len_r);
}

int
imap_get_list(struct imap_args *a, struct imap_args *sub)
{
	const struct imap_arg *arg = imap_args_peek(a);
	size_t at = a->pos;

	if (arg == NULL || arg->type != IMAP_ARG_LIST)
		return -1;
	a->pos = arg->next;
	sub->v = a->v;
	sub->pos = at + 1;
	sub->end = arg->next;
	return 0;
}

int
imap_get_uint(struct imap_args *a, unsigned long long max,
    unsigned long long *v_r)
{
	const struct imap_arg *arg = imap_args_peek(a);

	if (arg == NULL || arg->type != IMAP_ARG_ATOM ||
	    parse_uint(arg->s, arg->len, max, v_r) == -1)
		return -1;
	a->pos = arg->next;
	return 0;
}

int
imap_arg_is(const struct imap_arg *arg, const char *word)
{
	return arg != NULL && (arg->type == IMAP_ARG_ATOM ||
	    arg->type == IMAP_ARG_NIL) && strcasecmp(arg->s, word) == 0;
}
