"""Fixtures shared by the IMAP extension tests (test_imap_ext_*.py): an
imaplogin + imapd server and one account. Import them into a test module
with `from imap_ext_fixtures import imap, alice`."""
from __future__ import annotations

import pytest

from imap_support import ImapServer


@pytest.fixture
def imap(mail_system):
    server = ImapServer(mail_system)
    yield server
    server.stop()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "alice-pw")


def logged_in_raw(imap, account):
    """A RawClient past the greeting and LOGIN (nothing selected)."""
    c = imap.raw()
    c.line()
    assert c.command("a", f"LOGIN {account.address} {account.password}")[-1].startswith(b"a OK")
    return c


@pytest.fixture
def filled_box(imap, alice, request):
    """A session logged in as alice with INBOX filled by the test module's
    fill(m) and selected; logged out afterwards."""
    m = imap.login(alice)
    request.module.fill(m)
    assert m.select("INBOX")[0] == "OK"
    yield m
    m.logout()
