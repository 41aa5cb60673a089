#!/usr/bin/env python3
"""bench_imapd - imapd's login + SELECT and FETCH over whole mailboxes,
through the real binary behind the lab launcher (started as root,
privilege-separated), on generated mailboxes (bench/gen_mbox.py).

Measured, per mailbox:
  select1   connect + LOGIN + SELECT INBOX on the fresh file (first open:
            the index is built by one scan, one thread per core; new
            messages are claimed as \\Recent in memory only)
  after1    the first command after that SELECT, FETCH 1:* (FLAGS UID)
            (before the claim was made lazy, it waited for the "Status: O"
            rewrite that followed the SELECT reply)
  logout1   that session's LOGOUT: it writes the state, "Status: O" and the
            UIDs of new mail (for mail from smtpd, a rewrite of the file)
  select2   the same again (second open, median of 3; the file changed at
            logout1, so these scan again unless 2 s have passed since: then
            a session's close writes the index cache and the next reads it)
  fetch     FETCH 1:* (FLAGS UID RFC822.SIZE); each FETCH is timed on its
            first run and as the median of 3 repeats (Dovecot's cache is
            filled by the first run: its repeats are the "indexed" figure)
  fetchenv  FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)
  fetchbs   FETCH 1:* (ENVELOPE BODYSTRUCTURE)
  rss       peak RSS (VmHWM) of the session's process, read before LOGOUT
Baselines of the same run: `cat FILE > /dev/null` (reading the mailbox
once, page cache warm), the floor of any first open; and, when Dovecot is
installed (dovecot-imapd), Dovecot itself on a copy of the same mbox, on
another 127.0.0.1 port with a private configuration (first open builds its
index, second open uses it).  The brief's reference figures for Dovecot
(10k messages ~ 100 MiB) are printed too: login+SELECT 0.41 s first open,
0.054 s indexed; FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE) 0.70 s / 0.082 s.
BENCH_IMAPD_DOVECOT=0 leaves Dovecot out.

BENCH_IMAPD_SETS (default "10000x10,100000x10": messages x KiB mean) chooses
the mailboxes.
"""
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import compare_proto  # noqa: E402
import gen_mbox  # noqa: E402
import mslib  # noqa: E402
import t_imapd  # noqa: E402

REF = {"select": (0.41, 0.054), "fetchenv": (0.70, 0.082)}



def login_select(port):
    t0 = time.perf_counter()
    c = compare_proto.Imap(port)
    c.cmd("LOGIN etudiant Etudiant1")
    n, _ = c.cmd("SELECT INBOX")
    return time.perf_counter() - t0, c, n


def timed(c, text):
    t0 = time.perf_counter()
    n, _ = c.cmd(text)
    return time.perf_counter() - t0, n


DOVECOT_CONF = """base_dir = {d}/base
state_dir = {d}/base/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = mbox:{d}/home/mail:INBOX={d}/spool/%u
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_start(lab, src):
    """Dovecot on a copy of SRC; returns (port, stop function) or None."""
    if os.environ.get("BENCH_IMAPD_DOVECOT", "1") == "0" or os.getuid() != 0:
        return None
    exe = "/usr/sbin/dovecot"
    if not os.path.exists(exe):
        return None
    d = os.path.join(lab.dir, "dovecot")
    for sub in ("base", "spool", "home", "home/mail"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for sub in ("spool", "home", "home/mail"):
        os.chown(os.path.join(d, sub), lab.uid, lab.gid)
    subprocess.run(["cp", src, os.path.join(d, "spool", "etudiant")], check=True)
    os.chown(os.path.join(d, "spool", "etudiant"), lab.uid, lab.gid)
    with open(os.path.join(d, "users"), "w") as f:
        f.write("etudiant:{CRYPT}%s:%d:%d::%s/home\n" % (
            mslib.crypt_sha512("Etudiant1"), lab.uid, lab.gid, d))
    port = mslib.free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(DOVECOT_CONF.format(d=d, port=port))
    if subprocess.run([exe, "-c", conf]).returncode != 0:
        return None
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)

    def stop():
        subprocess.run([exe, "-c", conf, "stop"], stderr=subprocess.DEVNULL)
    return port, stop


def measure(port, count):
    """(first open, second open, fetch, fetchenv, fetchbs, first command
    after the first open, LOGOUT of that session) in seconds."""
    s1, c, _ = login_select(port)
    a1, _ = timed(c, "FETCH 1:* (FLAGS UID)")
    lo1, _ = timed(c, "LOGOUT")
    c.close()
    s2s = []
    for _ in range(3):
        s2, c, _ = login_select(port)
        s2s.append(s2)
        if len(s2s) < 3:
            c.cmd("LOGOUT")
            c.close()
    f1, n1 = timed_twice(c, "FETCH 1:* (FLAGS UID RFC822.SIZE)")
    f2, n2 = timed_twice(c, "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
    f3, n3 = timed_twice(c, "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    return (s1, statistics.median(s2s), f1, f2, f3, a1, lo1), c, (n1, n2, n3)


def timed_twice(c, text):
    """((first run, median of 3 more), count): Dovecot fills its cache
    on the first run (RFC822.SIZE, ENVELOPE), so the repeats are its
    "indexed" figure; we have no cache, and the repeats show the noise."""
    first, n = timed(c, text)
    again = statistics.median(timed(c, text)[0] for _ in range(3))
    return (first, again), n


def bench_set(count, kib):
    lab = t_imapd.make_lab()
    try:
        path = lab.mbox("etudiant")
        t0 = time.perf_counter()
        with open(path, "wb", buffering=1 << 20) as f:
            _, size = gen_mbox.generate(f, count=count, seed=11,
                                        avg=kib * 1024)
        os.chown(path, lab.uid, lab.gid)
        os.chmod(path, 0o600)
        gen = time.perf_counter() - t0
        port = lab.start("imapd")
        t0 = time.perf_counter()
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
        cat = time.perf_counter() - t0
        print("mailbox: %d messages, %.0f MiB (generated in %.1f s); "
              "baseline cat: %.3f s" % (count, size / 1048576, gen, cat))
        dv = dovecot_start(lab, path)
        (s1, s2, f1, f2, f3, a1, lo1), c, ns = measure(port, count)
        rss = t_imapd.session_hwm(lab)
        c.cmd("LOGOUT")
        c.close()
        if ns != (count, count, count):
            print("FAIL: FETCH answered %r of %d messages" % (ns, count))
            return False
        d = None
        if dv is not None:
            try:
                d, c, _ = measure(dv[0], count)
                c.cmd("LOGOUT")
                c.close()
            except (OSError, EOFError, RuntimeError) as e:
                print("  (Dovecot run failed: %s)" % e)
            finally:
                dv[1]()

        def beside(i):
            if not d:
                return ""
            if isinstance(d[i], tuple):
                return "   Dovecot this run %7.3f s / %7.3f s" % d[i]
            return "   Dovecot this run %7.3f s" % d[i]
        ref = count == 10000 and kib == 10
        print("  login+SELECT first open   %7.3f s%s%s" % (
            s1, beside(0), "   (brief: Dovecot first %.2f s, indexed "
            "%.3f s)" % REF["select"] if ref else ""))
        print("  then FETCH 1:* (FLAGS UID)  %7.3f s%s" % (a1, beside(5)))
        print("  then LOGOUT (state written) %7.3f s%s" % (lo1, beside(6)))
        print("  login+SELECT second open  %7.3f s%s" % (s2, beside(1)))
        print("  FETCH 1:* ..., first run / median of 3 repeats:")
        print("  FETCH 1:* (FLAGS UID RFC822.SIZE)           %7.3f s / %7.3f s%s"
              % (f1 + (beside(2),)))
        print("  FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)  %7.3f s / %7.3f s%s%s"
              % (f2 + (beside(3), "   (brief: Dovecot %.2f s / %.3f s)" %
                       REF["fetchenv"] if ref else "")))
        print("  FETCH 1:* (ENVELOPE BODYSTRUCTURE)          %7.3f s / %7.3f s%s"
              % (f3 + (beside(4),)))
        print("  peak RSS of the session   %7.1f MiB" % (rss / 1024.0))
        goal = d[1] if d else REF["select"][1]
        print("  goal: our first open <= Dovecot's indexed open (%.3f s): %s"
              % (goal, "met" if s1 <= goal else "NOT met (%.1fx)" %
                 (s1 / goal)))
        goal = d[3][1] if d else REF["fetchenv"][1]
        print("  goal: FETCH ... ENVELOPE (repeat) <= Dovecot's indexed "
              "(%.3f s): %s" % (goal, "met" if f2[1] <= goal else
                                "NOT met (%.2fx)" % (f2[1] / goal)))
        return True
    finally:
        lab.stop()


def main():
    mslib.binary("imapd")
    sets = os.environ.get("BENCH_IMAPD_SETS", "10000x10,100000x10")
    ok = True
    for spec in sets.split(","):
        count, kib = (int(x) for x in spec.split("x"))
        ok = bench_set(count, kib) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
