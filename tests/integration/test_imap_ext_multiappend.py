"""MULTIAPPEND (RFC 3502) through imaplogin + imapd with a raw client (imaplib
sends one message per APPEND): several messages in one command with their
own flags, keywords and dates, APPENDUID with a UID set, a spooled large
message among small ones, and all-or-nothing on an over-quota or a syntax
error (no file left, maildirsize back where it was)."""
from __future__ import annotations

import os
import re

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)


def msg(subject: str, body: str = "body") -> bytes:
    return f"From: a@x\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def cur_files(alice) -> list[str]:
    return sorted(os.listdir(alice.maildir / "cur")) + sorted(os.listdir(alice.maildir / "new"))


def test_multiappend(imap, alice):
    c = logged_in_raw(imap, alice)
    caps = c.command("b", "CAPABILITY")[0]
    assert b" MULTIAPPEND" in caps
    big = msg("big", "y" * 100_000)  # over the 64 KiB spool threshold
    c.send(b"c APPEND INBOX " + lit(msg("one")) + b' (\\Flagged $Work) "01-Feb-2020 10:00:00 +0000" '
           + lit(msg("two")) + b" " + lit(big) + b" (\\Seen) " + lit(msg("four")) + b"\r\n")
    r = c.until_tag("c")
    m = re.match(rb"c OK \[APPENDUID (\d+) 1:4\]", r[-1])
    assert m, r
    assert c.command("d", "SELECT INBOX")[-1].startswith(b"d OK")
    r = c.command("e", "FETCH 1:4 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    text = b"\n".join(r)
    for s in (b"one", b"two", b"big", b"four"):
        assert b"Subject: " + s in text
    two = re.search(rb"\* 2 FETCH \(FLAGS \(([^)]*)\) INTERNALDATE \"[ 0-9]+-(Jan|Feb)-2020 [0-9:]+ [-+][0-9]{4}\"", text)
    assert two, text
    assert sorted(two.group(1).split()) == [b"$Work", b"\\Flagged"]
    assert re.search(rb"\* 3 FETCH \(FLAGS \(\) INTERNALDATE \"[^\"]+\" RFC822.SIZE %d " % len(big), text), text
    assert re.search(rb"\* 4 FETCH \(FLAGS \(\\Seen\)", text), text
    assert len(cur_files(alice)) == 4


def test_all_or_nothing_over_quota(imap, alice):
    size = alice.maildir / "maildirsize"
    size.write_text("3000S\n")
    os.chown(size, alice.uid, alice.gid)
    c = logged_in_raw(imap, alice)
    c.send(b"b APPEND INBOX " + lit(msg("small")) + b" " + lit(msg("big1", "x" * 2000)) + b" "
           + lit(msg("big2", "x" * 2000)) + b"\r\n")
    r = c.until_tag("b")
    assert r[-1].startswith(b"b NO [OVERQUOTA]"), r
    assert cur_files(alice) == []
    lines = size.read_text().splitlines()[1:]
    assert sum(int(l.split()[0]) for l in lines) == 0
    assert sum(int(l.split()[1]) for l in lines) == 0
    # Within the quota the same command works.
    c.send(b"c APPEND INBOX " + lit(msg("small")) + b" " + lit(msg("big1", "x" * 2000)) + b"\r\n")
    assert c.until_tag("c")[-1].startswith(b"c OK [APPENDUID ")
    assert len(cur_files(alice)) == 2


def test_syntax_error_appends_nothing(imap, alice):
    c = logged_in_raw(imap, alice)
    c.send(b"b APPEND INBOX " + lit(msg("one")) + b" (\\Bogus) " + lit(msg("two")) + b"\r\n")
    assert c.until_tag("b")[-1].startswith(b"b BAD")
    c.send(b"c APPEND INBOX " + lit(msg("one")) + b' "99-Foo-2020 10:00:00 +0000" ' + lit(msg("two")) + b"\r\n")
    assert c.until_tag("c")[-1].startswith(b"c BAD")
    c.send(b"d APPEND INBOX " + lit(msg("one")) + b" (\\Seen)\r\n")
    assert c.until_tag("d")[-1].startswith(b"d BAD")
    c.send(b"e APPEND INBOX.Nope " + lit(msg("one")) + b" " + lit(msg("two")) + b"\r\n")
    assert c.until_tag("e")[-1].startswith(b"e NO [TRYCREATE]")
    assert cur_files(alice) == []
    assert c.command("f", "NOOP")[-1].startswith(b"f OK")
