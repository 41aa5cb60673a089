/*
 * auth.c - user and password checks: PAM or a passwd-file.
 *
 * One rule for every failure: the same result (AUTH_FAIL), the same cost.
 * A user that does not exist, a locked account, an invalid name, an empty
 * or overlong password all run one dummy crypt() with a realistic setting,
 * so that a client cannot tell them apart by timing (popa3d's
 * AUTH_DUMMY_SALT).  Nothing secret is logged; password copies made here
 * are wiped.  uid 0 is never a mail user: a root login or a delivery to
 * root's mailbox is refused (mail for root goes through an alias in the
 * MTA that owns aliases, not here).  The one exception is a passwd-file
 * entry without ids: it means "the running user", and a server running
 * as root in one process (tests) stays root; the privilege-separated
 * parent refuses to hand a session to uid 0 all the same, and smtpd
 * started as root defers mail for such an entry (451, logged) rather than
 * write a mailbox as root.
 *
 * passwd-file format (a subset of Dovecot's): one user a line,
 *	user:crypt-hash[:uid:gid[:gecos:home[:...]]]
 * '#' starts a comment line, blank lines are skipped, a hash starting with
 * '!' or '*' (or empty) is a locked account.  A missing or empty uid/gid
 * means the running user's.  The file is the administrator's, but is read
 * with bounded lines all the same.
 *
 * Looking a user up without a password (auth_lookup and the passwd-file
 * reader) lives in auth_user.c, which needs neither PAM nor libcrypt: a
 * program that only looks users up (smtpd) need not load them when linked
 * with --as-needed (each fork and exec of smtpd is then cheaper).
 */
#include <sys/types.h>

#include <crypt.h>
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "auth_int.h"
#include "proto.h"
#include "spool.h"


/* Constant-time comparison of two C strings (lengths are not secret). */
static int
auth_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	volatile unsigned char d = 0;

	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* crypt PASS with SETTING: 1 if the result equals HASH (when not NULL),
 * 0 if not, -1 if SETTING is not one crypt knows. */
static int
auth_crypt(const char *pass, const char *setting, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *r;
	int ok = -1;

	if (cd == NULL)
		return -1;
	r = crypt_rn(pass, setting, cd, (int)sizeof(*cd));
	if (r != NULL && r[0] != '*')
		ok = hash != NULL && auth_streq(r, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* Spend what checking a password costs, and fail.  A setting crypt does
 * not know (a damaged locked hash) falls back to AUTH_DUMMY_SALT. */
static enum auth_result
auth_dummy(const char *setting)
{
	if (auth_crypt("dummy password", setting, NULL) == -1)
		(void)auth_crypt("dummy password", AUTH_DUMMY_SALT, NULL);
	return AUTH_FAIL;
}

/* For PAM: the cost of the system's own hashes.  libxcrypt's default
 * method is the one passwd and chpasswd use (yescrypt on Debian 12). */
static enum auth_result
auth_dummy_system(void)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (crypt_gensalt_rn(NULL, 0, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL)
		return auth_dummy(AUTH_DUMMY_SALT);
	return auth_dummy(setting);
}

static enum auth_result
auth_file_check(const struct auth_cfg *cfg, const char *user,
    const char *pass, struct auth_user *u)
{
	struct auth_entry e;
	char setting[AUTH_HASH_MAX];
	const char *h;
	int r, ok;

	r = auth_file_find(cfg->passwd_file, user, &e, setting,
	    sizeof(setting));
	if (r == -1)
		return AUTH_TEMPFAIL;
	if (r == 0 || e.bad || e.hash[0] == '\0' || e.hash[0] == '!' ||
	    e.hash[0] == '*' || pass[0] == '\0') {
		/* a locked "!$6$..." hash still gives its real cost */
		h = e.hash[0] == '!' && e.hash[1] == '$' && r == 1 ?
		    e.hash + 1 : setting;
		explicit_bzero(&e, sizeof(e));
		return auth_dummy(h);
	}
	ok = auth_crypt(pass, e.hash, e.hash) == 1;
	explicit_bzero(e.hash, sizeof(e.hash));
	if (!ok || auth_fill(cfg, user, e.uid, e.gid, e.home, e.defaulted,
	    u) == -1)
		return AUTH_FAIL;
	return AUTH_OK;
}

/* ---- PAM ---------------------------------------------------------------- */

/* The conversation: every prompt gets the password (the user name was
 * given to pam_start); messages are ignored. */
static int
auth_pam_conv(int n, const struct pam_message **msg,
    struct pam_response **resp_r, void *appdata)
{
	const char *pass = appdata;
	struct pam_response *resp;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	if ((resp = calloc((size_t)n, sizeof(*resp))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if ((resp[i].resp = strdup(pass)) == NULL)
			goto fail;
	}
	*resp_r = resp;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++)
		if (resp[i].resp != NULL) {
			explicit_bzero(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	free(resp);
	return PAM_BUF_ERR;
}

/* PAM's own randomised failure delay is replaced by auth_fail_delay(). */
static void
auth_pam_nodelay(int status, unsigned delay, void *appdata)
{
	(void)status;
	(void)delay;
	(void)appdata;
}

static enum auth_result
auth_pam_check(const struct auth_cfg *cfg, const char *user,
    const char *pass, struct auth_user *u)
{
	struct pam_conv conv = { auth_pam_conv, (void *)(uintptr_t)pass };
	pam_handle_t *pamh = NULL;
	char home[SP_PATH_MAX];
	uid_t uid;
	gid_t gid;
	int rc, known;

	if (pass[0] == '\0')
		return auth_dummy_system();
	/* pam_unix answers at once for a user it does not know: add the
	 * cost of a real hash, or timing tells which users exist */
	known = auth_getpw(user, &uid, &gid, home, sizeof(home));
	rc = pam_start(cfg->pam_service, user, &conv, &pamh);
	if (rc != PAM_SUCCESS) {
		log_warnx("auth: pam_start(%s) failed", cfg->pam_service);
		return AUTH_TEMPFAIL;
	}
	(void)pam_set_item(pamh, PAM_FAIL_DELAY,
	    (const void *)auth_pam_nodelay);
	rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(pamh, PAM_SILENT);
	pam_end(pamh, rc);
	if (rc != PAM_SUCCESS && known != 1)
		(void)auth_dummy_system();
	switch (rc) {
	case PAM_SUCCESS:
		break;
	case PAM_AUTH_ERR: case PAM_USER_UNKNOWN: case PAM_MAXTRIES:
	case PAM_ACCT_EXPIRED: case PAM_NEW_AUTHTOK_REQD:
	case PAM_PERM_DENIED: case PAM_CRED_INSUFFICIENT:
	case PAM_AUTHTOK_EXPIRED:
		return AUTH_FAIL;
	default:
		log_warnx("auth: PAM %s: %s", cfg->pam_service,
		    pam_strerror(NULL, rc));
		return AUTH_TEMPFAIL;
	}
	rc = auth_getpw(user, &uid, &gid, home, sizeof(home));
	if (rc != 1) {
		log_warnx("auth: PAM accepted %s, who has no passwd entry",
		    user);
		return rc == 0 ? AUTH_FAIL : AUTH_TEMPFAIL;
	}
	if (auth_fill(cfg, user, uid, gid, home, 0, u) == -1)
		return AUTH_FAIL;
	return AUTH_OK;
}

/* ---- the interface ------------------------------------------------------ */

enum auth_result
auth_check(const struct auth_cfg *cfg, const char *user, const char *pass,
    struct auth_user *u)
{
	if (user == NULL || pass == NULL || !sp_user_valid(user) ||
	    strnlen(pass, AUTH_PASS_MAX + 1) > AUTH_PASS_MAX)
		return cfg->backend == AUTH_BACKEND_PAM ? auth_dummy_system() :
		    auth_dummy(AUTH_DUMMY_SALT);
	if (cfg->backend == AUTH_BACKEND_FILE)
		return auth_file_check(cfg, user, pass, u);
	return auth_pam_check(cfg, user, pass, u);
}

