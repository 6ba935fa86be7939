#!/usr/bin/env python3
"""bench/flow/flow.py: end-to-end delivery rate and 250-to-new/ latency.

Drives one server (ours, or Debian's Courier started by courier.sh) at 127.0.0.1:PORT
whose deliveries for RCPT land in MAILDIR/new:
  1. rate: Postfix's smtp-source, SESSIONS sessions, MESSAGES messages of SIZE bytes,
     from its start until MESSAGES files are in MAILDIR/new (messages/s end to end);
  2. latency: LATENCY messages sent one after another with smtplib; for each, the time
     from the 250 after the dot to its file in new/ (polled every 0.5 ms), median and p99.

    flow.py --source SMTP_SOURCE --port P --maildir DIR --rcpt ADDR [--messages 2000]
Prints one line of key=value results. run.sh starts both servers and calls it.
"""
from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import subprocess
import threading
import time
from pathlib import Path


def count(new: Path) -> int:
    return len(os.listdir(new))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--rcpt", required=True)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--latency", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    new = Path(a.maildir) / "new"
    before = count(new)

    start = time.monotonic()
    src = subprocess.run([a.source, "-s", str(a.sessions), "-m", str(a.messages), "-l", str(a.size),
                          "-f", "bench@example.org", "-t", a.rcpt, "-c", f"127.0.0.1:{a.port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    accepted = time.monotonic()
    deadline = start + a.timeout
    while count(new) - before < a.messages and time.monotonic() < deadline:
        time.sleep(0.005)
    done = time.monotonic()
    delivered = count(new) - before
    rate = delivered / (done - start)
    accept_rate = a.messages / (accepted - start)

    # Latency: one message at a time; a watcher notes when each new file appears.
    seen: dict[str, float] = {}
    known = set(os.listdir(new))
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = time.monotonic()
            for name in os.listdir(new):
                if name not in known:
                    known.add(name)
                    seen[name] = now
            time.sleep(0.0005)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    lat: list[float] = []
    body = ("x" * 78 + "\r\n") * max(1, a.size // 80)  # lines as smtp-source sends them
    with smtplib.SMTP("127.0.0.1", a.port, timeout=60) as s:
        for i in range(a.latency):
            before_files = len(seen)
            s.sendmail("bench@example.org", [a.rcpt], f"Subject: latency {i}\r\n\r\n{body}")
            t250 = time.monotonic()
            end = t250 + 60
            while len(seen) == before_files and time.monotonic() < end:
                time.sleep(0.0002)
            if len(seen) > before_files:
                lat.append(max(seen.values()) - t250)
    stop.set()
    t.join()
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(f"delivered={delivered}/{a.messages} rate={rate:.1f} accept_rate={accept_rate:.1f} "
          f"latency_n={len(lat)} median_ms={statistics.median(lat) * 1000 if lat else float('nan'):.2f} "
          f"p99_ms={p99 * 1000:.2f} source_rc={src.returncode}")


if __name__ == "__main__":
    main()
