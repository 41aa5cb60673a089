#!/usr/bin/env python3
"""gen_mbox.py - write a realistic mboxrd mailbox for benchmarks and tests.

    python3 bench/gen_mbox.py [-n COUNT | -b BYTES] [-s SEED] [-a AVG] [-o FILE]

Deterministic: the same arguments and seed give the same bytes.  Messages
look like a real inbox: a Received chain, Return-Path, Date, From, To, Cc,
Subject (some RFC 2047 encoded), Message-ID, In-Reply-To/References on
replies, MIME headers; plain text (ASCII, UTF-8 8bit or quoted-printable),
multipart/alternative text+HTML, and multipart/mixed with base64
attachments.  Sizes follow a heavy-tailed distribution: most messages are a
few KiB, a few carry attachments of tens of KiB to a few MiB; the mean is
about AVG bytes (default 10240).  Some bodies contain lines starting with
"From " and ">From " (quoted the mboxrd way: one more ">"), some messages
carry "Status: RO" as a mail reader leaves them.

Options:
  -n COUNT    number of messages (default 1000)
  -b BYTES    instead of -n: stop once the file reaches BYTES (k/M/G suffix)
  -s SEED     random seed (default 1)
  -a AVG      target mean message size in bytes (default 10240)
  -o FILE     output file (default stdout)
  --from-rate F      fraction of messages with "From " lines in the body (0.05)
  --attach-rate F    fraction of multipart/mixed messages with attachments (0.08)
  --status-rate F    fraction with "Status: RO" (0.25)
  --max-size BYTES   cap on one message (default 8M)
  -q          no summary on stderr

As a module: gen_mbox.generate(out_binary_file, count=..., seed=...) returns
(messages, bytes); gen_mbox.messages(count, seed) yields each message's
bytes (separator line included).
"""

import argparse
import base64
import math
import random
import re
import sys
import time

WORDS = """the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has
would when if so no will can more about said up out them some could what into only
time other new two may then do first any like now my such over our man me even most
made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still
own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take
three meeting report server mailbox message delivery queue student network protocol
project draft review budget schedule invoice attached please thanks regards tomorrow
monday friday update release patch build test lab exam course grade deadline""".split()

FR = ("Cher étudiant, voici le compte rendu de la réunion de mercredi. "
      "Les étudiants doivent rendre le TP avant vendredi à midi. "
      "Merci de vérifier la configuration du serveur de messagerie. "
      "Ça marche très bien avec telnet, mais pas encore avec Thunderbird. ")

FIRST = ("Alice Bob Carol David Emma Farid Gaëlle Hugo Inès Jules Karim Léa Marc "
         "Nadia Olivier Pauline Quentin Rachid Sophie Thomas Ulysse Valérie Yann Zoé").split()
LAST = ("Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon "
        "Laurent Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier").split()
DOMAINS = ("univ-example.fr etu.univ-example.fr example.org example.com lists.example.net "
           "mail.example.de corp.example.co.uk").split()
RELAYS = ("mx1.univ-example.fr mx2.univ-example.fr smtp.example.org relay.example.com "
          "mail-wr1-f54.example.net out.lists.example.net").split()
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
          "Mutt/2.2.9 (2022-11-12)", "Evolution 3.46.4-2",
          "Microsoft Outlook 16.0", "Roundcube Webmail/1.6.5", "s-nail v14.9.24")
ATTACH = (("application/pdf", "rapport-%d.pdf"), ("image/jpeg", "photo_%d.jpg"),
          ("image/png", "schema-%d.png"), ("application/zip", "sources-%d.zip"),
          ("application/vnd.oasis.opendocument.text", "compte-rendu-%d.odt"))
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

FROM_RE = re.compile(rb"^(>*From )", re.M)
START = 1700000000          # message dates start here and move forward


class Gen:
    def __init__(self, seed, avg, from_rate, attach_rate, status_rate, max_size):
        self.r = random.Random(seed)
        r = self.r
        self.from_rate, self.attach_rate = from_rate, attach_rate
        self.status_rate, self.max_size = status_rate, max_size
        # Body sizes: log-normal (sigma 1) scaled so the mean message is AVG:
        # about 2 KiB of headers, text bodies with mean ~AVG*0.45, and
        # attachments on attach_rate of the messages carrying the rest.
        self.text_mu = math.log(max(200.0, avg * 0.45)) - 0.5
        att_mean = max(1000.0, (avg - 2100 - avg * 0.45) / max(attach_rate, 1e-6))
        self.att_mu = math.log(att_mean / 1.37) - 1.25 ** 2 / 2
        # Pools generated once: text paragraphs and random bytes for base64.
        self.paras = [self._para() for _ in range(600)]
        self.fr_paras = [(FR * r.randint(1, 4)).encode() for _ in range(20)]
        self.noise = r.randbytes(1 << 22)
        self.t = START + r.randint(0, 86400 * 30)
        self.n = 0

    def _para(self):
        r = self.r
        words = r.choices(WORDS, k=r.randint(20, 120))
        words[0] = words[0].capitalize()
        lines, cur = [], []
        for w in words:
            cur.append(w)
            if sum(map(len, cur)) + len(cur) > r.randint(60, 74):
                lines.append(" ".join(cur))
                cur = []
        if cur:
            lines.append(" ".join(cur))
        return ("\n".join(lines) + ".\n").encode()

    def _person(self):
        r = self.r
        f, l = r.choice(FIRST), r.choice(LAST)
        addr = "%s.%s@%s" % (f.lower().replace("ë", "e").replace("é", "e")
                             .replace("è", "e").replace("ï", "i"),
                             l.lower(), r.choice(DOMAINS))
        return f, l, addr

    @staticmethod
    def _date(t, tz="+0100"):
        tm = time.gmtime(t)
        return "%s, %d %s %d %02d:%02d:%02d %s" % (
            DAYS[tm.tm_wday], tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year,
            tm.tm_hour, tm.tm_min, tm.tm_sec, tz)

    def _text(self, size, utf8, from_lines=False):
        r, out, n = self.r, [], 0
        pool = self.paras
        while n < size:
            p = r.choice(self.fr_paras) if utf8 and r.random() < 0.3 else r.choice(pool)
            out.append(p)
            out.append(b"\n")
            n += len(p) + 1
        text = b"".join(out)
        return self._with_from_lines(text) if from_lines else text

    def _b64(self, size):
        off = self.r.randrange(0, len(self.noise) - 1)
        raw = (self.noise[off:] + self.noise)[:size] if size > len(self.noise) - off \
            else self.noise[off:off + size]
        while len(raw) < size:
            raw += self.noise[:size - len(raw)]
        enc = base64.b64encode(raw)
        return b"\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\n"

    def message(self):
        r = self.r
        self.n += 1
        self.t += r.randint(30, 7200)
        sf, sl, sender = self._person()
        rf, rl, rcpt = self._person()
        msgid = "<%d.%x.%d@%s>" % (self.t, r.getrandbits(48), self.n, sender.split("@")[1])
        subj = " ".join(r.choices(WORDS, k=r.randint(2, 9))).capitalize()
        h = []
        h.append("Return-Path: <%s>" % sender)
        hops = r.randint(1, 4)
        t = self.t
        for i in range(hops):
            relay = r.choice(RELAYS)
            h.append("Received: from %s (%s [192.0.2.%d])\n\tby %s (Postfix) with ESMTPS id %X\n"
                     "\tfor <%s>; %s" % (relay, relay, r.randint(1, 254),
                                         "mail.univ-example.fr" if i == 0 else r.choice(RELAYS),
                                         r.getrandbits(40), rcpt, self._date(t - 3 * i)))
        if r.random() < 0.6:
            h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n"
                     "\ts=sel%d; t=%d; h=from:to:subject:date:message-id;\n\tbh=%s;\n\tb=%s"
                     % (sender.split("@")[1], r.randint(1, 9), t,
                        base64.b64encode(r.randbytes(32)).decode(),
                        "\n\t  ".join(base64.b64encode(r.randbytes(192)).decode()[i:i + 64]
                                      for i in range(0, 256, 64))))
        h.append("Date: %s" % self._date(t))
        h.append("From: %s %s <%s>" % (sf, sl, sender)
                 if sf.isascii() else
                 "From: =?UTF-8?B?%s?= <%s>" % (base64.b64encode(
                     ("%s %s" % (sf, sl)).encode()).decode(), sender))
        h.append("To: %s %s <%s>" % (rf, rl, rcpt) if rf.isascii() else "To: <%s>" % rcpt)
        if r.random() < 0.3:
            h.append("Cc: " + ",\n\t".join("<%s>" % self._person()[2]
                                           for _ in range(r.randint(1, 4))))
        if r.random() < 0.15:
            h.append("Subject: =?UTF-8?Q?R=C3=A9union_du_%s?=" % r.choice(DAYS))
        else:
            h.append("Subject: %s%s" % ("Re: " if r.random() < 0.3 else "", subj))
        h.append("Message-ID: %s" % msgid)
        if r.random() < 0.3:
            ref = "<%d.%x@%s>" % (t - 5000, r.getrandbits(40), r.choice(DOMAINS))
            h.append("In-Reply-To: %s\nReferences: %s" % (ref, ref))
        h.append("User-Agent: %s" % r.choice(AGENTS))
        h.append("MIME-Version: 1.0")

        text_size = min(int(r.lognormvariate(self.text_mu, 1.0)), self.max_size // 2)
        fl = r.random() < self.from_rate     # "From " lines in the text
        kind = r.random()
        if kind < self.attach_rate:
            body = self._mixed(h, text_size, fl)
        elif kind < self.attach_rate + 0.2:
            body = self._alternative(h, text_size, fl)
        else:
            utf8 = r.random() < 0.3
            text = self._text(text_size, utf8, fl)
            if utf8 and r.random() < 0.5:
                text = _qp(text)
                h.append("Content-Type: text/plain; charset=UTF-8; format=flowed")
                h.append("Content-Transfer-Encoding: quoted-printable")
            else:
                h.append("Content-Type: text/plain; charset=%s" % ("UTF-8" if utf8 else "us-ascii"))
                h.append("Content-Transfer-Encoding: %s" % ("8bit" if utf8 else "7bit"))
            body = text
        if r.random() < self.status_rate:
            h.append("Status: RO")
        head = ("\n".join(h) + "\n\n").encode()
        body = FROM_RE.sub(rb">\1", body)           # mboxrd quoting
        if not body.endswith(b"\n"):
            body += b"\n"
        sep = "From %s %s\n" % (sender, time.strftime("%a %b %e %H:%M:%S %Y",
                                                       time.gmtime(self.t)))
        return sep.encode() + head + body + b"\n"

    def _with_from_lines(self, body):
        r = self.r
        cut = body.rfind(b"\n", 0, max(1, len(body) // 2)) + 1
        extra = r.choice((b"From the minutes of the last meeting, we keep three points.\n",
                          b"From here on, the server answers with 250.\n"
                          b">From a quoted message: already escaped once.\n",
                          b"\nFrom: someone who pasted a header\n"))
        return body[:cut] + extra + body[cut:]

    def _alternative(self, h, size, fl):
        r = self.r
        b = "=_alt_%x" % r.getrandbits(64)
        h.append('Content-Type: multipart/alternative; boundary="%s"' % b)
        text = self._text(size // 2 + 1, False, fl)
        html = b"<html><body>\n" + b"".join(
            b"<p>" + p.replace(b"\n", b" ") + b"</p>\n"
            for p in text.split(b"\n\n") if p) + b"</body></html>\n"
        bb = b.encode()
        return (b"This is a multi-part message in MIME format.\n\n--" + bb +
                b"\nContent-Type: text/plain; charset=us-ascii\n"
                b"Content-Transfer-Encoding: 7bit\n\n" + text + b"\n--" + bb +
                b"\nContent-Type: text/html; charset=us-ascii\n"
                b"Content-Transfer-Encoding: 7bit\n\n" + html + b"\n--" + bb + b"--\n")

    def _mixed(self, h, size, fl):
        r = self.r
        b = "------------%018d" % r.getrandbits(59)
        h.append('Content-Type: multipart/mixed; boundary="%s"' % b)
        bb = b.encode()
        parts = [b"This is a multi-part message in MIME format.\n--" + bb +
                 b"\nContent-Type: text/plain; charset=UTF-8\n"
                 b"Content-Transfer-Encoding: 8bit\n\n" + self._text(min(size, 4000), True, fl)]
        for i in range(1 if r.random() < 0.8 else r.randint(2, 3)):
            att = min(int(r.lognormvariate(self.att_mu, 1.25)), self.max_size * 3 // 4)
            ctype, name = r.choice(ATTACH)
            name = name % r.randint(1, 99)
            parts.append(("\n--%s\nContent-Type: %s; name=\"%s\"\n"
                          "Content-Disposition: attachment; filename=\"%s\"\n"
                          "Content-Transfer-Encoding: base64\n\n"
                          % (b, ctype, name, name)).encode() + self._b64(max(att, 64)))
        parts.append(b"\n--" + bb + b"--\n")
        return b"".join(parts)


def _qp(text):
    """Quoted-printable for our own text: non-ASCII and '=' escaped, soft
    breaks keep lines under 76."""
    out = []
    for line in text.split(b"\n"):
        enc = "".join(c if (32 <= ord(c) < 127 and c != "=") else
                      "".join("=%02X" % x for x in c.encode())
                      for c in line.decode())
        while len(enc) > 75:
            cut = 75
            while enc[cut - 3:cut].find("=") >= 0 and cut > 70:
                cut -= 1
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        out.append(enc)
    return "\n".join(out).encode()


def messages(count=None, seed=1, avg=10240, max_bytes=None, from_rate=0.05,
             attach_rate=0.08, status_rate=0.25, max_size=8 << 20):
    g = Gen(seed, avg, from_rate, attach_rate, status_rate, max_size)
    total = 0
    while (count is None or g.n < count) and (max_bytes is None or total < max_bytes):
        m = g.message()
        total += len(m)
        yield m


def generate(out, count=None, seed=1, **kw):
    n = size = 0
    buf, blen = [], 0
    for m in messages(count, seed, **kw):
        buf.append(m)
        blen += len(m)
        n += 1
        if blen > 1 << 20:
            out.write(b"".join(buf))
            size += blen
            buf, blen = [], 0
    out.write(b"".join(buf))
    return n, size + blen


def _bytes(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:].lower(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def main():
    ap = argparse.ArgumentParser(description="write a realistic mboxrd mailbox")
    ap.add_argument("-n", type=int, dest="count")
    ap.add_argument("-b", type=_bytes, dest="max_bytes")
    ap.add_argument("-s", type=int, default=1, dest="seed")
    ap.add_argument("-a", type=int, default=10240, dest="avg")
    ap.add_argument("-o", dest="output")
    ap.add_argument("--from-rate", type=float, default=0.05)
    ap.add_argument("--attach-rate", type=float, default=0.08)
    ap.add_argument("--status-rate", type=float, default=0.25)
    ap.add_argument("--max-size", type=_bytes, default=8 << 20)
    ap.add_argument("-q", action="store_true")
    a = ap.parse_args()
    if a.count is None and a.max_bytes is None:
        a.count = 1000
    t0 = time.monotonic()
    out = open(a.output, "wb") if a.output else sys.stdout.buffer
    n, size = generate(out, a.count, a.seed, avg=a.avg, max_bytes=a.max_bytes,
                       from_rate=a.from_rate, attach_rate=a.attach_rate,
                       status_rate=a.status_rate, max_size=a.max_size)
    out.flush()
    if a.output:
        out.close()
    if not a.q:
        dt = time.monotonic() - t0
        print("gen_mbox: %d messages, %d bytes (mean %d), %.1f s, %.0f MB/s"
              % (n, size, size // max(n, 1), dt, size / 1e6 / max(dt, 1e-9)), file=sys.stderr)


if __name__ == "__main__":
    main()
