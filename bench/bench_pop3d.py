"""bench_pop3d - pop3d on generated mailboxes (bench/gen_mbox.py: 10k
messages, ~100 MiB; 100k messages, ~1 GiB) behind the lab launcher on
127.0.0.1:

  first   login + STAT + LIST + UIDL + QUIT on the fresh mailbox (page
          cache warm from the generation; nothing is written)
  warm    the same, median of 5 runs (once the file is 2 s old, a
          session's QUIT writes the index cache and the next ones read it)
  retr    RETR of every message one by one, one command per round trip
          (MB/s of message octets), by a small C client compiled here, with
          the pop3d CPU it took and, as the same-run baseline, as many
          NOOP round trips
  rss     peak RSS of the serving pop3d process (VmHWM, read just before
          QUIT)

The baselines are the reference figures measured on this kind of 2-core
machine with popa3d 0.19 and Dovecot 2.3.19 (10k mailbox); they are printed
beside ours, with the ratios.  A third mailbox, 10k messages of ~100 KiB
(~1 GiB), shows that RSS follows the message count, not the bytes.
BENCH_POP3D_SETS (default "10000x10,100000x10,10000x100": messages x KiB)
chooses the mailboxes.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import compare_proto  # noqa: E402
import gen_mbox  # noqa: E402
import t_pop3d as P  # noqa: E402

REF = {  # 10k messages, ~100 MiB
    "popa3d": {"list": 0.19, "retr": 439.0},
    "dovecot": {"list_cold": 1.34, "list": 0.074, "retr": 1.76},
}
# RETR-all client in C, so that the figure is the server's and the round
# trips', not Python's.  Prints "seconds octets".
CLIENT_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static char buf[1 << 24];	/* gen_mbox caps a message at 8 MiB */
static size_t reply(int fd, const char *end)
{
	size_t n = 0, el = strlen(end);
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r <= 0) { fprintf(stderr, "read failed\n"); exit(1); }
		n += (size_t)r;
		if (n >= el && memcmp(buf + n - el, end, el) == 0)
			return n;
		if (n == sizeof(buf)) { fprintf(stderr, "reply too big\n"); exit(1); }
	}
}
int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec a, b;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	unsigned long n = strtoul(argv[2], NULL, 10), i;
	unsigned long long octets = 0;
	char cmd[64], c;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int noop = argc == 4 && strcmp(argv[3], "noop") == 0;
	if (argc < 3 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) return 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	reply(fd, "\r\n");
	write(fd, "USER etudiant\r\n", 15);
	reply(fd, "\r\n");
	write(fd, "PASS Etudiant1\r\n", 16);
	reply(fd, "\r\n");
	if (buf[0] != '+') return 1;
	printf("login\n"); fflush(stdout);
	if (read(0, &c, 1) != 1) return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 1; i <= n; i++) {
		int l = noop ? snprintf(cmd, sizeof(cmd), "NOOP\r\n") :
		    snprintf(cmd, sizeof(cmd), "RETR %lu\r\n", i);
		write(fd, cmd, (size_t)l);
		octets += reply(fd, noop ? "\r\n" : "\r\n.\r\n");
		if (buf[0] != '+') { fprintf(stderr, "RETR %lu failed\n", i); return 1; }
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f %llu\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, octets);
	fflush(stdout);
	if (read(0, &c, 1) != 1) return 1;
	write(fd, "QUIT\r\n", 6);
	reply(fd, "\r\n");
	return 0;
}
"""
def generate(path, count, size):
    """COUNT realistic messages of SIZE octets on average (bench/gen_mbox.py:
    heavy-tailed sizes, MIME, attachments, mboxrd From_ quoting)."""
    with open(path, "wb") as f:
        gen_mbox.generate(f, count=count, seed=1, avg=size)


def login(port):
    return compare_proto.Pop3(port, "etudiant", "Etudiant1")


def list_session(port):
    t0 = time.monotonic()
    c = login(port)
    c.line(b"STAT")
    c.multi(b"LIST")
    c.multi(b"UIDL")
    c.line(b"QUIT")
    c.close()
    return time.monotonic() - t0


def pop3d_pid(spool):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if not argv[0].endswith(b"pop3d") or spool.encode() not in argv:
                continue
            return int(pid)
        except OSError:
            continue
    raise RuntimeError("no pop3d process for %s" % spool)


def vmhwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmHWM:"):
                return int(l.split()[1])
    return -1


def cpu_s(pid):
    """User + system CPU seconds of process PID."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def build_client():
    d = os.environ.get("BENCH_DIR") or tempfile.gettempdir()
    src, exe = os.path.join(d, "pop3_retr_client.c"), os.path.join(d, "pop3_retr_client")
    with open(src, "w") as f:
        f.write(CLIENT_C)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-w", "-o", exe, src], check=True)
    return exe


def retr_all(port, count, spool, client, noop=False):
    """RETR 1..COUNT one by one (or as many NOOPs); (seconds, octets,
    VmHWM KiB, pop3d CPU s)."""
    p = subprocess.Popen([client, str(port), str(count)] + (["noop"] if noop else []),
                         stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "login":
        raise RuntimeError("client login failed")
    pid = pop3d_pid(spool)
    cpu0 = cpu_s(pid)
    p.stdin.write("x")
    p.stdin.flush()
    dt, octets = p.stdout.readline().split()
    cpu = cpu_s(pid) - cpu0
    rss = vmhwm_kib(pid)
    p.stdin.write("x")
    p.stdin.flush()
    if p.wait() != 0:
        raise RuntimeError("client failed")
    return float(dt), int(octets), rss, cpu


def bench(lab, port, count, size, client):
    path = lab.mbox("etudiant")
    t0 = time.monotonic()
    generate(path, count, size)
    if os.getuid() == 0:
        os.chown(path, lab.uid, lab.gid)
    mib = os.path.getsize(path) / 1048576
    gen = time.monotonic() - t0
    first = list_session(port)
    warm = statistics.median(list_session(port) for _ in range(5))
    dt, octets, rss, cpu = retr_all(port, count, lab.spool, client)
    rtt = retr_all(port, count, lab.spool, client, noop=True)[0]
    print("%dk messages of ~%d KiB, %.0f MiB (generated in %.1f s):"
          % (count // 1000, size // 1024, mib, gen))
    print("  login+STAT+LIST+UIDL+QUIT  first %.3f s, warm %.3f s" % (first, warm))
    print("  RETR all one by one        %.2f s, %.0f MB/s (%d msgs; pop3d CPU %.2f s,"
          " the rest: client and round trips)" % (dt, octets / dt / 1e6, count, cpu))
    print("  same-run baseline          %d NOOPs %.2f s: a round trip is %.0f us, a RETR %.0f us"
          % (count, rtt, rtt / count * 1e6, dt / count * 1e6))
    print("  peak RSS of pop3d          %.1f MiB" % (rss / 1024.0))
    os.unlink(path)
    return {"first": first, "warm": warm, "retr": dt, "rss": rss, "mib": mib}


def main():
    base = os.environ.get("BENCH_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    lab = P.make_lab(tmpdir=tempfile.mkdtemp(prefix="pop3d-", dir=base))
    port = lab.start("pop3d")
    client = build_client()
    sets = [tuple(int(v) for v in x.split("x")) for x in
            os.environ.get("BENCH_POP3D_SETS", "10000x10,100000x10,10000x100").split(",")]
    res = {}
    for count, kib in sets:
        res[(count, kib)] = bench(lab, port, count, kib * 1024, client)
    lab.stop()
    shutil.rmtree(lab.dir, ignore_errors=True)
    r = res.get((10000, 10))
    if r:
        print("reference, 10k mailbox (same kind of machine, not this run):")
        print("  popa3d 0.19:  login+STAT+LIST+UIDL %.2f s, RETR all %.0f s"
              % (REF["popa3d"]["list"], REF["popa3d"]["retr"]))
        print("  Dovecot:      cold %.2f s, warm %.3f s, RETR all %.2f s"
              % (REF["dovecot"]["list_cold"], REF["dovecot"]["list"], REF["dovecot"]["retr"]))
        print("  ours vs popa3d: list %.1fx faster (goal 5x), RETR all %.0fx faster"
              % (REF["popa3d"]["list"] / r["warm"], REF["popa3d"]["retr"] / r["retr"]))
        print("  ours vs Dovecot warm: list %.1fx (goal >1x), RETR all %.1fx (goal 4x)"
              % (REF["dovecot"]["list"] / r["warm"], REF["dovecot"]["retr"] / r["retr"]))
    print("peak RSS by mailbox: " + ", ".join(
        "%dk x %d KiB (%.0f MiB): %.1f MiB" % (c // 1000, k, v["mib"], v["rss"] / 1024.0)
        for (c, k), v in res.items()))

if __name__ == "__main__":
    main()
