#!/usr/bin/python3
"""bench/auth: authentications per second through our authdaemond and Courier's.

Starts, in one run and on one machine:
  ours-userdb     our authdaemond, authmodulelist="authuserdb"
  ours-pgsql      our authdaemond, authmodulelist="authpgsql"
  courier-userdb  Debian's courier-authdaemon with courier-authlib-userdb
  courier-pgsql   Debian's courier-authdaemon with courier-authlib-postgresql
all with the same daemons=N, the same accounts (SHA-512 crypt "$6$", 5000
rounds, the same hash strings in both userdbs and in the one PostgreSQL table)
and drives each with auth_load (a C++ client, compiled here) for the same
duration: AUTH login with the right password, with a wrong one, and PRE, at
several client concurrencies. Runs alternate between ours and Courier's and
repeat; the table shows medians and the ratio ours/Courier (> 1: ours is
faster), plus the daemons' CPU time per request, which other load on the
machine disturbs much less than the rate.

Courier's authdaemond has its configuration (/etc/courier/authdaemonrc,
userdb.dat, authpgsqlrc) and socket (/run/courier/authdaemon/socket) compiled
in, so each Courier daemon runs in a private mount namespace (unshare -m, so
root is needed) where a folder of this run is bind-mounted over /etc/courier
and another over /run/courier/authdaemon: nothing on the machine is changed,
and the socket is reachable from outside at the second folder. Its userdb is
built with Courier's own userdb and makeuserdb (userdbpw cannot make "$6$"
hashes: it offers DES and MD5 crypt only, so the hashes come from libcrypt,
which is also what Courier verifies them with).

    sudo bench/auth/auth_bench.py --build build            # everything
    bench/auth/auth_bench.py --build build --no-courier    # ours only

Writes the raw results as JSON to bench/auth/results/auth-<UTC time>.json.
Needs: g++, python3-pytest (tests/integration/backends.py imports it),
postgresql-15, and for Courier's side courier-authdaemon,
courier-authlib-userdb, courier-authlib-postgresql and root.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1]
sys.path.insert(0, str(SRC / "tests" / "integration"))
import backends  # noqa: E402  (PostgreSQL fixture, crypt(3), socket waits)

COURIER_AUTHDAEMOND = Path("/usr/lib/courier/courier-authlib/authdaemond")
COURIER_USERDB = Path("/usr/sbin/userdb")
COURIER_MAKEUSERDB = Path("/usr/sbin/makeuserdb")
COURIER_ETC = Path("/etc/courier")
COURIER_RUN = Path("/run/courier/authdaemon")
COURIER_PACKAGES = ("courier-authdaemon", "courier-authlib-userdb", "courier-authlib-postgresql")

DOMAIN = "bench.test"
UID_BASE = 20000
GID = 20000


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------
# Accounts


def make_accounts(count: int, home_root: Path) -> list[backends.Account]:
    """count accounts user000@bench.test..., each with a SHA-512-crypt hash
    whose salt derives from the login, so every run stores the same strings."""
    accounts = []
    for i in range(count):
        login = f"user{i:03d}"
        password = f"Bench pass {i:03d}!"
        salt = hashlib.sha256(login.encode()).hexdigest()[:16]
        stored = backends.crypt_hash(password, f"$6${salt}$")
        home = home_root / login
        accounts.append(backends.Account(
            login=login, domain=DOMAIN, password=password, name=f"Bench User {i}",
            uid_number=UID_BASE + i, gid_number=GID, home=home, maildir="", quota="",
            options="", default_delivery="", ldap_password="{CRYPT}" + stored,
            ldap_clear_password="", sql_crypt=stored, sql_clear=""))
    for a in accounts:
        (a.home / "Maildir").mkdir(parents=True, exist_ok=True)
    return accounts


def write_accounts_file(accounts: list[backends.Account], path: Path) -> None:
    path.write_text("".join(f"{a.address}\t{a.password}\t{a.home}\n" for a in accounts))


def userdb_settings(a: backends.Account) -> list[str]:
    return [f"home={a.home}", f"uid={a.uid_number}", f"gid={a.gid_number}",
            f"systempw={a.sql_crypt}"]


# ---------------------------------------------------------------------------
# Daemons


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live
    descendants: a daemon's master and workers, or the postmaster and the
    backends serving the daemons' connections (which PostgreSQL moves into
    sessions of their own, so a process group would miss them)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # After "(comm) ": state, ppid, pgrp, ..., utime and stime are fields 14 and 15.
        fields = stat[stat.rfind(")") + 2:].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    total = 0
    for pid, t in ticks.items():
        p, hops = pid, 0
        while p > 1 and p != root_pid and hops < 64:
            p, hops = parent.get(p, 0), hops + 1
        if p == root_pid:
            total += t
    return total / tick


class Daemon:
    """An authdaemond (ours or Courier's) in its own process group."""

    def __init__(self, name: str, argv: list[str], socket_path: Path, log_path: Path,
                 env: dict | None = None):
        self.name = name
        self.argv = argv
        self.socket = socket_path
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        backends.wait_for_socket(self.socket, proc=self.proc, log_path=self.log_path,
                                 what=f"{self.name} on {self.socket}", timeout_s=60)
        return self

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(20)
        self.proc = None


def our_daemon(build: Path, folder: Path, backend: str, workers: int, accounts,
               pgsqlrc: str | None) -> Daemon:
    folder.mkdir(parents=True)
    rc = [f'authmodulelist="auth{backend}"', f"daemons={workers}",
          f"authdaemonvar={folder / 'var'}", f"LOGFILE={folder / 'authdaemond.log'}",
          "DEBUG_LOGIN=0", "AUTH_TIMEOUT=30"]
    env = dict(os.environ)
    if backend == "userdb":
        source = folder / "userdb"
        env["USERDB"] = str(source)
        rc.append(f"USERDB={source}")
        for a in accounts:
            backends.run_tool([str(build / "authlib" / "userdb"), a.address, "set",
                               *userdb_settings(a)], env=env, what="our userdb set")
        backends.run_tool([str(build / "authlib" / "makeuserdb")], env=env,
                          what="our makeuserdb")
    else:
        (folder / "authpgsqlrc").write_text(pgsqlrc)
        rc.append(f"AUTHPGSQLRC={folder / 'authpgsqlrc'}")
    (folder / "authdaemonrc").write_text("\n".join(rc) + "\n")
    return Daemon(f"our authdaemond ({backend})",
                  [str(build / "authlib" / "authdaemond"), "-c", str(folder / "authdaemonrc"),
                   "foreground"],
                  folder / "var" / "socket", folder / "authdaemond.log", env)


def in_courier_namespace(folder: Path, argv: list[str]) -> list[str]:
    """argv run in a private mount namespace where folder/etc is /etc/courier and
    folder/run is /run/courier/authdaemon (Courier's compiled-in paths). When the
    package's /run/courier/authdaemon is missing (e.g. after a reboot without
    systemd-tmpfiles), a private tmpfs on /run holds it."""
    script = ('set -e; mount --make-rprivate /; mount --bind "$1" /etc/courier; '
              'if [ ! -d /run/courier/authdaemon ]; then mount -t tmpfs bench /run; '
              'mkdir -p /run/courier/authdaemon; fi; '
              'mount --bind "$2" /run/courier/authdaemon; shift 2; exec "$@"')
    return ["unshare", "--mount", "--", "/bin/sh", "-c", script, "sh",
            str(folder / "etc"), str(folder / "run"), *argv]


def courier_daemon(folder: Path, backend: str, workers: int, accounts,
                   pgsqlrc: str | None) -> Daemon:
    etc = folder / "etc"
    etc.mkdir(parents=True)
    (folder / "run").mkdir()
    (etc / "authdaemonrc").write_text(
        f'authmodulelist="auth{backend}"\nauthmodulelistorig="auth{backend}"\n'
        f"daemons={workers}\nauthdaemonvar={COURIER_RUN}\nDEBUG_LOGIN=0\n"
        'DEFAULTOPTIONS=""\nLOGGEROPTS=""\n')
    if backend == "userdb":
        # Courier's own tools, in the namespace, as an admin would run them.
        lines = ["set -e"]
        for a in accounts:
            quoted = " ".join(f"'{s}'" for s in userdb_settings(a))
            lines.append(f"{COURIER_USERDB} -f {COURIER_ETC}/userdb {a.address} set {quoted}")
        lines.append(str(COURIER_MAKEUSERDB))
        backends.run_tool(in_courier_namespace(folder, ["/bin/sh", "-c", "\n".join(lines)]),
                          what="Courier's userdb and makeuserdb")
    else:
        (etc / "authpgsqlrc").write_text(pgsqlrc)
        (etc / "authpgsqlrc").chmod(0o640)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    return Daemon(f"Courier's authdaemond ({backend})",
                  in_courier_namespace(folder, [str(COURIER_AUTHDAEMOND)]),
                  folder / "run" / "socket", folder / "authdaemond.log", env)


def courier_unavailable() -> str | None:
    """Why Courier's side cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: Courier's authdaemond needs a private mount namespace (unshare -m)"
    missing = [p for p in COURIER_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout != "install ok installed"]
    if missing:
        return ("Debian packages not installed: " + " ".join(missing) +
                " (apt-get install them; a /usr/sbin/policy-rc.d exiting 101 keeps the "
                "postinst from starting the system's authdaemond)")
    if not COURIER_ETC.is_dir():
        return f"{COURIER_ETC} is missing, yet courier-authdaemon is installed"
    return None


def package_version(name: str) -> str:
    cp = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return cp.stdout.strip() or "not installed"


# ---------------------------------------------------------------------------
# Runs


def build_load_generator(work: Path) -> Path:
    out = work / "auth_load"
    backends.run_tool(["g++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-o", str(out),
                       str(HERE / "auth_load.cpp")], what="compiling auth_load")
    return out


def run_load(load: Path, daemon: Daemon, accounts_file: Path, mode: str, clients: int,
             warmup_s: float, duration_s: float, postgres_pid: int | None) -> dict:
    cpu_before = daemon.cpu_s()
    pg_before = tree_cpu_s(postgres_pid) if postgres_pid else 0.0
    cp = subprocess.run([str(load), "--socket", str(daemon.socket), "--accounts",
                         str(accounts_file), "--mode", mode, "--clients", str(clients),
                         "--warmup-s", str(warmup_s), "--duration-s", str(duration_s)],
                        capture_output=True, text=True)
    if cp.returncode != 0 or not cp.stdout.strip():
        raise BenchError(f"auth_load against {daemon.name} failed (exit {cp.returncode}): "
                         f"{cp.stderr.strip()}")
    result = json.loads(cp.stdout)
    wall = result["wall_s"]
    daemon_cpu = daemon.cpu_s() - cpu_before
    result["daemon_cpu_s"] = round(daemon_cpu, 3)
    if postgres_pid:
        result["postgres_cpu_s"] = round(tree_cpu_s(postgres_pid) - pg_before, 3)
    # CPU per request over the whole run (warm-up included), so divide by all the
    # requests made in it, estimated from the measured rate.
    requests = max(result["rate_per_s"] * (wall - 0.2), 1.0)
    result["daemon_cpu_us_per_request"] = round(daemon_cpu / requests * 1e6, 1)
    if postgres_pid:
        result["postgres_cpu_us_per_request"] = round(result["postgres_cpu_s"] / requests * 1e6, 1)
    result["client_cpu_share_of_machine"] = round(result["client_cpu_s"] / (wall * os.cpu_count()), 3)
    result["loadavg_1m"] = os.getloadavg()[0]
    return result


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    keys = sorted({(r["backend"], r["mode"], r["clients"]) for r in runs},
                  key=lambda k: (k[0], ["auth", "fail", "pre"].index(k[1]), k[2]))
    for backend, mode, clients in keys:
        row = {"backend": backend, "mode": mode, "clients": clients}
        for impl in ("ours", "courier"):
            sel = [r for r in runs if (r["backend"], r["mode"], r["clients"], r["impl"]) ==
                   (backend, mode, clients, impl)]
            row[f"{impl}_rate"] = median_or_none([r["rate_per_s"] for r in sel])
            row[f"{impl}_cpu_us"] = median_or_none([r["daemon_cpu_us_per_request"] for r in sel])
            row[f"{impl}_pg_cpu_us"] = median_or_none(
                [r["postgres_cpu_us_per_request"] for r in sel if "postgres_cpu_us_per_request" in r])
            row[f"{impl}_p99_us"] = median_or_none([r["latency_us"]["p99"] for r in sel])
            row[f"{impl}_errors"] = sum(r["errors"] for r in sel)
            row[f"{impl}_all_rates"] = [r["rate_per_s"] for r in sel]
        if row["ours_rate"] and row["courier_rate"]:
            row["ratio"] = round(row["ours_rate"] / row["courier_rate"], 2)
        rows.append(row)
    return rows


def fmt(v, digits=0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def print_table(rows: list[dict]) -> None:
    mode_names = {"auth": "AUTH ok", "fail": "AUTH wrong pw", "pre": "PRE lookup"}
    head = (f"{'workload':<30} {'ours/s':>9} {'Courier/s':>10} {'ratio':>6}   "
            f"{'ours µs CPU/req':>15} {'Courier µs CPU/req':>18}   {'errors o/c':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        name = f"{r['backend']} {mode_names[r['mode']]}, {r['clients']} clients"
        cpu_o = fmt(r["ours_cpu_us"]) + (f" +pg {fmt(r['ours_pg_cpu_us'])}"
                                         if r["ours_pg_cpu_us"] is not None else "")
        cpu_c = fmt(r["courier_cpu_us"]) + (f" +pg {fmt(r['courier_pg_cpu_us'])}"
                                            if r["courier_pg_cpu_us"] is not None else "")
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
        print(f"{name:<30} {fmt(r['ours_rate']):>9} {fmt(r['courier_rate']):>10} {ratio:>6}   "
              f"{cpu_o:>15} {cpu_c:>18}   {r['ours_errors']:>4}/{r['courier_errors']:<5}")


def environment(args, build: Path, courier_reason: str | None) -> dict:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "-C", str(SRC), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
        # HEAD when the run started; the binaries may be older or newer.
        "our_commit": commit, "our_build": str(build),
        "our_authdaemond_mtime_utc": datetime.datetime.fromtimestamp(
            (build / "authlib" / "authdaemond").stat().st_mtime,
            datetime.timezone.utc).isoformat(timespec="seconds"),
        "courier_versions": {p: package_version(p) for p in COURIER_PACKAGES},
        "courier_skipped": courier_reason,
        "postgresql": package_version("postgresql-15"),
        "settings": {"users": args.users, "daemons": args.daemons, "clients": args.clients,
                     "warmup_s": args.warmup_s, "duration_s": args.duration_s,
                     "repeat": args.repeat, "modes": args.modes, "backends": args.backends,
                     "password_scheme": "SHA-512 crypt ($6$, 5000 rounds)",
                     "connection": "one request per connection, as the mail services do"},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path,
                    default=Path(os.environ.get("SUITE_BUILD", SRC / "build")),
                    help="our build folder (authlib/authdaemond, userdb, makeuserdb)")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--daemons", type=int, default=4, help="daemons= for both authdaemonds")
    ap.add_argument("--clients", default="4,16", help="client concurrencies, comma-separated")
    ap.add_argument("--modes", default="auth,fail,pre")
    ap.add_argument("--backends", default="userdb,pgsql")
    ap.add_argument("--warmup-s", type=float, default=1.0)
    ap.add_argument("--duration-s", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-courier", action="store_true", help="measure ours only")
    ap.add_argument("--out", type=Path, help="JSON results file "
                    "(default bench/auth/results/auth-<UTC time>.json)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    backend_names = args.backends.split(",")
    if set(modes) - {"auth", "fail", "pre"} or set(backend_names) - {"userdb", "pgsql"}:
        ap.error("--modes takes auth,fail,pre; --backends takes userdb,pgsql")
    build = args.build.resolve()
    for tool in ("authdaemond", "userdb", "makeuserdb"):
        if not (build / "authlib" / tool).exists():
            ap.error(f"{build / 'authlib' / tool} is not built (make authlib/{tool} in {build}, "
                     "or point --build at the build folder)")

    courier_reason = "--no-courier" if args.no_courier else courier_unavailable()
    if courier_reason:
        print(f"Courier's authdaemond is not measured: {courier_reason}", file=sys.stderr)
    impls = ["ours"] + ([] if courier_reason else ["courier"])

    work = backends.make_public_dir("bench-auth")
    print(f"work folder: {work}", file=sys.stderr)
    daemons: dict[tuple[str, str], Daemon] = {}
    postgres = None
    runs: list[dict] = []
    env_info = environment(args, build, courier_reason)
    try:
        load = build_load_generator(work)
        (work / "home").mkdir()
        os.chmod(work / "home", 0o755)
        accounts = make_accounts(args.users, work / "home")
        accounts_file = work / "accounts"
        write_accounts_file(accounts, accounts_file)
        pgsqlrc = None
        if "pgsql" in backend_names:
            postgres = backends.PostgresServer(work / "pg", work / "postgres.log", accounts,
                                               tcp=False).setup()
            # Only the crypt column: a clear column would let either daemon skip crypt(3).
            # Courier's reader insists on sysconftool's marker line; ours reads
            # it as the comment it is.
            pgsqlrc = postgres.authpgsqlrc(PGSQL_CLEAR_PWFIELD=None) + "##NAME: MARKER:0\n"
        for backend in backend_names:
            daemons[("ours", backend)] = our_daemon(build, work / f"ours-{backend}", backend,
                                                    args.daemons, accounts, pgsqlrc).start()
            if "courier" in impls:
                daemons[("courier", backend)] = courier_daemon(
                    work / f"courier-{backend}", backend, args.daemons, accounts, pgsqlrc).start()
        pg_pid = postgres.pid if postgres else None
        total = args.repeat * len(backend_names) * len(modes) * len(clients) * len(impls)
        n = 0
        pair = 0
        for rep in range(args.repeat):
            for backend in backend_names:
                for mode in modes:
                    for c in clients:
                        # Alternate who goes first, from one workload to the next and
                        # from one repetition to the next, so drifting load is shared.
                        order = impls if (pair + rep) % 2 == 0 else impls[::-1]
                        pair += 1
                        for impl in order:
                            n += 1
                            d = daemons[(impl, backend)]
                            r = run_load(load, d, accounts_file, mode, c, args.warmup_s,
                                         args.duration_s,
                                         pg_pid if backend == "pgsql" else None)
                            r.update(impl=impl, backend=backend, repeat=rep)
                            runs.append(r)
                            warn = f"  ERRORS {r['errors']}: {r['first_error']}" if r["errors"] else ""
                            print(f"[{n}/{total}] {impl:<7} {backend:<6} {mode:<4} "
                                  f"{c:>2} clients: {r['rate_per_s']:>9,.1f}/s  "
                                  f"cpu {r['daemon_cpu_us_per_request']:>7,.1f} µs/req  "
                                  f"client cpu {r['client_cpu_share_of_machine']:.0%}{warn}",
                                  file=sys.stderr, flush=True)
    finally:
        for d in daemons.values():
            d.stop()
        if postgres:
            postgres.close()
        logs = {f"{impl}-{backend}": backends.log_tail(d.log_path, 5)
                for (impl, backend), d in daemons.items()}
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    rows = summarize(runs)
    print()
    print(f"authdaemond, {args.users} accounts (SHA-512 crypt), daemons={args.daemons}, "
          f"{args.duration_s:g} s per run, median of {args.repeat}; ratio = ours / Courier")
    print_table(rows)
    out = args.out or (HERE / "results" /
                       f"auth-{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": env_info, "summary": rows, "runs": runs,
                               "daemon_log_tails": logs}, indent=1) + "\n")
    print(f"\nraw results: {out}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
