/*
 * main.c - pop3d: options and start-up; the session is pop3_serve().
 *
 * One connection on standard input and output, started by xinetd or a
 * systemd socket (Accept=yes).  See pop3d(8).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pop3.h"

/* The longest autologout we accept for -t: the whole-session cap
 * (params.h), since no session lives longer than that anyway. */
#define POP3_TIMEOUT_MAX_SEC	SESSION_MAX_SEC

static void usage(void) ATTR_NORETURN;

static void
usage(void)
{
	fprintf(stderr, "usage: pop3d [-v] [-h hostname] [-p passwd-file] "
	    "[-s spool-dir] [-t seconds]\n");
	exit(1);
}

/* A closed stderr would be reused by the next open(), a mailbox say, and
 * get our log lines: point it at /dev/null first. */
static void
stderr_sane(void)
{
	int fd;

	if (fcntl(STDERR_FILENO, F_GETFD) != -1)
		return;
	if ((fd = open("/dev/null", O_WRONLY)) != -1 && fd != STDERR_FILENO) {
		(void)dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

/* Tell the client, which would otherwise see a closed connection. */
static int
misconfigured(void)
{
	fputs("-ERR [SYS/PERM] server misconfigured; see the server log\r\n",
	    stdout);
	fflush(stdout);
	return 1;
}

int
main(int argc, char *argv[])
{
	static char host[256];
	struct pop3_cfg cfg;
	struct srv_opts o;
	int ch, err_ok, r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.auth.backend = AUTH_BACKEND_PAM;
	cfg.auth.pam_service = "pop3d";
	cfg.auth.spool_dir = SP_SPOOL_DIR;
	cfg.idle_sec = POP3_TIMEOUT_SEC;
	o = (struct srv_opts){ &cfg.auth, &cfg.idle_sec, &cfg.hostname, 0 };
	while ((ch = getopt(argc, argv, "h:p:s:t:v")) != -1) {
		if ((r = srv_option(&o, ch, optarg)) == -1) {
			fprintf(stderr, "pop3d: -t %s: expected seconds, "
			    "1 to %d\n", optarg, POP3_TIMEOUT_MAX_SEC);
			exit(1);
		}
		if (r == 0)
			usage();
	}
	if (optind != argc)
		usage();

	umask(077);
	tzset();
	stderr_sane();
	err_ok = !srv_fd_is_socket(STDERR_FILENO);
	log_open("pop3d", err_ok ? LOGTO_BOTH : LOGTO_SYSLOG);
	if (o.verbose)
		cfg.transcript = err_ok ? IO_TRANSCRIPT_STDERR :
		    IO_TRANSCRIPT_SYSLOG;
	if (cfg.hostname == NULL) {
		if (gethostname(host, sizeof(host) - 1) == -1)
			snprintf(host, sizeof(host), "localhost");
		cfg.hostname = host;
	}
	cfg.privsep = priv_is_root();
	if (!cfg.privsep && cfg.auth.backend == AUTH_BACKEND_PAM) {
		log_warnx("started as uid %u without -p: PAM logins need root; "
		    "start as root or give a passwd-file with -p",
		    (unsigned)getuid());
		return misconfigured();
	}
	if (cfg.auth.backend == AUTH_BACKEND_FILE &&
	    access(cfg.auth.passwd_file, R_OK) == -1) {
		log_warn("passwd-file %s", cfg.auth.passwd_file);
		return misconfigured();
	}
	return pop3_serve(&cfg, STDIN_FILENO, STDOUT_FILENO);
}
