"""t_imapd_clients - real IMAP clients against imapd on a real TCP port:
curl imap:// (list, fetch by UID, search-free examine), fetchmail over IMAP
(keep, then flush), and s-nail in batch mode reading the INBOX.  A client
that is not installed is reported and skipped; if none is, exit 77.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_imapd  # noqa: E402
from t_imapd import check, msg, served, write_mbox  # noqa: E402

TIMEOUT = 60


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, **kw)


def curl(lab, port):
    write_mbox(lab, [msg(1), msg(2)])
    base = "imap://127.0.0.1:%d" % port
    r = run(["curl", "-sS", "--user", "etudiant:Etudiant1", base + "/"])
    out = r.stdout.decode("latin-1")
    check(r.returncode == 0 and "INBOX" in out,
          "curl LIST: rc %d %r %r" % (r.returncode, out, r.stderr))
    r = run(["curl", "-sS", "--user", "etudiant:Etudiant1",
             base + "/INBOX;UID=2"])
    check(r.returncode == 0 and r.stdout == served(msg(2)),
          "curl FETCH UID=2: rc %d %r %r" % (r.returncode, r.stdout[:80], r.stderr))
    r = run(["curl", "-sS", "--user", "etudiant:Etudiant1", "-X", "EXAMINE INBOX",
             base + "/"])
    check(r.returncode == 0 and b"2 EXISTS" in r.stdout,
          "curl EXAMINE: %r %r" % (r.stdout, r.stderr))
    r = run(["curl", "-sS", "--user", "etudiant:wrong", base + "/INBOX;UID=1"])
    check(r.returncode != 0, "curl with a wrong password succeeded")
    print("curl: ok")


def fetchmail(lab, port):
    write_mbox(lab, [msg(1), msg(2), msg(3)])
    out = os.path.join(lab.dir, "fetched")
    rc = os.path.join(lab.dir, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 protocol IMAP port %d auth password\n'
                '  user "etudiant" password "Etudiant1" is root here\n'
                '  keep sslproto "" mda "/bin/sh -c \'cat >> %s\'"\n' % (port, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=lab.dir)
    argv = ["fetchmail", "-f", rc, "--nosyslog", "--idfile",
            os.path.join(lab.dir, "fetchids"), "-a"]
    r = run(argv, env=env)
    check(r.returncode == 0, "fetchmail keep: rc %d %r %r" % (r.returncode,
                                                              r.stdout, r.stderr))
    got = open(out, "rb").read()
    for n in (1, 2, 3):
        check(b"Subject: message %d" % n in got, "fetchmail lost message %d" % n)
    # fetched messages are \Seen now, still there (keep)
    c = t_imapd.imap(port)
    c.select("INBOX", readonly=True)
    typ, data = c.fetch("1:*", "(FLAGS)")
    check(len(data) == 3 and all(b"\\Seen" in d for d in data),
          "after fetchmail: %r" % data)
    c.logout()
    # without keep: fetchmail deletes and expunges
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 protocol IMAP port %d auth password\n'
                '  user "etudiant" password "Etudiant1" is root here\n'
                '  nokeep sslproto "" mda "/bin/sh -c \'cat >> %s\'"\n' % (port, out))
    r = run(argv, env=env)
    check(r.returncode == 0, "fetchmail flush: rc %d %r" % (r.returncode, r.stderr))
    c = t_imapd.imap(port)
    typ, data = c.select("INBOX")
    check(data == [b"0"], "fetchmail nokeep left %r messages" % data)
    c.logout()
    print("fetchmail: ok")


def snail(lab, port):
    write_mbox(lab, [msg(1), msg(2)])
    env = dict(os.environ, HOME=lab.dir, MAILRC="/dev/null", LC_ALL="C")
    url = "imap://etudiant:Etudiant1@127.0.0.1:%d/INBOX" % port
    r = run(["s-nail", "-#", "-N", "-R", "-S", "v15-compat",
             "-S", "imap-auth=login", "-S", "imap-keepalive=0",
             "-S", "headline=%s", "-f", url],
            input=b"headers\nprint 2\nquit\n", env=env)
    out = r.stdout.decode("latin-1")
    check("message 1" in out and "message 2" in out,
          "s-nail headers: rc %d %r %r" % (r.returncode, out, r.stderr))
    check("line 2 of message 2" in out, "s-nail print 2: %r" % out)
    print("s-nail: ok")


def main():
    have = [c for c in ("curl", "fetchmail", "s-nail") if shutil.which(c)]
    if not have:
        mslib.skip("none of curl, fetchmail, s-nail is installed")
    lab = t_imapd.make_lab()
    try:
        port = lab.start("imapd")
        for name, fn in (("curl", curl), ("fetchmail", fetchmail),
                         ("s-nail", snail)):
            if name in have:
                fn(lab, port)
            else:
                print("note: %s not installed (DEB_PKGS)" % name)
    finally:
        lab.stop()
    print("ok")


if __name__ == "__main__":
    main()
