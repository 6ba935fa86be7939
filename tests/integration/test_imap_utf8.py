"""UTF8=ACCEPT (RFC 6855) through imaplogin + imapd over a raw socket (imaplib
cannot send UTF-8 names): after ENABLE UTF8=ACCEPT mailbox names are UTF-8 in
both directions, APPEND takes UTF8 (literal8), SEARCH CHARSET is refused;
sessions that did not enable it keep modified UTF-7, and the folder on disk
is the same for both."""
from __future__ import annotations

from pathlib import Path

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)

NAME = "INBOX.Bücher ☃"
MUTF7 = b"INBOX.B&APw-cher &JgM-"


def utf8_session(imap, account):
    c = logged_in_raw(imap, account)
    r = c.command("e", "ENABLE UTF8=ACCEPT")
    assert b"* ENABLED UTF8=ACCEPT" in r and r[-1].startswith(b"e OK"), r
    return c


def test_capability_and_enable(imap, alice):
    c = logged_in_raw(imap, alice)
    assert b" UTF8=ACCEPT" in c.command("a", "CAPABILITY")[0]
    r = c.command("b", "ENABLE UTF8=ACCEPT CONDSTORE")
    assert b"* ENABLED UTF8=ACCEPT CONDSTORE" in r, r


def test_utf8_names_both_ways(imap, alice):
    c = utf8_session(imap, alice)
    q = f'"{NAME}"'.encode()
    c.send(b"c CREATE " + q + b"\r\n")
    assert c.until_tag("c")[-1].startswith(b"c OK")
    r = c.command("l", 'LIST "" "INBOX.B*"')
    assert b'* LIST (\\HasNoChildren) "." ' + q in r, r
    c.send(b"s STATUS " + q + b" (MESSAGES)\r\n")
    r = c.until_tag("s")
    assert r[0] == b"* STATUS " + q + b" (MESSAGES 0)", r
    c.send(b"x SELECT " + q + b"\r\n")
    assert c.until_tag("x")[-1].startswith(b"x OK")
    # Modified UTF-7 is no longer decoded once UTF-8 is on: "&APw-" is literal text.
    r = c.command("y", 'STATUS "INBOX.B&APw-cher &JgM-" (MESSAGES)')
    assert r[-1].startswith(b"y NO"), r
    # The same folder through a session without UTF8=ACCEPT: modified UTF-7.
    d = logged_in_raw(imap, alice)
    r = d.command("l", 'LIST "" "INBOX.B*"')
    assert b'* LIST (\\HasNoChildren) "." "' + MUTF7 + b'"' in r, r
    # On disk the folder is the one Courier keeps (the UTF-8 name, dot-prefixed).
    maildir = Path(alice.home) / "Maildir"
    assert (maildir / ("." + NAME[len("INBOX."):])).is_dir()


def test_invalid_utf8_name_refused(imap, alice):
    c = utf8_session(imap, alice)
    c.send(b'c CREATE "INBOX.bad\xff\xfe"\r\n')
    r = c.until_tag("c")
    assert r[-1].startswith(b"c NO") or r[-1].startswith(b"c BAD"), r


def test_append_utf8_literal_and_search_charset(imap, alice):
    msg = ("From: Jörg <j@example.test>\r\nTo: a@example.test\r\nSubject: Grüße aus Köln\r\n"
           "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHallo Welt\r\n").encode()
    # Without ENABLE the UTF8 form is refused.
    plain = logged_in_raw(imap, alice)
    plain.send(b"p APPEND INBOX UTF8 (~{%d+}\r\n" % len(msg) + msg + b")\r\n")
    assert plain.until_tag("p")[-1].startswith(b"p BAD")
    c = utf8_session(imap, alice)
    c.send(b"a APPEND INBOX UTF8 (~{%d}\r\n" % len(msg))
    assert c.line().startswith(b"+")
    c.send(msg + b")\r\n")
    r = c.until_tag("a")
    assert r[-1].startswith(b"a OK"), r
    c.command("s", "SELECT INBOX")
    r = c.command("f", "FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    joined = b"\r\n".join(r)
    assert "Grüße aus Köln".encode() in joined and "Jörg".encode() in joined, r
    r = c.command("t", "SEARCH CHARSET UTF-8 SUBJECT Köln")
    assert r[-1].startswith(b"t BAD"), r
    c.send("u SEARCH SUBJECT \"Köln\"\r\n".encode())
    r = c.until_tag("u")
    assert b"* SEARCH 1" in r and r[-1].startswith(b"u OK"), r
    # SEARCH CHARSET is still fine in a session that did not enable UTF-8.
    plain.command("s", "SELECT INBOX")
    assert plain.command("v", "SEARCH CHARSET UTF-8 ALL")[-1].startswith(b"v OK")
