"""t_smtpd_seed - the lab handout's SMTP session, typed as a student types
it, against the real smtpd under the real socket launcher; then the
mailbox, byte for byte (host, queue id and dates aside).

Run as the shipped service runs (root, privilege-separated) under xinetd
and under systemd-socket-activate (each when installed), and as an
ordinary user (the lab mode) when we are root to switch users."""
import grp
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402

BODY = "Cher \xc3\xa9tudiant que vous \xc3\xaates bon, si bon que vous " \
       "pouvez aller chercher un caf\xc3\xa9 pour le prof"

# What the student types and what must come back (HOST stands for the
# server's name, ID for the queue id).
SESSION = [
    (None, r"220 HOST ESMTP mailsuite"),
    ("HELO Bonjour je suis un etudiant", r"250 HOST"),
    ("MAIL FROM:<mbappe@fft.fr>", r"250 2\.1\.0 Ok"),
    ("RCPT TO:<etudiant@HOST>", r"250 2\.1\.5 Ok"),
    ("DATA", r"354 End data with <CR><LF>\.<CR><LF>"),
    (BODY, None),
    (".", r"250 2\.0\.0 Ok: queued as (?P<id>[0-9A-F]{10,12})"),
    ("QUIT", r"221 2\.0\.0 Bye"),
]

DATE = r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\S+\)"

MBOX = (r"From mbappe@fft\.fr [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
        r"Return-Path: <mbappe@fft\.fr>\n"
        r"X-Original-To: etudiant@HOST\n"
        r"Delivered-To: etudiant@HOST\n"
        r"Received: from Bonjour\?je\?suis\?un\?etudiant \(localhost \[127\.0\.0\.1\]\)\n"
        r"\tby HOST \(mailsuite\) with SMTP id @ID@\n"
        r"\tfor <etudiant@HOST>; DATE\n"
        r"Message-ID: <\d{14}\.@ID@@HOST>\n"
        r"Date: DATE\n"
        r"\n"
        + re.escape(BODY) + r"\n"
        r"\n\Z")


# As root, the lab's users are virtual users mapped to this system account
# (smtpd never writes a mailbox as root: an entry without uid:gid is
# refused with 451 when it runs as root).
OWNER = "mstest_smtpd"



def _owner():
    return mslib.system_account(OWNER)


def make_lab(launcher=None, tmpdir=None):
    """A lab as the installed service sees it.  As root: the spool is
    2775 root:mail, as /var/mail is, and etudiant maps to OWNER's uid, so
    that each mailbox is written by a process with that uid and group
    mail.  As another user: the ordinary lab."""
    lab = mslib.Lab(tmpdir=tmpdir, user=None, launcher=launcher)
    lab.owner = None
    if os.getuid() == 0:
        try:
            mail = grp.getgrnam("mail").gr_gid
        except KeyError:
            mslib.skip("no group mail on this system")
        lab.owner = _owner()
        os.chmod(lab.dir, 0o711)
        os.chown(lab.spool, 0, mail)
        os.chmod(lab.spool, 0o2775)
    add_user(lab, mslib.DEMO_USER, mslib.DEMO_PASS)
    return lab


def add_user(lab, name, password="x"):
    """A user of LAB (made by make_lab) that smtpd may deliver to."""
    if lab.owner is None:
        lab.add_user(name, password)
    else:
        lab.add_user(name, password, lab.owner[0], lab.owner[1])


def run(lab, as_user):
    who = "%s under %s" % (as_user or "root", lab.launcher)
    # under systemd-socket-activate stderr is the launcher's log: -v writes
    # the transcript there
    verbose = lab.launcher == "ssa"
    port = lab.start("smtpd", ["-v"] if verbose else [], as_user=as_user)
    host = re.escape(lab.host)
    qid = None
    with lab.connect(port) as c:
        for line, want in SESSION:
            if line is not None:
                c.send(line.replace("HOST", lab.host))
            if want is None:
                continue
            got = c.readline()
            m = re.fullmatch(want.replace("HOST", host), got)
            if not m:
                sys.exit("%s: expected /%s/, got %r" % (who, want, got))
            qid = m.groupdict().get("id") or qid
        deadline = time.monotonic() + 5
        while not c.closed():
            if time.monotonic() > deadline:
                sys.exit("the server did not close after QUIT")
    data = open(lab.mbox("etudiant"), "rb").read().decode("latin-1")
    want = MBOX.replace("HOST", host).replace("@ID@", qid).replace("DATE", DATE)
    if not re.fullmatch(want, data):
        sys.exit("mailbox differs:\n%s\nexpected pattern:\n%s" % (data, want))
    st = os.stat(lab.mbox("etudiant"))
    if st.st_mode & 0o777 != 0o600:
        sys.exit("mailbox mode %o, not 0600" % (st.st_mode & 0o777))
    if as_user is None and getattr(lab, "owner", None) is not None and \
            (st.st_uid, st.st_gid) != (lab.owner[0], grp.getgrnam("mail").gr_gid):
        sys.exit("mailbox is %d:%d, want %s:mail (uid %d)"
                 % (st.st_uid, st.st_gid, OWNER, lab.owner[0]))
    if verbose:
        log = lab.log(port)
        for want in ("S: 220 %s ESMTP mailsuite" % lab.host,
                     "C: HELO Bonjour je suis un etudiant",
                     "C: MAIL FROM:<mbappe@fft.fr>", "S: 250 2.1.5 Ok",
                     "S: 221 2.0.0 Bye"):
            if want not in log:
                sys.exit("%s: transcript lacks %r:\n%s" % (who, want, log))
    lab.stop(port)
    print("ok: seed session as %s, queued as %s%s"
          % (who, qid, ", transcript checked" if verbose else ""))


def main():
    mslib.binary("smtpd")
    launchers = [l for l, prog in (("xinetd", "xinetd"),
                                   ("ssa", "systemd-socket-activate"))
                 if shutil.which(prog)]
    if not launchers:
        mslib.skip("neither xinetd nor systemd-socket-activate installed")
    for launcher in launchers:
        lab = make_lab(launcher=launcher)
        run(lab, None)
        lab.stop()
    if os.getuid() == 0:
        lab = mslib.Lab()
        run(lab, "nobody")
        lab.stop()
    else:
        print("note: not root, the lab-mode pass ran only")


if __name__ == "__main__":
    main()
