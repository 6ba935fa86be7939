#!/usr/bin/env python3
"""bench/maildrop: our maildrop against Debian's maildrop 2.9 on the same
workload, in one run (see README.md).

  1. deliveries per second of 5 KB messages into a Maildir, through a filter
     file with only `to "$HOME/Maildir/"` ("no filter") and through a filter
     with 20 pattern rules (header and body) before it ("20 rules");
  2. peak RSS (wait4 ru_maxrss) delivering one 50 MB message.

Both run in manual mode (maildrop FILTERFILE), as the same user, with the
same HOME and Maildir, sequentially, one process per message as courierd
runs them.
"""
from __future__ import annotations

import argparse
import os
import pwd
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# Debian's maildrop ignores $HOME in manual mode (it takes the passwd home of
# its uid, COURIER-TRAPS 7), so the filters name the Maildir by its full path.
def rules(home: Path) -> str:
    return "\n".join(
        f'if (/^Subject:.*rule{i}-never/ || /^X-Tag-{i}: (yes|true)/:h || /body-marker-{i}-never/:b)\n'
        f'{{\n  to "{home}/Maildir/.Rule{i}/"\n}}' for i in range(20))


def message_5k(i: int) -> bytes:
    head = (f"From: Sender <s{i}@remote.test>\nTo: user@example.test\nSubject: bench {i}\n"
            f"Message-ID: <{i}.{time.time()}@remote.test>\nDate: Mon, 1 Jan 2026 00:00:00 +0000\n\n")
    line = "The quick brown fox jumps over the lazy dog, again and again and again.\n"
    body = line * ((5120 - len(head)) // len(line))
    return (head + body).encode()


def make_home(root: Path) -> Path:
    home = root / "home"
    if home.exists():
        shutil.rmtree(home)
    for d in ("Maildir/cur", "Maildir/new", "Maildir/tmp"):
        (home / d).mkdir(parents=True)
    for i in range(20):
        for d in ("cur", "new", "tmp"):
            (home / "Maildir" / f".Rule{i}" / d).mkdir(parents=True)
    return home


def write_filter(home: Path, name: str, text: str) -> Path:
    p = home / name
    p.write_text(text + f'\nto "{home}/Maildir/"\n')
    p.chmod(0o600)
    return p


def unprivileged() -> None:
    """preexec_fn: filters never run as root (ours refuses), so as root both
    maildrops run as nobody, who owns the bench folder."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)


def give_to_nobody(path: Path) -> None:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for p in [path, *path.rglob("*")]:
            os.chown(p, nobody.pw_uid, nobody.pw_gid)


def run_rate(argv_for, home: Path, env: dict, n: int, msgs: list[bytes]) -> tuple[float, float]:
    """(deliveries per second, CPU ms per delivery: user + system of the children)."""
    give_to_nobody(home)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for i in range(n):
        cp = subprocess.run(argv_for(i), input=msgs[i % len(msgs)], env=env, cwd=home,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=unprivileged)
        if cp.returncode != 0:
            raise SystemExit(f"{argv_for(i)} failed ({cp.returncode}): {cp.stderr.decode(errors='replace')}")
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000 / n
    delivered = len(list((home / "Maildir" / "new").iterdir()))
    if delivered != n:
        raise SystemExit(f"expected {n} messages in the Maildir, found {delivered}")
    return n / elapsed, cpu_ms


def peak_rss_kib(argv, home: Path, env: dict, big: Path) -> int:
    """Peak RSS of the program alone, measured by GNU time (package "time"):
    a child's ru_maxrss also counts the memory of the process that forked it
    (the kernel keeps the old mm's high-water mark across exec), so it is
    measured from time's small process, not from Python."""
    out = home / "rss.txt"
    give_to_nobody(home)
    with open(big, "rb") as f:
        cp = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out), *argv], stdin=f, env=env, cwd=home,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=unprivileged)
    if cp.returncode != 0:
        raise SystemExit(f"{argv} failed on the 50 MB message: {cp.stderr.decode(errors='replace')}")
    return int(out.read_text().split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--debian", required=True, help="Debian's maildrop binary (unpacked, setgid bit removed)")
    ap.add_argument("--debian-libs", default="", help="LD_LIBRARY_PATH for it")
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the Maildirs go (default: $TMPDIR)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mdbench.", dir=args.dir))
    root.chmod(0o755)
    msgs = [message_5k(i) for i in range(50)]
    base_env = {"PATH": "/usr/bin:/bin", "LOGNAME": os.environ.get("USER", "root")}
    programs = {
        "ours": ([args.ours], dict(base_env)),
        "debian": ([args.debian], dict(base_env, LD_LIBRARY_PATH=args.debian_libs)),
    }
    results: dict[tuple[str, str], float] = {}
    cpu: dict[tuple[str, str], float] = {}
    for rnd in range(args.rounds):
        for case, with_rules in (("no filter", False), ("20 rules", True)):
            for name, (argv, env) in programs.items():
                home = make_home(root)
                filt = write_filter(home, "filter", rules(home) if with_rules else "")
                e = dict(env, HOME=str(home))
                rate, cpu_ms = run_rate(lambda i: argv + [str(filt)], home, e, args.n, msgs)
                key = (name, case)
                results[key] = max(results.get(key, 0.0), rate)
                cpu[key] = min(cpu.get(key, 1e9), cpu_ms)
    print(f"deliveries/s, 5 KB messages, best of {args.rounds} rounds of {args.n}, one process per message")
    for case in ("no filter", "20 rules"):
        o, d = results[("ours", case)], results[("debian", case)]
        print(f"  {case:10s}  ours {o:8.1f}   debian maildrop 2.9 {d:8.1f}   ratio {o / d:5.2f}x")
    print("CPU ms (user + system) per delivery, best round")
    for case in ("no filter", "20 rules"):
        o, d = cpu[("ours", case)], cpu[("debian", case)]
        print(f"  {case:10s}  ours {o:8.2f}   debian maildrop 2.9 {d:8.2f}   ratio {d / o:5.2f}x (>1: ours cheaper)")

    big = root / "big.eml"
    with open(big, "wb") as f:
        f.write(b"Subject: big\n\n")
        line = b"y" * 99 + b"\n"
        for _ in range(50 * 1024 * 1024 // 100):
            f.write(line)
    print("peak RSS delivering one 50 MB message (KiB), 20-rule filter")
    rss = {}
    for name, (argv, env) in programs.items():
        home = make_home(root)
        filt = write_filter(home, "filter", rules(home))
        rss[name] = peak_rss_kib(argv + [str(filt)], home, dict(env, HOME=str(home)), big)
    print(f"  ours {rss['ours']}   debian maildrop 2.9 {rss['debian']}   ratio {rss['ours'] / rss['debian']:5.2f}x")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
