/*
 * priv.c - dropping root: for good, in a fixed order, and verified.
 *
 * The order is the one of OpenSMTPD and popa3d: resolve every name while
 * the files are still reachable, chroot and chdir, then setgroups,
 * setresgid, setresuid, and at the end check that root cannot be had back
 * (quark).  A failure is logged and returned; the caller exits.
 */
#define _GNU_SOURCE	/* setresuid, getresuid: Linux, BSDs */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* getpwnam_r / getgrnam_r string buffer. */
#define PRIV_PWBUF	4096

int
priv_is_root(void)
{
	return geteuid() == 0;
}

gid_t
priv_mail_gid(void)
{
	struct group gr, *grp = NULL;
	char buf[PRIV_PWBUF];

	if (getgrnam_r("mail", &gr, buf, sizeof(buf), &grp) != 0 ||
	    grp == NULL)
		return (gid_t)-1;
	return grp->gr_gid;
}

/* Is DIR a directory only root can change? */
static int
priv_dir_safe(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_warnx("priv: %s is not a root-owned directory closed to "
		    "others", dir);
		errno = EPERM;
		return -2;
	}
	return 0;
}

/* mkdir DIR 0755 whatever the umask (a server sets 077 first). */
static int
priv_mkdir(const char *dir)
{
	if (mkdir(dir, 0755) == -1)
		return errno == EEXIST ? 0 : -1;
	return chmod(dir, 0755);
}

/* mkdir -p PATH (mode 0755, root's). */
static int
priv_mkdirs(const char *path)
{
	char p[SP_PATH_MAX];
	size_t i;
	int n;

	n = snprintf(p, sizeof(p), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -1;
	for (i = 1; p[i] != '\0'; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (priv_mkdir(p) == -1)
			return -1;
		p[i] = '/';
	}
	return priv_mkdir(p);
}

/* The empty directory to chroot into: PRIV_EMPTY_DIR, else the fallback,
 * created if need be. */
static const char *
priv_empty_dir(void)
{
	int r = priv_dir_safe(PRIV_EMPTY_DIR);

	if (r == 0)
		return PRIV_EMPTY_DIR;
	if (r == -2)
		return NULL;
	/* made by an earlier connection: one lstat, not a mkdir per level */
	if ((r = priv_dir_safe(PRIV_EMPTY_DIR_FALLBACK)) == 0)
		return PRIV_EMPTY_DIR_FALLBACK;
	if (r == -2)
		return NULL;
	if (priv_mkdirs(PRIV_EMPTY_DIR_FALLBACK) == -1) {
		log_warn("priv: mkdir %s", PRIV_EMPTY_DIR_FALLBACK);
		return NULL;
	}
	if (priv_dir_safe(PRIV_EMPTY_DIR_FALLBACK) != 0) {
		log_warn("priv: %s", PRIV_EMPTY_DIR_FALLBACK);
		return NULL;
	}
	return PRIV_EMPTY_DIR_FALLBACK;
}

/* Check that we are UID/GID and cannot become root again. */
static int
priv_verify(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid) {
		log_warnx("priv: ids are not what was set");
		return -1;
	}
	if (setuid(0) != -1 || setreuid((uid_t)-1, 0) != -1 ||
	    getuid() == 0 || geteuid() == 0) {
		log_warnx("priv: root could be regained");
		return -1;
	}
	return 0;
}

static int
priv_set_ids(uid_t uid, gid_t gid, gid_t saved_gid)
{
	if (setgroups(0, NULL) == -1) {
		log_warn("priv: setgroups");
		return -1;
	}
	if (setresgid(gid, gid, saved_gid) == -1) {
		log_warn("priv: setresgid %lu", (unsigned long)gid);
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		log_warn("priv: setresuid %lu", (unsigned long)uid);
		return -1;
	}
	return priv_verify(uid, gid);
}

int
priv_drop_unprivileged(void)
{
	struct passwd pw, *pwp = NULL;
	char buf[PRIV_PWBUF];
	const char *dir;

	if (!priv_is_root()) {
		log_warnx("priv: not root, cannot drop privileges");
		return -1;
	}
	if ((getpwnam_r(PRIV_USER, &pw, buf, sizeof(buf), &pwp) != 0 ||
	    pwp == NULL) &&
	    (getpwnam_r(PRIV_USER_FALLBACK, &pw, buf, sizeof(buf), &pwp) != 0 ||
	    pwp == NULL)) {
		log_warnx("priv: neither %s nor %s exists", PRIV_USER,
		    PRIV_USER_FALLBACK);
		return -1;
	}
	if (pw.pw_uid == 0 || pw.pw_gid == 0) {
		log_warnx("priv: %s has uid or gid 0", pw.pw_name);
		return -1;
	}
	tzset();
	if ((dir = priv_empty_dir()) == NULL)
		return -1;
	if (chroot(dir) == -1 || chdir("/") == -1) {
		log_warn("priv: chroot %s", dir);
		return -1;
	}
	return priv_set_ids(pw.pw_uid, pw.pw_gid, pw.pw_gid);
}

int
priv_become(uid_t uid, gid_t gid, gid_t keep_gid)
{
	if (uid == 0 || uid == (uid_t)-1 || gid == (gid_t)-1) {
		log_warnx("priv: refusing to become uid %ld",
		    uid == (uid_t)-1 ? -1L : (long)uid);
		return -1;
	}
	return priv_set_ids(uid, gid, keep_gid != (gid_t)-1 ? keep_gid : gid);
}
