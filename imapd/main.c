/*
 * main.c - imapd: options, then one IMAP session on standard input and
 * output (started per connection by xinetd or a systemd socket unit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imapd.h"

static void
usage(void)
{
	fprintf(stderr, "usage: imapd [-v] [-h hostname] [-m maildir] "
	    "[-p passwd-file] [-s spooldir] [-t seconds]\n");
	exit(1);
}

/* Is fd 2 a socket (inetd passes the connection there too)? */
static int
stderr_is_socket(void)
{
	struct stat st;

	return fstat(2, &st) == 0 && S_ISSOCK(st.st_mode);
}

int
main(int argc, char *argv[])
{
	struct imap_config cfg;
	unsigned long long v;
	int ch, verbose = 0;

	umask(077);
	imap_config_default(&cfg);
	while ((ch = getopt(argc, argv, "h:m:p:s:t:v")) != -1) {
		switch (ch) {
		case 'h':
			cfg.hostname = optarg;
			break;
		case 'm':
			cfg.mail_dir = optarg;
			break;
		case 'p':
			cfg.auth.backend = AUTH_BACKEND_FILE;
			cfg.auth.passwd_file = optarg;
			break;
		case 's':
			cfg.spool_dir = cfg.auth.spool_dir = optarg;
			break;
		case 't':
			if (parse_uint(optarg, (size_t)-1, SESSION_MAX_SEC,
			    &v) == -1 || v == 0)
				usage();
			cfg.timeout_sec = (int)v;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_open("imapd", verbose && !stderr_is_socket());
	if (verbose)
		cfg.transcript = stderr_is_socket() ? IO_TRANSCRIPT_SYSLOG :
		    IO_TRANSCRIPT_STDERR;
	if (cfg.auth.backend == AUTH_BACKEND_PAM && !priv_is_root()) {
		fprintf(stderr, "imapd: PAM authentication needs root; as an "
		    "ordinary user, give a passwd-file with -p FILE\n");
		log_warnx("started as an ordinary user without -p: refused");
		return 1;
	}
	tzset();
	return imap_serve(0, 1, &cfg);
}
