#!/usr/bin/python3
"""bench/access/run.py: issue 16's access-side measurements, this suite against
Debian's Courier (and Dovecot where it applies), in one run.

Rows (medians of --rounds interleaved rounds; who goes first alternates):
  tls        TLS 1.3 / 1.2 handshakes/s through couriertls: bench/tcpd/tls_bench.py,
             run as it is and its table passed through (and parsed when it can be)
  pss        idle logged-in IMAP session: 100 sessions through the superserver,
             LOGIN (imaplogin + authdaemond, userdb) and SELECT of a 1,000-message
             INBOX, then the mean PSS of the session processes (imapd after the
             login program exec'd it). Dovecot: its imap in PREAUTH mode
             (bench/imap/bench.py's setup), as it has no per-session login program
  login      IMAP LOGIN+LOGOUT per second, 8 clients, each session a new
             connection through the same superserver (our couriertcpd for both)
  authtest   `authtest ACCOUNT PASSWORD` one process per check, sequential, per second
  authd      authdaemond AUTH (userdb, MD5-crypt) and PRE through authpgsql per second
             over the socket, 4 clients: bench/auth/auth_bench.py's load generator
             and daemons, imported, with Courier's side in the namespace below
  exec       exec to first byte (ms, median of 100) for imaplogin, imapd,
             pop3login, pop3d, couriertls, esmtpd: the program starts on a
             socketpair as couriertcpd would start it; couriertls gets a
             ClientHello at once and the first byte is its ServerHello

Courier's programs come from Debian packages unpacked (apt-get download +
dpkg -x, nothing installed) by bench/imap/anchors.sh plus the auth packages
below. They have /etc/courier, /usr/lib/courier-authlib and
/run/courier/authdaemon compiled in, so every Courier measurement runs in a
private mount namespace (unshare -m: root is needed) where overlays put the
unpacked /usr/lib, /usr/sbin and /etc in front of the machine's and this run's
folder is bind-mounted on /etc/courier and /run/courier/authdaemon. Nothing
on the machine changes.

  sudo bench/access/run.py --build build [--rounds 3] [--seconds 4] [--only pss,login]
"""
from __future__ import annotations

import argparse
import grp
import json
import multiprocessing
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1]
sys.path.insert(0, str(SRC / "bench" / "imap"))
sys.path.insert(0, str(SRC / "bench" / "auth"))
sys.path.insert(0, str(SRC / "tests" / "integration"))

AUTH_DEBS = ("courier-authlib", "courier-authdaemon", "courier-authlib-userdb", "courier-authlib-postgresql",
             "courier-base", "courier-imap", "libcourier-unicode4", "libgamin0", "gamin", "libgdbm6", "libidn12")
ACCOUNT = "bench@bench.test"
PASSWORD = "Bench-pass 1"
MD5_SALT = "$1$benchslt$"
MAILUSER = "nobody"  # the mail user our programs drop to (no "courier" user here)


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------
# Courier's files and namespace


def courier_root(anchors: Path) -> Path:
    """anchors/courier-auth: the Courier packages unpacked together (a superset of
    anchors.sh's courier/ folder with the authdaemond packages)."""
    root = anchors / "courier-auth"
    if (root / "usr/sbin/authtest").exists() and (root / "usr/lib/courier-authlib/libauthuserdb.so.0").exists():
        return root
    subprocess.run(["sh", str(SRC / "bench/imap/anchors.sh"), str(anchors)], check=True, stdout=subprocess.DEVNULL)
    debs = anchors / "debs"
    missing = [p for p in AUTH_DEBS if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root.mkdir(parents=True, exist_ok=True)
    for p in AUTH_DEBS:
        subprocess.run(["dpkg", "-x", str(sorted(debs.glob(f"{p}_*.deb"))[-1]), str(root)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    return root


def namespace_argv(root: Path, folder: Path, argv: list[str]) -> list[str]:
    """argv in a private mount namespace with Courier's unpacked files in place,
    folder/etc on /etc/courier and folder/run on /run/courier/authdaemon."""
    script = ('set -e; mount --make-rprivate /; '
              'for d in usr/lib usr/libexec usr/sbin usr/bin etc; do '
              '  mount -t overlay overlay -o "lowerdir=$1/$d:/$d" "/$d"; done; '
              'mount --bind "$2/etc" /etc/courier; '
              'if [ ! -d /run/courier/authdaemon ]; then mount -t tmpfs bench /run; '
              'mkdir -p /run/courier/authdaemon; fi; '
              'mount --bind "$2/run" /run/courier/authdaemon; shift 2; exec "$@"')
    return ["unshare", "--mount", "--", "/bin/sh", "-c", script, "sh", str(root), str(folder), *argv]


# ---------------------------------------------------------------------------
# The two suites' programs, as the inner process sees them


def crypt_md5(password: str) -> str:
    import backends  # tests/integration: crypt(3) through libcrypt
    return backends.crypt_hash(password, MD5_SALT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_socket(path: Path, proc: subprocess.Popen, what: str) -> None:
    for _ in range(400):
        if path.exists():
            return
        if proc.poll() is not None:
            raise BenchError(f"{what} exited ({proc.returncode}) before {path} appeared")
        time.sleep(0.025)
    raise BenchError(f"{what}: {path} did not appear within 10 s")


def shell_settings(path: Path) -> dict:
    """NAME=value lines of a Courier settings file (sh syntax, the simple cases
    its files use: quotes and $NAME of an earlier setting)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if not m:
            continue
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[m.group(1)] = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda v: out.get(v.group(1), ""), value)
    return out


class Side:
    """Everything one suite needs on this side of the namespace: an account in its
    userdb, a running authdaemond, the programs' argv and environment."""

    def __init__(self, impl: str, build: Path, work: Path, home: Path, uid: int, gid: int):
        self.impl, self.build, self.work, self.home = impl, build, work, home
        self.uid, self.gid = uid, gid
        self.procs: list[subprocess.Popen] = []
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "TCPREMOTEIP": "127.0.0.1"}
        hashed = crypt_md5(PASSWORD)
        settings = [f"home={home}", f"uid={uid}", f"gid={gid}", f"systempw={hashed}"]
        if impl == "ours":
            a = build / "authlib"
            etc = work / "etc"
            etc.mkdir(parents=True, exist_ok=True)
            self.socket = work / "authdaemon" / "socket"
            (etc / "authdaemonrc").write_text(
                f'authmodulelist="authuserdb"\ndaemons=4\nauthdaemonvar={work}/authdaemon\n'
                f"LOGFILE={work}/authdaemond.log\nUSERDB={etc}/userdb\nDEBUG_LOGIN=0\n"
                # The login programs' child runs as the mail user (nobody here,
                # as MAILUSER below says) and must reach the socket.
                f"authdaemongroup={grp.getgrgid(pwd.getpwnam(MAILUSER).pw_gid).gr_name}\n")
            env = dict(self.env, USERDB=str(etc / "userdb"), MAILUSER=MAILUSER)
            subprocess.run([str(a / "userdb"), ACCOUNT, "set", *settings], env=env, check=True)
            subprocess.run([str(a / "makeuserdb")], env=env, check=True)
            self.start([str(a / "authdaemond"), "-c", str(etc / "authdaemonrc"), "foreground"], env, "our authdaemond")
            self.env["AUTHDAEMON_SOCKET"] = str(self.socket)
            self.env["MAILUSER"] = MAILUSER
            self.env["IMAP_BAD_LOGIN_DELAY"] = "0"
            self.env["POP3_BAD_LOGIN_DELAY"] = "0"
            self.imaplogin = [str(build / "imapd/imaplogin"), str(build / "imapd/imapd"), "Maildir"]
            self.imapd = [str(build / "imapd/imapd"), "Maildir"]
            self.pop3login = [str(build / "pop3d/pop3login"), str(build / "pop3d/pop3d"), "Maildir"]
            self.pop3d = [str(build / "pop3d/pop3d"), "Maildir"]
            self.authtest = [str(a / "authtest"), "-S", str(self.socket)]
        else:
            self.socket = Path("/run/courier/authdaemon/socket")
            (work / "etc").mkdir(parents=True, exist_ok=True)
            (work / "run").mkdir(parents=True, exist_ok=True)
            (work / "etc" / "authdaemonrc").write_text(
                'authmodulelist="authuserdb"\nauthmodulelistorig="authuserdb"\ndaemons=4\n'
                'authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n')
            subprocess.run(["/usr/sbin/userdb", ACCOUNT, "set", *settings], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["/usr/sbin/makeuserdb"], env=self.env, check=True)
            self.start(["/usr/lib/courier/courier-authlib/authdaemond"], self.env, "Courier's authdaemond")
            # The package's /etc/courier/imapd, as its start script exports it.
            self.env.update(shell_settings(Path("/etc/courier/imapd")))
            self.imaplogin = ["/usr/lib/courier/courier/imaplogin", "/usr/bin/imapd", "Maildir"]
            self.imapd = ["/usr/bin/imapd", "Maildir"]
            self.pop3login = self.pop3d = None
            self.authtest = ["/usr/sbin/authtest"]

    def start(self, argv, env, what):
        log = open(self.work / "authdaemond.out", "ab")
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.procs.append(p)
        wait_socket(self.socket, p, what)
        time.sleep(0.3)  # the workers

    def close(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


class Tcpd:
    """Our couriertcpd in front of argv (the same superserver for both suites)."""

    def __init__(self, build: Path, work: Path, argv: list[str], env: dict):
        self.port = free_port()
        self.pidfile = work / f"tcpd-{self.port}.pid"
        self.build = build
        self.proc = subprocess.Popen(
            [str(build / "tcpd/couriertcpd"), "-nodnslookup", "-noidentlookup", "-maxprocs=400",
             "-maxperip=400", f"-pid={self.pidfile}",
             f"127.0.0.1.{self.port}", *argv], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(work / "tcpd.err", "ab"))
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.025)
        raise BenchError(f"couriertcpd on port {self.port} did not start: "
                         f"{(work / 'tcpd.err').read_text(errors='replace')[-1000:]}")

    def children(self) -> list[int]:
        pid = int(self.pidfile.read_text().split()[0]) if self.pidfile.exists() else self.proc.pid
        out = []
        for t in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (t / "children").read_text().split()]
        return out

    def close(self):
        subprocess.run([str(self.build / "tcpd/couriertcpd"), f"-pid={self.pidfile}", "-stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def read_until(s: socket.socket, marker: bytes, buf: bytearray) -> None:
    while marker not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError(f"connection closed before {marker!r}; got {bytes(buf[-200:])!r}")
        buf += chunk


def read_tagged(s: socket.socket, tag: bytes, buf: bytearray) -> None:
    """Until the tagged reply; a NO or BAD fails at once (not by timeout)."""
    pattern = re.compile(rb"(?:^|\r\n)" + tag + rb" (OK|NO|BAD)([^\r\n]*)\r\n")
    while not (m := pattern.search(buf)):
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError(f"connection closed before {tag!r}'s reply; got {bytes(buf[-200:])!r}")
        buf += chunk
    if m.group(1) != b"OK":
        raise BenchError(f"{tag.decode()} {m.group(1).decode()}{m.group(2).decode(errors='replace')}")


def login_logout(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    buf = bytearray()
    read_until(s, b"\r\n", buf)
    s.sendall(f'l LOGIN "{ACCOUNT}" "{PASSWORD}"\r\n'.encode())
    read_tagged(s, b"l", buf)
    s.sendall(b"o LOGOUT\r\n")
    read_until(s, b"o OK", buf)
    s.close()


def _login_worker(args):
    port, seconds = args
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        login_logout(port)
        n += 1
    return n


# ---------------------------------------------------------------------------
# Measurements (in the inner process, on one side)


def m_login(side: Side, seconds: float, clients: int = 8) -> float:
    t = Tcpd(side.build, side.work, side.imaplogin, side.env)
    try:
        login_logout(t.port)  # fails loudly when the login does not work
        with multiprocessing.Pool(clients) as pool:
            t0 = time.monotonic()
            counts = pool.map(_login_worker, [(t.port, seconds)] * clients)
            dt = time.monotonic() - t0
        return sum(counts) / dt
    finally:
        t.close()


def m_pss(side: Side, sessions: int = 100) -> float:
    t = Tcpd(side.build, side.work, side.imaplogin, side.env)
    socks = []
    try:
        for _ in range(sessions):
            s = socket.create_connection(("127.0.0.1", t.port), timeout=15)
            buf = bytearray()
            read_until(s, b"\r\n", buf)
            # One command at a time: Courier's imaplogin drops what a client
            # pipelines behind LOGIN.
            s.sendall(f'l LOGIN "{ACCOUNT}" "{PASSWORD}"\r\n'.encode())
            read_until(s, b"l OK", buf)
            s.sendall(b"a SELECT INBOX\r\n")
            read_until(s, b"a OK", buf)
            socks.append(s)
        time.sleep(0.5)
        pss = []
        for pid in t.children():
            roll = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss.append(int(re.search(r"^Pss:\s+(\d+)", roll, re.M).group(1)))
        if len(pss) < sessions:
            raise BenchError(f"{len(pss)} session processes for {sessions} sessions")
        return statistics.mean(pss)
    finally:
        for s in socks:
            s.close()
        t.close()


def m_authtest(side: Side, seconds: float) -> float:
    argv = side.authtest + [ACCOUNT, PASSWORD]
    cp = subprocess.run(argv, env=side.env, capture_output=True, text=True)
    if cp.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()}")
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        subprocess.run(argv, env=side.env, stdout=subprocess.DEVNULL, check=True)
        n += 1
    return n / (time.monotonic() - t0)


def first_byte_ms(argv: list[str], env: dict, send: bytes = b"", n: int = 100, as_account=None) -> float:
    """as_account: (uid, gid, home) for a post-login program, which starts as the
    account in its home as the login program leaves it."""
    extra = {}
    if as_account:
        extra = {"user": as_account[0], "group": as_account[1], "extra_groups": [], "cwd": as_account[2]}
    times = []
    for _ in range(n):
        a, b = socket.socketpair()
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=b, stdout=b, stderr=subprocess.DEVNULL, env=env, **extra)
        b.close()
        if send:
            a.sendall(send)
        if not a.recv(1):
            raise BenchError(f"{argv[0]} closed without a byte")
        times.append((time.perf_counter() - t0) * 1000)
        a.close()
        p.wait()
    return statistics.median(times)


def client_hello() -> bytes:
    """A TLS 1.3 ClientHello as Python's ssl sends it (memory BIO)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="bench.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def m_exec(side: Side, work: Path) -> dict:
    res = {}
    env = dict(side.env)
    res["imaplogin"] = first_byte_ms(side.imaplogin, env)
    penv = dict(env, AUTHENTICATED=ACCOUNT, HOME=str(side.home), USER=ACCOUNT,
                MAILDIR=str(side.home / "Maildir"))
    acct = (side.uid, side.gid, str(side.home))
    res["imapd"] = first_byte_ms(side.imapd, penv, b"a NOOP\r\n", as_account=acct)
    if side.impl == "ours":
        res["pop3login"] = first_byte_ms(side.pop3login, env)
        res["pop3d"] = first_byte_ms(side.pop3d, penv, as_account=acct)
        b = side.build
        res["esmtpd"] = first_byte_ms([str(b / "esmtpd/esmtpd")], dict(env, COURIER_SYSCONFDIR=str(work / "etc"),
                                                                   LOGFILE="/dev/null"))
    key, crt = work / "key.pem", work / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=bench.test",
                    "-days", "30", "-keyout", str(key), "-out", str(crt)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (work / "server.pem").write_bytes(key.read_bytes() + crt.read_bytes())
    (work / "server.pem").chmod(0o600)
    tls = str(side.build / "tls/couriertls") if side.impl == "ours" else "/usr/bin/couriertls"
    res["couriertls"] = first_byte_ms([tls, "-server", "-tcpd", "/bin/true"],
                                      dict(env, TLS_CERTFILE=str(work / "server.pem"), TLS_VERIFYPEER="NONE", MAILUSER="nobody"),
                                      client_hello())
    return res


def inner(spec: dict) -> dict:
    """Runs in the namespace (Courier) or not (ours): one round of the asked rows."""
    work = Path(spec["work"])
    home = Path(spec["home"])
    side = Side(spec["impl"], Path(spec["build"]), work, home, spec["uid"], spec["gid"])
    out = {}
    try:
        for row in spec["rows"]:
            try:
                if row == "pss":
                    out["pss"] = m_pss(side)
                elif row == "login":
                    out["login"] = m_login(side, spec["seconds"])
                elif row == "authtest":
                    out["authtest"] = m_authtest(side, spec["seconds"])
                elif row == "exec":
                    out["exec"] = m_exec(side, work)
            except (OSError, BenchError, subprocess.SubprocessError) as e:
                out.setdefault("errors", []).append(f"{row}: {e!r}")
    finally:
        side.close()
    return out


# ---------------------------------------------------------------------------
# The outer run


def make_home(path: Path, messages: int, uid: int, gid: int) -> None:
    import bench as imap_bench  # bench/imap/bench.py
    imap_bench.make_maildir(path / "Maildir", messages)
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, gid)


def run_side(impl: str, args, work: Path, home: Path, rows: list[str], uid: int, gid: int, root: Path | None):
    folder = Path(tempfile.mkdtemp(prefix=f"{impl}-", dir=work))
    os.chmod(folder, 0o755)
    spec = {"impl": impl, "build": str(args.build), "work": str(folder), "home": str(home), "uid": uid,
            "gid": gid, "rows": rows, "seconds": args.seconds}
    argv = [sys.executable, str(Path(__file__).resolve()), "--inner", json.dumps(spec)]
    if impl == "courier":
        # The package's configuration files (imapd, ...); Side writes authdaemonrc.
        shutil.copytree(root / "etc/courier", folder / "etc", symlinks=True)
        (folder / "run").mkdir()
        argv = namespace_argv(root, folder, argv)
    cp = subprocess.run(argv, capture_output=True, text=True)
    if cp.returncode != 0:
        raise BenchError(f"{impl} round failed (exit {cp.returncode}):\n{cp.stderr[-3000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def dovecot_pss(args, work: Path, uid: int, gid: int) -> float | None:
    """Dovecot's imap in PREAUTH mode, as bench/imap/bench.py runs it."""
    import bench as imap_bench
    dimap = args.anchors / "dovecot/usr/lib/dovecot/imap"
    if not dimap.exists():
        return None
    home = work / "dovecot-home"
    shutil.copytree(work / "home-template", home)
    for d in ("dovecot-run", "dovecot-state"):
        (work / d).mkdir(exist_ok=True)
        os.chown(work / d, uid, gid)
    for p in [home, *home.rglob("*")]:
        os.chown(p, uid, gid)
    (work / "dovecot.log").touch()
    os.chown(work / "dovecot.log", uid, gid)
    conf = work / "dovecot.conf"
    conf.write_text(f"protocols = imap\nmail_location = maildir:~/Maildir\nssl = no\n"
                    f"log_path = {work}/dovecot.log\nbase_dir = {work}/dovecot-run\n"
                    f"state_dir = {work}/dovecot-state\nfirst_valid_uid = 1\n")
    sp = imap_bench.Spawner(imap_bench.dovecot_imap_argv(args.anchors, conf), {
        "PATH": "/usr/bin:/bin", "USER": "bench", "HOME": str(home),
        "LD_LIBRARY_PATH": str(args.anchors / "dovecot/usr/lib/dovecot")}, home, uid, gid)
    try:
        return imap_bench.memory(sp.port, sp, None, sessions=100)[1]
    finally:
        sp.close()


def run_tls(args) -> tuple[dict, str]:
    cp = subprocess.run([sys.executable, str(SRC / "bench/tcpd/tls_bench.py"), "--build", str(args.build),
                         "--seconds", str(args.seconds)], capture_output=True, text=True)
    text = cp.stdout + (cp.stderr[-2000:] if cp.returncode else "")
    rows = {}
    # The first table (handshakes/s): "TLS 1.3   <courier>   <ours> ...", columns
    # in the order of its heading; the CPU table below repeats the row names.
    for line in cp.stdout.splitlines():
        m = re.match(r"\s*TLS\s*v?(1\.[23])\s+([\d.]+)\s+([\d.]+)", line)
        if m and f"TLSv{m.group(1)}" not in rows:
            rows[f"TLSv{m.group(1)}"] = (float(m.group(3)), float(m.group(2)))  # (ours, courier)
    return rows, text


def run_authd(args, work: Path, root: Path | None) -> dict:
    """bench/auth/auth_bench.py's daemons and load generator, imported: userdb AUTH
    with MD5-crypt hashes and authpgsql PRE, 4 clients."""
    import auth_bench
    import backends
    crypt_hash = backends.crypt_hash
    # The accounts are MD5-crypt: the same salt scheme, "$1$" hashes.
    backends.crypt_hash = lambda pw, salt: crypt_hash(pw, "$1$" + salt[3:11] + "$") if salt.startswith("$6$") \
        else crypt_hash(pw, salt)
    if root:
        auth_bench.in_courier_namespace = lambda folder, argv: namespace_argv(root, folder, argv)
        auth_bench.courier_unavailable = lambda: None
    out = work / "auth.json"
    argv = ["auth_bench.py", "--build", str(args.build), "--clients", "4", "--modes", "auth,pre",
            "--backends", "userdb,pgsql", "--repeat", str(args.rounds), "--duration-s", str(args.seconds),
            "--out", str(out)]
    if not root:
        argv.append("--no-courier")
    saved = sys.argv
    sys.argv = argv
    try:
        auth_bench.main()
    finally:
        sys.argv = saved
        backends.crypt_hash = crypt_hash
    summary = json.loads(out.read_text())["summary"]
    return {(r["backend"], r["mode"]): (r["ours_rate"], r["courier_rate"]) for r in summary}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit=""):
    if v is None:
        return "—"
    return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:,.2f}{unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=SRC / "build")
    ap.add_argument("--anchors", type=Path, default=Path("/var/tmp/courier-suite-anchors"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--only", default="tls,pss,login,authtest,authd,exec")
    ap.add_argument("--no-courier", action="store_true")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        print(json.dumps(inner(json.loads(args.inner))))
        return 0
    if os.geteuid() != 0:
        ap.error("run as root: the login programs change to the account's uid, and Courier's side "
                 "needs a private mount namespace")
    args.build = args.build.resolve()
    only = args.only.split(",")
    root = None if args.no_courier else courier_root(args.anchors)
    pw = pwd.getpwnam("nobody")
    uid, gid = pw.pw_uid, pw.pw_gid
    work = Path(tempfile.mkdtemp(prefix="access-bench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    results: dict[str, dict] = {"ours": {}, "courier": {}}
    notes = []
    try:
        per_round = [r for r in ("pss", "login", "authtest", "exec") if r in only]
        if per_round:
            make_home(work / "home-template", args.messages, uid, gid)
            homes = {}
            for impl in ("ours", "courier"):
                homes[impl] = work / f"home-{impl}"
                shutil.copytree(work / "home-template", homes[impl], symlinks=True)
                for p in [homes[impl], *homes[impl].rglob("*")]:
                    os.chown(p, uid, gid)
            impls = ["ours"] + ([] if root is None else ["courier"])
            for rnd in range(args.rounds):
                order = impls if rnd % 2 == 0 else impls[::-1]
                for impl in order:
                    print(f"[round {rnd + 1}/{args.rounds}] {impl}: {', '.join(per_round)}", file=sys.stderr,
                          flush=True)
                    r = run_side(impl, args, work, homes[impl], per_round, uid, gid, root)
                    for k, v in r.items():
                        if k == "errors":
                            notes += [f"{impl}, round {rnd + 1}: {e}" for e in v]
                        else:
                            results[impl].setdefault(k, []).append(v)
        dovecot = None
        if "pss" in only:
            try:
                dovecot = dovecot_pss(args, work, uid, gid)
            except (OSError, EOFError, BenchError, ValueError) as e:
                log = work / "dovecot.log"
                notes.append(f"Dovecot not measured: {e!r}; {log.read_text()[-500:] if log.exists() else ''}")
        tls_rows, tls_text = run_tls(args) if "tls" in only else ({}, "")
        authd = run_authd(args, work, root) if "authd" in only else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def m(impl, key):
        return med(results[impl].get(key, []))

    rows = []
    for proto in ("TLSv1.3", "TLSv1.2"):
        if proto in tls_rows:
            o, c = tls_rows[proto]
            rows.append((f"{proto} handshakes/s through couriertls, 4 clients", c, None, o, "higher"))
    rows.append(("idle logged-in IMAP session, PSS KiB (100 sessions)", m("courier", "pss"), dovecot,
                 m("ours", "pss"), "lower"))
    rows.append(("IMAP LOGIN+LOGOUT per second, 8 clients", m("courier", "login"), None, m("ours", "login"), "higher"))
    a = authd.get(("userdb", "auth"), (None, None))
    rows.append(("authdaemond AUTH/s over the socket, 4 clients (userdb, MD5-crypt)", a[1], None, a[0], "higher"))
    p = authd.get(("pgsql", "pre"), (None, None))
    rows.append(("authdaemond PRE/s through authpgsql, 4 clients", p[1], None, p[0], "higher"))
    rows.append(("`authtest`, one process per check, sequential/s", m("courier", "authtest"), None,
                 m("ours", "authtest"), "higher"))
    if "exec" in only:
        for prog in ("imaplogin", "imapd", "pop3login", "pop3d", "couriertls", "esmtpd"):
            def ex(impl):
                return med([e.get(prog) for e in results[impl].get("exec", [])])
            rows.append((f"exec to first byte, {prog}, ms", ex("courier"), None, ex("ours"), "lower"))
    print(f"\naccess-side benchmark: {args.rounds} interleaved rounds, {args.seconds:g} s per rate, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"| measurement | Courier | Dovecot | this suite | ratio |")
    print(f"|---|---|---|---|---|")
    for name, c, d, o, better in rows:
        ratio = "—"
        if o is not None and c:
            ratio = f"{o / c:.2f}x Courier" + (" (lower is better)" if better == "lower" else "")
        print(f"| {name} | {fmt(c)} | {fmt(d)} | {fmt(o)} | {ratio} |")
    if tls_text:
        print("\nbench/tcpd/tls_bench.py said:\n" + tls_text.rstrip())
    for n in notes:
        print("note:", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
