/*
 * main.c - smtpd start-up: options, logging, and, as root, the split into
 * the delivering root parent and the unprivileged SMTP child.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

static void
usage(void)
{
	fprintf(stderr, "usage: smtpd [-vV] [-d domain[,domain...]] "
	    "[-h hostname] [-p passwd-file] [-s spool-dir] [-t seconds] "
	    "[-z bytes]\n");
	exit(1);
}

static long long
number(const char *s, unsigned long long max)
{
	unsigned long long v;

	if (parse_uint(s, (size_t)-1, max, &v) == -1 || v == 0)
		usage();
	return (long long)v;
}

static void
domains(struct smtp_cfg *cfg, char *list)
{
	char *d;

	for (d = strtok(list, ","); d != NULL; d = strtok(NULL, ",")) {
		if (cfg->ndomains == SMTP_DOMAINS_MAX || strlen(d) >
		    SMTP_DOMAIN_MAX) {
			fprintf(stderr, "smtpd: -d: at most %d domains of %d "
			    "characters\n", SMTP_DOMAINS_MAX, SMTP_DOMAIN_MAX);
			exit(1);
		}
		cfg->domains[cfg->ndomains++] = d;
	}
}

/*
 * As root: the child speaks SMTP unprivileged, the parent delivers.  The
 * greeting goes out first, so that the client types (or its EHLO travels)
 * while we fork and drop privileges: the kernel keeps the input for the
 * child.  With -v the child says it, so that the transcript shows it.
 */
static int
split(struct smtp_cfg *cfg)
{
	char greeting[SMTP_DOMAIN_MAX + sizeof("220  ESMTP mailsuite\r\n")];
	size_t n;
	int sv[2], fd;
	pid_t pid;

	if (cfg->transcript == IO_TRANSCRIPT_OFF &&
	    (n = smtp_greeting(cfg, greeting, sizeof(greeting))) > 0 &&
	    write(1, greeting, n) == (ssize_t)n)
		cfg->greeted = 1;
	/* only the parent delivers; looked up before the fork so that the
	 * child, which looks up its own account, finds the name service
	 * configuration read once (not parsed again in each process) */
	cfg->mail_gid = priv_mail_gid();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		log_warn("privsep");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		if (priv_drop_unprivileged() == -1) {
			printf("421 4.3.0 %s Service not available, try "
			    "again later\r\n", cfg->host);
			fflush(stdout);
			return 1;
		}
		return smtp_serve(cfg, 0, 1, sv[1]);
	}
	close(sv[1]);
	/* the client is the child's: keep no copy of the connection */
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 1)
			close(fd);
	}
	return smtp_privsep_parent(cfg, sv[0], pid);
}

int
main(int argc, char *argv[])
{
	struct smtp_cfg cfg;
	struct srv_opts o;
	int ch, to_stderr;

	umask(077);
	/* under xinetd, stderr is the client's socket: never write there */
	to_stderr = !srv_fd_is_socket(2) && fcntl(2, F_GETFD) != -1;
	if (srv_fd_is_socket(2)) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd != -1 && fd != 2) {
			dup2(fd, 2);
			close(fd);
		}
	}
	smtp_cfg_init(&cfg);
	o = (struct srv_opts){ &cfg.auth, &cfg.timeout, NULL, 0 };
	while ((ch = getopt(argc, argv, "d:h:p:s:t:vVz:")) != -1) {
		switch (ch) {
		case 'd':
			domains(&cfg, optarg);
			break;
		case 'h':
			if (strlen(optarg) > SMTP_DOMAIN_MAX || optarg[0] == '\0')
				usage();
			snprintf(cfg.host, sizeof(cfg.host), "%s", optarg);
			break;
		case 'V':
			cfg.verify = 1;
			break;
		case 'z':
			cfg.size_max = number(optarg,
			    (unsigned long long)SP_MESSAGE_MAX);
			break;
		default:
			/* -p -s -t -v */
			if (srv_option(&o, ch, optarg) != 1)
				usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg.host[0] == '\0')
		smtp_hostname(cfg.host, sizeof(cfg.host));

	if (o.verbose)
		cfg.transcript = to_stderr ? IO_TRANSCRIPT_STDERR :
		    IO_TRANSCRIPT_SYSLOG;
	tzset();
	log_open("smtpd", to_stderr && o.verbose);
	cfg.root = priv_is_root();
	if (cfg.root)
		return split(&cfg);
	return smtp_serve(&cfg, 0, 1, -1);
}
