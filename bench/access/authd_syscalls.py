#!/usr/bin/python3
"""bench/access/authd_syscalls.py: what one authpgsql PRE costs our authdaemond's
workers, and before/after for two builds.

    sudo bench/access/authd_syscalls.py --build build [--before OTHER_BUILD] [--rounds 4]

Sets up bench/auth/auth_bench.py's PostgreSQL (Unix socket), 100 accounts and
our authdaemond (authmodulelist=authpgsql, daemons=4) for each build, then:
  1. strace -c -f on the workers during 3 s of PRE load (4 clients): system
     calls per lookup (total calls / accept4 calls) and the table;
  2. --rounds interleaved 4 s runs without strace: rate, the workers' CPU per
     lookup and PostgreSQL's, with the load average.
Absolute rates move with the machine's load; CPU and system calls per lookup
much less, which is why they are printed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "bench" / "auth"))
sys.path.insert(0, str(SRC / "tests" / "integration"))
import auth_bench  # noqa: E402
import backends  # noqa: E402


def workers(daemon) -> list[str]:
    out = subprocess.run(["pgrep", "-P", str(daemon.proc.pid)], capture_output=True, text=True).stdout
    return out.split()


def syscalls(load, daemon, accounts_file, pg, work: Path, name: str) -> None:
    out = work / f"strace-{name}.txt"
    st = subprocess.Popen(["strace", "-c", "-f", "-o", str(out)] +
                          [a for pid in workers(daemon) for a in ("-p", pid)], stderr=subprocess.DEVNULL)
    time.sleep(1)
    auth_bench.run_load(load, daemon, accounts_file, "pre", 4, 0.2, 3.0, pg.pid)
    st.send_signal(signal.SIGINT)
    st.wait()
    table = out.read_text()
    counts = {}
    for line in table.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    total = sum(counts.values())
    lookups = max(counts.get("accept4", 0), 1)
    print(f"{name}: {total / lookups:.2f} system calls per lookup ({total} calls, {lookups} lookups under strace)")
    print(table)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=SRC / "build")
    ap.add_argument("--before", type=Path, help="another build folder to compare with")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    builds = {"after" if args.before else "this": args.build.resolve()}
    if args.before:
        builds = {"before": args.before.resolve(), **builds}
    work = backends.make_public_dir("authd-syscalls")
    daemons = {}
    pg = None
    results: dict[str, list[dict]] = {k: [] for k in builds}
    try:
        load = auth_bench.build_load_generator(work)
        (work / "home").mkdir()
        os.chmod(work / "home", 0o755)
        accounts = auth_bench.make_accounts(100, work / "home")
        accounts_file = work / "accounts"
        auth_bench.write_accounts_file(accounts, accounts_file)
        pg = backends.PostgresServer(work / "pg", work / "postgres.log", accounts, tcp=False).setup()
        rc = pg.authpgsqlrc(PGSQL_CLEAR_PWFIELD=None)
        for name, build in builds.items():
            daemons[name] = auth_bench.our_daemon(build, work / name, "pgsql", 4, accounts, rc).start()
            auth_bench.run_load(load, daemons[name], accounts_file, "pre", 4, 0.5, 1.0, pg.pid)  # connect, prepare
        for name in builds:
            syscalls(load, daemons[name], accounts_file, pg, work, name)
        for i in range(args.rounds):
            order = list(builds) if i % 2 == 0 else list(builds)[::-1]
            for name in order:
                r = auth_bench.run_load(load, daemons[name], accounts_file, "pre", 4, 1.0, 4.0, pg.pid)
                results[name].append(r)
                print(f"{name:<6} {r['rate_per_s']:>9,.0f}/s  workers {r['daemon_cpu_us_per_request']:5.1f} µs/lookup  "
                      f"PostgreSQL {r['postgres_cpu_us_per_request']:5.1f} µs/lookup  load {r['loadavg_1m']:.1f}",
                      flush=True)
    finally:
        for d in daemons.values():
            d.stop()
        if pg:
            pg.close()
        shutil.rmtree(work, ignore_errors=True)
    for name, rs in results.items():
        if rs:
            print(f"{name}: median {statistics.median(r['rate_per_s'] for r in rs):,.0f}/s, workers "
                  f"{statistics.median(r['daemon_cpu_us_per_request'] for r in rs):.1f} µs/lookup, PostgreSQL "
                  f"{statistics.median(r['postgres_cpu_us_per_request'] for r in rs):.1f} µs/lookup")
    return 0


if __name__ == "__main__":
    sys.exit(main())
