"""compare_proto - the clients bench_compare.py drives every server with,
ours and theirs alike: POP3 and IMAP sessions over 127.0.0.1, a RETR-all
client in C (so the figure is the server's and the round trips', not
Python's), and the peak-RSS reading of a launcher's serving processes.

Every timed function returns seconds from connect() to the last reply; a
command a server refuses (IMAP NO/BAD) raises Refused, which the caller
prints as "n/a".
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "e2e"))
import mslib  # noqa: E402

SOCK_TIMEOUT = 900      # seconds; a first open of a 1 GiB mbox can take minutes


class Refused(RuntimeError):
    """The server answered NO/BAD/-ERR: the feature is not there (yet)."""


class Pop3:
    def __init__(self, port, user, password):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.line()
        self.line(b"USER " + user.encode())
        self.line(b"PASS " + password.encode())

    def _until(self, end):
        pos = 0
        while True:
            i = self.buf.find(end, pos)
            if i >= 0:
                data = bytes(self.buf[:i + len(end)])
                del self.buf[:i + len(end)]
                return data
            pos = max(0, len(self.buf) - len(end))
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def line(self, cmd=None):
        if cmd is not None:
            self.s.sendall(cmd + b"\r\n")
        r = self._until(b"\r\n")
        if not r.startswith(b"+OK"):
            raise Refused("%r -> %r" % (cmd, r[:200]))
        return r

    def multi(self, cmd):
        self.line(cmd)
        return self._until(b"\r\n.\r\n")

    def close(self):
        self.s.close()


def pop3_list_session(port, user, password):
    """login + STAT + LIST + UIDL + QUIT; (seconds, number of UIDL lines)."""
    t0 = time.perf_counter()
    c = Pop3(port, user, password)
    c.line(b"STAT")
    c.multi(b"LIST")
    n = c.multi(b"UIDL").count(b"\r\n") - 1
    c.line(b"QUIT")
    dt = time.perf_counter() - t0
    c.close()
    return dt, n


class Imap:
    """A minimal IMAP client that skips literals and counts untagged
    responses."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self._line()

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("server closed the connection")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self._fill()

    def _skip(self, n):
        while len(self.buf) < n:
            self._fill()
        del self.buf[:n]

    def cmd(self, text, keep=None):
        """Send TEXT; return (untagged count, kept lines: those starting with
        KEEP).  Raises Refused on NO/BAD."""
        self.n += 1
        tag = b"c%d" % self.n
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        count, kept = 0, []
        while True:
            ln = self._line()
            first = ln
            while True:
                m = re.search(rb"\{(\d+)\}$", ln)
                if not m:
                    break
                self._skip(int(m.group(1)))
                ln = self._line()
            if first.startswith(tag + b" "):
                if not first.startswith(tag + b" OK"):
                    raise Refused("%s -> %r" % (text, first[:200]))
                return count, kept
            count += 1
            if keep and first.startswith(keep):
                kept.append(first)

    def close(self):
        self.s.close()


def imap_login_select(port, user, password):
    """connect + LOGIN + SELECT INBOX; (seconds, client, EXISTS)."""
    t0 = time.perf_counter()
    c = Imap(port)
    c.cmd('LOGIN %s "%s"' % (user, password))
    _, kept = c.cmd("SELECT INBOX", keep=b"* ")
    dt = time.perf_counter() - t0
    exists = -1
    for ln in kept:
        m = re.match(rb"\* (\d+) EXISTS", ln)
        if m:
            exists = int(m.group(1))
    return dt, c, exists


def imap_timed(c, text, keep=None):
    """(seconds, untagged count, kept lines), or (None, reason, None) when
    refused."""
    t0 = time.perf_counter()
    try:
        n, kept = c.cmd(text, keep)
    except Refused as e:
        return None, str(e), None
    return time.perf_counter() - t0, n, kept


# RETR 1..N one by one, one command per round trip; stops early after LIMIT
# seconds (popa3d needs ~44 ms a message).  Protocol with the caller: prints
# "login" once logged in, waits for a byte on stdin, runs, prints
# "SECONDS OCTETS DONE", waits for a byte, QUITs.
RETR_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static char buf[1 << 25];	/* a message is at most 8 MiB before CRLF */
static size_t reply(int fd, const char *end)
{
	size_t n = 0, el = strlen(end);
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r <= 0) { fprintf(stderr, "retr: read failed\n"); exit(1); }
		n += (size_t)r;
		if (n >= el && memcmp(buf + n - el, end, el) == 0)
			return n;
		if (n == sizeof(buf)) { fprintf(stderr, "retr: reply too big\n"); exit(1); }
	}
}
static void say(int fd, const char *s)
{
	size_t l = strlen(s);
	if (write(fd, s, l) != (ssize_t)l) { fprintf(stderr, "retr: write failed\n"); exit(1); }
}
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, one = 1;
	unsigned long n, i;
	unsigned long long octets = 0;
	double limit, a;
	char cmd[600], c;
	if (argc != 6) { fprintf(stderr, "usage: retr PORT USER PASS COUNT LIMIT\n"); return 2; }
	n = strtoul(argv[4], NULL, 10);
	limit = strtod(argv[5], NULL);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) { perror("connect"); return 1; }
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	reply(fd, "\r\n");
	snprintf(cmd, sizeof(cmd), "USER %.200s\r\n", argv[2]);
	say(fd, cmd);
	reply(fd, "\r\n");
	snprintf(cmd, sizeof(cmd), "PASS %.200s\r\n", argv[3]);
	say(fd, cmd);
	reply(fd, "\r\n");
	if (buf[0] != '+') { fprintf(stderr, "retr: login refused\n"); return 1; }
	printf("login\n");
	fflush(stdout);
	if (read(0, &c, 1) != 1) return 1;
	a = now();
	for (i = 1; i <= n; i++) {
		snprintf(cmd, sizeof(cmd), "RETR %lu\r\n", i);
		say(fd, cmd);
		octets += reply(fd, "\r\n.\r\n");
		if (buf[0] != '+') { fprintf(stderr, "retr: RETR %lu refused\n", i); return 1; }
		if (limit > 0 && now() - a > limit) { i++; break; }
	}
	printf("%.6f %llu %lu\n", now() - a, octets, i - 1);
	fflush(stdout);
	if (read(0, &c, 1) != 1) return 1;
	say(fd, "QUIT\r\n");
	reply(fd, "\r\n");
	return 0;
}
"""


def build_retr(workdir):
    src, exe = os.path.join(workdir, "compare_retr.c"), os.path.join(workdir, "compare_retr")
    with open(src, "w") as f:
        f.write(RETR_C)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-o", exe, src], check=True)
    return exe


def retr_all(exe, port, user, password, count, limit, rss_root, rss_names):
    """RETR 1..COUNT (stopping after LIMIT s); (seconds, octets, messages
    done, peak RSS KiB of the serving process read before QUIT)."""
    p = subprocess.Popen([exe, str(port), user, password, str(count), str(limit)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "login":
            raise RuntimeError("RETR client could not log in")
        p.stdin.write("x")
        p.stdin.flush()
        fields = p.stdout.readline().split()
        if len(fields) != 3:
            raise RuntimeError("RETR client failed")
        rss = peak_rss_kib(rss_root, rss_names)
        p.stdin.write("x")
        p.stdin.flush()
        if p.wait(timeout=120) != 0:
            raise RuntimeError("RETR client failed at QUIT")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return float(fields[0]), int(fields[1]), int(fields[2]), rss


# ---- processes -------------------------------------------------------------

def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def peak_rss_kib(root, names):
    """The largest VmHWM (KiB) among ROOT's descendants whose comm is in
    NAMES: the process serving the session (ours: pop3d/imapd; popa3d;
    Dovecot's pop3/imap mail process)."""
    best = 0
    for pid in mslib.descendants(root):
        if _comm(pid) not in names:
            continue
        try:
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("VmHWM:"):
                        best = max(best, int(ln.split()[1]))
        except OSError:
            continue
    return best
