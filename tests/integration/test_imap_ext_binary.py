"""BINARY (RFC 3516) through imaplogin + imapd with a raw client: APPEND of a
literal8 with NUL, bare CR and LF (stored as base64, BINARY[] gives the exact
bytes back), FETCH BINARY/BINARY.SIZE of base64 and quoted-printable parts,
partial BINARY, and NO [UNKNOWN-CTE]."""
from __future__ import annotations

import base64
import re

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)


def literal_body(reply: list[bytes], item: bytes) -> bytes:
    text = b"\r\n".join(reply)
    m = re.search(re.escape(item) + rb" ~?\{(\d+)\}\r\n", text)
    assert m, text
    return text[m.end():m.end() + int(m.group(1))]


def test_append_literal8_and_fetch_binary(imap, alice):
    c = logged_in_raw(imap, alice)
    assert b" BINARY" in c.command("b", "CAPABILITY")[0]
    body = b"\x00-\xe4\n\r\n\n\r"
    msg = (b"From: a@x\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + body)
    c.send(b"c APPEND INBOX ~{%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert c.until_tag("c")[-1].startswith(b"c OK")
    qp_msg = (b"From: a@x\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              b"caf=C3=A9=\r\n!\r\n--z\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              + base64.b64encode(b"\x01\x02\x00\xff") + b"\r\n--z\r\nContent-Transfer-Encoding: x-weird\r\n\r\n"
              b"zzz\r\n--z--\r\n")
    c.send(b"d APPEND INBOX {%d+}\r\n" % len(qp_msg) + qp_msg + b"\r\n")
    assert c.until_tag("d")[-1].startswith(b"d OK")
    assert c.command("e", "SELECT INBOX")[-1].startswith(b"e OK")

    r = c.command("f", "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert re.search(rb"BINARY.SIZE\[1\] %d" % len(body), b" ".join(r)), r
    assert literal_body(r, b"BINARY[1]") == body
    assert b"BINARY[1] ~{" in b"\r\n".join(r)  # NUL inside: literal8
    # stored as base64 (RFC 3516 lets the server re-encode)
    r = c.command("g", "FETCH 1 (BODY.PEEK[1])")
    assert base64.b64decode(literal_body(r, b"BODY[1]")) == body
    r = c.command("h", "FETCH 1 (BINARY.PEEK[1]<1.3>)")
    assert literal_body(r, b"BINARY[1]<1>") == body[1:4]

    r = c.command("i", "FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])")
    assert literal_body(r, b"BINARY[1]") == "café!".encode()
    assert b"BINARY.SIZE[2] 4" in b" ".join(r)
    assert literal_body(r, b"BINARY[2]") == b"\x01\x02\x00\xff"
    r = c.command("j", "FETCH 2 (BINARY.PEEK[3])")
    assert r[-1].startswith(b"j NO [UNKNOWN-CTE]"), r
    assert c.command("k", "FETCH 1 (BINARY.PEEK[1.HEADER])")[-1].startswith(b"k BAD")
