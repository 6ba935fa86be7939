#!/usr/bin/python3
"""bench/tcpd: connections per second through our couriertcpd and Debian's.

Runs, in one run and on one machine, both couriertcpd programs with the same
options (-nodnslookup -noidentlookup, -maxprocs/-maxperip raised for loopback
load) and measures:

  conn/s   clients (processes, each looping connect -> read to EOF -> close)
           against a trivial child, /bin/echo, which writes one line and exits;
           every reply is checked. The daemon's own CPU time per connection
           (utime+stime from /proc, children excluded) is reported too: other
           load on the machine disturbs it much less than the rate.
  RSS      the daemon's resident memory (VmRSS of couriertcpd itself, not its
           children) idle, and with 500 connections open to a child that
           waits (/bin/cat; each connection is checked to be served by an echo);
           also its Private_Dirty (smaps_rollup): RSS without the pages of
           shared libraries and program text, the memory each instance really costs.

Runs alternate between ours and Courier's and repeat; the table shows medians
and ratios (for conn/s, ours/Courier above 1 means ours is faster; for CPU and
RSS, below 1 means ours uses less).

Debian's couriertcpd comes from the package courier-base. If it is not
installed (/usr/sbin/couriertcpd), the script unpacks it privately with
`apt-get download courier-base libidn12` and `dpkg -x` into --courier-root
(default /tmp/suite-bench-courier), so nothing is installed on the machine.

    bench/tcpd/conn_bench.py --build build
    bench/tcpd/conn_bench.py --build build --duration-s 5 --repeat 3 --clients 4

With --lookups (ours only: Courier's couriertcpd has no -nameserver), the
daemon does its reverse DNS lookups (-noidentlookup still) against a local
nameserver in this script that answers NXDOMAIN at once: the cost of the
lookup path itself, which since issue 14 runs in a per-connection helper
process (one fork more per connection):

    bench/tcpd/conn_bench.py --build build --no-courier --lookups

Writes the raw results as JSON to bench/tcpd/results/conn-<UTC time>.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NxdomainServer:
    """A UDP nameserver on loopback that answers every query NXDOMAIN."""

    def __init__(self) -> None:
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(packet) < 12:
                continue
            pos = 12
            while pos < len(packet) and packet[pos]:
                pos += packet[pos] + 1
            question = packet[12:pos + 5]
            # id, QR|RD|RA + NXDOMAIN, one question, no answers.
            reply = packet[:2] + b"\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" + question
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass


def find_courier(root: Path) -> tuple[str, dict]:
    """Debian's couriertcpd and the environment it needs (LD_LIBRARY_PATH for a private unpack)."""
    if Path("/usr/sbin/couriertcpd").exists():
        return "/usr/sbin/couriertcpd", {}
    binary = root / "usr/sbin/couriertcpd"
    if not binary.exists():
        root.mkdir(parents=True, exist_ok=True)
        debs = root / "debs"
        debs.mkdir(exist_ok=True)
        subprocess.run(["apt-get", "download", "courier-base", "libidn12"], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL)
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    env = {"LD_LIBRARY_PATH": f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu"}
    return str(binary), env


def version_of(deb_name: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", deb_name], capture_output=True, text=True)
    if r.returncode == 0 and r.stdout:
        return r.stdout
    r = subprocess.run(["apt-cache", "policy", deb_name], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "Candidate:" in line:
            return line.split(":", 1)[1].strip() + " (unpacked)"
    return "unknown"


class Daemon:
    def __init__(self, name: str, binary: str, extra_env: dict, child: list[str], maxprocs: int,
                 nameserver: str | None = None) -> None:
        self.name = name
        self.port = free_port()
        env = dict(os.environ, **extra_env)
        dns = [f"-nameserver={nameserver}", "-dnstimeout=10"] if nameserver else ["-nodnslookup"]
        argv = [binary, *dns, "-noidentlookup", f"-maxprocs={maxprocs}", f"-maxperip={maxprocs}",
                f"-maxperc={maxprocs}", f"127.0.0.1.{self.port}", *child]
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name}: {binary} exited with {self.proc.returncode} at start")
            try:
                # A connection that is served proves it is up (the child's output is read and checked).
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    if child[0] == "/bin/cat":
                        s.sendall(b"x")
                        if s.recv(1) == b"x":
                            break
                    elif s.recv(100):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: not listening after 30 s")
            time.sleep(0.05)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (not children)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def private_dirty_kb(self) -> int:
        """Memory that is this process's alone (heap, stack, written data): RSS without shared library pages."""
        for line in Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _client(port: int, stop_at: float, result) -> None:
    ok = errors = 0
    while time.monotonic() < stop_at:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                data = b""
                while True:
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    data += chunk
            if data == b"ok\n":
                ok += 1
            else:
                errors += 1
        except OSError:
            errors += 1
    result.put((ok, errors))


def rate_run(daemon: Daemon, clients: int, duration_s: float, warmup_s: float) -> dict:
    queue = multiprocessing.Queue()
    # Warm-up, then the measured run.
    for phase, length in (("warmup", warmup_s), ("run", duration_s)):
        cpu0 = daemon.cpu_s()
        start = time.monotonic()
        stop_at = start + length
        procs = [multiprocessing.Process(target=_client, args=(daemon.port, stop_at, queue)) for _ in range(clients)]
        for p in procs:
            p.start()
        totals = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - start
        cpu = daemon.cpu_s() - cpu0
    ok = sum(t[0] for t in totals)
    errors = sum(t[1] for t in totals)
    return {"connections": ok, "errors": errors, "elapsed_s": elapsed, "rate": ok / elapsed,
            "daemon_cpu_us_per_conn": (cpu / ok * 1e6) if ok else None,
            "loadavg": os.getloadavg()}


def rss_run(daemon: Daemon, connections: int) -> dict:
    idle = daemon.rss_kb()
    idle_private = daemon.private_dirty_kb()
    socks = []
    try:
        for _ in range(connections):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
            socks.append(s)
        for s in socks:  # every connection is served by its own waiting child
            s.sendall(b"x")
        for s in socks:
            if s.recv(1) != b"x":
                raise RuntimeError(f"{daemon.name}: a connection was not served")
        busy = daemon.rss_kb()
        busy_private = daemon.private_dirty_kb()
    finally:
        for s in socks:
            s.close()
    return {"idle_rss_kb": idle, "rss_kb_with_open": busy, "idle_private_dirty_kb": idle_private,
            "private_dirty_kb_with_open": busy_private, "open_connections": connections}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(SRC / "build"), help="our build folder (with tcpd/couriertcpd)")
    ap.add_argument("--courier-root", default="/tmp/suite-bench-courier",
                    help="where to unpack Debian's courier-base when it is not installed")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--duration-s", type=float, default=5)
    ap.add_argument("--warmup-s", type=float, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--open", type=int, default=500, help="connections held open for the RSS measurement")
    ap.add_argument("--no-courier", action="store_true", help="measure ours only")
    ap.add_argument("--lookups", action="store_true",
                    help="reverse DNS lookups against a local NXDOMAIN nameserver (needs --no-courier)")
    args = ap.parse_args()
    if args.lookups and not args.no_courier:
        print("--lookups needs --no-courier (Courier's couriertcpd has no -nameserver)", file=sys.stderr)
        return 1
    nameserver = NxdomainServer().address if args.lookups else None

    ours_bin = str(Path(args.build) / "tcpd" / "couriertcpd")
    if not Path(ours_bin).exists():
        print(f"{ours_bin} is not built: make tcpd/couriertcpd in {args.build}", file=sys.stderr)
        return 1
    impls = [("ours", ours_bin, {})]
    if not args.no_courier:
        binary, env = find_courier(Path(args.courier_root))
        impls.append(("courier", binary, env))

    results: dict = {"settings": vars(args), "machine": {"platform": platform.platform(),
                                                         "cpus": os.cpu_count()},
                     "versions": {"courier-base": version_of("courier-base") if not args.no_courier else None},
                     "rate_runs": [], "rss_runs": []}
    for r in range(args.repeat):
        order = impls if r % 2 == 0 else list(reversed(impls))
        for name, binary, env in order:
            d = Daemon(name, binary, env, ["/bin/echo", "ok"], maxprocs=200, nameserver=nameserver)
            try:
                run = rate_run(d, args.clients, args.duration_s, args.warmup_s)
            finally:
                d.stop()
            run["impl"] = name
            results["rate_runs"].append(run)
            print(f"  {name:8} round {r + 1}: {run['rate']:8.0f} conn/s, "
                  f"{run['daemon_cpu_us_per_conn'] or 0:7.1f} us daemon CPU/conn, {run['errors']} errors",
                  flush=True)
    for r in range(max(1, args.repeat // 2 + 1)):
        order = impls if r % 2 == 0 else list(reversed(impls))
        for name, binary, env in order:
            d = Daemon(name, binary, env, ["/bin/cat"], maxprocs=args.open + 50, nameserver=nameserver)
            try:
                run = rss_run(d, args.open)
            finally:
                d.stop()
            run["impl"] = name
            results["rss_runs"].append(run)
            print(f"  {name:8} RSS: idle {run['idle_rss_kb']} KB, with {args.open} open "
                  f"{run['rss_kb_with_open']} KB", flush=True)

    def med(kind: str, impl: str, key: str):
        vals = [x[key] for x in results[kind] if x["impl"] == impl and x[key] is not None]
        return statistics.median(vals) if vals else None

    rows = [("conn/s (echo child)", "rate_runs", "rate", "{:.0f}"),
            ("daemon CPU us/conn", "rate_runs", "daemon_cpu_us_per_conn", "{:.1f}"),
            ("RSS idle (KB)", "rss_runs", "idle_rss_kb", "{:.0f}"),
            (f"RSS, {args.open} open (KB)", "rss_runs", "rss_kb_with_open", "{:.0f}"),
            ("private dirty idle (KB)", "rss_runs", "idle_private_dirty_kb", "{:.0f}"),
            (f"private dirty, {args.open} open (KB)", "rss_runs", "private_dirty_kb_with_open", "{:.0f}")]
    print()
    print(f"{'measure':32} {'ours':>10} {'courier':>10} {'ours/courier':>13}")
    table = []
    for label, kind, key, fmt in rows:
        o = med(kind, "ours", key)
        c = med(kind, "courier", key) if not args.no_courier else None
        ratio = (o / c) if (o is not None and c) else None
        table.append({"measure": label, "ours": o, "courier": c, "ratio": ratio})
        print(f"{label:32} {fmt.format(o) if o is not None else '-':>10} "
              f"{fmt.format(c) if c is not None else '-':>10} {f'{ratio:.2f}' if ratio else '-':>13}")
    results["table"] = table
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"conn-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nraw results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
