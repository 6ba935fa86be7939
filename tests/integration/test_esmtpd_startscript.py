"""The esmtpd start script (esmtpd/esmtpd.rc.in) in an install layout around the
build: smtpaccess.dat rebuilt when missing or older than smtpaccess/ (and said),
the courierd warning, the queue created for the mail user, start/status/stop."""
from __future__ import annotations

import os
import pwd
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

import backends
from suite import BUILD, SRC, tool


class Prefix:
    def __init__(self, root: Path, port: int):
        self.root = root
        d = {k: root / k for k in ("sbin", "libexec", "bin", "etc", "var")}
        for p in d.values():
            p.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        os.symlink(tool("tcpd/couriertcpd"), d["sbin"] / "couriertcpd")
        os.symlink(tool("tcpd/makesmtpaccess"), d["sbin"] / "makesmtpaccess")
        os.symlink(tool("esmtpd/esmtpd"), d["libexec"] / "esmtpd")
        template = (SRC / "esmtpd" / "esmtpd.rc.in").read_text()
        for name in ("esmtpd", "esmtpd-msa"):
            text = template
            for key, value in {"sbindir": d["sbin"], "bindir": d["bin"], "sysconfdir": d["etc"],
                               "localstatedir": d["var"], "pkglibexecdir": d["libexec"], "NAME": name}.items():
                text = text.replace(f"@{key}@", str(value))
            (d["sbin"] / name).write_text(text)
            (d["sbin"] / name).chmod(0o755)
        user = "nobody" if os.geteuid() == 0 else subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        group = subprocess.run(["id", "-gn", user], capture_output=True, text=True).stdout.strip()
        conf = (SRC / "sysconfdir" / "esmtpd").read_text()
        conf += f"\nMAILUSER={user}\nMAILGROUP={group}\nADDRESS=127.0.0.1\nPORT={port}\nLOGFILE={d['var']}/esmtpd.log\n"
        (d["etc"] / "esmtpd").write_text(conf)
        (d["etc"] / "smtpaccess").mkdir()
        (d["etc"] / "smtpaccess" / "default").write_text("127.0.0.1\tallow,RELAYCLIENT\n")
        (d["etc"] / "me").write_text("mx.example.net\n")
        self.d = d

    def run(self, action: str, name: str = "esmtpd") -> subprocess.CompletedProcess:
        return subprocess.run([str(self.d["sbin"] / name), action], capture_output=True, text=True, timeout=60)


def _argv0(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def test_start_rebuilds_access_and_warns_about_courierd(public_tmp):
    port = backends.free_port()
    p = Prefix(Path(public_tmp) / "inst", port)
    try:
        r = p.run("start")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "smtpaccess.dat is missing: building it with makesmtpaccess" in out
        assert "courierd is not running" in out
        assert (p.d["etc"] / "smtpaccess.dat").exists()
        queue = p.d["var"] / "spool" / "courier"
        assert (queue / "msgs").is_dir()
        assert p.run("status").returncode == 0
        if os.geteuid() == 0:
            # -user=$MAILUSER: couriertcpd drops entirely after binding port 25's
            # socket (issue 14, item 4): no root process serves SMTP.
            nobody = pwd.getpwnam("nobody").pw_uid
            daemons = [pid for pid in os.listdir("/proc") if pid.isdigit() and _argv0(pid) == str(p.d["sbin"] / "couriertcpd")]
            assert daemons
            for pid in daemons:
                uids = [line.split()[1:] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                        if line.startswith("Uid:")][0]
                assert uids == [str(nobody)] * 4, (pid, uids)
        # Relaying for 127.0.0.1 comes from the rebuilt access file.
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            assert c.sendmail("a@b.example", ["x@elsewhere.example"], b"Subject: s\r\n\r\nx\r\n") == {}
        assert len(list((queue / "msgs").glob("*.ctl"))) == 1
        assert p.run("stop").returncode == 0
        # smtpaccess/ edited after the .dat: rebuilt at the next start, and said.
        time.sleep(1.1)
        (p.d["etc"] / "smtpaccess" / "default").write_text("10.1\tallow,RELAYCLIENT\n")
        r = p.run("start")
        assert "newer than" in r.stdout and "rebuilding it" in r.stdout, r.stdout + r.stderr
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            c.ehlo("x")
            c.docmd("MAIL FROM:<a@b.example>")
            assert c.docmd("RCPT TO:<x@elsewhere.example>")[0] == 513
    finally:
        p.run("stop")
    assert p.run("status").returncode == 3
