"""Helpers for test_courierd.py: a loopback DNS server (MX/A), a loopback SMTP sink
with scriptable replies, and a courierd instance with its own sysconfdir and queue.

    dns = DnsServer({"remote.example": {"MX": [(10, "mx.remote.example")]},
                     "mx.remote.example": {"A": ["127.0.0.1"]}})
    sink = SmtpSink(port)                 # records every transaction in sink.messages
    c = Courierd(folder, mail_system, settings={...}, control={"me": "mail.example.test"})
    c.start(); qid = c.inject(b"...", "alice@example.test"); c.wait_empty()
"""
from __future__ import annotations

import os
import pwd
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
from pathlib import Path

import backends
from suite import BUILD, MailSystem, tool


# --------------------------------------------------------------------------- DNS
def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class DnsServer:
    """Answers A and MX queries from a dict; unknown names get NXDOMAIN."""

    TYPES = {1: "A", 15: "MX", 28: "AAAA"}

    def __init__(self, zone: dict):
        self.zone = {k.lower(): v for k, v in zone.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(data), peer)
            except Exception:  # a malformed query is dropped, as a server would
                continue

    def _answer(self, q: bytes) -> bytes:
        qid, flags = struct.unpack("!HH", q[:4])
        pos, labels = 12, []
        while q[pos]:
            n = q[pos]
            labels.append(q[pos + 1:pos + 1 + n].decode())
            pos += n + 1
        qtype, _ = struct.unpack("!HH", q[pos + 1:pos + 5])
        question = q[12:pos + 5]
        name = ".".join(labels).lower()
        kind = self.TYPES.get(qtype, str(qtype))
        self.queries.append((name, kind))
        records = self.zone.get(name)
        rcode = 3 if records is None else 0
        answers = b""
        count = 0
        for value in (records or {}).get(kind, []):
            if kind == "A":
                rdata = socket.inet_aton(value)
            elif kind == "MX":
                rdata = struct.pack("!H", value[0]) + _encode_name(value[1])
            else:
                continue
            answers += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
            count += 1
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode | (flags & 0x0100), 1, count, 0, 0)
        return header + question + answers

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- SMTP
class SmtpSink:
    """A minimal SMTP server: records transactions; replies can be scripted:
    rcpt_replies[address] = "550 5.1.1 no such user"; mail_reply; data_reply;
    capabilities (EHLO keywords)."""

    def __init__(self, port: int = 0, capabilities=("8BITMIME", "DSN", "PIPELINING"),
                 tls_context=None, logins: dict[str, str] | None = None, implicit_tls: bool = False):
        self.messages: list[dict] = []
        self.tls_context = tls_context  # offer STARTTLS with this server context
        self.logins = logins            # offer AUTH PLAIN, accepting these user -> password
        self.rcpt_replies: dict[str, str] = {}
        self.mail_replies: dict[str, str] = {}
        self.data_reply = "250 2.0.0 queued as 12345"
        self.capabilities = list(capabilities)
        self.connections = 0
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                sink.connections += 1
                if implicit_tls:
                    self.request = sink.tls_context.wrap_socket(self.request, server_side=True)
                    self.rfile = self.request.makefile("rb")
                    self.wfile = self.request.makefile("wb", buffering=0)
                self.wfile.write(b"220 sink.example ESMTP\r\n")
                tx: dict = {"rcpts": [], "rcpt_lines": []}
                session = {"tls": implicit_tls, "auth": None}
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode(errors="replace").rstrip("\r\n")
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        caps = ["sink.example"] + sink.capabilities
                        if sink.tls_context and not session["tls"]:
                            caps.append("STARTTLS")
                        if sink.logins is not None:
                            caps.append("AUTH PLAIN")
                        out = "".join(f"250-{c}\r\n" for c in caps[:-1]) + f"250 {caps[-1]}\r\n"
                        self.wfile.write(out.encode())
                    elif verb == "HELO":
                        self.wfile.write(b"250 sink.example\r\n")
                    elif verb == "MAIL":
                        addr = cmd[cmd.find("<") + 1:cmd.find(">")]
                        reply = sink.mail_replies.get(addr, "250 2.1.0 ok")
                        if reply.startswith("2"):
                            tx = {"mail_from": addr, "mail_line": cmd, "rcpts": [], "rcpt_lines": [],
                                  "tls": session["tls"], "auth": session["auth"]}
                        self.wfile.write((reply + "\r\n").encode())
                    elif verb == "RCPT":
                        addr = cmd[cmd.find("<") + 1:cmd.find(">")]
                        reply = sink.rcpt_replies.get(addr, "250 2.1.5 ok")
                        if reply.startswith("2"):
                            tx["rcpts"].append(addr)
                            tx["rcpt_lines"].append(cmd)
                        self.wfile.write((reply + "\r\n").encode())
                    elif verb == "DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = b""
                        while True:
                            chunk = self.rfile.readline()
                            if not chunk or chunk == b".\r\n":
                                break
                            if chunk.startswith(b".."):
                                chunk = chunk[1:]
                            data += chunk
                        tx["data"] = data
                        if sink.data_reply.startswith("2"):
                            sink.messages.append(tx)
                        self.wfile.write((sink.data_reply + "\r\n").encode())
                        tx = {"rcpts": [], "rcpt_lines": []}
                    elif verb == "STARTTLS" and sink.tls_context and not session["tls"]:
                        self.wfile.write(b"220 2.0.0 ready\r\n")
                        self.wfile.flush()
                        self.request = sink.tls_context.wrap_socket(self.request, server_side=True)
                        self.rfile = self.request.makefile("rb")
                        self.wfile = self.request.makefile("wb", buffering=0)
                        session["tls"] = True
                    elif verb == "AUTH" and sink.logins is not None:
                        import base64
                        parts = base64.b64decode(cmd.split()[2]).split(b"\0")
                        user, password = parts[1].decode(), parts[2].decode()
                        if sink.logins.get(user) == password:
                            session["auth"] = user
                            self.wfile.write(b"235 2.7.0 ok\r\n")
                        else:
                            self.wfile.write(b"535 5.7.8 bad credentials\r\n")
                    elif verb == "RSET":
                        tx = {"rcpts": [], "rcpt_lines": []}
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"502 5.5.2 not implemented\r\n")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- courierd
def _mail_user() -> str | None:
    return "nobody" if os.geteuid() == 0 else None


def _as_mail_user():
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)


class Courierd:
    def __init__(self, root: Path, mail_system: MailSystem, settings: dict[str, str] | None = None,
                 control: dict[str, str] | None = None):
        self.root = root
        self.etc = root / "etc"
        self.queue = root / "queue"
        self.log = root / "courierd.log"
        self.etc.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        self.mail_system = mail_system
        self.settings = {"DEFAULTDELIVERY": "./Maildir", "LOGFILE": str(self.log), "QUEUESCAN": "5m"}
        if _mail_user():
            self.settings["MAILUSER"] = _mail_user()
        self.settings.update(settings or {})
        self.control = {"me": "mail.example.test", "hosteddomains": "example.test\n",
                        "retryalpha": "1", "retrybeta": "2", "retrygamma": "2", "retrymaxdelta": "1"}
        self.control.update(control or {})
        self.proc: subprocess.Popen | None = None
        self.write_config()

    def write_config(self) -> None:
        text = "".join(f"{k}='{v}'\n" for k, v in self.settings.items())
        (self.etc / "courierd").write_text(text)
        for name, value in self.control.items():
            (self.etc / name).write_text(value if value.endswith("\n") else value + "\n")

    @property
    def env(self) -> dict:
        return dict(self.mail_system.env, COURIER_QUEUEDIR=str(self.queue), COURIER_SYSCONFDIR=str(self.etc),
                    COURIERESMTP=tool("courierd/courieresmtp"), COURIERD=tool("courierd/courierd"))

    def start(self) -> None:
        self.proc = subprocess.Popen([tool("courierd/courierd"), "-c", str(self.etc)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.root / "courierd.stderr", "ab"),
                                     preexec_fn=lambda: backends._set_pdeathsig(9))
        backends.poll_until(lambda: (self.queue / "trigger").exists() or self.proc.poll() is not None,
                            what="courierd trigger FIFO", timeout_s=30)
        if self.proc.poll() is not None:
            stderr = (self.root / "courierd.stderr").read_text(errors="replace")
            raise RuntimeError(f"courierd exited {self.proc.returncode}: {stderr} {self.log_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        assert self.proc
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def inject(self, message: bytes, *rcpts: str, sender: str = "sender@example.org",
               notify: str | None = None, protocol: str = "LOCAL", auth: str | None = None) -> str:
        argv = [tool("tests/courierd/queue_inject"), "-f", sender, "-P", protocol]
        if auth:
            argv += ["-A", auth]
        if notify:
            argv += ["-N", notify]
        cp = subprocess.run(argv + list(rcpts), input=message, env=self.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_as_mail_user, check=False)
        assert cp.returncode == 0, cp.stderr.decode()
        return cp.stdout.decode().strip()

    def run_tool(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60)

    def qids(self) -> list[str]:
        msgs = self.queue / "msgs"
        return sorted(p.name[:-4] for p in msgs.glob("*.ctl")) if msgs.exists() else []

    def control_text(self, qid: str) -> str:
        return (self.queue / "msgs" / f"{qid}.ctl").read_text()

    def wait_empty(self, timeout_s: float = 30) -> None:
        self._wait(lambda: not self.qids(), "an empty queue", timeout_s)

    def wait_log(self, text: str, timeout_s: float = 30) -> None:
        self._wait(lambda: text in self.log_text(), f"{text!r} in the courierd log", timeout_s)

    def _wait(self, ready, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout_s} s for {what}; queue {self.qids()}; log:\n"
                                     f"{self.log_text()[-4000:]}")
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
