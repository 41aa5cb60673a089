/*
 * tfixture_imap.c - the imapd part of the test lab (see tfixture.h); a
 * file of its own so that only the imapd tests link imapd through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tfixture.h"
#include "../../imapd/imapd.h"

void
tf_imap_config(struct imap_config *c, const struct tf_lab *l)
{
	imap_config_default(c);
	tf_auth_file(&c->auth, l);
	c->spool_dir = l->spool;
	if (l->mail[0] != '\0')
		c->mail_dir = l->mail;
	c->privsep = 0;
}

struct ts *
tf_imap_login(struct imap_config *c)
{
	struct ts *t = ts_start(imap_serve, c);

	ts_expect(t, "* OK [CAPABILITY IMAP4rev1 ");
	ts_send(t, "L LOGIN " TF_USER " " TF_PASS "\r\n");
	ts_expect(t, "L OK [CAPABILITY IMAP4rev1");
	return t;
}
