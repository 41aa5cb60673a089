"""t_infra_gen_mbox: bench/gen_mbox.py writes what the benchmarks assume:
the same bytes for the same seed, valid mboxrd (every "From " line at the
start of a line is a separator after a blank line; body From lines quoted),
the mean size near the target with a heavy tail, multipart messages whose
base64 decodes, and - when pop3d is built - the same message count as our
own mbox parser sees."""

import base64
import email
import email.policy
import io
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))
import mslib  # noqa: E402
import gen_mbox  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def gen(n, seed, **kw):
    out = io.BytesIO()
    count, size = gen_mbox.generate(out, n, seed, **kw)
    data = out.getvalue()
    assert size == len(data)
    return count, data


def main():
    n, data = gen(2000, 5)
    _, again = gen(2000, 5)
    _, other = gen(2000, 6)
    check(n == 2000, "2000 messages written")
    check(data == again, "same seed, same bytes")
    check(data != other, "another seed, other bytes")

    # Separators: "From " at a line start only after a blank line (or at the
    # start), with a sender and a date.
    seps = [m.start() for m in re.finditer(rb"(?m)^From ", data)]
    good = all(p == 0 or data[p - 2:p] == b"\n\n" for p in seps)
    check(len(seps) == n and good, "every unquoted From line is one of the %d separators" % n)
    sep_re = re.compile(rb"^From \S+@\S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
    lines = [data[p:data.index(b"\n", p)] for p in seps]
    check(all(sep_re.match(l) for l in lines), "separators carry a sender and a date")
    quoted = len(re.findall(rb"(?m)^>From ", data))
    check(quoted >= 50, "body From lines are quoted (%d >From lines)" % quoted)
    check(re.search(rb"(?m)^>>From ", data) is not None, ">From lines in bodies gain one more >")

    msgs = [data[a:b] for a, b in zip(seps, seps[1:] + [len(data)])]
    sizes = sorted(len(m) for m in msgs)
    mean = sum(sizes) / len(sizes)
    check(8 * 1024 <= mean <= 13 * 1024, "mean size %.0f bytes near 10 KiB" % mean)
    check(sizes[len(sizes) // 2] < mean and sizes[-1] > 20 * mean,
          "heavy tail: median %d, max %d" % (sizes[len(sizes) // 2], sizes[-1]))
    _, small = gen(300, 1, avg=2048)
    check(len(small) / 300 < 4096, "-a scales the mean (avg 2048 -> %d)" % (len(small) / 300))

    # Parse with the email package: headers there, multipart decodes.
    kinds = {"mixed": 0, "alternative": 0, "plain": 0}
    bad = 0
    for m in msgs:
        body = m.split(b"\n", 1)[1]
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        msg = email.message_from_bytes(body, policy=email.policy.compat32)
        if not (msg["Message-ID"] and msg["Date"] and msg["From"] and msg["Received"]):
            bad += 1
        sub = msg.get_content_subtype()
        kinds[sub if sub in kinds else "plain"] += 1
        if sub == "mixed":
            for part in msg.walk():
                if part.get("Content-Transfer-Encoding") == "base64":
                    raw = part.get_payload()
                    try:
                        base64.b64decode(raw.replace("\n", ""), validate=True)
                    except ValueError:
                        bad += 1
        if msg.defects:
            bad += 1
    check(bad == 0, "all messages parse, with headers and valid base64 (%d bad)" % bad)
    check(kinds["mixed"] > 50 and kinds["alternative"] > 100 and kinds["plain"] > 1000,
          "a realistic mix: %r" % kinds)

    # Our own parser agrees on the count (pop3d STAT), when pop3d is built.
    p = os.path.join(mslib.outdir(), "pop3d", "pop3d")
    if os.access(p, os.X_OK):
        with mslib.Lab() as lab:
            with open(lab.mbox("etudiant"), "wb") as f:
                f.write(data)
            port = lab.start("pop3d", as_user="nobody" if os.getuid() == 0 else None)
            with lab.connect(port, timeout=60) as c:
                c.readline()
                c.cmd("USER etudiant")
                c.cmd("PASS Etudiant1")
                stat = c.cmd("STAT")
                c.cmd("QUIT")
            check(stat.startswith("+OK %d " % n), "pop3d counts the same: %s" % stat)
    else:
        print("note: pop3d not built, parser cross-check skipped")

    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
