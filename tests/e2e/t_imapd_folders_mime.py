"""t_imapd_folders_mime - FETCH (RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE)
through the real imapd binary matches Dovecot's answers for a few of the
fixtures in tests/fixtures/mime (the unit test test_mime compares all 24
at the parser level; this checks the same rendering over the wire: APPEND,
storage in mbox, the served form, literals in the response).

The comparison is structural, with the tolerance test_mime documents:
types, subtypes, encodings and parameter names case-insensitive, every
other string, number and NIL exact.
"""
import imaplib
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mslib  # noqa: E402
import t_imapd_folders as T  # noqa: E402

# message/rfc822 in multipart/report; nested multiparts; RFC 2231
# parameters; a bounce with a message/rfc822 and a longer body.
FIXTURES = ["msg_05", "msg_12a", "msg_32", "msg_16"]


fail = mslib.fail


class Reader:
    """IMAP s-expressions: lists, quoted strings, literals, atoms, NIL."""

    def __init__(self, data):
        self.d = data
        self.i = 0

    def ws(self):
        while self.i < len(self.d) and self.d[self.i:self.i + 1] == b" ":
            self.i += 1

    def item(self):
        self.ws()
        c = self.d[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            out = []
            while True:
                self.ws()
                if self.d[self.i:self.i + 1] == b")":
                    self.i += 1
                    return out
                if self.i >= len(self.d):
                    raise ValueError("unterminated list")
                out.append(self.item())
        if c == b'"':
            self.i += 1
            s = bytearray()
            while self.d[self.i:self.i + 1] != b'"':
                if self.d[self.i:self.i + 1] == b"\\":
                    self.i += 1
                s += self.d[self.i:self.i + 1]
                self.i += 1
            self.i += 1
            return ("s", bytes(s))
        if c == b"{":
            j = self.d.index(b"}\r\n", self.i)
            n = int(self.d[self.i + 1:j])
            self.i = j + 3
            s = self.d[self.i:self.i + n]
            self.i += n
            return ("s", s)
        j = self.i
        while j < len(self.d) and self.d[j:j + 1] not in (b" ", b"(", b")",
                                                          b"\r", b"\n"):
            j += 1
        if j == self.i:
            raise ValueError("syntax at %d: %r" % (self.i, self.d[self.i:]))
        a = self.d[self.i:j]
        self.i = j
        return None if a == b"NIL" else ("a", a)


def fetch_items(data):
    """FETCH att list (as a flat [name, value, ...] list) -> dict."""
    r = Reader(data)
    r.ws()
    while r.d[r.i:r.i + 1] != b"(":
        r.i += 1
    lst = r.item()
    return {lst[k][1].decode(): lst[k + 1] for k in range(0, len(lst), 2)}


def raw_response(data):
    """imaplib's FETCH data (tuples for literals) back to one byte string."""
    out = b""
    for d in data:
        if isinstance(d, tuple):
            out += d[0] + b"\r\n" + d[1]
        elif d is not None:
            out += d
    return out


class Cmp:
    def __init__(self, name):
        self.name = name

    def bad(self, what, a, b):
        fail("%s: %s differs: imapd %r, dovecot %r" % (self.name, what, a, b))

    def exact(self, what, a, b):
        if a != b:
            self.bad(what, a, b)

    def ci(self, what, a, b):
        if (a is None) != (b is None) or (a is not None and (
                a[0] != b[0] or a[1].lower() != b[1].lower())):
            self.bad(what, a, b)

    def params(self, a, b):
        if (a is None) != (b is None) or (a is not None and len(a) != len(b)):
            self.bad("parameter list", a, b)
        for k in range(len(a or [])):
            (self.ci if k % 2 == 0 else self.exact)("parameter", a[k], b[k])

    def disposition(self, a, b):
        if (a is None) != (b is None):
            self.bad("disposition", a, b)
        if a is not None:
            self.ci("disposition type", a[0], b[0])
            self.params(a[1], b[1])

    def ext(self, a, b, k):
        if len(a) > k:
            self.disposition(a[k], b[k])
            self.exact("language", a[k + 1], b[k + 1])
            self.exact("location", a[k + 2], b[k + 2])

    def body(self, a, b):
        if not isinstance(a, list) or not isinstance(b, list) or \
                len(a) != len(b) or len(a) < 2:
            self.bad("body shape", a, b)
        if isinstance(a[0], list):                  # multipart
            i = 0
            while isinstance(a[i], list):
                if not isinstance(b[i], list):
                    self.bad("part count", a, b)
                self.body(a[i], b[i])
                i += 1
            if isinstance(b[i], list):
                self.bad("part count", a, b)
            self.ci("multipart subtype", a[i], b[i])
            if i + 1 < len(a):
                self.params(a[i + 1], b[i + 1])
                self.ext(a, b, i + 2)
            return
        self.ci("type", a[0], b[0])
        self.ci("subtype", a[1], b[1])
        self.params(a[2], b[2])
        self.exact("content-id", a[3], b[3])
        self.exact("description", a[4], b[4])
        self.ci("encoding", a[5], b[5])
        self.exact("size", a[6], b[6])
        t, s = a[0][1].lower(), a[1][1].lower()
        k = 7
        if t == b"text":
            self.exact("lines", a[7], b[7])
            k = 8
        elif (t, s) == (b"message", b"rfc822"):
            self.exact("envelope", a[7], b[7])
            self.body(a[8], b[8])
            self.exact("lines", a[9], b[9])
            k = 10
        if len(a) > k:
            self.exact("md5", a[k], b[k])
            self.ext(a, b, k + 1)


def main():
    src = os.environ.get("SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    fixdir = os.path.join(src, "tests", "fixtures", "mime")
    if not os.path.isdir(fixdir):
        mslib.skip("no fixtures at %s" % fixdir)
    lab, maildir, _udir, _uid = T.make_lab()
    port = lab.start("imapd", ["-m", maildir])
    M = imaplib.IMAP4("127.0.0.1", port)
    T.ok(M.login("etudiant", "Etudiant1"), "LOGIN")
    T.ok(M.create("Fixtures"), "CREATE Fixtures")
    for name in FIXTURES:
        with open(os.path.join(fixdir, name + ".eml"), "rb") as f:
            msg = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        typ, d = M.append("Fixtures", None, None, msg)
        T.check(typ == "OK", "APPEND %s: %r" % (name, d))
    T.ok(M.select("Fixtures"), "SELECT Fixtures")
    for n, name in enumerate(FIXTURES, 1):
        data = T.ok(M.fetch(str(n), "(RFC822.SIZE ENVELOPE BODY "
                                    "BODYSTRUCTURE)"), "FETCH " + name)
        ours = fetch_items(raw_response(data))
        with open(os.path.join(fixdir, name + ".dovecot"), "rb") as f:
            theirs = fetch_items(f.read())
        c = Cmp(name)
        c.exact("RFC822.SIZE", ours["RFC822.SIZE"], theirs["RFC822.SIZE"])
        c.exact("ENVELOPE", ours["ENVELOPE"], theirs["ENVELOPE"])
        c.body(ours["BODY"], theirs["BODY"])
        c.body(ours["BODYSTRUCTURE"], theirs["BODYSTRUCTURE"])
    M.logout()
    lab.stop()
    print("ok: FETCH ENVELOPE/BODY/BODYSTRUCTURE of %d fixtures match "
          "Dovecot's over the wire" % len(FIXTURES))


if __name__ == "__main__":
    main()
