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


def test_commands_pipelined_behind_login_reach_imapd(imap, alice):
    from imap_support import deliver, message
    deliver(alice.maildir, "1700000001.M1P1.test,S=100", message("pipelined"), alice.uid, alice.gid)
    c = imap.raw()
    c.line()
    # One write: imaplogin reads all of it; imapd must answer what follows LOGIN.
    c.send(f'a LOGIN "{alice.address}" "{alice.password}"\r\nb SELECT INBOX\r\n'
           "c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nd LOGOUT\r\n")
    assert c.until_tag("a")[-1].startswith(b"a OK")
    select = c.until_tag("b")
    assert b"* 1 EXISTS" in select and select[-1].startswith(b"b OK")
    fetch = c.until_tag("c")
    assert b"pipelined" in b"".join(fetch) and fetch[-1].startswith(b"c OK")
    bye = c.until_tag("d")
    assert bye[0].startswith(b"* BYE") and bye[-1].startswith(b"d OK")
    assert c.closed()


def test_a_full_buffer_pipelined_behind_authenticate_reaches_imapd(imap, alice):
    import base64
    c = imap.raw()
    c.line()
    plain = base64.b64encode(f"\0{alice.address}\0{alice.password}".encode()).decode()
    noops = "".join(f"n{i} NOOP\r\n" for i in range(6000))  # about 60 KB, more than one read
    c.send(f"a AUTHENTICATE PLAIN {plain}\r\n{noops}z LOGOUT\r\n")
    assert c.until_tag("a")[-1].startswith(b"a OK")
    for i in range(6000):
        assert c.until_tag(f"n{i}")[-1].startswith(f"n{i} OK".encode())
    assert c.until_tag("z")[-1].startswith(b"z OK")
