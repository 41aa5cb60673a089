/*
 * cmds.h - the core command handlers of imapd (imap.c, auth.c, select.c,
 * fetch.c, store.c), registered in imap.c's table.  Private to imapd/.
 */
#ifndef IMAPD_CMDS_H
#define IMAPD_CMDS_H

#include "imapd.h"

/* imap.c: any state */
enum imap_rc imap_cmd_capability(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_logout(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_id(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_enable(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_namespace(struct imap_session *, struct imap_cmd *);

/* auth.c: NOT AUTHENTICATED */
enum imap_rc imap_cmd_login(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_authenticate(struct imap_session *, struct imap_cmd *);
/* Enter AUTHENTICATED as U (after a login here or in the privsep parent). */
void imap_logged_in(struct imap_session *s, const struct auth_user *u);

/* select.c */
enum imap_rc imap_cmd_noop(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_select(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_examine(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_check(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_close(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_unselect(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_expunge(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_idle(struct imap_session *, struct imap_cmd *);

/* fetch.c, store.c */
enum imap_rc imap_cmd_fetch(struct imap_session *, struct imap_cmd *);
enum imap_rc imap_cmd_store(struct imap_session *, struct imap_cmd *);

/* imap.c: the session's end: write back the mailbox state, free. */
void imap_session_end(struct imap_session *s);

#endif
