"""t_imapd_folders_snail - a real mail client (s-nail, batch mode) moves
and copies messages between IMAP folders on imapd: "copy 1 +Work",
"move 2 +Work", then opens +Work and lists it.  The result is checked
with imaplib.  Skipped (77) when s-nail is not installed (Debian package
s-nail, in the Makefile's DEB_PKGS).
"""
import imaplib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_imapd_folders as F  # noqa: E402


def main():
    if shutil.which("s-nail") is None:
        mslib.skip("s-nail is not installed (apt-get install s-nail)")
    lab, maildir, udir, uid = F.make_lab()
    port = lab.start("imapd", ["-m", maildir])
    M = imaplib.IMAP4("127.0.0.1", port)
    F.ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    F.ok(M.create("Work"), "CREATE Work")
    M.logout()

    url = "imap://etudiant@127.0.0.1:%d" % port
    env = dict(os.environ, HOME=lab.dir, MAILRC="/dev/null")
    cmds = "copy 1 +Work\nmove 2 +Work\nfolder +Work\nheaders\nquit\n"
    r = subprocess.run(["s-nail", "-#", "-:/", "-Sv15-compat",
                        "-Sfolder=" + url, "-Spassword=Etudiant1",
                        "-Simap-auth=login", "-f", url + "/INBOX"],
                       input=cmds.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=120)
    out = r.stdout.decode(errors="replace")
    F.check(r.returncode == 0, "s-nail failed (%d):\n%s" % (r.returncode, out))
    F.check("message 1" in out and "message 2" in out,
            "s-nail did not list Work:\n" + out)

    M = imaplib.IMAP4("127.0.0.1", port)
    F.ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    F.ok(M.select("Work", readonly=True), "EXAMINE Work")
    d = F.ok(M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
             "FETCH Work")
    subjects = sorted(x[1].strip() for x in d if isinstance(x, tuple))
    F.check(subjects == [b"Subject: message 1", b"Subject: message 2"],
            "Work holds %r" % subjects)
    F.ok(M.select("INBOX", readonly=True), "EXAMINE INBOX")
    d = F.ok(M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
             "FETCH INBOX")
    subjects = sorted(x[1].strip() for x in d if isinstance(x, tuple))
    F.check(subjects == [b"Subject: message 1", b"Subject: message 3"],
            "INBOX holds %r" % subjects)
    M.logout()
    lab.stop()
    print("ok: s-nail copies and moves between imapd folders")


if __name__ == "__main__":
    main()
