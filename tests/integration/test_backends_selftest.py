"""Self-tests of the back-end fixtures in backends.py.

Each fixture is checked with the standard clients a site would use (ldapwhoami and
ldapsearch from ldap-utils, psql, libpam through ctypes), including stopping a server
mid-test and bringing it back on the same port, so the authentication-daemon tests
built on these fixtures can trust them.
"""

import os
import pwd
import socket
import subprocess
from pathlib import Path

import pytest

import backends
from backends import BackendError


# ---------------------------------------------------------------------------
# Generic helpers


def test_free_port_can_be_bound():
    port = backends.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_socket_returns_once_tcp_and_unix_sockets_listen(tmp_path):
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        path = tmp_path / "s"
        unix.bind(str(path))
        unix.listen()
        backends.wait_for_socket(tcp.getsockname(), timeout_s=5)
        backends.wait_for_socket(path, timeout_s=5)


def test_wait_for_socket_timeout_names_the_address_and_quotes_the_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("line one\nfatal: marker-for-the-tail\n")
    port = backends.free_port()
    with pytest.raises(BackendError) as info:
        backends.wait_for_socket(("127.0.0.1", port), timeout_s=0.3, log_path=log)
    message = str(info.value)
    assert f"127.0.0.1', {port}" in message
    assert "not ready after" in message
    assert "marker-for-the-tail" in message


def test_poll_until_reports_a_server_that_died_with_its_log_tail(tmp_path):
    log = tmp_path / "server.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(["sh", "-c", "echo cannot-bind-marker; exit 3"],
                                stdout=f, stderr=subprocess.STDOUT)
    with pytest.raises(BackendError) as info:
        backends.poll_until(lambda: False, what="demo server", timeout_s=30, proc=proc,
                            log_path=log)
    message = str(info.value)
    assert "demo server" in message
    assert "exited with status 3" in message
    assert "cannot-bind-marker" in message


@pytest.mark.parametrize("login", [spec["login"] for spec in backends.ACCOUNT_SPECS])
def test_seeded_password_forms_verify_only_the_right_password(login, tmp_path):
    account = backends._account_by_login(backends.make_accounts(tmp_path), login)
    stored = [account.ldap_password, account.sql_crypt or account.sql_clear]
    for form in stored:
        assert backends.verify_password(account.password, form), form
        assert not backends.verify_password(account.password + "x", form), form
        assert not backends.verify_password("", form), form


def test_seeded_accounts_cover_each_password_scheme(tmp_path):
    accounts = backends.make_accounts(tmp_path)
    ldap_forms = {a.login: a.ldap_password for a in accounts}
    assert ldap_forms["alice"].startswith("{SSHA}")
    assert ldap_forms["bob"].startswith("{CRYPT}$6$")
    assert ldap_forms["carol"] == accounts[2].password        # cleartext
    assert ldap_forms["dave"].startswith("{CRYPT}$1$")
    sql = {a.login: (a.sql_crypt, a.sql_clear) for a in accounts}
    assert sql["alice"][0].startswith("$6$")
    assert sql["bob"][0].startswith("{SSHA}")
    assert sql["carol"] == ("", accounts[2].password)
    assert sql["dave"][0].startswith("$1$")


def test_ldif_values_that_are_not_safe_strings_are_base64():
    assert backends.ldif_line("cn", "Alice Able") == "cn: Alice Able"
    for value in ("Carol Ñúñez", " leading space", "trailing space ", ":colon", "<lt",
                  "line\nbreak", ""):
        line = backends.ldif_line("cn", value)
        assert line.startswith("cn:: "), value
        assert backends.parse_ldif("dn: x\n" + line + "\n")[0]["cn"] == [value]


# ---------------------------------------------------------------------------
# slapd


@pytest.mark.parametrize("login", [spec["login"] for spec in backends.ACCOUNT_SPECS])
def test_slapd_user_simple_bind_with_right_and_wrong_password(slapd, login):
    account = slapd.account(login)
    dn = slapd.user_dn(account)
    ok = slapd.whoami(dn, account.password)
    assert ok.stdout.strip() == f"dn:{dn}"
    bad = slapd.whoami(dn, account.password + "-wrong", check=False)
    assert bad.returncode == 49, bad.stderr          # invalidCredentials


def test_slapd_service_dn_reads_the_courier_attributes(slapd):
    entries = {e["uid"][0]: e for e in slapd.search("(objectClass=CourierMailAccount)",
                                                    ["*"], base=slapd.people_dn)}
    assert sorted(entries) == ["alice", "bob", "carol", "dave"]
    for login, entry in entries.items():
        account = slapd.account(login)
        assert entry["mail"] == [account.address]
        assert entry["uidNumber"] == [str(account.uid_number)]
        assert entry["gidNumber"] == [str(account.gid_number)]
        assert entry["homeDirectory"] == [str(account.home)]
        assert entry["userPassword"] == [account.ldap_password]
        assert entry["cn"] == [account.name]
    assert entries["alice"]["mailbox"] == [str(slapd.account("alice").home / "Maildir")]
    assert entries["alice"]["quota"] == ["10000000S"]
    assert entries["bob"]["mailbox"] == ["Maildir"]
    assert entries["carol"]["clearPassword"] == [slapd.account("carol").password]
    assert entries["carol"]["cn"] == ["Carol Ñúñez"]
    assert entries["dave"]["disableimap"] == ["1"]
    assert entries["dave"]["defaultdelivery"] == ["./Maildir/"]


def test_slapd_search_by_mail_as_authdaemon_would(slapd):
    found = slapd.search("(&(objectClass=CourierMailAccount)(mail=bob@example.test))",
                         ["uidNumber", "homeDirectory"], base=slapd.people_dn)
    assert len(found) == 1
    assert found[0]["dn"] == [slapd.user_dn("bob")]
    assert set(found[0]) == {"dn", "uidNumber", "homeDirectory"}


def test_slapd_anonymous_may_bind_but_not_read(slapd):
    assert backends.ldap_anonymous_bind(slapd.host, slapd.port) == 0
    for base in (slapd.base_dn, slapd.user_dn("alice")):
        with pytest.raises(backends.LdapToolError) as info:
            slapd.search("(objectClass=*)", base=base, bind_dn=None)
        assert info.value.returncode == 50             # insufficientAccessRights


def test_slapd_user_reads_own_entry_but_not_other_passwords(slapd):
    alice = slapd.account("alice")
    as_alice = dict(scope="base", bind_dn=slapd.user_dn(alice), bind_pw=alice.password)
    own = slapd.search("(objectClass=*)", ["userPassword"], base=slapd.user_dn(alice),
                       **as_alice)
    assert own[0]["userPassword"] == [alice.ldap_password]
    other = slapd.search("(objectClass=*)", ["userPassword"], base=slapd.user_dn("bob"),
                         **as_alice)
    assert other == []


def test_slapd_ldapi_sasl_external_acts_as_root_dn(slapd):
    cp = backends.run_tool(["ldapwhoami", "-H", slapd.ldapi_uri, "-Y", "EXTERNAL", "-Q"],
                           env=slapd.tools_env)
    assert cp.stdout.strip() == f"dn:{slapd.root_dn}"


def test_slapd_stop_then_start_on_the_same_port(slapd):
    bob = slapd.account("bob")
    uri, pid = slapd.uri, slapd.pid
    slapd.whoami(slapd.user_dn(bob), bob.password)

    slapd.stop()
    assert not slapd.running
    down = slapd.whoami(slapd.user_dn(bob), bob.password, check=False)
    assert down.returncode == 255, down.stderr       # LDAP_SERVER_DOWN
    assert "Can't contact LDAP server" in down.stderr
    with pytest.raises(ConnectionRefusedError):
        backends.ldap_anonymous_bind(slapd.host, slapd.port)

    slapd.start()
    assert slapd.uri == uri and slapd.pid != pid
    assert slapd.whoami(slapd.user_dn(bob), bob.password).stdout.strip() == \
        f"dn:{slapd.user_dn(bob)}"


def test_slapd_change_survives_a_kill_and_restart(slapd):
    alice = slapd.account("alice")
    slapd.modify(f"dn: {slapd.user_dn(alice)}\nchangetype: modify\n"
                 f"replace: userPassword\nuserPassword: new-secret\n")
    slapd.kill()
    assert not slapd.running
    slapd.start()
    assert slapd.whoami(slapd.user_dn(alice), "new-secret").returncode == 0
    assert slapd.whoami(slapd.user_dn(alice), alice.password, check=False).returncode == 49


def test_slapd_frozen_server_accepts_but_never_answers(slapd):
    slapd.freeze()
    try:
        with pytest.raises(TimeoutError):
            backends.ldap_anonymous_bind(slapd.host, slapd.port, timeout_s=0.5)
    finally:
        slapd.thaw()
    assert backends.ldap_anonymous_bind(slapd.host, slapd.port) == 0


def test_slapd_authldaprc_describes_the_directory(slapd):
    text = slapd.authldaprc(LDAP_TIMEOUT="2", LDAP_TLS=None)
    lines = dict(line.split("\t", 1) for line in text.splitlines())
    assert lines["LDAP_URI"] == slapd.uri
    assert lines["LDAP_BINDDN"] == slapd.bind_dn
    assert lines["LDAP_BINDPW"] == slapd.bind_pw
    assert lines["LDAP_TIMEOUT"] == "2"
    assert "LDAP_TLS" not in lines


def test_slapd_server_class_cleans_up_after_itself(tmp_path, public_tmp, mail_accounts):
    with backends.SlapdServer(tmp_path / "s", public_tmp / "s", mail_accounts[:1],
                              anonymous_read=True) as server:
        server.setup()
        pid, port = server.pid, server.port
        # anonymous_read=True: entries are visible, passwords are not.
        entry = server.search("(uid=alice)", ["*"], bind_dn=None)[0]
        assert entry["mail"] == ["alice@example.test"]
        assert "userPassword" not in entry
    assert not server.running
    assert not backends._pid_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        backends.ldap_anonymous_bind("127.0.0.1", port)


def test_slapd_moves_to_another_port_if_its_port_was_taken(tmp_path, public_tmp,
                                                           mail_accounts):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = backends.SlapdServer(tmp_path / "s", public_tmp / "s", mail_accounts)
        server.port = taken                 # as if another process won the race
        with server:
            server.setup()
            assert server.port != taken
            alice = server.account("alice")
            assert server.whoami(server.user_dn(alice), alice.password).returncode == 0


def test_slapd_on_a_fixed_busy_port_fails_with_the_reason(tmp_path, public_tmp,
                                                         mail_accounts):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with backends.SlapdServer(tmp_path / "s", public_tmp / "s", mail_accounts,
                                  port=port) as server:
            with pytest.raises(BackendError) as info:
                server.setup()
    message = str(info.value)
    assert "exited with status 1 before it was ready" in message
    assert "Address already in use" in message        # from the quoted log tail


# ---------------------------------------------------------------------------
# PostgreSQL


def psql(conninfo: str, sql: str) -> subprocess.CompletedProcess:
    """The stock psql client with nothing from the environment but the conninfo."""
    return subprocess.run([str(backends.PG_BIN / "psql"), "-X", "-A", "-t", "-F", "|",
                           "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                          env=backends._pg_client_env(), capture_output=True, text=True,
                          timeout=60)


USERS_SQL = ("SELECT id, crypt, clear, name, uid, gid, home, maildir, defaultdelivery, "
             "quota, options FROM users ORDER BY id")


def expected_rows(accounts):
    return [f"{a.address}|{a.sql_crypt}|{a.sql_clear}|{a.name}|{a.uid_number}|"
            f"{a.gid_number}|{a.home}|{a.maildir}|{a.default_delivery}|{a.quota}|"
            f"{a.options}" for a in sorted(accounts, key=lambda a: a.address)]


def test_postgres_role_reads_users_over_the_unix_socket(postgres):
    assert f"host={postgres.socket_dir}" in postgres.conninfo
    cp = psql(postgres.conninfo, USERS_SQL)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == expected_rows(postgres.accounts)


def test_postgres_role_reads_users_over_loopback_tcp(postgres):
    cp = psql(postgres.conninfo_tcp, "SELECT id FROM users WHERE id = 'carol@example.test'")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "carol@example.test"


def test_postgres_wrong_password_is_rejected(postgres):
    conninfo = postgres.conninfo_for(postgres.role, postgres.role_password + "x")
    cp = psql(conninfo, "SELECT 1")
    assert cp.returncode == 2
    assert f'password authentication failed for user "{postgres.role}"' in cp.stderr


def test_postgres_passwd_view_shows_the_same_rows(postgres):
    cp = psql(postgres.conninfo, USERS_SQL.replace("FROM users", "FROM passwd"))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == expected_rows(postgres.accounts)


def test_postgres_role_may_change_passwords_but_not_accounts(postgres):
    ok = psql(postgres.conninfo, "UPDATE users SET clear = 'x' WHERE id = 'carol@example.test'")
    assert ok.returncode == 0, ok.stderr
    denied = psql(postgres.conninfo, "UPDATE users SET uid = 0 WHERE id = 'bob@example.test'")
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr
    denied = psql(postgres.conninfo, "INSERT INTO users (id) VALUES ('evil@example.test')")
    assert "permission denied" in denied.stderr


def test_postgres_query_helper_returns_utf8_rows(postgres):
    rows = postgres.query("SELECT name, uid FROM users WHERE id = 'carol@example.test'")
    assert rows == [("Carol Ñúñez", "10003")]
    assert postgres.query("SELECT id FROM users WHERE false") == []


def test_postgres_stop_then_start_keeps_port_and_data(postgres):
    postgres.psql("UPDATE users SET quota = '5S' WHERE id = 'bob@example.test'",
                  dbname="mail")
    port, pid = postgres.port, postgres.pid

    postgres.stop()
    assert not postgres.running
    down = psql(postgres.conninfo, "SELECT 1")
    assert down.returncode == 2
    assert str(postgres.socket_path) in down.stderr        # "connection ... failed"
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        backends.pg_accepting(postgres.socket_path)

    postgres.start()
    assert postgres.port == port and postgres.pid != pid
    cp = psql(postgres.conninfo, "SELECT quota FROM users WHERE id = 'bob@example.test'")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "5S"


def test_postgres_recovers_after_a_kill(postgres):
    postgres.kill()
    assert psql(postgres.conninfo, "SELECT 1").returncode == 2
    postgres.start()
    cp = psql(postgres.conninfo_tcp, "SELECT count(*) FROM users")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == str(len(postgres.accounts))


def test_postgres_frozen_server_accepts_but_never_answers(postgres):
    postgres.freeze()
    try:
        with pytest.raises(TimeoutError):
            backends.pg_accepting(postgres.socket_path, timeout_s=0.5)
    finally:
        postgres.thaw()
    assert backends.pg_accepting(postgres.socket_path)


def test_postgres_runs_unprivileged(postgres):
    status = Path(f"/proc/{postgres.pid}/status").read_text()
    real_uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
    if os.geteuid() == 0:
        assert real_uid != 0
        assert pwd.getpwuid(real_uid).pw_name == postgres.run_as
    else:
        assert real_uid == os.geteuid()


def test_postgres_authpgsqlrc_connects_as_the_role(postgres):
    lines = dict(l.split("\t", 1) for l in postgres.authpgsqlrc().splitlines())
    assert lines["PGSQL_USER_TABLE"] == "users"
    cp = psql(lines["PGSQL_CONNECTION"], "SELECT current_user")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == postgres.role


def test_postgres_server_is_gone_after_close(tmp_path, public_tmp, mail_accounts,
                                             _postgres_cluster):
    server = backends.PostgresServer(public_tmp / "pg2", tmp_path / "pg2.log",
                                     mail_accounts, cluster=_postgres_cluster, tcp=False)
    with server:
        server.setup()
        pid, socket_path = server.pid, server.socket_path
        assert backends.pg_accepting(socket_path)
    assert not backends._pid_alive(pid)
    assert not socket_path.exists()


def test_postgres_moves_to_another_port_if_its_port_was_taken(tmp_path, public_tmp,
                                                              mail_accounts,
                                                              _postgres_cluster):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = backends.PostgresServer(public_tmp / "pg3", tmp_path / "pg3.log",
                                         mail_accounts, cluster=_postgres_cluster)
        server.port = taken
        with server:
            server.setup()
            assert server.port != taken
            cp = psql(server.conninfo_tcp, "SELECT count(*) FROM users")
            assert cp.returncode == 0, cp.stderr
            assert cp.stdout.strip() == str(len(mail_accounts))


def test_mail_homes_are_reachable_and_owned_by_the_accounts(mail_accounts):
    for account in mail_accounts:
        for sub in ("cur", "new", "tmp"):
            assert (account.maildir_path / sub).is_dir()
        if os.geteuid() == 0:
            st = account.maildir_path.stat()
            assert (st.st_uid, st.st_gid) == (account.uid_number, account.gid_number)
            # Every parent is traversable by others, so a daemon that switched to the
            # account's uid can reach the home.
            for parent in account.home.parents:
                assert parent.stat().st_mode & 0o001, parent


# ---------------------------------------------------------------------------
# PAM and system accounts


def test_pam_accepts_the_right_password(pam_service, system_account):
    result = backends.pam_authenticate(pam_service.name, system_account.name,
                                       system_account.password)
    assert result.ok, result
    assert result.prompts                       # pam_unix asked for the password


def test_pam_rejects_a_wrong_password(pam_service, system_account):
    result = backends.pam_authenticate(pam_service.name, system_account.name,
                                       system_account.password + "x")
    assert result.auth_status == backends.PAM_AUTH_ERR, result
    assert result.acct_status is None


def test_pam_rejects_an_unknown_user(pam_service):
    result = backends.pam_authenticate(pam_service.name, "no-such-user-for-suite",
                                       "whatever")
    assert result.auth_status in (backends.PAM_USER_UNKNOWN, backends.PAM_AUTH_ERR), result


def test_pam_service_file_uses_pam_unix(pam_service):
    text = pam_service.path.read_text()
    assert pam_service.path.parent == Path("/etc/pam.d")
    assert "auth     required  pam_unix.so" in text
    assert "account  required  pam_unix.so" in text


def test_system_account_has_home_maildir_and_password(system_account):
    pw = pwd.getpwnam(system_account.name)
    assert (pw.pw_uid, pw.pw_gid, pw.pw_dir) == (system_account.uid, system_account.gid,
                                                 str(system_account.home))
    st = system_account.maildir.stat()
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
    shadow = Path("/etc/shadow").read_text().splitlines()
    hashed = next(l.split(":")[1] for l in shadow if l.startswith(system_account.name + ":"))
    assert hashed.startswith("$")           # a real hash, not locked ("!") or empty


def test_pam_and_account_factories_remove_what_they_made(pam_service_factory,
                                                         system_account_factory):
    service = pam_service_factory("auth required pam_deny.so\naccount required pam_deny.so\n")
    account = system_account_factory(password="Known pw 1")
    denied = backends.pam_authenticate(service.name, account.name, "Known pw 1")
    assert denied.auth_status != backends.PAM_SUCCESS
    service.remove()
    account.remove()
    assert not service.path.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(account.name)
    assert not account.home.exists()
