"""t_infra_launcher: the lab launcher (mslib.py) itself, with a trivial
inetd-style program standing in for a server, under each launcher that is
installed: arguments, the passwd file, free and distinct ports, as_user,
env, the fd layout, and that stop() frees the port and kills the servers."""

import os
import socket
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# An inetd-style program: reports its uid, arguments, environment and whether
# fd 2 is the socket, then echoes lines until EOF.
STUB = r"""#!/bin/sh
if [ -S /proc/self/fd/2 ]; then fd2=socket; else fd2=other; fi
printf 'hello uid=%s fd2=%s env=%s args=%s\r\n' "$(id -u)" "$fd2" "${MS_T_ENV:-unset}" "$*"
while IFS= read -r l; do printf 'echo: %s\n' "$l"; done
"""


def verify_hash(password, h):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
        return crypt.crypt(password, h) == h
    except ImportError:
        salt = h.split("$")[2]
        r = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, password],
                           capture_output=True, text=True)
        return r.stdout.strip() == h


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def test_pure():
    args = mslib.merge_args(["-s", "/sp", "-p", "/pw", "-h", "mail.test"],
                            ["-s", "/var/mail", "-t", "60", "-v"], ["-t", "5", "-x"])
    check(args == ["-s", "/sp", "-p", "/pw", "-h", "mail.test", "-v", "-t", "5", "-x"],
          "merge_args: lab args, shipped ones not overridden, then extra (%r)" % args)
    for name in ("smtpd", "pop3d", "imapd"):
        path = os.path.join(mslib.srcdir(), "xinetd.d", name)
        if not os.path.exists(path):
            check(False, "shipped xinetd.d/%s exists" % name)
            continue
        svc, attrs = mslib.parse_xinetd(path)
        keys = {k: v for k, _, v in attrs}
        check(keys.get("server") == "@SBINDIR@/" + name and keys.get("wait") == "no"
              and keys.get("socket_type") == "stream",
              "xinetd.d/%s parses (service %s, server @SBINDIR@/%s)" % (name, svc, name))
    p1, p2 = mslib.free_port(), mslib.free_port()
    check(1024 < p1 < 65536 and 1024 < p2 < 65536, "free_port gives user ports")


def test_launcher(kind):
    print("== launcher %s" % kind)
    lab = mslib.Lab(launcher=kind)
    check(lab.launcher == kind, "%s: launcher in use" % kind)
    stub = os.path.join(lab.dir, "stub")
    with open(stub, "w") as f:
        f.write(STUB)
    os.chmod(stub, 0o755)
    os.chmod(lab.dir, 0o755)

    st = os.stat(lab.spool)
    check(st.st_mode & 0o777 == 0o700, "%s: spool is 0700" % kind)
    entries = [l.split(":") for l in open(lab.passwd).read().splitlines()]
    check(len(entries) == 1 and entries[0][0] == "etudiant"
          and entries[0][1].startswith("$6$") and verify_hash("Etudiant1", entries[0][1]),
          "%s: passwd holds etudiant with a SHA-512 crypt of Etudiant1" % kind)
    lab.add_user("alice", "s3cret", uid=1234, gid=100)
    entries = [l.split(":") for l in open(lab.passwd).read().splitlines()]
    check(entries[1][0] == "alice" and entries[1][2:] == ["1234", "100"]
          and verify_hash("s3cret", entries[1][1]), "%s: add_user with uid:gid" % kind)
    check(lab.mbox("alice") == os.path.join(lab.spool, "alice"), "%s: mbox path" % kind)

    port = lab.start(stub, ["-t", "5"], env={"MS_T_ENV": "yes"})
    check(mslib._listening(port), "%s: port %d listens once start() returns" % (kind, port))
    with lab.connect(port) as c:
        hello = c.readline()
        want = "args=-s %s -p %s -h mail.test -t 5" % (lab.spool, lab.passwd)
        check(hello.endswith(want), "%s: server args (%s)" % (kind, hello))
        check("uid=%d " % os.getuid() in hello, "%s: runs as the current user" % kind)
        check("env=yes" in hello, "%s: env reaches the server" % kind)
        if kind == "xinetd":
            check("fd2=socket" in hello, "xinetd: fd 2 is the socket (servers: no stderr)")
        check(c.cmd("bonjour") == "echo: bonjour", "%s: a line goes both ways" % kind)

    # concurrency: two connections at once, each its own process
    a, b = lab.connect(port), lab.connect(port)
    check(a.readline().startswith("hello") and b.readline().startswith("hello"),
          "%s: two simultaneous connections" % kind)
    check(b.cmd("2") == "echo: 2" and a.cmd("1") == "echo: 1", "%s: independent sessions" % kind)

    # a second lab at the same time gets another port
    lab2 = mslib.Lab(launcher=kind)
    port2 = lab2.start(stub, spool_args=False)
    check(port2 != port, "%s: parallel labs on distinct ports (%d, %d)" % (kind, port, port2))
    with lab2.connect(port2) as c:
        check(c.readline().endswith("args="), "%s: spool_args=False passes no args" % kind)
    lab2_dir = lab2.dir
    lab2.stop()
    check(not os.path.exists(lab2_dir), "%s: stop() removes the lab dir" % kind)
    check(refused(port2), "%s: stop() frees the port" % kind)

    if os.getuid() == 0:
        p3 = lab.start(stub, as_user="nobody", spool_args=False)
        with lab.connect(p3) as c:
            import pwd
            uid = pwd.getpwnam("nobody").pw_uid
            check(("uid=%d " % uid) in c.readline(), "%s: as_user=nobody runs as nobody" % kind)
        check(os.stat(lab.spool).st_uid == uid, "%s: as_user chowns the lab" % kind)

    # stop() kills the sessions still running, not only the launcher
    lab.stop(port)
    check(refused(port), "%s: stop(port) frees the port" % kind)
    deadline = time.monotonic() + 5
    gone = False
    while time.monotonic() < deadline and not gone:
        try:
            a.sock.settimeout(1)
            gone = a.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            gone = isinstance(sys.exc_info()[1], ConnectionResetError)
    check(gone, "%s: stop(port) ends the running sessions" % kind)
    a.close()
    b.close()

    try:
        lab.start(os.path.join(lab.dir, "stub"), ["has blank"])
        blank_ok = kind == "ssa"
    except ValueError:
        blank_ok = kind == "xinetd"
    check(blank_ok, "%s: blank in an argument %s" % (kind, "refused" if kind == "xinetd" else "passed"))
    lab.stop()


def main():
    test_pure()
    kinds = [k for k, exe in (("xinetd", "xinetd"), ("ssa", "systemd-socket-activate"))
             if mslib.shutil.which(exe)]
    if not kinds:
        mslib.skip("neither xinetd nor systemd-socket-activate installed (make deps)")
    for k in kinds:
        test_launcher(k)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all launcher checks passed (%s)" % ", ".join(kinds))


if __name__ == "__main__":
    main()
