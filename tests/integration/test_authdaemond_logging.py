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
