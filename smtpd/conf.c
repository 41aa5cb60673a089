/*
 * conf.c - smtpd's defaults and its own name.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp.h"

/* Where the host's own names are written down, without asking DNS. */
#define SMTP_HOSTS_FILE		"/etc/hosts"

void
smtp_cfg_init(struct smtp_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));	/* host: see smtp_hostname */
	cfg->size_max = SMTP_SIZE_DEFAULT;
	cfg->mailbox_max = SP_MAILBOX_MAX_DEFAULT;
	cfg->timeout = SMTP_TIMEOUT_SEC;
	cfg->transcript = IO_TRANSCRIPT_OFF;
	cfg->auth.backend = AUTH_BACKEND_PAM;
	cfg->auth.pam_service = "smtpd";
	cfg->auth.spool_dir = SP_SPOOL_DIR;
	cfg->mail_gid = (gid_t)-1;
}

/* A line of /etc/hosts that names SHORT: its first dotted name. */
static int
smtp_hosts_fqdn(const char *shortname, char *buf, size_t cap)
{
	char line[1024], *p, *tok, *fqdn;
	FILE *f;
	int found = 0;

	if ((f = fopen(SMTP_HOSTS_FILE, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		fqdn = NULL;
		tok = strtok(line, " \t\r\n");	/* the address */
		while (tok != NULL && (tok = strtok(NULL, " \t\r\n")) != NULL) {
			if (fqdn == NULL && strchr(tok, '.') != NULL)
				fqdn = tok;
			if (strcasecmp(tok, shortname) == 0 ||
			    (strncasecmp(tok, shortname, strlen(shortname)) == 0
			    && tok[strlen(shortname)] == '.'))
				found = 1;
		}
		if (found && fqdn != NULL && strlen(fqdn) < cap &&
		    strncasecmp(fqdn, shortname, strlen(shortname)) == 0)
			snprintf(buf, cap, "%s", fqdn);
		else
			found = 0;
	}
	fclose(f);
	return found;
}

void
smtp_hostname(char *buf, size_t cap)
{
	char name[SMTP_DOMAIN_MAX + 1];
	size_t i;

	if (gethostname(name, sizeof(name)) == -1 || name[0] == '\0')
		snprintf(name, sizeof(name), "localhost");
	name[sizeof(name) - 1] = '\0';
	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '.')
			name[i] = '-';
	if (strchr(name, '.') != NULL || !smtp_hosts_fqdn(name, buf, cap))
		snprintf(buf, cap, "%s", name);
}
