"""Helpers for the IMAP integration tests: runs imaplogin (and through it imapd)
once per connection on a loopback socket, as couriertcpd would: the client on
fd 0/1, TCPREMOTEIP/TCPREMOTEPORT/TCPLOCALPORT in the environment.

    server = ImapServer(mail_system, tmp_path)        # started
    with server.imap() as m:                          # imaplib.IMAP4, not logged in
        m.login(account.address, account.password)
"""
from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import threading
from pathlib import Path

import backends
from suite import tool

imaplib._MAXLINE = 10_000_000


class ImapServer:
    def __init__(self, mail_system, name: str = "imap", **settings: str):
        self.mail_system = mail_system
        workdir = Path(mail_system.root) / name  # reachable by the account's uid
        self.imaplogin = tool("imapd/imaplogin")
        self.imapd = tool("imapd/imapd")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)
        self.log = workdir / "imapd.log"
        self.log.touch()
        os.chmod(self.log, 0o666)  # imapd runs as the account and appends too
        self.settings = {"IMAP_LOGFILE": str(self.log), "IMAP_BAD_LOGIN_DELAY": "0"}
        self.settings.update(settings)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.procs: list[subprocess.Popen] = []
        self.stderr = open(workdir / "stderr.log", "ab")
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def env(self, peer_port: int) -> dict:
        env = dict(self.mail_system.env)
        env.update(self.settings)
        env.update(TCPREMOTEIP="127.0.0.1", TCPREMOTEPORT=str(peer_port), TCPLOCALIP="127.0.0.1",
                   TCPLOCALPORT=str(self.port))
        return env

    def _accept_loop(self) -> None:
        while not self.stopping:
            try:
                conn, addr = self.listener.accept()
            except OSError:
                return
            try:
                proc = subprocess.Popen([self.imaplogin, self.imapd, "Maildir"], stdin=conn.fileno(),
                                        stdout=conn.fileno(), stderr=self.stderr,
                                        env=self.env(addr[1]), close_fds=True,
                                        preexec_fn=lambda: backends._set_pdeathsig(9))
                with self.lock:
                    self.procs.append(proc)
            finally:
                conn.close()

    def imap(self, timeout: float = 30) -> imaplib.IMAP4:
        return imaplib.IMAP4("127.0.0.1", self.port, timeout=timeout)

    def login(self, account) -> imaplib.IMAP4:
        m = self.imap()
        m.login(account.address, account.password)
        return m

    def raw(self, timeout: float = 30) -> "RawClient":
        return RawClient(("127.0.0.1", self.port), timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stops accepting and ends the sessions; prints the logs (shown by pytest on failure)."""
        print("imapd.log:\n" + self.log_text())
        self.stderr.flush()
        print("stderr:\n" + (self.log.parent / "stderr.log").read_text(errors="replace"))
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=10)
        with self.lock:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                p.wait()


class RawClient:
    """A line-level IMAP client for exact transcripts and hostile input."""

    def __init__(self, address, timeout: float):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until_tag(self, tag: str) -> list[bytes]:
        """Lines up to and including the tagged reply (literals folded in)."""
        lines = []
        while True:
            l = self.line()
            if l.endswith(b"}") and b"{" in l:
                n = int(l[l.rindex(b"{") + 1:-1])
                l = l + b"\r\n" + self.read_exact(n) + self.line()
            lines.append(l)
            if l.startswith(tag.encode() + b" "):
                return lines

    def command(self, tag: str, text: str) -> list[bytes]:
        self.send(f"{tag} {text}\r\n")
        return self.until_tag(tag)

    def closed(self) -> bool:
        """True if the server closed the connection (reads to EOF)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self) -> None:
        self.sock.close()


def deliver(maildir: Path, name: str, text: str, uid: int | None = None, gid: int | None = None) -> Path:
    """Puts a message into maildir/new as a delivery agent would (tmp, then rename)."""
    tmp = maildir / "tmp" / name
    tmp.write_bytes(text.encode())
    if os.geteuid() == 0 and uid is not None:
        os.chown(tmp, uid, gid)
    final = maildir / "new" / name
    os.rename(tmp, final)
    return final


def message(subject: str, body: str = "Hello.\n", sender: str = "bob@example.test") -> str:
    return (f"From: Bob <{sender}>\nTo: alice@example.test\nSubject: {subject}\n"
            f"Date: Mon, 7 Feb 1994 21:52:25 -0800\nMessage-ID: <{abs(hash(subject))}@example.test>\n\n{body}")
