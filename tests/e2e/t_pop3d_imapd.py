"""t_pop3d_imapd - pop3d's UIDL and imapd's UID/UIDVALIDITY name the same
messages: UIDL is "%08X%08X" of UID and UIDVALIDITY, before and after
pop3d deletes a message, and whichever server reads the mailbox first."""
import imaplib
import os
import re
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_pop3d as P  # noqa: E402


def imap_uidls(port):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("etudiant", "Etudiant1")
    typ, data = m.select("INBOX", readonly=True)
    P.check(typ == "OK", "SELECT: %r" % data)
    typ, data = m.response("UIDVALIDITY")
    validity = int(data[0])
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    uids = sorted(int(re.search(rb"UID (\d+)", d).group(1)) for d in data if d)
    m.logout()
    return ["%08X%08X" % (u, validity) for u in uids]


def main():
    mslib.binary("imapd")
    lab = P.make_lab()
    pport = lab.start("pop3d")
    iport = lab.start("imapd")
    P.write_mbox(lab, [P.msg(1), P.msg(2), P.msg(3)])
    a = imap_uidls(iport)           # imapd reads the fresh mailbox first
    b = P.uidl(lab, pport)
    P.check(a == b, "imapd %r vs pop3d %r" % (a, b))
    c = P.login(lab, pport)
    P.check(c.cmd("DELE 1").startswith("+OK"), "DELE")
    P.check(c.cmd("QUIT").startswith("+OK"), "QUIT")
    c.close()
    b2 = P.uidl(lab, pport)
    a2 = imap_uidls(iport)
    P.check(b2 == b[1:] and a2 == b2, "after DELE: pop3d %r, imapd %r, before %r" % (b2, a2, b))
    P.write_mbox(lab, [P.msg(4)], mode="ab")
    b3 = P.uidl(lab, pport)         # pop3d first this time
    a3 = imap_uidls(iport)
    P.check(a3 == b3 and b3[:2] == b2, "after a new message: pop3d %r, imapd %r" % (b3, a3))
    lab.stop()
    print("ok: pop3d UIDL == imapd UID+UIDVALIDITY (%s)" % ", ".join(b3))


if __name__ == "__main__":
    main()
