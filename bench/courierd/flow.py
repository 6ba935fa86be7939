#!/usr/bin/env python3
"""bench/courierd/flow.py: local delivery throughput and latency of courierd.

Queues N messages (tests/courierd/queue_inject, i.e. lib/queue's commit: two fsyncs
and a directory fsync per message) for one userdb account, and measures
  - messages/s from the first commit until the queue is empty, and
  - per message, the time from its commit to its file appearing in Maildir/new
    (the "250 to new/" latency, minus the SMTP dialogue).
Usage: python3 bench/courierd/flow.py [--messages 500] [--build build]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--build", default=str(HERE.parents[1] / "build"))
    args = ap.parse_args()
    os.environ["SUITE_BUILD"] = str(Path(args.build).resolve())
    import suite  # noqa: E402  (after SUITE_BUILD)
    from courierd_support import Courierd  # noqa: E402

    root = Path(tempfile.mkdtemp(prefix="courierd-bench-", dir="/tmp"))
    root.chmod(0o755)
    system = suite.MailSystem(root / "mail")
    system.start()
    account = system.add_account("bench@example.test", "secret")
    c = Courierd(root / "courier", system, settings={"MAXLOCAL": "10"})
    c.start()
    body = b"Subject: bench\n\n" + b"x" * 2000 + b"\n"
    commits: dict[str, float] = {}
    start = time.monotonic()
    for i in range(args.messages):
        qid = c.inject(body + str(i).encode() + b"\n", "bench@example.test")
        commits[qid] = time.time()
    c.wait_empty(timeout_s=600)
    elapsed = time.monotonic() - start
    files = list((account.maildir / "new").iterdir())
    latencies = []
    # Each file holds the message number on its last line: match it to its commit.
    by_number = {}
    for qid, t in commits.items():
        by_number[len(by_number)] = t
    for f in files:
        n = int(f.read_bytes().rstrip().rsplit(b"\n", 1)[-1])
        latencies.append(f.stat().st_mtime - by_number[n])
    c.stop()
    system.stop()
    latencies.sort()
    print(f"messages: {len(files)} of {args.messages} delivered in {elapsed:.2f} s "
          f"({len(files) / elapsed:.0f} messages/s, injection included)")
    print(f"commit -> new/ latency: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
