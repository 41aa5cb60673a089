"""bench_smtpd - smtpd deliveries per second and exec-to-greeting latency,
through the lab's socket launcher (tests/e2e/mslib.py: xinetd, or
systemd-socket-activate), as the service is installed: started as root,
privilege-separated, one process per connection, every message fsync()ed
before its 250.

  deliveries/s, 1 and 8 concurrent clients, 2000 messages of 4 KiB, one
  connection per message (EHLO, MAIL, RCPT, DATA pipelined as RFC 2920
  allows, QUIT); each client writes to its own mailbox
  exec-to-greeting: connect() to the 220 line, median and p90 of 300
  CPU per delivery: user + system time of every smtpd process, which the
  load of a shared machine distorts less than the rates
  the same rates in lab mode (smtpd run as an ordinary user)

The spool is 2775 root:mail like /var/mail and the recipients u0..u7 are
passwd-file users mapped to an unprivileged account (tests/e2e/
t_smtpd_seed.make_lab), so each copy is written by a process that has
become that account with group mail, as in production.

The baselines measured in the same run: bare append+fsync of 4 KiB in
the same directory (1 and 8 writers), the ceiling the disk sets on any
durable delivery; the launcher itself serving /bin/echo (connect to its
first line), what any inetd-style server pays before its first
instruction; and the FLOOR of one exec per connection: bench/smtp_floor.c,
a program that only answers the same pipelined session with fixed
replies, built dynamic and static, under the same launcher, without
delivering and with an append+fsync of the message before its 250 (no
privileges, no lock, no checks: what no real server can beat with one
exec per connection on this machine).  Machine CPU per message: busy time
of the whole machine (/proc/stat, clients and launcher included) over the
8-client run, divided by the messages.  Postfix 3.7 was not installed for a
same-run comparison (it would replace the system MTA); its figures on
this kind of 2-core machine, measured beforehand, are printed beside
ours: 540 delivered/s with 1 client, 640-790 with 8.

Environment: BENCH_DIR (data; default build/bench), BENCH_MESSAGES (2000),
BENCH_SIZE (4096), BENCH_FLOOR=0 skips the floor runs, CC (cc)."""
import multiprocessing
import os
import pwd
import socket
import subprocess
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import mslib  # noqa: E402
from t_smtpd_seed import add_user, make_lab  # noqa: E402

POSTFIX_1 = 540
POSTFIX_8 = "640-790"
DOT_N = 50                 # messages per final-dot latency measurement


def body(size, n):
    head = ("From: bench <bench@example.org>\r\nTo: u@mail.test\r\n"
            "Subject: bench %d\r\nDate: Mon, 16 Jan 2023 13:09:16 +0100\r\n"
            "Message-ID: <bench.%d@example.org>\r\n\r\n" % (n, n)).encode()
    line = b"x" * 76 + b"\r\n"
    out = head
    while len(out) + len(line) <= size:
        out += line
    return out + b"y" * (size - len(out) - 2) + b"\r\n"


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        l, self.buf = self.buf.split(b"\n", 1)
        return l

    def reply(self):
        while True:
            l = self.line()
            if l[3:4] != b"-":
                return l

    def close(self):
        self.s.close()


def send_one(port, rcpt, msg):
    c = Client(port)
    try:
        if not c.reply().startswith(b"220"):
            raise RuntimeError("no greeting")
        c.s.sendall(b"EHLO bench.example\r\n")
        if not c.reply().startswith(b"250"):
            raise RuntimeError("EHLO refused")
        c.s.sendall(b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                    % rcpt.encode())
        for want in (b"250", b"250", b"354"):
            r = c.reply()
            if not r.startswith(want):
                raise RuntimeError("refused: %r" % r)
        c.s.sendall(msg + b".\r\nQUIT\r\n")
        r = c.reply()
        if not r.startswith(b"250"):
            raise RuntimeError("not delivered: %r" % r)
        c.reply()
    finally:
        c.close()


def _client(port, rcpt, n, size, seed, out):
    """One client process: N messages, one connection each."""
    msg = body(size, seed)
    try:
        for _ in range(n):
            send_one(port, rcpt, msg)
        out.put((None, os.times()))
    except Exception as e:  # noqa: BLE001 - reported by the parent
        out.put((repr(e), os.times()))


def deliveries(port, host, clients, total, size):
    """Messages per second with CLIENTS client processes (processes, not
    threads: the clients must not queue on Python's global lock) sharing
    TOTAL messages; also the clients' CPU seconds per message."""
    per = total // clients
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client,
                                     args=(port, "u%d@%s" % (i, host), per,
                                           size, i, out))
             for i in range(clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    dt = time.monotonic() - t0
    for p in procs:
        p.join()
    errors = [e for e, _ in results if e]
    if errors:
        raise RuntimeError("%d client(s) failed: %s" % (len(errors), errors[0]))
    cpu = sum(t.user + t.system for _, t in results)
    return per * clients / dt, cpu / (per * clients)


def child_cpu(lab, port):
    """CPU seconds (user + system) used so far by the servers the launcher
    started and reaped: a measure of our cost that the load of a shared
    machine does not distort as it distorts wall-clock rates."""
    pid = lab._launches[port].proc.pid
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[14]) + int(fields[15])) / os.sysconf("SC_CLK_TCK")


def disk_rate(directory, writers, n, size):
    """Appends of SIZE bytes with fsync per second, WRITERS files in
    parallel: the ceiling the disk puts on durable deliveries."""
    def worker(i):
        path = os.path.join(directory, "fsync-%d" % i)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        data = b"x" * size
        for _ in range(n // writers):
            os.write(fd, data)
            os.fsync(fd)
        os.close(fd)
        os.unlink(path)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(writers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n // writers * writers / (time.monotonic() - t0)


def dot_latency(port, rcpt, size, n, split):
    """Milliseconds from the final "." to the 250, median and p90 of N
    messages.  SPLIT: the client writes the body, then ".\r\n" by itself,
    as many do; with Nagle (on by default) that small segment waits for the
    ACK of the body, so a server that delays its ACK delays its own 250."""
    msg = body(size, 0)
    times = []
    for _ in range(n):
        c = Client(port)
        try:
            if not c.reply().startswith(b"220"):
                raise RuntimeError("no greeting")
            c.s.sendall(b"EHLO bench.example\r\nMAIL FROM:<bench@example.org>\r\n"
                        b"RCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
            for want in (b"250", b"250", b"250", b"354"):
                if not c.reply().startswith(want):
                    raise RuntimeError("refused before DATA")
            t0 = time.perf_counter()
            if split:
                c.s.sendall(msg)
                c.s.sendall(b".\r\n")
            else:
                c.s.sendall(msg + b".\r\n")
            if not c.reply().startswith(b"250"):
                raise RuntimeError("not delivered")
            times.append((time.perf_counter() - t0) * 1000)
            c.s.sendall(b"QUIT\r\n")
            c.reply()
        finally:
            c.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def machine_busy():
    """Seconds of CPU the whole machine has spent busy (not idle, not
    waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:]]
    return (sum(t) - t[3] - t[4]) / os.sysconf("SC_CLK_TCK")


def build_floor(base):
    """bench/smtp_floor.c, dynamic and static, into BASE: {kind: path}
    (static is left out when the libc cannot be linked statically)."""
    src = os.path.join(HERE, "smtp_floor.c")
    cc = os.environ.get("CC", "cc")
    out = {}
    for kind, extra in (("dynamic", []), ("static", ["-static"])):
        exe = os.path.join(base, "smtp_floor-" + kind)
        r = subprocess.run([cc, "-std=c11", "-O2", "-D_POSIX_C_SOURCE=200809L"] +
                           extra + ["-o", exe, src], capture_output=True)
        if r.returncode == 0:
            out[kind] = exe
    return out


def floor_rates(lab, base, total, size):
    """The floor: smtp_floor under the same launcher, without and with
    the append+fsync; [(label, rate 1 client, rate 8 clients)]."""
    rows = []
    n = min(total, 1000)
    for kind, exe in sorted(build_floor(base).items()):
        for durable in (False, True):
            box = os.path.join(lab.dir, "floor-%s.mbox" % kind)
            args = ["-f", box] if durable else []
            port = lab.start(exe, args, spool_args=False)
            send_one(port, "u0@" + lab.host, body(size, 0))
            r1, _ = deliveries(port, lab.host, 1, n, size)
            r8, _ = deliveries(port, lab.host, 8, n, size)
            lab.stop(port)
            rows.append(("%s, %s" % (kind, "append+fsync before 250" if durable
                                      else "no delivery"), r1, r8))
    return rows


def greeting_latency(port, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = Client(port)
        c.line()
        times.append((time.perf_counter() - t0) * 1000)
        c.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main():
    if os.getuid() != 0:
        mslib.skip("the benchmark runs smtpd as installed (root, privsep)")
    mslib.binary("smtpd")
    total = int(os.environ.get("BENCH_MESSAGES", "2000"))
    size = int(os.environ.get("BENCH_SIZE", "4096"))
    base = os.environ.get("BENCH_DIR") or os.path.join(mslib.outdir(), "build", "bench")
    os.makedirs(base, exist_ok=True)
    # as installed: "make install" creates the unprivileged user
    made_user = False
    try:
        pwd.getpwnam("mailsuite")
    except KeyError:
        made_user = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", "mailsuite"],
            capture_output=True).returncode == 0
    # the spool on a real disk (not tmpfs), so that fsync costs what it
    # costs; 2775 root:mail as /var/mail, the users virtual users with an
    # unprivileged uid (smtpd as root never writes a mailbox as root)
    lab = make_lab(tmpdir=os.path.join(base, "smtpd-lab-%d" % os.getpid()))
    lab._own_dir = True
    try:
        for i in range(8):
            add_user(lab, "u%d" % i)
        port = lab.start("smtpd")
        echo = lab.start("/bin/echo", ["220"], spool_args=False)
        print("smtpd bench: launcher %s, %d messages of %d bytes, one "
              "connection each, fsync before 250, spool %s"
              % (lab.launcher, total, size, lab.spool))
        send_one(port, "u0@" + lab.host, body(size, 0))     # warm up
        cpu0 = child_cpu(lab, port)
        r1, c1 = deliveries(port, lab.host, 1, total, size)
        busy0 = machine_busy()
        r8, c8 = deliveries(port, lab.host, 8, total, size)
        busy8 = (machine_busy() - busy0) / (total // 8 * 8)
        cpu = (child_cpu(lab, port) - cpu0) / (total + total // 8 * 8)
        e0 = child_cpu(lab, echo)
        m, p90 = greeting_latency(port, 300)
        bm, bp90 = greeting_latency(echo, 300)
        ecpu = (child_cpu(lab, echo) - e0) / 300
        dj, dj90 = dot_latency(port, "u1@" + lab.host, size, DOT_N, False)
        ds, ds90 = dot_latency(port, "u1@" + lab.host, size, DOT_N, True)
        d1 = disk_rate(lab.dir, 1, min(total, 500), size)
        d8 = disk_rate(lab.dir, 8, min(total, 500), size)
        print("  deliveries/s, 1 client : %7.0f   (Postfix 3.7 reference: %s; "
              "x%.1f)  baseline, bare append+fsync: %.0f/s"
              % (r1, POSTFIX_1, r1 / POSTFIX_1, d1))
        print("  deliveries/s, 8 clients: %7.0f   (Postfix 3.7 reference: %s)  "
              "baseline, 8 bare writers: %.0f/s" % (r8, POSTFIX_8, d8))
        print("  exec-to-greeting ms    : median %.2f, p90 %.2f   (baseline, "
              "the launcher running /bin/echo: median %.2f, p90 %.2f)"
              % (m, p90, bm, bp90))
        print("  final dot to 250, ms   : median %.2f, p90 %.2f with the "
              "body; median %.2f, p90 %.2f with \".\\r\\n\" written apart"
              % (dj, dj90, ds, ds90))
        print("  CPU per delivery (all smtpd processes, user+sys): %.2f ms   "
              "(baseline, /bin/echo per connection: %.2f ms)"
              % (cpu * 1000, ecpu * 1000))
        print("  CPU per message of the Python clients themselves: %.2f ms "
              "(1 client), %.2f ms (8)" % (c1 * 1000, c8 * 1000))
        print("  machine CPU per message, 8 clients (everything: clients, "
              "launcher, kernel, smtpd): %.2f ms of %d cores"
              % (busy8 * 1000, os.cpu_count() or 1))
        # the same in lab mode: an ordinary user, no privilege separation
        lab_port = lab.start("smtpd", as_user="nobody")
        l1, _ = deliveries(lab_port, lab.host, 1, total, size)
        l8, _ = deliveries(lab_port, lab.host, 8, total, size)
        print("  lab mode (run as nobody, no privsep): 1 client %.0f/s, "
              "8 clients %.0f/s" % (l1, l8))
        if os.environ.get("BENCH_FLOOR", "1") != "0":
            print("  the floor: smtp_floor (answers the session, nothing "
                  "else) under the same launcher:")
            for label, f1, f8 in floor_rates(lab, base, total, size):
                print("    %-38s 1 client %5.0f/s (%.2f ms/session), "
                      "8 clients %5.0f/s" % (label, f1, 1000 / f1, f8))
        print("  load average at the end: %s" % open("/proc/loadavg").read().split()[0])
        print("  note: the Postfix figures are reference numbers measured "
              "before, not in this run")
        n = sum(open(lab.mbox("u%d" % i), "rb").read().count(b"From bench@")
                for i in range(8))
        want = 1 + 2 * (total + total // 8 * 8) + 2 * DOT_N
        if n != want:
            raise RuntimeError("%d messages in the mailboxes, %d sent" % (n, want))
    finally:
        lab.stop()
        if made_user:
            subprocess.run(["userdel", "mailsuite"], capture_output=True)


if __name__ == "__main__":
    main()
