/*
 * trans.c - the TRANSACTION state (STAT LIST RETR TOP DELE NOOP RSET UIDL
 * CAPA QUIT) and the UPDATE step of QUIT.
 *
 * The maildrop is locked for the session with sp_session_lock (flock, which
 * does not stop deliveries) and indexed once at login.  Message numbers
 * are those of the login snapshot: mail delivered meanwhile is not shown
 * and is kept by the rewrite.  DELE only marks; QUIT marks the messages
 * SP_EXPUNGE and calls sp_sync, whose journal makes the removal all or
 * nothing.  A dropped connection or a timeout deletes nothing.
 *
 * UIDL is "%08X%08X" of UID and UIDVALIDITY.  UIDs not yet written in the
 * mailbox are computed the same way by every process (libspool assigns
 * them in file order from X-IMAPbase, UIDVALIDITY from the first From_
 * line) and written by the next rewrite, so a UIDL needs no write.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3.h"

static enum pop3_event trans_stat(struct pop3_session *);
static enum pop3_event trans_list(struct pop3_session *);
static enum pop3_event trans_retr(struct pop3_session *);
static enum pop3_event trans_top(struct pop3_session *);
static enum pop3_event trans_dele(struct pop3_session *);
static enum pop3_event trans_noop(struct pop3_session *);
static enum pop3_event trans_rset(struct pop3_session *);
static enum pop3_event trans_uidl(struct pop3_session *);
static enum pop3_event trans_quit(struct pop3_session *);

const struct pop3_cmd pop3_trans_cmds[] = {
	{ "STAT", trans_stat, 0, 0, "STAT (no argument): count and size" },
	{ "LIST", trans_list, 0, 1, "LIST [msg]: sizes of all messages or "
	    "of one" },
	{ "RETR", trans_retr, 1, 1, "RETR msg (a message number from LIST)" },
	{ "TOP", trans_top, 2, 2, "TOP msg lines (e.g. TOP 1 10: the "
	    "headers and 10 body lines)" },
	{ "DELE", trans_dele, 1, 1, "DELE msg (a message number from LIST)" },
	{ "NOOP", trans_noop, 0, 0, "NOOP (no argument)" },
	{ "RSET", trans_rset, 0, 0, "RSET (no argument): undelete all" },
	{ "UIDL", trans_uidl, 0, 1, "UIDL [msg]: unique ids of all messages "
	    "or of one" },
	{ "CAPA", pop3_capa, 0, 0, "CAPA (no argument)" },
	{ "QUIT", trans_quit, 0, 0, "QUIT (no argument)" },
	{ NULL, NULL, 0, 0, NULL }
};

static void
trans_mailbox_error(struct pop3_session *s, const char *what,
    const struct sp_err *err)
{
	log_warnx("user=%s: %s: %s", s->au.name, what, err->msg);
	if (err->cls == SP_BUSY)
		io_puts(&s->io, "-ERR [IN-USE] your mailbox is open in another "
		    "POP3 session; end that one and try again\r\n");
	else if (err->cls == SP_PERMFAIL)
		io_printf(&s->io, "-ERR [SYS/PERM] cannot %s your mailbox; ask "
		    "the administrator\r\n", what);
	else
		io_printf(&s->io, "-ERR [SYS/TEMP] cannot %s your mailbox now; "
		    "try again later\r\n", what);
}

enum pop3_event
pop3_enter_trans(struct pop3_session *s)
{
	struct sp_err err;
	uint32_t i;

	if (sp_session_lock(s->au.mailbox, &s->lock_fd, &err) == -1) {
		trans_mailbox_error(s, "lock", &err);
		return POP3_QUIT;
	}
	if (sp_open(s->au.mailbox, SP_RDWR | SP_CREATE, &s->mb, &err) == -1) {
		trans_mailbox_error(s, "open", &err);
		pop3_trans_close(s);
		return POP3_QUIT;
	}
	s->count = sp_count(s->mb);
	if ((s->dele = calloc((size_t)s->count + 1, 1)) == NULL) {
		log_warn("user=%s: calloc", s->au.name);
		io_puts(&s->io, "-ERR [SYS/TEMP] out of memory; try again "
		    "later\r\n");
		pop3_trans_close(s);
		return POP3_QUIT;
	}
	for (i = 0; i < s->count; i++)
		s->octets += sp_msg(s->mb, i)->size;
	s->state = POP3_TRANSACTION;
	log_info("user=%s: maildrop opened, %u messages, %llu octets",
	    s->au.name, s->count, (unsigned long long)s->octets);
	io_printf(&s->io, "+OK %s has %u message%s (%llu octets)\r\n",
	    s->au.name, s->count, s->count == 1 ? "" : "s",
	    (unsigned long long)s->octets);
	return POP3_DONE;
}

void
pop3_trans_close(struct pop3_session *s)
{
	if (s->mb != NULL)
		sp_close(&s->mb);
	if (s->lock_fd != -1)
		sp_session_unlock(&s->lock_fd);
	s->lock_fd = -1;
	free(s->dele);
	s->dele = NULL;
}

/* Message number ARG of the session: *I_R gets its 0-based session
 * index. */
static enum pop3_event
trans_msgnum(struct pop3_session *s, const char *arg, uint32_t *i_r)
{
	size_t len = strlen(arg);
	unsigned long long v;

	if (len == 0 || strspn(arg, "0123456789") != len)
		return POP3_BADNUM;
	if (parse_uint(arg, len, s->count, &v) == -1 || v == 0)
		return POP3_NOMSG;
	if (s->dele[v - 1])
		return POP3_ISDELETED;
	*i_r = (uint32_t)(v - 1);
	return POP3_DONE;
}

static enum pop3_event
trans_stat(struct pop3_session *s)
{
	io_printf(&s->io, "+OK %u %llu\r\n", s->count - s->ndele,
	    (unsigned long long)(s->octets - s->dele_octets));
	return POP3_DONE;
}

static enum pop3_event
trans_list(struct pop3_session *s)
{
	enum pop3_event ev;
	uint32_t i;

	if (s->argc == 1) {
		if ((ev = trans_msgnum(s, s->argv[0], &i)) != POP3_DONE)
			return ev;
		io_printf(&s->io, "+OK %u %llu\r\n", i + 1,
		    (unsigned long long)sp_msg(s->mb, i)->size);
		return POP3_DONE;
	}
	io_printf(&s->io, "+OK %u message%s (%llu octets)\r\n",
	    s->count - s->ndele, s->count - s->ndele == 1 ? "" : "s",
	    (unsigned long long)(s->octets - s->dele_octets));
	for (i = 0; i < s->count; i++)
		if (!s->dele[i])
			io_printf(&s->io, "%u %llu\r\n", i + 1,
			    (unsigned long long)sp_msg(s->mb, i)->size);
	io_puts(&s->io, ".\r\n");
	return POP3_DONE;
}

static enum pop3_event
trans_retr(struct pop3_session *s)
{
	char status[64];
	enum pop3_event ev;
	uint32_t i;

	if ((ev = trans_msgnum(s, s->argv[0], &i)) != POP3_DONE)
		return ev;
	snprintf(status, sizeof(status), "+OK %llu octets\r\n",
	    (unsigned long long)sp_msg(s->mb, i)->size);
	return pop3_stream(s, i, UINT64_MAX, status);
}

static enum pop3_event
trans_top(struct pop3_session *s)
{
	const char *n = s->argv[1];
	size_t len = strlen(n);
	unsigned long long lines;
	enum pop3_event ev;
	uint32_t i;

	if ((ev = trans_msgnum(s, s->argv[0], &i)) != POP3_DONE)
		return ev;
	if (len == 0 || strspn(n, "0123456789") != len)
		return POP3_USAGE;
	/* A count beyond any message is the whole body. */
	if (parse_uint(n, len, UINT64_MAX, &lines) == -1)
		lines = UINT64_MAX;
	return pop3_stream(s, i, lines, "+OK top of message follows\r\n");
}

static enum pop3_event
trans_dele(struct pop3_session *s)
{
	enum pop3_event ev;
	uint32_t i;

	if ((ev = trans_msgnum(s, s->argv[0], &i)) != POP3_DONE)
		return ev;
	s->dele[i] = 1;
	s->ndele++;
	s->dele_octets += sp_msg(s->mb, i)->size;
	io_printf(&s->io, "+OK message %u deleted (at QUIT)\r\n", i + 1);
	return POP3_DONE;
}

static enum pop3_event
trans_noop(struct pop3_session *s)
{
	io_puts(&s->io, "+OK\r\n");
	return POP3_DONE;
}

static enum pop3_event
trans_rset(struct pop3_session *s)
{
	uint32_t i;

	for (i = 0; i < s->count; i++)
		if (s->dele[i]) {
			s->dele[i] = 0;
			s->ndele--;
			s->dele_octets -= sp_msg(s->mb, i)->size;
		}
	io_printf(&s->io, "+OK maildrop has %u message%s (%llu octets)\r\n",
	    s->count - s->ndele, s->count - s->ndele == 1 ? "" : "s",
	    (unsigned long long)(s->octets - s->dele_octets));
	return POP3_DONE;
}

static void
trans_uidl_line(struct pop3_session *s, const char *prefix, uint32_t i)
{
	io_printf(&s->io, "%s%u " POP3_UIDL_FMT "\r\n", prefix, i + 1,
	    sp_msg(s->mb, i)->uid, sp_uidvalidity(s->mb));
}

static enum pop3_event
trans_uidl(struct pop3_session *s)
{
	enum pop3_event ev;
	uint32_t i;

	if (s->argc == 1) {
		if ((ev = trans_msgnum(s, s->argv[0], &i)) != POP3_DONE)
			return ev;
		trans_uidl_line(s, "+OK ", i);
		return POP3_DONE;
	}
	io_puts(&s->io, "+OK unique-id listing follows\r\n");
	for (i = 0; i < s->count; i++)
		if (!s->dele[i])
			trans_uidl_line(s, "", i);
	io_puts(&s->io, ".\r\n");
	return POP3_DONE;
}

/* QUIT: the UPDATE state of RFC 1939 6. */
static enum pop3_event
trans_quit(struct pop3_session *s)
{
	const struct sp_msg *m;
	struct sp_err err;
	uint32_t i, left;

	left = s->count - s->ndele;
	for (i = 0; i < s->count; i++)
		if (s->dele[i]) {
			m = sp_msg(s->mb, i);
			sp_set_state(s->mb, i, m->flags | SP_EXPUNGE,
			    m->keywords);
		}
	if (s->ndele > 0 && sp_sync(s->mb, NULL, NULL, &err) == -1) {
		log_warnx("user=%s: quit: deleting %u messages failed, "
		    "nothing deleted: %s", s->au.name, s->ndele, err.msg);
		io_printf(&s->io, "-ERR [SYS/TEMP] could not delete the "
		    "messages (none was deleted); try again later\r\n");
	} else {
		log_info("user=%s: quit: %u deleted, %u left", s->au.name,
		    s->ndele, left);
		io_printf(&s->io, "+OK bye: %u deleted, %u left\r\n", s->ndele,
		    left);
	}
	pop3_trans_close(s);
	return POP3_QUIT;
}
