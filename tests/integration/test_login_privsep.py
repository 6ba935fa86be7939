"""imaplogin and pop3login in two processes (issue 14, DESIGN.md Privileges):
the child that talks to the client runs as the mail user while the root
parent only waits; after login the session runs as the account; authdaemond's
one-time login tickets are refused when forged, replayed, expired, for
another service or asked for by anyone but root; a child that hands over a
malformed message is dropped with a log line.

The process checks need root (there is nothing to drop otherwise)."""
from __future__ import annotations

import imaplib
import os
import poplib
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import backends
from imap_support import ImapServer
from pop3_support import Pop3Launcher
from suite import MAIL_USER, tool
from test_privsep import holders, mail_ids

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="privileges can only be dropped by root")

ACCOUNT_UID = ACCOUNT_GID = 1  # Debian's "daemon": neither root nor the mail user


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "wonder land")


@pytest.fixture
def carol(mail_system):
    """An account whose uid is neither root's nor the mail user's."""
    account = mail_system.add_account("carol@example.test", "carol-pw")
    if os.geteuid() == 0:
        mail_system._run(tool("authlib/userdb"), account.address, "set", f"uid={ACCOUNT_UID}", f"gid={ACCOUNT_GID}")
        mail_system._run(tool("authlib/makeuserdb"))
        for path in [account.home, *account.home.rglob("*")]:
            os.chown(path, ACCOUNT_UID, ACCOUNT_GID)
        account.uid, account.gid = ACCOUNT_UID, ACCOUNT_GID
    return account


def status_of(pid: int) -> dict[str, list[str]]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.split() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def check_split(client: socket.socket, name: str) -> None:
    """The client's connection is held by `name` running as the mail user
    with no other groups, and by nothing else; its parent is a root `name`
    that holds no descriptor of the client (fds 0 and 1 are /dev/null)."""
    procs = holders(client)
    assert procs, "nobody holds the connection"
    uid, gid = mail_ids()
    for pid, p in procs.items():
        assert p["Name"][0] == name, f"the connection is held by {p['Name'][0]} (pid {pid}), not only {name}: {procs}"
        assert p["Uid"] == [str(uid)] * 4, f"{name} child (pid {pid}) runs with uids {p['Uid']}"
        assert p["Gid"] == [str(gid)] * 4, f"{name} child (pid {pid}) runs with gids {p['Gid']}"
        assert set(p["Groups"]) <= {str(gid)}, f"{name} child (pid {pid}) keeps groups {p['Groups']}"
        cwd = os.readlink(f"/proc/{pid}/cwd")
        assert cwd in ("/var/empty", "/") or cwd.endswith("/empty"), f"{name} child works in {cwd}"
        parent = int(status_of(pid)["PPid"][0])
        ps = status_of(parent)
        assert ps["Name"][0] == name and ps["Uid"][0] == "0", f"the parent of {name} is {ps['Name']} {ps['Uid']}"
        for fd in ("0", "1"):
            assert os.readlink(f"/proc/{parent}/fd/{fd}") == "/dev/null"


def session_holders_are(client: socket.socket, name: str, uid: int, gid: int) -> None:
    procs = {pid: p for pid, p in holders(client).items() if p["Name"][0] != "couriertls"}
    assert procs and all(p["Name"][0] == name for p in procs.values()), procs
    for pid, p in procs.items():
        assert p["Uid"] == [str(uid)] * 4 and p["Gid"] == [str(gid)] * 4, f"{name} (pid {pid}): {p}"


@needs_root
def test_imap_pre_auth_runs_as_the_mail_user_and_the_session_as_the_account(mail_system, carol):
    server = ImapServer(mail_system, "split")
    try:
        m = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
        m.capability()
        check_split(m.sock, "imaplogin")
        m.login(carol.address, carol.password)
        assert m.select("INBOX")[0] == "OK"
        session_holders_are(m.sock, "imapd", ACCOUNT_UID, ACCOUNT_GID)
        m.logout()
        log = server.log_text()
        assert f"LOGIN, user={carol.address}" in log, log
    finally:
        server.stop()
    assert "login ticket" in mail_system.log_text() and "redeemed by uid 0" in mail_system.log_text()


def imapd_environment_and_secure(sock: socket.socket) -> tuple[dict[str, str], int]:
    """The environment of the imapd holding the connection, and its AT_SECURE
    (non-zero: glibc ignores GLIBC_TUNABLES)."""
    pids = [pid for pid, p in holders(sock).items() if p["Name"][0] == "imapd"]
    assert len(pids) == 1, holders(sock)
    raw = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
    env = dict(kv.decode().split("=", 1) for kv in raw if b"=" in kv)
    words = Path(f"/proc/{pids[0]}/auxv").read_bytes()
    aux = [int.from_bytes(words[i:i + 8], "little") for i in range(0, len(words), 8)]
    at_secure = dict(zip(aux[0::2], aux[1::2])).get(23)  # AT_SECURE
    return env, at_secure


@needs_root
@pytest.mark.parametrize("admin_value", [None, "glibc.malloc.check=0"])
def test_imapd_runs_without_malloc_tcache_unless_the_admin_tunes(mail_system, carol, admin_value):
    """imaplogin gives imapd GLIBC_TUNABLES=glibc.malloc.tcache_count=0 (idle
    memory, issue 16), and glibc honours it: imapd is not started with
    AT_SECURE. A GLIBC_TUNABLES the admin set is passed on unchanged."""
    settings = {} if admin_value is None else {"GLIBC_TUNABLES": admin_value}
    server = ImapServer(mail_system, "tunables", **settings)
    try:
        m = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
        m.login(carol.address, carol.password)
        assert m.select("INBOX")[0] == "OK"
        env, at_secure = imapd_environment_and_secure(m.sock)
        assert env.get("GLIBC_TUNABLES") == (admin_value or "glibc.malloc.tcache_count=0"), env
        assert at_secure == 0
        m.logout()
    finally:
        server.stop()


@needs_root
def test_pop3_pre_auth_runs_as_the_mail_user_and_the_session_as_the_account(mail_system, public_tmp, carol):
    pop3 = Pop3Launcher(mail_system, Path(public_tmp) / "pop3.log")
    try:
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
        client.capa()
        check_split(client.sock, "pop3login")
        client.user(carol.address)
        check_split(client.sock, "pop3login")
        client.pass_(carol.password)
        assert client.stat() == (0, 0)
        session_holders_are(client.sock, "pop3d", ACCOUNT_UID, ACCOUNT_GID)
        client.quit()
    finally:
        pop3.close()


@needs_root
def test_imap_starttls_in_the_child_then_login_as_the_account(mail_system, public_tmp, carol):
    """STARTTLS is asked for by the mail-user child; the root parent starts
    couriertls (which reads the root-only key, then drops); the session after
    LOGIN keeps TLS and runs as the account."""
    from pop3_support import client_tls_context, make_certificates, tls_env
    certs = make_certificates(Path(public_tmp) / "certs")
    assert os.stat(certs["server_pem"]).st_uid == 0 and os.stat(certs["server_pem"]).st_mode & 0o077 == 0
    server = ImapServer(mail_system, "starttls-split", IMAP_STARTTLS="YES", **tls_env(certs))
    try:
        m = imaplib.IMAP4("127.0.0.1", server.port, timeout=60)
        m.starttls(client_tls_context(certs["ca"]))
        uid, gid = mail_ids()
        procs = holders(m.sock)
        assert {p["Name"][0] for p in procs.values()} == {"couriertls"}, procs
        assert all(p["Uid"] == [str(uid)] * 4 for p in procs.values()), procs
        m.login(carol.address, carol.password)
        assert m.select("INBOX")[0] == "OK"
        assert m.noop()[0] == "OK"
        m.logout()
        log = server.log_text()
        assert f"LOGIN, user={carol.address}" in log, log
    finally:
        server.stop()


def test_commands_pipelined_behind_login_still_reach_imapd(mail_system, alice):
    server = ImapServer(mail_system, "pipelined")
    try:
        c = server.raw()
        c.line()
        c.send(f'a LOGIN "{alice.address}" "{alice.password}"\r\nb SELECT INBOX\r\nc LOGOUT\r\n')
        assert c.until_tag("a")[-1].startswith(b"a OK")
        assert c.until_tag("b")[-1].startswith(b"b OK")
        assert c.until_tag("c")[-1].startswith(b"c OK")
    finally:
        server.stop()


# ----- authdaemond's tickets, asked for directly ----------------------------

def ask(mail_system, request: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(mail_system.socket))
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if data == b"FAIL\n" or data.endswith(b"\n.\n") or data == b".\n":
            break
    s.close()
    return data


def auth_for_ticket(mail_system, account, service: str) -> str:
    payload = f"{service}\nlogin\n{account.address}\n{account.password}\n".encode()
    reply = ask(mail_system, b"TICKET=1\nAUTH %d\n" % len(payload) + payload)
    m = re.search(rb"^TICKET=([0-9a-f]{64})$", reply, re.M)
    assert m, reply
    assert b"HOME=" in reply
    return m.group(1).decode()


def redeem(mail_system, service: str, ticket: str) -> bytes:
    return ask(mail_system, f"REDEEM {service} {ticket}\n".encode())


def redeem_as(mail_system, uid: int, gid: int, service: str, ticket: str) -> bytes:
    script = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1]);"
              "s.sendall(sys.argv[2].encode()); print(repr(s.recv(65536)))")

    def become():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    r = subprocess.run(["python3", "-c", script, str(mail_system.socket), f"REDEEM {service} {ticket}\n"],
                       preexec_fn=become, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return eval(r.stdout.strip())  # noqa: S307 (our own repr of bytes)


def wait_for_log(mail_system, text: str) -> None:
    backends.poll_until(lambda: text in mail_system.log_text(), what=f"authdaemond's log line {text!r}", timeout_s=10)


@needs_root
def test_a_ticket_is_redeemed_once_by_root_for_its_service(mail_system, alice):
    ticket = auth_for_ticket(mail_system, alice, "imap")
    reply = redeem(mail_system, "imap", ticket)
    assert reply.startswith(f"LOGIN={alice.address}\n".encode()), reply
    assert f"HOME={alice.home}\n".encode() in reply and reply.endswith(b"\n.\n")
    assert f"UID={alice.uid}\n".encode() in reply

    assert redeem(mail_system, "imap", ticket) == b"FAIL\n"
    wait_for_log(mail_system, f"login ticket {ticket[:8]}... refused: replayed")

    assert redeem(mail_system, "imap", secrets.token_hex(32)) == b"FAIL\n"
    wait_for_log(mail_system, "refused: unknown (never issued")

    pop3_ticket = auth_for_ticket(mail_system, alice, "pop3")
    assert redeem(mail_system, "imap", pop3_ticket) == b"FAIL\n"
    wait_for_log(mail_system, f"login ticket {pop3_ticket[:8]}... refused: issued for another service (pop3)")
    assert redeem(mail_system, "pop3", pop3_ticket) == b"FAIL\n", "a ticket shown for the wrong service stays usable"

    assert redeem(mail_system, "imap", "not-a-ticket") == b"FAIL\n"
    wait_for_log(mail_system, "refused: malformed")
    log = mail_system.log_text()
    assert ticket not in log and pop3_ticket not in log, "a whole ticket reached the log"


@needs_root
def test_a_ticket_expires_after_10_seconds(mail_system, alice):
    ticket = auth_for_ticket(mail_system, alice, "pop3")
    time.sleep(10.5)
    assert redeem(mail_system, "pop3", ticket) == b"FAIL\n"
    wait_for_log(mail_system, f"login ticket {ticket[:8]}... refused: expired")


@needs_root
def test_only_root_may_redeem(mail_system, alice):
    ticket = auth_for_ticket(mail_system, alice, "imap")
    uid, gid = mail_ids()
    assert redeem_as(mail_system, uid, gid, "imap", ticket) == b"FAIL\n"
    wait_for_log(mail_system, f"REDEEM imap from uid {uid}")
    assert "only root (the login processes' parent) may redeem" in mail_system.log_text()
    # The refused attempt did not use the ticket up.
    assert redeem(mail_system, "imap", ticket).startswith(f"LOGIN={alice.address}\n".encode())


def test_no_ticket_without_asking_or_for_a_wrong_password(mail_system, alice):
    payload = f"imap\nlogin\n{alice.address}\n{alice.password}\n".encode()
    reply = ask(mail_system, b"AUTH %d\n" % len(payload) + payload)
    assert b"HOME=" in reply and b"TICKET=" not in reply
    payload = f"imap\nlogin\n{alice.address}\nwrong\n".encode()
    assert ask(mail_system, b"TICKET=1\nAUTH %d\n" % len(payload) + payload) == b"FAIL\n"


# ----- a compromised child --------------------------------------------------

BOGUS_CHILD = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
/* The login child's hand-over, replaced by a malformed one (the client's
   descriptors still attached): what a compromised child could send. */
ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  static ssize_t (*real)(int, const struct msghdr*, int);
  if (!real) real = (ssize_t (*)(int, const struct msghdr*, int))dlsym(RTLD_NEXT, "sendmsg");
  if (msg->msg_controllen == 0) return real(fd, msg, flags);
  static const char bogus[] = "handover 1\n1\nticket 5\nalice\nend 0\n\n";
  struct iovec iov = {(void*)bogus, sizeof bogus - 1};
  struct msghdr m = *msg;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  real(fd, &m, flags);
  return 1;
}
"""


@needs_root
def test_a_malformed_handover_is_dropped_with_a_log_line(mail_system, alice, tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        backends.skip_or_fail("no C compiler to build the compromised child")
    src = tmp_path / "bogus_child.c"
    src.write_text(BOGUS_CHILD)
    lib = tmp_path / "bogus_child.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src), "-ldl"], check=True)
    os.chmod(tmp_path, 0o755)
    server = ImapServer(mail_system, "bogus", LD_PRELOAD=str(lib))
    try:
        c = server.raw()
        c.line()
        c.send(f'a LOGIN "{alice.address}" "{alice.password}"\r\n')
        assert c.closed(), "the session went on after a malformed hand-over"
        backends.poll_until(lambda: "hand-over dropped: ticket is not 64 lowercase hex digits" in server.log_text(),
                            what="the parent's log line", timeout_s=10)
        assert "LOGIN, user=" not in server.log_text()
    finally:
        server.stop()


@needs_root
def test_failures_through_login_children_do_not_delay_other_accounts(mail_system, alice):
    """Login children all run as the mail user: authdaemond counts failures
    per account for them, not per uid, so one client's failures do not slow
    down everybody else's."""
    bob = mail_system.add_account("bob@example.test", "bob-pw")
    uid, gid = mail_ids()
    script = """
import socket, sys, time
def auth(user, pw):
    payload = f"imap\\nlogin\\n{user}\\n{pw}\\n".encode()
    s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])
    t = time.monotonic()
    s.sendall(b"TICKET=1\\nAUTH %d\\n" % len(payload) + payload)
    reply = s.recv(65536)
    return reply, time.monotonic() - t
for _ in range(4):
    assert auth(sys.argv[2], "wrong")[0] == b"FAIL\\n"
reply, seconds = auth(sys.argv[3], "wrong")
print(reply == b"FAIL\\n", round(seconds, 3))
"""

    def become():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    r = subprocess.run(["python3", "-c", script, str(mail_system.socket), alice.address, bob.address],
                       preexec_fn=become, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    failed, seconds = r.stdout.split()
    assert failed == "True" and float(seconds) < 0.25, r.stdout
