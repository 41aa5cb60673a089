/*
 * auth_int.h - internal to auth.c and auth_user.c: the passwd-file entry
 * and the lookups both files share.  Not a contract: no server includes
 * it.
 */
#ifndef SPOOL_AUTH_INT_H
#define SPOOL_AUTH_INT_H

#include <sys/types.h>

#include "proto.h"
#include "spool.h"

/* The dummy setting when the file offers none: SHA-512 crypt, default
 * rounds, a 16-character salt like the real ones. */
#define AUTH_DUMMY_SALT		"$6$Qm8zUv3LxT0cWk5a$"
/* A passwd-file line: name, a crypt hash (yescrypt and SHA-512 hashes are
 * about 100 bytes), ids, gecos and home fit with room. */
#define AUTH_LINE_MAX		4096
/* The longest crypt setting/hash we keep. */
#define AUTH_HASH_MAX		512
/* getpwnam_r's string buffer. */
#define AUTH_PWBUF		4096

struct auth_entry {
	char hash[AUTH_HASH_MAX];
	uid_t uid;
	gid_t gid;
	char home[SP_PATH_MAX];
	int bad;		/* malformed line: treated as locked */
	int defaulted;		/* no uid field: the running user's */
};

/* Fill *U for NAME (mailbox = the spool dir / NAME); -1 (logged) for uid 0
 * unless DEFAULTED, or for a mailbox path too long. */
int auth_fill(const struct auth_cfg *cfg, const char *name, uid_t uid,
    gid_t gid, const char *home, int defaulted, struct auth_user *u);

/*
 * Look NAME up in the passwd-file PATH: 1 found (E filled), 0 not found, -1
 * the file cannot be read.  The whole file is read every time, so the cost
 * does not tell where (or whether) the user is.  SETTING (capacity SCAP)
 * gets a crypt setting for dummy checks: the first real hash in the file,
 * else AUTH_DUMMY_SALT.
 */
int auth_file_find(const char *path, const char *name, struct auth_entry *e,
    char *setting, size_t scap);

/* The system passwd entry of NAME: 1 found, 0 not, -1 error. */
int auth_getpw(const char *name, uid_t *uid, gid_t *gid, char *home,
    size_t hcap);

#endif
