/*
 * part2.h - the handlers of the folder, APPEND/COPY/MOVE and SEARCH
 * commands (folder.c, append.c, copy.c, search.c), registered in imap.c's
 * command table.  All are imap_handler (imapd.h): they read their
 * arguments from C->args, write untagged responses, and return an
 * enum imap_rc with the tagged reply set by imap_reply().
 *
 * UID forms (UID COPY, UID MOVE, UID SEARCH) come with C->uid set.
 * States (the table enforces them): LIST, LSUB, STATUS, CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, APPEND in AUTHENTICATED and SELECTED;
 * COPY, MOVE, SEARCH in SELECTED only.
 */
#ifndef IMAPD_PART2_H
#define IMAPD_PART2_H

#include <stddef.h>

#include "imapd.h"

enum imap_rc imap_cmd_list(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_lsub(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_status(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_create(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_delete(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_rename(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_unsubscribe(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_append(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_copy(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_move(struct imap_session *s, struct imap_cmd *c);
enum imap_rc imap_cmd_search(struct imap_session *s, struct imap_cmd *c);

/*
 * imap_mailbox_path - the file of mailbox NAME (wire form as the client
 * sent it, NUL-terminated) for session S: INBOX (any case) is
 * S->user.mailbox (the spool file); other names live under S->mail_dir,
 * confined there.  Writes PATH (capacity CAP).  Returns 0, or -1 with
 * *ERR_R set to a sentence for a NO reply (no such mailbox, invalid name,
 * not selectable).  SELECT, EXAMINE and STATUS use it.
 */
int imap_mailbox_path(struct imap_session *s, const char *name, char *path,
    size_t cap, const char **err_r);

#endif
