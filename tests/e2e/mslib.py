"""mslib - the lab launcher for end-to-end tests and benchmarks.

Starts the REAL server binaries behind a REAL socket launcher on 127.0.0.1,
the way they run in production: xinetd (the shipped xinetd.d/NAME file with
ports and paths substituted) or, when xinetd is absent or asked for,
systemd-socket-activate --accept --inetd.  Every server serves one
connection on stdin/stdout; the launcher listens.

Use from a test (tests/e2e/t_foo.py):

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mslib

    lab = mslib.Lab()                   # temp dir: spool/, passwd (etudiant)
    port = lab.start("smtpd")           # or start("pop3d", ["-t", "5"])
    lab.smtp_send(port, "mbappe@fft.fr", "etudiant@localhost", "Subject: x\\r\\n\\r\\nhi\\r\\n")
    with lab.connect(port) as c:        # a line client, for hand-typed sessions
        assert c.readline().startswith("220")
        assert c.cmd("HELO x").startswith("250")
    data = open(lab.mbox("etudiant"), "rb").read()
    lab.stop()                          # also done at exit and on SIGTERM

API
  mslib.skip(reason)        print "SKIP: reason" and exit 77
  mslib.require_root()      skip unless uid 0
  mslib.binary(name)        $MS_OUT/NAME/NAME; skip(77) when not built yet
  mslib.free_port()         a free TCP port on 127.0.0.1 (bind port 0)
  mslib.crypt_sha512(pw)    "$6$..." hash (crypt module, else openssl passwd -6)

  Lab(tmpdir=None, launcher=None, keep=False, user="etudiant", password="Etudiant1")
      tmpdir   lab directory (created; a given one is kept); default a fresh
               mkdtemp, removed at stop()
               unless keep=True or $MS_KEEP_LAB is set (for post-mortems)
      launcher None/"auto" (xinetd if installed, else ssa), "xinetd", "ssa";
               $MS_LAUNCHER overrides "auto"
    attributes: dir, spool (DIR/spool, 0700), passwd (DIR/passwd), srcdir, out,
               launcher (the one in use), host ("mail.test")
    add_user(name, password, uid=None, gid=None, gecos="", home="")
               appends "name:hash[:uid:gid[:gecos:home]]" to the passwd file
    mbox(user) path of the user's mbox in the lab spool
    with Lab() as lab: ...   stops at the end of the block
    start(server, extra_args=[], port=None, as_user=None, env=None,
          limits=False, spool_args=True) -> port
               starts one launcher serving SERVER (a name: smtpd/pop3d/imapd, or
               a path to any inetd-style program) on 127.0.0.1:port (free port
               when None); server args are "-s SPOOL -p PASSWD -h mail.test"
               (spool_args=False: none; only for foreign programs), then the
               shipped file's own server_args not overridden, then extra_args.
               as_user: run the server as that user (root only; the lab is
               chowned to it).  env: dict added to the server's environment.
               limits=True keeps the shipped instances/per_source/cps limits
               (default: lifted, so benchmarks and parallel tests are not
               throttled).  Returns once the port is listening.
    stop(port=None)  stops one launcher (and its running servers), or all
    log(port)  the launcher's log text (xinetd filelog / ssa stderr)
    connect(port, timeout=10) -> Conn
    smtp_send(port, mail_from, rcpt_to, data, helo="lab.test") -> None
               one SMTP transaction with smtplib; rcpt_to: str or list;
               raises smtplib.SMTPException on refusal

  Conn (a line client over a socket; str in/out, CRLF added/stripped,
        bytes are latin-1 so any octet survives):
    send(line) / send_raw(bytes) / readline() -> str (without CRLF)
    cmd(line) -> first reply line;  reply_smtp() -> list of lines (multi-line)
    read_until(predicate) -> list of lines up to and including the first match
    read_bytes(n) -> bytes;  closed() -> True at EOF;  close()

  write_mbox(lab, messages, user, mode) -> path: an mbox of MESSAGES owned
        by lab.uid/lab.gid (set by the test);  served(m) -> the CRLF form
  descendants(pid) -> every descendant process id

As root: the servers run as root unless as_user= is given, and a passwd
entry without uid:gid means "our uid", i.e. 0, which pop3d/imapd refuse to
become.  So as root either start with as_user="nobody" (the whole lab then
runs as an ordinary user, as in "make run"), or add users with an
unprivileged uid/gid and chown their mboxes (privilege separation tested).

Notes for server authors: under xinetd fds 0, 1 AND 2 are the socket: never
write diagnostics to stderr, use syslog.  Under systemd-socket-activate
stderr is the launcher's log.  The launcher's environment is minimal.
"""

import atexit
import os
import pwd
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import warnings

HOST = "mail.test"
DEMO_USER = "etudiant"
DEMO_PASS = "Etudiant1"

# Options of our servers that take a value (the rest are flags).
_VALUE_OPTS = set("sphtdzm")
# Attributes the lab replaces in a shipped xinetd service.
_LAB_ATTRS = {"type", "port", "bind", "user", "group", "server", "server_args",
              "log_type", "disable", "env", "passenv", "redirect"}
_LIMIT_ATTRS = {"instances", "per_source", "cps", "max_load"}
_START_TIMEOUT = 10.0


def skip(reason):
    print("SKIP: " + reason)
    sys.stdout.flush()
    sys.exit(77)


def fail(why):
    """End the test as failed (exit 1) with WHY."""
    print("FAIL: " + why)
    sys.stdout.flush()
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


def system_account(name):
    """(uid, gid) of the nologin system account NAME, created if missing
    (root only).  The e2e tests map lab users to such accounts so that a
    server started as root really separates privileges and becomes them."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", name], check=True)
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def require_root():
    if os.getuid() != 0:
        skip("needs root (uid 0)")


def srcdir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(here))


def outdir():
    return os.path.abspath(os.environ.get("MS_OUT") or srcdir())


def binary(name):
    """Path of a release binary; skips the test when it is not built."""
    p = os.path.join(outdir(), name, name)
    if not os.access(p, os.X_OK):
        skip("%s not built (%s missing)" % (name, p))
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crypt_sha512(password):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
        if h and h.startswith("$6$"):
            return h
    except (ImportError, OSError, AttributeError):
        pass
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def _listening(port):
    """True when a TCP socket listens on 127.0.0.1:port (or any address)."""
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and fields[1].endswith(want):
                        return True
        except OSError:
            continue
    return False


def write_mbox(lab, messages, user="etudiant", mode="wb"):
    """Write MESSAGES (bytes, LF) as an mbox owned by LAB.uid/LAB.gid
    (attributes the test sets), mode 0600; MODE "ab" appends."""
    path = lab.mbox(user)
    with open(path, mode) as f:
        for m in messages:
            f.write(b"From sender@example.org Mon Jan 16 13:09:16 2023\n")
            f.write(m if m.endswith(b"\n") else m + b"\n")
            f.write(b"\n")
    os.chown(path, lab.uid, lab.gid)
    os.chmod(path, 0o600)
    return path


def served(m):
    """What a client is sent for message M (LF text): CRLF, a final line
    end; before POP3 dot-stuffing."""
    m = m if m.endswith(b"\n") else m + b"\n"
    return m.replace(b"\n", b"\r\n")


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    """Every descendant process id of PID (from /proc)."""
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parse_xinetd(path):
    """The first service of a shipped xinetd file: (name, [(key, op, value)])."""
    name, attrs, inside = None, [], False
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("service") and not inside:
                name = line.split(None, 1)[1].strip()
            elif line == "{":
                inside = True
            elif line == "}":
                break
            elif inside:
                for op in ("+=", "-=", "="):
                    if op in line:
                        k, v = line.split(op, 1)
                        attrs.append((k.strip(), op, v.strip()))
                        break
    if name is None:
        raise ValueError("%s: no service entry" % path)
    return name, attrs


def merge_args(lab_args, shipped, extra):
    """Server arguments: the lab's, then shipped ones it does not override,
    then extra.  Options are single letters; those in _VALUE_OPTS take a
    value."""
    def opts(args):
        out, i = [], 0
        while i < len(args):
            a = args[i]
            if len(a) == 2 and a[0] == "-" and a[1] in _VALUE_OPTS and i + 1 < len(args):
                out.append((a, [a, args[i + 1]]))
                i += 2
            else:
                out.append((a, [a]))
                i += 1
        return out
    over = {k for k, _ in opts(lab_args)} | {k for k, _ in opts(extra)}
    kept = [w for k, ws in opts(shipped) if k not in over for w in ws]
    return list(lab_args) + kept + list(extra)


class Conn:
    """A line-oriented client socket (latin-1 text, CRLF line ends)."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()     # received; self.buf[self.pos:] is unread
        self.pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def send(self, line):
        self.send_raw(line + "\r\n")

    def _fill(self, want=65536):
        """Receive more; what was already read is dropped first, so that
        reading N bytes in any pieces costs O(N)."""
        chunk = self.sock.recv(max(65536, min(want, 1 << 20)))
        if not chunk:
            raise EOFError("connection closed by server")
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def readline(self):
        seen = 0                    # unread bytes already searched
        while True:
            i = self.buf.find(b"\n", self.pos + seen)
            if i >= 0:
                break
            seen = len(self.buf) - self.pos
            self._fill()
        line = bytes(self.buf[self.pos:i])
        self.pos = i + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        return line.decode("latin-1")

    def read_bytes(self, n):
        while len(self.buf) - self.pos < n:
            self._fill(n - (len(self.buf) - self.pos))
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def cmd(self, line):
        self.send(line)
        return self.readline()

    def read_until(self, pred):
        lines = []
        while True:
            lines.append(self.readline())
            if pred(lines[-1]):
                return lines

    def reply_smtp(self):
        return self.read_until(lambda l: len(l) < 4 or l[3] != "-")

    def closed(self):
        """True when the server has closed the connection (and nothing is
        left unread)."""
        if len(self.buf) > self.pos:
            return False
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _Launch:
    def __init__(self, proc, port, logfile, kind):
        self.proc, self.port, self.logfile, self.kind = proc, port, logfile, kind


class Lab:
    def __init__(self, tmpdir=None, launcher=None, keep=False,
                 user=DEMO_USER, password=DEMO_PASS):
        self.srcdir = srcdir()
        self.out = outdir()
        self.host = HOST
        self.keep = keep or bool(os.environ.get("MS_KEEP_LAB"))
        self._own_dir = tmpdir is None
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix="ms-lab-")
        else:
            os.makedirs(tmpdir, exist_ok=True)
        self.dir = os.path.abspath(tmpdir)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        os.chmod(self.spool, 0o700)
        self.passwd = os.path.join(self.dir, "passwd")
        open(self.passwd, "a").close()
        os.chmod(self.passwd, 0o600)
        if user:
            self.add_user(user, password)
        self.launcher = self._pick_launcher(launcher)
        self._launches = {}
        self._stopped = False
        atexit.register(self.stop)
        # "timeout" and the runner stop a test with SIGTERM: clean up then too
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        except ValueError:      # not the main thread
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def _pick_launcher(launcher):
        if launcher in (None, "auto"):
            launcher = os.environ.get("MS_LAUNCHER") or "auto"
        if launcher == "auto":
            launcher = "xinetd" if shutil.which("xinetd") else "ssa"
        if launcher not in ("xinetd", "ssa"):
            raise ValueError("launcher must be xinetd or ssa, not %r" % launcher)
        need = "xinetd" if launcher == "xinetd" else "systemd-socket-activate"
        if not shutil.which(need):
            skip("%s not installed (make deps)" % need)
        return launcher

    # ---- accounts and mailboxes -------------------------------------------

    def add_user(self, name, password, uid=None, gid=None, gecos="", home=""):
        entry = "%s:%s" % (name, crypt_sha512(password))
        if uid is not None:
            entry += ":%d:%d" % (uid, gid if gid is not None else uid)
            if gecos or home:
                entry += ":%s:%s" % (gecos, home)
        with open(self.passwd, "a") as f:
            f.write(entry + "\n")

    def mbox(self, user):
        return os.path.join(self.spool, user)

    # ---- launching --------------------------------------------------------

    def _server_path(self, server):
        if os.sep in server:
            return os.path.abspath(server), os.path.basename(server)
        return binary(server), server

    def _chown_lab(self, user):
        pw = pwd.getpwnam(user)
        os.chmod(self.dir, 0o755)
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.lchown(n, pw.pw_uid, pw.pw_gid)
        return pw

    def _xinetd_conf(self, name, path, args, port, user, env, limits, conf, log):
        tmpl = os.path.join(self.srcdir, "xinetd.d", name)
        if os.path.exists(tmpl):
            _, attrs = parse_xinetd(tmpl)
        else:   # a foreign program: the shipped files' common shape
            attrs = [("socket_type", "=", "stream"), ("protocol", "=", "tcp"),
                     ("wait", "=", "no")]
        lines = ["service ms-%s-%d" % (name, port), "{"]
        for k, op, v in attrs:
            if k in _LAB_ATTRS or (not limits and k in _LIMIT_ATTRS):
                continue
            lines.append("\t%s %s %s" % (k, op, v))
        lines += ["\tlog_type = FILE %s" % log, "\ttype = UNLISTED", "\tport = %d" % port,
                  "\tbind = 127.0.0.1", "\tuser = %s" % user,
                  "\tserver = %s" % path]
        if args:    # xinetd refuses an empty server_args
            lines.append("\tserver_args = %s" % " ".join(args))
        if not limits:
            lines += ["\tinstances = UNLIMITED", "\tper_source = UNLIMITED",
                      "\tcps = 100000 1"]
        if env:
            lines.append("\tenv = " + " ".join("%s=%s" % kv for kv in env.items()))
        lines.append("}")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _launch_once(self, server, path, args, port, as_user, env, limits):
        tag = "%s-%d" % (server if os.sep not in server else os.path.basename(server), port)
        logfile = os.path.join(self.dir, "%s.log" % tag)
        open(logfile, "w").close()
        if self.launcher == "xinetd":
            conf = os.path.join(self.dir, "%s.xinetd.conf" % tag)
            user = as_user or pwd.getpwuid(os.geteuid()).pw_name
            self._xinetd_conf(tag.rsplit("-", 1)[0], path, args, port, user,
                              env, limits, conf, logfile)
            argv = ["xinetd", "-dontfork", "-filelog", logfile, "-f", conf]
            out = subprocess.DEVNULL
        else:
            argv = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port,
                    "--accept", "--inetd"]
            for k, v in (env or {}).items():
                argv += ["-E", "%s=%s" % (k, v)]
            if as_user:
                argv += [shutil.which("setpriv"), "--reuid", as_user,
                         "--regid", str(pwd.getpwnam(as_user).pw_gid),
                         "--init-groups", "--"]
            argv += [path] + args
            out = open(logfile, "ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, start_new_session=True)
        if out is not subprocess.DEVNULL:
            out.close()
        launch = _Launch(proc, port, logfile, self.launcher)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _listening(port):
                return launch
            if self.launcher == "xinetd":
                text = self._read(logfile)
                if "bind failed" in text or " 0 available services" in text:
                    break
            time.sleep(0.02)
        self._kill(launch)
        return None

    def start(self, server, extra_args=(), port=None, as_user=None, env=None,
              limits=False, spool_args=True):
        if self._stopped:
            raise RuntimeError("lab already stopped")
        path, name = self._server_path(server)
        if as_user:
            if os.getuid() != 0:
                raise RuntimeError("as_user needs root")
            self._chown_lab(as_user)
        shipped = []
        tmpl = os.path.join(self.srcdir, "xinetd.d", name)
        if os.path.exists(tmpl):
            shipped = shlex.split(dict((k, v) for k, _, v in parse_xinetd(tmpl)[1])
                                  .get("server_args", ""))
        lab_args = ["-s", self.spool, "-p", self.passwd, "-h", self.host] if spool_args else []
        args = merge_args(lab_args, shipped if spool_args else [], list(extra_args))
        if self.launcher == "xinetd" and any(not a or any(c.isspace() for c in a) for a in args):
            raise ValueError("xinetd server_args cannot carry empty or blank-containing "
                             "arguments: %r" % args)
        tries = 1 if port else 5
        for _ in range(tries):
            p = port or free_port()
            launch = self._launch_once(server, path, args, p, as_user, env, limits)
            if launch:
                self._launches[p] = launch
                return p
        raise RuntimeError("could not start %s under %s on port %s; log:\n%s"
                           % (server, self.launcher, p,
                              self._read(os.path.join(self.dir, "%s-%d.log" % (name, p)))))

    @staticmethod
    def _read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log(self, port):
        return self._read(self._launches[port].logfile)

    @staticmethod
    def _kill(launch):
        """Stop a launcher and every server it started.  xinetd puts each
        server in a session of its own, so the servers are found as the
        launcher's descendants, not by process group."""
        pids = [launch.proc.pid] + descendants(launch.proc.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                launch.proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and any(_alive(p) for p in pids[1:]):
                time.sleep(0.02)
            if not any(_alive(p) for p in pids[1:]):
                break

    def stop(self, port=None):
        if port is not None:
            launch = self._launches.pop(port, None)
            if launch:
                self._kill(launch)
            return
        for p in list(self._launches):
            self.stop(p)
        if not self._stopped:
            self._stopped = True
            if self._own_dir and not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients ----------------------------------------------------------

    def connect(self, port, timeout=10.0):
        return Conn(port, timeout)

    def smtp_send(self, port, mail_from, rcpt_to, data, helo="lab.test"):
        if isinstance(rcpt_to, str):
            rcpt_to = [rcpt_to]
        if isinstance(data, str):
            data = data.encode("utf-8")
        with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=30) as s:
            refused = s.sendmail(mail_from, rcpt_to, data)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


if __name__ == "__main__":
    # Manual use: python3 mslib.py SERVER [ARGS...]  -> starts a lab, prints the
    # port, waits for Ctrl-C.
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(0)
    lab = Lab(keep=True)
    p = lab.start(sys.argv[1], sys.argv[2:])
    print("%s on 127.0.0.1:%d (lab %s, launcher %s); Ctrl-C stops"
          % (sys.argv[1], p, lab.dir, lab.launcher))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
