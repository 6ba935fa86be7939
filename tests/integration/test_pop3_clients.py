"""pop3login and pop3d against POP3 clients nobody here wrote: curl (pop3://)
and fetchmail, as a user would run them."""
from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

import backends
from pop3_support import Pop3Launcher, deliver, expected_lines, maildir_files
from suite import tool


@pytest.fixture
def pop3(mail_system, public_tmp):
    # The shipped default: clients pick CRAM-MD5 when it is offered, and these
    # accounts have no CRAM secret.
    launcher = Pop3Launcher(mail_system, Path(public_tmp) / "pop3.log", {"POP3AUTH": "PLAIN LOGIN"})
    yield launcher
    launcher.close()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "wonder land")


def curl(*args: str) -> subprocess.CompletedProcess:
    exe = backends.require_binary("curl", "curl")
    return subprocess.run([exe, "-sS", "--max-time", "60", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=90)


def test_curl_lists_retrieves_and_deletes(pop3, alice):
    first = b"From: a@example.test\nSubject: curl one\n\n.dot line\nbody\n"
    deliver(alice, first)
    deliver(alice, b"Subject: curl two\n\nsecond\n")
    url = f"pop3://127.0.0.1:{pop3.port}/"
    user = ["-u", f"{alice.address}:{alice.password}"]

    listing = curl(*user, url)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.decode().split("\r\n")
    assert re.fullmatch(r"1 \d+", lines[0]) and re.fullmatch(r"2 \d+", lines[1]), listing.stdout

    message = curl(*user, url + "1")
    assert message.returncode == 0, message.stderr
    assert message.stdout.split(b"\r\n")[:-1] == expected_lines(first)

    dele = curl(*user, "-X", "DELE", "-I", url + "1")
    assert dele.returncode == 0, dele.stderr
    assert len(maildir_files(alice)) == 1

    wrong = curl("-u", f"{alice.address}:nope", url)
    assert wrong.returncode != 0
    assert b"Login denied" in wrong.stderr or b"67" in wrong.stderr or wrong.returncode == 67


def test_curl_with_cram_md5(mail_system, public_tmp):
    secret = subprocess.run([tool("authlib/userdbpw"), "-hmac-md5"],
                            input="cram pass\n", text=True, stdout=subprocess.PIPE, check=True).stdout.strip()
    bob = mail_system.add_account("bob@example.test", "cram pass", **{"hmac-md5pw": secret})
    deliver(bob, b"Subject: cram\n\nvia cram-md5\n")
    launcher = Pop3Launcher(mail_system, Path(public_tmp) / "cram.log", {"POP3AUTH": "CRAM-MD5"})
    try:
        got = curl("-u", f"{bob.address}:{bob.password}", f"pop3://127.0.0.1:{launcher.port}/1")
        assert got.returncode == 0, got.stderr
        assert got.stdout.endswith(b"via cram-md5\r\n")
        launcher.wait_idle()
        assert "method=CRAM-MD5" in launcher.log_text()
    finally:
        launcher.close()


def fetchmail_run(home: Path, port: int, account, extra_options: str, mda_dir: Path) -> subprocess.CompletedProcess:
    exe = backends.require_binary("fetchmail", "fetchmail")
    mda = home / "mda.sh"
    mda.write_text(f'#!/bin/sh\nn=$(ls "{mda_dir}" | wc -l)\ncat > "{mda_dir}/msg-$n"\n')
    mda.chmod(0o755)
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        "set no syslog\n"
        f'poll 127.0.0.1 with proto POP3 port {port} uidl\n'
        f'  user "{account.address}" there with password "{account.password}"\n'
        f'  {extra_options} sslproto "" mda "{mda}"\n')
    rc.chmod(stat.S_IRUSR | stat.S_IWUSR)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    return subprocess.run([exe, "-f", str(rc), "--idfile", str(home / "fetchids"), "-v"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=120)


def test_fetchmail_fetches_and_deletes(pop3, alice, tmp_path):
    messages = [b"Subject: fm %d\n\n.line %d\nbody\n" % (i, i) for i in range(3)]
    for m in messages:
        deliver(alice, m)
    out = tmp_path / "out"
    out.mkdir()
    run = fetchmail_run(tmp_path, pop3.port, alice, "fetchall no keep", out)
    assert run.returncode == 0, run.stdout
    got = sorted(p.read_bytes() for p in out.iterdir())
    assert len(got) == 3, run.stdout
    for m in messages:
        # fetchmail adds its Received: line; the message follows, intact.
        assert any(g.endswith(m) for g in got), (m, got)
    assert maildir_files(alice) == []


def test_fetchmail_keep_uses_uidl_for_new_mail_only(pop3, alice, tmp_path):
    deliver(alice, b"Subject: old\n\nold\n")
    out = tmp_path / "out"
    out.mkdir()
    first = fetchmail_run(tmp_path, pop3.port, alice, "keep", out)
    assert first.returncode == 0, first.stdout
    assert len(list(out.iterdir())) == 1
    deliver(alice, b"Subject: new\n\nnew\n")
    second = fetchmail_run(tmp_path, pop3.port, alice, "keep", out)
    assert second.returncode == 0, second.stdout
    got = sorted(p.read_bytes() for p in out.iterdir())
    assert len(got) == 2, second.stdout
    assert any(g.endswith(b"Subject: new\n\nnew\n") for g in got)
    assert len(maildir_files(alice)) == 2
