"""Bulk FETCH streamed from the message file (issue 15 item 3) through
imaplogin + imapd: a 50 MB message FETCHed whole with imapd's peak memory
(VmHWM from /proc) staying far below the message size, partial ranges at
the 256 KiB chunk boundaries, messages with bare LF, CRLF and bare CR lines
mixed, a file already in CRLF form (sent with sendfile), RFC822 setting
\\Seen with FLAGS after the body, and the bytes of every answer compared
with the message converted as IMAP requires (each LF not after a CR -> CRLF)."""
from __future__ import annotations

import os
import re
from pathlib import Path

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)
from imap_support import deliver
from suite import BUILD

CHUNK = 256 * 1024


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


class Stream:
    """Reads IMAP responses with large literals without quadratic copying."""

    def __init__(self, raw_client):
        self.c = raw_client
        self.buf = bytearray(raw_client.buf)
        raw_client.buf = b""

    def _fill(self):
        chunk = self.c.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(bytes(self.buf[-200:]))
        self.buf += chunk

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def fetch(self, tag: str, command: str) -> list[tuple[bytes, bytes, bytes]]:
        """(text before the literal, literal, text after) per FETCH response; asserts the tagged OK."""
        self.c.send(f"{tag} {command}\r\n")
        out = []
        while True:
            l = self.line()
            if l.startswith(tag.encode() + b" "):
                assert l.startswith(tag.encode() + b" OK"), l
                return out
            m = re.search(rb"\{(\d+)\}$", l)
            if m:
                data = self.exact(int(m.group(1)))
                out.append((l, data, self.line()))


def imapd_pids() -> list[int]:
    exe = os.path.realpath(BUILD / "imapd" / "imapd")
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "exe") == exe:
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def vm_kib(pid: int, field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def test_fifty_megabytes_stream_in_little_memory(imap, alice):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ=-+/.\n"
    raw = b"From: big@example.test\nSubject: big\n\n" + line * (50 * 1000 * 1000 // len(line))
    deliver(alice.maildir, "1700000000.Mbig.host", "", alice.uid, alice.gid).write_bytes(raw)
    c = logged_in_raw(imap, alice)
    before = set(imapd_pids())
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    pids = [p for p in imapd_pids() if p in before] or imapd_pids()
    s = Stream(c)
    want = crlf(raw)
    [(head, data, tail)] = s.fetch("f", "FETCH 1 (UID RFC822.SIZE BODY.PEEK[])")
    assert head == b"* 1 FETCH (UID 1 RFC822.SIZE %d BODY[] {%d}" % (len(want), len(want))
    assert tail == b")"
    assert data == want
    # Twice, so a second pass (the size now known) is checked too.
    [(head, data, tail)] = s.fetch("g", "FETCH 1 BODY.PEEK[]")
    assert data == want
    hwm = max(vm_kib(p, "VmHWM") for p in pids)
    print(f"imapd VmHWM after two 50 MB FETCHes: {hwm} KiB (pids {pids})")
    assert hwm < 24 * 1024, f"imapd peaked at {hwm} KiB for a 50 MB message: it is not streaming"
    # A range deep inside, across chunk boundaries.
    o = 40 * CHUNK - 5
    [(head, data, _)] = s.fetch("h", f"FETCH 1 BODY.PEEK[]<{o}.{CHUNK + 10}>")
    assert head == b"* 1 FETCH (BODY[]<%d> {%d}" % (o, CHUNK + 10)
    assert data == want[o:o + CHUNK + 10]
    c.command("z", "LOGOUT")


def test_mixed_line_ends_and_chunk_boundaries(imap, alice):
    parts = []
    i = 0
    while sum(map(len, parts)) < 3 * CHUNK:
        ending = (b"\n", b"\r\n", b"\r\n", b"\n\r")[i % 4]
        parts.append(b"line %d of mixed text" % i + ending)
        i += 1
    mixed = b"Subject: mixed\n\r\n" + b"".join(parts) + b"last line without an end\r"
    small = b"Subject: small\r\nX: bare\nY: cr\r\r\n\nbody\nend"
    crlf_only = b"Subject: crlf\r\n\r\n" + b"already CRLF text line\r\n" * 20000
    for name, text in (("1700000001.Mmixed.host", mixed), ("1700000002.Msmall.host", small),
                       ("1700000003.Mcrlf.host", crlf_only)):
        deliver(alice.maildir, name, "", alice.uid, alice.gid).write_bytes(text)
    c = logged_in_raw(imap, alice)
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    s = Stream(c)
    texts = [mixed, small, crlf_only]
    got = s.fetch("a", "FETCH 1:3 (FLAGS RFC822.SIZE BODY.PEEK[])")
    for n, ((head, data, tail), raw) in enumerate(zip(got, texts), 1):
        want = crlf(raw)
        assert head == b"* %d FETCH (FLAGS (\\Recent) RFC822.SIZE %d BODY[] {%d}" % (n, len(want), len(want))
        assert data == want and tail == b")"
    want = crlf(mixed)
    for o in (0, 1, CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3, len(want) - 1, len(want), len(want) + 9):
        for count in (1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK):
            [(head, data, tail)] = s.fetch("p", f"UID FETCH 1 (BODY.PEEK[]<{o}.{count}>)")
            exp = want[o:o + count]
            assert head == b"* 1 FETCH (UID 1 BODY[]<%d> {%d}" % (o, len(exp)), (o, count)
            assert data == exp, (o, count)
    want = crlf(small)
    for o in range(len(want)):
        [(_, data, _)] = s.fetch("q", f"FETCH 2 BODY.PEEK[]<{o}.3>")
        assert data == want[o:o + 3]
    [(_, data, _)] = s.fetch("r", f"FETCH 3 BODY.PEEK[]<{CHUNK - 1}.{CHUNK + 2}>")
    assert data == crlf_only[CHUNK - 1:2 * CHUNK + 1]
    # RFC822 sets \Seen: FLAGS come after the body, as in the unstreamed form.
    [(head, data, tail)] = s.fetch("t", "FETCH 2 RFC822")
    assert head == b"* 2 FETCH (RFC822 {%d}" % len(crlf(small)) and data == crlf(small)
    assert re.fullmatch(rb" FLAGS \(\\Seen( \\Recent)?\)\)", tail), tail
    # The same bytes as the unstreamed path (BODY[] not last: rendered whole).
    c.send("u FETCH 1 (BODY.PEEK[] UID)\r\n")
    l = s.line()
    assert l == b"* 1 FETCH (BODY[] {%d}" % len(crlf(mixed))
    assert s.exact(len(crlf(mixed))) == crlf(mixed)
    assert s.line() == b" UID 1)"
    assert s.line().startswith(b"u OK")
    c.command("z", "LOGOUT")


def test_crlf_file_named_with_its_size_goes_out_whole(imap, alice):
    """A large file whose ",W=" (Courier's CRLF size) equals its size is sent
    without a counting pass (sendfile): same bytes, exact ranges."""
    text = b"Subject: w\r\n\r\n" + b"".join(b"crlf line %d\r\n" % i for i in range(60000))
    deliver(alice.maildir, f"1700000005.Mw.host,S={len(text)},W={len(text)}", "", alice.uid,
            alice.gid).write_bytes(text)
    c = logged_in_raw(imap, alice)
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    s = Stream(c)
    [(head, data, tail)] = s.fetch("a", "FETCH 1 (RFC822.SIZE BODY.PEEK[])")
    assert head == b"* 1 FETCH (RFC822.SIZE %d BODY[] {%d}" % (len(text), len(text)) and data == text
    for o, n in ((0, 70000), (CHUNK - 3, 6), (CHUNK + 1, 2 * CHUNK), (len(text) - 70000, 80000)):
        [(head, data, _)] = s.fetch("b", f"FETCH 1 BODY.PEEK[]<{o}.{n}>")
        assert data == text[o:o + n], (o, n)
    c.command("z", "LOGOUT")
