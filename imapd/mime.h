/*
 * mime.h - MIME structure of one message, for IMAP FETCH ENVELOPE, BODY,
 * BODYSTRUCTURE, BODY[section] and SEARCH (RFC 2045-2047, 2183, 2231,
 * RFC 3501 7.4.2).
 *
 * The parser works on the message in served form (CRLF line ends, as sent
 * to clients: see spool.h) without copying it: parts are offsets into the
 * caller's buffer, which must outlive the mime_msg.  It never fails on
 * malformed input: broken or missing MIME headers give the RFC 3501
 * defaults (text/plain; charset us-ascii), and beyond MIME_DEPTH_MAX
 * nesting or MIME_PARTS_MAX parts the rest is treated as opaque content of
 * the last part (a multipart cut there shows one application/octet-stream
 * part holding its whole body, with its real size).  It fails (-1) only
 * when memory runs out.
 */
#ifndef IMAPD_MIME_H
#define IMAPD_MIME_H

#include <stddef.h>
#include <time.h>

#include "proto.h"	/* struct sbuf */

/* Nesting depth of multiparts and message/rfc822 we descend into. */
#define MIME_DEPTH_MAX	32
/* Parts per message we index (a MIME bomb cannot cost more). */
#define MIME_PARTS_MAX	2000
/* Parameters of one Content-Type or Content-Disposition we report in
 * BODYSTRUCTURE: real mail has a handful, and RFC 2231 continuations of a
 * long file name a few dozen; more are dropped, so that one header of
 * 100000 "x=y" cannot make a response line of megabytes. */
#define MIME_PARAMS_MAX	128

struct mime_msg;	/* opaque */

int mime_parse(const char *msg, size_t len, struct mime_msg **m_r);
void mime_free(struct mime_msg **m);

/* The ENVELOPE of the message, as the parenthesised list of RFC 3501
 * 7.4.2, appended to OUT.  RFC 2047 encoded words are left encoded, as the
 * RFC says.  (Inner message/rfc822 envelopes appear inside BODYSTRUCTURE.) */
void mime_envelope(const struct mime_msg *m, struct sbuf *out);

/* BODY (EXTENDED == 0) or BODYSTRUCTURE (EXTENDED == 1) appended to OUT. */
void mime_bodystructure(const struct mime_msg *m, int extended,
    struct sbuf *out);

/* What of a part mime_section returns (RFC 3501 6.4.5 section-spec). */
enum mime_what {
	MIME_PART,		/* "1.2": the part's content (body of a
				 * message/rfc822 part: the whole inner
				 * message); PATH empty: the whole message */
	MIME_HEADER,		/* "HEADER" / "1.2.HEADER": the header of the
				 * message or of the message/rfc822 part,
				 * with its blank line */
	MIME_TEXT,		/* "TEXT" / "1.2.TEXT": its body */
	MIME_MIME		/* "1.2.MIME": the part's own MIME header,
				 * with its blank line */
};

/*
 * mime_section - locate a section.  PATH[0..DEPTH) are the 1-based part
 * numbers ("1.2" is {1, 2}).  *P_R / *LEN_R get a range of the buffer given
 * to mime_parse.  Returns 0, or -1 if no such part (the FETCH answers the
 * empty string then, as Dovecot does, or NO: the caller decides).
 */
int mime_section(const struct mime_msg *m, const unsigned *path,
    size_t depth, enum mime_what what, const char **p_r, size_t *len_r);

/* The header field NAME of the top-level header (first occurrence,
 * unfolded, without "Name:" and leading spaces) into OUT; -1 if absent. */
int mime_header(const struct mime_msg *m, const char *name,
    struct sbuf *out);

/*
 * Search helpers (SEARCH, RFC 3501 6.4.4): case-insensitive substring
 * matching with ASCII case folding on UTF-8 text.
 *  mime_header_contains: field NAME (all occurrences, RFC 2047 words
 *    decoded to UTF-8 when the charset is us-ascii, utf-8 or iso-8859-1;
 *    NAME NULL: any header field) contains NEEDLE ("" matches if present).
 *  mime_body_contains: the text of the body (transfer encoding of each
 *    text part decoded: base64, quoted-printable) contains NEEDLE.
 *  mime_text_contains: header or body.
 * Return 1 or 0.
 */
int mime_header_contains(const struct mime_msg *m, const char *name,
    const char *needle);
int mime_body_contains(const struct mime_msg *m, const char *needle);
int mime_text_contains(const struct mime_msg *m, const char *needle);

/* The Date: header as a time (UTC) for SENTBEFORE/SENTON/SENTSINCE, with
 * *TZOFF_R its zone in minutes; -1 if absent or unparsable. */
int mime_date(const struct mime_msg *m, time_t *t_r, int *tzoff_r);

/* Parse an RFC 5322 date-time (also the obsolete forms real mail has). */
int mime_parse_date(const char *s, size_t len, time_t *t_r, int *tzoff_r);

/*
 * mime_astring - append P/LEN to OUT as an IMAP string (RFC 3501 4.3):
 * NIL when P is NULL; a quoted string with '"' and '\\' escaped when every
 * byte is 7-bit and neither CR, LF nor NUL; otherwise a literal
 * "{N}\r\n" followed by the bytes (a NUL, which IMAP forbids in a
 * literal, is sent as U+FFFD).  The FETCH and SEARCH code reuse it for any
 * string they send.  (mime_envelope also sends strings holding '"' or '\\'
 * as literals, as Dovecot does.)
 */
void mime_astring(struct sbuf *out, const char *p, size_t len);

/*
 * mime_ci_contains - does HAY/HLEN contain NEEDLE/NLEN, ASCII letters
 * compared case-insensitively and other bytes (UTF-8) as they are?  An
 * empty needle is found everywhere.  Scans with memchr on the needle's
 * rarest byte: hundreds of MB/s on mail text.
 */
int mime_ci_contains(const char *hay, size_t hlen, const char *needle,
    size_t nlen);

#endif
