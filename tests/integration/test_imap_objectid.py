"""OBJECTID (RFC 8474) through imaplogin + imapd with a raw client: MAILBOXID
in CREATE, SELECT and STATUS (kept by RENAME, new after DELETE + CREATE,
stored in the folder's imapd-mailboxid), FETCH EMAILID (the same in every
session and after flag changes, distinct per message), THREADID NIL, and
the SEARCH keys EMAILID and THREADID."""
from __future__ import annotations

import re

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def status_id(c, tag: str, box: str) -> bytes:
    r = c.command(tag, f"STATUS {box} (MAILBOXID MESSAGES)")
    assert r[-1].startswith(tag.encode() + b" OK"), r
    m = re.match(rb"\* STATUS \S+ \(MAILBOXID \(([A-Za-z0-9_-]+)\) MESSAGES \d+\)$", r[0])
    assert m, r
    return m.group(1)


def email_ids(c, tag: str) -> list[bytes]:
    r = c.command(tag, "FETCH 1:* (EMAILID THREADID)")
    assert r[-1].startswith(tag.encode() + b" OK"), r
    out = []
    for line in r[:-1]:
        m = re.match(rb"\* \d+ FETCH \(EMAILID \(([A-Za-z0-9_-]+)\) THREADID NIL\)$", line)
        assert m, line
        out.append(m.group(1))
    return out


def test_mailboxid(imap, alice):
    c = logged_in_raw(imap, alice)
    assert b" OBJECTID" in c.command("b", "CAPABILITY")[0]
    r = c.command("c", "CREATE INBOX.a")
    m = re.match(rb"c OK \[MAILBOXID \(([A-Za-z0-9_-]+)\)\]", r[-1])
    assert m, r
    a_id = m.group(1)
    assert status_id(c, "d", "INBOX.a") == a_id
    assert (alice.maildir / ".a" / "imapd-mailboxid").read_bytes() == a_id + b"\n"
    r = c.command("e", "SELECT INBOX.a")
    assert b"* OK [MAILBOXID (" + a_id + b")] Ok" in r, r
    inbox = status_id(c, "f", "INBOX")
    assert inbox != a_id and status_id(c, "g", "INBOX") == inbox
    assert c.command("h", "RENAME INBOX.a INBOX.b")[-1].startswith(b"h OK")
    assert status_id(c, "i", "INBOX.b") == a_id  # RENAME keeps it
    assert c.command("j", "DELETE INBOX.b")[-1].startswith(b"j OK")
    r = c.command("k", "CREATE INBOX.b")
    assert b"[MAILBOXID (" in r[-1] and a_id not in r[-1], r
    # Another session sees the same ids.
    other = logged_in_raw(imap, alice)
    assert status_id(other, "l", "INBOX") == inbox
    assert c.command("m", "STATUS INBOX.none (MAILBOXID)")[-1].startswith(b"m NO")


def test_emailid(imap, alice):
    c = logged_in_raw(imap, alice)
    for i in range(3):
        c.send(b"a%d APPEND INBOX " % i + lit(b"Subject: %d\r\n\r\nx\r\n" % i) + b"\r\n")
        assert c.until_tag(f"a{i}")[-1].startswith(f"a{i} OK".encode())
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    ids = email_ids(c, "f1")
    assert len(set(ids)) == 3
    # Flag changes rename the file; the id stays.
    assert c.command("st", "STORE 1:* +FLAGS (\\Seen \\Flagged)")[-1].startswith(b"st OK")
    assert email_ids(c, "f2") == ids
    other = logged_in_raw(imap, alice)
    assert other.command("s2", "EXAMINE INBOX")[-1].startswith(b"s2 OK")
    assert email_ids(other, "f3") == ids
    assert c.command("se", "SEARCH EMAILID " + ids[1].decode())[0] == b"* SEARCH 2"
    assert c.command("su", "UID SEARCH OR EMAILID " + ids[0].decode() + " EMAILID " + ids[2].decode())[0] \
        == b"* SEARCH 1 3"
    assert c.command("st", "SEARCH THREADID T1")[0] == b"* SEARCH"
    assert c.command("sx", "SEARCH EMAILID")[-1].startswith(b"sx BAD")
    r = c.command("u", "UID FETCH 2 (EMAILID)")
    assert re.match(rb"\* 2 FETCH \(UID 2 EMAILID \(" + ids[1] + rb"\)\)$", r[0]), r
