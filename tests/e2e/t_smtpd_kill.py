"""t_smtpd_kill - kill -9 smtpd's delivery process (the one that has become
the recipient and appends to its mailbox) at random points of a 9 MB
delivery, as installed: root, privilege-separated, under the lab's socket
launcher.  The root parent guards that process's dotlock (no guardian
process per delivery): after every kill the mailbox must hold only whole
messages, no USER.lock nor temporary lock file may remain, the client
must get a temporary failure (or 250 if the kill came after the append),
and the next message must be delivered at once.  Needs root."""
import os
import random
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
from t_smtpd_seed import add_user, make_lab  # noqa: E402

TRIALS = int(os.environ.get("SMTPD_KILL_TRIALS", "12"))
USER = "victim"
END = b"END-OF-BIG-MESSAGE"
BIG = 9 * 1000 * 1000      # under smtpd's 10240000-byte default limit


def big_message(n):
    line = b"x" * 78 + b"\r\n"
    head = (b"Subject: kill %d\r\nMessage-ID: <%d@kill.test>\r\n"
            b"Date: Mon, 16 Jan 2023 13:09:16 +0100\r\n\r\n" % (n, n))
    return head + line * ((BIG - len(head)) // len(line)) + END + b"\r\n"


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("Uid:"):
                return int(ln.split()[1])
    return -1


def delivery_pids(lab, port, owner_uid):
    """smtpd processes of this launcher running as the mailbox owner."""
    out = []
    for pid in mslib.descendants(lab._launches[port].proc.pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() != "smtpd":
                    continue
            if uid_of(pid) == owner_uid:
                out.append(pid)
        except OSError:
            continue
    return out


class Killer(threading.Thread):
    """Waits for the delivery process, lets it run DELAY seconds, kills it."""

    def __init__(self, lab, port, owner_uid, delay):
        super().__init__(daemon=True)
        self.args_ = (lab, port, owner_uid)
        self.delay = delay
        self.killed = None
        self.seen_for = None

    def run(self):
        lab, port, uid = self.args_
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = delivery_pids(lab, port, uid)
            if pids:
                t0 = time.monotonic()
                if self.delay is None:      # measure: how long it lives
                    while os.path.exists("/proc/%d/status" % pids[0]) and \
                            uid_of(pids[0]) == uid:
                        time.sleep(0.0005)
                    self.seen_for = time.monotonic() - t0
                    return
                time.sleep(self.delay)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed = pids[0]
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.0005)


def send(lab, port, n):
    """One message; the reply to the final dot."""
    with lab.connect(port, timeout=60) as c:
        mslib.check(c.readline().startswith("220"), "greeting")
        for line, want in (("HELO kill.test", "250"),
                           ("MAIL FROM:<k@kill.test>", "250"),
                           ("RCPT TO:<%s@%s>" % (USER, lab.host), "250"),
                           ("DATA", "354")):
            got = c.cmd(line)
            mslib.check(got.startswith(want), "%s: %r" % (line, got))
        c.send_raw(big_message(n) + b".\r\n")
        got = c.readline()
        c.cmd("QUIT")
    return got


def check_spool(lab, trial):
    # USER.lock, and its temporary file .USER.lock.PID (.USER.lock.spare,
    # the dotlock file kept between deliveries, is no lock)
    left = sorted(f for f in os.listdir(lab.spool) if USER + ".lock" in f and
                  f != "." + USER + ".lock.spare")
    mslib.check(not left, "trial %d: left in the spool: %r" % (trial, left))
    path = lab.mbox(USER)
    if not os.path.exists(path):
        return 0
    data = open(path, "rb").read()
    starts = len(re.findall(rb"(?:^|\n\n)From k@kill\.test ", data))
    ends = data.count(b"\n" + END + b"\n")
    mslib.check(starts == ends, "trial %d: %d messages begun, %d whole: a "
                "delivery was left half-written" % (trial, starts, ends))
    mslib.check(data == b"" or data.endswith(END + b"\n\n"),
                "trial %d: the mailbox ends in the middle of a message" % trial)
    return ends


def main():
    mslib.require_root()
    mslib.binary("smtpd")
    lab = make_lab(tmpdir=None)
    try:
        add_user(lab, USER)
        owner = lab.owner[0]
        port = lab.start("smtpd")
        # one whole delivery first: how long the delivery process lives
        k = Killer(lab, port, owner, None)
        k.start()
        got = send(lab, port, 0)
        k.join()
        mslib.check(got.startswith("250"), "first delivery: %r" % got)
        life = k.seen_for or 0.05
        have = check_spool(lab, 0)
        mslib.check(have == 1, "first delivery: %d messages" % have)
        rng = random.Random(os.getpid())
        killed = temp = late = 0
        for trial in range(1, TRIALS + 1):
            k = Killer(lab, port, owner, rng.uniform(0, life))
            k.start()
            got = send(lab, port, trial)
            k.join()
            now = check_spool(lab, trial)
            if k.killed is not None:
                killed += 1
            if got.startswith("250"):
                mslib.check(now == have + 1, "trial %d: 250 but %d messages, "
                            "had %d" % (trial, now, have))
                late += 1
            else:
                mslib.check(got.startswith("451 4.3.0"), "trial %d: reply %r"
                            % (trial, got))
                mslib.check(now in (have, have + 1), "trial %d: %d messages, "
                            "had %d" % (trial, now, have))
                temp += 1
            have = now
            if have >= 4:       # stay far below the mailbox size cap
                with open(lab.mbox(USER), "r+b") as f:
                    f.truncate(0)
                have = 0
        mslib.check(killed > 0, "no delivery process was ever killed")
        # the mailbox is not left locked: the next delivery goes through
        t0 = time.monotonic()
        got = send(lab, port, TRIALS + 1)
        mslib.check(got.startswith("250"), "after the kills: %r" % got)
        mslib.check(time.monotonic() - t0 < 10, "the next delivery waited "
                    "for a lock")
        mslib.check(check_spool(lab, TRIALS + 1) == have + 1, "last delivery")
        print("ok: %d delivery processes killed -9 (life %.0f ms): %d got 451, "
              "%d got 250; only whole messages, no lock left"
              % (killed, life * 1000, temp, late))
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
