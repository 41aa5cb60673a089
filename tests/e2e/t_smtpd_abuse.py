"""t_smtpd_abuse - hostile and broken clients against the real smtpd under
the socket launcher.  Each gets a clear error, the session stays in step,
nothing is delivered by mistake and nothing is written outside the spool:
NUL bytes, a 10 MB line, binary garbage, commands out of order, path
tricks in RCPT, 1000 recipients, a client that stops reading, a client
that hangs up in the middle of DATA."""
import os
import random
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
from t_smtpd_seed import add_user, make_lab  # noqa: E402

MB = 1024 * 1024


def expect(c, prefix, what):
    line = c.readline()
    if not line.startswith(prefix):
        sys.exit("%s: expected %r, got %r" % (what, prefix, line))
    return line


def greet(c):
    expect(c, "220 ", "greeting")
    c.send("HELO abuse.test")
    expect(c, "250 ", "HELO")


def envelope(c, lab):
    c.send("MAIL FROM:<a@abuse.test>")
    expect(c, "250 2.1.0", "MAIL")
    c.send("RCPT TO:<etudiant@%s>" % lab.host)
    expect(c, "250 2.1.5", "RCPT")


def snapshot(lab):
    """Every path under the lab dir."""
    paths = set()
    for root, dirs, files in os.walk(lab.dir):
        for n in dirs + files:
            paths.add(os.path.relpath(os.path.join(root, n), lab.dir))
    return paths


def untouched(path):
    """PATH holds none of what the tests sent (other tests may change
    /etc/passwd meanwhile, so its date proves nothing)."""
    with open(path, "rb") as f:
        data = f.read()
    return b"abuse.test" not in data and b"Subject:" not in data


def nul_bytes(lab, port):
    with lab.connect(port) as c:
        greet(c)
        c.send_raw(b"MAIL FROM:<a\x00@b.c>\r\n")
        expect(c, "500 5.5.2 Error: NUL", "NUL in a command")
        envelope(c, lab)
        c.send("DATA")
        expect(c, "354 ", "DATA")
        c.send_raw(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
        expect(c, "554 5.6.0", "NUL in the message")
        c.send("NOOP")
        expect(c, "250 2.0.0 Ok", "in step after NUL")
    print("ok: NUL bytes refused")


def long_lines(lab, port):
    with lab.connect(port, timeout=60) as c:
        greet(c)
        c.send_raw(b"NOOP " + b"x" * (10 * MB) + b"\r\nNOOP\r\n")
        expect(c, "500 5.5.2 Error: line too long", "10 MB command")
        expect(c, "250 2.0.0 Ok", "in step after the 10 MB command")
        envelope(c, lab)
        c.send("DATA")
        expect(c, "354 ", "DATA")
        c.send_raw(b"Subject: long\r\n\r\n" + b"y" * (10 * MB) + b"\r\n.\r\n")
        expect(c, "500 5.5.2 Error: line too long", "10 MB message line")
        c.send("NOOP")
        expect(c, "250 2.0.0 Ok", "in step after the 10 MB line")
        # over the size limit in ordinary lines
        envelope(c, lab)
        c.send("DATA")
        expect(c, "354 ", "DATA")
        c.send_raw(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 11000
                   + b".\r\n")
        expect(c, "552 5.3.4", "11 MB message")
        c.send("QUIT")
        expect(c, "221 ", "QUIT")
    print("ok: 10 MB lines and an 11 MB message refused, in step")


def garbage(lab, port):
    rnd = random.Random(5321)
    blob = bytes(rnd.randrange(256) for _ in range(64 * 1024))
    with lab.connect(port) as c:
        expect(c, "220 ", "greeting")
        c.send_raw(blob)
        c.send_raw(b"\r\n")
        last = None
        try:
            while True:
                last = c.readline()
                if last[:3] not in ("500", "502", "503", "501", "421"):
                    sys.exit("garbage: odd reply %r" % last)
        except EOFError:
            pass
        if last is None or not last.startswith("421 4.7.0"):
            sys.exit("garbage: the session did not end with 421 4.7.0 "
                     "(last %r)" % last)
    print("ok: binary garbage answered, session closed after the error limit")


def http_request(lab, port):
    """A browser pointed at the SMTP port: 521, and the reply survives the
    hang-up although the request's headers are never read as commands."""
    with lab.connect(port) as c:
        expect(c, "220 ", "greeting")
        c.send_raw(b"POST /form HTTP/1.1\r\nHost: mail.test\r\n"
                   b"Content-Length: 20\r\n\r\nMAIL FROM:<x@y.z>\r\n")
        expect(c, "521 5.5.1", "HTTP request")
        if not c.closed():
            sys.exit("HTTP request: the session went on after 521")
    print("ok: an HTTP request gets 521 and the door")


def order_and_paths(lab, port):
    with lab.connect(port) as c:
        greet(c)
        c.send("DATA")
        expect(c, "503 5.5.1 Error: need MAIL command", "DATA before MAIL")
        c.send("MAIL FROM:<a@abuse.test>")
        expect(c, "250 ", "MAIL")
        c.send("DATA")
        expect(c, "503 5.5.1 Error: need RCPT command", "DATA before RCPT")
        c.send("RCPT TO:<../../etc/passwd@localhost>")
        expect(c, "501 5.1.3", "../../etc/passwd")
        c.send("RCPT TO:<etc/passwd@localhost>")
        expect(c, "550 5.1.1", "etc/passwd")
        c.send("RCPT TO:<..@localhost>")
        expect(c, "501 5.1.3", "..")
        c.send("RCPT TO:<\"../x\"@localhost>")
        expect(c, "550 5.1.1", "quoted ../x")
        c.send("RCPT TO:<root@evil.example>")
        expect(c, "554 5.7.1", "relay")
        c.send("RCPT TO:<etudiant@%s> ORCPT=rfc822;x" % lab.host)
        expect(c, "555 5.5.4", "unknown RCPT parameter")
        c.send("QUIT")
        expect(c, "221 ", "QUIT")
    print("ok: out-of-order commands and path tricks refused")


def thousand_rcpts(lab, port):
    for i in range(120):
        add_user(lab, "u%03d" % i)
    with lab.connect(port) as c:
        greet(c)
        c.send("MAIL FROM:<a@abuse.test>")
        expect(c, "250 ", "MAIL")
        c.send_raw("".join("RCPT TO:<u%03d@%s>\r\n" % (i % 120, lab.host)
                           if i < 120 else "RCPT TO:<etudiant@%s>\r\n" % lab.host
                           for i in range(1000)))
        ok = refused = 0
        try:
            while True:
                line = c.readline()
                if line.startswith("250 2.1.5"):
                    ok += 1
                elif line.startswith("452 4.5.3"):
                    refused += 1
                elif line.startswith("421 4.7.0"):
                    break
                else:
                    sys.exit("1000 RCPT: odd reply %r" % line)
        except EOFError:
            sys.exit("1000 RCPT: closed without 421")
        if ok != 100 or refused != 20:
            sys.exit("1000 RCPT: %d accepted, %d refused (want 100, 20)"
                     % (ok, refused))
    print("ok: 1000 RCPT: 100 accepted, then 452 until the error limit")


def stops_reading(lab):
    port = lab.start("smtpd", ["-t", "2"])
    launcher = lab._launches[port].proc.pid
    c = lab.connect(port)
    c.sock.setsockopt(__import__("socket").SOL_SOCKET,
                      __import__("socket").SO_RCVBUF, 4096)
    # 2 MB of NOOPs, never read: the replies fill both socket buffers
    try:
        c.sock.settimeout(15)
        c.send_raw(b"NOOP\r\n" * (350 * 1024))
    except OSError:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not [p for p in mslib.descendants(launcher) if mslib._alive(p)]:
            break
        time.sleep(0.2)
    else:
        sys.exit("a client that stops reading holds smtpd for over 30 s")
    c.close()
    lab.stop(port)
    print("ok: a client that stops reading is dropped after the timeout")


def hangs_up_in_data(lab, port):
    with lab.connect(port) as c:
        greet(c)
        envelope(c, lab)
        c.send("DATA")
        expect(c, "354 ", "DATA")
        c.send_raw(b"Subject: cut\r\n\r\nhalf a message\r\n" + b"x" * 100000)
    time.sleep(1)
    print("ok: hang-up in DATA")


def main():
    mslib.binary("smtpd")
    lab = make_lab()
    port = lab.start("smtpd")
    before = snapshot(lab)
    nul_bytes(lab, port)
    long_lines(lab, port)
    garbage(lab, port)
    http_request(lab, port)
    order_and_paths(lab, port)
    thousand_rcpts(lab, port)
    hangs_up_in_data(lab, port)
    stops_reading(lab)
    after = snapshot(lab)
    new = sorted(p for p in after - before if not p.endswith(".log")
                 and not p.endswith(".conf"))
    if new:
        sys.exit("files appeared: %s (nothing should have been delivered)" % new)
    if not untouched("/etc/passwd"):
        sys.exit("/etc/passwd holds what a client sent")
    if os.path.exists(lab.mbox("etudiant")):
        sys.exit("a message was delivered")
    lab.stop()
    print("ok: nothing delivered, nothing written outside the spool")


if __name__ == "__main__":
    main()
