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

int
main(int argc, char *argv[])
{
	struct imap_config cfg;
	struct srv_opts o;
	int ch, sock;

	umask(077);
	imap_config_default(&cfg);
	o = (struct srv_opts){ &cfg.auth, &cfg.timeout_sec, &cfg.hostname, 0 };
	while ((ch = getopt(argc, argv, "h:m:p:s:t:v")) != -1) {
		if (ch == 'm')
			cfg.mail_dir = optarg;
		else if (srv_option(&o, ch, optarg) != 1)
			usage();
	}
	if (optind != argc)
		usage();
	cfg.spool_dir = cfg.auth.spool_dir;	/* -s names both */
	/* inetd passes the connection as fd 2 too */
	sock = srv_fd_is_socket(2);
	log_open("imapd", o.verbose && !sock);
	if (o.verbose)
		cfg.transcript = sock ? IO_TRANSCRIPT_SYSLOG :
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
