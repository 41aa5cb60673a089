/*
 * auth_user.c - who a user is, without a password: the passwd-file reader
 * and auth_lookup (system accounts or passwd-file), for smtpd's RCPT and
 * for auth.c.  Needs neither PAM nor libcrypt (see auth.c for the rules:
 * uid 0 is never a mail user, except a passwd-file entry without ids,
 * which means "the running user").
 */
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth_int.h"
#include "proto.h"
#include "spool.h"

int
auth_fill(const struct auth_cfg *cfg, const char *name, uid_t uid,
    gid_t gid, const char *home, int defaulted, struct auth_user *u)
{
	const char *spool = cfg->spool_dir != NULL ? cfg->spool_dir :
	    SP_SPOOL_DIR;
	int n;

	if (uid == 0 && !defaulted) {
		log_warnx("auth: %s has uid 0: not a mail user", name);
		return -1;
	}
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = uid;
	u->gid = gid;
	n = snprintf(u->home, sizeof(u->home), "%s", home);
	if (n < 0 || (size_t)n >= sizeof(u->home))
		u->home[0] = '\0';
	n = snprintf(u->mailbox, sizeof(u->mailbox), "%s/%s", spool, name);
	if (n < 0 || (size_t)n >= sizeof(u->mailbox)) {
		log_warnx("auth: mailbox path too long for %s", name);
		return -1;
	}
	return 0;
}

/* ---- passwd-file -------------------------------------------------------- */

/* An id field: empty means DEF. */
static int
auth_id(const char *s, unsigned long long def, unsigned long long *out)
{
	if (s == NULL || *s == '\0') {
		*out = def;
		return 0;
	}
	/* (uid_t)-1 means "no change" to the set*id calls: refuse it */
	return parse_uint(s, (size_t)-1, (unsigned long long)(uid_t)-2, out);
}

/* Parse the fields after the name into E. */
static void
auth_parse_entry(char *rest, struct auth_entry *e, const char *path,
    unsigned lineno)
{
	char *f[5] = { NULL, NULL, NULL, NULL, NULL };
	unsigned long long uid, gid;
	size_t i;
	int n;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < nitems(f) && rest != NULL; i++)
		f[i] = strsep(&rest, ":");
	/* f: hash, uid, gid, gecos, home */
	n = snprintf(e->hash, sizeof(e->hash), "%s", f[0] ? f[0] : "");
	if (n < 0 || (size_t)n >= sizeof(e->hash) ||
	    auth_id(f[1], getuid(), &uid) == -1 ||
	    auth_id(f[2], getgid(), &gid) == -1) {
		log_warnx("auth: %s line %u: malformed entry", path, lineno);
		e->bad = 1;
		return;
	}
	e->uid = (uid_t)uid;
	e->gid = (gid_t)gid;
	e->defaulted = f[1] == NULL || f[1][0] == '\0';
	n = snprintf(e->home, sizeof(e->home), "%s", f[4] ? f[4] : "");
	if (n < 0 || (size_t)n >= sizeof(e->home))
		e->home[0] = '\0';
}

/* Keep the first crypt hash of the file (REST: "hash[:...]") as the
 * setting of dummy checks, so that they cost what a real one does. */
static void
auth_note_setting(char *setting, size_t scap, const char *rest)
{
	size_t n = strcspn(rest, ":");

	if (setting[0] != '\0' || rest[0] != '$' || n >= scap)
		return;
	memcpy(setting, rest, n);
	setting[n] = '\0';
}

/*
 * Look NAME up in the passwd-file: 1 found (E filled), 0 not found, -1 the
 * file cannot be read.  The whole file is read every time, so the cost
 * does not tell where (or whether) the user is.  SETTING gets a crypt
 * setting for the dummy check: the first real hash in the file.
 */
int
auth_file_find(const char *path, const char *name, struct auth_entry *e,
    char *setting, size_t scap)
{
	char line[AUTH_LINE_MAX];
	unsigned lineno = 0;
	int found = 0, skipping = 0;
	FILE *fp;

	memset(e, 0, sizeof(*e));
	setting[0] = '\0';
	if (path == NULL || (fp = fopen(path, "re")) == NULL) {
		log_warn("auth: passwd-file %s", path ? path : "(none)");
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strlen(line);
		char *rest, *user;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(fp)) {
			/* overlong: skip to its end, never parse a piece */
			if (!skipping)
				log_warnx("auth: %s line %u: too long", path,
				    lineno + 1);
			skipping = 1;
			continue;
		}
		lineno++;
		if (skipping) {
			skipping = 0;
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		rest = line;
		user = strsep(&rest, ":");
		if (rest == NULL)
			continue;
		auth_note_setting(setting, scap, rest);
		if (!found && strcmp(user, name) == 0) {
			auth_parse_entry(rest, e, path, lineno);
			found = 1;
		}
	}
	explicit_bzero(line, sizeof(line));
	if (setting[0] == '\0')
		snprintf(setting, scap, "%s", AUTH_DUMMY_SALT);
	if (ferror(fp)) {
		log_warn("auth: reading %s", path);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return found;
}

/* The passwd entry of NAME: 1 found, 0 not, -1 error. */
int
auth_getpw(const char *name, uid_t *uid, gid_t *gid, char *home, size_t hcap)
{
	struct passwd pw, *pwp = NULL;
	char buf[AUTH_PWBUF];
	int e;

	e = getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);
	if (pwp == NULL)
		return (e == 0 || e == ENOENT || e == ESRCH || e == EBADF ||
		    e == EPERM) ? 0 : -1;
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	snprintf(home, hcap, "%s", pw.pw_dir);
	return 1;
}

enum auth_result
auth_lookup(const struct auth_cfg *cfg, const char *name, struct auth_user *u)
{
	char home[SP_PATH_MAX];
	uid_t uid;
	gid_t gid;
	int r, defaulted = 0;

	if (name == NULL || !sp_user_valid(name))
		return AUTH_FAIL;
	if (cfg->backend == AUTH_BACKEND_FILE) {
		struct auth_entry e;
		char setting[AUTH_HASH_MAX];

		r = auth_file_find(cfg->passwd_file, name, &e, setting,
		    sizeof(setting));
		explicit_bzero(e.hash, sizeof(e.hash));
		if (r == 1 && e.bad)
			return AUTH_FAIL;
		uid = e.uid;
		gid = e.gid;
		defaulted = e.defaulted;
		snprintf(home, sizeof(home), "%s", r == 1 ? e.home : "");
	} else {
		r = auth_getpw(name, &uid, &gid, home, sizeof(home));
	}
	if (r == -1)
		return AUTH_TEMPFAIL;
	if (r == 0 || auth_fill(cfg, name, uid, gid, home, defaulted, u) == -1)
		return AUTH_FAIL;
	return AUTH_OK;
}

void
auth_fail_delay(void)
{
	struct timespec ts = { AUTH_FAIL_DELAY_SEC, 0 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
