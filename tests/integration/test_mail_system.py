"""The mail_system fixture the service tests stand on: authdaemond with
authuserdb, accounts added at run time without a restart."""
import subprocess

from suite import tool


def authtest(mail_system, *args):
    return subprocess.run([tool("authlib/authtest"), "-s", "imap", *args], env=mail_system.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


def test_added_account_authenticates(mail_system):
    alice = mail_system.add_account("alice@example.test", "wonder land")
    ok = authtest(mail_system, alice.address, alice.password)
    assert ok.returncode == 0, ok.stderr
    assert f"Home Directory: {alice.home}" in ok.stdout
    assert alice.maildir.joinpath("new").is_dir()
    bad = authtest(mail_system, alice.address, "wrong")
    assert bad.returncode == 1
    assert "wrong" not in mail_system.log_text().replace("wrong password", "")


def test_daemon_down_is_a_temporary_failure_naming_the_socket(mail_system):
    mail_system.add_account("bob@example.test", "pw")
    mail_system.stop()
    down = authtest(mail_system, "bob@example.test", "pw")
    assert down.returncode == 75
    assert str(mail_system.socket) in down.stderr
    assert "authdaemond start" in down.stderr
