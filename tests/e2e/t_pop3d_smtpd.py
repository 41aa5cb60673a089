"""t_pop3d_smtpd - mail that smtpd delivers while a POP3 session is open is
not shown in that session (message numbers stay fixed) and survives the
session's QUIT, which deletes other messages."""
import os
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_pop3d as P  # noqa: E402


def main():
    mslib.binary("smtpd")
    lab = P.make_lab()
    pport = lab.start("pop3d")
    sport = lab.start("smtpd")
    P.write_mbox(lab, [P.msg(1), P.msg(2)])
    c = P.login(lab, pport)
    P.check(c.cmd("STAT").startswith("+OK 2 "), "STAT")
    P.multiline(c, "UIDL")      # UIDs persisted mid-session
    P.check(c.cmd("DELE 1").startswith("+OK"), "DELE 1")
    lab.smtp_send(sport, "mbappe@fft.fr", "etudiant@mail.test",
                  "Subject: arrived during the session\r\n\r\nhello\r\n")
    time.sleep(0.1)
    P.check(c.cmd("STAT").startswith("+OK 1 "), "new mail shown during the session")
    P.check(c.cmd("LIST 3").startswith("-ERR no message 3"), "LIST 3 during the session")
    r = c.cmd("QUIT")
    P.check(r == "+OK bye: 1 deleted, 1 left", "QUIT: %r" % r)
    c.close()
    data = open(lab.mbox("etudiant"), "rb").read()
    P.check(b"Subject: arrived during the session" in data, "delivered mail lost at QUIT:\n%r" % data)
    P.check(b"Subject: message 1\n" not in data, "message 1 not deleted")
    c = P.login(lab, pport)
    P.check(c.cmd("STAT").startswith("+OK 2 "), "next session does not see 2 messages")
    lines = P.multiline(c, "TOP 2 0")
    P.check("Subject: arrived during the session" in lines, "message 2 is not the new one: %r" % lines)
    u = P.multiline(c, "UIDL")
    P.check(len(set(l.split()[1] for l in u)) == 2, "UIDL: %r" % u)
    c.cmd("QUIT")
    lab.stop()
    print("ok: mail delivered during a session survives its QUIT")


if __name__ == "__main__":
    main()
