"""t_imapd_folders - imapd's mailbox commands end to end with Python
imaplib on a real TCP port (xinetd or systemd-socket-activate via mslib):
LIST/LSUB with wildcards, CHILDREN and SPECIAL-USE attributes, CREATE,
DELETE, RENAME (INBOX too), SUBSCRIBE, STATUS, APPEND (APPENDUID), COPY
(COPYUID), MOVE, SEARCH; modified UTF-7 names; and what lands on disk
(mbox files under the mail directory, owned by the user, nothing outside).
As root the passwd-file maps etudiant to a system account, so the session
runs privilege-separated as that account.
"""
import imaplib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402

OWNER = "mstest_imapf"


fail = mslib.fail


check = mslib.check


def ok(res, what):
    typ, data = res
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def no(res, what):
    typ, data = res
    check(typ == "NO", "%s should be refused: %s %r" % (what, typ, data))
    return data



def owner():
    return mslib.system_account(OWNER)


def make_lab():
    mslib.binary("imapd")
    lab = mslib.Lab(user=None)
    if os.getuid() == 0:
        uid, gid = owner()
        os.chmod(lab.dir, 0o711)
        os.chown(lab.spool, uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
    lab.add_user("etudiant", "Etudiant1", uid if os.getuid() == 0 else None,
                 gid if os.getuid() == 0 else None)
    maildir = os.path.join(lab.dir, "mail")
    os.mkdir(maildir, 0o711)
    udir = os.path.join(maildir, "etudiant")
    os.mkdir(udir, 0o700)
    os.chown(udir, uid, gid)
    path = lab.mbox("etudiant")
    with open(path, "wb") as f:
        for n in range(1, 4):
            f.write(b"From sender@example.org Mon Jan 16 13:09:16 2023\n")
            f.write(b"From: sender%d@example.org\nSubject: message %d\n\n"
                    b"body of message %d, word%d\n\n" % (n, n, n, n))
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    return lab, maildir, udir, uid


def listing(data):
    """LIST/LSUB data -> {name: set(attributes)}."""
    out = {}
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            item = item[0] + b'"' + item[1] + b'"'
        m = re.match(rb'\(([^)]*)\) "/" (.*)$', item)
        check(m is not None, "bad LIST line %r" % item)
        name = m.group(2)
        if name.startswith(b'"'):
            name = name[1:-1]
        out[name.decode()] = set(m.group(1).decode().split())
    return out


def main():
    lab, maildir, udir, uid = make_lab()
    port = lab.start("imapd", ["-m", maildir])
    M = imaplib.IMAP4("127.0.0.1", port)
    ok(M.login("etudiant", "Etudiant1"), "LOGIN")

    # the delimiter, then a fresh tree
    d = ok(M.list('""', '""'), 'LIST "" ""')
    check(d == [b'(\\Noselect) "/" ""'], "delimiter: %r" % d)
    for name in ("Work", "Archive/2026", "Sent", "Trash", "Entw&APw-rfe",
                 "Empty/"):
        ok(M.create(name), "CREATE " + name)
    no(M.create("Work"), "CREATE existing")
    no(M.create("../escape"), "CREATE ../escape")
    check(not os.path.exists(os.path.join(maildir, "escape")), "escaped!")
    check(os.path.isfile(os.path.join(udir, "Entw\u00fcrfe")),
          "UTF-8 file name on disk")
    st = os.stat(os.path.join(udir, "Work"))
    check(st.st_uid == uid and (st.st_mode & 0o777) == 0o600,
          "Work owner/mode %d %o" % (st.st_uid, st.st_mode))

    lst = listing(ok(M.list('""', "*"), "LIST *"))
    want = {"INBOX": {"\\HasNoChildren"},
            "Archive": {"\\Noselect", "\\HasChildren"},
            "Archive/2026": {"\\HasNoChildren"},
            "Empty": {"\\Noselect", "\\HasNoChildren"},
            "Entw&APw-rfe": {"\\HasNoChildren"},
            "Sent": {"\\HasNoChildren", "\\Sent"},
            "Trash": {"\\HasNoChildren", "\\Trash"},
            "Work": {"\\HasNoChildren"}}
    check(lst == want, "LIST * gave %r" % lst)
    lst = listing(ok(M.list('""', "%"), "LIST %"))
    check(set(lst) == {"INBOX", "Archive", "Empty", "Entw&APw-rfe", "Sent",
                       "Trash", "Work"}, "LIST %% gave %r" % lst)
    lst = listing(ok(M.list("Archive/", "%"), "LIST Archive/ %"))
    check(set(lst) == {"Archive/2026"}, "LIST ref gave %r" % lst)

    # STATUS, SELECT, COPY with COPYUID, MOVE, SEARCH
    d = ok(M.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)"), "STATUS")
    check(b"MESSAGES 3" in d[0] and b"UNSEEN 3" in d[0] and
          b"UIDNEXT 4" in d[0], "STATUS INBOX %r" % d)
    ok(M.select("INBOX"), "SELECT")
    typ, d = M.copy("1:2", "Work")
    check(typ == "OK", "COPY %r" % d)
    check(M.untagged_responses.get("COPYUID") or b"COPYUID" in d[0],
          "no COPYUID: %r" % d)
    check(M.copy("1", "Nope")[0] == "NO", "COPY to a missing mailbox")
    typ, d = M._simple_command("UID", "MOVE", "3", "Archive/2026")
    check(typ == "OK", "UID MOVE %r" % d)
    exp = M.untagged_responses.pop("EXPUNGE", [])
    check(exp == [b"3"], "MOVE expunged %r" % exp)
    d = ok(M.search(None, "ALL"), "SEARCH ALL")
    check(d == [b"1 2"], "after MOVE: %r" % d)
    d = ok(M.search(None, "BODY", "word2"), "SEARCH BODY")
    check(d == [b"2"], "SEARCH BODY word2: %r" % d)
    d = ok(M.uid("SEARCH", "OR", "SUBJECT", '"message 1"', "FROM",
                 "sender2"), "UID SEARCH OR")
    check(d == [b"1 2"], "UID SEARCH: %r" % d)
    check(M.search("KOI8-R", "ALL")[0] == "NO", "BADCHARSET")
    d = ok(M.status("Work", "(MESSAGES)"), "STATUS Work")
    check(b"MESSAGES 2" in d[0], "Work after COPY %r" % d)
    d = ok(M.status("Archive/2026", "(MESSAGES)"), "STATUS Archive/2026")
    check(b"MESSAGES 1" in d[0], "Archive after MOVE %r" % d)

    # APPEND with flags and date
    msg = b"From: me@example.org\r\nSubject: draft\r\n\r\nhello\r\n"
    typ, d = M.append("Entw&APw-rfe", "(\\Draft \\Seen)",
                      imaplib.Time2Internaldate(1700000000), msg)
    check(typ == "OK" and b"APPENDUID" in d[0], "APPEND %r" % d)
    ok(M.select("Entw&APw-rfe"), "SELECT mUTF-7 name")
    d = ok(M.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])"), "FETCH")
    check(b"\\Draft" in d[0][0] and b"\\Seen" in d[0][0], "flags %r" % d)
    check(b"14-Nov-2023 22:13:20 +0000" in d[0][0], "date %r" % d[0][0])
    check(d[0][1] == msg, "appended bytes differ: %r" % d[0][1])
    check(M.append("Nope", None, None, msg)[0] == "NO", "APPEND missing")
    ok(M.close(), "CLOSE")

    # SUBSCRIBE / LSUB
    ok(M.subscribe("Archive/2026"), "SUBSCRIBE")
    ok(M.subscribe("INBOX"), "SUBSCRIBE INBOX")
    lst = listing(ok(M.lsub('""', "*"), "LSUB *"))
    check(set(lst) == {"Archive/2026", "INBOX"}, "LSUB %r" % lst)
    lst = listing(ok(M.lsub('""', "%"), "LSUB %"))
    check(lst.get("Archive") == {"\\Noselect"}, "LSUB %% parent %r" % lst)
    ok(M.unsubscribe("INBOX"), "UNSUBSCRIBE")
    check(os.path.isfile(os.path.join(udir, ".subscriptions")),
          "subscriptions file")

    # RENAME, DELETE
    ok(M.rename("Work", "Projects/Work"), "RENAME")
    check(os.path.isfile(os.path.join(udir, "Projects", "Work")),
          "renamed file")
    d = no(M.delete("Projects"), "DELETE a parent with children")
    check(not d[0].startswith(b"[") and b"DELETE them first" in d[0],
          "DELETE of a parent: no response code, a lesson: %r" % d)
    no(M.delete("INBOX"), "DELETE INBOX")
    ok(M.delete("Projects/Work"), "DELETE Projects/Work")
    ok(M.delete("Projects"), "DELETE Projects")
    ok(M.delete("Empty"), "DELETE Empty")
    ok(M.rename("INBOX", "Old"), "RENAME INBOX")
    d = ok(M.status("INBOX", "(MESSAGES)"), "STATUS INBOX")
    check(b"MESSAGES 0" in d[0], "INBOX after RENAME %r" % d)
    d = ok(M.status("Old", "(MESSAGES)"), "STATUS Old")
    check(b"MESSAGES 2" in d[0], "Old after RENAME %r" % d)
    check(M.logout()[0] == "BYE", "LOGOUT")

    # on disk: mbox files, everything owned by the user, inside udir only
    with open(os.path.join(udir, "Old"), "rb") as f:
        data = f.read()
    check(data.startswith(b"From ") and b"body of message 1" in data,
          "Old is not an mbox with the messages")
    for root, dirs, files in os.walk(udir):
        for n in dirs + files:
            st = os.lstat(os.path.join(root, n))
            check(st.st_uid == uid, "%s not owned by the user" % n)
    check(sorted(os.listdir(maildir)) == ["etudiant"],
          "stray files in the mail root: %r" % os.listdir(maildir))
    big_copy(lab, port, udir)
    late_rename(lab, port)
    lab.stop()
    print("ok: imapd folders end to end")


def late_rename(lab, port):
    """RENAME INBOX while INBOX is selected and mail arrived after the
    session's last look (audit 1, A.2): every message ends up exactly
    once, in the new mailbox or in INBOX, never in both."""
    sport = lab.start("smtpd")
    M = imaplib.IMAP4("127.0.0.1", port)
    ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    for n in range(2):
        lab.smtp_send(sport, "a@b.c", "etudiant@localhost",
                      "Subject: early %d\r\n\r\nhi\r\n" % n)
    d = ok(M.select("INBOX"), "SELECT INBOX")
    check(d == [b"2"], "INBOX before the late mail: %r" % d)
    ok(M.noop(), "NOOP")
    lab.smtp_send(sport, "a@b.c", "etudiant@localhost",
                  "Subject: late\r\n\r\nhi\r\n")
    ok(M.rename("INBOX", "Late"), "RENAME INBOX Late")
    M.logout()
    M = imaplib.IMAP4("127.0.0.1", port)
    ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    subjects = []
    for box in ("Late", "INBOX"):
        typ, d = M.select(box)
        check(typ == "OK", "SELECT %s %r" % (box, d))
        if d != [b"0"]:
            d = ok(M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
                   "FETCH " + box)
            subjects += [x[1].strip() for x in d if isinstance(x, tuple)]
    check(sorted(subjects) == [b"Subject: early 0", b"Subject: early 1",
                               b"Subject: late"],
          "after RENAME INBOX with late mail: %r" % subjects)
    M.logout()


def big_copy(lab, port, udir):
    """COPY of more than one batch (FOLD_BATCH_BYTES, 32 MiB): 3 messages
    of 12 MiB arrive whole, in order, with consecutive UIDs."""
    st = os.stat(os.path.join(udir, "Old"))
    path = os.path.join(udir, "Big")
    line = b"x" * 76 + b"\n"
    with open(path, "wb") as f:
        for n in range(3):
            f.write(b"From big@example.org Mon Jan 16 13:09:16 2023\n"
                    b"Subject: big %d\n\n" % n)
            f.write(line * (12 * 1024 * 1024 // len(line)))
            f.write(b"\n")
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, 0o600)
    M = imaplib.IMAP4("127.0.0.1", port)
    ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    ok(M.create("Copies"), "CREATE Copies")
    ok(M.select("Big"), "SELECT Big")
    typ, d = M.copy("1:3", "Copies")
    check(typ == "OK" and re.search(rb"COPYUID \d+ 1:3 1:3\]", d[0]),
          "big COPY %r" % d)
    sizes = ok(M.fetch("1:3", "(RFC822.SIZE)"), "FETCH sizes")
    ok(M.select("Copies"), "SELECT Copies")
    check(ok(M.fetch("1:3", "(RFC822.SIZE)"), "FETCH copies") == sizes,
          "copied sizes differ")
    d = ok(M.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH 3")
    check(b"big 2" in d[0][1], "order of the copies %r" % d)
    M.logout()


if __name__ == "__main__":
    main()
