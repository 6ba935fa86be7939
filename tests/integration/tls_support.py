"""Helpers for the TLS integration tests (test_tls*.py): certificates made
with the cryptography package, and a minimal stand-in for couriertcpd that
runs a command per connection with the socket on fds 0/1 and Courier's
TCP* variables, so couriertls is tested on its own.
"""
from __future__ import annotations

import datetime
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import backends
from suite import tool
from tcpd_support import Tcpd


@dataclass
class Identity:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path, *, crlf: bool = False, extra: bytes = b"") -> Path:
        """Key and certificate in one file, mode 600 (as mkimapdcert makes it)."""
        data = self.key_pem() + self.cert_pem() + extra
        if crlf:
            data = data.replace(b"\n", b"\r\n")
        path.write_bytes(data)
        path.chmod(0o600)
        return path


def make_identity(cn: str, *, issuer: Identity | None = None, email: str | None = None,
                  dns: list[str] | None = None, ca: bool = False, days: int = 30,
                  expired: bool = False, bits: int = 2048) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    name = x509.Name(attrs)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=60), now - datetime.timedelta(days=1)) if expired else (
        now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days))
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.cert.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]),
                                        critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Identity(key, cert)


@dataclass
class MiniTcpd:
    """Accepts on 127.0.0.1 and runs argv per connection (socket on fds 0/1)."""
    argv: list[str]
    env: dict
    log: Path
    sock: socket.socket = field(init=False)
    procs: list = field(default_factory=list)

    def __post_init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._log = open(self.log, "ab")
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            env = dict(self.env, TCPREMOTEIP=addr[0], TCPREMOTEPORT=str(addr[1]),
                       TCPLOCALIP="127.0.0.1", TCPLOCALPORT=str(self.port))
            proc = subprocess.Popen(self.argv, stdin=conn, stdout=conn, stderr=self._log, env=env,
                                    preexec_fn=lambda: backends._set_pdeathsig(9))
            conn.close()
            self.procs.append(proc)

    def wait_all(self, timeout_s: float = 30) -> list[int]:
        """Exit codes of every connection's process so far (waits for each)."""
        return [p.wait(timeout=timeout_s) for p in list(self.procs)]

    def stop(self):
        # close() alone does not wake a thread blocked in accept(): it would go
        # on accepting on the freed descriptor number, which the next test's
        # listener may get, and steal that test's connections.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=10)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self._log.close()

    def log_text(self) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")


class CouriertcpdTls(Tcpd):
    """The real couriertcpd running "couriertls -server -tcpd argv...", which it
    serves in-process (tcpd/tls_inprocess.hpp) unless env says
    TCPD_TLS_INPROCESS=0: the interface of MiniTcpd, for tests that run over both."""

    def __init__(self, argv: list[str], env: dict, log: Path, options: list[str] = ()):
        super().__init__(log.parent, ["-nodnslookup", "-noidentlookup", "-maxprocs=100", "-maxperip=100", *options],
                         [couriertls(), *argv], env=env, preexec=lambda: backends._set_pdeathsig(9))

    def _children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def wait_all(self, timeout_s: float = 30) -> None:
        """Waits until every connection's process has ended. couriertcpd does
        not report their exit codes: the tests check the log instead."""
        backends.poll_until(lambda: not self._children(), what="the connections' processes to end",
                            timeout_s=timeout_s)


# How a test serves couriertls: "exec" runs couriertls per connection behind
# MiniTcpd; "couriertcpd" behind the real couriertcpd, which serves it in-process.
SERVE_MODES = ["exec", "couriertcpd"]


def serve_couriertls(mode: str, argv: list[str], env: dict, log: Path):
    """argv: couriertls's arguments (-server -tcpd ... program)."""
    if mode == "couriertcpd":
        return CouriertcpdTls(argv, env, log)
    return MiniTcpd([couriertls(), *argv], env, log)


def couriertls() -> str:
    return tool("tls/couriertls")


def tls_env(**settings: str) -> dict:
    """A clean environment with only the given TLS_* settings (plus PATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLS_")}
    env.update(settings)
    return env


def startup_failure(env: dict) -> tuple[int, str, str]:
    """Runs couriertls as STARTTLS would, with settings that should fail at
    start-up: returns (exit code, stderr, -statusfd text)."""
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        proc = subprocess.run([couriertls(), "-server", f"-remotefd={a.fileno()}", f"-statusfd={w}",
                               f"-localfd={a.fileno()}"],
                              pass_fds=(a.fileno(), w), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30)
        os.close(w)
        w = -1
        status = os.read(r, 65536).decode(errors="replace")
        return proc.returncode, proc.stderr.decode(errors="replace"), status
    finally:
        a.close()
        b.close()
        os.close(r)
        if w >= 0:
            os.close(w)
