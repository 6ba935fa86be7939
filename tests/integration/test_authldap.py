"""authldap against a real OpenLDAP slapd, through authdaemond and authtest.

Every seeded account (SSHA, {CRYPT} SHA-512 and MD5-crypt, and cleartext
userPassword; see backends.ACCOUNT_SPECS) logs in with LDAP_AUTHBIND off (the
module compares the hash) and on (slapd checks the password on a bind as the
entry). Wrong passwords, unknown users and filter injection in the login name
are rejected (authtest exit 1); a stopped slapd is a temporary failure (exit
75) that names the server in the daemon's log, and the same daemon recovers
once slapd is back. authenumerate lists the accounts, and a password change
through authtest works with LDAP_AUTHBIND.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

import backends
from suite import ModuleDaemon, daemon_starter
from backends import SlapdServer

SRC = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SUITE_BUILD", SRC / "build"))
AUTHDAEMOND = BUILD / "authlib" / "authdaemond"
AUTHTEST = BUILD / "authlib" / "authtest"
AUTHENUMERATE = BUILD / "authlib" / "authenumerate"

EXIT_OK, EXIT_REJECTED, EXIT_TEMPFAIL = 0, 1, 75

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (AUTHDAEMOND, AUTHTEST, AUTHENUMERATE)),
    reason=f"authdaemond, authtest or authenumerate not built yet in {BUILD}/authlib "
           "(set SUITE_BUILD to the build folder)")


class AuthDaemon(ModuleDaemon):
    """authdaemond in the foreground with authmodulelist="authldap" (suite.ModuleDaemon)."""

    def __init__(self, folder: Path, authldaprc: str, daemons: int = 2):
        super().__init__(folder, "authldap", "AUTHLDAPRC", "authldaprc", authldaprc, daemons)
        self.ldaprc_path = self.module_rc_path

    def write_authldaprc(self, text: str) -> None:
        self.write_module_rc(text)


@pytest.fixture
def start_daemon(public_tmp: Path):
    """start_daemon(authldaprc_text) -> a running AuthDaemon; stopped after the test."""
    yield from daemon_starter(public_tmp, AuthDaemon)


class SelfWriteSlapd(SlapdServer):
    """The standard directory, but each user may write its own password
    attributes (as a site that lets users change passwords must allow)."""

    def _config(self) -> str:
        text = super()._config()
        marker = "access to attrs=userPassword,clearPassword\n"
        start = text.find(marker)
        end = text.find("access to *", start)
        assert start >= 0 and end > start, "backends.SlapdServer's ACL changed; update this test"
        rule = text[start:end]
        assert "by self read" in rule, "backends.SlapdServer's password ACL changed; update this test"
        return text[:start] + rule.replace("by self read", "by self write") + text[end:]


@pytest.fixture
def slapd_self_write(tmp_path: Path, public_tmp: Path, mail_accounts):
    server = SelfWriteSlapd(tmp_path / "slapd", public_tmp / "slapd", mail_accounts)
    try:
        server.setup()
        yield server
    finally:
        server.close()


def home_line(cp: subprocess.CompletedProcess) -> str:
    m = re.search(r"Home Directory:\s*(\S+)", cp.stdout)
    return m.group(1) if m else ""


# ---------------------------------------------------------------------------
# Logging in


@pytest.mark.parametrize("authbind", ["0", "1"], ids=["compare-hash", "authbind"])
@pytest.mark.parametrize("form", ["address", "bare-name"])
def test_each_seeded_account_logs_in(slapd, start_daemon, authbind, form):
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND=authbind))
    for a in slapd.accounts:
        login = a.address if form == "address" else a.login  # bare: LDAP_DOMAIN appended
        cp = daemon.authtest(login, a.password)
        assert cp.returncode == EXIT_OK, f"{a.login} ({a.ldap_password[:7]}...): {daemon.explain(cp)}"
        assert home_line(cp) == str(a.home), daemon.explain(cp)
        assert f"uid {a.uid_number}" in cp.stdout or str(a.uid_number) in cp.stdout, daemon.explain(cp)
        if a.maildir:
            assert a.maildir in cp.stdout, daemon.explain(cp)
        for k, v in a.option_map.items():
            assert f"{k}={v}" in cp.stdout, daemon.explain(cp)


def test_anonymous_search_with_authbind(tmp_path, public_tmp, mail_accounts, start_daemon):
    """No service account at all: search anonymously, check passwords by
    binding as the user (the directory lets anonymous read all but passwords)."""
    server = SlapdServer(tmp_path / "slapd", public_tmp / "slapd", mail_accounts, anonymous_read=True)
    try:
        server.setup()
        daemon = start_daemon(server.authldaprc(LDAP_BINDDN=None, LDAP_BINDPW=None, LDAP_AUTHBIND="1"))
        for a in server.accounts:
            cp = daemon.authtest(a.address, a.password)
            assert cp.returncode == EXIT_OK, f"{a.login}: {daemon.explain(cp)}"
            assert daemon.authtest(a.address, a.password + "x").returncode == EXIT_REJECTED
        # Without LDAP_AUTHBIND, anonymous cannot read the passwords: refused,
        # with a reason that says so.
        daemon.write_authldaprc(server.authldaprc(LDAP_BINDDN=None, LDAP_BINDPW=None, LDAP_AUTHBIND="0"))
        bob = server.account("bob")
        cp = daemon.authtest(bob.address, bob.password)
        assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
        assert "may read" in daemon.log(), backends.log_tail(daemon.log_path)
    finally:
        server.close()


def authdaemon_cram(socket_path: Path, user: str, secret: str, service: str = "imap") -> str:
    """An AUTH request of authtype cram-md5 on the authdaemon socket
    (COURIER-COMPAT.md section 7), as imapd sends it for AUTHENTICATE
    CRAM-MD5; returns the raw reply ("" when the daemon closed without one)."""
    challenge = f"<{os.getpid()}.1700000000@mail.example.test>".encode()
    digest = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest()
    response = f"{user} {digest}".encode()
    payload = (f"{service}\ncram-md5\n{base64.b64encode(challenge).decode()}\n"
               f"{base64.b64encode(response).decode()}\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(str(socket_path))
        s.sendall(f"AUTH {len(payload)}\n".encode() + payload)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply.decode(errors="replace")


@pytest.mark.parametrize("authbind", ["0", "1"], ids=["compare-hash", "authbind"])
def test_cram_md5_needs_the_clear_password(slapd, start_daemon, authbind):
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND=authbind))
    carol = slapd.account("carol")  # the account with clearPassword
    assert carol.ldap_clear_password
    reply = authdaemon_cram(daemon.socket, carol.address, carol.password)
    assert f"HOME={carol.home}\n" in reply, f"{reply!r}\n{backends.log_tail(daemon.log_path)}"
    assert authdaemon_cram(daemon.socket, carol.address, "wrong") == "FAIL\n"
    alice = slapd.account("alice")  # only a hash: CRAM cannot be checked
    assert authdaemon_cram(daemon.socket, alice.address, alice.password) == "FAIL\n"
    assert "LDAP_CLEARPW" in daemon.log(), backends.log_tail(daemon.log_path)


def test_lookup_without_password(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc())
    a = slapd.account("alice")
    cp = daemon.authtest(a.address)
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    assert home_line(cp) == str(a.home)
    assert daemon.authtest("nobody@example.test").returncode == EXIT_REJECTED


@pytest.mark.parametrize("authbind", ["0", "1"], ids=["compare-hash", "authbind"])
def test_wrong_password_and_unknown_user_are_rejected(slapd, start_daemon, authbind):
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND=authbind))
    for a in slapd.accounts:
        cp = daemon.authtest(a.address, a.password + "x")
        assert cp.returncode == EXIT_REJECTED, f"{a.login}: {daemon.explain(cp)}"
        cp = daemon.authtest(a.address, a.password[:-1])
        assert cp.returncode == EXIT_REJECTED, f"{a.login}: {daemon.explain(cp)}"
    cp = daemon.authtest("nobody@example.test", "whatever")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert "no such account" in daemon.log()
    # The reasons never carry a password.
    log = daemon.log()
    for a in slapd.accounts:
        assert a.password not in log
    assert slapd.bind_pw not in log


# Login names that would match other entries, or every entry, if pasted into
# the filter unescaped. Each is tried with alice's password.
INJECTIONS = [
    "ali*",                                 # (mail=ali*@example.test): alice alone
    "*",                                    # every entry: ambiguous at best
    "*)(uid=*",                             # closes the item, adds another
    "alice@example.test)(|(mail=*",
    "*)(|(objectClass=*",
    "alice\\2a",
    "(alice@example.test)",
]


@pytest.mark.parametrize("authbind", ["0", "1"], ids=["compare-hash", "authbind"])
def test_filter_injection_in_the_login_name_is_rejected(slapd, start_daemon, authbind):
    # The first injection is a real threat: unescaped, it finds alice alone.
    found = slapd.search("(&(objectClass=CourierMailAccount)(mail=ali*@example.test))", ["mail"])
    assert [e["mail"] for e in found] == [["alice@example.test"]]
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND=authbind))
    alice = slapd.account("alice")
    assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    for login in INJECTIONS:
        cp = daemon.authtest(login, alice.password)
        assert cp.returncode == EXIT_REJECTED, f"login {login!r}: {daemon.explain(cp)}"
        cp = daemon.authtest(login)
        assert cp.returncode == EXIT_REJECTED, f"lookup {login!r}: {daemon.explain(cp)}"
    # The escaped form went to the server, not the raw one.
    assert r"ali\2a@example.test" in daemon.log(), backends.log_tail(daemon.log_path)


def test_ambiguous_directory_is_rejected_with_a_reason(tmp_path, public_tmp, mail_accounts, start_daemon):
    # A second entry with alice's mail address.
    twin = backends.ldif_entry(
        "uid=alice2,ou=people,dc=example,dc=test",
        [("objectClass", "inetOrgPerson"), ("objectClass", "posixAccount"),
         ("objectClass", "CourierMailAccount"), ("uid", "alice2"), ("cn", "Alice Two"),
         ("sn", "Two"), ("mail", "alice@example.test"), ("uidNumber", "10099"),
         ("gidNumber", "10000"), ("homeDirectory", "/nonexistent/alice2"),
         ("userPassword", mail_accounts[0].ldap_password)])
    server = SlapdServer(tmp_path / "slapd", public_tmp / "slapd", mail_accounts, extra_ldif=twin)
    try:
        server.setup()
        daemon = start_daemon(server.authldaprc())
        alice = server.account("alice")
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
        assert "ambiguous for alice@example.test" in daemon.log(), backends.log_tail(daemon.log_path)
    finally:
        server.close()


def test_emailmap_maps_an_address_to_a_handle(tmp_path, public_tmp, mail_accounts, start_daemon):
    # A mapping entry: cn is the user part, description the realm, ou the
    # handle, which is alice's uid.
    mapping = backends.ldif_entry(
        "cn=al,ou=services,dc=example,dc=test",
        [("objectClass", "organizationalRole"), ("cn", "al"), ("description", "alias.test"),
         ("ou", "alice")])
    server = SlapdServer(tmp_path / "slapd", public_tmp / "slapd", mail_accounts, extra_ldif=mapping)
    try:
        server.setup()
        daemon = start_daemon(server.authldaprc(
            LDAP_DOMAIN=None,
            LDAP_EMAILMAP="(&(objectClass=organizationalRole)(cn=@user@)(description=@realm@))",
            LDAP_EMAILMAP_BASEDN="ou=services,dc=example,dc=test",
            LDAP_EMAILMAP_ATTRIBUTE="ou",
            LDAP_EMAILMAP_MAIL="uid"))
        alice = server.account("alice")
        cp = daemon.authtest("al@alias.test", alice.password)
        assert cp.returncode == EXIT_OK, daemon.explain(cp)
        assert home_line(cp) == str(alice.home)
        assert daemon.authtest("al@alias.test", "wrong").returncode == EXIT_REJECTED
        assert daemon.authtest("al@other.test", alice.password).returncode == EXIT_REJECTED
        assert daemon.authtest("*@alias.test", alice.password).returncode == EXIT_REJECTED
    finally:
        server.close()


def test_missing_home_attribute_names_it_and_the_dn(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc(LDAP_HOMEDIR="roomNumber"))
    alice = slapd.account("alice")
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    log = daemon.log()
    assert "roomNumber" in log and slapd.user_dn(alice) in log, backends.log_tail(daemon.log_path)


# ---------------------------------------------------------------------------
# The server goes away and comes back


@pytest.mark.parametrize("authbind", ["0", "1"], ids=["compare-hash", "authbind"])
def test_server_down_is_temporary_and_the_daemon_recovers(slapd, start_daemon, authbind):
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND=authbind))
    alice = slapd.account("alice")
    # Several requests, so that each worker holds an open connection.
    for _ in range(4):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_OK, daemon.explain(cp)

    slapd.stop()
    for _ in range(2):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    cp = daemon.authtest(alice.address)
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    assert slapd.uri in daemon.log(), backends.log_tail(daemon.log_path)

    slapd.start()
    # Without restarting authdaemond: every worker reconnects by itself.
    for _ in range(4):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_OK, daemon.explain(cp)
    assert daemon.authtest(alice.address, "wrong").returncode == EXIT_REJECTED


def test_restarted_server_is_reconnected_transparently(slapd, start_daemon):
    """A connection the server dropped while idle is replaced without the
    client noticing: no temporary failure at all."""
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND="1"))
    bob = slapd.account("bob")
    for _ in range(4):
        assert daemon.authtest(bob.address, bob.password).returncode == EXIT_OK
    slapd.restart()
    for _ in range(4):
        cp = daemon.authtest(bob.address, bob.password)
        assert cp.returncode == EXIT_OK, daemon.explain(cp)


def test_hung_server_times_out_as_temporary(slapd, start_daemon):
    """A server that accepts connections but never answers (SIGSTOP) costs
    LDAP_TIMEOUT per try, well inside AUTH_TIMEOUT, and is a temporary failure."""
    daemon = start_daemon(slapd.authldaprc(LDAP_TIMEOUT="1"))
    alice = slapd.account("alice")
    for _ in range(4):
        assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    slapd.freeze()
    try:
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
        assert slapd.uri in daemon.log() and "LDAP_TIMEOUT" in daemon.log(), \
            backends.log_tail(daemon.log_path)
    finally:
        slapd.thaw()
    for _ in range(4):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_OK, daemon.explain(cp)


def test_refused_service_bind_is_temporary(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc(LDAP_BINDPW="not the password"))
    alice = slapd.account("alice")
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    log = daemon.log()
    assert "LDAP_BINDPW" in log and slapd.bind_dn in log, backends.log_tail(daemon.log_path)
    assert "not the password" not in log


def test_changed_authldaprc_takes_effect_without_restart(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc())
    alice, bob = slapd.account("alice"), slapd.account("bob")
    assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    daemon.write_authldaprc(slapd.authldaprc(
        LDAP_FILTER="(&(objectClass=CourierMailAccount)(!(uid=alice)))"))
    for _ in range(3):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
        assert daemon.authtest(bob.address, bob.password).returncode == EXIT_OK


# ---------------------------------------------------------------------------
# authenumerate


def test_authenumerate_lists_the_accounts(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc())
    cp = daemon.enumerate()
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    rows = {}
    for line in cp.stdout.splitlines():
        fields = line.split("\t")
        assert len(fields) == 6, f"malformed line {line!r}"
        rows[fields[0]] = fields
    assert set(rows) == {a.address for a in slapd.accounts}, cp.stdout
    for a in slapd.accounts:
        name, uid, gid, home, maildir, options = rows[a.address]
        assert (uid, gid, home) == (str(a.uid_number), str(a.gid_number), str(a.home))
        assert maildir == a.maildir
        assert dict(kv.split("=", 1) for kv in options.split(",") if kv) == a.option_map


def test_authenumerate_with_an_enumerate_filter(slapd, start_daemon):
    daemon = start_daemon(slapd.authldaprc(
        LDAP_ENUMERATE_FILTER="(&(objectClass=CourierMailAccount)(!(disableimap=1)))"))
    cp = daemon.enumerate()
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    names = {line.split("\t")[0] for line in cp.stdout.splitlines()}
    assert names == {a.address for a in slapd.accounts if a.option_map.get("disableimap") != "1"}


# ---------------------------------------------------------------------------
# Password changes


def test_password_change_with_authbind(slapd_self_write, start_daemon):
    slapd = slapd_self_write
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND="1"))
    for a in slapd.accounts:
        new = f"New {a.login} pw-9!"
        cp = daemon.authtest(a.address, a.password, new)
        assert cp.returncode == EXIT_OK, f"{a.login}: {daemon.explain(cp)}"
        assert daemon.authtest(a.address, new).returncode == EXIT_OK, a.login
        assert daemon.authtest(a.address, a.password).returncode == EXIT_REJECTED, a.login
        stored = slapd.search(f"(uid={a.login})", ["userPassword", "clearPassword"])[0]
        assert stored["userPassword"][0].startswith("{CRYPT}$"), stored
        assert backends.verify_password(new, stored["userPassword"][0])
        if a.ldap_clear_password:  # the clear-text copy changes too
            assert stored["clearPassword"] == [new]
    # A wrong old password changes nothing.
    alice = slapd.account("alice")
    cp = daemon.authtest(alice.address, "not the old one", "whatever 123")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert daemon.authtest(alice.address, "whatever 123").returncode == EXIT_REJECTED


def test_password_change_without_authbind_is_refused(slapd_self_write, start_daemon):
    slapd = slapd_self_write
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND="0"))
    alice = slapd.account("alice")
    cp = daemon.authtest(alice.address, alice.password, "New pw 1234")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    assert "LDAP_AUTHBIND" in daemon.log()


def test_password_change_refused_by_the_acl_is_rejected(slapd, start_daemon):
    # The standard fixture lets users only read their password.
    daemon = start_daemon(slapd.authldaprc(LDAP_AUTHBIND="1"))
    alice = slapd.account("alice")
    cp = daemon.authtest(alice.address, alice.password, "New pw 1234")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    assert "self write" in daemon.log(), backends.log_tail(daemon.log_path)


def _worker_ids(daemon) -> list[tuple[int, int, str]]:
    """(uid, gid, supplementary groups) of the daemon's workers, from /proc."""
    ids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["PPid"]) == daemon.proc.pid:
            ids.append((int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0]), fields["Groups"].strip()))
    return ids


@pytest.mark.skipif(os.geteuid() != 0, reason="workers can only drop root when the daemon has it")
def test_workers_run_as_the_mail_user_when_authldaprc_is_readable_to_it(slapd, start_daemon):
    import pwd
    from suite import MAIL_USER
    mail = pwd.getpwnam(MAIL_USER)
    bob = slapd.account("bob")
    daemon = start_daemon(slapd.authldaprc())
    # authldaprc is in authdaemonvar here, which authdaemond keeps mode 750,
    # group authdaemongroup: the mail user's group may search it.
    import grp
    with open(daemon.rc_path, "a") as rc:
        rc.write(f"authdaemongroup={grp.getgrgid(mail.pw_gid).gr_name}\n")
    os.chown(daemon.ldaprc_path, 0, mail.pw_gid)
    os.chmod(daemon.ldaprc_path, 0o640)
    daemon.stop()
    daemon.start()
    assert daemon.authtest(bob.address, bob.password).returncode == EXIT_OK
    workers = _worker_ids(daemon)
    # No supplementary groups but its own gid.
    assert workers and all(w[:2] == (mail.pw_uid, mail.pw_gid) and w[2] in ("", str(mail.pw_gid))
                           for w in workers), (workers, daemon.log())
    assert f"workers run as the mail user {MAIL_USER}" in daemon.log()
    # A changed authldaprc is still read again by the unprivileged workers.
    text = daemon.ldaprc_path.read_text().replace("LDAP_AUTHBIND", "#LDAP_AUTHBIND") + "LDAP_DEFAULTDELIVERY x\n"
    tmp = daemon.ldaprc_path.with_suffix(".new")
    tmp.write_text(text)
    os.chown(tmp, 0, mail.pw_gid)
    os.chmod(tmp, 0o640)
    tmp.rename(daemon.ldaprc_path)
    assert daemon.authtest(bob.address, bob.password).returncode == EXIT_OK
    assert "read " + str(daemon.ldaprc_path) + " again after a change" in daemon.log()

    # Mode 600 root: the workers keep root, and the log says how to change that.
    os.chown(daemon.ldaprc_path, 0, 0)
    os.chmod(daemon.ldaprc_path, 0o600)
    daemon.stop()
    daemon.start()
    assert daemon.authtest(bob.address, bob.password).returncode == EXIT_OK
    assert all(w[0] == 0 for w in _worker_ids(daemon))
    assert "is not readable by the mail user" in daemon.log() and "chmod 640" in daemon.log()
