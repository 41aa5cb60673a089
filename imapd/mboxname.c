/*
 * mboxname.c - mailbox names: checks, confinement to the user's mail
 * directory, LIST wildcard matching and the directory walk behind LIST,
 * special-use attributes, and the subscriptions file.
 *
 * Every name that reaches the disk has passed mbx_check (no '.' components,
 * no control characters, no empty levels), and every path is walked one
 * component at a time with O_NOFOLLOW from the mail directory, so neither a
 * crafted name nor a symlink planted in the tree leads outside it.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "part2impl.h"

/* Longest joined LIST pattern (reference + pattern). */
#define MBX_PAT_MAX		(2 * MBX_NAME_MAX + 1)

int
mbx_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* Check one hierarchy level C/LEN (not empty). */
static int
mbx_check_level(const char *c, size_t len, const char **why_r)
{
	static const size_t slen = sizeof(MBX_LOCK_SUFFIX) - 1;

	if (c[0] == '.') {
		*why_r = "Mailbox names may not have a level starting with '.' "
		    "(hidden files, . and .. are refused)";
		return -1;
	}
	if (len >= slen && memcmp(c + len - slen, MBX_LOCK_SUFFIX, slen) == 0) {
		*why_r = "Mailbox names may not end in \".lock\" "
		    "(that is how lock files are named)";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)c[i];
		if (ch < 0x20 || ch == 0x7f) {
			*why_r = "Mailbox names may not contain control characters";
			return -1;
		}
		if (ch == '*' || ch == '%') {
			*why_r = "Mailbox names may not contain the LIST "
			    "wildcards * and %";
			return -1;
		}
	}
	return 0;
}

int
mbx_check(const char *name, int flags, const char **why_r)
{
	size_t len = strlen(name), levels = 0;
	const char *p = name;

	if (len == 0) {
		*why_r = "The mailbox name is empty";
		return -1;
	}
	if (len > MBX_NAME_MAX) {
		*why_r = "The mailbox name is too long";
		return -1;
	}
	if (!mutf7_utf8_valid(name, len)) {
		*why_r = "The mailbox name is not valid UTF-8";
		return -1;
	}
	if (name[0] == '/') {
		*why_r = "Mailbox names are relative to your mail directory: "
		    "they may not start with /";
		return -1;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen == 0) {
			if (slash == NULL && (flags & MBX_DIR_OK))
				break;	/* "foo/": a directory */
			*why_r = slash ? "Mailbox names may not have an empty "
			    "level (//)" : "A trailing / names a directory: "
			    "only CREATE accepts it";
			return -1;
		}
		if (mbx_check_level(p, clen, why_r) == -1)
			return -1;
		if (++levels > MBX_DEPTH_MAX) {
			*why_r = "The mailbox name has too many levels";
			return -1;
		}
		if (slash == NULL)
			break;
		if (levels == 1 && clen == 5 && strncasecmp(p, "INBOX", 5) == 0) {
			*why_r = "INBOX cannot have sub-mailboxes: create them "
			    "at the top level";
			return -1;
		}
		p = slash + 1;
	}
	return 0;
}

int
mbx_from_wire(const char *s, size_t len, int flags, char *name, size_t cap,
    const char **why_r)
{
	if (len > MBX_WIRE_MAX || mutf7_decode(s, len, name, cap) < 0) {
		*why_r = len > MBX_WIRE_MAX ? "The mailbox name is too long" :
		    "Invalid mailbox name: names are modified UTF-7 "
		    "(RFC 3501 5.1.3): & is written &- and non-ASCII as &...-";
		return -1;
	}
	if (strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	return mbx_check(name, flags, why_r) == -1 ? -2 : 0;
}

long
mbx_to_wire(const char *name, char *out, size_t cap)
{
	return mutf7_encode(name, strlen(name), out, cap);
}

/* ---- paths ------------------------------------------------------------- */

/* Why did openat(O_NOFOLLOW|O_DIRECTORY) of C in DFD fail?  Sets *why_r
 * and returns -1, or returns 0 for "absent". */
static int
mbx_why_not_dir(int dfd, const char *c, int err, const char **why_r)
{
	struct stat st;

	if (err == ENOENT)
		return 0;
	if (fstatat(dfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			*why_r = "A symbolic link in the mail directory is "
			    "refused";
		else if (S_ISREG(st.st_mode))
			*why_r = "A level of the name is a mailbox, not a "
			    "directory: mailboxes have no children";
		else
			*why_r = "A level of the name is not a directory";
		return -1;
	}
	*why_r = err == EACCES ? "Permission denied in the mail directory" :
	    "Cannot read the mail directory";
	return -1;
}

/* Classify the last component C in DFD. */
static int
mbx_stat_last(int dfd, const char *c, enum mbx_kind *kind_r,
    const char **why_r)
{
	struct stat st;

	if (fstatat(dfd, c, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return 0;
		*why_r = "Cannot read the mail directory";
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		*kind_r = MBX_DIR;
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		*why_r = "The mailbox is a symbolic link: refused";
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why_r = "The mailbox is not a regular file: refused";
		return -1;
	}
	if (st.st_nlink != 1 || st.st_uid != geteuid()) {
		*why_r = "The mailbox file is not yours alone (owner or "
		    "hard links): refused";
		return -1;
	}
	*kind_r = MBX_FILE;
	return 0;
}

/*
 * Walk NAME's levels from MAILDIR.  With MKDIRS, missing directories are
 * created (all levels but the last; the last too if NAME ends in '/').
 * On return *DFD_R is the directory holding the last level (or -1 when a
 * level is missing), LAST its name.
 */
static int
mbx_walkpath(const char *maildir, const char *name, int mkdirs, int *dfd_r,
    char *last, const char **why_r)
{
	char comp[MBX_NAME_MAX + 1];
	const char *p = name, *slash;
	int dfd;

	*dfd_r = -1;
	if (strlen(name) > MBX_NAME_MAX) {
		*why_r = "The mailbox name is too long";
		return -1;
	}
	if (mkdirs && mkdir(maildir, 0700) == -1 && errno != EEXIST) {
		*why_r = "Cannot create the mail directory";
		return -1;
	}
	dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		if (errno == ENOENT)
			return 0;
		*why_r = "Cannot open the mail directory";
		return -1;
	}
	while ((slash = strchr(p, '/')) != NULL) {
		size_t clen = (size_t)(slash - p);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		if (mkdirs && mkdirat(dfd, comp, 0700) == -1 && errno != EEXIST) {
			*why_r = "Cannot create a directory in the mail directory";
			close(dfd);
			return -1;
		}
		int nfd = openat(dfd, comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd == -1) {
			int r = mbx_why_not_dir(dfd, comp, errno, why_r);
			close(dfd);
			return r;
		}
		close(dfd);
		dfd = nfd;
		p = slash + 1;
	}
	memcpy(last, p, strlen(p) + 1);
	*dfd_r = dfd;
	return 0;
}

int
mbx_resolve(const char *maildir, const char *name, char *path, size_t cap,
    enum mbx_kind *kind_r, const char **why_r)
{
	char last[MBX_NAME_MAX + 1];
	int dfd, r;

	*kind_r = MBX_NONE;
	r = snprintf(path, cap, "%s/%s", maildir, name);
	if (r < 0 || (size_t)r >= cap) {
		*why_r = "The mailbox path is too long";
		return -1;
	}
	if (mbx_walkpath(maildir, name, 0, &dfd, last, why_r) == -1)
		return -1;
	if (dfd == -1)
		return 0;
	if (last[0] == '\0')		/* "foo/": the directory itself */
		*kind_r = MBX_DIR, r = 0;
	else
		r = mbx_stat_last(dfd, last, kind_r, why_r);
	close(dfd);
	return r;
}

int
mbx_mkparents(const char *maildir, const char *name, int flags,
    const char **why_r)
{
	char last[MBX_NAME_MAX + 1];
	int dfd;

	(void)flags;
	if (mbx_walkpath(maildir, name, 1, &dfd, last, why_r) == -1)
		return -1;
	if (dfd == -1) {
		*why_r = "Cannot create the mail directory";
		return -1;
	}
	close(dfd);
	return 0;
}

/* ---- LIST patterns ----------------------------------------------------- */

/*
 * Run the pattern automaton over NAME/LEN.  The state is the set of pattern
 * positions still alive (a list plus a stamp array to keep it a set).
 * Returns 2 if the end of PAT is reached at the end of NAME (a match), 1 if
 * some position is alive (a longer name could match), 0 otherwise.
 */
static int
mbx_nfa(const char *pat, const char *name, size_t len, int fold)
{
	uint16_t cur[MBX_PAT_MAX + 2], nxt[MBX_PAT_MAX + 2];
	uint32_t stamp[MBX_PAT_MAX + 2];
	size_t m = strlen(pat), nc = 0, nn, gen = 1;

	if (m > MBX_PAT_MAX)
		return 0;
	memset(stamp, 0, sizeof(stamp));
#define MBX_ADD(arr, cnt, pos) do {					\
		size_t q_ = (pos);					\
		for (;;) {						\
			if (stamp[q_] == gen) break;			\
			stamp[q_] = (uint32_t)gen;			\
			(arr)[(cnt)++] = (uint16_t)q_;			\
			if (q_ < m && (pat[q_] == '*' || pat[q_] == '%'))\
				q_++;					\
			else break;					\
		}							\
	} while (0)
	MBX_ADD(cur, nc, 0);
	for (size_t i = 0; i < len && nc > 0; i++) {
		unsigned char c = (unsigned char)name[i];
		gen++;
		nn = 0;
		for (size_t k = 0; k < nc; k++) {
			size_t p = cur[k];
			if (p == m)
				continue;
			unsigned char pc = (unsigned char)pat[p];
			if (pc == '*' || (pc == '%' && c != '/'))
				MBX_ADD(nxt, nn, p);
			else if (pc == c || (fold && pc != '%' &&
			    (pc | 0x20) == (c | 0x20) && (c | 0x20) >= 'a' &&
			    (c | 0x20) <= 'z'))
				MBX_ADD(nxt, nn, p + 1);
		}
		memcpy(cur, nxt, nn * sizeof(cur[0]));
		nc = nn;
	}
#undef MBX_ADD
	for (size_t k = 0; k < nc; k++)
		if (cur[k] == m)
			return 2;
	return nc > 0 ? 1 : 0;
}

int
mbx_match(const char *pat, const char *name)
{
	return mbx_nfa(pat, name, strlen(name), strcmp(name, "INBOX") == 0) == 2;
}

int
mbx_match_below(const char *pat, const char *dirname)
{
	char buf[MBX_NAME_MAX + 2];
	size_t n = strlen(dirname);

	if (n + 1 >= sizeof(buf))
		return 0;
	memcpy(buf, dirname, n);
	buf[n++] = '/';
	return mbx_nfa(pat, buf, n, 0) != 0;
}

int
mbx_pattern(const char *ref, const char *pat, char *out, size_t cap)
{
	size_t rl = strlen(ref), wild = 0;
	int r;

	if (rl > 0 && ref[rl - 1] == '/' && pat[0] == '/')
		pat++;
	r = snprintf(out, cap, "%s%s", ref, pat);
	if (r < 0 || (size_t)r >= cap || (size_t)r > MBX_PAT_MAX)
		return -1;
	for (const char *p = out; *p; p++)
		if (*p == '*' || *p == '%')
			wild++;
	return wild > MBX_WILDCARDS_MAX ? -1 : 0;
}

const char *
mbx_special_use(const char *name)
{
	static const struct {
		const char *name, *attr;
	} tab[] = {
		{ "Sent", "\\Sent" }, { "Sent Messages", "\\Sent" },
		{ "Sent Items", "\\Sent" }, { "Drafts", "\\Drafts" },
		{ "Trash", "\\Trash" }, { "Deleted Messages", "\\Trash" },
		{ "Deleted Items", "\\Trash" }, { "Junk", "\\Junk" },
		{ "Spam", "\\Junk" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcasecmp(name, tab[i].name) == 0)
			return tab[i].attr;
	return NULL;
}

/* ---- the LIST walk ----------------------------------------------------- */

/* Is directory entry C (in a directory at DEPTH) one LIST may show? */
static int
mbx_visible(const char *c, int depth)
{
	const char *why;

	if (c[0] == '.' || (depth == 0 && mbx_is_inbox(c)))
		return 0;
	if (mbx_check_level(c, strlen(c), &why) == -1)
		return 0;
	return mutf7_utf8_valid(c, strlen(c));
}

/* The visible entries of directory FD (consumed), sorted, with kinds. */
struct mbx_dirent {
	char *name;
	enum mbx_kind kind;
};

static int
mbx_direntcmp(const void *a, const void *b)
{
	return strcmp(((const struct mbx_dirent *)a)->name,
	    ((const struct mbx_dirent *)b)->name);
}

static void
mbx_dirents_free(struct mbx_dirent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Read at most MBX_LIST_MAX entries; *FULL_R (may be NULL) says the
 * directory had more. */
static int
mbx_readdir(int fd, int depth, int first_only, struct mbx_dirent **v_r,
    size_t *n_r, int *full_r)
{
	struct mbx_dirent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*v_r = NULL;
	*n_r = 0;
	if (full_r != NULL)
		*full_r = 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (!mbx_visible(de->d_name, depth))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (n == MBX_LIST_MAX) {
			if (full_r != NULL)
				*full_r = 1;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			if (ncap > MBX_LIST_MAX)
				ncap = MBX_LIST_MAX;
			void *nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
			cap = ncap;
		}
		if ((v[n].name = strdup(de->d_name)) == NULL)
			break;
		v[n++].kind = S_ISDIR(st.st_mode) ? MBX_DIR : MBX_FILE;
		if (first_only)
			break;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), mbx_direntcmp);
	*v_r = v;
	*n_r = n;
	return 0;
}

static int
mbx_list_add(struct mbx_list *l, const char *name, enum mbx_kind kind)
{
	if (l->n >= MBX_LIST_MAX) {
		l->truncated = 1;
		return -1;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		void *nv = realloc(l->v, ncap * sizeof(*l->v));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	if ((l->v[l->n].name = strdup(name)) == NULL)
		return -1;
	l->v[l->n].kind = kind;
	l->v[l->n].children = 0;
	l->n++;
	return 0;
}

/* Does directory C in DFD have a visible entry? */
static int
mbx_has_children(int dfd, const char *c, int depth)
{
	struct mbx_dirent *v;
	size_t n;
	int fd = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1 || mbx_readdir(fd, depth, 1, &v, &n, NULL) == -1)
		return 0;
	mbx_dirents_free(v, n);
	return n > 0;
}

static int
mbx_walk_dir(int fd, const char *prefix, int depth, const char *pat,
    struct mbx_list *l)
{
	char full[MBX_NAME_MAX + 1];
	struct mbx_dirent *v;
	size_t n;
	int rc = 0, more;

	if (mbx_readdir(dup(fd), depth, 0, &v, &n, &more) == -1)
		return -1;
	if (more)
		l->truncated = 1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int r = snprintf(full, sizeof(full), "%s%s", prefix, v[i].name);
		if (r < 0 || (size_t)r >= sizeof(full))
			continue;
		if (v[i].kind == MBX_FILE) {
			if (mbx_match(pat, full))
				rc = mbx_list_add(l, full, MBX_FILE);
			continue;
		}
		size_t at = (size_t)-1;
		if (mbx_match(pat, full)) {
			if ((rc = mbx_list_add(l, full, MBX_DIR)) == -1)
				break;
			at = l->n - 1;
		}
		int children;
		if (depth + 1 < MBX_DEPTH_MAX && mbx_match_below(pat, full) &&
		    (size_t)r + 1 < sizeof(full)) {
			int cfd = openat(fd, v[i].name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd == -1)
				continue;
			size_t before = l->n;
			char sub[MBX_NAME_MAX + 2];
			snprintf(sub, sizeof(sub), "%s/", full);
			rc = mbx_walk_dir(cfd, sub, depth + 1, pat, l);
			close(cfd);
			children = l->n > before ||
			    mbx_has_children(fd, v[i].name, depth + 1);
		} else {
			children = mbx_has_children(fd, v[i].name, depth + 1);
		}
		if (at != (size_t)-1)
			l->v[at].children = children;
	}
	mbx_dirents_free(v, n);
	return rc;
}

int
mbx_walk(const char *maildir, const char *pat, struct mbx_list *l)
{
	int fd, rc;

	fd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	rc = mbx_walk_dir(fd, "", 0, pat, l);
	close(fd);
	if (rc == -1 && l->truncated)
		rc = 0;
	return rc;
}

void
mbx_list_free(struct mbx_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* ---- subscriptions ----------------------------------------------------- */

void
mbx_subs_free(struct mbx_subs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
mbx_subs_has(const struct mbx_subs *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

/* Parse the file contents BUF/LEN into S (zeroed). */
static int
mbx_subs_parse(char *buf, size_t len, struct mbx_subs *s)
{
	char *p = buf, *end = buf ? buf + len : NULL;
	const char *why;

	s->v = calloc(MBX_SUBS_MAX, sizeof(*s->v));
	if (s->v == NULL)
		return -1;
	while (p < end && s->n < MBX_SUBS_MAX) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;		/* a torn last line is not a name */
		*nl = '\0';
		if (mbx_check(p, 0, &why) == 0 && !mbx_subs_has(s, p)) {
			if ((s->v[s->n] = strdup(p)) == NULL)
				return -1;
			s->n++;
		}
		p = nl + 1;
	}
	return 0;
}

static int
mbx_subs_read(int dfd, struct mbx_subs *s)
{
	char *buf;
	size_t len = 0;
	ssize_t r;
	int fd;

	s->v = NULL;
	s->n = 0;
	fd = openat(dfd, MBX_SUBS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? mbx_subs_parse(NULL, 0, s) : -1;
	if ((buf = malloc(MBX_SUBS_BYTES_MAX)) == NULL) {
		close(fd);
		return -1;
	}
	while (len < MBX_SUBS_BYTES_MAX &&
	    (r = read(fd, buf + len, MBX_SUBS_BYTES_MAX - len)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	r = mbx_subs_parse(buf, len, s);
	free(buf);
	return (int)r;
}

int
mbx_subs_load(const char *maildir, struct mbx_subs *s)
{
	int dfd, r;

	s->v = NULL;
	s->n = 0;
	dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return errno == ENOENT ? 0 : -1;
	r = mbx_subs_read(dfd, s);
	close(dfd);
	if (r == -1)
		mbx_subs_free(s);
	return r;
}

static int
mbx_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write S to a temporary file in DFD, fsync it, rename it over the
 * subscriptions file, fsync the directory. */
static int
mbx_subs_write(int dfd, const struct mbx_subs *s)
{
	static const char tmp[] = MBX_SUBS_FILE ".tmp";
	int fd, rc = 0;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	for (size_t i = 0; i < s->n && rc == 0; i++)
		if (mbx_write_all(fd, s->v[i], strlen(s->v[i])) == -1 ||
		    mbx_write_all(fd, "\n", 1) == -1)
			rc = -1;
	if (rc == 0 && fsync(fd) == -1)
		rc = -1;
	if (close(fd) == -1)
		rc = -1;
	if (rc == 0 && renameat(dfd, tmp, dfd, MBX_SUBS_FILE) == -1)
		rc = -1;
	if (rc == -1)
		unlinkat(dfd, tmp, 0);
	else
		fsync(dfd);
	return rc;
}

static int
mbx_subs_edit(struct mbx_subs *s, const char *name, int add, int *changed,
    const char **why_r)
{
	size_t i;

	*changed = 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			break;
	if (add) {
		if (i < s->n)
			return 0;
		if (s->n >= MBX_SUBS_MAX) {
			*why_r = "Too many subscriptions: unsubscribe some first";
			return -1;
		}
		if ((s->v[s->n] = strdup(name)) == NULL) {
			*why_r = "Out of memory";
			return -1;
		}
		s->n++;
	} else {
		if (i == s->n)
			return 0;
		free(s->v[i]);
		memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
		s->n--;
	}
	*changed = 1;
	return 0;
}

int
mbx_subs_change(const char *maildir, const char *name, int add,
    const char **why_r)
{
	struct mbx_subs s = { NULL, 0 };
	int dfd, changed = 0, rc = -1;

	if (mkdir(maildir, 0700) == -1 && errno != EEXIST) {
		*why_r = "Cannot create the mail directory";
		return -1;
	}
	dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		*why_r = "Cannot open the mail directory";
		return -1;
	}
	*why_r = "Cannot update the subscriptions file";
	if (flock(dfd, LOCK_EX) == -1)
		goto out;
	if (mbx_subs_read(dfd, &s) == -1)
		goto out;
	if (mbx_subs_edit(&s, name, add, &changed, why_r) == -1)
		goto out;
	if (changed && mbx_subs_write(dfd, &s) == -1)
		goto out;
	rc = 0;
out:
	mbx_subs_free(&s);
	close(dfd);		/* releases the flock */
	return rc;
}

/* Replace in S every name FROM or FROM/... by TO or TO/...; a result
 * that mbx_check refuses (too long, too deep) or that is there already
 * is dropped.  *CHANGED set if anything moved. */
static void
mbx_subs_move(struct mbx_subs *s, const char *from, size_t fl,
    const char *to, int *changed)
{
	char nn[MBX_NAME_MAX + 1];
	const char *why;
	size_t i = 0;

	*changed = 0;
	while (i < s->n) {
		const char *v = s->v[i];
		if (strncmp(v, from, fl) != 0 || (v[fl] != '\0' && v[fl] != '/')) {
			i++;
			continue;
		}
		int r = snprintf(nn, sizeof(nn), "%s%s", to, v + fl);
		int keep = r >= 0 && (size_t)r < sizeof(nn) &&
		    mbx_check(nn, 0, &why) == 0 && !mbx_subs_has(s, nn);
		*changed = 1;
		free(s->v[i]);
		if (!keep || (s->v[i] = strdup(nn)) == NULL) {
			memmove(s->v + i, s->v + i + 1,
			    (s->n - i - 1) * sizeof(*s->v));
			s->n--;
			continue;
		}
		i++;
	}
}

int
mbx_subs_rename(const char *maildir, const char *from, const char *to,
    const char **why_r)
{
	struct mbx_subs s = { NULL, 0 };
	size_t fl = strlen(from), tl = strlen(to);
	int dfd, changed = 0, rc = -1;
	char f[MBX_NAME_MAX + 1], t[MBX_NAME_MAX + 1];

	if (fl > MBX_NAME_MAX || tl > MBX_NAME_MAX) {
		*why_r = "Name too long";
		return -1;
	}
	/* "Archive/" names the directory Archive */
	memcpy(f, from, fl + 1);
	memcpy(t, to, tl + 1);
	if (fl > 0 && f[fl - 1] == '/')
		f[--fl] = '\0';
	if (tl > 0 && t[tl - 1] == '/')
		t[--tl] = '\0';
	dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		*why_r = "Cannot open the mail directory";
		return -1;
	}
	*why_r = "Cannot update the subscriptions file";
	if (flock(dfd, LOCK_EX) == -1 || mbx_subs_read(dfd, &s) == -1)
		goto out;
	mbx_subs_move(&s, f, fl, t, &changed);
	if (changed && mbx_subs_write(dfd, &s) == -1)
		goto out;
	rc = 0;
out:
	mbx_subs_free(&s);
	close(dfd);		/* releases the flock */
	return rc;
}
