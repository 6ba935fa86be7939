"""authdaemond's per-request log (issue 16): a successful AUTH or PRE, one per
login on a busy server, is logged only with DEBUG_LOGIN set; every failure
keeps its one line, naming the account and the reason, never the password."""
import os
import re
import signal
import subprocess
from pathlib import Path

import backends
from suite import MailSystem, tool


def authtest(system: MailSystem, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("authlib/authtest"), "-s", "imap", *args], env=system.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


def started(root: Path, debug_login: int) -> MailSystem:
    system = MailSystem(root)
    system.rc.write_text(re.sub(r"DEBUG_LOGIN=\d", f"DEBUG_LOGIN={debug_login}", system.rc.read_text()))
    system.start()
    return system


def lines_naming(system: MailSystem, who: str) -> list[str]:
    return [line for line in system.log_text().splitlines() if who in line]


def test_success_is_silent_without_debug_login_and_each_failure_is_one_line(public_tmp):
    system = started(Path(public_tmp) / "quiet", 0)
    try:
        alice = system.add_account("alice@example.test", "quiet secret 1")
        for _ in range(5):
            ok = authtest(system, alice.address, alice.password)
            assert ok.returncode == 0, ok.stderr
            assert authtest(system, alice.address).returncode == 0  # PRE (lookup)
        assert lines_naming(system, alice.address) == [], backends.log_tail(system.log)

        bad = authtest(system, alice.address, "not the password")
        assert bad.returncode == 1
        assert authtest(system, "nobody@example.test", "whatever").returncode == 1
        backends.poll_until(lambda: len(lines_naming(system, "nobody@example.test")) == 1,
                            what="the unknown account's log line", timeout_s=10)
        failed = lines_naming(system, alice.address)
        assert len(failed) == 1, backends.log_tail(system.log)
        assert "not the password" not in system.log_text()
    finally:
        system.stop()


def test_debug_login_logs_each_success(public_tmp):
    system = started(Path(public_tmp) / "debug", 0)
    try:
        bob = system.add_account("bob@example.test", "debug secret 2")
        assert authtest(system, bob.address, bob.password).returncode == 0
        assert lines_naming(system, bob.address) == [], backends.log_tail(system.log)
        # DEBUG_LOGIN=1 through a reload (authdaemond reload = SIGHUP), no restart.
        system.rc.write_text(system.rc.read_text().replace("DEBUG_LOGIN=0", "DEBUG_LOGIN=1"))
        os.kill(system.proc.pid, signal.SIGHUP)
        backends.poll_until(lambda: "reloaded" in system.log_text(), what="the reload", timeout_s=10)
        backends.poll_until(
            lambda: authtest(system, bob.address, bob.password).returncode == 0
            and any("ok" in line for line in lines_naming(system, bob.address)),
            what="a logged success with DEBUG_LOGIN=1", timeout_s=15)
        assert "debug secret 2" not in system.log_text()
    finally:
        system.stop()


def test_changed_password_is_refused_at_once_with_the_cache_on(public_tmp):
    """AUTH_CACHE_TTL (default 60 s) remembers verified passwords per worker;
    a new stored hash must miss at once: after `userdb set systempw` +
    makeuserdb the old password fails in every worker, the new one works.
    With DEBUG_LOGIN=2 the hits are visible in the log."""
    system = started(Path(public_tmp) / "cache", 2)
    try:
        carol = system.add_account("carol@example.test", "first secret")
        for _ in range(9):  # every one of the 3 workers verifies, then remembers
            assert authtest(system, carol.address, carol.password).returncode == 0
        backends.poll_until(lambda: "crypt skipped" in system.log_text(), what="a cache hit", timeout_s=10)
        system.add_account(carol.address, "second secret")
        for _ in range(9):
            old = authtest(system, carol.address, "first secret")
            assert old.returncode == 1, old.stdout + old.stderr
        assert authtest(system, carol.address, "second secret").returncode == 0
        assert "first secret" not in system.log_text() and "second secret" not in system.log_text()
    finally:
        system.stop()


def test_cache_off_with_zero(public_tmp):
    system = MailSystem(Path(public_tmp) / "nocache")
    system.rc.write_text(system.rc.read_text().replace("DEBUG_LOGIN=1", "DEBUG_LOGIN=2") + "AUTH_CACHE_TTL=0\n")
    system.start()
    try:
        dave = system.add_account("dave@example.test", "no cache here")
        for _ in range(6):
            assert authtest(system, dave.address, dave.password).returncode == 0
        assert "crypt skipped" not in system.log_text()
        assert "AUTH_CACHE_TTL" not in system.log_text()  # a known setting: no warning
    finally:
        system.stop()
