"""Privilege separation (issue 14, DESIGN.md Privileges), looked at from the
outside: the uids and gids of the processes that hold a client's connection,
read from /proc while the session is open; couriertls's refusal of private
keys others can read or own; authdaemond's request deadline, its per-uid
worker limit, and who may ENUMERATE; imapd/pop3d and accounts with gid 0.

Most of these need root (there is nothing to drop otherwise) and skip
without it."""
from __future__ import annotations

import os
import poplib
import pwd
import socket
import subprocess
import time
from pathlib import Path

import pytest

import backends
from pop3_support import (Pop3Launcher, RawClient, StartScriptPrefix, client_tls_context, make_certificates,
                          optional_tool, pop3_programs, tls_env)
from suite import MAIL_USER, tool

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="privileges can only be dropped by root")

OTHER_UID, OTHER_GID = 1, 1  # Debian's "daemon": neither root nor the mail user
HOG_UID = 2  # Debian's "bin": another uid that is neither root nor the mail user
NOGROUP = 65534


def mail_ids() -> tuple[int, int]:
    pw = pwd.getpwnam(MAIL_USER)
    return pw.pw_uid, pw.pw_gid


# ----- /proc: who holds the server side of a client's TCP connection -------

def _socket_inodes_for(client: socket.socket) -> set[str]:
    """Inodes of the server-side sockets whose peer is this client socket."""
    port = client.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port:
                inodes.add(fields[9])
    return inodes


def holders(client: socket.socket) -> dict[int, dict[str, str]]:
    """pid -> {comm, uid (real, effective, saved, fs), gid, groups} of every
    process holding the server side of the client's connection."""
    inodes = {f"socket:[{i}]" for i in _socket_inodes_for(client)}
    found: dict[int, dict[str, str]] = {}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    status = dict(line.split(":", 1) for line in (pid_dir / "status").read_text().splitlines()
                                  if ":" in line)
                    found[int(pid_dir.name)] = {k: status[k].split() for k in ("Name", "Uid", "Gid", "Groups")}
                    break
        except OSError:
            continue
    return found


def assert_unprivileged(procs: dict, uid: int, gid: int, names: set[str]) -> None:
    seen = {p["Name"][0] for p in procs.values()}
    assert names <= seen, f"expected {names} among the connection's holders, found {procs}"
    for pid, p in procs.items():
        if p["Name"][0] not in names:
            continue
        assert p["Uid"] == [str(uid)] * 4, f"{p['Name'][0]} (pid {pid}) runs with uids {p['Uid']}"
        assert p["Gid"] == [str(gid)] * 4, f"{p['Name'][0]} (pid {pid}) runs with gids {p['Gid']}"
        assert set(p["Groups"]) <= {str(gid)}, f"{p['Name'][0]} (pid {pid}) keeps groups {p['Groups']}"


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "wonder land")


@pytest.fixture
def certs(public_tmp):
    return make_certificates(Path(public_tmp) / "certs")


@pytest.fixture
def pop3_launcher(mail_system, public_tmp):
    """Pop3Launcher(env) for one test, closed after it."""
    made = []

    def launch(name: str, env: dict | None = None) -> Pop3Launcher:
        made.append(Pop3Launcher(mail_system, Path(public_tmp) / name, env))
        return made[-1]
    yield launch
    for launcher in made:
        launcher.close()


# ----- couriertls runs as the mail user -------------------------------------

@needs_root
def test_pop3d_ssl_couriertls_runs_as_the_mail_user_before_and_after_login(mail_system, public_tmp, alice, certs):
    optional_tool("tls/couriertls", "pop3d-ssl runs couriertls")
    root = Path(public_tmp) / "install"
    sslport = backends.free_port()
    prefix = StartScriptPrefix(
        root, {"PORT": str(backends.free_port()), "ADDRESS": "127.0.0.1", "LOGFILE": str(root / "pop3d.log"),
               "POP3_FAILED_LOGIN_DELAY": "0", "AUTHDAEMON_SOCKET": str(mail_system.socket)},
        {"SSLPORT": str(sslport), "SSLADDRESS": "127.0.0.1", "TLS_CERTFILE": str(certs["server_pem"]),
         "SSLLOGFILE": str(root / "pop3d-ssl.log")})
    try:
        started = prefix.run("pop3d-ssl", "start")
        assert started.returncode == 0, started.stdout
        uid, gid = mail_ids()
        client = poplib.POP3_SSL("127.0.0.1", sslport, context=client_tls_context(certs["ca"]), timeout=60)
        assert_unprivileged(holders(client.sock), uid, gid, {"couriertls"})  # pre-auth
        client.user(alice.address)
        client.pass_(alice.password)
        assert client.stat() == (0, 0)
        assert_unprivileged(holders(client.sock), uid, gid, {"couriertls"})  # logged in
        client.quit()
    finally:
        prefix.stop_all()


@needs_root
def test_stls_couriertls_runs_as_the_mail_user(alice, certs, pop3_launcher):
    pop3 = pop3_launcher("stls.log", dict(tls_env(certs), POP3_STARTTLS="YES"))
    client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
    client.stls(client_tls_context(certs["ca"]))
    uid, gid = mail_ids()
    assert_unprivileged(holders(client.sock), uid, gid, {"couriertls"})
    client.user(alice.address)
    client.pass_(alice.password)
    assert client.stat() == (0, 0)
    assert_unprivileged(holders(client.sock), uid, gid, {"couriertls"})
    client.quit()


@needs_root
def test_imap_starttls_couriertls_runs_as_the_mail_user(mail_system, alice, certs):
    import imaplib
    from imap_support import ImapServer
    server = ImapServer(mail_system, "starttls", IMAP_STARTTLS="YES", **tls_env(certs))
    try:
        m = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
        m.starttls(client_tls_context(certs["ca"]))
        uid, gid = mail_ids()
        assert_unprivileged(holders(m.sock), uid, gid, {"couriertls"})  # pre-auth
        m.login(alice.address, alice.password)
        assert m.select("INBOX")[0] == "OK"
        assert_unprivileged(holders(m.sock), uid, gid, {"couriertls"})  # logged in
        m.logout()
    finally:
        server.stop()


@needs_root
def test_couriertls_started_by_root_without_user_becomes_the_mail_user(tmp_path, certs):
    from tls_support import MiniTcpd, couriertls, tls_env
    # The program prints its own uid and that of its parent, the relaying couriertls.
    program = ["/bin/sh", "-c", 'echo "$(id -u) $(stat -c %u /proc/$PPID) $(stat -c %g /proc/$PPID)"; exec cat']
    tcpd = MiniTcpd([couriertls(), "-server", "-tcpd", *program], tls_env(TLS_CERTFILE=str(certs["server_pem"])),
                    tmp_path / "couriertls.log")
    try:
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=30) as raw:
            with client_tls_context().wrap_socket(raw) as tls:
                line = tls.makefile("rb").readline().decode()
        uid, gid = mail_ids()
        assert line.split() == ["0", str(uid), str(gid)], line  # the program keeps root; TLS does not
    finally:
        tcpd.stop()


# ----- private key permissions ----------------------------------------------

def couriertls_check(pem: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TLS_CERTFILE": str(pem), "MAILUSER": MAIL_USER}
    return subprocess.run([tool("tls/couriertls"), "-server", "-check"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)


def test_a_key_others_can_read_refuses_the_start_with_the_fix(certs):
    pem = certs["server_pem"]
    assert couriertls_check(pem).returncode == 0
    for mode in (0o640, 0o604):
        pem.chmod(mode)
        r = couriertls_check(pem)
        assert r.returncode == 1, r.stdout
        assert f"mode {mode:04o}" in r.stdout and f"chmod 600 {pem}" in r.stdout, r.stdout
    pem.chmod(0o600)
    assert couriertls_check(pem).returncode == 0


@needs_root
def test_a_key_owned_by_another_user_refuses_the_start_with_the_fix(certs):
    pem = certs["server_pem"]
    os.chown(pem, OTHER_UID, OTHER_GID)
    r = couriertls_check(pem)
    assert r.returncode == 1, r.stdout
    other = pwd.getpwuid(OTHER_UID).pw_name
    assert f"owned by another user (mode 0600, owner {other})" in r.stdout, r.stdout
    assert f"chown root {pem}" in r.stdout, r.stdout
    uid, gid = mail_ids()
    os.chown(pem, uid, gid)  # the mail user's own key is fine
    assert couriertls_check(pem).returncode == 0


@needs_root
def test_pop3d_ssl_start_refuses_a_group_readable_key(mail_system, public_tmp, certs):
    optional_tool("tls/couriertls", "pop3d-ssl runs couriertls")
    root = Path(public_tmp) / "install"
    prefix = StartScriptPrefix(
        root, {"AUTHDAEMON_SOCKET": str(mail_system.socket), "LOGFILE": str(root / "pop3d.log")},
        {"SSLPORT": str(backends.free_port()), "SSLADDRESS": "127.0.0.1",
         "TLS_CERTFILE": str(certs["server_pem"]), "SSLLOGFILE": str(root / "pop3d-ssl.log")})
    try:
        certs["server_pem"].chmod(0o644)
        r = prefix.run("pop3d-ssl", "start")
        assert r.returncode != 0 and "chmod 600" in r.stdout and "not started" in r.stdout, r.stdout
    finally:
        prefix.stop_all()


# ----- imapd / pop3d / accounts never run as root ---------------------------

@needs_root
@pytest.mark.parametrize("gid", [0, NOGROUP])
def test_pop3d_refuses_uid_0_and_gid_0(tmp_path, gid):
    _, pop3d = pop3_programs()
    uid = 0 if gid == NOGROUP else pwd.getpwnam("nobody").pw_uid

    def become():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    env = {"PATH": "/usr/bin:/bin", "AUTHENTICATED": "alice@example.test",
           "TCPREMOTEIP": "127.0.0.1", "TCPREMOTEPORT": "1"}
    os.chmod(tmp_path, 0o777)
    r = subprocess.run([pop3d, str(tmp_path)], env=env, cwd=tmp_path, preexec_fn=become, input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 1
    assert r.stdout.startswith(b"-ERR [SYS/TEMP]"), r.stdout
    log = r.stderr.decode()
    assert ("refuses to run as root (uid 0)" if uid == 0 else "refuses to run with group root (gid 0)") in log, log


@needs_root
def test_an_account_with_gid_0_is_refused(mail_system, pop3_launcher):
    mail_system.add_account("rg@example.test", "pw")
    mail_system._run(tool("authlib/userdb"), "rg@example.test", "set", "gid=0")
    mail_system._run(tool("authlib/makeuserdb"))
    pop3 = pop3_launcher("gid0.log")
    raw = RawClient(pop3.port)
    assert raw.line().startswith(b"+OK")
    raw.send(b"USER rg@example.test\r\nPASS pw\r\n")
    assert raw.line().startswith(b"+OK")
    assert raw.line().startswith(b"-ERR"), "a gid 0 account logged in"
    raw.close()
    pop3.wait_idle()
    assert "has gid 0 (group root)" in pop3.log_text(), pop3.log_text()


# ----- authdaemond ----------------------------------------------------------

def _start_authdaemond(mail_system, extra: str = "") -> None:
    """Restarts the fixture's authdaemond with its socket open to the group
    nogroup, which nobody (the attacker here) and OTHER_UID (given it as a
    supplementary group) are in."""
    mail_system.stop()
    mail_system.rc.write_text(mail_system.rc.read_text() + "authdaemongroup=nogroup\n" + extra)
    mail_system.start()


def _as(uid: int, gid: int):
    def become():
        os.setgroups([NOGROUP])
        os.setgid(gid)
        os.setuid(uid)
    return become


PRE_AS = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(30)
t = time.monotonic()
s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode().decode('unicode_escape').encode())
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
print(repr(data)); print(round(time.monotonic() - t, 3))
"""


def ask_as(mail_system, uid: int, gid: int, request: str) -> tuple[str, float]:
    r = subprocess.run(["python3", "-c", PRE_AS, str(mail_system.socket), request], preexec_fn=_as(uid, gid),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    reply, seconds = r.stdout.splitlines()
    return reply, float(seconds)


@needs_root
def test_idle_connections_from_one_uid_do_not_block_another(mail_system, alice):
    _start_authdaemond(mail_system)
    os.chmod(mail_system.var, 0o755)
    nobody = pwd.getpwnam("nobody")
    hog = subprocess.Popen(["python3", "-c", f"""
import socket, time
socks = []
for _ in range(50):
    s = socket.socket(socket.AF_UNIX); s.connect({str(mail_system.socket)!r}); socks.append(s)
print('connected', flush=True)
time.sleep(60)
"""], preexec_fn=_as(HOG_UID, nobody.pw_gid), stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline().strip() == "connected"
        time.sleep(0.2)
        reply, seconds = ask_as(mail_system, OTHER_UID, OTHER_GID, "PRE . pop3 alice@example.test\\n")
        assert "alice@example.test" in reply, reply
        assert seconds < 1.5, f"another uid waited {seconds} s behind 50 idle connections"
        # The held connection is closed at the request deadline, with a log line.
        backends.poll_until(lambda: f"request from uid {HOG_UID}" in mail_system.log_text()
                            and "not complete within 2000 ms" in mail_system.log_text(),
                            what="the request deadline's log line", timeout_s=10)
    finally:
        hog.kill()
        hog.wait()
    log = mail_system.log_text()
    assert f"connection from uid {HOG_UID}" in log and "at most 1 per uid" in log, log


@needs_root
def test_a_slow_request_is_cut_off_after_2_s(mail_system):
    _start_authdaemond(mail_system)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(mail_system.socket))
    start = time.monotonic()
    s.sendall(b"PRE . pop3 ")  # and never the rest
    assert s.recv(100) == b""
    assert 1.5 < time.monotonic() - start < 5
    backends.poll_until(lambda: "not complete within 2000 ms" in mail_system.log_text(),
                        what="the request deadline's log line", timeout_s=10)


@needs_root
def test_enumerate_and_tcpremoteip_only_from_root_or_the_mail_user(mail_system, alice):
    _start_authdaemond(mail_system)
    os.chmod(mail_system.var, 0o755)
    reply, _ = ask_as(mail_system, OTHER_UID, OTHER_GID, "ENUMERATE\\n")
    assert reply == repr(b"FAIL\n")
    assert f"ENUMERATE from uid {OTHER_UID} refused" in mail_system.log_text()
    uid, gid = mail_ids()
    reply, _ = ask_as(mail_system, uid, gid, "ENUMERATE\\n")
    assert "alice@example.test" in reply, reply
    listed = subprocess.run([tool("authlib/authenumerate")], env=mail_system.env, stdout=subprocess.PIPE,
                            text=True, timeout=30)
    assert "alice@example.test" in listed.stdout
    ask_as(mail_system, OTHER_UID, OTHER_GID, "TCPREMOTEIP=192.0.2.7\\nPRE . pop3 alice@example.test\\n")
    assert f"TCPREMOTEIP from uid {OTHER_UID} ignored" in mail_system.log_text()
    assert "192.0.2.7" not in mail_system.log_text().split("TCPREMOTEIP from uid")[-1]


def test_failed_auths_for_one_account_are_answered_ever_later(mail_system, alice):
    def authtest(password: str) -> tuple[int, float]:
        start = time.monotonic()
        r = subprocess.run([tool("authlib/authtest"), "-s", "pop3", alice.address, password], env=mail_system.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        return r.returncode, time.monotonic() - start

    rejected = authtest("wrong")[0]
    assert rejected != 0
    times = [authtest("wrong") for _ in range(3)]
    assert all(code == rejected for code, _ in times)
    # 250 ms, 500 ms, 1 s (the first failure is free)
    assert times[0][1] >= 0.25 and times[1][1] >= 0.5 and times[2][1] >= 1.0, times
    assert authtest(alice.password)[0] == 0  # a success clears the count
    code, seconds = authtest("wrong")
    assert code == rejected and seconds < 0.25, seconds


# ----- authdaemond's userdb workers (issue 14, item 5) ----------------------

def _worker_ids(mail_system) -> list[tuple[int, int, list[str]]]:
    """(uid, gid, supplementary groups) of authdaemond's workers, from /proc."""
    ids = []
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (pid_dir / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(status["PPid"]) == mail_system.proc.pid and status["Name"].strip() == "authdaemond":
            ids.append((int(status["Uid"].split()[0]), int(status["Gid"].split()[0]), status["Groups"].split()))
    return ids


def _restart_with_fresh_log(mail_system) -> None:
    mail_system.stop()
    mail_system.log.write_text("")
    mail_system.start()
    backends.poll_until(lambda: len(_worker_ids(mail_system)) == 3, what="authdaemond's 3 workers")


def _authtest(mail_system, account) -> int:
    return subprocess.run([tool("authlib/authtest"), "-s", "imap", account.address, account.password],
                          env=mail_system.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60).returncode


@needs_root
def test_userdb_workers_run_as_the_mail_user_after_makeuserdb(mail_system, alice):
    uid, gid = mail_ids()
    for f in (Path(f"{mail_system.userdb}.dat"), Path(f"{mail_system.userdb}shadow.dat")):
        st = f.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, gid, 0o640), (f, oct(st.st_mode))
    _restart_with_fresh_log(mail_system)
    workers = _worker_ids(mail_system)
    assert all((w_uid, w_gid) == (uid, gid) and set(groups) <= {str(gid)} for w_uid, w_gid, groups in workers), workers
    assert f"workers run as the mail user {MAIL_USER}" in mail_system.log_text()
    assert _authtest(mail_system, alice) == 0
    # A rebuilt database (makeuserdb again, as root) is read by the same unprivileged workers.
    bob = mail_system.add_account("bob@example.test", "builder")
    assert _authtest(mail_system, bob) == 0
    assert _worker_ids(mail_system) == workers


@needs_root
def test_root_only_userdb_files_keep_root_workers_and_say_how_to_drop(mail_system, alice):
    uid, gid = mail_ids()
    dat = Path(f"{mail_system.userdb}.dat")
    for f in (dat, Path(f"{mail_system.userdb}shadow.dat")):
        os.chown(f, 0, 0)
        os.chmod(f, 0o600)
    _restart_with_fresh_log(mail_system)
    assert all(w[:2] == (0, 0) for w in _worker_ids(mail_system)), _worker_ids(mail_system)
    assert _authtest(mail_system, alice) == 0  # an existing install keeps working
    log = mail_system.log_text()
    assert log.count("workers keep root") == 1, log
    assert (f"workers keep root: {dat} (mode 0600, owner 0:0) is not readable by the mail user {MAIL_USER} "
            f"(to let the workers run as {MAIL_USER}: chgrp {gid} {dat} && chmod 640 {dat}") in log, log


@needs_root
def test_a_chain_with_a_root_module_keeps_root_and_says_why(mail_system, alice):
    mail_system.rc.write_text(mail_system.rc.read_text().replace('authmodulelist="authuserdb"',
                                                                 'authmodulelist="authuserdb authpwd"'))
    _restart_with_fresh_log(mail_system)
    assert all(w[0] == 0 for w in _worker_ids(mail_system))
    assert _authtest(mail_system, alice) == 0
    assert ('workers keep root: authpwd reads password files only root may read; each worker serves every module '
            'of authmodulelist="authuserdb authpwd", so the workers drop root only when every one of them can'
            ) in mail_system.log_text()
