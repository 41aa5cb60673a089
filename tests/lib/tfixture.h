/*
 * tfixture.h - the lab the session tests start from: a fresh temporary
 * directory with a spool (and a mail directory for imapd's folders), a
 * passwd-file with the lab's user, messages delivered to the user's
 * inbox, and an IMAP session logged in as that user.
 *
 * Assertions use cmocka: include <cmocka.h> (after <stdarg.h>,
 * <stddef.h>, <setjmp.h>) before this header.
 */
#ifndef TFIXTURE_H
#define TFIXTURE_H

#include <time.h>

#include "tsession.h"

struct auth_cfg;
struct imap_config;

/* The lab's user, as in the handout. */
#define TF_USER		"etudiant"
#define TF_PASS		"Etudiant1"

/* What tf_lab_init makes besides the directory. */
enum {
	TF_SPOOL = 1,		/* DIR/spool, 0700 */
	TF_SPOOL_IS_DIR = 2,	/* the spool is DIR itself */
	TF_MAIL = 4,		/* DIR/mail, 0700 (imapd's folders) */
	TF_PASSWD = 8		/* DIR/passwd: TF_USER, crypt(TF_PASS) */
};

struct tf_lab {
	char *dir;		/* ts_tmpdir(TAG), malloc'ed */
	char spool[512];	/* the spool directory ("" without one) */
	char passwd[600];	/* DIR/passwd: the path, always set */
	char inbox[600];	/* SPOOL/TF_USER: the user's mailbox path */
	char mail[600];		/* DIR/mail ("" without TF_MAIL) */
};

/* Make the lab in L: a fresh directory tagged TAG and what FLAGS ask for;
 * a failure fails the test. */
void tf_lab_init(struct tf_lab *l, const char *tag, int flags);
/* Remove the directory with its contents; free L->dir. */
void tf_lab_free(struct tf_lab *l);
/* A cmocka teardown for a malloc'ed fixture whose FIRST member is its
 * struct tf_lab: tf_lab_free, then free the fixture.  Returns 0. */
int tf_lab_teardown(void **state);

/* The whole file PATH, NUL-terminated, malloc'ed, its length in *LEN_R
 * (LEN_R may be NULL); NULL if it cannot be opened. */
char *tf_slurp(const char *path, size_t *len_r);

/* Authenticate against L's passwd-file, mailboxes in L's spool. */
void tf_auth_file(struct auth_cfg *a, const struct tf_lab *l);

/* Deliver MSG to the mailbox INBOX as sp_deliver does for smtpd (from
 * FROM, received at WHEN); a failure fails the test. */
void tf_deliver(const char *inbox, const char *from, time_t when,
    const char *msg);

/* imapd (tfixture_imap.c): the default configuration, authenticating
 * against L without privilege separation, with L's mail directory. */
void tf_imap_config(struct imap_config *c, const struct tf_lab *l);
/* Start imap_serve(C) and log in as TF_USER, asserting the greeting and
 * the tagged OK, both with their CAPABILITY code. */
struct ts *tf_imap_login(struct imap_config *c);

#endif
