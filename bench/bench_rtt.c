/*
 * bench_rtt - the floor of any "one command per round trip" figure (POP3
 * RETR one by one, IMAP commands in turn): a loopback TCP ping-pong of a
 * 6-byte command and a 10 KiB reply, the size of an average generated
 * message, with the two processes on one CPU, on two CPUs, and where the
 * scheduler puts them.  On a VM, waking a halted virtual CPU costs tens of
 * microseconds each way: this says how much of a RETR-all is the machine.
 */
#define _GNU_SOURCE		/* sched_setaffinity */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RTT_ROUNDS	20000
#define RTT_REPLY	10240	/* bytes: an average message of gen_mbox.py */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run on CPU only (CPU < 0: anywhere). */
static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

/* The client: RTT_ROUNDS commands, each waiting for its whole reply.
 * Writes the microseconds per round trip to OUT. */
static void
client(const struct sockaddr_in *sa, int cpu, int out)
{
	static char buf[65536];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, i;
	double t, us;

	pin(cpu);
	if (fd == -1 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) == -1)
		_exit(1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	t = now();
	for (i = 0; i < RTT_ROUNDS; i++) {
		size_t got = 0;

		if (write(fd, "RETR\r\n", 6) != 6)
			_exit(1);
		while (got < RTT_REPLY) {
			ssize_t r = read(fd, buf, sizeof buf);

			if (r <= 0)
				_exit(1);
			got += (size_t)r;
		}
	}
	us = (now() - t) / RTT_ROUNDS * 1e6;
	if (write(out, &us, sizeof us) != (ssize_t)sizeof us)
		_exit(1);
	_exit(0);
}

/* One ping-pong, client on CCPU and server on SCPU; -1 on failure. */
static double
pingpong(int ccpu, int scpu)
{
	static char reply[RTT_REPLY];
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int ls, s, one = 1, p[2], status;
	double us = -1;
	pid_t pid;

	memset(reply, 'x', sizeof reply);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) == -1 || pipe(p) == -1 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1 ||
	    listen(ls, 1) == -1)
		return -1;
	if ((pid = fork()) == 0)
		client(&sa, ccpu, p[1]);
	close(p[1]);
	pin(scpu);
	if (pid == -1 || (s = accept(ls, NULL, NULL)) == -1)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (;;) {
		struct pollfd pf = { s, POLLIN, 0 };
		char cmd[64];

		if (poll(&pf, 1, -1) == -1 || read(s, cmd, sizeof cmd) <= 0 ||
		    write(s, reply, sizeof reply) != (ssize_t)sizeof reply)
			break;
	}
	if (read(p[0], &us, sizeof us) != (ssize_t)sizeof us)
		us = -1;
	waitpid(pid, &status, 0);
	close(s);
	close(ls);
	close(p[0]);
	pin(-1);
	return us;
}

int
main(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double any = pingpong(-1, -1), one = pingpong(0, 0);
	double two = cpus > 1 ? pingpong(0, 1) : -1;

	printf("loopback round trip, 6-byte command and %d-byte reply, %d rounds:\n",
	    RTT_REPLY, RTT_ROUNDS);
	printf("  where the scheduler puts them  %6.1f us\n", any);
	printf("  both on CPU 0                  %6.1f us\n", one);
	if (two > 0)
		printf("  client CPU 0, server CPU 1     %6.1f us\n", two);
	printf("(a RETR-all of N messages cannot take less than N round trips)\n");
	return any < 0 || one < 0 ? 1 : 0;
}
