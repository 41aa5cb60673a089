"""compare_sys - the machine side of bench_compare.py: installing the other
servers (Debian 12 packages), making sure none of their daemons is left
running or listening, the benchmark's system account, and the description
of the machine and of its page cache.

Everything done to the machine is recorded in a Undo list and reverted by
Undo.run() (users and files we created), so that the run leaves the
packages installed but nothing running, listening or added.
"""
import os
import re
import shutil
import signal
import subprocess
import time

APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "-y", "--no-install-recommends"]
POLICY_RC = "/usr/sbin/policy-rc.d"
# Mail ports a package daemon would take; checked free before and after.
MAIL_PORTS = (25, 110, 143, 465, 587, 993, 995)
# Executables of the package daemons we may stop (never anything else).
UNITS = ("dovecot.service", "dovecot.socket", "postfix.service", "popa3d.service")
DAEMON_EXES = ("/usr/sbin/dovecot", "/usr/sbin/popa3d", "/usr/lib/postfix/sbin/master")


class Undo:
    def __init__(self):
        self.steps = []

    def add(self, what, fn):
        self.steps.append((what, fn))

    def run(self):
        done = []
        while self.steps:
            what, fn = self.steps.pop()
            try:
                fn()
                done.append(what)
            except Exception as e:     # cleanup goes on whatever fails
                done.append("%s FAILED (%s)" % (what, e))
        return done


def dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def _no_service_starts(undo):
    """Packages must not start their daemons while installing: a
    policy-rc.d that denies (exit 101), the Debian way.  Only when there
    is none already; removed again afterwards."""
    if os.path.exists(POLICY_RC):
        return
    with open(POLICY_RC, "w") as f:
        f.write("#!/bin/sh\n# bench_compare.py: no daemon starts while installing\nexit 101\n")
    os.chmod(POLICY_RC, 0o755)
    undo.add("rm " + POLICY_RC, lambda: os.unlink(POLICY_RC))


def apt_removals(pkgs):
    """Packages apt-get would REMOVE to install PKGS (simulation)."""
    r = subprocess.run(["apt-get", "-s", "-q", "--no-install-recommends", "install"] + pkgs,
                       env=APT_ENV, capture_output=True, text=True)
    return [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("Remv ")]


def apt_install(pkgs, undo, preseed=None):
    """Install PKGS (those missing); returns (ok, message)."""
    missing = [p for p in pkgs if not dpkg_installed(p)]
    if not missing:
        return True, "already installed"
    _no_service_starts(undo)
    if preseed:
        r = subprocess.run(["debconf-set-selections"], input=preseed, text=True,
                           capture_output=True)
        if r.returncode != 0:
            return False, "debconf-set-selections: " + r.stderr.strip()
    r = subprocess.run(APT + ["install"] + missing, env=APT_ENV, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-3:]
        return False, "apt-get install %s failed: %s" % (" ".join(missing), " / ".join(tail))
    return True, "installed " + " ".join(missing)


def apt_extract(pkg, dest):
    """apt-get download PKG and unpack it under DEST without installing it
    (popa3d Conflicts: pop3-server, which dovecot-pop3d provides); returns
    (ok, message)."""
    os.makedirs(dest, exist_ok=True)
    debs = [f for f in os.listdir(dest) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not debs:
        r = subprocess.run(["apt-get", "-q", "download", pkg], cwd=dest, env=APT_ENV,
                           capture_output=True, text=True)
        debs = [f for f in os.listdir(dest) if f.startswith(pkg + "_") and f.endswith(".deb")]
        if r.returncode != 0 or not debs:
            return False, "apt-get download %s failed: %s" % (pkg, r.stderr.strip()[-200:])
    root = os.path.join(dest, "root")
    r = subprocess.run(["dpkg-deb", "-x", os.path.join(dest, sorted(debs)[-1]), root],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "dpkg-deb -x: " + r.stderr.strip()
    return True, sorted(debs)[-1]


# ---- daemons and ports -----------------------------------------------------

def systemd_running():
    if not shutil.which("systemctl"):
        return False
    r = subprocess.run(["systemctl", "is-system-running"], capture_output=True, text=True)
    return r.stdout.strip() in ("running", "degraded", "starting", "maintenance")


def _socket_inodes(ports):
    """{inode: port} of TCP sockets listening on PORTS (any address)."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for ln in f:
                    fl = ln.split()
                    port = int(fl[1].rsplit(":", 1)[1], 16)
                    if fl[3] == "0A" and port in ports:
                        out[fl[9]] = port
        except OSError:
            continue
    return out


def listeners(ports=MAIL_PORTS):
    """[(port, pid, exe)] of processes listening on PORTS."""
    inodes = _socket_inodes(set(ports))
    found = []
    if not inodes:
        return found
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % d)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%s/fd/%s" % (d, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m and m.group(1) in inodes:
                try:
                    exe = os.readlink("/proc/%s/exe" % d)
                except OSError:
                    exe = "?"
                found.append((inodes[m.group(1)], int(d), exe))
    for ino, port in inodes.items():
        if not any(p == port for p, _, _ in found):
            found.append((port, 0, "?"))
    return found


def _system_daemons():
    """PIDs of package daemons running as the SYSTEM instance: dovecot or
    popa3d master processes started without our -c, Postfix's master whose
    config is /etc/postfix.  Other engineers' private instances (dovecot -c
    THEIR.conf) are left alone."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % d)
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if exe not in DAEMON_EXES:
            continue
        if exe.endswith("/dovecot") and "-c" in argv:
            continue
        if exe.endswith("/master"):
            try:
                env = open("/proc/%s/environ" % d, "rb").read().split(b"\0")
            except OSError:
                env = []
            cfg = [e for e in env if e.startswith(b"MAIL_CONFIG=")]
            if cfg and cfg[0] != b"MAIL_CONFIG=/etc/postfix":
                continue
        pids.append(int(d))
    return pids


def stop_package_daemons():
    """Disable and stop what the packages would run; returns notes."""
    notes = []
    live = systemd_running()
    if shutil.which("systemctl"):
        # "disable" works offline too (symlinks, and update-rc.d for the
        # SysV scripts): nothing starts at the next boot either.
        for unit in UNITS:
            if not os.path.exists("/lib/systemd/system/" + unit):
                continue
            argv = ["systemctl", "disable"] + (["--now"] if live else []) + [unit]
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode == 0 and ("Removed" in r.stdout + r.stderr or live):
                notes.append(" ".join(argv))
    if not live:
        notes.append("systemd is not PID 1 here (systemctl is-system-running: %s); package "
                     "daemons checked by process instead" % (
                         subprocess.run(["systemctl", "is-system-running"],
                                        capture_output=True, text=True).stdout.strip()
                         if shutil.which("systemctl") else "absent"))
    if shutil.which("postfix") and subprocess.run(
            ["postfix", "status"], capture_output=True).returncode == 0:
        subprocess.run(["postfix", "stop"], capture_output=True)
        notes.append("postfix stop")
    pids = _system_daemons()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
            time.sleep(0.05)
    if pids:
        notes.append("killed system daemons %s" % pids)
    return notes


# ---- account ---------------------------------------------------------------

def ensure_user(name, password, undo, home="/nonexistent"):
    """A system account NAME with PASSWORD (for popa3d's PAM login and as
    the owner of every mailbox copy); removed at the end when we made it."""
    import pwd
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", home,
                        "--shell", "/usr/sbin/nologin", "--gid", "mail", name], check=True)
        undo.add("userdel " + name, lambda: subprocess.run(["userdel", name], check=True))
        pw = pwd.getpwnam(name)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (name, password), text=True, check=True)
    return pw.pw_uid, pw.pw_gid


def _groupdel_if_left():
    """userdel usually removes the user's group itself."""
    import grp
    try:
        grp.getgrnam("popa3d")
    except KeyError:
        return
    subprocess.run(["groupdel", "popa3d"], check=True)


def ensure_popa3d_user(undo):
    """What popa3d's postinst does: the popa3d user and /var/lib/popa3d (its
    chroot before login)."""
    import grp
    import pwd
    try:
        grp.getgrnam("popa3d")
    except KeyError:
        subprocess.run(["groupadd", "--system", "popa3d"], check=True)
        undo.add("groupdel popa3d", _groupdel_if_left)
    try:
        pwd.getpwnam("popa3d")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                        "/var/lib/popa3d", "--gid", "popa3d", "--shell",
                        "/usr/sbin/nologin", "popa3d"], check=True)
        undo.add("userdel popa3d", lambda: subprocess.run(["userdel", "popa3d"], check=True))
    if not os.path.isdir("/var/lib/popa3d"):
        os.makedirs("/var/lib/popa3d", 0o755)
        undo.add("rmdir /var/lib/popa3d", lambda: os.rmdir("/var/lib/popa3d"))


# ---- machine and cache ----------------------------------------------------

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = dict((ln.split(":")[0], ln.split()[1]) for ln in f)
    return "%d cores (nproc), %s, %.1f GiB RAM (%.1f GiB available), kernel %s" % (
        os.cpu_count(), cpu, int(mem["MemTotal"]) / 1048576.0,
        int(mem.get("MemAvailable", 0)) / 1048576.0, os.uname().release)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cached_fraction(path):
    """Fraction of PATH resident in the page cache (fincore), or None."""
    if not shutil.which("fincore"):
        return None
    r = subprocess.run(["fincore", "-b", "-n", "-o", "RES,SIZE", path],
                       capture_output=True, text=True)
    try:
        res, size = (int(x) for x in r.stdout.split())
        return res / size if size else 1.0
    except ValueError:
        return None
