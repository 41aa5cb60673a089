/*
 * append.c - sp_append: messages with their IMAP state and explicit UIDs
 * (APPEND, COPY, MOVE), all or nothing under one lock.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"

/* Make every UID persistent and X-IMAPbase ours (UIDNEXT in %010u) so
 * that UIDNEXT can be advanced in place.  *IX is rescanned if written. */
static int
persist_uids(int fd, const char *path, struct sp_index *ix,
    struct sp_err *err)
{
	struct sp_want *want;
	struct sp_index again;
	struct stat st;
	uint32_t i;
	int rc;

	want = calloc(ix->n + 1, sizeof *want);
	if (want == NULL)
		return sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
	for (i = 0; i < ix->n; i++) {
		want[i].flags = ix->msg[i].flags;
		want[i].kw = ix->msg[i].keywords;
	}
	rc = sp_rewrite(fd, path, ix, want, err);
	free(want);
	if (rc == -1)
		return -1;
	memset(&again, 0, sizeof again);
	again.base_next_off = -1;
	if (fstat(fd, &st) == -1)
		return sp_fail_errno(err, errno, "fstat", path);
	if (sp_index_seed(&again, ix) == -1 ||
	    sp_scan(fd, 0, st.st_size, &again, err) == -1) {
		sp_index_free(&again);
		return -1;
	}
	sp_index_free(ix);
	*ix = again;
	return 0;
}

int
sp_append(const struct sp_target *t, const struct sp_newmsg *msgs, size_t n,
    uint32_t *uidvalidity_r, uint32_t *first_uid_r, struct sp_err *err)
{
	struct sp_lock *lock = NULL;
	struct sp_index ix;
	struct sp_out o;
	struct sigaction ign, oldxfsz;
	sigset_t oldmask;
	char block[SP_BLOCK_MAX], digits[16];
	const char *fix;
	uint32_t first, validity, *kw = NULL;
	off_t size;
	size_t k, j;
	int fd, e = 0, have_out = 0, created;
	long long total = 0;

	for (k = 0; k < n; k++) {
		if ((long long)msgs[k].len > SP_MESSAGE_MAX ||
		    (total += (long long)msgs[k].len) > SP_MESSAGE_MAX)
			return sp_fail(err, SP_PERMFAIL, "5.3.4",
			    "messages too big for the mailbox");
	}
	if (n > SP_MESSAGES_MAX)
		return sp_fail(err, SP_PERMFAIL, "5.3.4", "too many messages");
	memset(&ix, 0, sizeof ix);
	ix.base_next_off = -1;
	if (sp_target_open(t, &fd, &lock, &size, &created, err) == -1)
		return -1;
	kw = calloc(n + 1, sizeof *kw);
	if (kw == NULL) {
		sp_fail(err, SP_TEMPFAIL, "4.3.0", "out of memory");
		goto fail;
	}
	if (sp_scan(fd, 0, size, &ix, err) == -1)
		goto fail;
	/* Keywords of the new messages join the table (and X-IMAPbase). */
	for (k = 0; k < n; k++)
		for (j = 0; j < msgs[k].nkeywords; j++) {
			const char *name = msgs[k].keywords[j];
			int b = sp_kw_add(&ix, name, strlen(name));

			if (b >= 0)
				kw[k] |= 1u << b;
		}
	if (ix.n > 0) {
		if (persist_uids(fd, t->path, &ix, err) == -1)
			goto fail;
		if (ix.base_next_off < 0) {
			sp_fail(err, SP_TEMPFAIL, "4.3.0",
			    "mailbox %s: cannot update X-IMAPbase", t->path);
			goto fail;
		}
		validity = ix.uidvalidity;
		first = ix.uidnext;
	} else {
		/* A new or empty mailbox: a new UIDVALIDITY, from the clock. */
		validity = (uint32_t)time(NULL);
		first = 1;
		ix.uidvalidity = validity;
	}
	if ((uint64_t)first + n >= UINT32_MAX) {
		sp_fail(err, SP_PERMFAIL, "5.2.0", "mailbox %s: UIDs exhausted",
		    t->path);
		goto fail;
	}
	{
		struct stat st;

		if (fstat(fd, &st) == -1) {
			sp_fail_errno(err, errno, "fstat", t->path);
			goto fail;
		}
		size = st.st_size;
	}
	if (t->max_bytes > 0 && size + total > t->max_bytes) {
		sp_fail(err, SP_PERMFAIL, "5.2.2",
		    "mailbox %s full: %lld bytes, limit %lld", t->path,
		    (long long)size, t->max_bytes);
		goto fail;
	}
	if (sp_tail_fix(fd, size, &fix) == -1 || sp_out_init(&o, fd, size) == -1) {
		sp_fail_errno(err, errno ? errno : EIO, "read", t->path);
		goto fail;
	}
	have_out = 1;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &oldxfsz);
	sp_sig_block(&oldmask);
	sp_lock_intent(lock, size);
	if (ix.n > 0) {
		/* UIDNEXT first: a crash after it only skips UIDs. */
		snprintf(digits, sizeof digits, "%010u", first + (uint32_t)n - 1);
		if (pwrite(fd, digits, 10, ix.base_next_off) != 10)
			e = errno ? errno : EIO;
	}
	sp_out_put(&o, fix, strlen(fix));
	for (k = 0; k < n && e == 0; k++) {
		uint32_t f = (msgs[k].flags & (SP_SEEN | SP_ANSWERED | SP_FLAGGED |
		    SP_DELETED | SP_DRAFT)) | SP_RECENT;
		size_t bl = sp_block(block, sizeof block, &ix, ix.n == 0 && k == 0,
		    first + (uint32_t)n, f, kw[k], first + (uint32_t)k, 0);

		sp_out_message(&o, msgs[k].from, msgs[k].when, msgs[k].data,
		    msgs[k].len, block, bl);
	}
	if (e == 0 && sp_out_flush(&o) == -1)
		e = o.err;
	else if (e == 0 && t->max_bytes > 0 && o.off > t->max_bytes)
		e = EDQUOT;
	if (e == 0 && fsync(fd) == -1)
		e = errno;
	if (e == 0 && created && sp_fsync_dir(t->path) == -1)
		e = errno;
	if (e != 0 && ftruncate(fd, size) == 0)
		fsync(fd);
	sp_lock_done(lock);
	sp_sig_restore(&oldmask);
	sigaction(SIGXFSZ, &oldxfsz, NULL);
	sp_out_done(&o);
	have_out = 0;
	if (e != 0) {
		sp_fail_errno(err, e, "write", t->path);
		goto fail;
	}
	sp_unlock(&lock);
	close(fd);
	sp_index_free(&ix);
	free(kw);
	if (uidvalidity_r != NULL)
		*uidvalidity_r = validity;
	if (first_uid_r != NULL)
		*first_uid_r = first;
	sp_err_ok(err);
	return 0;
fail:
	if (have_out)
		sp_out_done(&o);
	sp_unlock(&lock);
	close(fd);
	sp_index_free(&ix);
	free(kw);
	return -1;
}
