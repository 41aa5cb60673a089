"""t_pop3d - pop3d end to end on a real TCP port (xinetd or
systemd-socket-activate through mslib): the lab handout's session verbatim,
Python poplib, curl pop3://, UIDL stability, DELE semantics, [IN-USE], bad
input, and (as root) privilege separation: a chrooted unprivileged child
before login, the user's uid after.

Also imported by the other t_pop3d_*.py tests for its lab helpers.
"""
import os
import poplib
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402

# The message of the lab handout: 419 octets served with CRLF.
SEED = ("Return-Path: <mbappe@fft.fr>\n"
        "X-Original-To: etudiant@debian-11-GNS3.lan\n"
        "Delivered-To: etudiant@debian-11-GNS3.lan\n"
        "Received: from Bonjour?je?suis?un?etudiant (unknown [192.168.56.131])\n"
        "\tby debian-11-GNS3.lan (Postfix) with SMTP id CFF2140BF8\n"
        "\tfor <etudiant@debian-11-GNS3.lan>; Mon, 16 Jan 2023 13:09:16 +0100 (CET)\n"
        "\n"
        "Cher \u00e9tudiant que vous \u00eates bon, si bon que vous pouvez aller "
        "chercher un caf\u00e9 pour le prof\n").encode()

# The system account that owns the lab mailboxes when we run as root, so
# that the root pop3d must separate privileges and become it.
OWNER = "mstest_pop3v"


def msg(n, body_lines=3, extra=b""):
    """A small distinct message (LF line ends)."""
    body = b"".join(b"line %d of message %d\n" % (i, n) for i in range(body_lines))
    return (b"From: sender%d@example.org\nSubject: message %d\n%s\n" % (n, n, extra)) + body


fail = mslib.fail


check = mslib.check


def _ensure_owner():
    return mslib.system_account(OWNER)


def make_lab(launcher=None, tmpdir=None):
    """A lab whose user etudiant/Etudiant1 owns the spool.  As root the
    passwd-file maps etudiant to OWNER's uid (virtual user) and pop3d runs
    as root, so the privilege separation is what the test goes through."""
    mslib.binary("pop3d")
    lab = mslib.Lab(tmpdir=tmpdir, user=None, launcher=launcher)
    if os.getuid() == 0:
        lab.uid, lab.gid = _ensure_owner()
        os.chmod(lab.dir, 0o711)
        os.chown(lab.spool, lab.uid, lab.gid)
    else:
        lab.uid, lab.gid = os.getuid(), os.getgid()
    lab.add_user("etudiant", "Etudiant1",
                 lab.uid if os.getuid() == 0 else None, lab.gid)
    return lab


write_mbox = mslib.write_mbox
served = mslib.served


def login(lab, port):
    c = lab.connect(port)
    check(c.readline().startswith("+OK"), "no greeting")
    check(c.cmd("USER etudiant").startswith("+OK"), "USER refused")
    r = c.cmd("PASS Etudiant1")
    check(r.startswith("+OK"), "PASS refused: %r" % r)
    return c


def multiline(c, first):
    c.send(first)
    lines = c.read_until(lambda l: l == ".")
    check(lines[0].startswith("+OK"), "%s: %r" % (first, lines[0]))
    return lines[1:-1]


def uidl(lab, port):
    c = login(lab, port)
    lines = multiline(c, "UIDL")
    check(c.cmd("QUIT").startswith("+OK"), "QUIT")
    c.close()
    return [l.split(" ", 1)[1] for l in lines]


def pop3d_procs(lab):
    """(pid, uid, root dir) of the pop3d processes serving this lab."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if not argv[0].endswith(b"pop3d") or lab.spool.encode() not in argv:
                continue
            with open("/proc/%s/status" % pid) as f:
                uid = [int(l.split()[1]) for l in f if l.startswith("Uid:")][0]
            root = os.readlink("/proc/%s/root" % pid)
        except (OSError, IndexError):
            continue
        out.append((int(pid), uid, root))
    return out


# ---- the scenarios ----------------------------------------------------------

def t_seed_session(lab, port):
    write_mbox(lab, [SEED])
    c = lab.connect(port)
    check(c.readline().startswith("+OK"), "greeting")
    check(c.cmd("user etudiant").startswith("+OK"), "user")
    check(c.cmd("pass Etudiant1").startswith("+OK"), "pass")
    r = c.cmd("stat")
    check(r == "+OK 1 419", "stat: %r" % r)
    c.send("list")
    lines = c.read_until(lambda l: l == ".")
    check(lines[0].startswith("+OK") and lines[1:] == ["1 419", "."], "list: %r" % lines)
    c.send("top 1 1")
    lines = c.read_until(lambda l: l == ".")
    want = SEED.decode("latin-1").split("\n")[:8] + ["."]
    check(lines[0].startswith("+OK") and lines[1:] == want, "top 1 1: %r" % lines)
    check(c.cmd("QUIT").startswith("+OK"), "QUIT")
    check(c.closed(), "not closed after QUIT")


def t_poplib(lab, port):
    msgs = [SEED, msg(2), msg(3, extra=b"X-Dots: yes\n") + b".starts with a dot\n..two\n.\n"]
    write_mbox(lab, msgs)
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    caps = p.capa()
    for k in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING"):
        check(k in caps, "CAPA lacks %s: %r" % (k, caps))
    p.user("etudiant")
    p.pass_("Etudiant1")
    count, size = p.stat()
    check(count == 3 and size == sum(len(served(m)) for m in msgs), "stat %r" % ((count, size),))
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    for i, m in enumerate(msgs):
        resp, lines, octets = p.retr(i + 1)
        data = b"".join(l + b"\r\n" for l in lines)
        check(data == served(m), "RETR %d differs: %r" % (i + 1, data[:200]))
        check(len(data) == sizes[i], "RETR %d: %d octets, LIST said %d" % (i + 1, len(data), sizes[i]))
    resp, lines, _ = p.top(2, 1)
    check(lines[-2:] == [b"", b"line 0 of message 2"], "top: %r" % lines)
    resp, lines, _ = p.uidl()
    check(len(set(l.split()[1] for l in lines)) == 3, "uidl: %r" % lines)
    p.dele(1)
    check(p.stat()[0] == 2, "stat after dele")
    p.rset()
    check(p.stat()[0] == 3, "stat after rset")
    p.quit()


def t_curl(lab, port):
    if not shutil.which("curl"):
        print("note: curl not installed, curl scenario skipped")
        return
    msgs = [SEED, msg(2)]
    write_mbox(lab, msgs)
    url = "pop3://127.0.0.1:%d/" % port
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", "etudiant:Etudiant1", url],
                       capture_output=True)
    check(r.returncode == 0, "curl LIST: %r" % r.stderr)
    check(r.stdout == b"1 419\r\n2 %d\r\n" % len(served(msgs[1])), "curl LIST: %r" % r.stdout)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", "etudiant:Etudiant1", url + "1"],
                       capture_output=True)
    check(r.returncode == 0 and r.stdout == served(SEED), "curl RETR: %r %r" % (r.stderr, r.stdout[:100]))
    # curl logs in with AUTH PLAIN when CAPA offers SASL PLAIN.
    r = subprocess.run(["curl", "-sS", "-v", "--max-time", "20", "--login-options", "AUTH=PLAIN",
                        "-u", "etudiant:Etudiant1", url + "2"], capture_output=True)
    check(r.returncode == 0 and r.stdout == served(msgs[1]), "curl AUTH PLAIN: %r" % r.stderr[-300:])
    check(b"AUTH PLAIN" in r.stderr, "curl did not use AUTH PLAIN")


def t_uidl_stable(lab, port):
    write_mbox(lab, [msg(1), msg(2), msg(3), msg(4)])
    a = uidl(lab, port)
    b = uidl(lab, port)
    check(len(a) == 4 and len(set(a)) == 4, "UIDL: %r" % a)
    check(a == b, "UIDL changed between sessions: %r %r" % (a, b))
    check(all(len(u) == 16 and all(ch in "0123456789ABCDEF" for ch in u) for u in a),
          "UIDL format: %r" % a)
    c = login(lab, port)
    check(c.cmd("DELE 2").startswith("+OK"), "DELE")
    check(c.cmd("QUIT").startswith("+OK"), "QUIT")
    c.close()
    d = uidl(lab, port)
    check(d == [a[0], a[2], a[3]], "UIDL after deleting message 2: %r vs %r" % (d, a))
    data = open(lab.mbox("etudiant"), "rb").read()
    check(b"X-UID:" in data and b"X-IMAPbase:" in data, "UIDs not persisted in the mbox")


def t_dele_semantics(lab, port):
    write_mbox(lab, [msg(1), msg(2), msg(3)])
    c = login(lab, port)
    check(c.cmd("DELE 1").startswith("+OK"), "DELE 1")
    check(c.cmd("DELE 3").startswith("+OK"), "DELE 3")
    c.close()   # dropped: nothing deleted
    time.sleep(0.2)
    c = login(lab, port)
    check(c.cmd("STAT").startswith("+OK 3 "), "dropped connection deleted something")
    check(c.cmd("DELE 1").startswith("+OK"), "DELE 1")
    check(c.cmd("DELE 3").startswith("+OK"), "DELE 3")
    r = c.cmd("QUIT")
    check(r == "+OK bye: 2 deleted, 1 left", "QUIT: %r" % r)
    c.close()
    data = open(lab.mbox("etudiant"), "rb").read()
    check(b"message 2" in data and b"message 1\n" not in data and b"message 3\n" not in data,
          "mbox after QUIT: %r" % data)
    c = login(lab, port)
    check(c.cmd("STAT").startswith("+OK 1 "), "STAT after QUIT")
    c.cmd("QUIT")


def t_in_use(lab, port):
    write_mbox(lab, [msg(1)])
    a = login(lab, port)
    b = lab.connect(port)
    b.readline()
    b.cmd("USER etudiant")
    r = b.cmd("PASS Etudiant1")
    check(r.startswith("-ERR [IN-USE]"), "second session: %r" % r)
    check(b.closed(), "second session not closed")
    check(a.cmd("QUIT").startswith("+OK"), "first QUIT")
    a.close()
    time.sleep(0.1)
    b = login(lab, port)
    check(b.cmd("QUIT").startswith("+OK"), "after the first ended")


def t_bad_input(lab, port):
    write_mbox(lab, [msg(1)])
    c = lab.connect(port)
    c.readline()
    c.send_raw(b"USER etudiant\0evil\r\n")
    check(c.readline().startswith("-ERR"), "NUL line accepted")
    check(c.cmd("PASS Etudiant1").startswith("-ERR give USER"), "USER with a NUL was taken")
    c.send_raw(b"X" * (10 * 1024 * 1024) + b"\r\n")
    check(c.readline().startswith("-ERR line too long"), "10 MB line")
    check(c.cmd("STAT").startswith("-ERR log in first: USER name, then PASS password"), "STAT before login")
    check(c.cmd("AUTH PLAIN ####").startswith("-ERR"), "AUTH bad base64")
    check(c.cmd("USER etudiant").startswith("+OK"), "USER")
    check(c.cmd("PASS Etudiant1").startswith("+OK"), "PASS")
    check(c.cmd("RETR 99999999999999999999").startswith("-ERR no message"), "RETR huge")
    check(c.cmd("TOP 1 -1").startswith("-ERR usage: TOP"), "TOP 1 -1")
    check(c.cmd("NOOP") == "+OK", "out of sync")
    c.cmd("QUIT")


def t_privsep(lab, port):
    if os.getuid() != 0:
        print("note: not root, privilege separation not checked")
        return
    write_mbox(lab, [msg(1)])
    c = lab.connect(port)
    c.readline()
    time.sleep(0.2)
    procs = pop3d_procs(lab)
    check(len(procs) == 2, "before login, want root parent + child: %r" % procs)
    child = [p for p in procs if p[1] != 0]
    check(len(child) == 1 and child[0][2] != "/", "pre-auth child not chrooted/unprivileged: %r" % procs)
    check(c.cmd("USER etudiant").startswith("+OK") and c.cmd("PASS Etudiant1").startswith("+OK"),
          "login")
    time.sleep(0.2)
    procs = pop3d_procs(lab)
    check(len(procs) == 1 and procs[0][1] == lab.uid, "after login, want one process as uid %d: %r"
          % (lab.uid, procs))
    c.cmd("QUIT")


def refuses_without_p():
    """Started as an ordinary user without -p, pop3d refuses with a clear
    message (PAM needs root)."""
    argv = [mslib.binary("pop3d"), "-s", "/nonexistent"]
    if os.getuid() == 0:
        argv = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] + argv
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check(r.returncode == 1, "non-root without -p: exit %d" % r.returncode)
    check(r.stdout.startswith(b"-ERR [SYS/PERM]"), "non-root without -p: %r" % r.stdout)
    check(b"without -p" in r.stderr, "no clear message on stderr: %r" % r.stderr)
    r = subprocess.run([mslib.binary("pop3d"), "-p", "/nonexistent/passwd", "-s", "/tmp"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check(r.returncode == 1 and r.stdout.startswith(b"-ERR [SYS/PERM]")
          and b"/nonexistent/passwd" in r.stderr, "missing passwd-file: %r" % (r,))
    # -t is bounded by the 4-hour session cap (SESSION_MAX_SEC): a longer
    # autologout could never happen, so it is refused and the bound taught
    r = subprocess.run([mslib.binary("pop3d"), "-t", "14401", "-p", "/nonexistent"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check(r.returncode == 1 and b"1 to 14400" in r.stderr, "-t 14401 accepted: %r" % (r,))


SCENARIOS = [t_seed_session, t_poplib, t_curl, t_uidl_stable, t_dele_semantics,
             t_in_use, t_bad_input, t_privsep]


def main():
    refuses_without_p()
    # Both launchers the suite ships for: xinetd and systemd socket
    # activation (Accept=yes), when installed.
    launchers = [l for l, tool in (("xinetd", "xinetd"), ("ssa", "systemd-socket-activate"))
                 if shutil.which(tool)]
    if not launchers:
        mslib.skip("neither xinetd nor systemd-socket-activate is installed")
    for launcher in launchers:
        lab = make_lab(launcher=launcher)
        port = lab.start("pop3d", ["-t", "30"])
        for t in SCENARIOS:
            print("-- %s (%s)" % (t.__name__, launcher))
            sys.stdout.flush()
            t(lab, port)
        lab.stop()
    print("ok: %d scenarios under %s" % (len(SCENARIOS), " and ".join(launchers)))


if __name__ == "__main__":
    main()
