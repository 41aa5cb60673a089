"""t_pop3d_pam - as root: a real system account (mstest_pop, made with
useradd and chpasswd) logs in through PAM service "pop3d" and the session
runs as that account's uid; a wrong password is refused.  The account and
any PAM file this test installed are removed afterwards."""
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_pop3d as P  # noqa: E402

USER = "mstest_pop"
PASSWORD = "Pop3-Test-9x"
PAMFILE = "/etc/pam.d/pop3d"
# Used when the shipped pam.d/pop3d does not exist yet.
LOCAL_PAM = "@include common-auth\n@include common-account\n"


def main():
    mslib.require_root()
    mslib.binary("pop3d")
    for tool in ("useradd", "chpasswd", "userdel"):
        if not shutil.which(tool):
            mslib.skip("%s not installed (package passwd)" % tool)
    installed_pam = False
    if not os.path.exists(PAMFILE):
        shipped = os.path.join(mslib.srcdir(), "pam.d", "pop3d")
        text = open(shipped).read() if os.path.exists(shipped) else LOCAL_PAM
        with open(PAMFILE, "w") as f:
            f.write(text)
        installed_pam = True
    subprocess.run(["userdel", "-r", USER], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    lab = None
    try:
        subprocess.run(["chpasswd"], input="%s:%s\n" % (USER, PASSWORD), text=True, check=True)
        pw = pwd.getpwnam(USER)
        lab = mslib.Lab(user=None)
        os.chmod(lab.dir, 0o711)
        os.chmod(lab.spool, 0o1777)
        lab.uid, lab.gid = pw.pw_uid, pw.pw_gid
        P.write_mbox(lab, [P.SEED], user=USER)
        port = lab.start("pop3d", ["-s", lab.spool, "-h", "mail.test"], spool_args=False)
        c = lab.connect(port)
        P.check(c.readline().startswith("+OK"), "greeting")
        c.cmd("USER " + USER)
        r = c.cmd("PASS wrong-password")
        P.check(r == "-ERR [AUTH] authentication failed", "wrong password: %r" % r)
        c.cmd("USER " + USER)
        r = c.cmd("PASS " + PASSWORD)
        P.check(r.startswith("+OK"), "PAM login refused: %r (launcher log: %s)" % (r, lab.log(port)))
        P.check(c.cmd("STAT") == "+OK 1 419", "STAT")
        time.sleep(0.1)
        procs = P.pop3d_procs(lab)
        P.check(len(procs) == 1 and procs[0][1] == pw.pw_uid,
                "session not running as %s (uid %d): %r" % (USER, pw.pw_uid, procs))
        P.check(c.cmd("DELE 1").startswith("+OK"), "DELE")
        P.check(c.cmd("QUIT").startswith("+OK bye: 1 deleted"), "QUIT")
        st = os.stat(lab.mbox(USER))
        P.check(st.st_uid == pw.pw_uid, "mailbox owner changed")
        print("ok: PAM login as %s, session uid %d" % (USER, pw.pw_uid))
    finally:
        if lab is not None:
            lab.stop()
        subprocess.run(["userdel", USER], capture_output=True)
        if installed_pam:
            os.unlink(PAMFILE)


if __name__ == "__main__":
    main()
