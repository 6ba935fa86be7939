"""COMPRESS=DEFLATE (RFC 4978) through imaplogin + imapd: after the OK both
directions are raw DEFLATE (Python's zlib, wbits -15): commands with
literals, a large FETCH, a second COMPRESS refused with COMPRESSIONACTIVE,
LOGOUT; corrupt input ends the session with a log line; IMAP_COMPRESS=0
turns it off."""
from __future__ import annotations

import re
import zlib

import pytest

from imap_ext_fixtures import alice, logged_in_raw  # noqa: F401 (fixtures)
from imap_support import ImapServer


class Deflated:
    """A client speaking through DEFLATE on an already logged-in RawClient's socket."""

    def __init__(self, raw):
        assert raw.buf == b""
        self.sock = raw.sock
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inp = zlib.decompressobj(-15)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH))

    def until_tag(self, tag: bytes) -> bytes:
        while not re.search(rb"(^|\r\n)" + tag + rb" [^\r\n]*\r\n$", self.buf):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf[-200:])
            self.buf += self.inp.decompress(chunk)
        data, self.buf = self.buf, b""
        return data


@pytest.fixture
def imap(mail_system):
    server = ImapServer(mail_system)
    yield server
    server.stop()


def test_compress_session(imap, alice):
    c = logged_in_raw(imap, alice)
    assert b" COMPRESS=DEFLATE" in c.command("b", "CAPABILITY")[0]
    assert c.command("c", "COMPRESS DEFLATE") == [b"c OK DEFLATE active."]
    z = Deflated(c)
    body = b"".join(b"line %d of a long body\r\n" % i for i in range(20000))
    msg = b"From: a@x\r\nSubject: big\r\n\r\n" + body
    z.send(b"d APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert re.search(rb"d OK \[APPENDUID \d+ 1\]", z.until_tag(b"d"))
    z.send(b"e SELECT INBOX\r\n")
    assert b"* 1 EXISTS" in z.until_tag(b"e")
    z.send(b"f FETCH 1 BODY.PEEK[]\r\n")
    r = z.until_tag(b"f")
    assert b"{%d}\r\n" % len(msg) + msg + b")\r\nf OK" in r
    z.send(b"g COMPRESS DEFLATE\r\n")
    assert b"g NO [COMPRESSIONACTIVE]" in z.until_tag(b"g")
    z.send(b"h LOGOUT\r\n")
    assert b"* BYE" in z.until_tag(b"h")
    assert c.sock.recv(100) == b""
    assert "COMPRESS=DEFLATE active" in imap.log_text()


def test_corrupt_stream_ends_session(imap, alice):
    c = logged_in_raw(imap, alice)
    assert c.command("c", "COMPRESS DEFLATE")[-1].startswith(b"c OK")
    c.send(b"x NOOP\r\n")  # not DEFLATE
    c.sock.settimeout(10)
    assert c.sock.recv(100) == b""
    assert "corrupt DEFLATE data" in imap.log_text()


def test_bad_arguments(imap, alice):
    c = logged_in_raw(imap, alice)
    for tag, cmd in (("b", "COMPRESS"), ("c", "COMPRESS GZIP"), ("d", "COMPRESS DEFLATE x")):
        assert c.command(tag, cmd)[-1].startswith(tag.encode() + b" BAD"), cmd
    assert c.command("e", "NOOP")[-1].startswith(b"e OK")  # still uncompressed


def test_turned_off(mail_system, alice):
    server = ImapServer(mail_system, IMAP_COMPRESS="0")
    try:
        c = logged_in_raw(server, alice)
        assert b"COMPRESS" not in c.command("b", "CAPABILITY")[0]
        assert c.command("c", "COMPRESS DEFLATE")[-1].startswith(b"c BAD")
        assert c.command("d", "NOOP")[-1].startswith(b"d OK")
    finally:
        server.stop()
