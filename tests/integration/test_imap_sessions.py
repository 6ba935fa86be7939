"""imapd with several sessions at once, IDLE, deliveries and expunges
underneath a session, vanished files, hostile input and timeouts."""
from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import time

import pytest

from imap_support import ImapServer, deliver, message


@pytest.fixture
def imap(mail_system):
    server = ImapServer(mail_system)
    yield server
    server.stop()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "alice-pw")


def put(alice, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        deliver(alice.maildir, f"1700001{i:03d}.M1P1.test,S=100", message(f"msg {i}"), alice.uid, alice.gid)


def raw_login(imap, alice):
    c = imap.raw()
    assert c.line().startswith(b"* OK [CAPABILITY")
    assert c.command("l", f'LOGIN "{alice.address}" "{alice.password}"')[-1].startswith(b"l OK")
    return c


def test_idle_reports_delivery_flag_change_and_expunge(imap, alice):
    put(alice, 2)
    idler = raw_login(imap, alice)
    idler.command("s", "SELECT INBOX")
    idler.send("i IDLE\r\n")
    assert idler.line().startswith(b"+ ")
    put(alice, 1, start=10)
    got = [idler.line()]
    while not any(l.endswith(b"EXISTS") for l in got):
        got.append(idler.line())
    assert b"* 3 EXISTS" in got
    other = imap.login(alice)
    other.select("INBOX")
    other.store("1", "+FLAGS", "\\Flagged")
    l = idler.line()
    while b"FETCH" not in l:
        l = idler.line()
    assert l.startswith(b"* 1 FETCH (FLAGS (") and b"\\Flagged" in l
    other.store("2", "+FLAGS", "\\Deleted")
    other.expunge()
    l = idler.line()
    while b"EXPUNGE" not in l:
        l = idler.line()
    assert l == b"* 2 EXPUNGE"
    idler.send("DONE\r\n")
    assert idler.until_tag("i")[-1].startswith(b"i OK")
    other.logout()


def test_two_sessions_expunging_the_same_mailbox(imap, alice):
    put(alice, 5)
    a, b = imap.login(alice), imap.login(alice)
    a.select("INBOX")
    b.select("INBOX")
    a.store("1:2", "+FLAGS", "\\Deleted")
    b.store("2:3", "+FLAGS", "\\Deleted")
    assert a.expunge()[0] == "OK"
    typ, data = b.expunge()
    assert typ == "OK"
    # Both end with the same view: msg 3 and msg 4 (UIDs 4, 5).
    for m in (a, b):
        m.noop()
        typ, data = m.uid("SEARCH", "ALL")
        assert data == [b"4 5"]
        typ, data = m.fetch("1:*", "(UID)")
        assert [re.search(rb"UID (\d+)", d).group(1) for d in data if b"UID" in d] == [b"4", b"5"]
    assert len(os.listdir(alice.maildir / "cur")) == 2
    a.logout()
    b.logout()


def test_delivery_during_fetch_and_vanished_file(imap, alice):
    put(alice, 3)
    m = imap.login(alice)
    m.select("INBOX")
    # A delivery between commands shows up as EXISTS, with the next UID.
    put(alice, 1, start=20)
    typ, data = m.fetch("1:*", "(UID)")
    assert m.untagged_responses.get("EXISTS", [b"3"])[-1] == b"4"
    m.noop()
    typ, data = m.fetch("4", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"UID 4" in data[0][0] and b"msg 20" in data[0][1]
    # A file removed underneath: FETCH returns the others and ends OK
    # [EXPUNGEISSUED] (the body is gone: that message is left out); the next
    # NOOP reports the EXPUNGE.
    victim = next(p for p in (alice.maildir / "cur").iterdir() if "1700001001" in p.name)
    victim.unlink()
    typ, data = m.fetch("1:3", "(BODY.PEEK[])")
    assert typ == "OK" and m.response("EXPUNGEISSUED")[1] != [None]
    assert [d[0].split()[0] for d in data if isinstance(d, tuple)] == [b"1", b"3"]
    assert "EXPUNGE" not in m.untagged_responses
    typ, data = m.noop()
    assert m.untagged_responses.get("EXPUNGE") == [b"2"]
    typ, data = m.uid("SEARCH", "ALL")
    assert data == [b"1 3 4"]
    m.logout()


@pytest.mark.parametrize("sessions", [2, 10])
def test_concurrent_sessions_append_and_read(imap, alice, sessions):
    def work(i: int):
        m = imap.login(alice)
        typ, data = m.append("INBOX", None, None, message(f"from session {i}").replace("\n", "\r\n").encode())
        assert typ == "OK"
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        m.select("INBOX")
        typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        # Other sessions' flag changes may arrive as unsolicited FETCH lines
        # (plain bytes) before ours, which carries the header (a tuple).
        bodies = [part[1] for part in data if isinstance(part, tuple)]
        assert any(f"from session {i}".encode() in b for b in bodies), data
        m.store("1:*", "+FLAGS", f"(s{i})")
        m.logout()
        return uid
    with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
        uids = list(pool.map(work, range(sessions)))
    assert sorted(uids) == list(range(1, sessions + 1))
    m = imap.login(alice)
    typ, data = m.select("INBOX")
    assert data == [str(sessions).encode()]
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    assert len(data) == sessions
    m.logout()


def test_long_line_and_literal_limits(mail_system, alice):
    server = ImapServer(mail_system, "imap-limits", IMAP_MAX_LINE_BYTES="2048", IMAP_MAX_LITERAL_BYTES="4096",
                        IMAP_MAX_MESSAGE_BYTES="100000")
    try:
        c = raw_login(server, alice)
        r = c.command("a", "NOOP " + "x" * 5000)
        assert r[-1].startswith(b"* BAD") or r[-1].startswith(b"a BAD")
        assert c.command("b", "NOOP")[-1].startswith(b"b OK")
        # Synchronising literal over the limit: refused before the data.
        c.send("c CREATE {100000}\r\n")
        assert c.line().startswith(b"c NO [TOOBIG]")
        # APPEND may carry a message up to IMAP_MAX_MESSAGE_BYTES, not more.
        c.send("d APPEND INBOX {200000}\r\n")
        assert c.line().startswith(b"d NO [TOOBIG]")
        # Non-synchronising literal over the limit: read, dropped, NO (RFC 7888).
        c.send(b"e CREATE {5000+}\r\n" + b"y" * 5000 + b"\r\n")
        assert c.until_tag("e")[-1].startswith(b"e NO [TOOBIG]")
        assert c.command("f", "NOOP")[-1].startswith(b"f OK")
        # A huge non-synchronising literal closes the connection.
        c.send(b"g APPEND INBOX {99999999999+}\r\n")
        assert c.line().startswith(b"* BYE")
        assert c.closed()
    finally:
        server.stop()


@pytest.mark.parametrize("garbage", [
    b"\r\n", b"x\r\n", b"a1\r\n", b"a1 FOO\r\n", b'a1 SELECT "unterminated\r\n',
    b"a1 FETCH 1:* (FLAGS\r\n", b"a1 LOGIN ((((((((((((((((((((((((((((((((((((((((\r\n",
    b"a1 UID STORE 1 +FLAGS (\\Bogus)\r\n", b"a1 \x00\x01\x02\r\n", b"a1 SELECT \xff\xfe\r\n",
])
def test_garbage_gets_bad_and_session_continues(imap, alice, garbage):
    c = raw_login(imap, alice)
    c.send(garbage)
    l = c.line()
    assert b"BAD" in l or b"NO" in l
    assert c.command("z", "NOOP")[-1].startswith(b"z OK")


def test_prelogin_timeout(mail_system):
    server = ImapServer(mail_system, "imap-timeout", IMAP_LOGIN_TIMEOUT="1")
    try:
        c = server.raw()
        c.line()
        assert c.line().startswith(b"* BYE")
        assert c.closed()
    finally:
        server.stop()


def test_logindisabled_until_tls(mail_system, alice):
    server = ImapServer(mail_system, "imap-tlsreq", IMAP_TLS_REQUIRED="1")
    try:
        c = server.raw()
        greeting = c.line()
        assert b"LOGINDISABLED" in greeting and b"AUTH=" not in greeting
        r = c.command("a", f'LOGIN "{alice.address}" "{alice.password}"')
        assert r[-1].startswith(b"a NO [PRIVACYREQUIRED]")
    finally:
        server.stop()


def test_account_options_disableimap(imap, mail_system):
    dave = mail_system.add_account("dave@example.test", "dave-pw", options="disableimap=1")
    c = imap.raw()
    c.line()
    assert c.command("a", f'LOGIN "{dave.address}" "dave-pw"')[-1].startswith(b"a NO")


def test_curl_imap_commands(imap, alice):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl not installed (apt-get install -y curl)")
    put(alice, 2)
    base = f"imap://127.0.0.1:{imap.port}"
    user = f"{alice.address}:{alice.password}"
    def run(*args):
        return subprocess.run([curl, "-s", "-S", "--max-time", "20", "--login-options", "AUTH=PLAIN", "-u", user, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    assert b'"INBOX"' in run(base + "/") or b"INBOX" in run(base + "/")
    body = run(base + "/INBOX;UID=2")
    assert b"Subject: msg 1" in body
    assert b"* SEARCH 1 2" in run(base + "/INBOX?ALL")
    out = run(base + "/INBOX", "-X", "EXAMINE INBOX")
    assert b"2 EXISTS" in out
    up = imap.mail_system.root / "up.eml"
    up.write_bytes(message("via curl").replace("\n", "\r\n").encode())
    run(base + "/INBOX", "-T", str(up))
    assert b"* SEARCH 3" in run(base + "/INBOX?SUBJECT%20curl")
    run(base + "/INBOX", "-X", "STORE 1 +FLAGS \\Deleted")
    run(base + "/INBOX", "-X", "CREATE INBOX.fromcurl")
    assert (alice.maildir / ".fromcurl").is_dir()


# RFC 2180 4.1/4.2: FETCH and STORE of messages another session expunged,
# before this session is told (cmd_fetch.cpp render_gone, cmd_store.cpp).

def put_exact(alice, n: int) -> None:
    """Messages whose ",S=" is their true size (as a delivery agent writes it)."""
    for i in range(n):
        text = message(f"msg {i}")
        deliver(alice.maildir, f"1700002{i:03d}.M1P1.test,S={len(text.encode())}", text, alice.uid, alice.gid)


def expunge_elsewhere(imap, alice, uid: int) -> None:
    a = imap.login(alice)
    a.select("INBOX")
    assert a.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert a.expunge()[0] == "OK"
    a.logout()


def fetched(data) -> dict[bytes, bytes]:
    """seq -> the FETCH line (with its literal, if any)."""
    out = {}
    for d in data:
        line = d[0] + d[1] if isinstance(d, tuple) else d
        if line and line != b")":
            out[line.split()[0]] = line
    return out


def test_fetch_and_store_of_message_expunged_by_another_session(imap, alice):
    put_exact(alice, 3)
    b = imap.login(alice)
    b.select("INBOX")
    typ, before = b.fetch("1:3", "(UID ENVELOPE RFC822.SIZE INTERNALDATE)")
    before = fetched(before)
    expunge_elsewhere(imap, alice, 2)
    # What the session knows and the per-mailbox cache holds still answers,
    # for all three; OK, and no EXPUNGE during FETCH (RFC 3501 7.4.1).
    for _ in range(2):  # the second time b has noticed the file is gone
        typ, data = b.fetch("1:3", "(UID ENVELOPE RFC822.SIZE INTERNALDATE)")
        assert typ == "OK"
        assert fetched(data) == before
        assert "EXPUNGE" not in b.untagged_responses
    typ, data = b.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Subject: msg 1" in data[0][1]
    # The body is gone: message 2 is left out, the command still ends OK
    # with [EXPUNGEISSUED] telling why.
    typ, data = b.fetch("1:3", "(UID BODY.PEEK[])")
    assert typ == "OK" and b.response("EXPUNGEISSUED")[1] != [None]
    got = fetched(data)
    assert sorted(got) == [b"1", b"3"] and b"msg 0" in got[b"1"] and b"msg 2" in got[b"3"]
    typ, data = b.fetch("2", "BODY[TEXT]")
    assert typ == "OK" and data == [None]
    # STORE: the others get the flag, the vanished one is skipped, OK.
    typ, data = b.store("1:3", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and b.response("EXPUNGEISSUED")[1] != [None]
    assert sorted(fetched(data)) == [b"1", b"3"]
    assert all(b"\\Flagged" in l for l in fetched(data).values())
    assert "EXPUNGE" not in b.untagged_responses
    # The next NOOP reports the EXPUNGE; nothing else was lost.
    b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"2"]
    typ, data = b.fetch("1:*", "(UID FLAGS)")
    assert [re.search(rb"UID (\d+)", l).group(1) for l in data] == [b"1", b"3"]
    assert all(b"\\Flagged" in l for l in data)
    assert typ == "OK"
    b.logout()


def test_uid_fetch_and_uid_store_of_message_expunged_by_another_session(imap, alice):
    put_exact(alice, 4)
    b = imap.login(alice)
    b.select("INBOX")
    expunge_elsewhere(imap, alice, 2)
    typ, data = b.uid("FETCH", "1:4", "(UID BODY.PEEK[])")
    assert typ == "OK" and b.response("EXPUNGEISSUED")[1] != [None]
    assert [re.search(rb"UID (\d+)", d[0]).group(1) for d in data if isinstance(d, tuple)] == [b"1", b"3", b"4"]
    # After a UID command the EXPUNGE may be told (RFC 3501 7.4.1), and is.
    assert b.untagged_responses.pop("EXPUNGE", None) == [b"2"]
    expunge_elsewhere(imap, alice, 3)
    typ, data = b.uid("STORE", "1:4", "+FLAGS", "(\\Seen)")
    assert typ == "OK" and b.response("EXPUNGEISSUED")[1] != [None]
    assert sorted(re.search(rb"UID (\d+)", l).group(1) for l in data) == [b"1", b"4"]
    assert b.untagged_responses.pop("EXPUNGE", None) == [b"2"]
    typ, data = b.uid("FETCH", "1:*", "(FLAGS)")
    assert len(data) == 2 and all(b"\\Seen" in l for l in data)
    b.logout()


def test_fetch_of_expunged_message_from_the_cache_file(imap, alice):
    # Another session fetched the ENVELOPEs and wrote imapd-cache; this one
    # loaded the cache (for message 1) but never checked message 2's entry,
    # and message 2's file is gone when it asks. (The expunging session
    # prunes the entry from the file as it closes; this one holds it.)
    put_exact(alice, 3)
    c = imap.login(alice)
    c.select("INBOX")
    typ, before = c.fetch("1:3", "(ENVELOPE BODYSTRUCTURE RFC822.SIZE)")
    c.logout()
    for _ in range(100):  # imapd writes it as it closes the folder, after BYE
        if (alice.maildir / "imapd-cache").exists():
            break
        time.sleep(0.05)
    assert (alice.maildir / "imapd-cache").exists()
    b = imap.login(alice)
    b.select("INBOX")
    assert b.fetch("1", "(ENVELOPE)")[1] == [before[0].split(b" BODYSTRUCTURE")[0] + b")"]
    expunge_elsewhere(imap, alice, 2)
    typ, data = b.fetch("2", "(ENVELOPE BODYSTRUCTURE RFC822.SIZE)")
    assert typ == "OK" and data == [before[1]]
    typ, data = b.fetch("2", "(RFC822.TEXT)")
    assert typ == "OK" and data == [None]
    b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"2"]
    b.logout()


def test_condstore_unchangedsince_and_vanished_with_expunged_message(imap, alice):
    put_exact(alice, 3)
    b = imap.login(alice)
    assert b.enable("QRESYNC")[0] == "OK"
    b.select("INBOX")
    a = imap.login(alice)
    a.select("INBOX")
    a.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    typ, data = b.uid("FETCH", "1:3", "(MODSEQ)")
    modseq = max(int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", b"".join(data)))
    assert a.expunge()[0] == "OK"
    a.logout()
    # UNCHANGEDSINCE: applied to messages 1 and 3, the expunged 2 skipped, OK;
    # after the UID command the expunge is told as VANISHED (RFC 7162 3.2.10).
    typ, data = b.uid("STORE", "1:3", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Answered)")
    assert typ == "OK" and b.response("EXPUNGEISSUED")[1] != [None]
    assert sorted(re.search(rb"UID (\d+)", l).group(1) for l in data) == [b"1", b"3"]
    assert b.untagged_responses.get("VANISHED") == [b"2"]
    # A message changed since is still refused with MODIFIED.
    typ, data = b.uid("STORE", "1", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and b.response("MODIFIED")[1] == [b"1"]
    b.logout()
