#!/usr/bin/python3
"""bench/imap/stress_one.py: imaptest stress (10 clients, default mix) against one
server only: this build's imapd (default) or --server dovecot|courier from the
anchors, on an empty INBOX, as bench.py --workload cache runs it. --hook runs a
shell command beside it (perf record, perf stat; $PPID is this process).

    /usr/bin/python3 bench/imap/stress_one.py BUILD [--server dovecot] [--secs 30] [--hook CMD]
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", type=Path)
ap.add_argument("--server", default="ours")
ap.add_argument("--secs", type=int, default=30)
ap.add_argument("--hook", default="")
x = ap.parse_args()
os.environ.setdefault("MAILUSER", "nobody")


class A:
    pass


a = A()
a.anchors = Path("/var/tmp/courier-suite-anchors")
a.imaptest = Path("/work/imaptest-build/src/imaptest")
a.imaptest_lib = Path("/work/imaptest-build/dc/usr/lib/dovecot")
a.stress_seconds = x.secs
work = Path(tempfile.mkdtemp(prefix="stress1-", dir="/var/tmp"))
os.chmod(work, 0o755)
empty = work / "empty"
bench.make_maildir(empty, 0)
mbox = work / "stress.mbox"
bench.make_mbox(mbox, 400)
os.chmod(mbox, 0o644)
builds = {"ours": x.build.resolve()} if x.server == "ours" else {}
anch = () if x.server == "ours" else (x.server,)
sp, homes = bench.start_servers(a, work, empty, builds, "", anch, courier_quiet=True)
hook = None
if x.hook:
    hook = subprocess.Popen(x.hook, shell=True)
try:
    ops, errors = bench.imaptest_stress(a, sp[x.server].port, mbox, work / "imaptest.log")
finally:
    for s in sp.values():
        s.close()
    if hook:
        hook.wait()
print(f"{x.server}: {ops:.0f} ops/s, {errors} errors  work={work}")
print((work / "imaptest.log").read_text()[-1500:])
