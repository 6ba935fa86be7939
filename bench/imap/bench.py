#!/usr/bin/env python3
"""bench/imap/bench.py: the same IMAP workloads against this suite's imapd,
Debian's courier-imap (5.0.13) and Dovecot (2.3) on this machine, in one run.

Workloads (DESIGN.md, "Tests and measurements"; issue 5 item 5):
  sessions  full sessions per second with C clients: connect, SELECT a
            1000-message INBOX, FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), LOGOUT
  bulk      FETCH 1:* BODY.PEEK[] throughput (MB/s) in one session
  idle      memory per idle session after SELECT: RSS and PSS (proportional
            share, which counts shared libraries fairly) of the server process
  bulk      (--workload bulk) FETCH 1:* BODY.PEEK[] MB/s only, for ours
            (--build), optionally an older build of ours (--before BUILD),
            Courier and Dovecot, in interleaved rounds (--rounds), medians;
            --big-mb N adds one N MB message (the mailbox then is not all
            small messages) to check that large bodies stream
  cache     (--workload cache) the per-mailbox cache's workloads (issue 15
            item 2), servers interleaved per round, medians: sessions/s as
            above; SORT (SUBJECT) and THREAD REFERENCES on a 10,000-message
            INBOX, each in a fresh session, timed from the command to its
            OK; and imaptest's stress mode (--imaptest, 10 clients,
            --stress-seconds, the default command mix) in operations per
            second and errors; with --before, an older build of ours too
  login     (--workload login) IMAP LOGIN+LOGOUT per second with C clients
            through our imaplogin + authdaemond (userdb): connect, greeting,
            LOGIN, LOGOUT; the login path alone (issue 14: the fork and the
            ticket redemption of privilege separation)

Every server gets an identical copy of the same Maildir and runs as the same
unprivileged uid, one process per connection, spawned by the same small
accept loop here (its cost is the same for all three). The post-login
programs are run in PREAUTH mode (ours: imapd with AUTHENTICATED; Courier:
/usr/bin/imapd with AUTHENTICATED; Dovecot: the imap binary with USER), so
the comparison is of the IMAP servers, not of three different password
databases; our full LOGIN path (imaplogin + authdaemond) is measured too.

Courier's and Dovecot's programs come from bench/imap/anchors.sh (apt-get
download + dpkg -x into a private folder: nothing is installed).

  python3 bench/imap/bench.py --build BUILD [--anchors DIR] [--seconds 10]
"""
from __future__ import annotations

import argparse
import grp
import multiprocessing
import os
import pwd
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def mail_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def make_maildir(path: Path, count: int) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n" * 30)
    for i in range(count):
        text = (f"Return-Path: <sender{i % 17}@example.org>\nReceived: from mx.example.org by example.test\n"
                f"Message-ID: <{i}.bench@example.org>\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n"
                f"From: Sender {i % 17} <sender{i % 17}@example.org>\nTo: Bench <bench@example.test>\n"
                f"Cc: list@example.org\nSubject: benchmark message number {i}\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=us-ascii\n\n{body}")
        name = f"{1600000000 + i}.M{i}P1.bench,S={len(text)}:2,{'S' if i % 3 else ''}"
        (path / "cur" / name).write_text(text)


def dovecot_imap_argv(anchors: Path, conf: Path) -> list[str]:
    """The command that runs the unpacked Dovecot's imap with `conf`. imap execs
    /usr/bin/doveconf to read its configuration; without dovecot-core installed,
    the unpacked doveconf starts imap itself (else imap exits at once)."""
    dv = anchors / "dovecot" / "usr"
    if Path("/usr/bin/doveconf").exists():
        return [str(dv / "lib" / "dovecot" / "imap"), "-c", str(conf)]
    return [str(dv / "bin" / "doveconf"), "-c", str(conf), "-m", "imap", "-e", str(dv / "lib" / "dovecot" / "imap")]


class Spawner:
    """Accepts on a loopback port and runs argv per connection on fd 0/1."""

    def __init__(self, argv, env, cwd, uid, gid):
        self.argv, self.env, self.cwd, self.uid, self.gid = argv, env, cwd, uid, gid
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.children: list[subprocess.Popen] = []
        self.stop_flag = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop_flag:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            kw = {}
            if os.geteuid() == 0 and self.uid is not None:
                kw = dict(user=self.uid, group=self.gid, extra_groups=[])
            p = subprocess.Popen(self.argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.DEVNULL,
                                 env=self.env, cwd=self.cwd, close_fds=True, **kw)
            conn.close()
            self.children.append(p)
            if len(self.children) > 64:
                self.children = [c for c in self.children if c.poll() is None]

    def close(self):
        self.stop_flag = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.children:
            if c.poll() is None:
                c.kill()
            c.wait()


def read_until(s: socket.socket, marker: bytes, buf: bytearray) -> int:
    """Reads until marker appears; returns the byte count received."""
    total = 0
    while marker not in buf:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise EOFError(buf[-200:])
        total += len(chunk)
        buf += chunk
        if len(buf) > 4096:
            del buf[:-len(marker) - 64]
    return total


def session(port: int, login: tuple[str, str] | None) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    read_until(s, b"\r\n", buf)
    buf.clear()
    if login:
        s.sendall(f'l LOGIN "{login[0]}" "{login[1]}"\r\n'.encode())
        read_until(s, b"l OK", buf)
        buf.clear()
    s.sendall(b"a SELECT INBOX\r\n")
    read_until(s, b"a OK", buf)
    buf.clear()
    s.sendall(b"b FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)\r\n")
    read_until(s, b"\r\nb OK", buf)
    buf.clear()
    s.sendall(b"c LOGOUT\r\n")
    read_until(s, b"c OK", buf)
    s.close()


def login_logout(port: int, login: tuple[str, str]) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    read_until(s, b"\r\n", buf)
    buf.clear()
    s.sendall(f'l LOGIN "{login[0]}" "{login[1]}"\r\nc LOGOUT\r\n'.encode())
    read_until(s, b"l OK", buf)
    read_until(s, b"c OK", buf)
    s.close()


def _worker(args):
    port, login, seconds, fn = args
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        fn(port, login)
        n += 1
    return n


def sessions_per_second(port, login, clients, seconds, fn=session) -> float:
    fn(port, login)  # warm up (UIDs assigned, caches built)
    with multiprocessing.Pool(clients) as pool:
        t0 = time.monotonic()
        counts = pool.map(_worker, [(port, login, seconds, fn)] * clients)
        elapsed = time.monotonic() - t0
    return sum(counts) / elapsed


def bulk_fetch(port, login) -> float:
    best = 0.0
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port))
        buf = bytearray()
        read_until(s, b"\r\n", buf)
        if login:
            s.sendall(f'l LOGIN "{login[0]}" "{login[1]}"\r\n'.encode())
            read_until(s, b"l OK", buf)
        s.sendall(b"a SELECT INBOX\r\n")
        read_until(s, b"a OK", buf)
        buf.clear()
        t0 = time.monotonic()
        s.sendall(b"b FETCH 1:* BODY.PEEK[]\r\n")
        n = read_until(s, b"\r\nb OK", buf)
        dt = time.monotonic() - t0
        s.sendall(b"c LOGOUT\r\n")
        s.close()
        best = max(best, n / dt / 1e6)
    return best


def memory(port, spawner, login, sessions=20) -> tuple[float, float]:
    socks = []
    for _ in range(sessions):
        s = socket.create_connection(("127.0.0.1", port))
        buf = bytearray()
        read_until(s, b"\r\n", buf)
        if login:
            s.sendall(f'l LOGIN "{login[0]}" "{login[1]}"\r\n'.encode())
            read_until(s, b"l OK", buf)
        s.sendall(b"a SELECT INBOX\r\n")
        read_until(s, b"a OK", buf)
        socks.append(s)
    rss, pss = [], []
    for c in list(spawner.children)[-sessions:]:
        try:
            status = Path(f"/proc/{c.pid}/status").read_text()
            rss.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
            roll = Path(f"/proc/{c.pid}/smaps_rollup").read_text()
            pss.append(int(re.search(r"Pss:\s+(\d+)", roll).group(1)))
        except (OSError, AttributeError):
            pass
    for s in socks:
        s.close()
    return (statistics.mean(rss) if rss else float("nan"), statistics.mean(pss) if pss else float("nan"))


def start_authdaemond(build: Path, work: Path, home: Path, uid: int, gid: int):
    """authdaemond with one userdb account for the LOGIN path; None if not built."""
    tools = build / "authlib"
    if not (tools / "authdaemond").exists():
        return None
    etc = work / "etc"
    etc.mkdir()
    rc = etc / "authdaemonrc"
    # The login child (privilege separation) runs as the mail user: the socket's group is its group.
    group = grp.getgrgid(pwd.getpwnam(os.environ.get("MAILUSER", "nobody")).pw_gid).gr_name
    rc.write_text(f'authmodulelist="authuserdb"\ndaemons=4\nauthdaemonvar={work}/authdaemon\n'
                  f"LOGFILE={work}/authdaemond.log\nUSERDB={etc}/userdb\nauthdaemongroup={group}\n")
    env = dict(os.environ, USERDB=str(etc / "userdb"), AUTHDAEMON_SOCKET=str(work / "authdaemon" / "socket"))
    def run(*argv, inp=None):
        return subprocess.run([str(x) for x in argv], input=inp, env=env, text=True, check=True,
                              stdout=subprocess.PIPE).stdout
    run(tools / "userdb", "bench@example.test", "set", f"home={home}", f"uid={uid}", f"gid={gid}")
    hashed = run(tools / "userdbpw", inp="bench-pw\n").strip()
    run(tools / "userdb", "bench@example.test", "set", f"systempw={hashed}")
    run(tools / "makeuserdb")
    proc = subprocess.Popen([str(tools / "authdaemond"), "-c", str(rc), "foreground"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if (work / "authdaemon" / "socket").exists():
            return proc
        time.sleep(0.05)
    proc.kill()
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--anchors", type=Path, default=Path("/var/tmp/courier-suite-anchors"))
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workload", choices=("sessions", "login", "bulk", "cache"), default="sessions")
    ap.add_argument("--before", type=Path, help="bulk: an older build of ours to compare")
    ap.add_argument("--rounds", type=int, default=7, help="bulk: interleaved rounds")
    ap.add_argument("--big-mb", type=int, default=0, help="bulk: add one message this large")
    ap.add_argument("--sort-messages", type=int, default=10000, help="cache: SORT/THREAD mailbox size")
    ap.add_argument("--imaptest", type=Path, default=Path("/work/imaptest-build/src/imaptest"),
                    help="cache: imaptest binary (its libdovecot from --imaptest-lib)")
    ap.add_argument("--imaptest-lib", type=Path, default=Path("/work/imaptest-build/dc/usr/lib/dovecot"))
    ap.add_argument("--stress-seconds", type=int, default=30, help="cache: imaptest stress run length")
    ap.add_argument("--stress-rounds", type=int, default=3, help="cache: imaptest rounds (0: none)")
    a = ap.parse_args()
    os.environ.setdefault("MAILUSER", "nobody")
    if a.workload == "login":
        return login_only(a)
    if a.workload == "bulk":
        return bulk_only(a)
    if a.workload == "cache":
        return cache_only(a)
    uid, gid = mail_ids()
    work = Path(tempfile.mkdtemp(prefix="imapbench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    template = work / "template"
    make_maildir(template, a.messages)
    spawners, servers = start_servers(a, work, template, {"ours": a.build.resolve()})
    notes = [f"{n}: missing (run bench/imap/anchors.sh)" for n in ("courier", "dovecot") if n not in spawners]
    ours = a.build / "imapd" / "imapd"
    base_env = {"PATH": "/usr/bin:/bin", "TCPREMOTEIP": "127.0.0.1"}

    # Ours with the full login path: imaplogin + authdaemond (userdb).
    authd = start_authdaemond(a.build, work, servers["ours"], uid, gid)
    if authd:
        spawners["ours+LOGIN"] = Spawner([str(a.build / "imapd" / "imaplogin"), str(ours), "Maildir"], dict(
            base_env, AUTHDAEMON_SOCKET=str(work / "authdaemon" / "socket"), IMAP_BAD_LOGIN_DELAY="0"),
            work, None, None)
    results = {}
    for name, sp in spawners.items():
        print(f"[{name}] running...", file=sys.stderr)
        login = ("bench@example.test", "bench-pw") if name == "ours+LOGIN" else None
        sps = sessions_per_second(sp.port, login, a.clients, a.seconds)
        mbs = bulk_fetch(sp.port, login)
        rss, pss = memory(sp.port, sp, login)
        results[name] = (sps, mbs, rss, pss)
    for sp in spawners.values():
        sp.close()
    if authd:
        authd.terminate()
        authd.wait()
    print(f"IMAP benchmark: {a.messages}-message INBOX, {a.clients} clients, {a.seconds:.0f} s per run, "
          f"{os.cpu_count()} CPUs")
    print(f"{'server':10} {'sessions/s':>11} {'BODY[] MB/s':>12} {'RSS KiB':>9} {'PSS KiB':>9}")
    for name, (sps, mbs, rss, pss) in results.items():
        print(f"{name:10} {sps:11.1f} {mbs:12.1f} {rss:9.0f} {pss:9.0f}")
    o = results["ours"]
    for other in ("courier", "dovecot"):
        if other in results:
            r = results[other]
            print(f"ours/{other}: sessions {o[0] / r[0]:.2f}x, bulk FETCH {o[1] / r[1]:.2f}x, "
                  f"RSS {o[2] / r[2]:.2f}x, PSS {o[3] / r[3]:.2f}x (memory: lower is better)")
    for n in notes:
        print("note:", n)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def start_servers(a, work: Path, template: Path, builds: dict[str, Path], suffix: str = "",
                  anchors=("courier", "dovecot"), courier_quiet: bool = False):
    """One Spawner per server: each build of ours (name -> build folder),
    then Courier's and Dovecot's imap from a.anchors when unpacked there,
    each on its own copy of `template` as HOME/Maildir (home folder
    work/NAME+suffix); `anchors` names which of Courier and Dovecot;
    courier_quiet drops Courier's FAM alert line before its greeting. Returns (spawners, homes) by name; a missing anchor
    is left out (with a note on stderr)."""
    uid, gid = mail_ids()
    for d in ("dovecot-run", "dovecot-state"):
        (work / d).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(work / d, uid, gid)
    base_env = {"PATH": "/usr/bin:/bin", "TCPREMOTEIP": "127.0.0.1"}
    spawners, homes = {}, {}
    for name in [*builds, *anchors]:
        home = work / (name + suffix)
        shutil.copytree(template, home / "Maildir")
        if os.geteuid() == 0:
            for p in [home, *home.rglob("*")]:
                os.chown(p, uid, gid)
        homes[name] = home
        if name in builds:
            spawners[name] = Spawner([str(builds[name] / "imapd" / "imapd"), "Maildir"],
                                     dict(base_env, AUTHENTICATED="bench", HOME=str(home)), home, uid, gid)
        elif name == "courier" and (a.anchors / "courier" / "usr" / "bin" / "imapd").exists():
            lib = a.anchors / "courier" / "usr" / "lib"
            argv = [str(a.anchors / "courier" / "usr" / "bin" / "imapd"), "Maildir"]
            if courier_quiet:
                # Courier greets with "* OK [ALERT] Filesystem notification initialization
                # error" (FAM is not there) before "* PREAUTH", and imaptest takes the first
                # line for the greeting, then tries LOGIN: the line is filtered out.
                argv = ["/bin/sh", "-c", 'exec "$0" "$@" | exec sed -u "/^\\* OK \\[ALERT\\] Filesystem/d"', *argv]
            spawners[name] = Spawner(argv, dict(
                base_env, AUTHENTICATED="bench", HOME=str(home), MAILDIR=str(home / "Maildir"),
                LD_LIBRARY_PATH=f"{lib}:{lib}/x86_64-linux-gnu", IMAP_KEYWORDS="1",
                # Debian's /etc/courier/imapd defaults (its start script sets them): SORT and
                # THREAD announced, no FAM (without it, an ALERT precedes the PREAUTH greeting).
                IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES "
                                "SORT QUOTA IDLE", IMAP_ENHANCEDIDLE="0"), home, uid, gid)
        elif name == "dovecot" and (a.anchors / "dovecot" / "usr" / "lib" / "dovecot" / "imap").exists():
            conf = work / "dovecot.conf"
            conf.write_text(f"protocols = imap\nmail_location = maildir:~/Maildir\nssl = no\n"
                            f"log_path = {work}/dovecot.log\nbase_dir = {work}/dovecot-run\n"
                            f"state_dir = {work}/dovecot-state\nfirst_valid_uid = 1\n")
            argv = dovecot_imap_argv(a.anchors, conf)
            spawners[name] = Spawner(argv, dict(base_env, USER="bench", HOME=str(home), LD_LIBRARY_PATH=str(
                                          a.anchors / "dovecot" / "usr" / "lib" / "dovecot")), home, uid, gid)
        else:
            print(f"note: {name} missing (run bench/imap/anchors.sh)", file=sys.stderr)
    return spawners, homes


def bulk_once(port) -> float:
    """One FETCH 1:* BODY.PEEK[] of the whole INBOX in a fresh session: MB/s."""
    dt, n = timed_command(port, b"FETCH 1:* BODY.PEEK[]")
    return n / dt / 1e6


def bulk_only(a) -> int:
    """--workload bulk: FETCH 1:* BODY.PEEK[] MB/s, servers interleaved per round, medians."""
    uid, gid = mail_ids()
    work = Path(tempfile.mkdtemp(prefix="imapbench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    template = work / "template"
    make_maildir(template, a.messages)
    if a.big_mb:
        line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ=-+/.\n"
        text = ("From: big@example.org\nTo: bench@example.test\nSubject: big\n\n" +
                line * (a.big_mb * 1000000 // len(line)))
        (template / "cur" / f"1700000000.Mbig.bench,S={len(text)}:2,S").write_text(text)
    builds = {"ours": a.build.resolve()}
    if a.before:
        builds["ours-before"] = a.before.resolve()
    spawners, _ = start_servers(a, work, template, builds)
    rates: dict[str, list[float]] = {n: [] for n in spawners}
    loads = []
    try:
        for sp in spawners.values():
            print(f"[{sp.argv[0]}] warm-up", file=sys.stderr)
            bulk_once(sp.port)  # warm up: UIDs assigned, indexes built, files in the page cache
        for r in range(a.rounds):
            loads.append(os.getloadavg()[0])
            order = list(spawners.items())
            order = order[r % len(order):] + order[:r % len(order)]
            for name, sp in order:
                rates[name].append(bulk_once(sp.port))
    finally:
        for sp in spawners.values():
            sp.close()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    size = "" if not a.big_mb else f" + one {a.big_mb} MB message"
    print(f"bulk FETCH 1:* BODY.PEEK[]: {a.messages}-message INBOX{size}, {a.rounds} interleaved rounds, "
          f"{os.cpu_count()} CPUs, load {statistics.median(loads):.1f} (median at round start)")
    print(f"{'server':12} {'median MB/s':>12} {'min':>8} {'max':>8} {'/dovecot':>9}")
    dov = statistics.median(rates["dovecot"]) if rates.get("dovecot") else None
    for name, v in rates.items():
        med = statistics.median(v)
        ratio = f"{med / dov:9.2f}" if dov else f"{'-':>9}"
        print(f"{name:12} {med:12.1f} {min(v):8.1f} {max(v):8.1f} {ratio}")
    return 0


def make_mbox(path: Path, count: int) -> None:
    """An mbox (CRLF, as imaptest's dovecot-crlf) for imaptest's APPENDs:
    plain and multipart messages in reply chains, for its SORT/THREAD/FETCH."""
    out = []
    for i in range(count):
        refs = f"In-Reply-To: <{i - 1}.stress@example.org>\nReferences: <{i - 1}.stress@example.org>\n" if i % 4 else ""
        head = (f"From: Sender {i % 13} <s{i % 13}@example.org>\nTo: list@example.test\n"
                f"Subject: {'Re: ' if i % 4 else ''}topic {i // 4}\nMessage-ID: <{i}.stress@example.org>\n{refs}"
                f"Date: Tue, {1 + i % 28} Mar 2022 {i % 24:02d}:{i % 60:02d}:00 +0000\n")
        if i % 3 == 0:
            body = ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\n"
                    "Content-Type: text/plain\n\nhello\n--x\nContent-Type: application/pdf\n"
                    "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--x--\n")
        else:
            body = "\n" + "line of text for the stress test\n" * (5 + i % 40)
        out.append(f"From s{i % 13}@example.org Tue Mar  1 00:00:00 2022\n" + head + body + "\n")
    path.write_bytes("".join(out).replace("\n", "\r\n").encode())


def timed_command(port: int, command: bytes) -> tuple[float, int]:
    """Seconds from sending `command` in a fresh session (after SELECT) to its
    OK, and the bytes received meanwhile."""
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    read_until(s, b"\r\n", buf)
    s.sendall(b"a SELECT INBOX\r\n")
    read_until(s, b"a OK", buf)
    buf.clear()
    t0 = time.monotonic()
    s.sendall(b"b " + command + b"\r\n")
    n = read_until(s, b"\r\nb OK", buf)
    dt = time.monotonic() - t0
    s.sendall(b"c LOGOUT\r\n")
    s.close()
    return dt, n


def imaptest_stress(a, port: int, mbox: Path, log: Path) -> tuple[float, int]:
    """imaptest's stress mode (default command mix), 10 clients: operations per
    second (its Totals over the run) and the number of its Error: lines."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(a.imaptest_lib))
    p = subprocess.run([str(a.imaptest), "host=127.0.0.1", f"port={port}", "user=bench", "pass=bench",
                        f"mbox={mbox}", "clients=10", f"secs={a.stress_seconds}", "box=INBOX"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=a.stress_seconds + 120)
    log.write_text(p.stdout)
    lines = p.stdout.splitlines()
    errors = sum(1 for l in lines if l.startswith("Error:"))
    total = 0
    if "Totals:" in lines:
        # After "Totals:": the state names, their probabilities, then the counts.
        for l in lines[lines.index("Totals:") + 1:]:
            if l.split() and all(x.isdigit() for x in l.split()):
                total = sum(int(x) for x in l.split())
                break
    return total / a.stress_seconds, errors


def cache_only(a) -> int:
    """--workload cache: sessions/s, SORT and THREAD on 10,000 messages and
    imaptest stress; servers interleaved per round; medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="imapbench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    template, big, empty = work / "template", work / "template-10k", work / "template-empty"
    make_maildir(template, a.messages)
    make_maildir(big, a.sort_messages)
    make_maildir(empty, 0)
    mbox = work / "stress.mbox"
    make_mbox(mbox, 400)
    os.chmod(mbox, 0o644)
    builds = {"ours": a.build.resolve()}
    if a.before:
        builds["ours-before"] = a.before.resolve()
    sessions_sp, _ = start_servers(a, work, template, builds)
    sort_sp, _ = start_servers(a, work, big, builds, "-10k")
    have_imaptest = a.stress_rounds > 0 and a.imaptest.exists()
    names = list(sessions_sp)
    sort_cmd, thread_cmd = b"SORT (SUBJECT) UTF-8 ALL", b"THREAD REFERENCES UTF-8 ALL"
    res: dict[str, dict[str, list[float]]] = {n: {"sessions": [], "sort": [], "thread": [], "stress": [],
                                                   "errors": []} for n in names}
    loads = []
    try:
        for n in names:  # warm-up: UIDs, caches and indexes built, files in the page cache
            print(f"[{n}] warm-up", file=sys.stderr)
            session(sessions_sp[n].port, None)
            session(sessions_sp[n].port, None)
            timed_command(sort_sp[n].port, sort_cmd)
            timed_command(sort_sp[n].port, thread_cmd)
        for r in range(a.rounds):
            loads.append(os.getloadavg()[0])
            order = names[r % len(names):] + names[:r % len(names)]
            print(f"round {r + 1}/{a.rounds}: {' '.join(order)}", file=sys.stderr)
            for n in order:
                with multiprocessing.Pool(a.clients) as pool:
                    t0 = time.monotonic()
                    counts = pool.map(_worker, [(sessions_sp[n].port, None, a.seconds, session)] * a.clients)
                    res[n]["sessions"].append(sum(counts) / (time.monotonic() - t0))
                res[n]["sort"].append(timed_command(sort_sp[n].port, sort_cmd)[0] * 1000)
                res[n]["thread"].append(timed_command(sort_sp[n].port, thread_cmd)[0] * 1000)
        if have_imaptest:
            for r in range(a.stress_rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for n in order:
                    # A fresh, empty INBOX each run: imaptest fills it by APPEND.
                    sp, _ = start_servers(a, work, empty, {n: builds[n]} if n in builds else {}, f"-stress{r}",
                                          () if n in builds else (n,), courier_quiet=True)
                    try:
                        ops, errors = imaptest_stress(a, sp[n].port, mbox, work / f"imaptest-{n}-{r}.log")
                    finally:
                        for x in sp.values():
                            x.close()
                    res[n]["stress"].append(ops)
                    res[n]["errors"].append(errors)
                    print(f"  stress {n}: {ops:.0f} ops/s, {errors} errors", file=sys.stderr)
        elif a.stress_rounds > 0:
            print(f"note: {a.imaptest} missing: no stress runs", file=sys.stderr)
    finally:
        for sp in [*sessions_sp.values(), *sort_sp.values()]:
            sp.close()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)
    med = {n: {k: (statistics.median(v) if v else float("nan")) for k, v in d.items()} for n, d in res.items()}
    # --rounds 0: the imaptest stress runs alone (load taken now).
    load = statistics.median(loads) if loads else os.getloadavg()[0]
    print(f"cache workloads: {a.rounds} interleaved rounds ({a.stress_rounds} for imaptest), {os.cpu_count()} CPUs, "
          f"load {load:.1f} (median at round start)")
    print(f"  sessions/s: {a.clients} clients x {a.seconds:.0f} s: SELECT {a.messages}-message INBOX, "
          f"FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), LOGOUT")
    print(f"  SORT/THREAD: {a.sort_messages}-message INBOX, ms for the command in a fresh session")
    print(f"  stress: imaptest clients=10 secs={a.stress_seconds}, default mix, operations/s and Error: lines")
    print(f"{'server':12} {'sessions/s':>10} {'SORT ms':>8} {'THREAD ms':>9} {'stress ops/s':>12} {'errors':>7}")
    for n in names:
        m = med[n]
        errs = "-" if not res[n]["errors"] else str(int(sum(res[n]["errors"])))
        print(f"{n:12} {m['sessions']:10.1f} {m['sort']:8.1f} {m['thread']:9.1f} {m['stress']:12.1f} {errs:>7}")
    for n in [x for x in names if x.startswith("ours")]:
        for other in ("dovecot", "courier"):
            if other in med:
                o, d = med[n], med[other]
                print(f"{n}/{other}: sessions {o['sessions'] / d['sessions']:.2f}x, SORT {d['sort'] / o['sort']:.2f}x, "
                      f"THREAD {d['thread'] / o['thread']:.2f}x, stress {o['stress'] / d['stress']:.2f}x "
                      f"(speed ratios: higher is better)")
    return 0


def login_only(a) -> int:
    """--workload login: LOGIN+LOGOUT per second through imaplogin + authdaemond."""
    uid, gid = mail_ids()
    work = Path(tempfile.mkdtemp(prefix="imapbench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    home = work / "ours"
    make_maildir(home / "Maildir", 10)
    if os.geteuid() == 0:
        for p in [home, *home.rglob("*")]:
            os.chown(p, uid, gid)
    authd = start_authdaemond(a.build, work, home, uid, gid)
    if not authd:
        print("authdaemond did not start", file=sys.stderr)
        return 1
    sp = Spawner([str(a.build / "imapd" / "imaplogin"), str(a.build / "imapd" / "imapd"), "Maildir"], {
        "PATH": "/usr/bin:/bin", "TCPREMOTEIP": "127.0.0.1", "MAILUSER": os.environ["MAILUSER"],
        "AUTHDAEMON_SOCKET": str(work / "authdaemon" / "socket"), "IMAP_BAD_LOGIN_DELAY": "0"}, work, None, None)
    try:
        rate = sessions_per_second(sp.port, ("bench@example.test", "bench-pw"), a.clients, a.seconds, login_logout)
    finally:
        sp.close()
        authd.terminate()
        authd.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"login {a.build}: {rate:.1f} LOGIN+LOGOUT/s, {a.clients} clients, {a.seconds:.0f} s, "
          f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
