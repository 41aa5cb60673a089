"""t_imapd - imapd end to end on a real TCP port (xinetd or
systemd-socket-activate through mslib): the lab handout's session byte for
byte (but the UIDVALIDITY), Python imaplib (select, fetch, store, expunge,
UID commands), IDLE by raw socket with a delivery during it, flags seen by
the next session and written in the mbox headers, UIDs stable across
sessions and after pop3d deletes a message, the students' mistakes (each
reply names what was expected), bad input, (as root) the privilege
separation: an unprivileged child before login, the user after; and a
48 MiB message fetched with BODYSTRUCTURE and BODY[] held in memory once.

Also imported by t_imapd_clients.py for its lab helpers.
"""
import imaplib
import os
import shutil
import socket
import sys
import time

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
# that the root imapd must separate privileges and become it.
OWNER = "mstest_imapv"


fail = mslib.fail


check = mslib.check


def _ensure_owner():
    return mslib.system_account(OWNER)


def make_lab(launcher=None):
    """A lab whose user etudiant/Etudiant1 owns the spool.  As root the
    passwd-file maps etudiant to OWNER's uid and imapd runs as root, so the
    privilege separation is what the test goes through."""
    mslib.binary("imapd")
    lab = mslib.Lab(user=None, launcher=launcher)
    if os.getuid() == 0:
        lab.uid, lab.gid = _ensure_owner()
        os.chmod(lab.dir, 0o711)
        os.chown(lab.spool, lab.uid, lab.gid)
    else:
        lab.uid, lab.gid = os.getuid(), os.getgid()
    lab.add_user("etudiant", "Etudiant1",
                 lab.uid if os.getuid() == 0 else None, lab.gid)
    return lab


def msg(n, body_lines=3):
    body = b"".join(b"line %d of message %d\n" % (i, n)
                    for i in range(body_lines))
    return (b"From: sender%d@example.org\nSubject: message %d\n\n" % (n, n)) + body


write_mbox = mslib.write_mbox
served = mslib.served


def imap(port):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("etudiant", "Etudiant1")
    return c


def seed_session(lab, port):
    """The handout's session, typed as a student would."""
    c = lab.connect(port)
    g = c.readline()
    check(g.startswith("* OK [CAPABILITY IMAP4rev1 ") and "AUTH=PLAIN" in g,
          "greeting %r" % g)
    c.send("1 login etudiant Etudiant1")
    r = c.readline()
    check(r.startswith("1 OK [CAPABILITY IMAP4rev1 ") and r.endswith("] Logged in"),
          "login: %r" % r)
    c.send('2 list "" "*"')
    check(c.readline() == '* LIST (\\HasNoChildren) "/" INBOX', "LIST")
    check(c.readline().startswith("2 OK List completed"), "LIST OK")
    c.send("3 examine inbox")
    want = ["* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS ()] Read-only mailbox.",
            "* 1 EXISTS", "* 1 RECENT", "* OK [UNSEEN 1] First unseen.",
            None, "* OK [UIDNEXT 2] Predicted next UID",
            "3 OK [READ-ONLY] Examine completed"]
    for w in want:
        got = c.readline()
        if w is None:
            check(got.startswith("* OK [UIDVALIDITY ") and
                  got.endswith("] UIDs valid"), "UIDVALIDITY: %r" % got)
        else:
            check(got == w, "EXAMINE: want %r got %r" % (w, got))
    c.send("4 fetch 1 body[]")
    check(c.readline() == "* 1 FETCH (BODY[] {419}", "FETCH literal size")
    data = c.read_bytes(419)
    check(data == served(SEED), "FETCH data differs: %r" % data[:80])
    check(c.readline() == ")", "FETCH end")
    check(c.readline() == "4 OK Fetch completed", "FETCH OK")
    c.send("logout")
    r = c.readline()
    check(r == '* BAD Missing tag: IMAP commands start with a tag, for '
          'example "a1 LOGOUT"', "lone logout: %r" % r)
    c.send("5 logout")
    check(c.readline() == "* BYE Logging out", "BYE")
    check(c.readline() == "5 OK Logout completed", "LOGOUT OK")
    check(c.closed(), "connection still open after LOGOUT")
    c.close()


def imaplib_walkthrough(lab, port):
    write_mbox(lab, [msg(1), msg(2), msg(3), msg(4)])
    c = imap(port)
    typ, data = c.select("INBOX")
    check(typ == "OK" and data == [b"4"], "select: %r %r" % (typ, data))
    typ, data = c.fetch("1:4", "(UID RFC822.SIZE FLAGS)")
    check(typ == "OK" and len(data) == 4, "fetch: %r" % data)
    check(b"UID 1 " in data[0] and b"RFC822.SIZE %d" % len(served(msg(1))) in data[0],
          "fetch 1: %r" % data[0])
    typ, data = c.fetch("2", "(RFC822)")
    check(data[0][1] == served(msg(2)), "RFC822 of 2 differs")
    typ, data = c.fetch("2", "(FLAGS)")
    check(b"\\Seen" in data[0], "RFC822 did not set \\Seen: %r" % data)
    typ, data = c.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check(data[0][1] == b"Subject: message 3\r\n\r\n", "HEADER.FIELDS: %r" % data)
    typ, data = c.store("1", "+FLAGS", "(\\Flagged $Work)")
    check(typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0],
          "store: %r" % data)
    typ, data = c.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    check(typ == "OK", "uid store")
    typ, data = c.expunge()
    check(typ == "OK" and data == [b"3"], "expunge: %r" % data)
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    uids = [int(d.split(b"UID ")[1].split(b" ")[0].rstrip(b")")) for d in data]
    check(uids == [1, 2, 4], "uids after expunge: %r" % data)
    typ, data = c.uid("EXPUNGE", "4")
    check(typ == "OK", "uid expunge (nothing deleted)")
    c.logout()
    # the next session sees the flags; the mbox holds them
    c = imap(port)
    c.select("INBOX", readonly=True)
    typ, data = c.fetch("1:*", "(UID FLAGS)")
    check(b"\\Flagged" in data[0] and b"$Work" in data[0] and b"UID 1" in data[0],
          "flags lost: %r" % data)
    check(b"\\Seen" in data[1], "\\Seen lost: %r" % data)
    c.logout()
    text = open(lab.mbox("etudiant"), "rb").read()
    check(b"X-Status: F" in text and b"$Work" in text and b"Status: RO" in text,
          "state headers not in the mbox")
    check(b"message 3" not in text, "expunged message still in the mbox")


def idle_and_delivery(lab, port):
    c = lab.connect(port)
    c.readline()
    c.send("a LOGIN etudiant Etudiant1")
    c.read_until(lambda l: l.startswith("a "))
    c.send("b SELECT INBOX")
    lines = c.read_until(lambda l: l.startswith("b "))
    n = [int(l.split()[1]) for l in lines if l.endswith(" EXISTS")][0]
    c.send("c IDLE")
    check(c.readline().startswith("+ "), "IDLE continuation")
    # a delivery meanwhile (appended as smtpd would, under the locks'
    # rules: a whole message at once)
    with open(lab.mbox("etudiant"), "ab") as f:
        f.write(b"From new@example.org Tue Jan 17 10:00:00 2023\n" + msg(9) + b"\n")
    t0 = time.time()
    r = c.readline()
    check(r == "* %d EXISTS" % (n + 1), "IDLE: %r" % r)
    check(time.time() - t0 < 5, "IDLE announcement took too long")
    c.readline()  # RECENT
    c.send("DONE")
    check(c.readline().startswith("c OK"), "DONE")
    c.send("d LOGOUT")
    c.read_until(lambda l: l.startswith("d "))
    c.close()


def uids_after_pop3d(lab, port):
    """UIDs survive pop3d deleting a message."""
    try:
        mslib.binary("pop3d")
    except SystemExit:
        print("note: pop3d not built, UID/pop3d check skipped")
        return
    write_mbox(lab, [msg(1), msg(2), msg(3)])
    c = imap(port)
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(UID)")
    before = [d for d in data]
    c.logout()
    pport = lab.start("pop3d")
    p = lab.connect(pport)
    p.readline()
    check(p.cmd("USER etudiant").startswith("+OK"), "pop USER")
    check(p.cmd("PASS Etudiant1").startswith("+OK"), "pop PASS")
    check(p.cmd("DELE 1").startswith("+OK"), "pop DELE")
    check(p.cmd("QUIT").startswith("+OK"), "pop QUIT")
    p.close()
    lab.stop(pport)
    c = imap(port)
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(UID)")
    check([b"UID 2" in data[0], b"UID 3" in data[1]] == [True, True],
          "UIDs changed after pop3d DELE: %r (before %r)" % (data, before))
    c.logout()


def student_mistakes(lab, port):
    """The handout's mistakes through the real (privilege-separated)
    binary: every reply names what was expected."""
    c = lab.connect(port)
    c.readline()
    for line, want in [
            ("login etudiant Etudiant1", '* BAD Missing tag: IMAP commands '
             'start with a tag, for example "a1 LOGIN user password"'),
            ("1 login etudiant", "1 BAD LOGIN needs a user name and a "
             "password: 1 LOGIN user password"),
            ("2 select INBOX", "2 BAD SELECT is allowed only after login: "
             'log in first with "a1 LOGIN user password"'),
            ("1 login etudiant Etudiant1", "1 OK [CAPABILITY IMAP4rev1 "),
            ("2 select", "2 BAD SELECT needs a mailbox name: 2 SELECT INBOX"),
            ('5 lsit "" *', "5 BAD Unknown command 'lsit': did you mean "
             'LIST? (for example "5 LIST "" "*"")'),
            ("3 fetch 1 body[]", "3 BAD FETCH needs a selected mailbox: "
             "SELECT or EXAMINE one first"),
            ("fetch 1 body[", '* BAD Missing tag: IMAP commands start with '
             'a tag, for example "a1 FETCH 1 BODY[]"')]:
        c.send(line)
        r = c.readline()
        check(r.startswith(want), "%s: got %r" % (line, r))
    c.send("3 examine inbox")
    c.read_until(lambda l: l.startswith("3 "))
    for line, want in [
            ("4 fetch 1 body[", "4 BAD Missing ']' after 'body['"),
            ("4 fetch 1", "4 BAD FETCH needs a message set and the items to "
             "fetch: 4 FETCH 1 BODY[]"),
            ("4 fetch 1 bodyy", "4 BAD Invalid FETCH item 'bodyy': items "
             "are FLAGS, UID,"),
            ("logout", '* BAD Missing tag: IMAP commands start with a tag, '
             'for example "a1 LOGOUT"'),
            ("5 logout", "* BYE Logging out")]:
        c.send(line)
        r = c.readline()
        check(r.startswith(want), "%s: got %r" % (line, r))
    c.close()


def bad_input(lab, port):
    c = lab.connect(port)
    c.readline()
    c.send("a LOGIN etudiant Etudiant1")
    c.read_until(lambda l: l.startswith("a "))
    c.send("b SELECT INBOX")
    c.read_until(lambda l: l.startswith("b "))
    for line, want in [
            ("c APPEND INBOX {4294967296}", "c BAD [TOOBIG]"),
            ("d FETCH 1 (FLAGS", "d BAD Missing ')'"),
            ("e FETCH 1 " + "(" * 1000, "e BAD Lists nested too deeply"),
            ("f FETCH 1:99999999999 FLAGS", "f BAD Number too large in the "
             "sequence set: message numbers and UIDs go from 1 to 4294967295"),
            ("g FETCH 4294967297 FLAGS", "g BAD Number too large"),
            ("g2 FETCH 0 FLAGS", "g2 BAD 0 is not a message number"),
            ("h FETCH 1 NOSUCH", "h BAD Invalid FETCH item"),
            ("i LOGIN x y", "i BAD LOGIN is not allowed"),
            ("j NOOP", "j OK")]:
        c.send(line)
        r = c.readline()
        check(r.startswith(want), "%s: got %r" % (line[:40], r))
    c.close()


def session_hwm(lab):
    """VmHWM (KiB) of the user's imapd session process(es), the largest."""
    best = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            if not argv[0].endswith(b"imapd") or lab.spool.encode() not in argv:
                continue
            for ln in open("/proc/%s/status" % pid):
                if ln.startswith("VmHWM:"):
                    best = max(best, int(ln.split()[1]))
        except (OSError, IndexError, ValueError):
            continue
    return best


def big_message_memory(lab, port):
    """FETCH (BODYSTRUCTURE BODY[]) of a 48 MiB message holds it once: the
    section comes from the MIME cache, not from a second copy."""
    size = 48 << 20
    line = b"x" * 76 + b"\n"
    big = b"From: a@example.org\nSubject: big\n\n" + line * (size // len(line))
    write_mbox(lab, [big])
    c = lab.connect(port)
    c.readline()
    c.send("a LOGIN etudiant Etudiant1")
    c.read_until(lambda l: l.startswith("a "))
    c.send("b SELECT INBOX")
    c.read_until(lambda l: l.startswith("b "))
    c.send("c FETCH 1 (BODYSTRUCTURE BODY.PEEK[])")
    head = c.readline()
    check(head.startswith("* 1 FETCH (BODYSTRUCTURE (") and
          head.endswith("{%d}" % len(served(big))), "big FETCH: %r" % head[:80])
    data = c.read_bytes(len(served(big)))
    check(data == served(big), "big BODY[] differs")
    check(c.readline() == ")", "big FETCH end")
    check(c.readline().startswith("c OK"), "big FETCH OK")
    hwm = session_hwm(lab)
    c.send("d LOGOUT")
    c.read_until(lambda l: l.startswith("d "))
    c.close()
    # once: ~48 MiB plus the process; twice would be over 96 MiB
    check(0 < hwm < (size >> 10) * 3 // 2,
          "session peak RSS %d KiB for a %d KiB message: held twice?" %
          (hwm, size >> 10))


def privsep_check(lab, port):
    if os.getuid() != 0:
        print("note: not root, privilege separation not checked")
        return
    c = lab.connect(port)
    c.readline()

    def procs():
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
                if not argv[0].endswith(b"imapd") or lab.spool.encode() not in argv:
                    continue
                uid = [int(l.split()[1]) for l in open("/proc/%s/status" % pid)
                       if l.startswith("Uid:")][0]
                out.append((uid, os.readlink("/proc/%s/root" % pid)))
            except (OSError, IndexError):
                continue
        return out

    before = procs()
    check(any(u != 0 and root != "/" for u, root in before),
          "no unprivileged chrooted child before login: %r" % before)
    c.send("a LOGIN etudiant Etudiant1")
    check(c.readline().startswith("a OK"), "login")
    time.sleep(0.2)
    after = procs()
    check(after and all(u == lab.uid for u, _ in after),
          "after login the session is not the user's: %r" % after)
    c.send("b LOGOUT")
    c.close()


def transcript():
    """-v under systemd-socket-activate (stderr is the launcher's log):
    the dialogue is there, the passwords are not."""
    if not shutil.which("systemd-socket-activate"):
        print("note: systemd-socket-activate missing, -v not checked")
        return
    lab = make_lab(launcher="ssa")
    try:
        write_mbox(lab, [SEED])
        port = lab.start("imapd", ["-v"])
        c = lab.connect(port)
        c.readline()
        c.send("a LOGIN etudiant Etudiant1")
        check(c.readline().startswith("a OK"), "-v login")
        c.send("b LOGOUT")
        c.read_until(lambda l: l.startswith("b "))
        c.close()
        c = lab.connect(port)
        c.readline()
        c.send("c AUTHENTICATE PLAIN AGV0dWRpYW50AEV0dWRpYW50MQ==")
        check(c.readline().startswith("c OK"), "-v authenticate")
        c.send("d LOGOUT")
        c.read_until(lambda l: l.startswith("d "))
        c.close()
        time.sleep(0.3)
        log = lab.log(port)
        check("C: a LOGIN etudiant ********" in log, "no masked LOGIN in %r" % log[-500:])
        check("C: c AUTHENTICATE PLAIN ********" in log, "no masked AUTHENTICATE")
        check("S: a OK [CAPABILITY" in log, "server lines missing")
        check("Etudiant1" not in log and "AGV0dWRpYW50" not in log,
              "a password reached the transcript")
    finally:
        lab.stop()


def main():
    lab = make_lab()
    try:
        write_mbox(lab, [SEED])
        port = lab.start("imapd")
        seed_session(lab, port)
        student_mistakes(lab, port)
        imaplib_walkthrough(lab, port)
        idle_and_delivery(lab, port)
        uids_after_pop3d(lab, port)
        bad_input(lab, port)
        privsep_check(lab, port)
        big_message_memory(lab, port)
    finally:
        lab.stop()
    transcript()
    print("ok")


if __name__ == "__main__":
    main()
