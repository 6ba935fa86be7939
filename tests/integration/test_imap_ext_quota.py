"""QUOTA (RFC 9208) through imaplogin + imapd with Python's imaplib: the
account's maildirsize as quota root "" with STORAGE (KiB) and MESSAGE usage
that follows APPEND and EXPUNGE, no root without a quota, SETQUOTA refused."""
from __future__ import annotations

import os

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)


def write_quota(alice, spec: str) -> None:
    size = alice.maildir / "maildirsize"
    size.write_text(f"{spec}\n")
    os.chown(size, alice.uid, alice.gid)


def test_quota_from_maildirsize(imap, alice):
    write_quota(alice, "10240S,5C")
    m = imap.login(alice)
    caps = m.capability()[1][0].split()
    for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"):
        assert cap in caps
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK"
    assert data == [[b'INBOX ""'], [b'"" (STORAGE 0 10 MESSAGE 0 5)']]
    msg = b"Subject: q\r\n\r\n" + b"x" * 3000 + b"\r\n"   # 3016 bytes -> 3 KiB (rounded up)
    assert m.append("INBOX", None, None, msg)[0] == "OK"
    typ, data = m.getquota('""')
    assert typ == "OK" and data == [b'"" (STORAGE 3 10 MESSAGE 1 5)']
    assert m.status("INBOX", "(DELETED DELETED-STORAGE)")[1] == [b"INBOX (DELETED 0 DELETED-STORAGE 0)"]
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Deleted")
    assert m.status("INBOX", "(DELETED DELETED-STORAGE)")[1] == [b"INBOX (DELETED 1 DELETED-STORAGE 3)"]
    m.unselect()
    assert m.status("INBOX", "(DELETED DELETED-STORAGE)")[1] == [b"INBOX (DELETED 1 DELETED-STORAGE 3)"]
    m.select("INBOX")
    m.expunge()
    assert m.getquota('""')[1] == [b'"" (STORAGE 0 10 MESSAGE 0 5)']
    typ, data = m.getquota('"other"')
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = m.setquota('""', "(STORAGE 1)")
    assert typ == "NO" and b"NOPERM" in data[0], data
    m.logout()


def test_no_quota(imap, alice):
    m = imap.login(alice)
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK" and data == [[b"INBOX"], [None]]
    typ, data = m.getquota('""')
    assert typ == "NO"
    m.logout()
