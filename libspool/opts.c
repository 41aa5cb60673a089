/*
 * opts.c - the command-line options the three servers share: -p
 * passwd-file, -s spool-dir, -t seconds, -v, and -h hostname where the
 * server takes it as given.  Each main() keeps its own getopt() loop for
 * what is its alone, and its own way of complaining (see proto.h).
 */
#include <sys/stat.h>

#include "proto.h"

int
srv_option(struct srv_opts *o, int ch, const char *arg)
{
	unsigned long long v;

	switch (ch) {
	case 'h':
		if (o->hostname == NULL)
			return 0;
		*o->hostname = arg;
		return 1;
	case 'p':
		o->auth->backend = AUTH_BACKEND_FILE;
		o->auth->passwd_file = arg;
		return 1;
	case 's':
		o->auth->spool_dir = arg;
		return 1;
	case 't':
		/* 0 would mean "no timeout": a session is always bounded */
		if (parse_uint(arg, (size_t)-1, SESSION_MAX_SEC, &v) == -1 ||
		    v == 0)
			return -1;
		*o->timeout_sec = (int)v;
		return 1;
	case 'v':
		o->verbose = 1;
		return 1;
	default:
		return 0;
	}
}

int
srv_fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}
