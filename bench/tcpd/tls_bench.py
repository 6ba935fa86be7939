#!/usr/bin/env python3
"""TLS handshakes per second through couriertls: Debian's Courier (courier-base,
GnuTLS) against ours, on the same machine in one run (issue 16, item 1).

Each server is a superserver on 127.0.0.1 running
    couriertls -server -tcpd /bin/true
per connection: the service answers nothing and closes, so each connection is
one full handshake (no resumption), a close_notify and the process teardown.
All serve the same RSA-2048 certificate and the same ffdhe3072 DH parameters.
Clients: Python ssl threads doing full handshakes for a fixed time, TLS 1.3
and TLS 1.2 (ECDHE, as clients negotiate).

Servers ("impls"):
  courier       Debian's couriertcpd + couriertls (GnuTLS)
  before        --before DIR: that build's couriertcpd + couriertls (e.g. the
                main branch before this change); omitted without --before
  ours          --build DIR: our couriertcpd, which serves "couriertls -server
                -tcpd" in-process (tcpd/tls_inprocess.hpp)
  ours-exec     the same with TCPD_TLS_INPROCESS=0: couriertls exec'd per
                connection, as STARTTLS and other superservers run it

Rounds alternate between the servers (every server, every protocol, then the
next round) and the table shows medians over rounds, so load from other
processes on a shared machine hits all alike.

usage: tls_bench.py [--build DIR] [--before DIR] [--seconds S] [--rounds N]
                    [--clients N] [--json FILE] [--only courier,ours,...]
Prints two tables, one line per protocol: handshakes per second (medians per
server, and each server's ratio to courier: higher is better), then the
server's CPU milliseconds per handshake (the superserver and every process it
reaped, from /proc/PID/stat; courier's divided by each server's, so again
higher is better; this one does not move with other load on the machine).
With --json, writes every round's figures too.
Debian's binaries come from bench/imap/anchors.sh's folder
(/var/tmp/courier-suite-anchors/courier; the script runs anchors.sh when it
is missing: apt-get download + dpkg -x, nothing is installed). Run as root (couriertls drops to the mail user, MAILUSER, default
nobody here).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ANCHORS = Path("/var/tmp/courier-suite-anchors/courier")
VERSIONS = (("TLS 1.3", ssl.TLSVersion.TLSv1_3), ("TLS 1.2", ssl.TLSVersion.TLSv1_2))


def debian_root() -> Path:
    """Debian's courier-base (and the libraries it needs) unpacked, not installed."""
    if not (ANCHORS / "usr/bin/couriertls").exists():
        subprocess.run(["sh", str(Path(__file__).resolve().parent.parent / "imap/anchors.sh")], check=True,
                       stdout=subprocess.DEVNULL)
    return ANCHORS


def make_material(work: Path) -> tuple[Path, Path]:
    key, crt, pem, dh = (work / n for n in ("key.pem", "crt.pem", "server.pem", "dh.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "30", "-subj", "/CN=localhost"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    pem.write_bytes(key.read_bytes() + crt.read_bytes())
    pem.chmod(0o600)
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe3072",
                    "-out", dh], check=True, stdout=subprocess.DEVNULL)
    return pem, dh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mail_user() -> str:
    if os.environ.get("MAILUSER"):
        return os.environ["MAILUSER"]
    try:
        import pwd
        pwd.getpwnam("courier")
        return "courier"
    except KeyError:
        return "nobody"


def start(couriertcpd: Path, couriertls: Path, pem: Path, dh: Path, extra_env: dict, log) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "TLS_CERTFILE": str(pem), "TLS_DHPARAMS": str(dh),
           "TLS_VERIFYPEER": "NONE", "MAILUSER": mail_user(), **extra_env}
    proc = subprocess.Popen([str(couriertcpd), "-nodnslookup", "-noidentlookup", "-maxprocs=400",
                             "-maxperip=400", "-address=127.0.0.1", str(port), str(couriertls), "-server",
                             "-tcpd", "/bin/true"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{couriertcpd} did not start")


def server_cpu_s(pid: int) -> float:
    """CPU seconds of the superserver and of every process it has reaped
    (couriertls, or its in-process fork, and what they reaped in turn)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def handshakes(port: int, version: ssl.TLSVersion, seconds: float, clients: int) -> tuple[float, int, int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                    with ctx.wrap_socket(raw) as s:
                        if s.version() != ("TLSv1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLSv1.2"):
                            raise ssl.SSLError("wrong version")
                        while s.recv(4096):
                            pass
                counts[i] += 1
            except (OSError, ssl.SSLError):
                errors[i] += 1

    start_t = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start_t
    return sum(counts) / elapsed, sum(errors), sum(counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="our configured build folder (default ./build)")
    ap.add_argument("--before", help="another build folder to compare, e.g. the main branch's")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per measurement (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown (default 3)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    ap.add_argument("--only", help="comma-separated subset of courier,before,ours,ours-exec")
    ap.add_argument("--json", help="write every round's figures to this file")
    args = ap.parse_args()

    def built(folder: str) -> tuple[Path, Path]:
        b = Path(folder).resolve()
        tls, tcpd = b / "tls/couriertls", b / "tcpd/couriertcpd"
        for p in (tls, tcpd):
            if not p.exists():
                raise SystemExit(f"{p} is not built: run make in {b}")
        return tcpd, tls

    work = Path(tempfile.mkdtemp(prefix="tls-bench-"))
    os.chmod(work, 0o755)
    servers = []
    try:
        root = debian_root()
        pem, dh = make_material(work)
        ours_tcpd, ours_tls = built(args.build)
        lib = root / "usr/lib"
        impls = [("courier", root / "usr/sbin/couriertcpd", root / "usr/bin/couriertls",
                  {"LD_LIBRARY_PATH": f"{lib}:{lib}/x86_64-linux-gnu"})]
        if args.before:
            before_tcpd, before_tls = built(args.before)
            impls.append(("before", before_tcpd, before_tls, {"TCPD_TLS_INPROCESS": "0"}))
        impls.append(("ours", ours_tcpd, ours_tls, {}))
        impls.append(("ours-exec", ours_tcpd, ours_tls, {"TCPD_TLS_INPROCESS": "0"}))
        if args.only:
            keep = set(args.only.split(","))
            impls = [i for i in impls if i[0] in keep]
        runs: dict[str, dict[str, list[float]]] = {i[0]: {v: [] for v, _ in VERSIONS} for i in impls}
        cpu_ms: dict[str, dict[str, list[float]]] = {i[0]: {v: [] for v, _ in VERSIONS} for i in impls}
        errors: dict[str, int] = {i[0]: 0 for i in impls}
        with open(work / "servers.log", "wb") as log:
            ports, pids = {}, {}
            for label, tcpd, tls, extra in impls:
                proc, port = start(tcpd, tls, pem, dh, extra, log)
                servers.append(proc)
                ports[label], pids[label] = port, proc.pid
            for label, *_ in impls:  # warm up: page cache, the first fork
                for _, version in VERSIONS:
                    handshakes(ports[label], version, 0.5, args.clients)
            for _ in range(args.rounds):
                for label, *_ in impls:
                    for vname, version in VERSIONS:
                        cpu0 = server_cpu_s(pids[label])
                        rate, errs, count = handshakes(ports[label], version, args.seconds, args.clients)
                        time.sleep(0.3)  # the last connections' processes end and are reaped
                        cpu = server_cpu_s(pids[label]) - cpu0
                        runs[label][vname].append(rate)
                        cpu_ms[label][vname].append(1000 * cpu / count if count else float("nan"))
                        errors[label] += errs
        med = {label: {v: statistics.median(r) for v, r in per.items()} for label, per in runs.items()}
        print(f"TLS handshakes per second through couriertls (couriertcpd + /bin/true child, {args.clients} "
              f"clients, {args.rounds} interleaved rounds of {args.seconds:g} s, medians, {os.cpu_count()} CPUs)")
        labels = [i[0] for i in impls]
        head = f"{'protocol':<9}" + "".join(f"{label:>11}" for label in labels)
        ratios = [label for label in labels if label != "courier" and "courier" in med]
        head += "".join(f"{label + '/courier':>18}" for label in ratios)
        print(head)
        for vname, _ in VERSIONS:
            line = f"{vname:<9}" + "".join(f"{med[label][vname]:>11.1f}" for label in labels)
            for label in ratios:
                c = med["courier"][vname]
                line += f"{(med[label][vname] / c if c else float('inf')):>17.2f}x"
            print(line)
        cpu_med = {label: {v: statistics.median(r) for v, r in per.items()} for label, per in cpu_ms.items()}
        print("server CPU ms per handshake (superserver + everything it ran; lower is better; "
              "robust to other load):")
        print(f"{'protocol':<9}" + "".join(f"{label:>11}" for label in labels) +
              "".join(f"{'courier/' + label:>18}" for label in ratios))
        for vname, _ in VERSIONS:
            line = f"{vname:<9}" + "".join(f"{cpu_med[label][vname]:>11.2f}" for label in labels)
            for label in ratios:
                line += f"{cpu_med['courier'][vname] / cpu_med[label][vname]:>17.2f}x"
            print(line)
        print("failed handshakes: " + ", ".join(f"{label} {errors[label]}" for label in labels))
        if args.json:
            Path(args.json).write_text(json.dumps({
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "openssl": ssl.OPENSSL_VERSION},
                "settings": vars(args), "rounds": runs, "medians": med, "errors": errors,
                "server_cpu_ms_per_handshake": cpu_ms, "server_cpu_ms_medians": cpu_med}, indent=2))
        return 0
    finally:
        for proc in servers:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
