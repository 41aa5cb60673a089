#!/usr/bin/env python3
"""bench_imapd_part2 - imapd's SEARCH, FETCH (ENVELOPE BODYSTRUCTURE) and
COPY on realistic mailboxes (bench/gen_mbox.py: 10k messages ~ 110 MiB,
100k ~ 1.1 GiB), through the real binary behind the lab launcher.

Measured, per mailbox size:
  - SELECT (first open of the mailbox)
  - FETCH 1:* (ENVELOPE BODYSTRUCTURE)
  - SEARCH BODY <rare word> (in 1% of the messages; the hit count is
    checked) and SEARCH BODY <frequent word>, first run and best of 3
  - COPY 1:1000 to another mailbox
Baseline of the same run: `grep -c -i -F WORD` over the mbox file (a
memory-speed scan that decodes nothing).  Dovecot's figures (10k, same kind
of machine, not this run) are printed beside ours.

BENCH_IMAPD2_SIZES=10000,100000 (default) chooses the mailbox sizes.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import compare_proto  # noqa: E402
import gen_mbox  # noqa: E402
import mslib  # noqa: E402
import t_imapd_folders as F  # noqa: E402

REF = {  # Dovecot, 10k messages ~ 100 MiB: (first open, indexed)
    "fetch": (0.70, 0.082),		# FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)
    "search_rare": (1.9, 1.8),		# SEARCH BODY, 1% hits
}
RARE = b"zanzibarite"
FREQUENT = b"the"


def make_mbox(path, count, uid, gid):
    """COUNT gen_mbox messages; RARE goes into the first body line of about
    1% of them (only single-part, non-encoded ones, so that the expected
    hit count is exact).  Returns (bytes, rare hits)."""
    hits = 0
    want = False
    size = 0
    with open(path, "wb", buffering=1 << 20) as f:
        for n, m in enumerate(gen_mbox.messages(count, seed=7)):
            if n % 100 == 50:
                want = True
            if want:
                end = m.find(b"\n\n")
                head = m[:end].lower()
                if (end > 0 and b"multipart" not in head and b"base64" not in head
                        and b"quoted-printable" not in head):
                    m = m[:end + 2] + RARE + b" was here\n" + m[end + 2:]
                    hits += 1
                    want = False
            f.write(m)
            size += len(m)
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    return size, hits


def timed(c, text, keep=None):
    """(seconds, (untagged count, untagged lines starting with KEEP))."""
    t0 = time.perf_counter()
    r = c.cmd(text, keep)
    return time.perf_counter() - t0, r


def grep_time(path, word):
    t0 = time.perf_counter()
    r = subprocess.run(["grep", "-c", "-i", "-F", word.decode(), path],
                       stdout=subprocess.PIPE, check=False)
    return time.perf_counter() - t0, int(r.stdout or b"0")


def search_ids(r):
    """The message numbers of a SEARCH timed with keep=b"* SEARCH"."""
    _, kept = r
    return kept[0].split()[2:]


def bench(lab, port, inbox, count, uid, gid):
    size, hits = make_mbox(inbox, count, uid, gid)
    mib = size / 1048576.0
    print("%d messages, %.0f MiB, rare word in %d messages" % (count, mib, hits))
    with open(inbox, "rb") as f:		# page cache warm, as for Dovecot's
        while f.read(1 << 24):
            pass
    c = compare_proto.Imap(port)
    c.cmd("LOGIN etudiant Etudiant1")
    dt, _ = timed(c, "SELECT INBOX")
    print("  SELECT (first open)                    %7.3f s" % dt)
    res = {"select": dt}
    dt, r = timed(c, "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    print("  FETCH 1:* (ENVELOPE BODYSTRUCTURE)     %7.3f s  (%d responses)"
          % (dt, r[0]))
    res["fetch"] = dt
    dt, r = timed(c, "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
    print("  FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE) %5.3f s" % dt)
    res["fetch_env"] = dt
    for name, word in (("rare", RARE), ("frequent", FREQUENT)):
        times, found = [], None
        for _ in range(3):
            dt, r = timed(c, "SEARCH BODY " + word.decode(), b"* SEARCH")
            times.append(dt)
            found = search_ids(r)
        gdt, glines = grep_time(inbox, word)
        print("  SEARCH BODY %-9s first %6.3f s, best %6.3f s, %6d hits, "
              "%5.0f MB/s; grep -ci %.3f s (%d lines)"
              % (name, times[0], min(times), len(found),
                 size / min(times) / 1e6, gdt, glines))
        if name == "rare" and len(found) != hits:
            print("  WRONG: %d hits, expected %d" % (len(found), hits))
            res["wrong"] = True
        res["search_" + name] = (times[0], min(times))
    for keys in ("UNSEEN", "SUBJECT zanzibarite", "FROM alice",
                 "SENTSINCE 1-Jan-2026", "TEXT zanzibarite"):
        dt, r = timed(c, "SEARCH " + keys, b"* SEARCH")
        print("  SEARCH %-30s %7.3f s  (%d hits)"
              % (keys, dt, len(search_ids(r))))
        res["search " + keys] = dt
    c.cmd("CREATE Copies%d" % count)
    n = min(1000, count)
    dt, r = timed(c, "COPY 1:%d Copies%d" % (n, count))
    print("  COPY 1:%d                            %7.3f s" % (n, dt))
    res["copy"] = dt
    c.cmd("DELETE Copies%d" % count)
    c.cmd("LOGOUT")
    return res


def main():
    sizes = [int(x) for x in
             os.environ.get("BENCH_IMAPD2_SIZES", "10000,100000").split(",")]
    base = os.environ.get("BENCH_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    os.environ.setdefault("TMPDIR", base)
    lab, maildir, udir, uid = F.make_lab()
    st = os.stat(lab.mbox("etudiant"))
    port = lab.start("imapd", ["-m", maildir])
    res = {}
    for count in sizes:
        res[count] = bench(lab, port, lab.mbox("etudiant"), count, st.st_uid,
                           st.st_gid)
    lab.stop()
    shutil.rmtree(lab.dir, ignore_errors=True)
    r = res.get(10000)
    if r:
        print("Dovecot reference, 10k (not this run): FETCH ENVELOPE %.2f s "
              "first open, %.3f s indexed; SEARCH BODY rare %.1f s / %.1f s"
              % (REF["fetch"] + REF["search_rare"]))
        print("  ours: FETCH (FLAGS UID RFC822.SIZE ENVELOPE) %.3f s (goal <= "
              "%.3f s); SEARCH BODY rare %.3f s = %.0fx faster than Dovecot "
              "indexed (goal 10x)"
              % (r["fetch_env"], REF["fetch"][1], r["search_rare"][1],
                 REF["search_rare"][1] / r["search_rare"][1]))
    if any(v.get("wrong") for v in res.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
