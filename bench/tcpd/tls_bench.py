#!/usr/bin/env python3
"""TLS handshakes per second: our couriertls against Debian's (courier-base,
GnuTLS) on the same machine in one run.

Both run under the same superserver (Debian's couriertcpd, so the accept loop
is identical), serve the same RSA-2048 certificate and the same ffdhe3072 DH
parameters, and run the same trivial child (/bin/true: the service answers
nothing and closes, so each connection is one full handshake, a close_notify
and the process teardown). Clients are Python ssl threads doing full
handshakes (no resumption) for a fixed time; TLS 1.3 and TLS 1.2.

usage: tls_bench.py [--build DIR] [--seconds N] [--clients N]
  --build: the configured build folder holding tls/couriertls (default: ./build)
Debian's couriertls and couriertcpd are unpacked with apt-get download +
dpkg -x into a private folder (courier-base conflicts with nothing here, but
installing it would start daemons).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def unpack_debian(work: Path) -> Path:
    root = work / "debian-root"
    if (root / "usr/bin/couriertls").exists():
        return root
    subprocess.run(["apt-get", "download", "courier-base"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deb = sorted(glob.glob(str(work / "courier-base_*.deb")))[-1]
    subprocess.run(["dpkg", "-x", deb, str(root)], check=True)
    return root


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


def start(couriertcpd: Path, couriertls: Path, pem: Path, dh: Path, log) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "TLS_CERTFILE": str(pem), "TLS_DHPARAMS": str(dh),
           "TLS_VERIFYPEER": "NONE"}
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


def handshakes(port: int, version: ssl.TLSVersion, seconds: float, clients: int) -> tuple[float, int]:
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
    return sum(counts) / elapsed, sum(errors)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    ours = Path(args.build).resolve() / "tls/couriertls"
    if not ours.exists():
        raise SystemExit(f"{ours} is not built")
    work = Path(tempfile.mkdtemp(prefix="tls-bench-"))
    try:
        root = unpack_debian(work)
        pem, dh = make_material(work)
        couriertcpd = root / "usr/sbin/couriertcpd"
        impls = [("ours (OpenSSL 3)", ours), ("Debian courier-base (GnuTLS)", root / "usr/bin/couriertls")]
        results: dict[tuple[str, str], tuple[float, int]] = {}
        with open(work / "servers.log", "wb") as log:
            for label, binary in impls:
                proc, port = start(couriertcpd, binary, pem, dh, log)
                try:
                    for vname, version in (("TLS 1.3", ssl.TLSVersion.TLSv1_3), ("TLS 1.2", ssl.TLSVersion.TLSv1_2)):
                        handshakes(port, version, 1, args.clients)  # warm up
                        results[(label, vname)] = handshakes(port, version, args.seconds, args.clients)
                finally:
                    proc.terminate()
                    proc.wait()
        print(f"TLS handshakes per second through couriertls (couriertcpd + /bin/true child, "
              f"{args.clients} clients, {args.seconds:g} s each, {os.cpu_count()} CPUs)")
        print(f"{'protocol':<9} {'ours':>12} {'Debian':>12} {'ratio':>8}   errors (ours/Debian)")
        for vname in ("TLS 1.3", "TLS 1.2"):
            o, oe = results[(impls[0][0], vname)]
            d, de = results[(impls[1][0], vname)]
            print(f"{vname:<9} {o:>12.1f} {d:>12.1f} {o / d if d else float('inf'):>7.2f}x   {oe}/{de}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
