"""Helpers for the couriertcpd integration tests.

- FakeDns: a small DNS server on 127.0.0.1 (UDP) answering PTR, A, AAAA and TXT
  from tables, NXDOMAIN for the rest, and never answering the names in its
  `blackhole` set (a dead resolver). It records the queries it got.
- FakeIdent: an RFC 1413 server on a loopback port.
- Tcpd: runs the built couriertcpd in the foreground and stops it.
- connect_from() / read_env(): a client bound to a chosen 127.x source address,
  and the environment a child printed with `env`.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import backends
from suite import tool

TYPE_A, TYPE_PTR, TYPE_TXT, TYPE_AAAA = 1, 12, 16, 28


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _decode_question(packet: bytes) -> tuple[str, int, int]:
    pos, labels = 12, []
    while True:
        n = packet[pos]
        if n == 0:
            pos += 1
            break
        labels.append(packet[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return ".".join(labels), qtype, pos + 4


class FakeDns:
    def __init__(self) -> None:
        self.ptr: dict[str, str] = {}          # "1.2.3.4" -> "host.example"
        self.a: dict[str, list[str]] = {}      # name -> ["1.2.3.4"]
        self.aaaa: dict[str, list[str]] = {}
        self.txt: dict[str, list[str]] = {}
        self.blackhole: set[str] = set()       # lowercase names never answered
        self.queries: list[tuple[str, int]] = []
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def reverse_name(ip: str) -> str:
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"

    def add_host(self, ip: str, name: str, forward: str | None = None) -> None:
        """PTR ip -> name, and A name -> forward (default: ip itself)."""
        self.ptr[ip] = name
        self.a.setdefault(name.lower(), []).append(forward or ip)

    def wait_for_query(self, name: str, timeout_s: float = 30) -> None:
        name = name.lower()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not any(q[0] == name for q in self.queries):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the fake DNS server never got a query for {name}; got {self.queries}")
                self._cond.wait(left)

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def _answers(self, name: str, qtype: int) -> list[bytes] | None:
        lname = name.lower()
        rdatas: list[bytes] = []
        if qtype == TYPE_PTR and lname.endswith(".in-addr.arpa"):
            ip = ".".join(reversed(lname[:-len(".in-addr.arpa")].split(".")))
            if ip in self.ptr:
                rdatas.append(_encode_name(self.ptr[ip]))
        elif qtype == TYPE_A and lname in self.a:
            rdatas = [socket.inet_aton(ip) for ip in self.a[lname]]
        elif qtype == TYPE_AAAA and lname in self.aaaa:
            rdatas = [socket.inet_pton(socket.AF_INET6, ip) for ip in self.aaaa[lname]]
        elif qtype == TYPE_TXT and lname in self.txt:
            rdatas = [bytes([len(t)]) + t.encode() for t in self.txt[lname]]
        known = (lname in self.a or lname in self.aaaa or lname in self.txt
                 or (lname.endswith(".in-addr.arpa")
                     and ".".join(reversed(lname[:-13].split("."))) in self.ptr))
        return rdatas if known else None

    def _serve(self) -> None:
        while not self._stop:
            try:
                packet, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            try:
                name, qtype, end = _decode_question(packet)
            except (IndexError, struct.error):
                continue
            with self._cond:
                self.queries.append((name.lower(), qtype))
                self._cond.notify_all()
            if name.lower() in self.blackhole:
                continue  # a resolver that never answers
            rdatas = self._answers(name, qtype)
            rcode = 3 if rdatas is None else 0
            rdatas = rdatas or []
            header = struct.pack("!HHHHHH", struct.unpack("!H", packet[:2])[0], 0x8180 | rcode, 1,
                                 len(rdatas), 0, 0)
            body = packet[12:end]
            for rd in rdatas:
                body += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rd)) + rd
            try:
                self._sock.sendto(header + body, peer)
            except OSError:
                pass


class FakeIdent:
    """Answers every ident query with USERID for `user`."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.queries: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                while b"\n" not in data and len(data) < 1000:
                    chunk = conn.recv(100)
                    if not chunk:
                        break
                    data += chunk
                query = data.decode().strip()
                self.queries.append(query)
                ports = query.replace(" ", "")
                conn.sendall(f"{ports} : USERID : UNIX : {self.user}\r\n".encode())

    def close(self) -> None:
        self._sock.close()


def connect_from(source_ip: str, port: int, host: str = "127.0.0.1", timeout_s: float = 30) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    if source_ip:
        s.bind((source_ip, 0))
    s.connect((host, port))
    return s


def read_all(s: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def parse_env(data: bytes) -> dict[str, str]:
    env = {}
    for line in data.decode("utf-8", "replace").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def served_env(port: int, source_ip: str = "127.0.0.1") -> bool:
    """For poll_until: whether a connection is served now (the socket is closed either way)."""
    with connect_from(source_ip, port, timeout_s=10) as s:
        return b"TCPREMOTEIP=" in read_all(s)


def env_of(port: int, source_ip: str = "127.0.0.1", host: str = "127.0.0.1") -> dict[str, str]:
    """Connects and returns the environment the child printed (child: env, then exit)."""
    with connect_from(source_ip, port, host) as s:
        return parse_env(read_all(s))


# The child for tests that keep connections open: prints its environment and
# an END marker, then waits until the client closes.
WAITING_CHILD = ["/bin/sh", "-c", "env; echo END; read line"]
ENV_CHILD = ["/usr/bin/env"]


class Tcpd:
    """couriertcpd in the foreground, logging to a file."""

    def __init__(self, tmp: Path, options: list[str], child: list[str], *, ports: str | None = None,
                 env: dict | None = None, preexec=None) -> None:
        self.port = backends.free_port()
        self.log = tmp / f"couriertcpd-{self.port}.log"
        self.argv = [tool("tcpd/couriertcpd"), *options, ports or f"127.0.0.1.{self.port}", *child]
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self._logf, stderr=self._logf, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=preexec)
        # Ready when it says it listens: a probe connection would start a child
        # and take a slot that the limit tests count.
        backends.poll_until(lambda: "INFO: listening on" in self.log_text(), what="couriertcpd start",
                            proc=self.proc, log_path=self.log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()
        return self.proc.returncode

    def __enter__(self) -> "Tcpd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def make_access(tmp: Path, text: str, name: str = "access") -> Path:
    src = tmp / name
    src.write_text(text)
    dat = tmp / f"{name}.dat"
    r = subprocess.run([tool("tcpd/makesmtpaccess"), f"-src={src}", f"-file={dat}", "-nohup"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return dat


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
