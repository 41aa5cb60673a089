/*
 * smtp_floor.c - the least an inetd-style SMTP server can do per
 * connection, for bench_smtpd.py: the floor under our smtpd's figures.
 *
 * It answers one pipelined session on fds 0/1 (220, EHLO, MAIL, RCPT,
 * DATA, the message up to CR LF . CR LF, QUIT) with fixed replies and no
 * checks.  With -f FILE it appends the message to FILE and fsync()s it
 * before the 250, as a durable delivery must; without, it keeps nothing.
 * It is NOT a server: no parsing worth the name, no privileges, no
 * locking.  bench_smtpd.py builds it dynamic and static (-static) and
 * runs it under the same launcher as smtpd.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FLOOR_BUF	(64 * 1024)	/* one session's input: 4 KiB messages */

static char floor_in[FLOOR_BUF];
static char floor_out[1024];
static size_t floor_outlen;

/* Replies are buffered and written when the input runs dry, as a real
 * server does for pipelined commands (several small writes would wait
 * for the client's delayed ACK: Nagle). */
static void
say(const char *s)
{
	size_t n = strlen(s);

	if (floor_outlen + n > sizeof(floor_out))
		_exit(1);
	memcpy(floor_out + floor_outlen, s, n);
	floor_outlen += n;
}

static void
flush(void)
{
	if (floor_outlen > 0 && write(1, floor_out, floor_outlen) !=
	    (ssize_t)floor_outlen)
		_exit(1);
	floor_outlen = 0;
}

int
main(int argc, char *argv[])
{
	size_t len = 0, line = 0;
	int fd = -1, data = 0;
	ssize_t r;

	if (argc == 3 && strcmp(argv[1], "-f") == 0 &&
	    (fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0600)) == -1)
		return 1;
	say("220 floor ESMTP\r\n");
	flush();
	while (len < sizeof(floor_in) &&
	    (r = read(0, floor_in + len, sizeof(floor_in) - len)) > 0) {
		char *p;

		len += (size_t)r;
		while ((p = memchr(floor_in + line, '\n', len - line)) != NULL) {
			char *l = floor_in + line;
			size_t n = (size_t)(p - l) + 1;

			line += n;
			if (data) {
				if (n != 3 || l[0] != '.')
					continue;
				data = 0;
				if (fd != -1 && (write(fd, floor_in, line) !=
				    (ssize_t)line || fsync(fd) == -1))
					return 1;
				say("250 2.0.0 Ok\r\n");
			} else if (strncmp(l, "EHLO", 4) == 0)
				say("250-floor\r\n250 PIPELINING\r\n");
			else if (strncmp(l, "DATA", 4) == 0) {
				say("354 go ahead\r\n");
				data = 1;
			} else if (strncmp(l, "QUIT", 4) == 0) {
				say("221 Bye\r\n");
				flush();
				return 0;
			} else
				say("250 Ok\r\n");
		}
		flush();
	}
	return 0;
}
