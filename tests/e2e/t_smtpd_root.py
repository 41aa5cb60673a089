"""t_smtpd_root - smtpd as it is installed: started as root by the socket
launcher, delivering to a real system account (useradd) in a 2775
root:mail spool.  The new mailbox must be USER:mail 0600, the process that
talks to the client must not be root and must be chrooted, and the
parent must stay root only to deliver.  Needs root; the account is
removed afterwards."""
import grp
import os
import pwd
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402

USER = "mstest_smtp"


def ids(pid):
    """(real, effective, saved uid), name, root dir of a process."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    uids = [int(x) for x in st["Uid"].split()[:3]]
    try:
        root = os.readlink("/proc/%d/root" % pid)
    except OSError:
        root = "?"
    return uids, st["Name"].strip(), root


def smtpd_procs(lab, port):
    launcher = lab._launches[port].proc.pid
    out = []
    for pid in mslib.descendants(launcher):
        try:
            uids, name, root = ids(pid)
        except (OSError, KeyError):
            continue
        if name == "smtpd":
            out.append((pid, uids, root))
    return out


def main():
    mslib.require_root()
    mslib.binary("smtpd")
    try:
        grp.getgrnam("mail")
    except KeyError:
        mslib.skip("no group mail on this system")
    subprocess.run(["userdel", USER], capture_output=True)
    r = subprocess.run(["useradd", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", USER], capture_output=True)
    if r.returncode != 0:
        mslib.skip("useradd failed: %s" % r.stderr.decode(errors="replace"))
    lab = mslib.Lab()
    try:
        run(lab)
        passwd_file_ids(lab)
    finally:
        lab.stop()
        subprocess.run(["userdel", USER], capture_output=True)


def run(lab):
    spool = os.path.join(lab.dir, "mail")
    os.mkdir(spool)
    os.chown(spool, 0, grp.getgrnam("mail").gr_gid)
    os.chmod(spool, 0o2775)
    os.chmod(lab.dir, 0o755)
    port = lab.start("smtpd", ["-s", spool, "-h", lab.host], spool_args=False)
    with lab.connect(port) as c:
        assert c.readline().startswith("220 "), "greeting"
        assert c.cmd("HELO root.test").startswith("250 "), "HELO"
        procs = smtpd_procs(lab, port)
        dialogue = [p for p in procs if p[1][0] != 0]
        parent = [p for p in procs if p[1][0] == 0]
        if not dialogue:
            sys.exit("no unprivileged smtpd process: %r" % procs)
        pid, uids, root = dialogue[0]
        if 0 in uids:
            sys.exit("dialogue process %d can regain root: uids %r" % (pid, uids))
        if root in ("/", "?"):
            sys.exit("dialogue process %d is not chrooted (root %s)" % (pid, root))
        if not parent:
            sys.exit("no root parent to deliver: %r" % procs)
        print("ok: dialogue pid %d uid %d chrooted to %s; root parent pid %d"
              % (pid, uids[0], root, parent[0][0]))
        for line, want in (("MAIL FROM:<mbappe@fft.fr>", "250 2.1.0"),
                           ("RCPT TO:<%s@%s>" % (USER, lab.host), "250 2.1.5"),
                           ("RCPT TO:<nosuchuser_ms@%s>" % lab.host, "550 5.1.1"),
                           ("RCPT TO:<postmaster@%s>" % lab.host, "250 2.1.5"),
                           ("DATA", "354 ")):
            got = c.cmd(line)
            if not got.startswith(want):
                sys.exit("%s: expected %s, got %r" % (line, want, got))
        c.send_raw("Subject: root test\r\n\r\nhello\r\n.\r\n")
        got = c.readline()
        if not got.startswith("250 2.0.0 Ok: queued as"):
            sys.exit("final dot: %r" % got)
        assert c.cmd("QUIT").startswith("221"), "QUIT"
    path = os.path.join(spool, USER)
    st = os.stat(path)
    pw = pwd.getpwnam(USER)
    if st.st_uid != pw.pw_uid or st.st_gid != grp.getgrnam("mail").gr_gid \
            or st.st_mode & 0o7777 != 0o600:
        sys.exit("mailbox is %d:%d %o, want %s:mail 0600"
                 % (st.st_uid, st.st_gid, st.st_mode & 0o7777, USER))
    data = open(path, "rb").read()
    if b"\nDelivered-To: %s@%s\n" % (USER.encode(), lab.host.encode()) not in data \
            or b"\n\nhello\n" not in data:
        sys.exit("mailbox content: %r" % data)
    root_mbox = os.path.join(spool, "root")
    st = os.stat(root_mbox)
    if st.st_uid != 0 or st.st_mode & 0o777 != 0o600:
        sys.exit("postmaster's mailbox: %d %o" % (st.st_uid, st.st_mode & 0o777))
    # nothing left behind: no lock files, only the two mailboxes and the
    # dotlock files kept for the next delivery (.NAME.lock.spare, the
    # mailbox owner's, 0600, a name no mailbox can have)
    left = sorted(os.listdir(spool))
    spares = {"." + n + ".lock.spare": n for n in (USER, "root")}
    if sorted(f for f in left if f not in spares) != sorted([USER, "root"]):
        sys.exit("spool holds %r" % left)
    for f in left:
        if f in spares:
            st = os.lstat(os.path.join(spool, f))
            owner = pw.pw_uid if spares[f] == USER else 0
            if st.st_uid != owner or st.st_mode & 0o7777 != 0o600 or \
                    st.st_nlink != 1 or not (st.st_mode & 0o170000 == 0o100000):
                sys.exit("%s: uid %d mode %o links %d" % (f, st.st_uid, st.st_mode,
                                                          st.st_nlink))
    time.sleep(0.2)
    print("ok: %s got its mail in a %s:mail 0600 mailbox; postmaster went to "
          "root" % (USER, USER))



def passwd_file_ids(lab):
    """Started as root with -p, an entry without uid:gid would be written
    as uid 0: 451 (a configuration error, the sender retries), never a
    mailbox written by root; an entry with ids is delivered as that uid."""
    spool = os.path.join(lab.dir, "mail")
    pw = pwd.getpwnam(USER)
    passwd = os.path.join(lab.dir, "passwd-ids")
    with open(passwd, "w") as f:
        f.write("noids:*\n%s:*:%d:%d\n" % (USER, pw.pw_uid, pw.pw_gid))
    before = os.path.getsize(os.path.join(spool, USER))
    port = lab.start("smtpd", ["-s", spool, "-h", lab.host, "-p", passwd],
                     spool_args=False)
    with lab.connect(port) as c:
        assert c.readline().startswith("220 "), "greeting"
        for line, want in (("HELO root.test", "250 "),
                           ("MAIL FROM:<mbappe@fft.fr>", "250 2.1.0"),
                           ("RCPT TO:<noids@%s>" % lab.host, "451 4.3.0"),
                           ("RCPT TO:<%s@%s>" % (USER, lab.host), "250 2.1.5"),
                           ("DATA", "354 ")):
            got = c.cmd(line)
            if not got.startswith(want):
                sys.exit("-p, %s: expected %s, got %r" % (line, want, got))
        c.send_raw("Subject: ids\r\n\r\nhello\r\n.\r\n")
        got = c.readline()
        if not got.startswith("250 2.0.0 Ok: queued as"):
            sys.exit("-p, final dot: %r" % got)
        assert c.cmd("QUIT").startswith("221"), "QUIT"
    lab.stop(port)
    if os.path.exists(os.path.join(spool, "noids")):
        sys.exit("-p: a mailbox was written for an entry without uid:gid")
    st = os.stat(os.path.join(spool, USER))
    if st.st_uid != pw.pw_uid or st.st_size <= before:
        sys.exit("-p: %s's mailbox: uid %d, size %d (was %d)"
                 % (USER, st.st_uid, st.st_size, before))
    print("ok: -p as root: an entry without uid:gid gets 451, one with ids "
          "is delivered as its uid")


if __name__ == "__main__":
    main()
