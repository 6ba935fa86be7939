#!/usr/bin/python3
"""bench/access/login_bench.py: IMAP LOGIN+LOGOUT/s and IMAPS handshakes/s for
Debian's Courier, Debian's Dovecot and two builds of this suite (before and
after), in one run, interleaved rounds, medians (issues 14 and 16).

  sudo bench/access/login_bench.py --build build --before /work/main/build \\
       [--rounds 3] [--seconds 4] [--clients 8] [--only courier,dovecot,before,after]

Each server runs for the whole run; every round measures every server (the
order rotates each round), so load from other processes hits all alike.

  login  a new connection per session: greeting, LOGIN (MD5-crypt password),
         LOGOUT, --clients client processes for --seconds
  imaps  a new connection per session: TLS 1.3 handshake (RSA-2048, the same
         certificate for all), the IMAP greeting read through it, close
  CPU    the server side's CPU milliseconds per session: user+system time of
         every process of the server (superserver, authdaemond, Dovecot's
         master, auth, anvil, ...) plus what they reaped (the per-connection
         processes), from /proc; clients excluded, so it moves little with
         other load on the machine

The servers:
  courier  Debian's courier-imap 5.0.13 + courier-authlib 0.71.4 as shipped:
           its couriertcpd, imaplogin, imapd, couriertls (GnuTLS) and
           authdaemond (authuserdb), the package's /etc/courier/imapd settings
  dovecot  Debian's dovecot 2.3.19.1: a full master (imap-login, auth, imap,
           anvil, config, log), its default process model (one imap-login per
           connection, service_count=1), passdb passwd-file with the same
           MD5-crypt hash (scheme=CRYPT), maildir, ssl=yes on the imaps listener
  before   --before: that build's couriertcpd, imaplogin, imapd, couriertls,
           authdaemond (authuserdb)
  after    --build: the same programs of this build (couriertcpd serves
           "couriertls -server -tcpd" in-process)

Nothing is installed: Courier's and Dovecot's packages are unpacked (apt-get
download + dpkg -x, bench/imap/anchors.sh and run.py's courier_root) and each
runs in a private mount namespace (unshare -m, so run as root) where overlays
put the unpacked /usr/lib, /usr/bin, /usr/sbin and /etc in front of the
machine's (Dovecot's programs find /usr/bin/doveconf and /usr/lib/dovecot
there; Courier's find /etc/courier and /run/courier/authdaemon, bind-mounted
from the run's folder as run.py does).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as access  # noqa: E402  bench/access/run.py: Side, namespace, accounts

ACCOUNT, PASSWORD = access.ACCOUNT, access.PASSWORD


# ---------------------------------------------------------------------------
# Inside: one server, started and kept until stdin closes


def superserver(tcpd: str, port: int, argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([tcpd, "-nodnslookup", "-noidentlookup", "-maxprocs=400", "-maxperip=400",
                             "-address=127.0.0.1", str(port), *argv], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def serve(spec: dict) -> None:
    impl, work, home = spec["impl"], Path(spec["work"]), Path(spec["home"])
    procs: list[subprocess.Popen] = []
    side = None
    ports = {"login": access.free_port(), "imaps": access.free_port()}
    pem = work / "server.pem"
    try:
        if impl == "dovecot":
            (work / "dovecot.conf").write_text((work / "dovecot.conf").read_text()
                                               .replace("@LOGIN@", str(ports["login"]))
                                               .replace("@IMAPS@", str(ports["imaps"])))
            procs.append(subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(work / "dovecot.conf")],
                                          stdin=subprocess.DEVNULL, stdout=open(work / "dovecot.out", "ab"),
                                          stderr=subprocess.STDOUT))
        else:
            side = access.Side("courier" if impl == "courier" else "ours", Path(spec["build"]), work, home,
                               spec["uid"], spec["gid"])
            if impl == "courier":
                tcpd, tls = "/usr/sbin/couriertcpd", "/usr/bin/couriertls"
            else:
                tcpd, tls = spec["build"] + "/tcpd/couriertcpd", spec["build"] + "/tls/couriertls"
            procs.append(superserver(tcpd, ports["login"], side.imaplogin, side.env, work / "tcpd.err"))
            tenv = dict(side.env, TLS_CERTFILE=str(pem), TLS_VERIFYPEER="NONE", MAILUSER="nobody",
                        TLS_DHPARAMS=str(work / "dh.pem"))
            procs.append(superserver(tcpd, ports["imaps"], [tls, "-server", "-tcpd", *side.imaplogin], tenv,
                                     work / "tcpd.err"))
        print(json.dumps(ports), flush=True)
        sys.stdin.read()  # until the outer run closes it
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if side:
            side.close()


# ---------------------------------------------------------------------------
# Outside


DOVECOT_CONF = """\
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = daemon
first_valid_uid = 1
auth_mechanisms = plain
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
ssl = yes
ssl_cert = <{work}/crt.pem
ssl_key = <{work}/key.pem
passdb {{
  driver = passwd-file
  args = scheme=CRYPT {work}/passwd
}}
userdb {{
  driver = passwd-file
  args = {work}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = @LOGIN@
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = @IMAPS@
    ssl = yes
  }}
}}
"""


class Server:
    def __init__(self, impl: str, args, work: Path, template: Path, root: Path, uid: int, gid: int):
        self.impl = impl
        self.work = Path(tempfile.mkdtemp(prefix=f"{impl}-", dir=work))
        os.chmod(self.work, 0o755)
        home = self.work / "home"
        shutil.copytree(template, home, symlinks=True)
        for p in [home, *home.rglob("*")]:
            os.chown(p, uid, gid)
        for n in ("key.pem", "crt.pem", "server.pem", "dh.pem"):
            shutil.copy2(work / n, self.work / n)
        build = {"before": args.before, "after": args.build}.get(impl)
        spec = {"impl": impl, "build": str(build) if build else "", "work": str(self.work), "home": str(home),
                "uid": uid, "gid": gid}
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(spec)]
        if impl == "courier":
            shutil.copytree(root / "etc/courier", self.work / "etc", symlinks=True)
            (self.work / "run").mkdir()
            argv = access.namespace_argv(root, self.work, argv)
        elif impl == "dovecot":
            for d in ("run", "state"):
                (self.work / d).mkdir()
            (self.work / "dovecot.conf").write_text(DOVECOT_CONF.format(work=self.work))
            (self.work / "passwd").write_text(f"{ACCOUNT}:{access.crypt_md5(PASSWORD)}:{uid}:{gid}::{home}::\n")
            argv = dovecot_namespace_argv(args.anchors / "dovecot", argv)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.work / "serve.err", "ab"), text=True)
        line = self.proc.stdout.readline()
        while line and not line.startswith("{"):  # what userdb and makeuserdb print
            line = self.proc.stdout.readline()
        if not line:
            raise access.BenchError(f"{impl}: the server did not start: "
                                    f"{(self.work / 'serve.err').read_text(errors='replace')[-2000:]}")
        self.ports = json.loads(line)
        for row in ("login", "imaps"):
            wait_port(self.ports[row], impl)
        # Fails loudly (and warms up) when a login or handshake does not work.
        access.login_logout(self.ports["login"])
        imaps_session(self.ports["imaps"])

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def dovecot_namespace_argv(root: Path, argv: list[str]) -> list[str]:
    """argv in a private mount namespace where the unpacked dovecot-core and
    dovecot-imapd lie over /usr/lib, /usr/bin, /usr/sbin and /etc."""
    script = ('set -e; mount --make-rprivate /; '
              'for d in usr/lib usr/bin usr/sbin etc; do '
              '  mount -t overlay overlay -o "lowerdir=$1/$d:/$d" "/$d"; done; shift; exec "$@"')
    return ["unshare", "--mount", "--", "/bin/sh", "-c", script, "sh", str(root), *argv]


def wait_port(port: int, what: str) -> None:
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.025)
    raise access.BenchError(f"{what}: nothing listens on port {port} after 10 s")


def tree_cpu_s(pid: int) -> float:
    """user+system seconds of pid and its descendants, and of what they reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
            for t in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / tick


_CTX = None


def imaps_session(port: int) -> None:
    global _CTX
    if _CTX is None:
        _CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _CTX.check_hostname = False
        _CTX.verify_mode = ssl.CERT_NONE
        _CTX.minimum_version = _CTX.maximum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        with _CTX.wrap_socket(raw) as s:
            buf = bytearray()
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise access.BenchError(f"IMAPS port {port} closed before the greeting")
                buf += chunk
            if not buf.startswith(b"* OK"):
                raise access.BenchError(f"IMAPS port {port}: greeting {bytes(buf[:100])!r}")


def _worker(args):
    row, port, seconds = args
    fn = access.login_logout if row == "login" else imaps_session
    n, errors, first, end = 0, 0, "", time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            fn(port)
            n += 1
        except (OSError, access.BenchError) as e:
            errors += 1
            first = first or repr(e)[:300]
    return n, errors, first


FIRST_ERRORS: dict[str, list[str]] = {}


def measure(server: Server, row: str, seconds: float, clients: int, pool) -> tuple[float, float, int]:
    cpu0 = server.cpu_s()
    t0 = time.monotonic()
    res = pool.map(_worker, [(row, server.ports[row], seconds)] * clients)
    dt = time.monotonic() - t0
    time.sleep(0.3)  # the last sessions' processes end and are reaped
    cpu = server.cpu_s() - cpu0
    n = sum(r[0] for r in res)
    for r in res:
        if r[2] and r[2] not in FIRST_ERRORS.setdefault(server.impl, []) and len(FIRST_ERRORS[server.impl]) < 3:
            FIRST_ERRORS[server.impl].append(r[2])
    return n / dt, (1000 * cpu / n if n else float("nan")), sum(r[1] for r in res)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=access.SRC / "build")
    ap.add_argument("--before", type=Path, help="another build folder, e.g. /work/main/build")
    ap.add_argument("--anchors", type=Path, default=Path("/var/tmp/courier-suite-anchors"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--only", default="courier,dovecot,before,after")
    ap.add_argument("--rows", default="login,imaps")
    ap.add_argument("--json", type=Path, help="write every round's figures here")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    if os.geteuid() != 0:
        ap.error("run as root: the login programs change to the account's uid, and Courier's and "
                 "Dovecot's sides need a private mount namespace")
    args.build = args.build.resolve()
    impls = [i for i in args.only.split(",") if i != "before" or args.before]
    if args.before:
        args.before = args.before.resolve()
    rows = args.rows.split(",")
    root = access.courier_root(args.anchors)  # runs anchors.sh too (Dovecot's packages)
    pw = pwd.getpwnam("nobody")
    uid, gid = pw.pw_uid, pw.pw_gid
    work = Path(tempfile.mkdtemp(prefix="login-bench-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    servers: dict[str, Server] = {}
    rates = {i: {r: [] for r in rows} for i in impls}
    cpus = {i: {r: [] for r in rows} for i in impls}
    errors = {i: 0 for i in impls}
    loads = []
    # Before any server starts, so the client processes hold none of their pipes.
    pool = multiprocessing.Pool(args.clients)
    try:
        import bench as imap_bench  # bench/imap/bench.py
        imap_bench.make_maildir(work / "home" / "Maildir", 100)
        key, crt = work / "key.pem", work / "crt.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=bench.test",
                        "-days", "30", "-keyout", str(key), "-out", str(crt)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe3072",
                        "-out", str(work / "dh.pem")], check=True, stdout=subprocess.DEVNULL)
        (work / "server.pem").write_bytes(key.read_bytes() + crt.read_bytes())
        for n in ("key.pem", "server.pem"):
            (work / n).chmod(0o600)
        for impl in impls:
            print(f"starting {impl}", file=sys.stderr, flush=True)
            servers[impl] = Server(impl, args, work, work / "home", root, uid, gid)
        for rnd in range(args.rounds):
            order = impls[rnd % len(impls):] + impls[:rnd % len(impls)]
            for impl in order:
                for row in rows:
                    rate, cpu, errs = measure(servers[impl], row, args.seconds, args.clients, pool)
                    rates[impl][row].append(rate)
                    cpus[impl][row].append(cpu)
                    errors[impl] += errs
                    loads.append(os.getloadavg()[0])
                    print(f"[round {rnd + 1}] {impl} {row}: {rate:.1f}/s, {cpu:.2f} ms CPU, "
                          f"load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    finally:
        pool.terminate()
        for s in servers.values():
            s.close()
        shutil.rmtree(work, ignore_errors=True)

    med = {i: {r: statistics.median(v) for r, v in per.items()} for i, per in rates.items()}
    cmed = {i: {r: statistics.median(v) for r, v in per.items()} for i, per in cpus.items()}
    names = {"login": f"IMAP LOGIN+LOGOUT/s, {args.clients} clients",
             "imaps": f"IMAPS (TLS 1.3 handshake + greeting)/s, {args.clients} clients"}
    print(f"\n{args.rounds} interleaved rounds of {args.seconds:g} s, medians; {os.cpu_count()} CPUs; "
          f"load average (1 min) during the run {min(loads):.1f} to {max(loads):.1f}")
    heads = [f"{i}/courier" for i in impls if i != "courier" and "courier" in impls]
    heads += ["after/before"] if "after" in impls and "before" in impls else []
    heads += ["after/dovecot"] if "after" in impls and "dovecot" in impls else []
    print("| measurement | " + " | ".join(impls + heads) + " |")
    print("|---" * (1 + len(impls) + len(heads)) + "|")
    for row in rows:
        for kind, table, better in (("per second", med, "higher"), ("server CPU ms per session", cmed, "lower")):
            label = names[row] if kind == "per second" else f"{names[row].split(',')[0]}: server CPU ms each"
            cells = [f"{table[i][row]:,.1f}" if kind == "per second" else f"{table[i][row]:.2f}" for i in impls]
            # ratios: higher is better for both (CPU ratios are other/this)
            def ratio(a, b):
                x, y = table[a][row], table[b][row]
                return f"{(x / y if kind == 'per second' else y / x):.2f}x"
            rs = [ratio(i, "courier") for i in impls if i != "courier" and "courier" in impls]
            if "after" in impls and "before" in impls:
                rs.append(ratio("after", "before"))
            if "after" in impls and "dovecot" in impls:
                rs.append(ratio("after", "dovecot"))
            print(f"| {label} | " + " | ".join(cells + rs) + " |")
    print("(ratios: higher is better; for CPU ms they are the other's CPU / this one's)")
    print("failed sessions: " + ", ".join(f"{i} {errors[i]}" for i in impls))
    for impl, errs in FIRST_ERRORS.items():
        for e in errs:
            print(f"  {impl}: {e}")
    if args.json:
        args.json.write_text(json.dumps({"rates": rates, "cpu_ms": cpus, "medians": med, "cpu_medians": cmed,
                                         "errors": errors, "loads": loads, "settings": {
                                             k: str(v) for k, v in vars(args).items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
