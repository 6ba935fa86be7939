"""Real authentication back ends for the integration tests.

Starts OpenLDAP's slapd and PostgreSQL 15 as children of the test run, each in its own
temporary folders, on loopback TCP and Unix sockets only; writes a PAM service file
and creates system accounts for the PAM tests. Every server is seeded with the same
mail accounts (ACCOUNT_SPECS), laid out the way Courier's authldaprc and authpgsqlrc
expect them, and can be stopped, restarted on the same port, killed or frozen so a
test can watch a daemon lose its back end and recover.

Readiness is decided by talking to the server (an LDAP anonymous bind, a PostgreSQL
startup packet), never by sleeping; every failure names the server, the command and
ends with the server's log tail. Servers die with the test run (PR_SET_PDEATHSIG) even
when pytest is killed, and leftovers of dead runs (folders, PAM files, accounts, all
named with the owning pid) are swept at the next run.

Imported by conftest.py, so every test module gets the fixtures at the bottom of this
file; the classes can also be used directly for custom set-ups.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import dataclasses
import functools
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import pytest

# Readiness and shutdown deadlines. Generous because two shared cores can be slow;
# polling returns as soon as the server answers, so a healthy server costs far less.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# Lines of a server log quoted in error messages.
LOG_TAIL_LINES = 40
# Unix socket paths are limited by sizeof(sun_path) = 108 including the NUL.
MAX_SOCKET_PATH_BYTES = 107

# Setting SUITE_REQUIRE_BACKENDS=1 turns "package not installed" / "not root" skips
# into failures, so ./check cannot pass while silently skipping the back-end tests.
REQUIRE_ENV = "SUITE_REQUIRE_BACKENDS"

DEBIAN_PACKAGES = ("slapd", "ldap-utils", "postgresql-15", "postgresql-client-15",
                   "libpam-modules", "passwd")

# Prefix of everything this module creates outside pytest's tmp_path; followed by the
# owning pid so a later run can sweep what a killed run left behind.
LEFTOVER_PREFIX = "suitetest"


class BackendError(RuntimeError):
    """A test back end failed to start, stop or answer; the message says why."""


class LdapToolError(BackendError):
    """An ldap-utils client failed; returncode is its exit status (the LDAP result
    code, or 255 when the server could not be reached)."""

    def __init__(self, returncode: int, message: str):
        super().__init__(message)
        self.returncode = returncode


# ---------------------------------------------------------------------------
# Small helpers


def is_root() -> bool:
    return os.geteuid() == 0


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when SUITE_REQUIRE_BACKENDS=1 is set."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def require_binary(path: str, package: str) -> str:
    """Return the absolute path of a program, or skip naming the Debian package."""
    found = path if os.path.isabs(path) and os.access(path, os.X_OK) else shutil.which(path)
    if not found:
        skip_or_fail(f"{path} not found: install it with "
                     f"'apt-get install -y {package}'")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that was free a moment ago.

    The kernel picks it (bind to port 0), so parallel test runs do not collide; another
    process can still take it before our server binds, which the server starters
    handle by retrying with a new port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def log_tail(path: Path | str | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages; never raises."""
    if path is None:
        return "(no log file)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(cannot read log {path}: {e.strerror})"
    tail = text.splitlines()[-lines:]
    if not tail:
        return f"(log {path} is empty)"
    return f"last {len(tail)} lines of {path}:\n" + "\n".join("    " + l for l in tail)


def _describe_exit(proc: subprocess.Popen) -> str:
    rc = proc.returncode
    if rc is None:
        return "is still running"
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


def poll_until(ready: Callable[[], bool], *, what: str, timeout_s: float = START_TIMEOUT_S,
               proc: subprocess.Popen | None = None, log_path: Path | None = None) -> None:
    """Call ready() with a short, growing interval until it returns True.

    ready() may raise OSError for "not yet"; the last such error is quoted on timeout.
    Raises BackendError at once if proc exits, or after timeout_s, with the log tail."""
    deadline = time.monotonic() + timeout_s
    delay_s = 0.005
    last = "no attempt finished"
    while True:
        try:
            if ready():
                return
            last = "not ready yet"
        except OSError as e:
            last = f"{type(e).__name__}: {e}"
        if proc is not None and proc.poll() is not None:
            raise BackendError(f"{what}: the server {_describe_exit(proc)} before it was "
                               f"ready (last check: {last}); {log_tail(log_path)}")
        if time.monotonic() >= deadline:
            raise BackendError(f"{what}: not ready after {timeout_s:.0f} s (last check: "
                               f"{last}); {log_tail(log_path)}")
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.1)


def _socket_family(address: str | os.PathLike | tuple[str, int]) -> int:
    return socket.AF_INET6 if isinstance(address, tuple) and ":" in address[0] else (
        socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX)


def _connect(address, timeout_s: float) -> socket.socket:
    s = socket.socket(_socket_family(address), socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(address if isinstance(address, tuple) else os.fspath(address))
    except BaseException:
        s.close()
        raise
    return s


def wait_for_socket(address: str | os.PathLike | tuple[str, int], *,
                    timeout_s: float = START_TIMEOUT_S, proc: subprocess.Popen | None = None,
                    log_path: Path | None = None, what: str | None = None) -> None:
    """Wait until a stream socket accepts connections.

    address is (host, port) for TCP or a path for a Unix socket. Polls by connecting
    (no fixed sleeps); raises BackendError on timeout or when proc exits first."""
    def ready() -> bool:
        _connect(address, 1.0).close()
        return True
    poll_until(ready, what=what or f"socket {address}", timeout_s=timeout_s, proc=proc,
               log_path=log_path)


def _set_pdeathsig(sig: int) -> None:
    """Runs in the forked child after setuid (subprocess calls preexec_fn after the
    credential change, which would clear the setting): the server gets sig when the
    test run dies, so no server outlives a killed pytest."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_tool(argv: Sequence[str], *, input: str | bytes | None = None,
             env: dict | None = None, timeout_s: float = 60.0, check: bool = True,
             what: str | None = None, log_path: Path | None = None,
             user: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a client tool, capturing text output.

    With check=True a non-zero exit raises BackendError quoting the command, its
    output and (if given) the server log tail."""
    try:
        cp = subprocess.run(list(argv), input=input, env=env, capture_output=True,
                            text=not isinstance(input, bytes), timeout=timeout_s,
                            user=user, group=(pwd.getpwnam(user).pw_gid if user else None),
                            extra_groups=([] if user else None), cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise BackendError(f"{what or argv[0]}: {' '.join(argv)} did not finish within "
                           f"{timeout_s:.0f} s; {log_tail(log_path)}") from e
    if check and cp.returncode != 0:
        raise BackendError(f"{what or argv[0]}: {' '.join(map(str, argv))} exited with "
                           f"status {cp.returncode}\nstdout: {cp.stdout!s:.2000}\n"
                           f"stderr: {cp.stderr!s:.2000}\n{log_tail(log_path)}")
    return cp


# ---------------------------------------------------------------------------
# Folders outside tmp_path
#
# pytest's tmp_path lives under /tmp/pytest-of-<user>, which is mode 0700: a process
# that dropped to another uid (the PostgreSQL cluster owner, or a mail daemon under
# test running as the mail user) cannot reach inside, and long test names can push
# Unix socket paths past 107 bytes. Such files go to a short, per-run folder that
# others may traverse (0711, not list); logs and configuration stay in tmp_path for
# the post-mortem. The folder is on tmpfs (/dev/shm) when there is one: creating the
# thousand files of a PostgreSQL cluster costs about 1 s of kernel time on an ext4
# /tmp and a tenth of that on tmpfs. SUITE_TMPDIR=<dir> chooses another parent.

TMPDIR_ENV = "SUITE_TMPDIR"
_MIN_TMPFS_FREE_BYTES = 512 * 1024 * 1024


def _is_roomy_tmpfs(path: str) -> bool:
    try:
        st = os.statvfs(path)
        with open("/proc/self/mounts") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return False
    real = os.path.realpath(path)
    on_tmpfs = any(m[1] == real and m[2] == "tmpfs" for m in mounts if len(m) > 2)
    return (on_tmpfs and os.access(path, os.W_OK | os.X_OK)
            and st.f_bavail * st.f_frsize >= _MIN_TMPFS_FREE_BYTES)


@functools.lru_cache(maxsize=1)
def public_parent() -> Path:
    """Where make_public_dir() creates folders: $SUITE_TMPDIR, else /dev/shm if it is
    a writable tmpfs with room, else the system temporary folder."""
    chosen = os.environ.get(TMPDIR_ENV)
    if chosen:
        return Path(chosen)
    if _is_roomy_tmpfs("/dev/shm"):
        return Path("/dev/shm")
    return Path(tempfile.gettempdir())


def _sweep_leftovers() -> None:
    """Remove folders of earlier runs whose owning process is gone."""
    pattern = re.compile(rf"^{LEFTOVER_PREFIX}-(\d+)-")
    for parent in {public_parent(), Path(tempfile.gettempdir())}:
        with contextlib.suppress(OSError):
            for entry in parent.iterdir():
                m = pattern.match(entry.name)
                if not m or _pid_alive(int(m.group(1))):
                    continue
                with contextlib.suppress(OSError):
                    if (entry.is_dir() and not entry.is_symlink()
                            and entry.stat().st_uid == os.geteuid()):
                        shutil.rmtree(entry, ignore_errors=True)


def make_public_dir(tag: str) -> Path:
    """A new folder <public_parent>/suitetest-<pid>-<tag>-XXXX, mode 0711, ours."""
    path = Path(tempfile.mkdtemp(prefix=f"{LEFTOVER_PREFIX}-{os.getpid()}-{tag}-",
                                 dir=public_parent()))
    path.chmod(0o711)
    return path


def _check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise BackendError(f"Unix socket path {path} is longer than "
                           f"{MAX_SOCKET_PATH_BYTES} bytes; use a shorter folder")


# ---------------------------------------------------------------------------
# Password hashes and accounts


@functools.lru_cache(maxsize=1)
def _libcrypt() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.crypt.restype = ctypes.c_char_p
    return lib


def crypt_hash(password: str, setting: str) -> str:
    """crypt(3) of password with setting ("$6$salt$", "$1$salt$", or a full hash to
    verify against). Uses libcrypt directly: Python's crypt module is deprecated."""
    out = _libcrypt().crypt(password.encode(), setting.encode())
    if not out or out.startswith(b"*"):
        raise BackendError(f"crypt(3) rejected the setting {setting!r}")
    return out.decode()


def ssha_hash(password: str, salt: bytes) -> str:
    """RFC 2307-style {SSHA}: base64(SHA1(password + salt) + salt)."""
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def verify_password(password: str, stored: str) -> bool:
    """Check password against a stored form this module produces: {SSHA}, {CRYPT}...,
    a bare crypt(3) hash, or cleartext."""
    if stored.upper().startswith("{SSHA}"):
        raw = base64.b64decode(stored[6:])
        return ssha_hash(password, raw[20:]) == stored
    if stored.upper().startswith("{CRYPT}"):
        stored = stored[7:]
    elif not stored.startswith("$"):
        return password == stored
    return crypt_hash(password, stored) == stored


@dataclasses.dataclass(frozen=True)
class Account:
    """A mail account as every back end stores it.

    login is the LDAP uid and the local part; address (login@domain) is what users
    type, the LDAP mail attribute and the SQL id. The stored forms differ per account
    so the tests exercise each password scheme."""
    login: str
    domain: str
    password: str
    name: str
    uid_number: int
    gid_number: int
    home: Path
    maildir: str            # stored value: "" (use the default) or a path
    quota: str              # Courier maildir quota, e.g. "10000000S,1000C"; "" = none
    options: str            # Courier account options, "disableimap=1,..." ; "" = none
    default_delivery: str   # "" = none
    ldap_password: str      # userPassword value: {SSHA}, {CRYPT}$6$, cleartext, ...
    ldap_clear_password: str  # clearPassword attribute; "" = absent
    sql_crypt: str          # users.crypt; "" = use users.clear
    sql_clear: str          # users.clear

    @property
    def address(self) -> str:
        return f"{self.login}@{self.domain}"

    @property
    def maildir_path(self) -> Path:
        """Where the maildir actually is (stored value resolved against home)."""
        if not self.maildir:
            return self.home / "Maildir"
        p = Path(self.maildir)
        return p if p.is_absolute() else self.home / p

    @property
    def option_map(self) -> dict[str, str]:
        return dict(kv.split("=", 1) for kv in self.options.split(",") if kv)


MAIL_DOMAIN = "example.test"
MAIL_GID = 10000

# (login, password, full name, uid, stored password schemes, maildir, quota, options,
#  default delivery). Passwords contain spaces and punctuation on purpose.
ACCOUNT_SPECS = (
    dict(login="alice", password="alice-Pass-1", name="Alice Able", uid_number=10001,
         ldap="ssha", sql="sha512-crypt", maildir="abs", quota="10000000S",
         options="", default_delivery=""),
    dict(login="bob", password="b0b pass:with space&(", name="Bob Baker",
         uid_number=10002, ldap="crypt-sha512", sql="ssha", maildir="Maildir",
         quota="", options="", default_delivery=""),
    dict(login="carol", password="c@rol clear 'pw'", name="Carol Ñúñez",
         uid_number=10003, ldap="clear", sql="clear", maildir="", quota="",
         options="", default_delivery=""),
    dict(login="dave", password="dave-Pass-4", name="Dave Disabled", uid_number=10004,
         ldap="crypt-md5", sql="md5-crypt", maildir="abs", quota="1000000S,100C",
         options="disableimap=1", default_delivery="./Maildir/"),
)


def _stored(scheme: str, password: str, login: str) -> str:
    salt = hashlib.sha256(login.encode()).hexdigest()
    return {
        "ssha": lambda: ssha_hash(password, bytes.fromhex(salt[:16])),
        "crypt-sha512": lambda: "{CRYPT}" + crypt_hash(password, f"$6${salt[:16]}$"),
        "crypt-md5": lambda: "{CRYPT}" + crypt_hash(password, f"$1${salt[:8]}$"),
        "sha512-crypt": lambda: crypt_hash(password, f"$6${salt[:16]}$"),
        "md5-crypt": lambda: crypt_hash(password, f"$1${salt[:8]}$"),
        "clear": lambda: password,
    }[scheme]()


def make_accounts(home_root: Path, domain: str = MAIL_DOMAIN) -> list[Account]:
    """The standard accounts with homes under home_root (not created; see
    create_homes)."""
    accounts = []
    for spec in ACCOUNT_SPECS:
        home = home_root / spec["login"]
        maildir = {"abs": str(home / "Maildir"), "": ""}.get(spec["maildir"], spec["maildir"])
        clear = spec["ldap"] == "clear"
        accounts.append(Account(
            login=spec["login"], domain=domain, password=spec["password"],
            name=spec["name"], uid_number=spec["uid_number"], gid_number=MAIL_GID,
            home=home, maildir=maildir, quota=spec["quota"], options=spec["options"],
            default_delivery=spec["default_delivery"],
            ldap_password=_stored(spec["ldap"], spec["password"], spec["login"]),
            ldap_clear_password=spec["password"] if clear else "",
            sql_crypt="" if spec["sql"] == "clear" else
            _stored(spec["sql"], spec["password"], spec["login"]),
            sql_clear=spec["password"] if spec["sql"] == "clear" else ""))
    return accounts


def create_homes(accounts: Iterable[Account]) -> None:
    """Create each home with an empty maildir (cur, new, tmp), owned by the account's
    uid/gid when running as root."""
    for a in accounts:
        for sub in ("cur", "new", "tmp"):
            (a.maildir_path / sub).mkdir(parents=True, exist_ok=True)
        a.home.chmod(0o700)
        if is_root():
            for dirpath, dirnames, _ in os.walk(a.home):
                os.chown(dirpath, a.uid_number, a.gid_number)
                for d in dirnames:
                    os.chown(os.path.join(dirpath, d), a.uid_number, a.gid_number)


def _account_by_login(accounts: Sequence[Account], key: str) -> Account:
    for a in accounts:
        if key in (a.login, a.address):
            return a
    raise KeyError(f"no seeded account {key!r}; have {[a.login for a in accounts]}")


# ---------------------------------------------------------------------------
# A server process we own


class _ChildServer:
    """A server run as our child in its own process group, logging to log_path.

    Subclasses implement _argv() and _wait_ready(). The log file is appended to across
    restarts so one file tells the whole story."""

    what = "server"
    # Signal for an orderly shutdown, and the one the server gets if pytest dies.
    stop_signal = signal.SIGTERM
    death_signal = signal.SIGTERM

    def __init__(self, log_path: Path, run_as: str | None = None):
        self.log_path = Path(log_path)
        self.run_as = run_as
        self._proc: subprocess.Popen | None = None
        self._frozen = False
        # Last resort if a test forgets to stop us: kill at garbage collection/exit.
        self._proc_box: list = [None]
        weakref.finalize(self, _ChildServer._reap, self._proc_box)

    @staticmethod
    def _reap(box: list) -> None:
        proc = box[0]
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(5)

    # -- to implement
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _wait_ready(self) -> None:
        raise NotImplementedError

    def _env(self) -> dict:
        return dict(os.environ, LC_ALL="C.UTF-8")

    # -- process control
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> None:
        if self.running:
            raise BackendError(f"{self.what}: start() while already running "
                               f"(pid {self._proc.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = self._argv()
        with open(self.log_path, "ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n"
                      .encode())
            log.flush()
            user = self.run_as
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self._env(), start_new_session=True, close_fds=True,
                preexec_fn=functools.partial(_set_pdeathsig, self.death_signal),
                user=user, group=(pwd.getpwnam(user).pw_gid if user else None),
                extra_groups=([] if user else None),
                # Our own cwd may be unreadable for the unprivileged user.
                cwd=("/" if user else None))
        self._proc_box[0] = self._proc
        self._frozen = False

    def start(self) -> None:
        """Start the server and return once it answers; raises BackendError."""
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Orderly shutdown; SIGKILL if it takes longer than timeout_s. Idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(self.stop_signal)
            if self._frozen:
                self.thaw()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with open(self.log_path, "ab") as log:
                    log.write(f"==== did not stop within {timeout_s:.0f} s, "
                              "sending SIGKILL\n".encode())
        self._kill_group()

    def kill(self) -> None:
        """Abrupt death (SIGKILL to the whole process group), as in a crash."""
        if self._proc is not None:
            self._kill_group()

    def _kill_group(self) -> None:
        pgid = self._proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(STOP_TIMEOUT_S)
        # Grandchildren (PostgreSQL backends) are not ours to wait for; poll until the
        # group is empty so a restart finds the port, socket and shared memory free.
        poll_until(lambda: not _group_alive(pgid), what=f"{self.what}: process group "
                   f"{pgid} after SIGKILL", timeout_s=STOP_TIMEOUT_S)
        self._frozen = False

    def freeze(self) -> None:
        """SIGSTOP the server's processes: connections are accepted by the kernel but
        never answered, as with a hung server."""
        if not self.running:
            raise BackendError(f"{self.what}: freeze() but the server is not running")
        os.killpg(self._proc.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """Undo freeze()."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGCONT)
        self._frozen = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def close(self) -> None:
        """Stop the server; subclasses also remove what they created."""
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------
# OpenLDAP slapd

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
LDAP_SCHEMA_DIR = Path("/etc/ldap/schema")
LDAP_MODULE_DIRS = (Path("/usr/lib/ldap"), Path("/usr/lib/x86_64-linux-gnu/ldap"),
                    Path("/usr/libexec/openldap"))

# Courier's authldap schema (OIDs under Courier's arc 1.3.6.1.4.1.10018), so the
# entries can carry mailbox, quota, clearPassword and the disable* options exactly as
# a Courier site's directory does.
COURIER_LDAP_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.10018.1.1.1 NAME 'mailbox'
  DESC 'The absolute path to the mailbox for a mail account in a non-default location'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.10018.1.1.2 NAME 'quota'
  DESC 'A string that represents the quota on a mailbox'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.10018.1.1.3 NAME 'clearPassword'
  DESC 'A separate text that stores the mail account password in clear text'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{128} )
attributetype ( 1.3.6.1.4.1.10018.1.1.4 NAME 'maildrop'
  DESC 'RFC822 Mailbox - mail alias'
  EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )
attributetype ( 1.3.6.1.4.1.10018.1.1.5 NAME 'mailsource'
  DESC 'Message source'
  EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.6 NAME 'virtualdomain'
  DESC 'A mail domain that is mapped to a single mail account'
  EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.7 NAME 'virtualdomainuser'
  DESC 'Mailbox that receives mail for a mail domain'
  EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.8 NAME 'defaultdelivery'
  DESC 'Default mail delivery instructions'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.9 NAME 'disableimap'
  DESC 'Set this attribute to 1 to disable IMAP access'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.10 NAME 'disablepop3'
  DESC 'Set this attribute to 1 to disable POP3 access'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.11 NAME 'disablewebmail'
  DESC 'Set this attribute to 1 to disable webmail access'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.12 NAME 'sharedgroup'
  DESC 'Virtual shared group'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.13 NAME 'disableshared'
  DESC 'Set this attribute to 1 to disable shared mailbox usage'
  EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
attributetype ( 1.3.6.1.4.1.10018.1.1.14 NAME 'mailhost'
  DESC 'Host to which incoming POP/IMAP connections should be proxied'
  EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )
objectclass ( 1.3.6.1.4.1.10018.1.2.1 NAME 'CourierMailAccount'
  DESC 'Mail account object as used by the Courier mail server'
  SUP top AUXILIARY MUST ( mail $ homeDirectory )
  MAY ( uidNumber $ gidNumber $ mailbox $ uid $ cn $ gecos $ description $
        loginShell $ quota $ userPassword $ clearPassword $ defaultdelivery $
        disableimap $ disablepop3 $ disablewebmail $ sharedgroup $ disableshared $
        mailhost ) )
objectclass ( 1.3.6.1.4.1.10018.1.2.2 NAME 'CourierMailAlias'
  DESC 'Mail aliasing/forwarding entry'
  SUP top AUXILIARY MUST ( mail $ maildrop ) MAY ( mailsource $ description ) )
objectclass ( 1.3.6.1.4.1.10018.1.2.3 NAME 'CourierDomainAlias'
  DESC 'Domain mail aliasing/forwarding entry'
  SUP top AUXILIARY MUST ( virtualdomain $ virtualdomainuser )
  MAY ( mailsource $ description ) )
"""

# Account options that are LDAP attributes in Courier's schema.
_LDAP_OPTION_ATTRS = ("disableimap", "disablepop3", "disablewebmail", "sharedgroup",
                      "disableshared", "mailhost")

_LDIF_SAFE = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f]"
                        r"[\x01-\x09\x0b\x0c\x0e-\x7f]*$")


def ldif_line(attr: str, value: str | bytes) -> str:
    """One LDIF attribute line (RFC 2849), base64 when the value is not a SAFE-STRING."""
    if isinstance(value, str) and _LDIF_SAFE.match(value) and not value.endswith(" "):
        return f"{attr}: {value}"
    raw = value.encode() if isinstance(value, str) else value
    return f"{attr}:: {base64.b64encode(raw).decode()}"


def ldif_entry(dn: str, attrs: Sequence[tuple[str, str | bytes]]) -> str:
    return "\n".join([ldif_line("dn", dn)] + [ldif_line(a, v) for a, v in attrs]) + "\n"


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Parse ldapsearch -LLL -o ldif_wrap=no output: one dict per entry, "dn" holds
    [dn], attribute names as the server spelled them, base64 values decoded
    (non-UTF-8 values decode with errors='replace')."""
    entries: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    lines = text.splitlines()
    # Undo line folding even if the caller's ldapsearch wraps.
    unfolded: list[str] = []
    for line in lines:
        if line.startswith(" ") and unfolded:
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    for line in unfolded:
        if not line:
            if current:
                entries.append(current)
                current = {}
            continue
        if line.startswith("#"):
            continue
        attr, sep, rest = line.partition(":")
        if not sep:
            raise BackendError(f"unparseable LDIF line {line!r}")
        if rest.startswith(":"):
            value = base64.b64decode(rest[1:].strip()).decode("utf-8", "replace")
        else:
            value = rest[1:] if rest.startswith(" ") else rest
        current.setdefault(attr, []).append(value)
    if current:
        entries.append(current)
    return entries


def ldap_client_env() -> dict:
    """Environment for ldapsearch & co.: LDAPNOINIT keeps /etc/ldap/ldap.conf and
    ~/.ldaprc (TLS or BASE settings of the machine) out of the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env["LDAPNOINIT"] = "1"
    return env


class SlapdServer(_ChildServer):
    """OpenLDAP slapd with an mdb database for dc=example,dc=test.

    Listens on ldap://127.0.0.1:<port>/ and on an ldapi socket in run_dir (where the
    current uid/gid is mapped to the root DN for SASL EXTERNAL). Configuration,
    database and log live in work_dir.

    Directory layout:
      base_dn                      dc=example,dc=test
      ou=people,<base>             one entry per account (inetOrgPerson, posixAccount,
                                   CourierMailAccount): uid, mail, cn, sn, uidNumber,
                                   gidNumber, homeDirectory, mailbox, quota,
                                   defaultdelivery, userPassword, clearPassword,
                                   disable* options
      cn=authdaemon,ou=services    the service bind DN: reads everything, including
                                   userPassword and clearPassword
    Access: users may bind and read their own entry; anonymous may only bind, unless
    anonymous_read=True, which lets anonymous read everything except passwords.
    """

    what = "slapd"
    stop_signal = signal.SIGTERM     # slapd: orderly shutdown
    death_signal = signal.SIGTERM

    base_dn = "dc=example,dc=test"
    people_dn = "ou=people,dc=example,dc=test"
    root_dn = "cn=admin,dc=example,dc=test"
    bind_dn = "cn=authdaemon,ou=services,dc=example,dc=test"

    def __init__(self, work_dir: Path, run_dir: Path, accounts: Sequence[Account], *,
                 port: int | None = None, anonymous_read: bool = False,
                 extra_ldif: str = ""):
        super().__init__(Path(work_dir) / "slapd.log")
        self.work_dir = Path(work_dir)
        self.run_dir = Path(run_dir)
        self.accounts = list(accounts)
        self.anonymous_read = anonymous_read
        self.extra_ldif = extra_ldif
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.root_pw = "root " + secrets.token_urlsafe(12)
        self.bind_pw = "svc " + secrets.token_urlsafe(12)
        self.ldapi_path = self.run_dir / "ldapi"
        self.conf_path = self.work_dir / "slapd.conf"
        self.db_dir = self.work_dir / "db"
        self.pid_path = self.run_dir / "slapd.pid"
        self.tools_env = ldap_client_env()

    # -- addresses
    @property
    def uri(self) -> str:
        return f"ldap://{self.host}:{self.port}/"

    @property
    def ldapi_uri(self) -> str:
        return "ldapi://" + urllib.parse.quote(str(self.ldapi_path), safe="")

    def user_dn(self, account: Account | str) -> str:
        a = account if isinstance(account, Account) else self.account(account)
        return f"uid={a.login},{self.people_dn}"

    def account(self, login_or_address: str) -> Account:
        return _account_by_login(self.accounts, login_or_address)

    # -- set-up
    def setup(self) -> "SlapdServer":
        """Write the configuration, load the seed with slapadd and start slapd."""
        require_binary(SLAPD, "slapd")
        require_binary(SLAPADD, "slapd")
        for tool in ("ldapsearch", "ldapwhoami", "ldapmodify"):
            require_binary(tool, "ldap-utils")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db_dir.mkdir(exist_ok=True)
        _check_socket_path(self.ldapi_path)
        (self.work_dir / "courier-authldap.schema").write_text(COURIER_LDAP_SCHEMA)
        self.conf_path.write_text(self._config())
        seed = self.work_dir / "seed.ldif"
        seed.write_text(self.seed_ldif())
        run_tool([SLAPADD, "-q", "-f", str(self.conf_path), "-l", str(seed)],
                 what="slapd: loading the seed with slapadd", env=self._env())
        self._start_with_port_retry()
        return self

    def _start_with_port_retry(self) -> None:
        # free_port() cannot reserve the port; if another process took it in between,
        # choose another (only for the first start: a restart must keep the port).
        for attempt in range(5):
            size_before = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self.start()
                return
            except BackendError:
                with open(self.log_path, "rb") as f:
                    f.seek(size_before)
                    in_use = b"Address already in use" in f.read()
                if not in_use or self._fixed_port or attempt == 4:
                    raise
                self.port = free_port()

    def _module_dir(self) -> Path | None:
        for d in LDAP_MODULE_DIRS:
            if (d / "back_mdb.so").exists() or (d / "back_mdb.la").exists():
                return d
        return None

    def _config(self) -> str:
        schemas = [LDAP_SCHEMA_DIR / f"{n}.schema"
                   for n in ("core", "cosine", "nis", "inetorgperson")]
        for s in schemas:
            if not s.exists():
                skip_or_fail(f"{s} is missing: install it with 'apt-get install -y slapd'")
        schemas.append(self.work_dir / "courier-authldap.schema")
        module_dir = self._module_dir()
        modules = f"modulepath {module_dir}\nmoduleload back_mdb\n" if module_dir else ""
        q = lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'
        anonymous = "by anonymous read" if self.anonymous_read else "by anonymous auth"
        return f"""\
# slapd.conf written by tests/integration/backends.py for one test; not for production.
{chr(10).join('include ' + q(s) for s in schemas)}
{modules}pidfile {q(self.pid_path)}
argsfile {q(self.run_dir / 'slapd.args')}
# SASL EXTERNAL over ldapi by the test run's own uid acts as the root DN. slapd.conf
# treats backslash as an escape, so the regex's "\\+" is written "\\\\+".
authz-regexp "^gidNumber={os.getegid()}\\\\+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth$"
  {q(self.root_dn)}
sizelimit 1000

database mdb
maxsize 67108864
suffix {q(self.base_dn)}
rootdn {q(self.root_dn)}
rootpw {ssha_hash(self.root_pw, secrets.token_bytes(8))}
directory {q(self.db_dir)}
index objectClass eq
index uid,mail eq

access to attrs=userPassword,clearPassword
  by dn.exact={q(self.bind_dn)} read
  by self read
  by anonymous auth
  by * none
access to *
  by dn.exact={q(self.bind_dn)} read
  by self read
  {anonymous}
  by * none
"""

    def account_ldif(self, a: Account) -> str:
        attrs: list[tuple[str, str]] = [
            ("objectClass", "inetOrgPerson"), ("objectClass", "posixAccount"),
            ("objectClass", "CourierMailAccount"),
            ("uid", a.login), ("cn", a.name), ("sn", a.name.split()[-1]),
            ("mail", a.address), ("uidNumber", str(a.uid_number)),
            ("gidNumber", str(a.gid_number)), ("homeDirectory", str(a.home)),
            ("userPassword", a.ldap_password)]
        if a.ldap_clear_password:
            attrs.append(("clearPassword", a.ldap_clear_password))
        if a.maildir:
            attrs.append(("mailbox", a.maildir))
        if a.quota:
            attrs.append(("quota", a.quota))
        if a.default_delivery:
            attrs.append(("defaultdelivery", a.default_delivery))
        for k, v in a.option_map.items():
            if k in _LDAP_OPTION_ATTRS:
                attrs.append((k, v))
        return ldif_entry(self.user_dn(a), attrs)

    def seed_ldif(self) -> str:
        entries = [
            ldif_entry(self.base_dn, [("objectClass", "dcObject"),
                                      ("objectClass", "organization"),
                                      ("dc", "example"), ("o", "Example test")]),
            ldif_entry(self.people_dn, [("objectClass", "organizationalUnit"),
                                        ("ou", "people")]),
            ldif_entry(f"ou=services,{self.base_dn}",
                       [("objectClass", "organizationalUnit"), ("ou", "services")]),
            ldif_entry(self.bind_dn, [
                ("objectClass", "organizationalRole"),
                ("objectClass", "simpleSecurityObject"), ("cn", "authdaemon"),
                ("description", "service account of the authentication daemon"),
                ("userPassword", ssha_hash(self.bind_pw, secrets.token_bytes(8)))]),
        ]
        entries += [self.account_ldif(a) for a in self.accounts]
        if self.extra_ldif:
            entries.append(self.extra_ldif.strip("\n") + "\n")
        return "\n".join(entries)

    # -- process
    def _argv(self) -> list[str]:
        # -d keeps slapd in the foreground as our child; "stats" logs each connection
        # and operation, which is what a failing test needs to see.
        return [SLAPD, "-d", "stats", "-f", str(self.conf_path),
                "-h", f"{self.uri} {self.ldapi_uri}"]

    def _wait_ready(self) -> None:
        # The ldapi socket first: it is ours alone, while the TCP port could be
        # answered by another server that took it. slapd opens its listeners in the
        # order of -h, TCP first, so a live ldapi socket means the port is bound too.
        wait_for_socket(self.ldapi_path, proc=self._proc, log_path=self.log_path,
                        what=f"slapd on {self.ldapi_uri}")
        poll_until(lambda: ldap_anonymous_bind(self.host, self.port) == 0,
                   what=f"slapd on {self.uri}", proc=self._proc, log_path=self.log_path)
        if not self.running:
            raise BackendError(f"slapd {_describe_exit(self._proc)} right after starting; "
                               f"{self.log_tail()}")

    def close(self) -> None:
        self.stop()

    # -- client helpers (ldap-utils)
    def _auth_args(self, bind_dn: str | None, bind_pw: str | None, uri: str | None) -> list[str]:
        args = ["-H", uri or self.uri, "-x", "-o", "nettimeout=10"]
        if bind_dn is not None:
            args += ["-D", bind_dn, "-w", bind_pw or ""]
        return args

    def search(self, filter: str = "(objectClass=*)", attrs: Sequence[str] = (), *,
               base: str | None = None, scope: str = "sub", bind_dn: str | None = "",
               bind_pw: str | None = None, uri: str | None = None) -> list[dict[str, list[str]]]:
        """ldapsearch, parsed (see parse_ldif). bind_dn "" (default) binds as the
        service DN, None binds anonymously. "No such object" (32) returns []; other
        failures raise LdapToolError with the LDAP result code as returncode (e.g. 50,
        insufficient access, when the bind DN may not search the base)."""
        if bind_dn == "":
            bind_dn, bind_pw = self.bind_dn, self.bind_pw
        argv = (["ldapsearch", "-LLL", "-o", "ldif_wrap=no"] +
                self._auth_args(bind_dn, bind_pw, uri) +
                ["-b", base or self.base_dn, "-s", scope, filter, *attrs])
        cp = run_tool(argv, env=self.tools_env, check=False, what="ldapsearch",
                      log_path=self.log_path)
        if cp.returncode == 32:
            return []
        if cp.returncode != 0:
            raise LdapToolError(cp.returncode,
                                f"ldapsearch {filter} under {base or self.base_dn} as "
                                f"{bind_dn or 'anonymous'} exited with status "
                                f"{cp.returncode}: {cp.stderr.strip()}; {self.log_tail()}")
        return parse_ldif(cp.stdout)

    def whoami(self, bind_dn: str, password: str, *, uri: str | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
        """ldapwhoami with a simple bind. Exit status 49 means invalid credentials,
        255 that the server could not be reached."""
        argv = ["ldapwhoami"] + self._auth_args(bind_dn, password, uri)
        return run_tool(argv, env=self.tools_env, check=check, what="ldapwhoami",
                        log_path=self.log_path)

    def modify(self, ldif: str) -> None:
        """Apply change records (ldapmodify) as the root DN, e.g. to change a password
        mid-test. Plain entries without changetype are added."""
        argv = ["ldapmodify", "-a"] + self._auth_args(self.root_dn, self.root_pw, None)
        run_tool(argv, input=ldif, env=self.tools_env, what="ldapmodify",
                 log_path=self.log_path)

    def authldaprc(self, **overrides: str | None) -> str:
        """Text of an authldaprc for this directory: service bind, password read from
        userPassword/clearPassword. overrides replace settings; None drops one."""
        settings = {
            "LDAP_URI": self.uri,
            "LDAP_PROTOCOL_VERSION": "3",
            "LDAP_BASEDN": self.people_dn,
            "LDAP_BINDDN": self.bind_dn,
            "LDAP_BINDPW": self.bind_pw,
            "LDAP_TIMEOUT": "5",
            "LDAP_MAIL": "mail",
            "LDAP_FILTER": "(objectClass=CourierMailAccount)",
            "LDAP_DOMAIN": MAIL_DOMAIN,
            "LDAP_HOMEDIR": "homeDirectory",
            "LDAP_MAILDIR": "mailbox",
            "LDAP_DEFAULTDELIVERY": "defaultDelivery",
            "LDAP_MAILDIRQUOTA": "quota",
            "LDAP_FULLNAME": "cn",
            "LDAP_CLEARPW": "clearPassword",
            "LDAP_CRYPTPW": "userPassword",
            "LDAP_UID": "uidNumber",
            "LDAP_GID": "gidNumber",
            "LDAP_AUXOPTIONS": "disableimap=disableimap,disablepop3=disablepop3,"
                               "disablewebmail=disablewebmail,sharedgroup=sharedgroup",
            "LDAP_DEREF": "never",
            "LDAP_TLS": "0",
        }
        return _rc_text(settings, overrides)


def _rc_text(settings: dict[str, str], overrides: dict[str, str | None]) -> str:
    """NAME<TAB>value lines (authldaprc/authpgsqlrc syntax, no trailing spaces)."""
    merged = dict(settings)
    for k, v in overrides.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    for k, v in merged.items():
        if "\n" in v or v != v.rstrip():
            raise ValueError(f"{k}: value {v!r} cannot be written on one line")
    return "".join(f"{k}\t{v}\n" for k, v in merged.items())


def _ber_length(data: bytes, i: int) -> tuple[int, int]:
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 4 or i + 1 + n > len(data):
        raise OSError("bad BER length in LDAP reply")
    return int.from_bytes(data[i + 1:i + 1 + n], "big"), i + 1 + n


def ldap_anonymous_bind(host: str, port: int, timeout_s: float = 2.0) -> int:
    """Send an LDAPv3 anonymous simple bind (RFC 4511 4.2) and return the resultCode
    (0 = success). Raises OSError if the server cannot be reached or does not reply
    within timeout_s. Used as the readiness probe, without spawning a client."""
    # SEQUENCE { messageID 1, [APPLICATION 0] { version 3, name "", simple [0] "" } }
    request = bytes.fromhex("300c020101600702010304008000")
    unbind = bytes.fromhex("30050201024200")
    with _connect((host, port), timeout_s) as s:
        s.sendall(request)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("connection closed before the bind reply")
            reply += chunk
            if len(reply) >= 2:
                length, start = _ber_length(reply, 1)
                if len(reply) >= start + length:
                    break
            if len(reply) > 65536:
                raise OSError("oversized LDAP bind reply")
        with contextlib.suppress(OSError):
            s.sendall(unbind)
    # Find the BindResponse [APPLICATION 1] = 0x61 and its ENUMERATED resultCode.
    pos = reply.find(b"\x61")
    code = reply.find(b"\x0a\x01", pos)
    if pos < 0 or code < 0 or code + 2 >= len(reply):
        raise OSError(f"unexpected LDAP bind reply {reply[:32].hex()}")
    return reply[code + 2]


# ---------------------------------------------------------------------------
# PostgreSQL

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_ROLE = "mailauth"
PG_DATABASE = "mail"
PG_ADMIN = "postgres"

PG_SCHEMA_SQL = f"""\
-- Laid out like Courier's authpgsqlrc defaults (README.authpostgres), with varchar
-- instead of char so values come back without blank padding.
CREATE TABLE users (
    id              varchar(128) PRIMARY KEY,   -- login, including the domain
    crypt           varchar(128) NOT NULL DEFAULT '',
    clear           varchar(128) NOT NULL DEFAULT '',
    name            varchar(128) NOT NULL DEFAULT '',
    uid             integer      NOT NULL DEFAULT 65534,
    gid             integer      NOT NULL DEFAULT 65534,
    home            varchar(255) NOT NULL DEFAULT '',
    maildir         varchar(255) NOT NULL DEFAULT '',
    defaultdelivery varchar(255) NOT NULL DEFAULT '',
    quota           varchar(255) NOT NULL DEFAULT '',
    options         varchar(255) NOT NULL DEFAULT ''
);
-- Courier's sample configuration names the table passwd.
CREATE VIEW passwd AS SELECT * FROM users;
GRANT SELECT ON users, passwd TO {PG_ROLE};
GRANT UPDATE (crypt, clear) ON users, passwd TO {PG_ROLE};
"""


def pg_quote(value: str) -> str:
    """A SQL string literal."""
    if "\0" in value:
        raise ValueError("NUL cannot be stored in a PostgreSQL text value")
    return "'" + value.replace("'", "''") + "'"


def conninfo_quote(value: str) -> str:
    """A libpq connection-string value (quoted when it needs to be)."""
    if value and re.fullmatch(r"[A-Za-z0-9_./@:-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_accepting(socket_path: Path, timeout_s: float = 2.0) -> bool:
    """True once the postmaster at socket_path accepts connections.

    Sends a protocol 3.0 StartupMessage and looks at the first reply: an
    authentication request (or any error but 57P03) means it accepts; 57P03
    (cannot_connect_now: starting up, shutting down, recovering) means not yet."""
    body = struct.pack("!I", 196608) + b"user\0postgres\0database\0postgres\0\0"
    with _connect(socket_path, timeout_s) as s:
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        head = b""
        while len(head) < 5:
            chunk = s.recv(5 - len(head))
            if not chunk:
                raise OSError("connection closed before the startup reply")
            head += chunk
        kind, length = head[:1], struct.unpack("!I", head[1:5])[0]
        if kind not in (b"R", b"E") or not 4 <= length <= 65536:
            raise OSError(f"unexpected startup reply {head!r}")
        # Read the whole message: closing with unread data would reset the connection
        # and make the server log an error for every probe.
        payload = b""
        while len(payload) < length - 4:
            chunk = s.recv(length - 4 - len(payload))
            if not chunk:
                break
            payload += chunk
        if kind == b"R":
            return True
    fields = {f[:1]: f[1:].decode("utf-8", "replace") for f in payload.split(b"\0") if f}
    if fields.get(b"C") == "57P03":
        raise OSError(f"postgres says: {fields.get(b'M', '?')}")
    return True


def _pg_run_as() -> str | None:
    """initdb and postgres refuse to run as root: pick the unprivileged user that owns
    the test cluster. Debian's postgres account is made for this; nobody otherwise."""
    if not is_root():
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    skip_or_fail("running as root but neither a 'postgres' nor a 'nobody' account "
                 "exists to own the PostgreSQL test cluster")
    return None


def _chown_to(path: Path, user: str | None) -> None:
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


class PostgresCluster:
    """An initialised, stopped cluster with the mail database, role and users table,
    to be copied by PostgresServer: on tmpfs a copy takes a tenth of initdb plus
    schema."""

    def __init__(self, parent: Path, log_path: Path):
        self.run_as = _pg_run_as()
        self.root = Path(parent)
        self.data_dir = self.root / "data"
        self.log_path = Path(log_path)
        self.admin_password = "adm " + secrets.token_urlsafe(12)
        self.role_password = "role " + secrets.token_urlsafe(12)

    def create(self) -> "PostgresCluster":
        initdb = require_binary(str(PG_BIN / "initdb"), "postgresql-15")
        require_binary(str(PG_BIN / "postgres"), "postgresql-15")
        require_binary(str(PG_BIN / "psql"), "postgresql-client-15")
        self.root.mkdir(parents=True, exist_ok=True)
        _chown_to(self.root, self.run_as)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        pwfile.chmod(0o600)
        _chown_to(pwfile, self.run_as)
        try:
            run_tool([initdb, "-D", str(self.data_dir), "-U", PG_ADMIN,
                      "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
                     user=self.run_as, cwd=self.root, what="initdb",
                     env=dict(_pg_client_env(), LC_ALL="C.UTF-8"))
        finally:
            pwfile.unlink(missing_ok=True)
        server = PostgresServer(self.root / "setup-run", self.log_path, [], cluster=self,
                                data_dir=self.data_dir, tcp=False)
        server.setup()
        try:
            server.psql(f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD "
                        f"{pg_quote(self.role_password)};\n"
                        f"CREATE DATABASE {PG_DATABASE} TEMPLATE template0 ENCODING 'UTF8';\n")
            server.psql(PG_SCHEMA_SQL, dbname=PG_DATABASE)
        finally:
            server.close()
        return self

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_client_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    env["PGPASSFILE"] = os.devnull
    return env


class PostgresServer(_ChildServer):
    """PostgreSQL 15 with a 'mail' database, a login role and a seeded users table.

    Runs as the unprivileged cluster owner when we are root. Listens on a Unix socket
    in socket_dir and, with tcp=True, on 127.0.0.1:<port>. The users table follows
    Courier's authpgsqlrc defaults (id, crypt, clear, name, uid, gid, home, maildir,
    defaultdelivery, quota, options); a view named passwd shows the same rows."""

    what = "postgres"
    stop_signal = signal.SIGINT      # "fast" shutdown: disconnect clients, checkpoint
    death_signal = signal.SIGQUIT    # "immediate" shutdown if pytest dies

    def __init__(self, root: Path, log_path: Path, accounts: Sequence[Account], *,
                 cluster: PostgresCluster | None = None, data_dir: Path | None = None,
                 tcp: bool = True, port: int | None = None):
        self.cluster = cluster
        super().__init__(log_path, run_as=(cluster.run_as if cluster else _pg_run_as()))
        self.root = Path(root)
        self.data_dir = Path(data_dir) if data_dir else self.root / "data"
        self.socket_dir = self.root / "run"
        self.accounts = list(accounts)
        self.tcp = tcp
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.dbname = PG_DATABASE
        self.role = PG_ROLE
        self.admin_user = PG_ADMIN
        self._own_cluster: PostgresCluster | None = None

    @property
    def role_password(self) -> str:
        return self.cluster.role_password

    @property
    def admin_password(self) -> str:
        return self.cluster.admin_password

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{self.port}"

    @property
    def conninfo(self) -> str:
        """libpq connection string over the Unix socket, as the mail role."""
        return self.conninfo_for(self.role, self.role_password)

    @property
    def conninfo_tcp(self) -> str:
        """libpq connection string over 127.0.0.1:<port>, as the mail role."""
        return self.conninfo_for(self.role, self.role_password, tcp=True)

    def conninfo_for(self, user: str, password: str | None, *, tcp: bool = False,
                     dbname: str | None = None) -> str:
        host = self.host if tcp else str(self.socket_dir)
        parts = [f"host={conninfo_quote(host)}", f"port={self.port}",
                 f"dbname={conninfo_quote(dbname or self.dbname)}",
                 f"user={conninfo_quote(user)}"]
        if password is not None:
            parts.append(f"password={conninfo_quote(password)}")
        parts.append("connect_timeout=10")
        return " ".join(parts)

    def account(self, login_or_address: str) -> Account:
        return _account_by_login(self.accounts, login_or_address)

    def setup(self) -> "PostgresServer":
        """Copy (or create) the cluster, start it and insert the accounts."""
        require_binary(str(PG_BIN / "postgres"), "postgresql-15")
        self.root.mkdir(parents=True, exist_ok=True)
        _chown_to(self.root, self.run_as)
        if self.cluster is None:
            self._own_cluster = PostgresCluster(self.root / "template",
                                                self.log_path).create()
            self.cluster = self._own_cluster
        if not self.data_dir.exists():
            run_tool(["cp", "-a", str(self.cluster.data_dir), str(self.data_dir)],
                     what="copying the PostgreSQL template cluster")
        self.socket_dir.mkdir(exist_ok=True)
        self.socket_dir.chmod(0o755)
        _chown_to(self.socket_dir, self.run_as)
        _check_socket_path(self.socket_path)
        self._start_with_port_retry()
        if self.accounts:
            self.insert_accounts(self.accounts)
        return self

    def _start_with_port_retry(self) -> None:
        for attempt in range(5):
            size_before = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self.start()
                return
            except BackendError:
                with open(self.log_path, "rb") as f:
                    f.seek(size_before)
                    in_use = b"Address already in use" in f.read()
                if not in_use or self._fixed_port or not self.tcp or attempt == 4:
                    raise
                self.port = free_port()

    def insert_accounts(self, accounts: Iterable[Account]) -> None:
        rows = []
        for a in accounts:
            values = [pg_quote(a.address), pg_quote(a.sql_crypt), pg_quote(a.sql_clear),
                      pg_quote(a.name), str(a.uid_number), str(a.gid_number),
                      pg_quote(str(a.home)), pg_quote(a.maildir),
                      pg_quote(a.default_delivery), pg_quote(a.quota), pg_quote(a.options)]
            rows.append("(" + ", ".join(values) + ")")
        self.psql("INSERT INTO users (id, crypt, clear, name, uid, gid, home, maildir, "
                  "defaultdelivery, quota, options) VALUES\n" + ",\n".join(rows) + ";\n",
                  dbname=self.dbname)

    def _argv(self) -> list[str]:
        settings = {
            "listen_addresses": self.host if self.tcp else "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0777",
            # A throw-away cluster: surviving an OS crash is not worth fsync's time.
            # synchronous_commit stays on so a commit survives kill() of the server.
            "fsync": "off", "full_page_writes": "off",
            "shared_buffers": "16MB", "max_connections": "50",
            # Dynamic shared memory in the data folder, not /dev/shm, so a killed
            # server leaves nothing behind outside it.
            "dynamic_shared_memory_type": "mmap",
            "logging_collector": "off", "log_destination": "stderr",
            "log_connections": "on", "log_disconnections": "on",
            "log_line_prefix": "%m [%p] %q%u@%d ", "lc_messages": "C",
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        return argv

    def _env(self) -> dict:
        return dict(_pg_client_env(), LC_ALL="C.UTF-8")

    def _wait_ready(self) -> None:
        poll_until(lambda: pg_accepting(self.socket_path), proc=self._proc,
                   log_path=self.log_path, what=f"postgres on {self.socket_path}")
        if self.tcp:
            wait_for_socket((self.host, self.port), proc=self._proc, log_path=self.log_path,
                            what=f"postgres on {self.host}:{self.port}")

    def psql(self, sql: str, *, user: str | None = None, password: str | None = None,
             dbname: str = "postgres", tcp: bool = False,
             check: bool = True) -> subprocess.CompletedProcess:
        """Run SQL with psql (ON_ERROR_STOP, unaligned, tuples only). Default user is
        the superuser; user=<role> needs password=. Raises BackendError on failure when
        check is set; the result's stdout holds the rows, fields separated by '|'."""
        if user is None:
            user, password = self.admin_user, self.admin_password
        argv = [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", self.conninfo_for(user, None, tcp=tcp, dbname=dbname), "-f", "-"]
        env = dict(_pg_client_env(), PGPASSWORD=password or "", LC_ALL="C.UTF-8")
        return run_tool(argv, input=sql, env=env, check=check,
                        what=f"psql as {user}", log_path=self.log_path)

    def query(self, sql: str, **kwargs) -> list[tuple[str, ...]]:
        """Rows of one query as tuples of strings (NULL as ''), default database mail."""
        kwargs.setdefault("dbname", self.dbname)
        sep = "\x1f"
        argv_sql = f"\\pset fieldsep '{sep}'\n\\pset recordsep_zero\n{sql}"
        out = self.psql(argv_sql, **kwargs).stdout
        return [tuple(r.split(sep)) for r in out.split("\0") if r.strip("\n")]

    def authpgsqlrc(self, **overrides: str | None) -> str:
        """Text of an authpgsqlrc for this database (Unix socket connection, the mail
        role). overrides replace settings; None drops one."""
        settings = {
            "PGSQL_CONNECTION": self.conninfo,
            "PGSQL_USER_TABLE": "users",
            "PGSQL_CRYPT_PWFIELD": "crypt",
            "PGSQL_CLEAR_PWFIELD": "clear",
            "PGSQL_UID_FIELD": "uid",
            "PGSQL_GID_FIELD": "gid",
            "PGSQL_LOGIN_FIELD": "id",
            "PGSQL_HOME_FIELD": "home",
            "PGSQL_NAME_FIELD": "name",
            "PGSQL_MAILDIR_FIELD": "maildir",
            "PGSQL_DEFAULTDELIVERY": "defaultdelivery",
            "PGSQL_QUOTA_FIELD": "quota",
            "PGSQL_AUXOPTIONS_FIELD": "options",
        }
        return _rc_text(settings, overrides)

    def close(self) -> None:
        self.stop()
        if self._own_cluster is not None:
            self._own_cluster.remove()


# ---------------------------------------------------------------------------
# PAM and system accounts (root only)

PAM_DIR = Path("/etc/pam.d")
SYSTEM_ACCOUNT_COMMENT = "suite integration test account"

DEFAULT_PAM_STACK = """\
auth     required  pam_unix.so nodelay
account  required  pam_unix.so
password required  pam_unix.so
session  required  pam_permit.so
"""


def require_root(what: str) -> None:
    if not is_root():
        skip_or_fail(f"{what} needs root; running as uid {os.geteuid()}")


@dataclasses.dataclass
class PamService:
    """A PAM service file /etc/pam.d/<name>, removed by remove()."""
    name: str
    path: Path
    text: str

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


_swept_system_leftovers = False


def _sweep_system_leftovers() -> None:
    """Remove PAM files and accounts of earlier runs whose pid is gone. Only names of
    our own pattern are touched, and accounts only if they carry our comment."""
    global _swept_system_leftovers
    if _swept_system_leftovers or not is_root():
        return
    _swept_system_leftovers = True
    pam_pattern = re.compile(rf"^{LEFTOVER_PREFIX}-(\d+)-[0-9a-f]+$")
    with contextlib.suppress(OSError):
        for p in PAM_DIR.iterdir():
            m = pam_pattern.match(p.name)
            if m and not _pid_alive(int(m.group(1))):
                p.unlink(missing_ok=True)
    user_pattern = re.compile(r"^st(\d+)x[0-9a-f]+$")
    for pw in pwd.getpwall():
        m = user_pattern.match(pw.pw_name)
        if m and pw.pw_gecos == SYSTEM_ACCOUNT_COMMENT and not _pid_alive(int(m.group(1))):
            _userdel(pw.pw_name)


def make_pam_service(stack: str = DEFAULT_PAM_STACK) -> PamService:
    """Write /etc/pam.d/suitetest-<pid>-<hex> with the given module stack."""
    require_root("writing a PAM service file to /etc/pam.d")
    _sweep_system_leftovers()
    name = f"{LEFTOVER_PREFIX}-{os.getpid()}-{secrets.token_hex(4)}"
    path = PAM_DIR / name
    text = ("# Written by the mail suite's integration tests; removed after the test.\n"
            + stack)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return PamService(name=name, path=path, text=text)


@dataclasses.dataclass
class SystemAccount:
    """A real account in /etc/passwd and /etc/shadow, removed by remove()."""
    name: str
    password: str
    uid: int
    gid: int
    home: Path
    shell: str

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def remove(self) -> None:
        _userdel(self.name)


def _retry_locked(argv: list[str], *, input: str | None = None, what: str) -> None:
    """useradd & co. fail with status 10 while another process holds /etc/passwd's
    lock (parallel test runs); retry for a while, then report."""
    deadline = time.monotonic() + 30
    delay_s = 0.05
    while True:
        cp = run_tool(argv, input=input, check=False, what=what)
        if cp.returncode == 0:
            return
        if cp.returncode != 10 or time.monotonic() > deadline:
            raise BackendError(f"{what}: {' '.join(argv)} exited with status "
                               f"{cp.returncode}: {cp.stderr.strip()}")
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.5)


def _userdel(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    # -r removes home and mail spool; -f even if a process of the user is left over.
    _retry_locked(["userdel", "-r", "-f", name], what=f"removing account {name}")


def make_system_account(password: str | None = None, *, create_maildir: bool = True,
                        shell: str = "/usr/sbin/nologin") -> SystemAccount:
    """useradd a user st<pid>x<hex> with its own group and /home/<name>, set its
    password with chpasswd, and (optionally) create ~/Maildir/{cur,new,tmp}."""
    require_root("creating a system account (useradd)")
    require_binary("useradd", "passwd")
    require_binary("chpasswd", "passwd")
    _sweep_system_leftovers()
    name = f"st{os.getpid()}x{secrets.token_hex(3)}"
    password = password or f"Sys pw-{secrets.token_urlsafe(8)}"
    if ":" in password or "\n" in password:
        raise ValueError("chpasswd cannot set a password containing ':' or a newline")
    home = Path("/home") / name
    _retry_locked(["useradd", "--create-home", "--home-dir", str(home), "--shell", shell,
                   "--comment", SYSTEM_ACCOUNT_COMMENT, "--user-group", name],
                  what=f"creating account {name}")
    try:
        _retry_locked(["chpasswd"], input=f"{name}:{password}\n",
                      what=f"setting the password of {name}")
        pw = pwd.getpwnam(name)
        if create_maildir:
            for sub in ("", "cur", "new", "tmp"):
                d = home / "Maildir" / sub
                d.mkdir(mode=0o700, exist_ok=True)
                os.chown(d, pw.pw_uid, pw.pw_gid)
    except BaseException:
        _userdel(name)
        raise
    return SystemAccount(name=name, password=password, uid=pw.pw_uid, gid=pw.pw_gid,
                         home=home, shell=shell)


# PAM through ctypes, to check a service file the way a daemon would use it.
PAM_SUCCESS = 0
PAM_AUTH_ERR = 7
PAM_USER_UNKNOWN = 10
PAM_CONV_ERR = 19
PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2


class _PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class _PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


_PAM_CONV_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int,
                                ctypes.POINTER(ctypes.POINTER(_PamMessage)),
                                ctypes.POINTER(ctypes.POINTER(_PamResponse)),
                                ctypes.c_void_p)


class _PamConv(ctypes.Structure):
    _fields_ = [("conv", _PAM_CONV_FN), ("appdata_ptr", ctypes.c_void_p)]


@dataclasses.dataclass(frozen=True)
class PamResult:
    auth_status: int
    auth_text: str
    acct_status: int | None     # None when authentication already failed
    acct_text: str
    prompts: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.auth_status == PAM_SUCCESS and self.acct_status == PAM_SUCCESS


def pam_authenticate(service: str, user: str, password: str) -> PamResult:
    """pam_start + pam_authenticate (+ pam_acct_mgmt if that succeeded) + pam_end,
    answering every echo-off or echo-on prompt with password."""
    libpam = ctypes.CDLL(ctypes.util.find_library("pam") or "libpam.so.0")
    libc = ctypes.CDLL(None)
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    libpam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.POINTER(_PamConv), ctypes.POINTER(ctypes.c_void_p)]
    libpam.pam_authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_acct_mgmt.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_strerror.restype = ctypes.c_char_p
    prompts: list[str] = []

    def conversation(n, messages, responses, _appdata):
        # PAM frees the replies with free(): allocate them with the C library.
        try:
            array = libc.calloc(n, ctypes.sizeof(_PamResponse))
            if not array:
                return PAM_CONV_ERR
            replies = ctypes.cast(array, ctypes.POINTER(_PamResponse))
            for i in range(n):
                m = messages[i].contents
                prompts.append((m.msg or b"").decode("utf-8", "replace"))
                if m.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                    replies[i].resp = libc.strdup(password.encode())
                replies[i].resp_retcode = 0
            responses[0] = replies
            return PAM_SUCCESS
        except Exception:
            return PAM_CONV_ERR

    conv_fn = _PAM_CONV_FN(conversation)     # must outlive the PAM calls
    conv = _PamConv(conv_fn, None)
    handle = ctypes.c_void_p()
    rc = libpam.pam_start(service.encode(), user.encode(), ctypes.byref(conv),
                          ctypes.byref(handle))
    if rc != PAM_SUCCESS:
        raise BackendError(f"pam_start({service!r}, {user!r}) failed with status {rc}")
    acct_rc = None
    acct_text = ""
    try:
        auth_rc = libpam.pam_authenticate(handle, 0)
        auth_text = libpam.pam_strerror(handle, auth_rc).decode()
        if auth_rc == PAM_SUCCESS:
            acct_rc = libpam.pam_acct_mgmt(handle, 0)
            acct_text = libpam.pam_strerror(handle, acct_rc).decode()
    finally:
        libpam.pam_end(handle, acct_rc if acct_rc is not None else auth_rc)
    return PamResult(auth_rc, auth_text, acct_rc, acct_text, tuple(prompts))


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def _suite_public_root() -> Iterator[Path]:
    """One suitetest-<pid>-run-XXXX folder per test run (see make_public_dir)."""
    _sweep_leftovers()
    root = make_public_dir("run")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def public_tmp(_suite_public_root: Path) -> Path:
    """A per-test folder that processes under other uids can reach (every parent is
    traversable) and short enough for Unix socket paths; removed with the run."""
    path = Path(tempfile.mkdtemp(dir=_suite_public_root, prefix="t"))
    path.chmod(0o711)
    return path


@pytest.fixture
def mail_accounts(public_tmp: Path) -> list[Account]:
    """The standard accounts (ACCOUNT_SPECS), homes and maildirs created under
    public_tmp/homes, owned by their uid/gid when root. slapd and postgres share
    them."""
    home_root = public_tmp / "homes"
    home_root.mkdir()
    home_root.chmod(0o711)
    accounts = make_accounts(home_root)
    create_homes(accounts)
    return accounts


@pytest.fixture
def slapd(tmp_path: Path, public_tmp: Path, mail_accounts: list[Account]) -> Iterator[SlapdServer]:
    """A running slapd seeded with mail_accounts; stopped after the test."""
    server = SlapdServer(tmp_path / "slapd", public_tmp / "slapd", mail_accounts)
    try:
        server.setup()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def _postgres_cluster(tmp_path_factory, _suite_public_root: Path) -> Iterator[PostgresCluster]:
    """initdb plus schema, once per run; each test gets a copy."""
    log = tmp_path_factory.mktemp("postgres-template") / "postgres.log"
    cluster = PostgresCluster(_suite_public_root / "pg-template", log)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres(tmp_path: Path, public_tmp: Path, mail_accounts: list[Account],
             _postgres_cluster: PostgresCluster) -> Iterator[PostgresServer]:
    """A running PostgreSQL with the mail database seeded with mail_accounts; stopped
    and removed after the test (the log stays in tmp_path)."""
    server = PostgresServer(public_tmp / "pg", tmp_path / "postgres.log", mail_accounts,
                            cluster=_postgres_cluster)
    try:
        server.setup()
        yield server
    finally:
        server.close()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pam_service_factory() -> Iterator[Callable[..., PamService]]:
    """make(stack=DEFAULT_PAM_STACK) -> PamService; all removed after the test."""
    made: list[PamService] = []

    def make(stack: str = DEFAULT_PAM_STACK) -> PamService:
        service = make_pam_service(stack)
        made.append(service)
        return service
    try:
        yield make
    finally:
        for service in made:
            service.remove()


@pytest.fixture
def pam_service(pam_service_factory) -> PamService:
    """/etc/pam.d/<unique name> with pam_unix for auth, account and password."""
    return pam_service_factory()


@pytest.fixture
def system_account_factory() -> Iterator[Callable[..., SystemAccount]]:
    """make(password=None, create_maildir=True, shell=...) -> SystemAccount; all
    removed (userdel -r) after the test."""
    made: list[SystemAccount] = []

    def make(password: str | None = None, **kwargs) -> SystemAccount:
        account = make_system_account(password, **kwargs)
        made.append(account)
        return account
    try:
        yield make
    finally:
        errors = []
        for account in made:
            try:
                account.remove()
            except BackendError as e:
                errors.append(str(e))
        if errors:
            raise BackendError("; ".join(errors))


@pytest.fixture
def system_account(system_account_factory) -> SystemAccount:
    """A real system user with a known password, a home and ~/Maildir."""
    return system_account_factory()
