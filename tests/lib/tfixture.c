/*
 * tfixture.c - the lab the session tests start from (see tfixture.h).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "spool.h"
#include "tfixture.h"

void
tf_lab_init(struct tf_lab *l, const char *tag, int flags)
{
	memset(l, 0, sizeof(*l));
	l->dir = ts_tmpdir(tag);
	assert_non_null(l->dir);
	if (flags & TF_SPOOL_IS_DIR)
		snprintf(l->spool, sizeof(l->spool), "%s", l->dir);
	else if (flags & TF_SPOOL) {
		snprintf(l->spool, sizeof(l->spool), "%s/spool", l->dir);
		assert_int_equal(mkdir(l->spool, 0700), 0);
	}
	snprintf(l->inbox, sizeof(l->inbox), "%s/" TF_USER, l->spool);
	snprintf(l->passwd, sizeof(l->passwd), "%s/passwd", l->dir);
	if (flags & TF_MAIL) {
		snprintf(l->mail, sizeof(l->mail), "%s/mail", l->dir);
		assert_int_equal(mkdir(l->mail, 0700), 0);
	}
	if (flags & TF_PASSWD)
		ts_passwd_file(l->passwd, TF_USER, TF_PASS);
}

void
tf_lab_free(struct tf_lab *l)
{
	ts_rmtree(l->dir);
	free(l->dir);
	l->dir = NULL;
}

int
tf_lab_teardown(void **state)
{
	struct tf_lab *l = *state;	/* the fixture's first member */

	tf_lab_free(l);
	free(l);
	return 0;
}

char *
tf_slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len_r != NULL)
		*len_r = (size_t)n;
	return buf;
}

void
tf_auth_file(struct auth_cfg *a, const struct tf_lab *l)
{
	a->backend = AUTH_BACKEND_FILE;
	a->passwd_file = l->passwd;
	a->spool_dir = l->spool;
}

void
tf_deliver(const char *inbox, const char *from, time_t when,
    const char *msg)
{
	struct sp_target t = { inbox, (uid_t)-1, (gid_t)-1, 0 };
	struct sp_err err;

	if (sp_deliver(&t, from, when, msg, strlen(msg), &err) != 0)
		fail_msg("sp_deliver: %s", err.msg);
}
