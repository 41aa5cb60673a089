"""t_pop3d_fetchmail - fetchmail as a real POP3 client of pop3d: with
--keep and UIDL it fetches every message once and, run again, nothing;
without --keep it fetches and deletes them all."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_pop3d as P  # noqa: E402


def fetch(lab, port, home, out, keep):
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('set no syslog\n'
                'poll 127.0.0.1 with proto POP3 service %d auth password uidl\n'
                '  user "etudiant" there with password "Etudiant1" is "%s" here\n'
                '  sslproto ""\n'
                '  %s\n  mda "cat >> %s"\n'
                % (port, os.environ.get("USER", "root"), "keep" if keep else "nokeep fetchall", out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "-v", "--pidfile",
                        os.path.join(home, "pid")], env=env, capture_output=True,
                       text=True, timeout=120)
    return r


def main():
    if not shutil.which("fetchmail"):
        mslib.skip("fetchmail not installed (make deps)")
    lab = P.make_lab()
    port = lab.start("pop3d")
    msgs = [P.SEED, P.msg(2), P.msg(3)]
    P.write_mbox(lab, msgs)
    home = tempfile.mkdtemp(prefix="ms-fetchmail-")
    out = os.path.join(home, "mbox.out")
    try:
        r = fetch(lab, port, home, out, keep=True)
        P.check(r.returncode == 0, "fetchmail --keep: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        got = open(out, "rb").read()
        for n in (b"Subject: message 2", b"Subject: message 3", b"un caf\xc3\xa9 pour le prof"):
            P.check(got.count(n) == 1, "fetched mail lacks %r once:\n%r" % (n, got[:2000]))
        # Again with the same UIDL list: nothing new (exit 1: no mail).
        r = fetch(lab, port, home, out, keep=True)
        P.check(r.returncode == 1, "second --keep run fetched again: rc %d\n%s" % (r.returncode, r.stdout))
        P.check(open(out, "rb").read() == got, "second --keep run wrote mail")
        # A new message is the only one fetched next time.
        P.write_mbox(lab, [P.msg(4)], mode="ab")
        r = fetch(lab, port, home, out, keep=True)
        P.check(r.returncode == 0, "third run: rc %d\n%s" % (r.returncode, r.stdout))
        got = open(out, "rb").read()
        P.check(got.count(b"Subject: message 4") == 1 and got.count(b"Subject: message 2") == 1,
                "third run fetched the wrong messages")
        # Without keep: fetch everything and delete it on the server.
        os.unlink(out)
        r = fetch(lab, port, home, out, keep=False)
        P.check(r.returncode == 0, "deleting run: rc %d\n%s" % (r.returncode, r.stdout))
        P.check(open(out, "rb").read().count(b"\nFrom: sender") == 3, "deleting run: messages 2-4 not fetched once each")
        c = P.login(lab, port)
        st = c.cmd("STAT")
        P.check(st == "+OK 0 0", "after the deleting run: %r" % st)
        c.cmd("QUIT")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    lab.stop()
    print("ok: fetchmail keep/uidl/delete")


if __name__ == "__main__":
    main()
