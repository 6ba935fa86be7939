"""authpgsql against a real PostgreSQL 15, through authdaemond and authtest.

Every seeded account (SHA-512-crypt, {SSHA}, MD5-crypt and a clear-text
column; see backends.ACCOUNT_SPECS) logs in with the query authpgsql
generates from the *_FIELD settings and with an admin's PGSQL_SELECT_CLAUSE.
Wrong passwords, unknown users and SQL injection in the login name are
rejected (authtest exit 1) without a SQL error; a stopped server is a
temporary failure (exit 75) that names its socket in the daemon's log, and the
same daemon recovers once the server is back. authenumerate lists the
accounts, and a password change through authtest takes effect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import backends
from suite import ModuleDaemon, daemon_starter

SRC = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SUITE_BUILD", SRC / "build"))
AUTHDAEMOND = BUILD / "authlib" / "authdaemond"
AUTHTEST = BUILD / "authlib" / "authtest"
AUTHENUMERATE = BUILD / "authlib" / "authenumerate"

EXIT_OK, EXIT_REJECTED, EXIT_TEMPFAIL = 0, 1, 75
# authlib/module_pgsql.cpp's rc_check_interval: how often a worker stats authpgsqlrc.
RC_CHECK_INTERVAL_S = 1.0

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (AUTHDAEMOND, AUTHTEST, AUTHENUMERATE)),
    reason=f"authdaemond, authtest or authenumerate not built yet in {BUILD}/authlib "
           "(set SUITE_BUILD to the build folder)")

# An admin's lookup in Courier's style: placeholders inside quotes, the login
# assembled from its parts, the service compared in SQL.
CUSTOM_SELECT = (
    "SELECT id, crypt, clear, uid, gid, home, "
    "CASE WHEN '$(service)' = 'courier' THEN defaultdelivery ELSE maildir END, "
    "quota, name, options FROM passwd "
    "WHERE id = '$(local_part)@$(domain)' AND '$(service)' <> 'forbidden'")


class AuthDaemon(ModuleDaemon):
    """authdaemond in the foreground with authmodulelist="authpgsql" (suite.ModuleDaemon)."""

    def __init__(self, folder: Path, authpgsqlrc: str, daemons: int = 2):
        super().__init__(folder, "authpgsql", "AUTHPGSQLRC", "authpgsqlrc", authpgsqlrc, daemons)
        self.pgsqlrc_path = self.module_rc_path

    def write_authpgsqlrc(self, text: str) -> None:
        self.write_module_rc(text)
        # Each worker looks at the file at most once a second: the requests
        # that start a second or more after the edit use it.
        time.sleep(RC_CHECK_INTERVAL_S + 0.1)


@pytest.fixture
def start_daemon(public_tmp: Path):
    """start_daemon(authpgsqlrc_text) -> a running AuthDaemon; stopped after the test."""
    yield from daemon_starter(public_tmp, AuthDaemon)


def home_line(cp: subprocess.CompletedProcess) -> str:
    m = re.search(r"Home Directory:\s*(\S+)", cp.stdout)
    return m.group(1) if m else ""


def assert_logs_in(daemon: AuthDaemon, login: str, a: backends.Account) -> None:
    cp = daemon.authtest(login, a.password)
    assert cp.returncode == EXIT_OK, f"{a.login}: {daemon.explain(cp)}"
    assert home_line(cp) == str(a.home), daemon.explain(cp)
    assert f"uid {a.uid_number}" in cp.stdout, daemon.explain(cp)
    assert f"gid {a.gid_number}" in cp.stdout, daemon.explain(cp)
    if a.maildir:
        assert a.maildir in cp.stdout, daemon.explain(cp)
    if a.quota:
        assert a.quota in cp.stdout, daemon.explain(cp)
    for k, v in a.option_map.items():
        assert f"{k}={v}" in cp.stdout, daemon.explain(cp)


# ---------------------------------------------------------------------------
# Logging in


@pytest.mark.parametrize("form", ["address", "bare-name"])
def test_each_seeded_account_logs_in_with_the_default_query(postgres, start_daemon, form):
    daemon = start_daemon(postgres.authpgsqlrc(DEFAULT_DOMAIN=backends.MAIL_DOMAIN))
    for a in postgres.accounts:
        # bare: DEFAULT_DOMAIN is appended, as Courier does.
        assert_logs_in(daemon, a.address if form == "address" else a.login, a)


def test_each_seeded_account_logs_in_with_a_custom_select_clause(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_SELECT_CLAUSE=CUSTOM_SELECT,
                                               DEFAULT_DOMAIN=backends.MAIL_DOMAIN))
    for a in postgres.accounts:
        assert_logs_in(daemon, a.address, a)
        assert_logs_in(daemon, a.login, a)  # $(domain) from DEFAULT_DOMAIN
    # $(service) reaches the clause as a value.
    alice = postgres.account("alice")
    cp = daemon.authtest(alice.address, alice.password, service="forbidden")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    # The courier service reads PGSQL_DEFAULTDELIVERY's column instead of the maildir.
    dave = postgres.account("dave")
    cp = daemon.authtest(dave.address, service="courier")
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    assert dave.default_delivery in cp.stdout, daemon.explain(cp)


def test_default_query_reads_defaultdelivery_for_the_courier_service(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    dave = postgres.account("dave")
    cp = daemon.authtest(dave.address, service="courier")
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    assert dave.default_delivery in cp.stdout, daemon.explain(cp)
    cp = daemon.authtest(dave.address, service="imap")
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    assert dave.maildir in cp.stdout and dave.default_delivery not in cp.stdout, daemon.explain(cp)


def test_wrong_password_and_unknown_user_are_rejected(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    for a in postgres.accounts:
        for wrong in (a.password + "x", a.password[:-1], a.password.upper()):
            cp = daemon.authtest(a.address, wrong)
            assert cp.returncode == EXIT_REJECTED, f"{a.login}: {daemon.explain(cp)}"
    cp = daemon.authtest("nobody@example.test", "whatever")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    cp = daemon.authtest("nobody@example.test")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    log = daemon.log()
    assert "no such account nobody@example.test" in log, backends.log_tail(daemon.log_path)
    # Reasons never carry a password, neither the users' nor the database role's.
    for a in postgres.accounts:
        assert a.password not in log
    assert postgres.role_password not in log


# Login names that would log in as alice (or as anyone) if pasted into the SQL.
INJECTIONS = [
    "x' OR '1'='1",
    "alice@example.test' --",
    "alice@example.test'--",
    "' OR 1=1 --",
    "x' OR id LIKE 'alice%",
    "alice@example.test'; UPDATE users SET crypt = '' --",
    "alice@example.test\\' OR '1'='1",
    "$1",
    "$(local_part)",
]


@pytest.mark.parametrize("clause", ["default", "custom"])
def test_sql_injection_in_the_login_name_is_rejected(postgres, start_daemon, clause):
    overrides = {"PGSQL_SELECT_CLAUSE": CUSTOM_SELECT} if clause == "custom" else {}
    daemon = start_daemon(postgres.authpgsqlrc(**overrides))
    alice = postgres.account("alice")
    before = postgres.query("SELECT id, crypt, clear FROM users ORDER BY id")
    assert daemon.authtest(alice.address, alice.password).returncode == EXIT_OK
    for login in INJECTIONS:
        cp = daemon.authtest(login, alice.password)
        # 1, not 75: the name was a value, so no SQL error happened either.
        assert cp.returncode == EXIT_REJECTED, f"login {login!r}: {daemon.explain(cp)}"
        assert "Authenticated" not in cp.stdout
        cp = daemon.authtest(login)
        assert cp.returncode == EXIT_REJECTED, f"lookup {login!r}: {daemon.explain(cp)}"
    assert postgres.query("SELECT id, crypt, clear FROM users ORDER BY id") == before
    assert "syntax error" not in daemon.log(), backends.log_tail(daemon.log_path)


def test_several_matching_rows_are_rejected_with_a_reason(postgres, start_daemon):
    # An admin's clause that matches every account of the domain.
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_SELECT_CLAUSE=(
        "SELECT id, crypt, clear, uid, gid, home, maildir, quota, name, options FROM users "
        "WHERE id LIKE '%@$(domain)'")))
    alice = postgres.account("alice")
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert f"{len(postgres.accounts)} rows match {alice.address}" in daemon.log(), \
        backends.log_tail(daemon.log_path)


def test_null_uid_and_relative_home_are_rejected_naming_the_column(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_SELECT_CLAUSE=(
        "SELECT id, crypt, clear, CASE WHEN id LIKE 'alice@%' THEN NULL ELSE uid END AS uid_or_null, "
        "gid, CASE WHEN id LIKE 'bob@%' THEN 'relative/home' ELSE home END AS home_dir, "
        "maildir, quota, name, options FROM users WHERE id = '$(local_part)@$(domain)'")))
    alice, bob, carol = (postgres.account(n) for n in ("alice", "bob", "carol"))
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    cp = daemon.authtest(bob.address, bob.password)
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    log = daemon.log()
    assert "(uid_or_null)" in log and "is NULL" in log, backends.log_tail(daemon.log_path)
    assert "(home_dir)" in log and "not an absolute path" in log, backends.log_tail(daemon.log_path)
    assert_logs_in(daemon, carol.address, carol)


def test_broken_clause_is_a_temporary_failure_naming_the_setting(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_SELECT_CLAUSE=(
        "SELECT id, crypt, clear, uid, gid, home FROM no_such_table WHERE id = '$(local_part)'")))
    alice = postgres.account("alice")
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    log = daemon.log()
    assert "PGSQL_SELECT_CLAUSE" in log and "no_such_table" in log, backends.log_tail(daemon.log_path)


def test_slow_query_is_cut_by_the_statement_timeout(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(
        PGSQL_STATEMENT_TIMEOUT="1",
        PGSQL_SELECT_CLAUSE=(
            "SELECT id, crypt, clear, uid, gid, home, maildir, quota, name, options "
            "FROM users, pg_sleep(CASE WHEN '$(service)' = 'slow' THEN 30 ELSE 0 END) "
            "WHERE id = '$(local_part)@$(domain)'")))
    alice = postgres.account("alice")
    cp = daemon.authtest(alice.address, alice.password, service="slow")
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    assert "PGSQL_STATEMENT_TIMEOUT" in daemon.log(), backends.log_tail(daemon.log_path)
    # The connection is still good for the next request.
    assert_logs_in(daemon, alice.address, alice)


# ---------------------------------------------------------------------------
# The server goes away and comes back


def test_server_down_is_temporary_and_the_daemon_recovers(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    alice = postgres.account("alice")
    # Several requests, so that each worker holds an open connection.
    for _ in range(4):
        assert_logs_in(daemon, alice.address, alice)

    postgres.stop()
    for _ in range(3):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    cp = daemon.authtest(alice.address)
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    cp = daemon.enumerate()
    assert cp.returncode != EXIT_OK, daemon.explain(cp)
    log = daemon.log()
    assert str(postgres.socket_path) in log, backends.log_tail(daemon.log_path)
    assert postgres.role_password not in log

    postgres.start()
    # Without restarting authdaemond: every worker reconnects by itself.
    for _ in range(4):
        assert_logs_in(daemon, alice.address, alice)
    assert daemon.authtest(alice.address, "wrong").returncode == EXIT_REJECTED


def test_restarted_server_is_reconnected_transparently(postgres, start_daemon):
    """A connection the server dropped between requests is reset and the
    statement retried: the clients see no failure at all."""
    daemon = start_daemon(postgres.authpgsqlrc())
    bob = postgres.account("bob")
    for _ in range(4):
        assert_logs_in(daemon, bob.address, bob)
    postgres.stop()
    postgres.start()
    for _ in range(4):
        assert_logs_in(daemon, bob.address, bob)


def test_lookup_is_prepared_once_per_connection_and_again_after_a_restart(postgres, public_tmp):
    """authpgsql parses its lookup once per connection (a named prepared
    statement), not on every request, and prepares it again on the new
    connection after the server restarted (issue 16). The server's own log
    (log_min_duration_statement = 0 logs every parse, bind and execute) counts."""
    postgres.psql(f"ALTER ROLE {postgres.role} SET log_min_duration_statement = 0")
    folder = public_tmp / "prepared"
    folder.mkdir(mode=0o711)
    daemon = AuthDaemon(folder, postgres.authpgsqlrc(), daemons=1)
    daemon.start()
    try:
        carol = postgres.account("carol")

        def counts() -> tuple[int, int, int]:
            log = postgres.log_path.read_text(errors="replace")
            return (len(re.findall(r"parse authpgsql_\d+: SELECT", log)),
                    len(re.findall(r"execute authpgsql_\d+: SELECT", log)),
                    len(re.findall(r"(?:parse|execute) <unnamed>: SELECT", log)))

        for _ in range(5):
            assert_logs_in(daemon, carol.address, carol)
        assert daemon.authtest(carol.address, "wrong").returncode == EXIT_REJECTED
        parses, executes, unnamed = counts()
        assert (parses, unnamed) == (1, 0), backends.log_tail(postgres.log_path, 30)
        assert executes == 6, backends.log_tail(postgres.log_path, 30)

        postgres.stop()
        postgres.start()
        for _ in range(3):
            assert_logs_in(daemon, carol.address, carol)
        parses, executes, unnamed = counts()
        assert (parses, unnamed) == (2, 0), backends.log_tail(postgres.log_path, 30)
        assert executes == 9, backends.log_tail(postgres.log_path, 30)
    finally:
        daemon.stop()


def test_hung_server_times_out_as_temporary(postgres, start_daemon):
    """A server that accepts connections but never answers (SIGSTOP) costs
    PGSQL_STATEMENT_TIMEOUT + 1 s on an open connection and PGSQL_CONNECT_TIMEOUT
    on a new one, both inside AUTH_TIMEOUT, and is a temporary failure."""
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_STATEMENT_TIMEOUT="1", PGSQL_CONNECT_TIMEOUT="2"))
    alice = postgres.account("alice")
    for _ in range(4):
        assert_logs_in(daemon, alice.address, alice)
    # PostgreSQL's backends leave the postmaster's process group (setsid), so
    # freeze() alone would stop new connections only: stop the daemon's
    # backends too.
    backend_pids = [int(pid) for (pid,) in postgres.query(
        f"SELECT pid FROM pg_stat_activity WHERE usename = {backends.pg_quote(postgres.role)}")]
    assert backend_pids, "authdaemond's workers hold no connection"
    postgres.freeze()
    for pid in backend_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            cp = daemon.authtest(alice.address, alice.password)
            assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
        log = daemon.log()
        assert "did not answer within 2 s" in log, backends.log_tail(daemon.log_path)
        assert str(postgres.socket_path) in log, backends.log_tail(daemon.log_path)
    finally:
        for pid in backend_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        postgres.thaw()
    for _ in range(4):
        assert_logs_in(daemon, alice.address, alice)


def test_wrong_database_password_is_temporary(postgres, start_daemon):
    conninfo = postgres.conninfo_for(postgres.role, "not the password")
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_CONNECTION=conninfo))
    alice = postgres.account("alice")
    cp = daemon.authtest(alice.address, alice.password)
    assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
    log = daemon.log()
    assert "password authentication failed" in log, backends.log_tail(daemon.log_path)
    assert "not the password" not in log


def test_older_connection_settings(postgres, start_daemon):
    rc = postgres.authpgsqlrc(
        PGSQL_CONNECTION=None, PGSQL_HOST=str(postgres.socket_dir), PGSQL_PORT=str(postgres.port),
        PGSQL_USERNAME=postgres.role, PGSQL_PASSWORD=postgres.role_password,
        PGSQL_DATABASE=postgres.dbname)
    daemon = start_daemon(rc)
    for a in postgres.accounts:
        assert_logs_in(daemon, a.address, a)


def test_edited_authpgsqlrc_takes_effect_without_restart(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    alice, bob = postgres.account("alice"), postgres.account("bob")
    assert_logs_in(daemon, alice.address, alice)
    daemon.write_authpgsqlrc(postgres.authpgsqlrc(PGSQL_WHERE_CLAUSE="id NOT LIKE 'alice@%'"))
    for _ in range(3):
        cp = daemon.authtest(alice.address, alice.password)
        assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
        assert_logs_in(daemon, bob.address, bob)
    # A broken edit keeps the previous settings and says why.
    daemon.write_authpgsqlrc(postgres.authpgsqlrc(PGSQL_SELECT_CLAUSE="SELECT '$(oops)'"))
    for _ in range(3):
        assert_logs_in(daemon, bob.address, bob)
    assert "$(oops)" in daemon.log(), backends.log_tail(daemon.log_path)


# ---------------------------------------------------------------------------
# authenumerate


def parse_enumeration(cp: subprocess.CompletedProcess) -> dict[str, list[str]]:
    rows = {}
    for line in cp.stdout.splitlines():
        fields = line.split("\t")
        assert len(fields) == 6, f"malformed line {line!r}"
        rows[fields[0]] = fields
    return rows


def test_authenumerate_lists_the_accounts(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    cp = daemon.enumerate()
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    rows = parse_enumeration(cp)
    assert set(rows) == {a.address for a in postgres.accounts}, cp.stdout
    for a in postgres.accounts:
        name, uid, gid, home, maildir, options = rows[a.address]
        assert (uid, gid, home) == (str(a.uid_number), str(a.gid_number), str(a.home))
        assert maildir == a.maildir
        assert dict(kv.split("=", 1) for kv in options.split(",") if kv) == a.option_map


def test_authenumerate_with_an_enumerate_clause(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(
        DEFAULT_DOMAIN=backends.MAIL_DOMAIN,
        PGSQL_ENUMERATE_CLAUSE=("SELECT id, uid, gid, home, maildir, options FROM users "
                                "WHERE id LIKE '%@$(domain)' AND options NOT LIKE '%disableimap=1%'")))
    cp = daemon.enumerate()
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    want = {a.address for a in postgres.accounts if a.option_map.get("disableimap") != "1"}
    assert set(parse_enumeration(cp)) == want, cp.stdout


def test_authenumerate_skips_unusable_rows_and_counts_them(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_ENUMERATE_CLAUSE=(
        "SELECT id, uid, gid, CASE WHEN id LIKE 'bob@%' THEN NULL ELSE home END, maildir, options "
        "FROM users")))
    cp = daemon.enumerate()
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    want = {a.address for a in postgres.accounts if a.login != "bob"}
    assert set(parse_enumeration(cp)) == want, cp.stdout
    assert "enumerate skipped 1 rows" in daemon.log(), backends.log_tail(daemon.log_path)


# ---------------------------------------------------------------------------
# Changing passwords


@pytest.mark.parametrize("login", ["alice", "bob", "carol"])
def test_password_change_through_authtest(postgres, start_daemon, login):
    daemon = start_daemon(postgres.authpgsqlrc())
    a = postgres.account(login)
    new = f"New pass 'for' {login} $(domain) %s"
    cp = daemon.authtest(a.address, a.password, new)
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    (stored_crypt, stored_clear), = postgres.query(
        f"SELECT crypt, clear FROM users WHERE id = {backends.pg_quote(a.address)}")
    assert backends.verify_password(new, stored_crypt), stored_crypt
    assert stored_clear == new  # PGSQL_CLEAR_PWFIELD is set: Courier writes both columns
    assert_logs_in(daemon, a.address, dataclasses.replace(a, password=new))
    cp = daemon.authtest(a.address, a.password)
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    log = daemon.log()
    assert new not in log and a.password not in log


def test_password_change_with_the_wrong_old_password_changes_nothing(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc())
    alice = postgres.account("alice")
    before = postgres.query("SELECT id, crypt, clear FROM users ORDER BY id")
    cp = daemon.authtest(alice.address, "not her password", "new password 1")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    cp = daemon.authtest("nobody@example.test", "x", "new password 1")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert postgres.query("SELECT id, crypt, clear FROM users ORDER BY id") == before
    assert_logs_in(daemon, alice.address, alice)


def test_password_change_with_a_chpass_clause(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(
        PGSQL_CLEAR_PWFIELD=None,
        PGSQL_CHPASS_CLAUSE=("UPDATE users SET crypt = '$(newpass_crypt)' "
                             "WHERE id = '$(local_part)@$(domain)'")))
    alice = postgres.account("alice")
    new = "x' , clear = 'oops"  # would rewrite another column if pasted into the SQL
    cp = daemon.authtest(alice.address, alice.password, new)
    assert cp.returncode == EXIT_OK, daemon.explain(cp)
    (stored_crypt, stored_clear), = postgres.query(
        f"SELECT crypt, clear FROM users WHERE id = {backends.pg_quote(alice.address)}")
    assert backends.verify_password(new, stored_crypt)
    assert stored_clear == alice.sql_clear
    assert_logs_in(daemon, alice.address, dataclasses.replace(alice, password=new))


def test_password_change_that_matches_no_row_is_rolled_back(postgres, start_daemon):
    daemon = start_daemon(postgres.authpgsqlrc(PGSQL_CHPASS_CLAUSE=(
        "UPDATE users SET crypt = '$(newpass_crypt)' WHERE id = '$(local_part)@$(domain)' "
        "AND id = 'nobody'")))
    alice = postgres.account("alice")
    before = postgres.query("SELECT id, crypt, clear FROM users ORDER BY id")
    cp = daemon.authtest(alice.address, alice.password, "new password 2")
    assert cp.returncode == EXIT_REJECTED, daemon.explain(cp)
    assert "would have changed 0 rows" in daemon.log(), backends.log_tail(daemon.log_path)
    assert postgres.query("SELECT id, crypt, clear FROM users ORDER BY id") == before


@pytest.mark.skipif(os.geteuid() != 0, reason="workers can only drop root when the daemon has it")
def test_workers_run_as_the_mail_user_when_authpgsqlrc_is_readable_to_it(postgres, start_daemon):
    import grp
    import pwd
    from suite import MAIL_USER
    from test_authldap import _worker_ids
    mail = pwd.getpwnam(MAIL_USER)
    a = postgres.accounts[0]
    daemon = start_daemon(postgres.authpgsqlrc(DEFAULT_DOMAIN=backends.MAIL_DOMAIN))
    with open(daemon.rc_path, "a") as rc:  # authpgsqlrc is in authdaemonvar: let the mail group search it
        rc.write(f"authdaemongroup={grp.getgrgid(mail.pw_gid).gr_name}\n")
    os.chown(daemon.pgsqlrc_path, 0, mail.pw_gid)
    os.chmod(daemon.pgsqlrc_path, 0o640)
    daemon.stop()
    daemon.start()
    assert_logs_in(daemon, a.address, a)
    workers = _worker_ids(daemon)
    assert workers and all(w[:2] == (mail.pw_uid, mail.pw_gid) for w in workers), (workers, daemon.log())
    assert f"workers run as the mail user {MAIL_USER}" in daemon.log()
    # Re-read by the unprivileged workers after a change.
    tmp = daemon.pgsqlrc_path.with_suffix(".new")
    tmp.write_text(daemon.pgsqlrc_path.read_text() + "\n")
    os.chown(tmp, 0, mail.pw_gid)
    os.chmod(tmp, 0o640)
    tmp.rename(daemon.pgsqlrc_path)
    time.sleep(RC_CHECK_INTERVAL_S + 0.1)
    assert_logs_in(daemon, a.address, a)
    assert f"authpgsql: reread {daemon.pgsqlrc_path}" in daemon.log()


# ---------------------------------------------------------------------------
# Deadlines: the 2 s request read deadline and AUTH_TIMEOUT's watchdog (a
# one-shot timer armed when a request starts and none is running, re-armed
# from its handler while requests keep coming; authlib/daemon.cpp)


def _worker_pids(daemon) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(daemon.proc.pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def start_one_worker(public_tmp: Path):
    """start_one_worker(authpgsqlrc_text, auth_timeout) -> a running AuthDaemon
    with daemons=1, so every request meets the same worker."""
    timeouts = []

    def make(folder: Path, rc_text: str) -> AuthDaemon:
        d = AuthDaemon(folder, rc_text, daemons=1)
        d.rc_path.write_text(d.rc_path.read_text().replace("AUTH_TIMEOUT=5", f"AUTH_TIMEOUT={timeouts[-1]}"))
        return d
    starter = daemon_starter(public_tmp, make)
    start = next(starter)

    def start_with(rc_text: str, auth_timeout: int) -> AuthDaemon:
        timeouts.append(auth_timeout)
        return start(rc_text)
    yield start_with
    with contextlib.suppress(StopIteration):
        next(starter)


def test_stalled_client_is_dropped_and_the_worker_serves_the_next(postgres, start_one_worker):
    import socket
    daemon = start_one_worker(postgres.authpgsqlrc(), 4)
    alice = postgres.account("alice")
    assert_logs_in(daemon, alice.address, alice)
    workers = _worker_pids(daemon)
    assert len(workers) == 1, workers
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(daemon.socket))
        start = time.monotonic()
        s.sendall(b"PRE . pop3 ")  # and never the rest
        assert s.recv(100) == b""
        waited = time.monotonic() - start
    assert 1.5 < waited < 3.5, f"half a request held the worker {waited:.1f} s (deadline 2 s)"
    assert "not complete within 2000 ms" in daemon.log(), backends.log_tail(daemon.log_path)
    # The same worker (not killed, not replaced) answers the next request at once.
    start = time.monotonic()
    assert_logs_in(daemon, alice.address, alice)
    assert time.monotonic() - start < 2
    assert _worker_pids(daemon) == workers
    assert "took longer than AUTH_TIMEOUT" not in daemon.log(), backends.log_tail(daemon.log_path)


def test_quick_requests_for_longer_than_auth_timeout_keep_the_worker(postgres, start_one_worker):
    """The watchdog's timer fires during a run of quick requests; each time it
    finds a young request and re-arms. Nothing is abandoned, before or after
    an idle pause that lets the timer lapse."""
    daemon = start_one_worker(postgres.authpgsqlrc(), 1)
    alice = postgres.account("alice")
    assert_logs_in(daemon, alice.address, alice)
    workers = _worker_pids(daemon)
    for phase in range(2):
        end = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < end:
            assert_logs_in(daemon, alice.address, alice)
            n += 1
        assert n >= 5, n
        time.sleep(1.5)  # idle: the timer lapses; the next request arms it again
    assert _worker_pids(daemon) == workers, daemon.log()
    assert "took longer than AUTH_TIMEOUT" not in daemon.log(), backends.log_tail(daemon.log_path)


def test_backend_hung_past_auth_timeout_abandons_the_request(postgres, start_one_worker):
    """PGSQL_STATEMENT_TIMEOUT longer than AUTH_TIMEOUT (a mistake): the watchdog
    still ends the request at AUTH_TIMEOUT, armed afresh after an idle spell,
    the client gets a temporary failure, and a new worker serves the next one."""
    daemon = start_one_worker(postgres.authpgsqlrc(PGSQL_STATEMENT_TIMEOUT="20"), 2)
    alice = postgres.account("alice")
    assert_logs_in(daemon, alice.address, alice)
    workers = _worker_pids(daemon)
    time.sleep(2.5)  # idle longer than AUTH_TIMEOUT: the watchdog's timer has lapsed
    backend_pids = [int(pid) for (pid,) in postgres.query(
        f"SELECT pid FROM pg_stat_activity WHERE usename = {backends.pg_quote(postgres.role)}")]
    assert backend_pids, "authdaemond's worker holds no connection"
    for pid in backend_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        cp = daemon.authtest(alice.address, alice.password)
        waited = time.monotonic() - start
        assert cp.returncode == EXIT_TEMPFAIL, daemon.explain(cp)
        assert 1.5 < waited < 5, f"the request was abandoned after {waited:.1f} s (AUTH_TIMEOUT=2)"
        backends.poll_until(lambda: "took longer than AUTH_TIMEOUT=2s and was abandoned" in daemon.log(),
                            what="the watchdog's log line", timeout_s=10)
    finally:
        for pid in backend_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert_logs_in(daemon, alice.address, alice)
    assert _worker_pids(daemon) and _worker_pids(daemon) != workers
