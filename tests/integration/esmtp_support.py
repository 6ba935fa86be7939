"""Helpers for the SMTP integration tests (test_esmtpd*.py).

Esmtpd runs the real couriertcpd (with -user=nobody when the tests run as
root: esmtpd refuses root) in front of the real esmtpd, with a private
sysconfdir (me, hosteddomains.dat, aliases.dat, bofh, smtpaccess.dat) and a
private queue, and authdaemond from suite.MailSystem for the recipient checks.
"""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

import backends
from suite import BUILD, MailSystem, tool


def unprivileged() -> tuple[int, int]:
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class Esmtpd:
    def __init__(self, root: Path, mail: MailSystem, *, access: str = "127.0.0.1\tallow,RELAYCLIENT\n",
                 env: dict | None = None, files: dict | None = None, wrapper: list[str] | None = None,
                 queue: Path | None = None) -> None:
        self.root = root
        self.etc = root / "etc"
        self.queue = queue or root / "queue"
        self.log = root / "esmtpd.log"
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "me").write_text("mx.example.net\n")
        (self.etc / "hosteddomains").write_text("example.test\n")
        backends.run_tool([tool("esmtpd/makehosteddomains"), f"-src={self.etc / 'hosteddomains'}",
                           f"-file={self.etc / 'hosteddomains.dat'}"])
        for name, text in (files or {}).items():
            (self.etc / name).write_text(text)
        if "aliases" in (files or {}):
            backends.run_tool([tool("esmtpd/makealiases"), f"-src={self.etc / 'aliases'}",
                               f"-alias={self.etc / 'aliases.dat'}"])
        (self.etc / "smtpaccess").write_text(access)
        backends.run_tool([tool("tcpd/makesmtpaccess"), f"-src={self.etc / 'smtpaccess'}",
                           f"-file={self.etc / 'smtpaccess.dat'}", "-nohup"])
        for d in (self.queue, self.queue / "tmp", self.queue / "msgs"):
            d.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        userargs = []
        if os.geteuid() == 0:
            uid, gid = unprivileged()
            for p in (self.queue, self.queue / "tmp", self.queue / "msgs", self.log):
                os.chown(p, uid, gid)
            userargs = ["-user=nobody", f"-group={gid}"]
        self.port = backends.free_port()
        self.env = dict(mail.env, COURIER_SYSCONFDIR=str(self.etc), COURIER_QUEUEDIR=str(self.queue),
                        LOGFILE=str(self.log), ESMTP_TIMEOUT="20")
        self.env.update(env or {})
        argv = [tool("tcpd/couriertcpd"), *userargs, f"-access={self.etc / 'smtpaccess.dat'}",
                "-nodnslookup", "-noidentlookup", "-maxperip=200", "-maxprocs=200", f"-stderr={self.log}", f"127.0.0.1.{self.port}",
                *(wrapper or []), tool("esmtpd/esmtpd")]
        self.tcpd_log = root / "couriertcpd.log"
        self._logf = open(self.tcpd_log, "ab")
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self._logf, stderr=self._logf,
                                     stdin=subprocess.DEVNULL, preexec_fn=lambda: backends._set_pdeathsig(9))
        backends.poll_until(lambda: "listening on" in self.tcpd_log.read_text(errors="replace") + self.log_text(),
                            what="couriertcpd start", proc=self.proc, log_path=self.tcpd_log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def messages(self) -> list[str]:
        return sorted(p.name[:-4] for p in (self.queue / "msgs").glob("*.ctl"))

    def control(self, qid: str) -> str:
        return (self.queue / "msgs" / f"{qid}.ctl").read_text()

    def data(self, qid: str) -> bytes:
        return (self.queue / "msgs" / f"{qid}.data").read_bytes()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()


class RawClient:
    """A socket speaking SMTP by hand, for what smtplib will not send."""

    def __init__(self, port: int, timeout: float = 20) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def reply(self) -> tuple[int, str]:
        """One whole (possibly multi-line) reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise EOFError(f"connection closed; got {lines!r} {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode(errors="replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    def cmd(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.s.close()


def wait_for(pred, what: str, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class MxDns:
    """tcpd_support.FakeDns answering MX queries too (BOFHCHECKDNS, badmx)."""

    def __new__(cls):
        import struct
        import tcpd_support

        class _Dns(tcpd_support.FakeDns):
            def __init__(self) -> None:
                self.mx: dict[str, list[str]] = {}
                super().__init__()

            def _answers(self, name, qtype):
                lname = name.lower()
                if qtype == 15:
                    if lname in self.mx:
                        return [struct.pack("!H", 10) + tcpd_support._encode_name(h) for h in self.mx[lname]]
                    return [] if lname in self.a else None
                return super()._answers(name, qtype)

        return _Dns()
