"""URLAUTH (RFC 4467) through imaplogin + imapd with a raw client:
GENURLAUTH/URLFETCH of whole messages and sections, RESETKEY of one mailbox
and of all, the key file (mode 0600, kept across sessions, one key when two
sessions race), refused tokens, access identifiers and expiry, GENURLAUTH
errors, and a corrupt key file reported in the log."""
from __future__ import annotations

import os
import re
import stat
import threading

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)

MSG1 = b"From: foo@example.com\r\nSubject: one\r\n\r\nHello world body\r\n"
MSG2 = (b"From: bar@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\npart one\r\n--b--\r\n")


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def prepare(imap, alice):
    c = logged_in_raw(imap, alice)
    assert c.command("c", "CREATE INBOX.box")[-1].startswith(b"c OK")
    for tag, m in (("a1", MSG1), ("a2", MSG2)):
        c.send(tag.encode() + b" APPEND INBOX.box " + lit(m) + b"\r\n")
        assert c.until_tag(tag)[-1].startswith(tag.encode() + b" OK")
    return c


def base(alice, rest: str, access: str = "user+{user}") -> str:
    local = alice.address.split("@")[0]
    return f"imap://{local}@example.test/INBOX.box/{rest};URLAUTH=" + access.format(user=alice.address)


def gen(c, tag: str, rump: str) -> bytes:
    r = c.command(tag, f'GENURLAUTH "{rump}" INTERNAL')
    assert r[-1].startswith(tag.encode() + b" OK"), r
    m = re.match(rb'\* GENURLAUTH "?([^" ]+)"?$', r[0])
    assert m, r
    url = m.group(1)
    assert url.startswith(rump.encode() + b":INTERNAL:") and len(url) - len(rump) - 10 == 64
    return url


def fetch(c, tag: str, url: bytes) -> bytes | None:
    r = c.command(tag, 'URLFETCH "' + url.decode() + '"')
    assert r[-1].startswith(tag.encode() + b" OK"), r
    m = re.match(rb'\* URLFETCH ("?)' + re.escape(url) + rb'\1 ', r[0])  # astring: atom or quoted
    assert m, r
    rest = r[0][m.end():]
    if rest == b"NIL":
        return None
    m = re.match(rb"\{(\d+)\}\r\n", rest)
    assert m, rest
    return rest[m.end():m.end() + int(m.group(1))]


def test_genurlauth_urlfetch_resetkey(imap, alice):
    c = prepare(imap, alice)
    assert b" URLAUTH" in c.command("b", "CAPABILITY")[0]
    u1 = gen(c, "g1", base(alice, ";UID=1"))
    u2 = gen(c, "g2", base(alice, ";UID=2/;SECTION=1", "authuser"))
    u3 = gen(c, "g3", base(alice, ";UID=1/;PARTIAL=6.3", "anonymous"))
    assert fetch(c, "f1", u1) == MSG1
    assert fetch(c, "f2", u2) == b"part one"
    assert fetch(c, "f3", u3) == b"foo"
    # Several URLs in one command: one response, in order.
    r = c.command("f4", 'URLFETCH "' + u1.decode() + '" "' + u3.decode() + '"')
    joined = b"\r\n".join(r[:-1])  # until_tag folds only the first literal of a line
    assert joined.endswith(b" {3}\r\nfoo") and b"{57}\r\n" + MSG1 + b" " in joined, r
    # The key file: in the Maildir, owner-only, one line per mailbox.
    keys = alice.maildir / "imapd-urlauth-keys"
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    assert re.fullmatch(rb"[0-9a-f]{64} INBOX\.box\n", keys.read_bytes())
    # Another session (a new imapd) sees the same key.
    other = logged_in_raw(imap, alice)
    assert fetch(other, "o1", u1) == MSG1
    assert c.command("r", "RESETKEY INBOX.box")[-1].startswith(b"r OK")
    assert fetch(c, "f5", u1) is None and fetch(other, "o2", u2) is None
    n1 = gen(c, "g4", base(alice, ";UID=1"))
    assert n1 != u1 and fetch(c, "f6", n1) == MSG1
    # RESETKEY without a mailbox: every key.
    assert c.command("c2", "CREATE INBOX.two")[-1].startswith(b"c2 OK")
    c.send(b"a3 APPEND INBOX.two " + lit(MSG1) + b"\r\n")
    assert c.until_tag("a3")[-1].startswith(b"a3 OK")
    local = alice.address.split("@")[0]
    t1 = gen(c, "g5", f"imap://{local}@example.test/INBOX.two/;UID=1;URLAUTH=authuser")
    assert fetch(c, "f7", t1) == MSG1
    assert c.command("r2", "RESETKEY")[-1].startswith(b"r2 OK")
    assert fetch(c, "f8", t1) is None and fetch(c, "f9", n1) is None
    assert c.command("r3", "RESETKEY INBOX.nope")[-1].startswith(b"r3 NO")


def test_delete_and_rename_forget_the_keys(imap, alice):
    """A URL made for a mailbox that was deleted or renamed away must not
    open the mailbox created later under its name (RFC 4467 7)."""
    c = prepare(imap, alice)
    local = alice.address.split("@")[0]

    def url(box):
        return f"imap://{local}@example.test/{box}/;UID=1;URLAUTH=authuser"

    def refill(box, tag):
        assert c.command(tag + "c", f"CREATE {box}")[-1].startswith(tag.encode() + b"c OK")
        c.send(tag.encode() + b"a APPEND " + box.encode() + b" " + lit(MSG2) + b"\r\n")
        assert c.until_tag(tag + "a")[-1].startswith(tag.encode() + b"a OK")

    # DELETE: the old URL does not open the new mailbox's UID 1.
    old = gen(c, "g1", url("INBOX.box"))
    assert fetch(c, "f1", old) == MSG1
    assert c.command("d1", "DELETE INBOX.box")[-1].startswith(b"d1 OK")
    keys = alice.maildir / "imapd-urlauth-keys"
    assert b"INBOX.box" not in keys.read_bytes()
    refill("INBOX.box", "x")
    assert fetch(c, "f2", old) is None
    # RENAME: the keys of the mailbox and those below it go; others stay.
    refill("INBOX.keep", "k")
    refill("INBOX.box.sub", "s")
    kept = gen(c, "g2", url("INBOX.keep"))
    top = gen(c, "g3", url("INBOX.box"))
    sub = gen(c, "g4", url("INBOX.box.sub"))
    assert fetch(c, "f3", sub) == MSG2
    assert c.command("r1", "RENAME INBOX.box INBOX.moved")[-1].startswith(b"r1 OK")
    refill("INBOX.box", "y")
    refill("INBOX.box.sub", "z")
    assert fetch(c, "f4", top) is None and fetch(c, "f5", sub) is None
    assert fetch(c, "f6", kept) == MSG2
    assert re.fullmatch(rb"[0-9a-f]{64} INBOX\.keep\n", keys.read_bytes())


def test_refused_urls(imap, alice):
    c = prepare(imap, alice)
    u = gen(c, "g1", base(alice, ";UID=1"))
    tampered = u[:-1] + (b"0" if u[-1:] != b"0" else b"1")
    assert fetch(c, "f1", tampered) is None
    # Access for another user, and a submit+ URL (for a submission server).
    other = gen(c, "g2", base(alice, ";UID=1", "user+someone@example.test"))
    assert fetch(c, "f2", other) is None
    sub = gen(c, "g3", base(alice, ";UID=1", "submit+{user}"))
    assert fetch(c, "f3", sub) is None
    local = alice.address.split("@")[0]
    past = gen(c, "g4", f"imap://{local}@example.test/INBOX.box/;UID=1;EXPIRE=2001-01-01T00:00:00Z;URLAUTH=authuser")
    assert fetch(c, "f4", past) is None
    future = gen(c, "g5", f"imap://{local}@example.test/INBOX.box/;UID=1;EXPIRE=2099-01-01T00:00:00Z;URLAUTH=authuser")
    assert fetch(c, "f5", future) == MSG1
    # Changing the URL (another UID) under the same token fails.
    moved = u.replace(b";UID=1;", b";UID=2;")
    assert fetch(c, "f6", moved) is None
    # A URL without URLAUTH is not fetched.
    assert fetch(c, "f7", f"imap://{local}@example.test/INBOX.box/;UID=1".encode()) is None
    # A message expunged after GENURLAUTH.
    assert c.command("s", "SELECT INBOX.box")[-1].startswith(b"s OK")
    assert c.command("st", "STORE 1 +FLAGS (\\Deleted)")[-1].startswith(b"st OK")
    assert c.command("ex", "EXPUNGE")[-1].startswith(b"ex OK")
    assert fetch(c, "f8", u) is None


def test_genurlauth_errors(imap, alice):
    c = prepare(imap, alice)
    local = alice.address.split("@")[0]
    cases = [f"imap://someone@example.test/INBOX.box/;UID=1;URLAUTH=authuser",    # another account
             f"imap://{local}@example.test/INBOX.nope/;UID=1;URLAUTH=authuser",   # no such mailbox
             f"imap://{local}@example.test/INBOX.box/;UID=1",                     # no URLAUTH
             f"/INBOX.box/;UID=1;URLAUTH=authuser",                               # relative
             f"imap://{local}@example.test/INBOX.box/;UID=1;URLAUTH=authuser:INTERNAL:" + "0" * 64]
    for i, url in enumerate(cases):
        r = c.command(f"e{i}", f'GENURLAUTH "{url}" INTERNAL')
        assert r[-1].startswith(f"e{i} NO [BADURL".encode()), (url, r)
    r = c.command("m", f'GENURLAUTH "imap://{local}@example.test/INBOX.box/;UID=1;URLAUTH=authuser" XSHA1')
    assert r[-1].startswith(b"m NO"), r
    for tag, bad in (("b1", "GENURLAUTH"), ("b2", 'GENURLAUTH "imap://x@y/INBOX/;UID=1;URLAUTH=authuser"'),
                     ("b3", "URLFETCH")):
        assert c.command(tag, bad)[-1].startswith(tag.encode() + b" BAD"), bad
    assert not (alice.maildir / "imapd-urlauth-keys").exists()


def test_racing_sessions_share_one_key(imap, alice):
    prepare(imap, alice).close()
    clients = [logged_in_raw(imap, alice) for _ in range(4)]
    urls: list[bytes] = [b""] * len(clients)

    def run(i):
        urls[i] = gen(clients[i], f"g{i}", base(alice, f";UID={1 + i % 2}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, u in enumerate(urls):
        assert fetch(clients[0], f"f{i}", u) == (MSG1 if i % 2 == 0 else MSG2)


def test_corrupt_key_file_is_reported(imap, alice):
    c = prepare(imap, alice)
    keys = alice.maildir / "imapd-urlauth-keys"
    keys.write_bytes(b"not a key line\n")
    r = c.command("g", f'GENURLAUTH "{base(alice, ";UID=1")}" INTERNAL')
    assert r[-1].startswith(b"g NO"), r
    log = imap.log_text()
    assert str(keys) in log and "remove the file" in log
    assert keys.read_bytes() == b"not a key line\n"  # left for the admin
    # RESETKEY of everything replaces it.
    assert c.command("r", "RESETKEY")[-1].startswith(b"r OK")
    assert keys.read_bytes() == b""
    gen(c, "g2", base(alice, ";UID=1"))


def test_urlfetch_binary_and_bodypartstructure(imap, alice):
    """URLAUTH=BINARY (RFC 5524): the extended URLFETCH form."""
    c = prepare(imap, alice)
    assert b" URLAUTH=BINARY" in c.command("b", "CAPABILITY")[0]
    coded = (b"From: a@x\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: application/x-b\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--q--\r\n")
    c.send(b"a3 APPEND INBOX.box " + lit(coded) + b"\r\n")
    assert c.until_tag("a3")[-1].startswith(b"a3 OK")
    u = gen(c, "g1", base(alice, ";UID=3/;SECTION=1"))
    whole = gen(c, "g2", base(alice, ";UID=3"))
    r = c.command("f1", f"URLFETCH ({u.decode()} BINARY)")
    assert r[-1].startswith(b"f1 OK"), r
    joined = b"\r\n".join(r[:-1])
    assert joined.endswith(b" (BINARY ~{4}\r\n\x00\x01\x02\xff)"), joined  # NUL: literal8
    r = c.command("f2", f"URLFETCH ({u.decode()} BODYPARTSTRUCTURE)")
    assert re.search(rb' \(BODYPARTSTRUCTURE \("application" "x-b" NIL NIL NIL "base64" 8 NIL NIL NIL NIL\)\)$', r[0]), r
    r = c.command("f3", f"URLFETCH ({whole.decode()} BODY)")
    assert b" (BODY {%d}\r\n" % len(coded) + coded + b")" in b"\r\n".join(r[:-1]), r
    # A leaf inside a multipart, BINARY of the whole message: the part decoded and relabelled.
    r = c.command("f4", f"URLFETCH ({whole.decode()} BINARY)")
    joined = b"\r\n".join(r[:-1])
    assert b"Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02\xff\r\n--q--" in joined, joined
    expected = coded.replace(b"base64", b"binary").replace(b"AAEC/w==", b"\x00\x01\x02\xff")
    assert joined.endswith(b" (BINARY ~{%d}\r\n" % len(expected) + expected + b")"), joined
    for tag, bad in (("b1", f"URLFETCH ({u.decode()})"), ("b2", f"URLFETCH ({u.decode()} BOGUS)")):
        assert c.command(tag, bad)[-1].startswith(tag.encode() + b" BAD"), bad
    # BINARY needs a section of part numbers.
    h = gen(c, "g3", base(alice, ";UID=3/;SECTION=HEADER"))
    r = c.command("f5", f"URLFETCH ({h.decode()} BINARY)")
    assert r[0].endswith(b" NIL"), r


def test_urlfetch_binary_with_bodypartstructure_describes_decoded_data(imap, alice):
    """RFC 5524: BODYPARTSTRUCTURE requested with BINARY describes the data
    BINARY returns: decoded sizes and line feeds, encoding names kept."""
    c = prepare(imap, alice)
    leaf = b"Content-Type: text/x-myown; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    inner = (b"Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n" + leaf +
             b"aGVsbG8gd29ybGQ=\r\n--i\r\n" + leaf + b"aGVsbG8gd29ybGQ=\r\n--i--\r\n")
    msg = (b"From: a@x\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
           b"Content-Type: message/rfc822\r\n\r\n" + inner + b"--o--\r\n")
    c.send(b"a3 APPEND INBOX.box " + lit(msg) + b"\r\n")
    assert c.until_tag("a3")[-1].startswith(b"a3 OK")
    sub = gen(c, "g1", base(alice, ";UID=3/;SECTION=1"))
    leaf1 = gen(c, "g2", base(alice, ";UID=3/;SECTION=1.1"))
    # The part ends before the line break that precedes the outer boundary.
    decoded = inner[:-2].replace(b"base64", b"binary").replace(b"aGVsbG8gd29ybGQ=", b"hello world")
    texts = rb'\("text" "x-myown" \("charset" "us-ascii"\) NIL NIL "base64" %s NIL NIL NIL NIL\)'
    r = c.command("f1", f"URLFETCH ({sub.decode()} BINARY BODYPARTSTRUCTURE)")
    assert r[-1].startswith(b"f1 OK"), r
    joined = b"\r\n".join(r[:-1])
    assert joined.endswith(b" BINARY {%d}\r\n" % len(decoded) + decoded + b")"), joined
    want = (rb'\(BODYPARTSTRUCTURE \("message" "rfc822" NIL NIL NIL "7bit" %d \(NIL "in" [^\r]*?\) \(' % len(decoded)
            + texts % b"11 0" + texts % b"11 0" + rb' "alternative" \("boundary" "i"\) NIL NIL NIL\) %d ' %
            decoded.count(b"\n"))
    assert re.search(want, joined), joined
    r = c.command("f2", f"URLFETCH ({leaf1.decode()} BINARY BODYPARTSTRUCTURE)")
    assert re.search(rb"\(BODYPARTSTRUCTURE " + texts % b"11 0" + rb" BINARY \{11\}\r\nhello world\)",
                     b"\r\n".join(r[:-1])), r
    # BODYPARTSTRUCTURE alone describes the part as stored.
    r = c.command("f3", f"URLFETCH ({leaf1.decode()} BODYPARTSTRUCTURE)")
    assert re.search(rb"\(BODYPARTSTRUCTURE " + texts % b"16 1" + rb"\)$", r[0]), r


def test_authuser_url_of_another_account(mail_system, imap, alice):
    """An "authuser" URL of alice's fetched by bob (same mail uid, virtual
    mailboxes): imapd looks alice's Maildir up through authdaemond, whose
    socket the mail group may reach (authdaemongroup)."""
    import grp
    from suite import mail_uid_gid
    bob = mail_system.add_account("bob@example.test", "bob-pw")
    c = prepare(imap, alice)
    u = gen(c, "g1", base(alice, ";UID=1", "authuser"))
    only_alice = gen(c, "g2", base(alice, ";UID=2"))  # user+alice
    if os.geteuid() == 0:
        # As root the accounts run as nobody. MailSystem lets the mail group
        # reach authdaemond's socket (the login children need it); with
        # another group there (set after bob's login, which needs the socket
        # too), imapd cannot look alice up and says why.
        b = logged_in_raw(imap, bob)
        mail_system.stop()
        with open(mail_system.rc, "a") as f:
            f.write("authdaemongroup=root\n")
        mail_system.start()
        assert fetch(b, "f1", u) is None
        assert "may not enter the socket's directory" in imap.log_text()
    mail_system.stop()
    with open(mail_system.rc, "a") as f:
        f.write(f"authdaemongroup={grp.getgrgid(mail_uid_gid()[1]).gr_name}\n")
    mail_system.start()
    b = logged_in_raw(imap, bob)
    assert fetch(b, "f2", u) == MSG1
    assert fetch(b, "f3", only_alice) is None
    tampered = u[:-1] + (b"0" if u[-1:] != b"0" else b"1")
    assert fetch(b, "f4", tampered) is None
    r = b.command("f5", f'GENURLAUTH "{base(alice, ";UID=1", "authuser")}" INTERNAL')
    assert r[-1].startswith(b"f5 NO [BADURL"), r  # only the owner makes URLs
