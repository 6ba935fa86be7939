"""imaplogin, the pre-login IMAP dialogue, seen from a client: the limits on
what a client may send before LOGIN."""
from __future__ import annotations

import pytest

from imap_support import ImapServer


@pytest.fixture
def imap(mail_system):
    server = ImapServer(mail_system, "imaplogin")
    yield server
    server.stop()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "alice-pw")


def id_command(tag: str, pairs: int, value_bytes: int) -> bytes:
    fields = " ".join(f'"x-field-{i}" "{chr(ord("a") + i % 26) * value_bytes}"' for i in range(pairs))
    return f"{tag} ID ({fields})\r\n".encode()


def test_a_32_kb_id_before_login_is_answered(imap, alice):
    # imaptest's `id` script sends a 31.8 KB ID before LOGIN.
    c = imap.raw()
    c.line()
    line = id_command("a", 31, 1000)
    assert 31_000 < len(line) < 33_000
    c.send(line)
    reply = c.until_tag("a")
    assert reply[0].startswith(b"* ID (")
    assert reply[-1].startswith(b"a OK")
    r = c.command("b", f'LOGIN "{alice.address}" "{alice.password}"')
    assert r[-1].startswith(b"b OK")
    assert c.command("c", "SELECT INBOX")[-1].startswith(b"c OK")
    c.close()


def test_a_line_over_64_kib_before_login_gets_bad_and_the_session_goes_on(imap, alice):
    c = imap.raw()
    c.line()
    line = id_command("a", 66, 1000)
    assert len(line) > 64 * 1024
    c.send(line)
    assert c.line() == b"a BAD Command line too long."
    r = c.command("b", f'LOGIN "{alice.address}" "{alice.password}"')
    assert r[-1].startswith(b"b OK")
    c.close()
