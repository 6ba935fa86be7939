"""CATENATE (RFC 4469) through imaplogin + imapd with a raw client: TEXT and
URL parts (relative URLs of this account's messages, with UIDVALIDITY,
SECTION and PARTIAL), NO [BADURL] and NO [TRYCREATE] with nothing appended,
CATENATE inside MULTIAPPEND, a spooled large TEXT part, and an authorized
(URLAUTH) URL as a part."""
from __future__ import annotations

import re

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)

SRC1 = b"From: foo@example.com\r\nSubject: one\r\n\r\nHello world body\r\n"
SRC2 = (b"From: bar@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\npart one\r\n--b--\r\n")


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def prepare(imap, alice):
    """INBOX.src with SRC1 (UID 1) and SRC2 (UID 2), INBOX.dst empty; returns (client, uidvalidity)."""
    c = logged_in_raw(imap, alice)
    for tag, box in (("c1", "INBOX.src"), ("c2", "INBOX.dst")):
        assert c.command(tag, f"CREATE {box}")[-1].startswith(tag.encode() + b" OK")
    for tag, m in (("a1", SRC1), ("a2", SRC2)):
        c.send(tag.encode() + b" APPEND INBOX.src " + lit(m) + b"\r\n")
        assert c.until_tag(tag)[-1].startswith(tag.encode() + b" OK")
    r = c.command("s", "STATUS INBOX.src (UIDVALIDITY)")
    uidv = int(re.search(rb"UIDVALIDITY (\d+)", r[0]).group(1))
    return c, uidv


def append(c, tag: str, args: bytes) -> bytes:
    c.send(tag.encode() + b" APPEND " + args + b"\r\n")
    return c.until_tag(tag)[-1]


def bodies(c, box: str) -> list[bytes]:
    assert c.command("x", f"SELECT {box}")[-1].startswith(b"x OK")
    r = c.command("y", "FETCH 1:* BODY.PEEK[]")
    out = []
    for line in r[:-1]:
        m = re.match(rb"\* \d+ FETCH \(BODY\[\] \{(\d+)\}\r\n", line)
        assert m, line
        start = m.end()
        out.append(line[start:start + int(m.group(1))])
    return out


def message_count(c, box: str) -> int:
    r = c.command("z", f"STATUS {box} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", r[0]).group(1))


def test_capability_and_parts(imap, alice):
    c, uidv = prepare(imap, alice)
    assert b" CATENATE" in c.command("b", "CAPABILITY")[0]
    r = append(c, "d", b"INBOX.dst (\\Seen) CATENATE (URL \"/INBOX.src/;UID=1/;SECTION=HEADER\" TEXT "
               + lit(b"new body\r\n") + b")")
    assert re.match(rb"d OK \[APPENDUID \d+ 1\]", r), r
    r = append(c, "e", b"INBOX.dst CATENATE (TEXT " + lit(b"X-New: 1\r\n") + b" URL \"/INBOX.src;UIDVALIDITY=%d/;UID=2/;SECTION=1.MIME\" URL \"/INBOX.src/;UID=2/;SECTION=1\" TEXT " % uidv + lit(b"\r\n") + b")")
    assert r.startswith(b"e OK"), r
    r = append(c, "f", b"INBOX.dst CATENATE (URL \"/INBOX.src/;UID=1/;PARTIAL=6.3\" TEXT " + lit(b"\r\n\r\nx\r\n") + b")")
    assert r.startswith(b"f OK"), r
    r = append(c, "g", b"INBOX.dst CATENATE (URL \"/INBOX.src/;UID=1/;PARTIAL=100000.1\" TEXT " + lit(b"A: b\r\n\r\nc\r\n") + b")")
    assert r.startswith(b"g OK"), r
    got = bodies(c, "INBOX.dst")
    assert got == [b"From: foo@example.com\r\nSubject: one\r\n\r\nnew body\r\n",
                   b"X-New: 1\r\nContent-Type: text/plain\r\n\r\npart one\r\n",
                   b"foo\r\n\r\nx\r\n",
                   b"A: b\r\n\r\nc\r\n"]
    r = c.command("h", "FETCH 1 FLAGS")
    assert b"\\Seen" in r[0]


def test_bad_urls_append_nothing(imap, alice):
    c, uidv = prepare(imap, alice)
    bad_urls = [b"/INBOX.src;UIDVALIDITY=%d/;UID=1" % (uidv + 1),  # wrong UIDVALIDITY
                b"/INBOX.src/;UID=99",                               # no such message
                b"/INBOX.nope/;UID=1",                               # no such mailbox
                b"/INBOX.src/;UID=1/;SECTION=7",                     # no such part
                b"/INBOX.src/;UID=1/;SECTION=BOGUS",                 # not a section
                b"imap://other@example.test/INBOX.src/;UID=1",       # another account
                b"INBOX.src/;UID=1"]                                 # not a URL
    for i, url in enumerate(bad_urls):
        tag = f"b{i}"
        r = append(c, tag, b"INBOX.dst CATENATE (TEXT " + lit(b"H: 1\r\n\r\n") + b" URL \"" + url + b"\")")
        assert r.startswith(tag.encode() + b" NO [BADURL"), (url, r)
    # MULTIAPPEND: a good CATENATE, then a bad one: none appended.
    r = append(c, "m", b"INBOX.dst CATENATE (URL \"/INBOX.src/;UID=1\") CATENATE (URL \"/INBOX.src/;UID=42\")")
    assert r.startswith(b"m NO [BADURL"), r
    assert message_count(c, "INBOX.dst") == 0
    # A missing target is TRYCREATE even when a URL is bad too.
    r = append(c, "t", b"INBOX.none CATENATE (URL \"/INBOX.src/;UID=42\")")
    assert r.startswith(b"t NO [TRYCREATE]"), r
    for tag, args in (("s1", b"INBOX.dst CATENATE ()"), ("s2", b"INBOX.dst CATENATE (TEXT \"quoted\")"),
                      ("s3", b"INBOX.dst CATENATE (FOO \"x\")")):
        assert append(c, tag, args).startswith(tag.encode() + b" BAD"), args
    assert message_count(c, "INBOX.dst") == 0


def test_multiappend_and_spooled_text(imap, alice):
    c, _ = prepare(imap, alice)
    big = b"Subject: big\r\n\r\n" + b"y" * 100_000 + b"\r\n"  # spooled (64 KiB threshold)
    r = append(c, "d", b"INBOX.dst CATENATE (URL \"/INBOX.src/;UID=1\") (\\Answered) " + lit(b"New: m\r\n\r\nb\r\n")
               + b" CATENATE (TEXT " + lit(big) + b" URL \"/INBOX.src/;UID=1/;SECTION=TEXT\")")
    assert re.match(rb"d OK \[APPENDUID \d+ 1:3\]", r), r
    got = bodies(c, "INBOX.dst")
    assert got == [SRC1, b"New: m\r\n\r\nb\r\n", big + b"Hello world body\r\n"]


def test_urlauth_url_as_part(imap, alice):
    c, _ = prepare(imap, alice)
    r = c.command("g", f'GENURLAUTH "imap://{alice.address.split("@")[0]}@example.test/INBOX.src/;UID=1;URLAUTH=authuser" INTERNAL')
    assert r[-1].startswith(b"g OK"), r
    url = r[0].split(b" ", 2)[2].strip(b'"')
    r = append(c, "d", b"INBOX.dst CATENATE (URL \"" + url + b"\")")
    assert r.startswith(b"d OK"), r
    tampered = url[:-1] + (b"0" if url[-1:] != b"0" else b"1")
    r = append(c, "e", b"INBOX.dst CATENATE (URL \"" + tampered + b"\")")
    assert r.startswith(b"e NO [BADURL"), r
    assert bodies(c, "INBOX.dst") == [SRC1]
