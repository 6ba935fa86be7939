#!/usr/bin/python3
"""bench/access/smaps.py: where an idle IMAP session's memory is, by mapping.

Starts --sessions imapd processes (PREAUTH: AUTHENTICATED set, as imaplogin
execs it) on a --messages INBOX made by bench/imap/bench.py, sends each
`a SELECT INBOX` (or --command), then sums /proc/PID/smaps per mapping (heap, stack, each
file's text/data/relro, anonymous) over the sessions and prints the mean
PSS, RSS and private-dirty KiB per session, largest first.

  sudo bench/access/smaps.py --build build [--sessions 40] [--messages 1000]
"""
from __future__ import annotations

import argparse
import collections
import os
import pwd
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "bench" / "imap"))
import bench as imap_bench  # noqa: E402


def smaps(pid: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    name = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        f = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            perms, path = f[1], (f[5] if len(f) > 5 else "[anon]")
            path = os.path.basename(path) if path.startswith("/") else path
            name = f"{path} {perms}"
        elif name and len(f) == 3 and f[2] == "kB" and f[0] in ("Pss:", "Rss:", "Private_Dirty:"):
            out[name][f[0][:-1]] += int(f[1])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--command", default="SELECT INBOX", help="the command each session sends ('' for none)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for imapd (e.g. GLIBC_TUNABLES=...)")
    a = ap.parse_args()
    pw = pwd.getpwnam("nobody")
    work = Path(tempfile.mkdtemp(prefix="smaps-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    try:
        home = work / "home"
        imap_bench.make_maildir(home / "Maildir", a.messages)
        for p in [home, *home.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)
        sp = imap_bench.Spawner([str(a.build.resolve() / "imapd/imapd"), "Maildir"], {
            "PATH": "/usr/bin:/bin", "AUTHENTICATED": "bench", "USER": "bench", "HOME": str(home),
            "MAILDIR": str(home / "Maildir"), "TCPREMOTEIP": "127.0.0.1",
            **dict(e.split("=", 1) for e in a.env)}, home, pw.pw_uid, pw.pw_gid)
        socks = []
        try:
            import socket
            for _ in range(a.sessions):
                s = socket.create_connection(("127.0.0.1", sp.port))
                buf = bytearray()
                imap_bench.read_until(s, b"\r\n", buf)
                if a.command:
                    s.sendall(f"a {a.command}\r\n".encode())
                    imap_bench.read_until(s, b"a OK", buf)
                socks.append(s)
            total: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
            pids = [c.pid for c in sp.children if c.poll() is None][-a.sessions:]
            for pid in pids:
                for k, v in smaps(pid).items():
                    for f, n in v.items():
                        total[k][f] += n
            n = len(pids)
            print(f"{n} idle imapd sessions after `{a.command}`, a {a.messages}-message INBOX; KiB per session")
            print(f"{'mapping':48} {'PSS':>8} {'RSS':>8} {'Priv.dirty':>10}")
            for k, v in sorted(total.items(), key=lambda kv: -kv[1]["Pss"]):
                if v["Pss"] / n >= 1:
                    print(f"{k[:48]:48} {v['Pss'] / n:8.1f} {v['Rss'] / n:8.1f} {v['Private_Dirty'] / n:10.1f}")
            print(f"{'total':48} {sum(v['Pss'] for v in total.values()) / n:8.1f} "
                  f"{sum(v['Rss'] for v in total.values()) / n:8.1f} "
                  f"{sum(v['Private_Dirty'] for v in total.values()) / n:10.1f}")
        finally:
            for s in socks:
                s.close()
            sp.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
