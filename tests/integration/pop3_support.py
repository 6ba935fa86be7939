"""Helpers for the POP3 integration tests (test_pop3*.py).

- Pop3Launcher stands in for couriertcpd: it accepts connections on a free
  loopback port and runs the real pop3login (which executes the real pop3d)
  for each one, with the socket on fds 0 and 1 and couriertcpd's variables
  (TCPREMOTEIP...) in the environment. An optional wrapper (couriertls
  -server -tcpd) goes in front, as the pop3d-ssl start script puts it.
- deliver() drops messages into an account's Maildir the way an MDA does
  (tmp/, then new/, named time.MusecPpid.host,S=size, owned by the account).
- StartScriptPrefix lays out an install (sbin libexec bin etc var) around the
  built programs and generates sbin/pop3d and sbin/pop3d-ssl from
  pop3d/pop3d.rc.in, so the start scripts themselves are tested.
- make_certificates() makes a CA, a server certificate and a client
  certificate (for EXTERNAL) with openssl.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import backends
from suite import BUILD, MAIL_USER, SRC, MailAccount, MailSystem, tool

_counter = itertools.count(1)


def pop3_programs() -> tuple[str, str]:
    return tool("pop3d/pop3login"), tool("pop3d/pop3d")


def optional_tool(name: str, why: str) -> str:
    """A built program, or a skip saying what cannot be tested without it."""
    path = BUILD / name
    if not path.exists():
        backends.skip_or_fail(f"{path} is not built yet: {why}")
    return str(path)


def deliver(account: MailAccount, data: bytes, *, folder: str = "new") -> str:
    """Writes a message into the account's Maildir (new/ by default); returns its file name."""
    n = next(_counter)
    now = time.time()
    # Zero-padded, so that the delivery order is also the name order (the
    # order pop3d numbers messages in).
    base = f"{int(now)}.M{int((now % 1) * 1e6):06d}P{os.getpid()}_{n:06d}.testhost"
    name = f"{base},S={len(data)}"
    tmp = account.maildir / "tmp" / name
    tmp.write_bytes(data)
    if os.geteuid() == 0:
        os.chown(tmp, account.uid, account.gid)
    final = account.maildir / folder / (name if folder == "new" else name + ":2,")
    os.rename(tmp, final)
    return final.name


def deliver_many(account: MailAccount, count: int, make=lambda i: f"Subject: {i}\n\nmessage {i}\n".encode()) -> None:
    """count messages straight into new/ (no fsync: fast enough for 10,000)."""
    newdir = account.maildir / "new"
    stamp = int(time.time())
    is_root = os.geteuid() == 0
    for i in range(count):
        data = make(i)
        path = newdir / f"{stamp}.M{i}P{os.getpid()}_{next(_counter)}.bulk,S={len(data)}"
        with open(path, "wb") as f:
            f.write(data)
            if is_root:
                os.fchown(f.fileno(), account.uid, account.gid)


def maildir_files(account: MailAccount) -> list[str]:
    return sorted(os.listdir(account.maildir / "cur")) + sorted(os.listdir(account.maildir / "new"))


class Pop3Launcher:
    """couriertcpd's part, for tests that do not depend on couriertcpd."""

    def __init__(self, mail_system: MailSystem, log: Path, env: dict | None = None,
                 wrapper: list[str] | None = None, maildir_path: str = "Maildir"):
        pop3login, pop3d = pop3_programs()
        self.log = log
        self.argv = list(wrapper or []) + [pop3login, pop3d, maildir_path]
        self.env = dict(mail_system.env)
        self.env.update({
            "LOGFILE": str(log),
            "POP3AUTH": "PLAIN LOGIN CRAM-MD5",
            "POP3_FAILED_LOGIN_DELAY": "0",
            "DEBUG_LOGIN": "0",
        })
        self.env.update(env or {})
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.procs: list[subprocess.Popen] = []
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, (ip, port) = self.listener.accept()
            except OSError:
                return
            env = dict(self.env, TCPREMOTEIP=ip, TCPREMOTEPORT=str(port),
                       TCPLOCALIP="127.0.0.1", TCPLOCALPORT=str(self.port))
            with conn, open(self.log, "ab") as err:
                proc = subprocess.Popen(self.argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=err,
                                        env=env, close_fds=True,
                                        preexec_fn=lambda: backends._set_pdeathsig(9))
            self.procs = [p for p in self.procs if p.poll() is None] + [proc]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_idle(self, timeout_s: float = 30) -> None:
        """Waits until every session process has ended (its log line is written)."""
        backends.poll_until(lambda: all(p.poll() is not None for p in list(self.procs)),
                            what="pop3 sessions to end", timeout_s=timeout_s)

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(timeout=10)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=15)
            if p.poll() is None:
                p.kill()
                p.wait()


class RawClient:
    """A byte-level POP3 client for what poplib will not send."""

    def __init__(self, port: int, timeout_s: float = 30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multiline(self) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            if line == b".":
                return lines
            lines.append(line[1:] if line.startswith(b"..") else line)

    def login(self, user: str, password: str) -> None:
        assert self.line().startswith(b"+OK")
        self.send(f"USER {user}\r\nPASS {password}\r\n".encode())
        assert self.line().startswith(b"+OK")
        reply = self.line()
        assert reply.startswith(b"+OK"), reply

    def close(self) -> None:
        self.sock.close()


def expected_lines(message: bytes) -> list[bytes]:
    """The lines poplib returns for a message: every LF, CRLF or bare CR ends a line."""
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n")
    if text.endswith(b"\n"):
        lines.pop()
    return lines


def make_certificates(directory: Path, client_email: str | None = None) -> dict[str, Path]:
    """A CA, a server certificate for localhost (key and certificate in one PEM,
    as TLS_CERTFILE wants) and optionally a client certificate with
    emailAddress=client_email signed by the CA."""
    openssl = backends.require_binary("openssl", "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=Test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (directory / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    pem = directory / "pop3d.pem"
    pem.write_bytes((directory / "server.key").read_bytes() + (directory / "server.crt").read_bytes())
    pem.chmod(0o600)
    out["server_pem"] = pem
    out["ca"] = directory / "ca.crt"
    if client_email:
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", f"/CN=client/emailAddress={client_email}")
        run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.crt", "-days", "2")
        out["client_key"] = directory / "client.key"
        out["client_crt"] = directory / "client.crt"
    return out


def client_tls_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(cafile=str(ca))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def tls_env(certs: dict[str, Path]) -> dict[str, str]:
    """The pop3d-ssl settings couriertls and pop3login need."""
    return {
        "COURIERTLS": optional_tool("tls/couriertls", "TLS (STLS, pop3d-ssl) cannot be tested"),
        "TLS_CERTFILE": str(certs["server_pem"]),
        "TLS_VERIFYPEER": "NONE",
    }


class StartScriptPrefix:
    """An install layout around the build: sbin/pop3d and sbin/pop3d-ssl made from
    pop3d/pop3d.rc.in exactly as pop3d/local.mk makes them, the programs linked in
    from the build, and etc/pop3d, etc/pop3d-ssl copied from sysconfdir/."""

    def __init__(self, root: Path, settings: dict[str, str], ssl_settings: dict[str, str] | None = None):
        couriertcpd = optional_tool("tcpd/couriertcpd", "the start scripts run couriertcpd")
        pop3login, pop3d = pop3_programs()
        self.root = root
        dirs = {d: root / d for d in ("sbin", "libexec", "bin", "etc", "var")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        (dirs["var"] / "run").mkdir(exist_ok=True)
        os.chmod(root, 0o755)
        os.symlink(couriertcpd, dirs["sbin"] / "couriertcpd")
        os.symlink(pop3login, dirs["libexec"] / "pop3login")
        os.symlink(pop3d, dirs["libexec"] / "pop3d")
        couriertls = BUILD / "tls" / "couriertls"
        if couriertls.exists():
            os.symlink(couriertls, dirs["bin"] / "couriertls")
        template = (SRC / "pop3d" / "pop3d.rc.in").read_text()
        for name, ssl_flag, startvar in (("pop3d", "0", "POP3DSTART"), ("pop3d-ssl", "1", "POP3DSSLSTART")):
            text = template
            for key, value in {"sbindir": dirs["sbin"], "bindir": dirs["bin"], "sysconfdir": dirs["etc"],
                               "localstatedir": dirs["var"], "pkglibexecdir": dirs["libexec"],
                               "MAILUSER": MAIL_USER, "NAME": name, "SSL": ssl_flag, "STARTVAR": startvar,
                               "DESCRIPTION": "POP3 service"}.items():
                text = text.replace(f"@{key}@", str(value))
            script = dirs["sbin"] / name
            script.write_text(text)
            script.chmod(0o755)
        self.sbin = dirs["sbin"]
        self.etc = dirs["etc"]
        self.var = dirs["var"]
        self._write_config("pop3d", settings)
        self._write_config("pop3d-ssl", ssl_settings or {})

    def _write_config(self, name: str, settings: dict[str, str]) -> None:
        """The shipped file with settings replaced or added (as ./run does)."""
        lines = (SRC / "sysconfdir" / name).read_text().splitlines()
        for key, value in settings.items():
            new = f"{key}={value}"
            for i, line in enumerate(lines):
                if line.startswith(f"{key}="):
                    lines[i] = new
                    break
            else:
                lines.append(new)
        (self.etc / name).write_text("\n".join(lines) + "\n")

    def run(self, script: str, action: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.sbin / script), action], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout_s)

    def stop_all(self) -> None:
        for script in ("pop3d", "pop3d-ssl"):
            with contextlib.suppress(Exception):
                self.run(script, "stop")
