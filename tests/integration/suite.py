"""A small mail system for the service tests: authdaemond with authuserdb and
accounts with Maildirs, in a temporary folder.

    def test_x(mail_system):
        alice = mail_system.add_account("alice@example.test", "secret")
        env = mail_system.env          # AUTHDAEMON_SOCKET and friends, for the services
        alice.maildir                  # Path of her Maildir (cur/ new/ tmp/ made)

Accounts belong to the user running the tests, or, when that is root, to a
dedicated unprivileged uid (mail is never read as root), which owns their
homes. Services under test find authdaemond through AUTHDAEMON_SOCKET.
"""
from __future__ import annotations

import os
import signal
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import backends

SRC = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SUITE_BUILD", SRC / "build"))
AUTHLIB = BUILD / "authlib"


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# The mail user couriertls runs as when started by root (DESIGN.md,
# Privileges; lib::mail_user_name() reads MAILUSER): courier where that
# account exists, nobody on a test machine without one. Every program the
# tests start inherits it.
MAIL_USER = os.environ.get("MAILUSER") or ("courier" if _account_exists("courier") else "nobody")
os.environ["MAILUSER"] = MAIL_USER


def _mail_group() -> str:
    import grp
    return grp.getgrgid(pwd.getpwnam(MAIL_USER).pw_gid).gr_name


def tool(name: str) -> str:
    """Path of a built program, e.g. tool("authlib/authtest"); skips the test when missing."""
    path = BUILD / name
    if not path.exists():
        backends.skip_or_fail(f"{path} is not built")
    return str(path)


def mail_uid_gid() -> tuple[int, int]:
    """The uid/gid test accounts get: ours, or nobody's when we are root."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


@dataclass
class MailAccount:
    address: str
    password: str
    home: Path
    uid: int
    gid: int

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"


class MailSystem:
    def __init__(self, root: Path):
        self.root = root
        self.etc = root / "etc"
        self.var = root / "var"
        self.homes = root / "home"
        for d in (self.etc, self.var, self.homes):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        os.chmod(self.homes, 0o755)
        self.userdb = self.etc / "userdb"
        self.log = self.var / "authdaemond.log"
        self.rc = self.etc / "authdaemonrc"
        self.rc.write_text(
            'authmodulelist="authuserdb"\n'
            "daemons=3\n"
            f"authdaemonvar={self.var / 'authdaemon'}\n"
            f"LOGFILE={self.log}\n"
            "DEBUG_LOGIN=1\n"
            "AUTH_TIMEOUT=10\n"
            f"USERDB={self.userdb}\n"
            # The login processes' children run as the mail user and must
            # reach the socket, as authdaemongroup=MAILGROUP does on an install.
            + (f"authdaemongroup={_mail_group()}\n" if os.geteuid() == 0 else ""))
        self.accounts: dict[str, MailAccount] = {}
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.var / "authdaemon" / "socket"

    @property
    def env(self) -> dict:
        return dict(os.environ, AUTHDAEMON_SOCKET=str(self.socket), USERDB=str(self.userdb))

    def _run(self, *argv: str, input: str | None = None) -> None:
        cp = subprocess.run(list(argv), input=input, env=self.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if cp.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stdout}")

    def add_account(self, address: str, password: str, **fields: str) -> MailAccount:
        """Adds (or replaces) a userdb account with a Maildir, then runs makeuserdb."""
        uid, gid = mail_uid_gid()
        home = self.homes / address.replace("@", "_at_")
        (home / "Maildir").mkdir(parents=True, exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            for path in [home, *home.rglob("*")]:
                os.chown(path, uid, gid)
        settings = [f"home={home}", f"uid={uid}", f"gid={gid}"] + [f"{k}={v}" for k, v in fields.items()]
        self._run(tool("authlib/userdb"), address, "set", *settings)
        hashed = subprocess.run([tool("authlib/userdbpw")], input=password + "\n", text=True,
                                stdout=subprocess.PIPE, check=True).stdout.strip()
        self._run(tool("authlib/userdb"), address, "set", f"systempw={hashed}")
        self._run(tool("authlib/makeuserdb"))
        account = MailAccount(address, password, home, uid, gid)
        self.accounts[address] = account
        return account

    def start(self) -> None:
        # A socket left by an earlier authdaemond would end the wait below at
        # once, before the new one has set its directory's group.
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen([tool("authlib/authdaemond"), "-c", str(self.rc), "foreground"],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: backends._set_pdeathsig(9))
        backends.poll_until(lambda: self.socket.exists() or self.proc.poll() is not None,
                            what="authdaemond socket", timeout_s=30)
        if self.proc.poll() is not None:
            raise RuntimeError(f"authdaemond exited: {backends.log_tail(self.log)}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def mail_system(public_tmp: Path):
    """authdaemond (authuserdb) running with no accounts yet; add them with add_account()."""
    system = MailSystem(Path(public_tmp) / "mail")
    system.start()
    yield system
    system.stop()


class ModuleDaemon:
    """authdaemond in the foreground with one module (authldap, authpgsql, ...)
    and that module's configuration file, all in folder (short enough for the
    socket path); its log in folder/auth.log. The module tests subclass it.
    With rc_text None, rc_file is an existing file's path (e.g. USERDB=...)
    the daemon is pointed at, as it is."""

    def __init__(self, folder: Path, module: str, rc_setting: str, rc_file: str | Path, rc_text: str | None,
                 daemons: int = 2):
        self.folder = folder
        self.module = module
        self.socket = folder / "socket"
        self.log_path = folder / "auth.log"
        self.rc_path = folder / "authdaemonrc"
        self.module_rc_path = folder / rc_file
        if rc_text is not None:
            self.write_module_rc(rc_text)
        self.rc_path.write_text(
            f'authmodulelist="{module}"\n'
            f"daemons={daemons}\n"
            f"authdaemonvar={folder}\n"
            f"LOGFILE={self.log_path}\n"
            "DEBUG_LOGIN=1\n"
            f"{rc_setting}={self.module_rc_path}\n"
            "AUTH_TIMEOUT=5\n")
        self.proc: subprocess.Popen | None = None

    def write_module_rc(self, text: str) -> None:
        # A new file renamed into place, as an editor saves it: a worker never
        # reads half a file. Readable by the daemon whatever user it runs as.
        tmp = self.module_rc_path.with_suffix(".new")
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.rename(self.module_rc_path)

    def start(self):
        self.proc = subprocess.Popen(
            [tool("authlib/authdaemond"), "-c", str(self.rc_path), "foreground"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        backends.wait_for_socket(self.socket, proc=self.proc, log_path=self.log_path,
                                 what=f"authdaemond with {self.module}", timeout_s=60)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def authtest(self, *args: str, service: str | None = None) -> subprocess.CompletedProcess:
        argv = [tool("authlib/authtest"), "-S", str(self.socket)]
        if service:
            argv += ["-s", service]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)

    def enumerate(self) -> subprocess.CompletedProcess:
        return subprocess.run([tool("authlib/authenumerate"), "-S", str(self.socket)],
                              capture_output=True, text=True, timeout=60)

    def explain(self, cp: subprocess.CompletedProcess) -> str:
        return (f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}\n"
                f"{backends.log_tail(self.log_path)}")


def daemon_starter(public_tmp: Path, make):
    """For a fixture: yields start(rc_text) -> a started make(folder, rc_text);
    stops every daemon it started afterwards."""
    started: list = []

    def start(rc_text: str):
        folder = public_tmp / f"authd{len(started)}"
        folder.mkdir(mode=0o711)
        daemon = make(folder, rc_text)
        started.append(daemon)
        return daemon.start()
    try:
        yield start
    finally:
        for d in started:
            d.stop()
