"""compare_smtp - deliveries per second of our smtpd and of Postfix 3.7
("Local only": smtpd + cleanup + qmgr + local(8), which fsyncs the queue file
before its 250 and the mailbox at delivery), measured in the same run with
the same load generator, Postfix's smtp-source (one connection per message,
4 KiB messages; 1 session, and 8 concurrent sessions each to its own
recipient, system accounts whose mailboxes are in a root:mail 2775 spool
as /var/mail is).

Postfix runs as a private instance: its own config_directory (main.cf
written here, master.cf the packaged one with the smtp listener moved to a
free 127.0.0.1 port and chroot off), queue, data and spool directories under
the work directory, started with "postfix -c DIR start" and stopped with
"postfix -c DIR stop"; the system instance (/etc/postfix) is never started.

A delivery counts when the message is in the recipient's mbox: the clock
runs from the first connection to the moment the mbox holds every message
(for Postfix the queue drains after the last 250; for ours the 250 already
means "in the mailbox").

Run alone (root; bench_compare.py imports it for its SMTP section):

  python3 bench/compare_smtp.py

measures ours (smtpd under the lab's launcher, started as root,
privilege-separated, 2775 root:mail spool) and Postfix with the same
smtp-source runs, taking turns, ROUNDS times; prints each run and the
median.  Environment: MS_OUT (which smtpd), COMPARE_SMTP_MESSAGES (2000),
COMPARE_SMTP_ROUNDS (3), COMPARE_SMTPD_OTHER (path of a second smtpd
binary measured in the same turns, e.g. the build before a change),
BENCH_DIR.  The 8 recipients are nologin system accounts mscsmtp0..7,
created for the run and removed after.
"""
import os
import shutil
import signal
import subprocess
import time

SMTP_SOURCE = "/usr/sbin/smtp-source"
DRAIN_TIMEOUT = 300.0

MAIN_CF = """# bench_compare.py: a private Postfix ("Local only") on a loopback port
compatibility_level = 3.6
queue_directory = {w}/queue
data_directory = {w}/data
meta_directory = /etc/postfix
myhostname = mail.test
mydomain = mail.test
myorigin = mail.test
mydestination = mail.test, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
mail_spool_directory = {w}/spool
alias_maps =
alias_database =
local_recipient_maps = unix:passwd.byname
biff = no
syslog_name = postfix-bench
maillog_file_prefixes = {w}
maillog_file = {w}/maillog
smtpd_banner = $myhostname ESMTP
"""


def _master_cf(port):
    """The packaged master.cf, the smtp listener on 127.0.0.1:PORT, no
    chroot (a private instance has no populated chroot)."""
    out = []
    with open("/etc/postfix/master.cf") as f:
        for ln in f:
            fl = ln.split()
            if ln.startswith("#") or ln[:1].isspace() or len(fl) < 8:
                out.append(ln)
                continue
            if fl[0] == "smtp" and fl[1] == "inet":
                fl[0] = "127.0.0.1:%d" % port
            fl[4] = "n"
            out.append("\t".join(fl[:8]) + (" " + " ".join(fl[8:]) if fl[8:] else "") + "\n")
    return "".join(out)


def spool_like_var_mail(path):
    """root:mail 2775, as Debian's /var/mail."""
    import grp
    os.chown(path, 0, grp.getgrnam("mail").gr_gid)
    os.chmod(path, 0o2775)


def _tty_run(argv):
    """Postfix's commands print their errors only on a terminal (else to
    syslog): run under script(1) to see them."""
    return subprocess.run(["script", "-qec", " ".join(argv), "/dev/null"],
                          capture_output=True, text=True)


class Postfix:
    def __init__(self, work, port):
        self.w = os.path.join(work, "postfix")
        shutil.rmtree(self.w, ignore_errors=True)
        for sub in ("etc", "queue", "data", "spool"):
            os.makedirs(os.path.join(self.w, sub))
        spool_like_var_mail(os.path.join(self.w, "spool"))
        import pwd
        os.chown(os.path.join(self.w, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        self.port = port
        self.etc = os.path.join(self.w, "etc")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(w=self.w))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(_master_cf(port))
        self.started = False

    def mbox(self, user):
        return os.path.join(self.w, "spool", user)

    def start(self):
        r = _tty_run(["postfix", "-c", self.etc, "start"])
        self.started = True
        if r.returncode != 0:
            raise RuntimeError("postfix start: " + (r.stdout + r.stderr).strip()[-300:])

    def master_pid(self):
        try:
            with open(os.path.join(self.w, "queue", "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        _tty_run(["postfix", "-c", self.etc, "stop"])
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.1)
        if pid and os.path.exists("/proc/%d" % pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.started = False

    def log_tail(self):
        try:
            with open(os.path.join(self.w, "maillog"), errors="replace") as f:
                return f.read()[-400:]
        except OSError:
            return ""


class MboxCounter:
    """Counts messages ("From " lines) of a growing mbox incrementally."""

    def __init__(self, path):
        self.path, self.off, self.n, self.tail = path, 0, 0, b"\n"

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return 0
        if data:
            buf = self.tail + data
            self.n += buf.count(b"\nFrom ")
            self.off += len(data)
            self.tail = buf[-5:]
        return self.n


def deliveries(port, targets, size):
    """TARGETS: [(recipient, its mbox, messages)], one smtp-source process
    (one session, one connection per message) each, all at once; returns
    (delivered per second, seconds to the last 250)."""
    counters = []
    for rcpt, mbox, n in targets:
        try:
            os.unlink(mbox)
        except FileNotFoundError:
            pass
        counters.append((MboxCounter(mbox), n))
    t0 = time.monotonic()
    procs = [subprocess.Popen([SMTP_SOURCE, "-l", str(size), "-m", str(n), "-s", "1",
                               "-f", "bench@example.org", "-t", rcpt, "-M", "lab.test",
                               "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for rcpt, _, n in targets]
    errors = []
    for p in procs:
        out = p.communicate(timeout=DRAIN_TIMEOUT)[0]
        if p.returncode != 0:
            errors.append(out.strip()[-300:])
    sent = time.monotonic() - t0
    if errors:
        raise RuntimeError("smtp-source: " + errors[0])
    deadline = t0 + DRAIN_TIMEOUT
    while any(c.count() < n for c, n in counters):
        if time.monotonic() > deadline:
            raise RuntimeError("only %d of %d messages delivered after %.0f s"
                               % (sum(c.count() for c, _ in counters),
                                  sum(n for _, n in counters), DRAIN_TIMEOUT))
        time.sleep(0.005)
    return sum(n for _, n in counters) / (time.monotonic() - t0), sent


def _users(n):
    """N nologin system accounts: [(name, uid, gid)], and those we made."""
    import pwd
    out, made = [], []
    for i in range(n):
        name = "mscsmtp%d" % i
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            made.append(name)
            pw = pwd.getpwnam(name)
        out.append((name, pw.pw_uid, pw.pw_gid))
    return out, made


def main():
    import statistics
    import sys
    sys.dont_write_bytecode = True
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), "tests", "e2e"))
    import mslib
    if os.getuid() != 0:
        mslib.skip("compare_smtp: needs root (system accounts, Postfix, privsep)")
    for prog in (SMTP_SOURCE, "/usr/sbin/postfix"):
        if not os.access(prog, os.X_OK):
            mslib.skip("compare_smtp: %s is not installed" % prog)
    total = int(os.environ.get("COMPARE_SMTP_MESSAGES", "2000"))
    rounds = int(os.environ.get("COMPARE_SMTP_ROUNDS", "3"))
    size = 4096
    ours = {"ours": os.path.join(mslib.outdir(), "smtpd", "smtpd")}
    if os.environ.get("COMPARE_SMTPD_OTHER"):
        ours["other"] = os.path.abspath(os.environ["COMPARE_SMTPD_OTHER"])
    base = os.path.abspath(os.environ.get("BENCH_DIR") or
                           os.path.join(mslib.outdir(), "build", "bench"))
    work = os.path.join(base, "compare-smtp")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    users, made = _users(8)
    names = [u[0] for u in users]
    lab = pf = None
    servers = []
    try:
        shutil.rmtree(os.path.join(work, "ours"), ignore_errors=True)
        lab = mslib.Lab(tmpdir=os.path.join(work, "ours"), user=None)
        os.chmod(lab.dir, 0o711)
        spool_like_var_mail(lab.spool)
        for n, uid, gid in users:
            lab.add_user(n, "x", uid, gid)
        for label, path in ours.items():
            servers.append(("%s (%s)" % (label, path), lab.start(path), lab.mbox))
        pf = Postfix(work, mslib.free_port())
        pf.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not mslib._listening(pf.port):
            time.sleep(0.05)
        servers.append(("Postfix", pf.port, pf.mbox))
        print("compare_smtp: %d messages of %d bytes, smtp-source, one connection "
              "each; %d rounds, servers taking turns; launcher %s; load %s"
              % (total, size, rounds, lab.launcher, open("/proc/loadavg").read().split()[0]))
        res = {(name, s): [] for name, _, _ in servers for s in (1, 8)}
        for r in range(rounds):
            for s in (1, 8):
                for name, port, mbox in servers if r % 2 == 0 else servers[::-1]:
                    if s == 1:
                        targets = [(names[0] + "@mail.test", mbox(names[0]), total)]
                    else:
                        targets = [(n + "@mail.test", mbox(n), total // 8) for n in names]
                    rate, _ = deliveries(port, targets, size)
                    res[(name, s)].append(rate)
                    print("  round %d, %d session%s: %-60s %6.0f/s"
                          % (r + 1, s, "s" if s > 1 else " ", name[-60:], rate))
        pfm = {s: statistics.median(res[("Postfix", s)]) for s in (1, 8)}
        print("medians (same run):")
        for name, _, _ in servers:
            m1, m8 = (statistics.median(res[(name, s)]) for s in (1, 8))
            print("  %-60s 1 session %6.0f/s (x%.2f Postfix), 8 sessions %6.0f/s "
                  "(x%.2f)" % (name[-60:], m1, m1 / pfm[1], m8, m8 / pfm[8]))
        print("  load average at the end: %s" % open("/proc/loadavg").read().split()[0])
    finally:
        if lab is not None:
            lab.stop()
        if pf is not None:
            pf.stop()
        for n in made:
            subprocess.run(["userdel", n], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
