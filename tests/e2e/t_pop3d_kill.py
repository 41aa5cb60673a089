"""t_pop3d_kill - kill -9 pop3d during a QUIT that deletes every other
message of 2000, 30 times.  After each kill the next session (which
recovers any interrupted rewrite) must find either all 2000 messages or
exactly the 1000 kept ones, each intact, none twice, and no stale
USER.lock may remain."""
import hashlib
import os
import random
import re
import signal
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_pop3d as P  # noqa: E402

N = 2000
TRIALS = int(os.environ.get("POP3_KILL_TRIALS", "30"))


def message(n):
    body = b"".join(b"%d: %s\n" % (i, b"x" * (n % 70)) for i in range((n * 7) % 40 + 1))
    body += b"From the body, quoted by mboxrd\n"
    sig = hashlib.sha1(body).hexdigest().encode()
    return b"Message-Id: <%d@kill.test>\nX-Sum: %s\nSubject: kill %d\n\n" % (n, sig, n) + body


def check_mbox(lab, path):
    data = open(path, "rb").read()
    parts = re.split(rb"(?:^|\n\n)From [^\n]*\n", data)
    seen = {}
    for p in parts:
        if not p.strip():
            continue
        m = re.search(rb"Message-Id: <(\d+)@kill.test>", p)
        P.check(m is not None, "a message without its id: %r" % p[:200])
        n = int(m.group(1))
        P.check(n not in seen, "message %d duplicated" % n)
        head, _, body = p.partition(b"\n\n")
        body = body.rstrip(b"\n") + b"\n"
        body = re.sub(rb"^>(>*From )", rb"\1", body, flags=re.M)
        s = re.search(rb"X-Sum: ([0-9a-f]+)", head).group(1)
        P.check(hashlib.sha1(body).hexdigest().encode() == s, "message %d cut or altered" % n)
        seen[n] = True
    got = sorted(seen)
    allm = list(range(1, N + 1))
    kept = list(range(2, N + 1, 2))
    P.check(got in (allm, kept), "after kill: %d messages, not 2000 or the 1000 kept (first: %r)"
            % (len(got), got[:10]))
    return len(got)


def serving_pid(lab):
    for _ in range(100):
        procs = P.pop3d_procs(lab)
        if len(procs) == 1:
            return procs[0][0]
        time.sleep(0.01)
    P.fail("no single pop3d process: %r" % P.pop3d_procs(lab))


def main():
    lab = P.make_lab()
    port = lab.start("pop3d")
    path = lab.mbox("etudiant")
    msgs = [message(n) for n in range(1, N + 1)]
    dele = "".join("DELE %d\r\n" % i for i in range(1, N + 1, 2))
    # Measure one undisturbed QUIT to aim the kills.
    P.write_mbox(lab, msgs)
    c = P.login(lab, port)
    c.send_raw(dele)
    for _ in range(N // 2):
        c.readline()
    t0 = time.monotonic()
    P.check(c.cmd("QUIT").startswith("+OK bye: 1000 deleted"), "QUIT")
    quit_s = time.monotonic() - t0
    c.close()
    check_mbox(lab, path)
    outcomes = {N: 0, N // 2: 0}
    journal = os.path.join(lab.spool, ".etudiant.journal")
    interrupted = 0
    for trial in range(TRIALS):
        P.write_mbox(lab, msgs)
        c = P.login(lab, port)
        pid = serving_pid(lab)
        c.send_raw(dele)
        for _ in range(N // 2):
            c.readline()
        c.send("QUIT")
        time.sleep(random.uniform(0, quit_s * 1.2))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        c.close()
        time.sleep(0.05)
        interrupted += os.path.exists(journal)
        # The next session recovers an interrupted rewrite.
        c = P.login(lab, port)
        c.cmd("QUIT")
        c.close()
        outcomes[check_mbox(lab, path)] += 1
        for _ in range(50):
            if not os.path.exists(path + ".lock"):
                break
            time.sleep(0.02)
        P.check(not os.path.exists(path + ".lock"), "stale %s.lock after trial %d" % (path, trial))
    lab.stop()
    P.check(not os.path.exists(journal), "journal left after recovery")
    print("ok: %d kills during QUIT (undisturbed QUIT %.3f s): %d left all 2000, %d completed, "
          "%d left a journal to recover; nothing lost, duplicated or cut"
          % (TRIALS, quit_s, outcomes[N], outcomes[N // 2], interrupted))


if __name__ == "__main__":
    main()
