#!/usr/bin/env python3
"""bench/pop3/pop3_bench.py: POP3 sessions per second and RETR throughput of
this suite's pop3login/pop3d, next to Debian's courier-pop and Dovecot's pop3,
in the same run, with the same accounts and the same messages.

    sudo python3 bench/pop3/pop3_bench.py [--build build] [--seconds 10] [--clients 8]

What runs (all on 127.0.0.1, free ports, a temporary folder):
  suite    BUILD/tcpd/couriertcpd -> BUILD/pop3d/pop3login -> BUILD/pop3d/pop3d
  courier  /usr/sbin/couriertcpd -> courierpop3login -> courierpop3d (Debian's
           courier-pop), MAXPERIP raised as DESIGN.md says
  dovecot  Debian's dovecot-core (installed) with pop3/pop3-login unpacked from
           dovecot-pop3d (apt-get download + dpkg -x: it conflicts with
           courier-pop, COURIER-TRAPS.md 1), its own dovecot.conf
The suite and Courier authenticate against one authdaemond of this suite
(both speak the authdaemon protocol); it listens on Courier's compiled-in
socket /run/courier/authdaemon/socket, and the suite is pointed there with
AUTHDAEMON_SOCKET. Dovecot uses a passwd-file with the same passwords. The
suite and Courier serve the same Maildirs (their courierpop3dsizelist files
are the same format: the UIDLs they report are compared); Dovecot a copy.

Workloads, each for --seconds in all, in --rounds turns per server:
  sessions   --clients connections at a time, each: greeting, USER, PASS,
             STAT, QUIT (a mail client checking for mail)
  retr-small one session RETRs 4 KB messages one after the other, waiting
             for each (what a client downloading mail does)
  retr-large one session RETRs a 5 MB message again and again (MB/s)
Needs root (three servers switch to the accounts' uid) and the packages
courier-pop, dovecot-core and the download of dovecot-pop3d; missing pieces are
reported and their column left empty.
"""
from __future__ import annotations

import argparse
import contextlib
import crypt  # noqa: deprecated in 3.13, present in Debian 12's 3.11
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

USERS = 8
PASSWORD = "bench pass"
SMALL = 100   # 4 KB messages per mailbox
COURIER_SOCKET = Path("/run/courier/authdaemon/socket")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on {port}")


# --------------------------------------------------------------------------
# A minimal, fast POP3 client.

class Client:
    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            chunk = self.s.recv(262144)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def cmd(self, text: str) -> bytes:
        self.s.sendall(text.encode() + b"\r\n")
        reply = self.line()
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"{text.split()[0]}: {reply!r}")
        return reply

    def multiline(self) -> int:
        """Reads a multi-line body up to its ".": returns its size. Searches
        only what is new, so a 5 MB body costs no more than reading it."""
        data, self.buf = self.buf, b""
        if data.startswith(b".\r\n"):
            self.buf = data[3:]
            return 3
        total = 0
        tail = b""
        while True:
            window = tail + data
            end = window.find(b"\r\n.\r\n")
            if end >= 0:
                used = end + 5 - len(tail)
                self.buf = data[used:]
                return total + used
            total += len(data)
            tail = window[-4:]
            data = self.s.recv(1 << 20)
            if not data:
                raise ConnectionError("closed in a multi-line reply")

    def login(self, user: str) -> None:
        greeting = self.line()
        if not greeting.startswith(b"+OK"):
            raise RuntimeError(f"greeting: {greeting!r}")
        self.cmd(f"USER {user}")
        self.cmd(f"PASS {PASSWORD}")

    def close(self) -> None:
        self.s.close()


def bench_sessions(port: int, seconds: float, clients: int) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * clients
    errors: list[str] = []

    def worker(k: int) -> None:
        n = 0
        while time.monotonic() < stop:
            try:
                c = Client(port)
                c.login(f"user{(k + n) % USERS}@bench.test")
                c.cmd("STAT")
                c.cmd("QUIT")
                c.close()
                n += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))
                if len(errors) > 20:
                    return
        counts[k] = n

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        print(f"    {len(errors)} session errors, first: {errors[0]}", file=sys.stderr)
    return sum(counts) / elapsed


def bench_retr_small(port: int, seconds: float) -> float:
    c = Client(port)
    c.login("user0@bench.test")
    count = int(c.cmd("STAT").split()[1])
    stop = time.monotonic() + seconds
    started = time.monotonic()
    n = 0
    while time.monotonic() < stop:
        c.cmd(f"RETR {n % (count - 1) + 1}")  # the last message is the large one
        c.multiline()
        n += 1
    elapsed = time.monotonic() - started
    c.cmd("QUIT")
    c.close()
    return n / elapsed


def bench_retr_large(port: int, seconds: float) -> float:
    c = Client(port)
    c.login("user1@bench.test")
    count = int(c.cmd("STAT").split()[1])
    stop = time.monotonic() + seconds
    started = time.monotonic()
    total = 0
    while time.monotonic() < stop:
        c.cmd(f"RETR {count}")
        total += c.multiline()
    elapsed = time.monotonic() - started
    c.cmd("QUIT")
    c.close()
    return total / elapsed / 1e6


def uidls(port: int) -> list[bytes]:
    c = Client(port)
    c.login("user2@bench.test")
    c.s.sendall(b"UIDL\r\n")
    c.line()
    out = []
    while (line := c.line()) != b".":
        out.append(line)
    c.cmd("QUIT")
    c.close()
    return out


# --------------------------------------------------------------------------
# Mailboxes

def small_message(i: int) -> bytes:
    body = b"".join(b"line %04d of message %d: some text to make it four kilobytes long....\n" % (j, i)
                    for j in range(56))
    return b"From: sender@bench.test\nTo: user@bench.test\nSubject: small %d\n\n" % i + body


def large_message() -> bytes:
    line = b"large message line, with a dot every so often to stuff................\n"
    lines = [(b"." + line) if j % 50 == 0 else line for j in range(5 * 1024 * 1024 // len(line))]
    return b"From: sender@bench.test\nSubject: large\n\n" + b"".join(lines)


def fill_maildir(maildir: Path, uid: int, gid: int) -> None:
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    stamp = 1700000000
    msgs = [small_message(i) for i in range(SMALL)] + [large_message()]
    for i, data in enumerate(msgs):
        (maildir / "cur" / f"{stamp + i}.M{i}P1.bench,S={len(data)}:2,").write_bytes(data)
    for path in [maildir.parent, maildir, *maildir.rglob("*")]:
        os.chown(path, uid, gid)


# --------------------------------------------------------------------------
# Servers

class Servers:
    def __init__(self, build: Path, root: Path):
        self.build = build
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.stops: list[list[str]] = []
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        self.ports: dict[str, int] = {}
        self.missing: dict[str, str] = {}

    def close(self) -> None:
        for argv in self.stops:
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=15)
            if p.poll() is None:
                p.kill()
        if self.courier_socket_made:
            with contextlib.suppress(OSError):
                COURIER_SOCKET.unlink()

    courier_socket_made = False

    def authdaemond(self) -> None:
        """This suite's authdaemond with userdb accounts user0..N, on Courier's socket."""
        etc = self.root / "etc"
        etc.mkdir()
        userdb = etc / "userdb"
        homes = self.root / "homes"
        lines = []
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
        for i in range(USERS):
            home = homes / f"user{i}"
            fill_maildir(home / "Maildir", self.uid, self.gid)
            lines.append(f"user{i}@bench.test\tuid={self.uid}|gid={self.gid}|home={home}|systempw={hashed}")
        userdb.write_text("\n".join(lines) + "\n")
        userdb.chmod(0o600)
        env = dict(os.environ, USERDB=str(userdb))
        subprocess.run([str(self.build / "authlib/makeuserdb")], env=env, check=True)
        if COURIER_SOCKET.exists():
            with contextlib.suppress(OSError):
                socket.socket(socket.AF_UNIX).connect(str(COURIER_SOCKET))
                raise RuntimeError(f"a Courier authdaemond is running on {COURIER_SOCKET}; stop it first")
            COURIER_SOCKET.unlink()
        COURIER_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        rc = etc / "authdaemonrc"
        rc.write_text(f'authmodulelist="authuserdb"\ndaemons=8\nauthdaemonvar={COURIER_SOCKET.parent}\n'
                      f"LOGFILE={self.root / 'authdaemond.log'}\nUSERDB={userdb}\n")
        p = subprocess.Popen([str(self.build / "authlib/authdaemond"), "-c", str(rc), "foreground"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        self.courier_socket_made = True
        deadline = time.monotonic() + 30
        while not COURIER_SOCKET.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("authdaemond did not start; see " + str(self.root / "authdaemond.log"))
            time.sleep(0.05)

    def couriertcpd_env(self) -> dict:
        return {"PATH": "/usr/bin:/bin", "AUTHDAEMON_SOCKET": str(COURIER_SOCKET), "MAILDIRPATH": "Maildir"}

    def suite(self) -> None:
        tcpd = self.build / "tcpd/couriertcpd"
        if not tcpd.exists():
            self.missing["suite"] = f"{tcpd} is not built"
            return
        port = free_port()
        pid = self.root / "suite.pid"
        env = dict(self.couriertcpd_env(), LOGFILE=str(self.root / "suite-pop3.log"), POP3AUTH="PLAIN LOGIN")
        subprocess.run([str(tcpd), f"-pid={pid}", "-address=127.0.0.1", "-maxprocs=300", "-maxperip=300",
                        "-nodnslookup", "-noidentlookup", str(port), str(self.build / "pop3d/pop3login"),
                        str(self.build / "pop3d/pop3d"), "Maildir"], env=env, check=True)
        self.stops.append([str(tcpd), f"-pid={pid}", "-stop"])
        wait_port(port, what="suite pop3")
        self.ports["suite"] = port

    def courier(self) -> None:
        login = Path("/usr/lib/courier/courier/courierpop3login")
        pop3d = Path("/usr/lib/courier/courier/courierpop3d")
        tcpd = Path("/usr/sbin/couriertcpd")
        if not (login.exists() and pop3d.exists() and tcpd.exists()):
            self.missing["courier"] = "Debian's courier-pop is not installed (apt-get install courier-pop)"
            return
        port = free_port()
        pid = self.root / "courier.pid"
        env = self.couriertcpd_env()
        log = open(self.root / "courier-pop3.log", "ab")
        p = subprocess.Popen([str(tcpd), "-address=127.0.0.1", "-maxprocs=300", "-maxperip=300", "-nodnslookup",
                              "-noidentlookup", str(port), str(login), str(pop3d), "Maildir"],
                             env=env, stdout=log, stderr=log)
        self.procs.append(p)
        wait_port(port, p, "courier couriertcpd")
        self.ports["courier"] = port
        del pid

    def dovecot(self) -> None:
        dovecot = shutil.which("dovecot")
        debs = sorted(Path(self.root.parent).glob("dovecot-pop3d_*.deb")) + sorted(Path.cwd().glob("dovecot-pop3d_*.deb"))
        if not dovecot:
            self.missing["dovecot"] = "dovecot-core is not installed (apt-get install dovecot-core)"
            return
        x = self.root / "dovecot-pop3d"
        libdir = Path("/usr/lib/dovecot")
        if not (libdir / "pop3").exists():
            if not debs:
                subprocess.run(["apt-get", "download", "dovecot-pop3d"], cwd=self.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                debs = sorted(self.root.glob("dovecot-pop3d_*.deb"))
            if not debs:
                self.missing["dovecot"] = "cannot download dovecot-pop3d (apt-get download dovecot-pop3d)"
                return
            subprocess.run(["dpkg", "-x", str(debs[0]), str(x)], check=True)
            libdir = x / "usr/lib/dovecot"
        homes = self.root / "dovecot-homes"
        users = self.root / "dovecot-users"
        lines = []
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
        for i in range(USERS):
            fill_maildir(homes / f"user{i}" / "Maildir", self.uid, self.gid)
            lines.append(f"user{i}@bench.test:{{SHA512-CRYPT}}{hashed}:{self.uid}:{self.gid}::{homes}/user{i}::")
        users.write_text("\n".join(lines) + "\n")
        port = free_port()
        run = self.root / "dovecot-run"
        run.mkdir()
        def exe(name: str) -> str:
            for d in (libdir, Path("/usr/lib/dovecot")):
                if (d / name).exists():
                    return str(d / name)
            return "/bin/false"
        conf = self.root / "dovecot.conf"
        conf.write_text(f"""
base_dir = {run}
state_dir = {run}
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.root}/dovecot.log
mail_location = maildir:~/Maildir
first_valid_uid = 1
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
protocol pop3 {{
  mail_max_userip_connections = 1000
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  executable = {exe("pop3-login")}
}}
service pop3 {{
  executable = {exe("pop3")}
}}
service imap-login {{
  executable = {exe("imap-login")}
}}
service imap {{
  executable = {exe("imap")}
}}
service imap-urlauth-login {{
  executable = {exe("imap-urlauth-login")}
}}
service imap-urlauth {{
  executable = {exe("imap-urlauth")}
}}
service imap-urlauth-worker {{
  executable = {exe("imap-urlauth-worker")}
}}
service imap-hibernate {{
  executable = {exe("imap-hibernate")}
}}
""")
        log = open(self.root / "dovecot.stderr", "ab")
        p = subprocess.Popen([dovecot, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs.append(p)
        try:
            wait_port(port, p, "dovecot")
        except RuntimeError as e:
            self.missing["dovecot"] = f"{e}; see {self.root}/dovecot.log"
            return
        self.ports["dovecot"] = port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("SUITE_BUILD", "build"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="the servers take turns this many times")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pop3_bench: run as root: the servers switch to the accounts' uid", file=sys.stderr)
        return 2
    build = Path(args.build).resolve()
    for need in ("authlib/authdaemond", "authlib/makeuserdb", "pop3d/pop3login", "pop3d/pop3d"):
        if not (build / need).exists():
            print(f"pop3_bench: {build / need} is not built (make {need})", file=sys.stderr)
            return 2
    root = Path(tempfile.mkdtemp(prefix="pop3bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(root, 0o755)
    servers = Servers(build, root)
    results: dict[str, dict[str, float]] = {}
    try:
        servers.authdaemond()
        servers.suite()
        servers.courier()
        servers.dovecot()
        names = [n for n in ("suite", "courier", "dovecot") if n in servers.ports]
        for name, why in servers.missing.items():
            print(f"pop3_bench: {name} not measured: {why}", file=sys.stderr)
        if "suite" in names and "courier" in names:
            same = uidls(servers.ports["suite"]) == uidls(servers.ports["courier"])
            print(f"UIDLs of the suite and Courier on the same Maildir: {'identical' if same else 'DIFFERENT'}")
        for name in names:
            port = servers.ports[name]
            # Warm up: the first session of each account measures its new
            # messages and writes courierpop3dsizelist (Dovecot: its index);
            # what is measured is the steady state.
            for i in range(USERS):
                c = Client(port)
                c.login(f"user{i}@bench.test")
                c.cmd("STAT")
                c.cmd("QUIT")
                c.close()
            bench_retr_small(port, 0.5)
            results[name] = {"sessions": 0.0, "retr_small": 0.0, "retr_large": 0.0}
        # The machine may be shared: the servers take turns, in short rounds,
        # so that a busy moment does not fall on one of them only.
        step = args.seconds / args.rounds
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr)
            for name in names:
                port = servers.ports[name]
                results[name]["sessions"] += bench_sessions(port, step, args.clients) / args.rounds
                results[name]["retr_small"] += bench_retr_small(port, step) / args.rounds
                results[name]["retr_large"] += bench_retr_large(port, step) / args.rounds
    finally:
        servers.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)

    rows = [("sessions/s (login, STAT, QUIT; %d clients)" % args.clients, "sessions", "%.0f"),
            ("RETR/s, 4 KB messages, one client", "retr_small", "%.0f"),
            ("RETR MB/s, 5 MB message, one client", "retr_large", "%.1f")]
    cols = [n for n in ("suite", "courier", "dovecot") if n in results]
    header = f"{'workload':44}" + "".join(f"{c:>10}" for c in cols)
    if "suite" in results:
        header += "".join(f"{'suite/' + c:>16}" for c in cols if c != "suite")
    print(header)
    for label, key, fmt in rows:
        line = f"{label:44}" + "".join(f"{fmt % results[c][key]:>10}" for c in cols)
        if "suite" in results:
            for c in cols:
                if c != "suite":
                    ratio = results["suite"][key] / results[c][key] if results[c][key] else float("inf")
                    line += f"{ratio:>15.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
