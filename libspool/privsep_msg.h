/*
 * privsep_msg.h - the records of the privilege-separation channel
 * (privsep.c).  Internal to libspool; the tests include it to play a
 * hostile pre-auth child.
 */
#ifndef SPOOL_PRIVSEP_MSG_H
#define SPOOL_PRIVSEP_MSG_H

#include <stdint.h>

#include "proto.h"

enum ps_type { PS_VERIFY = 1, PS_HANDOFF = 2 };

/* child -> parent: one record of exactly this size. */
struct ps_req {
	uint32_t type;			/* PS_VERIFY or PS_HANDOFF */
	uint32_t data_len;		/* HANDOFF: bytes of DATA used */
	uint32_t resume_len;		/* HANDOFF: bytes of RESUME used */
	char user[SP_USER_MAX + 1];	/* VERIFY: NUL-terminated */
	char pass[AUTH_PASS_MAX + 1];	/* VERIFY: NUL-terminated, wiped */
	char data[IO_IN_BUF];		/* HANDOFF: the unread input */
	char resume[PRIVSEP_RESUME_MAX];
};

/* parent -> child: the answer to a VERIFY. */
struct ps_rep {
	uint32_t result;		/* enum auth_result */
	struct auth_user user;		/* AUTH_OK: who (no secrets) */
};

#endif
