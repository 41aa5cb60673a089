"""bench_compare - our pop3d and imapd against popa3d and Dovecot, measured in
the same run on the same generated mailbox, and the ratios.

Runs only as root with BENCH_COMPARE=1 (it installs Debian packages and
adds system accounts for the run); otherwise it prints why it is skipped
and exits 0.  Then:

  1. installs dovecot-pop3d and dovecot-imapd with apt-get; popa3d, which
     Conflicts: pop3-server (dovecot-pop3d provides it), is fetched with
     apt-get download and unpacked under $BENCH_DIR/compare, not installed;
     a policy-rc.d denying service starts is put in place during the
     installs when the machine has none; afterwards every package daemon
     (system dovecot, popa3d, Postfix) is disabled/stopped, and the mail
     ports are checked free.
  2. generates one mailbox with bench/gen_mbox.py (10k messages, ~100 MiB;
     with --big or BENCH_COMPARE_BIG=1 also 100k, ~1 GiB) and gives each
     server its own copy, owned by the system account "mscmp" (popa3d logs
     it in through PAM from /var/mail/mscmp; ours and Dovecot use a
     passwd-file mapping the login to that uid).
  3. starts, each on a free 127.0.0.1 port: our pop3d and imapd behind the
     lab launcher (tests/e2e/mslib.py: xinetd, started as root, privilege
     separated), popa3d behind the same launcher (inetd mode, as root, as
     its package would run it), and one Dovecot 2.3 instance in the
     foreground (dovecot -F -c CONF: its own base_dir, passwd-file passdb
     and userdb, mail_location mbox, listeners on loopback only), run
     unprivileged: every Dovecot process as mscmp, no chroot
     (BENCH_COMPARE_DOVECOT_ROOT=1: the master as root, as the packaged
     service runs, the mail processes as mscmp).
  4. measures, the servers taking turns at each step (so that the load of
     a shared machine falls on all alike):
       POP3  login+STAT+LIST+UIDL+QUIT: the first session (Dovecot builds
             its index there) and warm (median of 5); RETR of every message
             one by one, one command per round trip, by a C client (MB/s of
             reply octets, median of 3); popa3d, which stalls ~40 ms on each reply, is
             stopped after BENCH_COMPARE_RETR_LIMIT seconds (default 60) and
             compared with ours on the same first messages; peak RSS
             (VmHWM) of the serving process, read before QUIT.
       IMAP  login+SELECT INBOX: first open, then second open (median of
             3); in the first and in the last session: FETCH 1:* (FLAGS UID
             RFC822.SIZE), FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE),
             SEARCH BODY for a rare phrase (1.4% of the messages); peak
             RSS.  A command a server answers NO/BAD is printed "n/a".
  5. SMTP, below.
  6. prints the tables: times in seconds, the ratio is how many times
     better ours is (theirs/ours for times and RSS, ours/theirs for MB/s),
     with the machine, the load average and the page-cache state.

SMTP: Postfix 3.7 is installed with debconf preseeded "Local only" (unless
apt-get would remove another package for it); its system instance is never
started and its units are disabled; a private instance (bench/compare_smtp.py)
on a loopback port and our smtpd receive the same load from Postfix's
smtp-source: 2000 messages of 4 KiB, one connection each; one session to one
recipient, then 8 concurrent sessions each to its own recipient (system
accounts mscmp, mscmp1..7, mailboxes in a root:mail 2775 spool like
/var/mail); a delivery counts once it is in the mbox.  The accounts, users
and directories the run adds are removed at the end; the packages stay
installed, with nothing running or enabled.

Environment: MS_OUT (our binaries, $MS_OUT/pop3d/pop3d ...), BENCH_DIR
(work files; default build/bench), BENCH_COMPARE=1 (run), BENCH_COMPARE_BIG=1
(add the 100k mailbox), BENCH_COMPARE_RETR_LIMIT (seconds, default 60),
BENCH_COMPARE_SMTP_MESSAGES (default 2000), BENCH_COMPARE_DOVECOT_ROOT=1,
BENCH_COMPARE_KEEP=1 (keep the work directory).
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import compare_proto as P  # noqa: E402
import compare_smtp as M  # noqa: E402
import compare_sys as S  # noqa: E402
import gen_mbox  # noqa: E402
import mslib  # noqa: E402

USER = "mscmp"               # the system account owning every mailbox copy
PASSWORD = "Etudiant1"
SMTP_USERS = [USER] + ["%s%d" % (USER, i) for i in range(1, 8)]   # 8 sessions, 8 mailboxes
LOGIN = "etudiant"           # passwd-file login (ours, Dovecot IMAP)
DV_POP_LOGIN = "etudpop"     # Dovecot POP3 login: its own mailbox and index
RARE = "network through most"    # body phrase in 1.4% of gen_mbox seed 1's messages
SEED = 1
POPA3D_PKG = "popa3d"
DOVECOT_PKGS = ["dovecot-pop3d", "dovecot-imapd"]
POSTFIX_PRESEED = ("postfix postfix/main_mailer_type select Local only\n"
                   "postfix postfix/mailname string localhost\n")
START_TIMEOUT = 20.0
PORTS_USED = set()           # every loopback port a server of this run listened on

DOVECOT_CONF = """# bench_compare.py: a private Dovecot on loopback ports
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = mbox:~/mail:INBOX={d}/spool/%u
passdb {{
  driver = passwd-file
  args = scheme=CRYPT {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
{unpriv}service imap-login {{
{nochroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
{nochroot}  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def say(*a):
    print(*a)
    sys.stdout.flush()


def wait_port(port, proc=None, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def copy_mbox(src, dst, uid, gid):
    shutil.copyfile(src, dst)
    os.chown(dst, uid, gid)
    os.chmod(dst, 0o600)


# ---- the servers -----------------------------------------------------------

class Server:
    """One server under test: name, protocol port, login, and how to find
    the process serving a session (for its RSS)."""

    def __init__(self, name, port, login, rss_root, rss_names, mbox, limit=0):
        self.name, self.port, self.login = name, port, login
        self.rss_root, self.rss_names, self.mbox = rss_root, rss_names, mbox
        self.limit = limit      # RETR-all time limit in seconds, 0: none
        PORTS_USED.add(port)


def ours_lab(work, tag, uid, gid):
    shutil.rmtree(os.path.join(work, tag), ignore_errors=True)
    lab = mslib.Lab(tmpdir=os.path.join(work, tag), user=None)
    os.chmod(lab.dir, 0o711)
    os.chown(lab.spool, uid, gid)
    lab.add_user(LOGIN, PASSWORD, uid, gid)
    return lab


def start_ours(lab, binary, src, uid, gid):
    copy_mbox(src, lab.mbox(LOGIN), uid, gid)
    port = lab.start(binary)
    return Server("ours", port, LOGIN, lab._launches[port].proc.pid, {binary},
                  lab.mbox(LOGIN))


class Dovecot:
    def __init__(self, work, uid, gid):
        self.d = os.path.join(work, "dovecot")
        shutil.rmtree(self.d, ignore_errors=True)
        for sub in ("spool", "home", "home/" + LOGIN, "home/" + DV_POP_LOGIN):
            os.makedirs(os.path.join(self.d, sub))
            os.chown(os.path.join(self.d, sub), uid, gid)
        self.uid, self.gid = uid, gid
        self.pop3, self.imap = mslib.free_port(), mslib.free_port()
        while self.imap == self.pop3:
            self.imap = mslib.free_port()
        PORTS_USED.update((self.pop3, self.imap))
        h = mslib.crypt_sha512(PASSWORD)
        with open(os.path.join(self.d, "users"), "w") as f:
            for u in (LOGIN, DV_POP_LOGIN):
                f.write("%s:%s:%d:%d::%s/home/%s\n" % (u, h, uid, gid, self.d, u))
        self.conf = os.path.join(self.d, "dovecot.conf")
        # Unprivileged (default): master, login, auth and mail processes all
        # run as USER, without chroots; BENCH_COMPARE_DOVECOT_ROOT=1 runs the
        # master as root, as the packaged service does.
        self.root = os.environ.get("BENCH_COMPARE_DOVECOT_ROOT") == "1"
        unpriv = "" if self.root else (
            "default_internal_user = {u}\ndefault_internal_group = mail\n"
            "default_login_user = {u}\nservice anvil {{\n  chroot =\n}}\n".format(u=USER))
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(d=self.d, uid=uid, pop3=self.pop3, imap=self.imap,
                                        unpriv=unpriv,
                                        nochroot="" if self.root else "  chroot =\n"))
        if not self.root:
            for n in ("", "users", "dovecot.conf"):
                os.chown(os.path.join(self.d, n), uid, gid)
        self.proc = None

    def mbox(self, login):
        return os.path.join(self.d, "spool", login)

    def start(self):
        log = open(os.path.join(self.d, "dovecot.stderr"), "wb")
        argv = ["/usr/sbin/dovecot", "-F", "-c", self.conf]
        if not self.root:
            argv = ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid),
                    "--init-groups", "--"] + argv
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        if not (wait_port(self.pop3, self.proc) and wait_port(self.imap, self.proc)):
            self.stop()
            raise RuntimeError("Dovecot did not start: %s" % self.log_tail())

    def log_tail(self):
        out = ""
        for n in ("dovecot.stderr", "dovecot.log"):
            try:
                out += open(os.path.join(self.d, n), errors="replace").read()[-600:]
            except OSError:
                pass
        return out.strip()

    def stop(self):
        if self.proc is None:
            return
        kids = P.descendants(self.proc.pid)
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf, "stop"],
                       capture_output=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in kids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.proc = None


# ---- measurements ----------------------------------------------------------

ERRORS = (OSError, EOFError, RuntimeError, P.Refused, subprocess.SubprocessError)
WARM_ROUNDS = 5      # POP3 warm list sessions per server
RETR_ROUNDS = 3      # RETR-all runs per server (popa3d: one, time-limited)
OPEN_ROUNDS = 3      # IMAP second opens per server


def each(servers, res, fn):
    """FN(server, its result dict) for every server still without error;
    servers take turns, so that the load of a shared machine falls on all
    alike."""
    for srv in servers:
        r = res.setdefault(srv.name, {})
        if "error" in r:
            continue
        try:
            fn(srv, r)
        except ERRORS as e:
            r["error"] = "%s: %s" % (type(e).__name__, e)


def pop3_first(count):
    def fn(srv, r):
        r["first"], n = P.pop3_list_session(srv.port, srv.login, PASSWORD)
        if n != count:
            r["note"] = "UIDL listed %d of %d messages" % (n, count)
    return fn


def pop3_warm(srv, r):
    r.setdefault("warm_l", []).append(P.pop3_list_session(srv.port, srv.login, PASSWORD)[0])
    r["warm"] = statistics.median(r["warm_l"])


def pop3_retr(exe, count):
    def fn(srv, r):
        if srv.limit and r.get("retr_l"):
            return              # the time-limited one runs once
        dt, octets, done, rss = P.retr_all(exe, srv.port, srv.login, PASSWORD, count,
                                           srv.limit, srv.rss_root, srv.rss_names)
        r.setdefault("retr_l", []).append((dt, octets, done))
        r["retr"] = sorted(r["retr_l"])[len(r["retr_l"]) // 2]    # median by time
        r["rss"] = max(r.get("rss", 0), rss)
    return fn


def search_hits(kept):
    return sum(len(ln.split()) - 2 for ln in kept or [] if ln.startswith(b"* SEARCH"))


def imap_commands(c):
    out = {}
    out["fetch"] = P.imap_timed(c, "FETCH 1:* (FLAGS UID RFC822.SIZE)")
    out["fetchenv"] = P.imap_timed(c, "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
    dt, n, kept = P.imap_timed(c, 'SEARCH BODY "%s"' % RARE, keep=b"* SEARCH")
    out["search"] = (dt, search_hits(kept) if dt is not None else n, None)
    return out


def imap_first(count):
    def fn(srv, r):
        r["select1"], c, exists = P.imap_login_select(srv.port, srv.login, PASSWORD)
        if exists != count:
            r["note"] = "SELECT said %d EXISTS, not %d" % (exists, count)
        r["first"] = imap_commands(c)
        c.cmd("LOGOUT")
        c.close()
    return fn


def imap_open(last):
    def fn(srv, r):
        dt, c, _ = P.imap_login_select(srv.port, srv.login, PASSWORD)
        r.setdefault("select2_l", []).append(dt)
        r["select2"] = statistics.median(r["select2_l"])
        if last:
            r["client"] = c
        else:
            c.cmd("LOGOUT")
            c.close()
    return fn


def imap_last(srv, r):
    c = r.pop("client")
    r["second"] = imap_commands(c)
    r["rss"] = P.peak_rss_kib(srv.rss_root, srv.rss_names)
    c.cmd("LOGOUT")
    c.close()


# ---- the table -------------------------------------------------------------

def fmt_time(v):
    return "n/a" if v is None else "%.3f s" % v


def ratio(ours, theirs, higher_better=False):
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return "n/a"
    x = ours / theirs if higher_better else theirs / ours
    return "%.2fx" % x if x < 0.1 else "%.1fx" % x if x < 100 else "%.0fx" % x


class Table:
    def __init__(self, title, theirs):
        self.title, self.theirs, self.rows = title, theirs, []

    def add(self, label, ours, theirs, kind="time", extra=None):
        """THEIRS: {server name: value or None}.  KIND: time, rate (MB/s),
        rss (KiB)."""
        self.rows.append((label, ours, theirs, kind, extra))

    @staticmethod
    def _fmt(v, kind):
        if v is None:
            return "n/a"
        if kind == "time":
            return "%.3f s" % v
        if kind == "rate":
            return "%.1f MB/s" % v
        if kind == "persec":
            return "%.0f /s" % v
        if kind == "rss":
            return "%.1f MiB" % (v / 1024.0)
        return str(v)

    def show(self):
        w = max(len(r[0]) for r in self.rows) + 2
        if len(self.title) > w:
            say(self.title)
        head = "%-*s %13s" % (w, self.title if len(self.title) <= w else "", "ours")
        for t in self.theirs:
            head += " %13s %7s" % (t, "ratio")
        say(head)
        for label, ours, theirs, kind, extra in self.rows:
            line = "%-*s %13s" % (w, label, self._fmt(ours, kind))
            for t in self.theirs:
                v = theirs.get(t)
                line += " %13s %7s" % (self._fmt(v, kind) if t in theirs else "-",
                                       ratio(ours, v, kind in ("rate", "persec")) if t in theirs else "")
            if extra:
                line += "  " + extra
            say(line)


def rate(retr):
    if not retr:
        return None
    dt, octets, _ = retr
    return octets / dt / 1e6 if dt > 0 else None


def pop3_table(title, res, count, prefix):
    names = [n for n in ("popa3d", "Dovecot") if n in res]
    t = Table(title, names)
    o = res.get("ours") or {}

    def g(name, key):
        return (res.get(name) or {}).get(key)
    t.add("login+STAT+LIST+UIDL+QUIT, first", o.get("first"),
          {n: g(n, "first") for n in names})
    t.add("  the same, warm (median of %d)" % WARM_ROUNDS, o.get("warm"),
          {n: g(n, "warm") for n in names})
    full = {n: rate(g(n, "retr")) for n in names
            if g(n, "retr") and g(n, "retr")[2] == count}
    t.add("RETR all %d one by one (median of %d)" % (count, RETR_ROUNDS), rate(o.get("retr")),
          dict({n: None for n in names}, **full), "rate",
          "time: ours %s%s" % (fmt_time(o["retr"][0]) if o.get("retr") else "n/a",
                              "".join(", %s %s" % (n, fmt_time(g(n, "retr")[0]))
                                      for n in full)))
    for n, (k, ours_k) in prefix.items():
        t.add("RETR first %d one by one" % k, rate(ours_k), {n: rate(g(n, "retr"))}, "rate",
              "time: ours %.3f s, %s %.2f s (stopped at the time limit; all %d at "
              "this pace: ~%.0f s)" % (ours_k[0], n, g(n, "retr")[0], count,
                                      g(n, "retr")[0] * count / k))
    t.add("peak RSS of the serving process", o.get("rss"),
          {n: g(n, "rss") for n in names}, "rss")
    t.show()
    for n in ["ours"] + names:
        if (res.get(n) or {}).get("note"):
            say("  note, %s: %s" % (n, res[n]["note"]))
        if (res.get(n) or {}).get("error"):
            say("  %s: not measured: %s" % (n, res[n]["error"]))


def imap_table(title, res):
    names = [n for n in ("Dovecot",) if n in res]
    t = Table(title, names)
    o = res.get("ours") or {}

    def g(r, *keys):
        for k in keys:
            if r is None:
                return None
            r = r.get(k) if isinstance(r, dict) else None
        return r

    def cmd(r, sess, key):
        v = g(r, sess, key)
        return v[0] if v else None

    t.add("login+SELECT, first open", o.get("select1"),
          {n: g(res.get(n), "select1") for n in names})
    t.add("login+SELECT, second open (median of %d)" % OPEN_ROUNDS, o.get("select2"),
          {n: g(res.get(n), "select2") for n in names})
    for sess, when in (("first", "1st session"), ("second", "last session")):
        t.add("FETCH 1:* (FLAGS UID RFC822.SIZE), %s" % when, cmd(o, sess, "fetch"),
              {n: cmd(res.get(n), sess, "fetch") for n in names})
        t.add("FETCH 1:* (... ENVELOPE), %s" % when, cmd(o, sess, "fetchenv"),
              {n: cmd(res.get(n), sess, "fetchenv") for n in names})

        def hits(r):
            v = g(r, sess, "search")
            return "%s" % v[1] if v and v[0] is not None else "n/a"
        t.add('SEARCH BODY "%s", %s' % (RARE, when), cmd(o, sess, "search"),
              {n: cmd(res.get(n), sess, "search") for n in names}, "time",
              "hits: ours %s%s" % (hits(o), "".join(", %s %s" % (n, hits(res.get(n)))
                                                    for n in names)))
    t.add("peak RSS of the serving process", o.get("rss"),
          {n: g(res.get(n), "rss") for n in names}, "rss")
    t.show()
    for n in ["ours"] + names:
        r = res.get(n) or {}
        if r.get("note"):
            say("  note, %s: %s" % (n, r["note"]))
        if r.get("error"):
            say("  %s: not measured: %s" % (n, r["error"]))
        for sess in ("first", "second"):
            for k, v in (r.get(sess) or {}).items():
                if v[0] is None and sess == "first":
                    say("  %s: %s refused: %s" % (n, k, v[1]))


# ---- the run ---------------------------------------------------------------

def rare_count(path):
    """Messages whose raw text holds RARE on one line (case-insensitive):
    what a SEARCH BODY should find, give or take QP soft breaks."""
    n, hit, pat = 0, False, RARE.encode()
    with open(path, "rb") as f:
        for ln in f:
            if ln.startswith(b"From "):
                n += hit
                hit = False
            elif not hit and pat in ln.lower():
                hit = True
    return n + hit


def run_set(work, count, uid, gid, popa3d, dovecot_ok, exe, limit, ours_bins):
    src = os.path.join(work, "mbox-%d" % count)
    t0 = time.monotonic()
    with open(src, "wb") as f:
        _, size = gen_mbox.generate(f, count=count, seed=SEED)
    gen = time.monotonic() - t0
    mib = size / 1048576.0
    say("mailbox: %d messages, %.1f MiB, gen_mbox seed %d (generated in %.1f s); "
        "rare phrase on one line in %d messages" % (count, mib, SEED, gen, rare_count(src)))
    t0 = time.monotonic()
    subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)
    dt = max(time.monotonic() - t0, 1e-9)
    say("baseline: cat of the mailbox %.3f s (%.0f MB/s)" % (dt, size / 1e6 / dt))

    labs, dv, pops, imaps = [], None, [], []
    pop, imap, prefix, cache = {}, {}, {}, []
    try:
        # every server up first, each on its own copy of the mailbox
        if ours_bins.get("pop3d"):
            lab = ours_lab(work, "ours-pop3-%d" % count, uid, gid)
            labs.append(lab)
            pops.append(start_ours(lab, "pop3d", src, uid, gid))
        if popa3d:
            mbox = "/var/mail/" + USER
            copy_mbox(src, mbox, uid, gid)
            shutil.rmtree(os.path.join(work, "popa3d-%d" % count), ignore_errors=True)
            lab = mslib.Lab(tmpdir=os.path.join(work, "popa3d-%d" % count), user=None)
            labs.append(lab)
            port = lab.start(popa3d, spool_args=False)
            pops.append(Server("popa3d", port, USER, lab._launches[port].proc.pid,
                               {"popa3d"}, mbox, limit))
        if dovecot_ok:
            dv = Dovecot(work, uid, gid)
            copy_mbox(src, dv.mbox(DV_POP_LOGIN), uid, gid)
            copy_mbox(src, dv.mbox(LOGIN), uid, gid)
            try:
                dv.start()
                say("dovecot: %s on 127.0.0.1:%d (POP3) and :%d (IMAP)" % (
                    "master as root, mail processes as %s" % USER if dv.root else
                    "unprivileged, every process as %s" % USER, dv.pop3, dv.imap))
                pops.append(Server("Dovecot", dv.pop3, DV_POP_LOGIN, dv.proc.pid, {"pop3"},
                                   dv.mbox(DV_POP_LOGIN)))
                imaps.append(Server("Dovecot", dv.imap, LOGIN, dv.proc.pid, {"imap"},
                                    dv.mbox(LOGIN)))
            except ERRORS as e:
                pop["Dovecot"] = imap["Dovecot"] = {"error": str(e)}
        if ours_bins.get("imapd"):
            lab = ours_lab(work, "ours-imap-%d" % count, uid, gid)
            labs.append(lab)
            imaps.insert(0, start_ours(lab, "imapd", src, uid, gid))
        cache = [S.cached_fraction(x.mbox) for x in pops + imaps]

        # POP3
        each(pops, pop, pop3_first(count))
        for _ in range(WARM_ROUNDS):
            each(pops, pop, pop3_warm)
        for _ in range(RETR_ROUNDS):
            each(pops, pop, pop3_retr(exe, count))
        r = pop.get("popa3d", {})
        if r.get("retr") and r["retr"][2] < count and pops and pops[0].name == "ours":
            done = r["retr"][2]       # ours on the same first messages
            o = pops[0]
            try:
                prefix["popa3d"] = (done, P.retr_all(exe, o.port, o.login, PASSWORD, done, 0,
                                                     o.rss_root, o.rss_names)[:3])
            except ERRORS as e:
                pop["ours"]["note"] = "RETR of the first %d failed: %s" % (done, e)

        # IMAP
        each(imaps, imap, imap_first(count))
        for i in range(OPEN_ROUNDS):
            each(imaps, imap, imap_open(i == OPEN_ROUNDS - 1))
        each(imaps, imap, imap_last)
    finally:
        for r in imap.values():
            if r.get("client"):
                r.pop("client").close()
        if dv is not None:
            dv.stop()
        for lab in labs:
            lab.stop()
        if os.path.exists("/var/mail/" + USER):
            os.unlink("/var/mail/" + USER)
    for n, r in list(pop.items()) + list(imap.items()):
        if r.get("error") and dv is not None and n == "Dovecot":
            r["error"] += " " + dv.log_tail()[-300:]
    known = [c for c in cache if c is not None]
    say("caches: page cache WARM for every server: each mailbox copy was written just "
        "before the servers started (%s resident per fincore); Dovecot had no index before "
        "its first session (built there); ours had no index cache before their "
        "first session either (one is written when a session closes a mailbox "
        "unchanged for 2 s, so our warm and second-open figures read it)"
        % ("%.0f-%.0f%%" % (100 * min(known), 100 * max(known)) if known else "fincore n/a"))
    say("servers take turns at each step (first sessions, then %d warm rounds, %d RETR "
        "rounds, ...); load average now: %s" % (WARM_ROUNDS, RETR_ROUNDS, S.loadavg()))
    say("")
    pop3_table("POP3, %dk messages, %.0f MiB" % (count // 1000, mib), pop, count, prefix)
    say("")
    imap_table("IMAP, %dk messages, %.0f MiB" % (count // 1000, mib), imap)
    say("")
    os.unlink(src)


def smtp_compare(work, users, postfix_ok, have_smtpd):
    """Deliveries per second, ours and Postfix: one session to USERS[0],
    then 8 concurrent sessions, one per user.  USERS: [(name, uid, gid)]."""
    total = int(os.environ.get("BENCH_COMPARE_SMTP_MESSAGES", "2000"))
    size = 4096
    names = [u[0] for u in users]

    def plans(mbox):
        one = [(names[0] + "@mail.test", mbox(names[0]), total)]
        eight = [(n + "@mail.test", mbox(n), total // len(names)) for n in names]
        return ((1, one), (len(names), eight))
    res = {"ours": {}}
    if postfix_ok:
        res["Postfix"] = {}
    lab, pf, servers = None, None, []
    try:
        if have_smtpd:
            shutil.rmtree(os.path.join(work, "ours-smtp"), ignore_errors=True)
            lab = mslib.Lab(tmpdir=os.path.join(work, "ours-smtp"), user=None)
            os.chmod(lab.dir, 0o711)
            M.spool_like_var_mail(lab.spool)
            for n, uid, gid in users:
                lab.add_user(n, PASSWORD, uid, gid)
            try:
                servers.append(("ours", lab.start("smtpd"), lab.mbox))
                PORTS_USED.add(servers[-1][1])
            except ERRORS as e:
                res["ours"]["error"] = str(e)
        if postfix_ok:
            pf = M.Postfix(work, mslib.free_port())
            PORTS_USED.add(pf.port)
            try:
                pf.start()
                if not wait_port(pf.port):
                    raise RuntimeError("Postfix does not listen: " + pf.log_tail())
                servers.append(("Postfix", pf.port, pf.mbox))
            except ERRORS as e:
                res["Postfix"]["error"] = "%s %s" % (e, pf.log_tail()[-300:])
        for i in range(2):          # 1 session, then 8; servers take turns
            for name, port, mbox in servers:
                if res[name].get("error"):
                    continue
                s, targets = plans(mbox)[i]
                try:
                    res[name][s] = M.deliveries(port, targets, size)
                except ERRORS as e:
                    res[name]["error"] = "%s %s" % (e, pf.log_tail()[-300:] if pf and
                                                    name == "Postfix" else "")
    finally:
        if lab is not None:
            lab.stop()
        if pf is not None:
            pf.stop()
    others = [n for n in res if n != "ours"]
    t = Table("SMTP, %d messages of 4 KiB, one connection each (smtp-source), "
              "counted once in the mbox" % total, others)
    for s in (1, len(names)):
        o = res["ours"].get(s)
        t.add("delivered/s, %d session%s" % (s, "s, 1 mailbox each" if s > 1 else ""),
              o[0] if o else None, {n: (res[n].get(s) or (None,))[0] for n in others},
              "persec", "last 250 after: ours %s%s" % (
                  fmt_time(o[1]) if o else "n/a",
                  "".join(", %s %s" % (n, fmt_time(res[n][s][1]) if res[n].get(s) else "n/a")
                          for n in others)))
    t.show()
    for n in res:
        if res[n].get("error"):
            say("  %s: not measured: %s" % (n, res[n]["error"]))


def main():
    if os.getuid() != 0 or os.environ.get("BENCH_COMPARE") != "1":
        why = []
        if os.environ.get("BENCH_COMPARE") != "1":
            why.append("BENCH_COMPARE=1 is not set")
        if os.getuid() != 0:
            why.append("not root (it installs packages and adds a system account)")
        say("bench_compare: popa3d/Dovecot comparison skipped: %s" % "; ".join(why))
        return 0
    big = "--big" in sys.argv[1:] or os.environ.get("BENCH_COMPARE_BIG") == "1"
    limit = float(os.environ.get("BENCH_COMPARE_RETR_LIMIT", "60"))
    base = os.path.abspath(os.environ.get("BENCH_DIR") or
                           os.path.join(mslib.outdir(), "build", "bench"))
    work = os.path.join(base, "compare")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    say("machine: " + S.machine())
    say("load average at start: %s (other jobs on the machine distort every figure alike)"
        % S.loadavg())
    ours_bins = {}
    for b in ("pop3d", "imapd", "smtpd"):
        p = os.path.join(mslib.outdir(), b, b)
        ours_bins[b] = os.access(p, os.X_OK)
        if not ours_bins[b]:
            say("ours: %s not built (%s): its column is n/a" % (b, p))
    undo = S.Undo()
    rc = 0
    try:
        ok, msg = S.apt_install(DOVECOT_PKGS, undo)
        dovecot_ok = ok and os.access("/usr/sbin/dovecot", os.X_OK)
        say("dovecot: %s%s" % (msg, "" if not dovecot_ok else ", " + subprocess.run(
            ["/usr/sbin/dovecot", "--version"], capture_output=True, text=True).stdout.strip()))
        ok, msg = S.apt_extract(POPA3D_PKG, os.path.join(work, "popa3d-pkg"))
        popa3d = os.path.join(work, "popa3d-pkg", "root", "usr", "sbin", "popa3d") if ok else None
        say("popa3d: %s (Conflicts: pop3-server, provided by dovecot-pop3d: fetched with "
            "apt-get download and unpacked, not installed)" % msg)
        postfix_ok, why = False, ""
        gone = S.apt_removals(["postfix"]) if not S.dpkg_installed("postfix") else []
        if gone:
            why = "installing it would remove %s" % " ".join(gone)
        else:
            ok, msg = S.apt_install(["postfix"], undo, POSTFIX_PRESEED)
            postfix_ok = ok and os.access(M.SMTP_SOURCE, os.X_OK)
            why = msg if ok else "not installed: " + msg
        if postfix_ok:
            why += ", %s, configured Local only; its system instance is never started" % (
                subprocess.run(["postconf", "-h", "mail_version"], capture_output=True,
                               text=True).stdout.strip())
        say("postfix: %s%s" % (why, "" if postfix_ok else "; SMTP comparison skipped"))
        for note in S.stop_package_daemons():
            say("daemons: " + note)
        busy = S.listeners()
        say("mail ports 25/110/143/465/587/993/995: %s" % (
            "free" if not busy else "IN USE " + ", ".join("%d by %s[%d]" % b for b in busy)))
        users = [(n,) + S.ensure_user(n, PASSWORD, undo) for n in SMTP_USERS]
        uid, gid = users[0][1:]
        if popa3d:
            S.ensure_popa3d_user(undo)
        exe = P.build_retr(work)
        for count in [10000] + ([100000] if big else []):
            say("")
            run_set(work, count, uid, gid, popa3d, dovecot_ok, exe, limit, ours_bins)
        say("")
        smtp_compare(work, users, postfix_ok, ours_bins.get("smtpd"))
    except Exception as e:
        say("bench_compare: FAILED: %s: %s" % (type(e).__name__, e))
        rc = 1
    finally:
        for what in undo.run():
            say("cleanup: " + what)
        busy = S.listeners()
        say("after the run, mail ports: %s" % (
            "free" if not busy else "IN USE " + ", ".join("%d by %s[%d]" % b for b in busy)))
        left = S.listeners(PORTS_USED)
        say("after the run, the %d loopback ports of this run's servers: %s" % (
            len(PORTS_USED), "all closed" if not left else
            "STILL OPEN " + ", ".join("%d by %s[%d]" % b for b in left)))
        if left:
            rc = 1
        if os.environ.get("BENCH_COMPARE_KEEP") != "1":
            for n in os.listdir(work):
                if n not in ("popa3d-pkg",):
                    p = os.path.join(work, n)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    return rc


if __name__ == "__main__":
    sys.exit(main())
