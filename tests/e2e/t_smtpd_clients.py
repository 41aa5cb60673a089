"""t_smtpd_clients - real SMTP clients against the real smtpd under the
socket launcher: Python smtplib (EHLO, PIPELINING, 8BITMIME, SMTPUTF8),
swaks (with --pipeline) and curl smtp://.  Each message is then read back
from the mbox and compared byte for byte with what was sent: lines that
start with dots, "From " lines (mboxrd quoting), 8-bit text."""
import os
import shutil
import smtplib
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
from t_smtpd_seed import make_lab  # noqa: E402

TRACE = ("Return-Path:", "X-Original-To:", "Delivered-To:", "Received:")


def message(tag, host):
    """A message with its own Date and Message-ID (so none is added), CRLF."""
    lines = [
        "From: Kylian Mbapp\u00e9 <mbappe@fft.fr>",
        "To: etudiant@%s" % host,
        "Subject: %s" % tag,
        "Date: Mon, 16 Jan 2023 13:09:16 +0100",
        "Message-ID: <%s@fft.fr>" % tag,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        ".a line that starts with a dot",
        "..two dots",
        ".",
        "From the start of a line",
        ">From already quoted",
        "caf\u00e9 cr\u00e8me \u2014 8-bit text",
        "last line",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def stored(msg):
    """How the message must look in the mbox after our trace headers: LF
    line ends and mboxrd quoting of /^>*From /."""
    out = []
    for line in msg.decode("utf-8").split("\r\n")[:-1]:
        if line.lstrip(">").startswith("From "):
            line = ">" + line
        out.append(line)
    return ("\n".join(out) + "\n").encode("utf-8")


def messages(path):
    """The messages of an mbox: (from_line, trace_headers, rest) each."""
    data = open(path, "rb").read()
    out = []
    for chunk in data.split(b"\n\nFrom ")[0:]:
        if not chunk.startswith(b"From "):
            chunk = b"From " + chunk
        first, rest = chunk.split(b"\n", 1)
        lines = rest.split(b"\n")
        i = 0
        while i < len(lines) and (lines[i].decode().startswith(TRACE) or
                                  lines[i].startswith(b"\t")):
            i += 1
        body = b"\n".join(lines[i:])
        if not body.endswith(b"\n"):
            body += b"\n"
        out.append((first, lines[:i], body))
    return out


def find(path, tag):
    for first, trace, rest in messages(path):
        if b"\nSubject: %s\n" % tag.encode() in b"\n" + rest:
            return first, trace, rest
    sys.exit("%s: message %s not found in the mbox" % (path, tag))


def check(lab, tag, sent, sender="mbappe@fft.fr"):
    first, trace, rest = find(lab.mbox("etudiant"), tag)
    want = stored(sent)
    # the message ends with the mbox's blank separator line
    if rest.rstrip(b"\n") != want.rstrip(b"\n"):
        sys.exit("%s: stored message differs\n--- got\n%r\n--- want\n%r"
                 % (tag, rest, want))
    if not first.startswith(b"From " + sender.encode() + b" "):
        sys.exit("%s: separator %r" % (tag, first))
    if len(trace) < 6:
        sys.exit("%s: trace headers missing: %r" % (tag, trace))
    print("ok: %s stored byte for byte" % tag)


def with_smtplib(lab, port):
    msg = message("smtplib", lab.host)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test",
                      timeout=30) as s:
        code, _ = s.ehlo()
        assert code == 250
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                    "smtputf8"):
            if not s.has_extn(ext):
                sys.exit("EHLO lacks %s" % ext)
        refused = s.sendmail("mbappe@fft.fr", ["etudiant@" + lab.host],
                             msg, mail_options=["BODY=8BITMIME"])
        assert not refused, refused
        # a second transaction in the same session, and VRFY/NOOP/RSET
        assert s.noop()[0] == 250
        assert s.rset()[0] == 250
        try:
            s.sendmail("x@example.org", ["nosuch@" + lab.host], b"x\r\n")
            sys.exit("unknown user accepted")
        except smtplib.SMTPRecipientsRefused as e:
            code = e.recipients["nosuch@" + lab.host][0]
            assert code == 550, e.recipients
        try:
            s.sendmail("x@example.org", ["someone@example.com"], b"x\r\n")
            sys.exit("relay accepted")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["someone@example.com"]
            assert code == 554 and b"5.7.1" in text, e.recipients
        # SMTPUTF8: a non-ASCII sender
        s.sendmail("\u00e9l\u00e8ve@fft.fr", ["etudiant@" + lab.host],
                   message("utf8", lab.host),
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    check(lab, "smtplib", msg)
    check(lab, "utf8", message("utf8", lab.host), "\u00e9l\u00e8ve@fft.fr")


def with_swaks(lab, port):
    if not shutil.which("swaks"):
        print("note: swaks not installed, skipped that client")
        return
    msg = message("swaks", lab.host)
    path = os.path.join(lab.dir, "swaks.eml")
    # swaks dot-stuffs and ends the data itself (and adds a blank line)
    with open(path, "wb") as f:
        f.write(msg)
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                        "--helo", "swaks.test", "--from", "mbappe@fft.fr",
                        "--to", "etudiant@" + lab.host, "--pipeline",
                        "--data", "@" + path],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        sys.exit("swaks failed (%d):\n%s" % (r.returncode, r.stdout.decode(errors="replace")))
    if b"<-  250 2.0.0 Ok: queued as" not in r.stdout:
        sys.exit("swaks: no 250 after DATA:\n" + r.stdout.decode(errors="replace"))
    check(lab, "swaks", msg)


def with_curl(lab, port):
    if not shutil.which("curl"):
        print("note: curl not installed, skipped that client")
        return
    msg = message("curl", lab.host)
    path = os.path.join(lab.dir, "curl.eml")
    with open(path, "wb") as f:
        f.write(msg)
    r = subprocess.run(["curl", "-sS", "smtp://127.0.0.1:%d/curl.test" % port,
                        "--mail-from", "mbappe@fft.fr",
                        "--mail-rcpt", "etudiant@" + lab.host,
                        "--upload-file", path], capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        sys.exit("curl failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")))
    check(lab, "curl", msg)


def concurrent(lab, port):
    """8 clients deliver 25 messages each to one mailbox at once: the locks
    keep every message whole, none lost, none interleaved."""
    import threading
    errors = []

    def worker(i):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
                for j in range(25):
                    body = ("Subject: c%d-%d\r\n\r\n" % (i, j)
                            + "line of client %d\r\n" % i * 50).encode()
                    s.sendmail("c%d@fft.fr" % i, ["etudiant@" + lab.host], body)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    before = len(messages(lab.mbox("etudiant")))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("concurrent clients failed: %r" % errors[0])
    msgs = messages(lab.mbox("etudiant"))[before:]
    if len(msgs) != 200:
        sys.exit("concurrent: %d messages stored, want 200" % len(msgs))
    for first, trace, rest in msgs:
        i = int(rest.split(b"Subject: c", 1)[1].split(b"-", 1)[0])
        want = b"line of client %d\n" % i * 50
        if want not in rest or rest.count(b"line of client") != 50:
            sys.exit("concurrent: message of client %d mixed up" % i)
    print("ok: 8 concurrent clients, 200 messages in one mailbox, all whole")


def main():
    mslib.binary("smtpd")
    lab = make_lab()
    port = lab.start("smtpd")
    with_smtplib(lab, port)
    with_swaks(lab, port)
    with_curl(lab, port)
    concurrent(lab, port)
    lab.stop()


if __name__ == "__main__":
    main()
