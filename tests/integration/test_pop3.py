"""pop3login and pop3d, the real programs, talked to by Python's poplib and by
raw sockets: the commands of RFC 1939 and RFC 2449, RETR byte-exact through
dot-stuffing, DELE with RSET / QUIT / a dropped connection, UIDLs in Courier's
format and stable across sessions, logins (USER/PASS, PLAIN, LOGIN,
CRAM-MD5), the failed-login delay, hostile input, pipelining, and a mailbox
of 10,000 messages.

The connections are accepted by pop3_support.Pop3Launcher, which does
couriertcpd's part (the start-script tests in test_pop3_tls.py use the real
couriertcpd)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import poplib
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pop3_support import Pop3Launcher, RawClient, deliver, deliver_many, expected_lines, maildir_files
from suite import tool

UIDL_RE = re.compile(rb"^UID\d+-\d+$")


@pytest.fixture
def pop3_factory(mail_system, public_tmp):
    launchers = []

    def make(env: dict | None = None, wrapper: list[str] | None = None) -> Pop3Launcher:
        launcher = Pop3Launcher(mail_system, Path(public_tmp) / f"pop3-{len(launchers)}.log", env, wrapper)
        launchers.append(launcher)
        return launcher

    yield make
    for launcher in launchers:
        launcher.close()


@pytest.fixture
def pop3(pop3_factory) -> Pop3Launcher:
    return pop3_factory()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "wonder land")


def login(pop3: Pop3Launcher, account) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
    client.user(account.address)
    client.pass_(account.password)
    return client


def test_poplib_session(pop3, alice):
    deliver(alice, b"From: a@example.test\nSubject: one\n\nfirst body\n")
    deliver(alice, b"From: b@example.test\nSubject: two\n\nsecond\nbody\n")
    client = login(pop3, alice)
    count, octets = client.stat()
    assert count == 2
    sizes = [int(line.split()[1]) for line in client.list()[1]]
    assert octets == sum(sizes)
    assert sizes[0] == len(b"From: a@example.test\r\nSubject: one\r\n\r\nfirst body\r\n")
    uidls = [line.split()[1] for line in client.uidl()[1]]
    assert len(set(uidls)) == 2 and all(UIDL_RE.match(u) for u in uidls)
    assert client.uidl(2).split()[2] == uidls[1]
    resp, lines, _ = client.retr(2)
    assert resp.startswith(b"+OK") and lines == [b"From: b@example.test", b"Subject: two", b"", b"second", b"body"]
    resp, lines, _ = client.top(1, 0)
    assert lines == [b"From: a@example.test", b"Subject: one", b""]
    assert client.noop().startswith(b"+OK")
    capa = client.capa()
    for cap in ("TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION"):
        assert cap in capa, capa
    assert "USER" not in capa  # after login
    assert client.quit().startswith(b"+OK")
    # RETR marked the message seen, as Courier does; TOP did not.
    names = os.listdir(alice.maildir / "cur")
    assert sorted(n.endswith(":2,S") for n in names) == [False, True]


MESSAGES = {
    "dots": b"Subject: dots\n\n.\n..\n...\n.leading\nmiddle . dot\n.\n",
    "bare lf and crlf mixed": b"Subject: mixed\r\n\r\nlf line\ncrlf line\r\nlast\n",
    "no final newline": b"Subject: cut\n\nno newline at the end",
    "eight bit": "Subject: Grüße\n\nÄrger über Öl, 日本語\n".encode() + bytes(range(0x80, 0x100)) + b"\n",
    "dot at the very end": b"Subject: x\n\nbody\n.",
    "empty body": b"Subject: empty\n\n",
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_retr_is_byte_exact(pop3, alice, name):
    message = MESSAGES[name]
    deliver(alice, message)
    client = login(pop3, alice)
    size = int(client.list(1).split()[2])
    resp, lines, octets = client.retr(1)
    assert lines == expected_lines(message)
    # The LIST size is what RETR sent: every line end as CRLF, no stuffed dots.
    assert size == sum(len(line) + 2 for line in lines)
    assert resp == f"+OK {size} octets follow.".encode()
    client.quit()


def test_retr_of_a_5_mb_message(pop3, alice):
    body = b"".join(b".%07d starts with a dot\n" % i if i % 3 == 0 else b"line %07d\n" % i for i in range(300000))
    message = b"Subject: big\n\n" + body
    assert len(message) > 5 * 1024 * 1024
    deliver(alice, message)
    client = login(pop3, alice)
    _, lines, _ = client.retr(1)
    assert lines == expected_lines(message)
    client.quit()


def test_dele_then_rset_keeps_everything(pop3, alice):
    for i in range(3):
        deliver(alice, b"Subject: %d\n\nx\n" % i)
    client = login(pop3, alice)
    client.dele(1)
    client.dele(3)
    assert client.stat()[0] == 1
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(1)
    client.rset()
    assert client.stat()[0] == 3
    client.quit()
    assert len(maildir_files(alice)) == 3


def test_dele_then_quit_removes(pop3, alice, mail_system):
    for i in range(3):
        deliver(alice, b"Subject: %d\n\nx\n" % i)
    client = login(pop3, alice)
    survivor = client.uidl(2).split()[2]
    client.dele(1)
    client.dele(3)
    client.quit()
    assert len(maildir_files(alice)) == 1
    again = login(pop3, alice)
    assert again.stat()[0] == 1
    assert again.uidl(1).split()[2] == survivor
    again.quit()


def test_dele_then_dropped_connection_deletes_nothing(pop3, alice):
    deliver(alice, b"Subject: keep\n\nx\n")
    raw = RawClient(pop3.port)
    raw.login(alice.address, alice.password)
    raw.send(b"DELE 1\r\n")
    assert raw.line() == b"+OK Deleted."
    raw.sock.shutdown(socket.SHUT_RDWR)
    raw.close()
    pop3.wait_idle()
    assert len(maildir_files(alice)) == 1
    assert re.search(r"DISCONNECTED, user=alice@example.test, .*deleted=0", pop3.log_text())


def test_uidls_are_couriers_and_stable(pop3, alice):
    deliver(alice, b"a\n")
    deliver(alice, b"b\n")
    first = login(pop3, alice)
    uidls = first.uidl()[1]
    first.quit()
    sizelist = (alice.maildir / "courierpop3dsizelist").read_text()
    header, *entries = sizelist.splitlines()
    assert re.match(r"^/3 3 \d+$", header)
    uidv = header.split()[2]
    assert [line.split()[-1] for line in entries] == [f"1:{uidv}:0", f"2:{uidv}:0"]
    assert [u.split()[1] for u in uidls] == [f"UID1-{uidv}".encode(), f"UID2-{uidv}".encode()]

    deliver(alice, b"c\n")
    second = login(pop3, alice)
    assert second.uidl()[1] == uidls + [f"3 UID3-{uidv}".encode()]
    second.quit()


def test_a_mailbox_from_courier_keeps_its_uidls(pop3, alice):
    names = ["1600000000.M1P1.courierhost,S=12:2,S", "1600000500.M2P2.courierhost,S=12:2,"]
    for name in names:
        (alice.maildir / "cur" / name).write_bytes(b"Subject: x\n\n")
        if os.geteuid() == 0:
            os.chown(alice.maildir / "cur" / name, alice.uid, alice.gid)
    # As Courier's pop3d left it.
    sizelist = alice.maildir / "courierpop3dsizelist"
    sizelist.write_text(f"/3 42 1234567\n{names[0]} 14 40:1234567:0\n{names[1]} 14 41:1234567:0\n")
    if os.geteuid() == 0:
        os.chown(sizelist, alice.uid, alice.gid)
    client = login(pop3, alice)
    assert client.uidl()[1] == [b"1 UID40-1234567", b"2 UID41-1234567"]
    client.quit()


def test_new_mail_waits_for_the_next_session(pop3, alice):
    deliver(alice, b"first\n")
    client = login(pop3, alice)
    deliver(alice, b"second\n")
    assert client.stat()[0] == 1
    assert len(client.list()[1]) == 1
    client.quit()
    again = login(pop3, alice)
    assert again.stat()[0] == 2
    again.quit()
    # New mail was moved to cur/, as Courier does.
    assert os.listdir(alice.maildir / "new") == []


def test_an_imap_session_changing_the_maildir_meanwhile(pop3, alice):
    for i in range(3):
        deliver(alice, b"Subject: %d\n\nbody %d\n" % (i, i))
    client = login(pop3, alice)
    cur = alice.maildir / "cur"
    names = sorted(os.listdir(cur))
    # What an IMAP client does meanwhile: flag one message, expunge another.
    os.rename(cur / names[0], cur / (names[0] + "FS"))
    os.unlink(cur / names[1])
    _, lines, _ = client.retr(1)
    assert lines[-1] == b"body 0"
    with pytest.raises(poplib.error_proto, match="removed by another session"):
        client.retr(2)
    client.dele(1)
    client.dele(2)
    assert client.noop().startswith(b"+OK")
    client.quit()
    left = os.listdir(cur)
    assert len(left) == 1 and left[0].startswith(names[2].split(":")[0])


def test_wrong_password_is_answered_after_the_delay(pop3_factory, alice):
    pop3 = pop3_factory({"POP3_FAILED_LOGIN_DELAY": "1"})
    client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
    client.user(alice.address)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("not the password")
    assert time.monotonic() - started >= 1.0
    client.user(alice.address)
    client.pass_(alice.password)  # the connection stays usable
    client.quit()


def test_failed_logins_are_capped_and_logged(pop3, alice):
    raw = RawClient(pop3.port)
    assert raw.line().startswith(b"+OK")
    raw.send(b"USER alice@example.test\r\nPASS a\r\nPASS b\r\nPASS c\r\nPASS wonder land\r\n")
    replies = [raw.line() for _ in range(5)]
    assert replies[:3] == [b"+OK Password required.", b"-ERR [AUTH] Login failed.", b"-ERR [AUTH] Login failed."]
    assert replies[3].startswith(b"-ERR [AUTH] Too many failed logins")
    assert replies[4] == b""  # closed
    raw.close()
    pop3.wait_idle()
    log = pop3.log_text()
    assert log.count("LOGIN FAILED, user=alice@example.test, ip=[127.0.0.1]") == 3
    assert "wonder land" not in log and "PASS a" not in log


def test_sasl_logins(pop3, mail_system):
    secret = subprocess.run([tool("authlib/userdbpw"), "-hmac-md5"], input="cram pass\n", text=True,
                            stdout=subprocess.PIPE, check=True).stdout.strip()
    bob = mail_system.add_account("bob@example.test", "cram pass", **{"hmac-md5pw": secret})
    deliver(bob, b"Subject: sasl\n\nx\n")

    def session() -> RawClient:
        raw = RawClient(pop3.port)
        assert raw.line().startswith(b"+OK")
        return raw

    plain = session()
    plain.send(b"AUTH PLAIN " + base64.b64encode(b"\0bob@example.test\0cram pass") + b"\r\nSTAT\r\nQUIT\r\n")
    assert plain.line() == b"+OK logged in."
    assert plain.line() == b"+OK 1 20"
    assert plain.line().startswith(b"+OK")

    login_ = session()
    login_.send(b"AUTH LOGIN\r\n")
    assert login_.line() == b"+ VXNlcm5hbWU6"
    login_.send(base64.b64encode(b"bob@example.test") + b"\r\n")
    assert login_.line() == b"+ UGFzc3dvcmQ6"
    login_.send(base64.b64encode(b"cram pass") + b"\r\n")
    assert login_.line() == b"+OK logged in."

    cram = session()
    cram.send(b"AUTH CRAM-MD5\r\n")
    challenge = base64.b64decode(cram.line()[2:])
    digest = hmac.new(b"cram pass", challenge, hashlib.md5).hexdigest()
    cram.send(base64.b64encode(b"bob@example.test " + digest.encode()) + b"\r\n")
    assert cram.line() == b"+OK logged in."

    wrong = session()
    wrong.send(b"AUTH CRAM-MD5\r\n")
    challenge = base64.b64decode(wrong.line()[2:])
    digest = hmac.new(b"not it", challenge, hashlib.md5).hexdigest()
    wrong.send(base64.b64encode(b"bob@example.test " + digest.encode()) + b"\r\n")
    assert wrong.line() == b"-ERR [AUTH] Authentication failed."
    for raw in (plain, login_, cram, wrong):
        raw.close()


def test_disabled_accounts(pop3, mail_system):
    carol = mail_system.add_account("carol@example.test", "pw", options="disablepop3=1")
    dave = mail_system.add_account("dave@example.test", "pw", options="disableinsecurepop3=1")
    for account, reply in ((carol, "POP3 access disabled for this account"),
                           (dave, "disabled via insecure connection")):
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
        client.user(account.address)
        with pytest.raises(poplib.error_proto, match=re.escape(reply)):
            client.pass_("pw")
        client.quit()


def test_pipelined_login_and_commands(pop3, alice):
    deliver(alice, b"Subject: p\n\nx\n")
    raw = RawClient(pop3.port)
    raw.send(b"CAPA\r\nUSER alice@example.test\r\nPASS wonder land\r\nSTAT\r\nUIDL 1\r\nRETR 1\r\nQUIT\r\n")
    assert raw.line().startswith(b"+OK Hello")
    assert raw.line().startswith(b"+OK")
    assert b"PIPELINING" in raw.multiline()
    assert raw.line() == b"+OK Password required."
    assert raw.line() == b"+OK logged in."
    assert raw.line() == b"+OK 1 17"
    assert UIDL_RE.match(raw.line().split()[2])
    assert raw.line() == b"+OK 17 octets follow."
    assert raw.multiline() == [b"Subject: p", b"", b"x"]
    assert raw.line() == b"+OK Bye-bye."
    raw.close()


def test_a_thousand_pipelined_commands(pop3, alice):
    deliver(alice, b"x\n")
    raw = RawClient(pop3.port)
    raw.login(alice.address, alice.password)
    raw.send(b"NOOP\r\nSTAT\r\n" * 500 + b"QUIT\r\n")
    replies = [raw.line() for _ in range(1001)]
    assert replies[:-1] == [b"+OK Yup.", b"+OK 1 3"] * 500
    assert replies[-1] == b"+OK Bye-bye."
    raw.close()


def test_hostile_input(pop3, alice):
    deliver(alice, b"x\n")
    raw = RawClient(pop3.port)
    assert raw.line().startswith(b"+OK")
    raw.send(b"A" * 100000 + b"\r\n")
    assert raw.line() == b"-ERR Command line too long."
    raw.send(b"USER al\x00ice\r\n")
    assert raw.line() == b"-ERR Invalid characters in the command line."
    raw.send(b"\xff\xfe\xfd\r\n")
    assert raw.line() == b"-ERR Invalid command."
    raw.send(b"AUTH PLAIN %%%%\r\n")
    assert raw.line().startswith(b"-ERR [AUTH] Invalid SASL response")
    raw.send(b"USER alice@example.test\r\nPASS wonder land\r\n")
    assert raw.line() == b"+OK Password required."
    assert raw.line() == b"+OK logged in."
    raw.send(b"RETR " + b"9" * 50 + b"\r\nRETR 0\r\nTOP 1\r\nLIST -1\r\n" + b"B" * 5000 + b"\r\nbare\rcr\r\n")
    assert [raw.line() for _ in range(6)] == [
        b"-ERR Invalid number.", b"-ERR Invalid number.", b"-ERR Missing argument.", b"-ERR Invalid number.",
        b"-ERR Command line too long.", b"-ERR Invalid characters in the command line."]
    raw.send(b"STAT\r\n")
    assert raw.line() == b"+OK 1 3"
    # Twenty invalid commands in a row end the session, without UPDATE.
    raw.send(b"DELE 1\r\n" + b"JUNK\r\n" * 25)
    assert raw.line() == b"+OK Deleted."
    lines = [raw.line() for _ in range(21)]
    assert lines[-1].startswith(b"-ERR Too many invalid commands")
    assert raw.line() == b""
    raw.close()
    pop3.wait_idle()
    assert len(maildir_files(alice)) == 1


def test_ten_thousand_messages(pop3, alice):
    deliver_many(alice, 10000)
    started = time.monotonic()
    client = login(pop3, alice)
    first_login_s = time.monotonic() - started
    count, octets = client.stat()
    assert count == 10000
    listing = client.list()[1]
    uidls = client.uidl()[1]
    assert len(listing) == 10000 and len(uidls) == 10000
    assert sum(int(line.split()[1]) for line in listing) == octets
    assert len({u.split()[1] for u in uidls}) == 10000
    _, lines, _ = client.retr(10000)
    assert lines[0].startswith(b"Subject: ")
    client.quit()
    # The second session takes sizes and UIDLs from courierpop3dsizelist.
    started = time.monotonic()
    again = login(pop3, alice)
    assert again.stat() == (count, octets)
    assert again.uidl()[1] == uidls
    second_login_s = time.monotonic() - started
    again.quit()
    print(f"10,000 messages: first login {first_login_s:.2f} s, second {second_login_s:.2f} s")


def test_one_log_line_per_session(pop3, alice):
    deliver(alice, b"Subject: a\n\nx\n")
    deliver(alice, b"Subject: b\n\ny\n")
    client = login(pop3, alice)
    client.retr(1)
    client.top(2, 0)
    client.dele(1)
    client.quit()
    pop3.wait_idle()
    log = pop3.log_text()
    assert re.search(r"pop3d\[\d+\]: INFO: LOGIN, user=alice@example.test, ip=\[127.0.0.1\], port=\[\d+\], "
                     r"method=USER, messages=2", log), log
    ends = re.findall(r"INFO: LOGOUT, user=alice@example.test, .*", log)
    assert len(ends) == 1, log
    assert re.search(r"top=1, retr=1, retr_bytes=17, deleted=1, deleted_bytes=17", ends[0]), ends[0]


def test_log_deletions(pop3_factory, alice):
    pop3 = pop3_factory({"POP3_LOG_DELETIONS": "1"})
    name = deliver(alice, b"x\n")
    client = login(pop3, alice)
    client.dele(1)
    client.quit()
    pop3.wait_idle()
    assert re.search(rf"DELETED, user=alice@example.test, ip=\[127.0.0.1\], filename=cur/{re.escape(name)}:2,",
                     pop3.log_text())
