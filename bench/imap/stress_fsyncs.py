#!/usr/bin/python3
"""Counts what imapd's sessions wait on during imaptest's stress mode.

    python3 bench/imap/stress_fsyncs.py --build build [--seconds 15]

Starts this suite's imapd as bench.py does (PREAUTH, one process per
connection, an empty INBOX), each session under `strace -f -y -T` limited to
fsync/fdatasync/flock/rename and the unlink/open calls of the state files,
runs imaptest (10 clients, default mix, filled from bench.py's mbox), then
prints imaptest's operations, the fsyncs per operation (by file: the name
after the Maildir folder, digits folded), the seconds spent in fsync and
flock, and the renames per file. strace slows imapd down: compare counts per
operation, not rates, with bench.py's.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

CALL = re.compile(r"^(?:\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)[^<]*<([\d.]+)>")
FD_PATH = re.compile(r"^\d+<([^>]*)>")


def kind(path: str) -> str:
    """A short name for a file: its name with digits, pids and host folded."""
    name = path.rsplit("/", 1)[-1]
    parent = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
    if parent in ("cur", "new", "tmp") and not name.startswith(("imapd-", "courierimap")):
        if name in ("cur", "new", "tmp") or "." not in name:
            return parent + "/ (directory)"
        return parent + "/<message>"
    if "Maildir" in name or name in ("cur", "new", "tmp"):
        return name + "/ (directory)"
    name = re.sub(r"\.\d+$", ".<pid>", name)
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--imaptest", type=Path, default=Path("/work/imaptest-build/src/imaptest"))
    ap.add_argument("--imaptest-lib", type=Path, default=Path("/work/imaptest-build/dc/usr/lib/dovecot"))
    ap.add_argument("--anchors", type=Path, default=Path("/var/tmp/courier-suite-anchors"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imapstrace-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    traces = work / "traces"
    traces.mkdir()
    os.chmod(traces, 0o777)
    empty = work / "template-empty"
    bench.make_maildir(empty, 0)
    mbox = work / "stress.mbox"
    bench.make_mbox(mbox, 400)
    os.chmod(mbox, 0o644)
    sp, homes = bench.start_servers(a, work, empty, {"ours": a.build.resolve()}, anchors=())
    s = sp["ours"]
    # strace runs as root (ptrace of another uid's process needs it) and
    # starts imapd as the user bench.py would (-u).
    user = []
    if os.geteuid() == 0 and s.uid is not None:
        import pwd
        user = ["-u", pwd.getpwuid(s.uid).pw_name]
        s.uid = None
    s.argv = ["strace", "-f", "-y", "-T", "-qq", *user, "-o", str(traces / "t"), "-ff",
              "-e", "trace=fsync,fdatasync,flock,rename,renameat,renameat2", *s.argv]
    a.stress_seconds = a.seconds
    try:
        ops_per_s, errors = bench.imaptest_stress(a, s.port, mbox, work / "imaptest.log")
    finally:
        s.close()
    ops = ops_per_s * a.seconds
    calls = collections.Counter()
    secs = collections.Counter()
    by_file = collections.Counter()
    renames = collections.Counter()
    flocks = collections.Counter()
    flock_secs = collections.Counter()
    for f in traces.iterdir():
        for line in f.read_text(errors="replace").splitlines():
            m = CALL.match(line)
            if not m:
                continue
            name, args, t = m.group(1), m.group(2), float(m.group(4))
            calls[name] += 1
            secs[name] += t
            if name == "flock":
                p = FD_PATH.match(args)
                op = "LOCK_UN" if "LOCK_UN" in args else "LOCK_SH" if "LOCK_SH" in args else "LOCK_EX"
                key = f"{kind(p.group(1)) if p else '?'} {op}{'|NB' if 'LOCK_NB' in args else ''}"
                flocks[key] += 1
                flock_secs[key] += t
            if name in ("fsync", "fdatasync"):
                p = FD_PATH.match(args)
                by_file[kind(p.group(1)) if p else "?"] += 1
            elif name.startswith("rename"):
                target = args.rsplit(",", 1)[-1].strip().strip('"')
                renames[kind(target.split('"')[-1] if '"' in target else target)] += 1
    print(f"imaptest: {ops:.0f} operations in {a.seconds} s under strace ({ops_per_s:.0f}/s), {errors} errors")
    for name in sorted(calls):
        print(f"  {name:10} {calls[name]:7} calls {secs[name]:8.2f} s   {calls[name] / max(ops, 1):.3f} per operation")
    print("fsync/fdatasync by file:")
    for k, n in by_file.most_common():
        print(f"  {k:40} {n:7}   {n / max(ops, 1):.3f} per operation")
    print("flock by file and kind (seconds waited):")
    for k, n in flocks.most_common():
        print(f"  {k:40} {n:7}   {flock_secs[k]:8.2f} s")
    print("renames by target:")
    for k, n in renames.most_common(12):
        print(f"  {k:40} {n:7}   {n / max(ops, 1):.3f} per operation")
    if os.environ.get("BENCH_KEEP"):
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
