"""imaplogin + imapd with Python's imaplib: every command of RFC 3501 and the
extensions, against a real authdaemond with userdb accounts (suite.py)."""
from __future__ import annotations

import imaplib
import os
import re

import pytest

from imap_support import ImapServer, deliver, message


@pytest.fixture
def imap(mail_system, tmp_path):
    server = ImapServer(mail_system)
    yield server
    server.stop()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "alice-pw")


def put(alice, n: int, prefix: str = "msg") -> None:
    for i in range(n):
        deliver(alice.maildir, f"1700000{i:03d}.M1P1.test,S=100", message(f"{prefix} {i}"), alice.uid, alice.gid)


def test_greeting_capability_and_logout(imap):
    m = imap.imap()
    assert b"IMAP4rev1" in m.welcome
    assert m.welcome.startswith(b"* OK [CAPABILITY ")
    typ, caps = m.capability()
    assert typ == "OK"
    assert b"AUTH=PLAIN" in caps[0]
    assert m.noop()[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_login_and_failed_login(imap, alice):
    m = imap.imap()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login(alice.address, "wrong")
    typ, data = m.login(alice.address, alice.password)
    assert typ == "OK"
    assert b"LOGIN Ok" in data[0]
    typ, caps = m.capability()
    for cap in (b"IDLE", b"UIDPLUS", b"MOVE", b"NAMESPACE", b"CHILDREN", b"SPECIAL-USE", b"UNSELECT"):
        assert cap in caps[0]
    m.logout()
    assert "LOGIN FAILED" in imap.log_text()


def test_too_many_failed_logins_disconnect(imap, alice):
    c = imap.raw()
    c.line()
    for i in range(3):
        reply = c.command(f"a{i}", f"LOGIN {alice.address} nope")
        assert reply[-1].startswith(f"a{i} NO".encode())
    assert b"BYE" in reply[-1] or c.line().startswith(b"* BYE")
    assert c.closed()


def test_authenticate_plain_with_sasl_ir(imap, alice):
    m = imap.imap()
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{alice.address}\0{alice.password}".encode())
    assert typ == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_authenticate_cram_md5(imap, mail_system):
    import subprocess
    from suite import tool
    secret = subprocess.run([tool("authlib/userdbpw"), "-hmac-md5"], input="cram-pw\n", text=True,
                            stdout=subprocess.PIPE, check=True).stdout.strip()
    carol = mail_system.add_account("carol@example.test", "cram-pw", **{"hmac-md5pw": secret})
    m = imap.imap()
    with pytest.raises(imaplib.IMAP4.error):
        m.login_cram_md5(carol.address, "wrong")
    assert m.login_cram_md5(carol.address, carol.password)[0] == "OK"
    m.logout()


def test_select_examine_fetch_store_expunge(imap, alice):
    put(alice, 3)
    m = imap.login(alice)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert m.untagged_responses.get("RECENT") == [b"3"]
    uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
    typ, data = m.fetch("1:*", "(FLAGS UID RFC822.SIZE ENVELOPE)")
    assert typ == "OK" and len(data) == 3
    assert b"UID 1" in data[0] and b"msg 0" in data[0]
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: msg 1" in data[0][1]
    typ, data = m.fetch("2", "(BODY[TEXT])")
    assert data[0][1] == b"Hello.\r\n"
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0]
    typ, data = m.store("1", "+FLAGS", "(\\Deleted \\Flagged)")
    assert typ == "OK" and b"\\Deleted" in data[0] and b"\\Flagged" in data[0]
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"2", b"3"]
    m.close()
    # The state survives the session: same UIDVALIDITY, flags in the file names.
    m2 = imap.login(alice)
    m2.select("INBOX", readonly=True)
    assert int(m2.untagged_responses["UIDVALIDITY"][0]) == uidvalidity
    typ, data = m2.fetch("1", "(FLAGS UID)")
    assert b"\\Seen" in data[0] and b"UID 2" in data[0]
    assert (alice.maildir / "courierimapuiddb").read_text().startswith(f"1 {uidvalidity} ")
    # EXAMINE is read-only.
    typ, data = m2.store("1", "+FLAGS", "\\Deleted")
    assert typ == "NO" and b"read-only" in data[0]
    m2.logout()


def test_append_with_flags_date_and_appenduid(imap, alice):
    m = imap.login(alice)
    typ, data = m.append("INBOX", "(\\Seen $Label1)", imaplib.Time2Internaldate(1_600_000_000),
                         message("appended").replace("\n", "\r\n").encode())
    assert typ == "OK"
    assert re.search(rb"APPENDUID \d+ 1\]", data[0])
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert b"\\Seen" in data[0][0] and b"$Label1" in data[0][0]
    assert b"13-Sep-2020" in data[0][0]
    assert data[0][1].startswith(b"From: Bob")
    files = os.listdir(alice.maildir / "cur")
    assert len(files) == 1 and files[0].endswith(":2,S")
    assert "$Label1" in (alice.maildir / "courierimapkeywords" / ":list").read_text()
    typ, data = m.append("INBOX.nothere", None, None, b"Subject: x\r\n\r\nx\r\n")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.logout()


def test_keywords_store_and_search(imap, alice):
    put(alice, 4)
    m = imap.login(alice)
    m.select("INBOX")
    m.store("2,4", "+FLAGS", "(Important)")
    typ, data = m.search(None, "KEYWORD", "Important")
    assert data == [b"2 4"]
    typ, data = m.search(None, "UNKEYWORD", "Important")
    assert data == [b"1 3"]
    typ, data = m.uid("SEARCH", "SUBJECT", '"msg 2"')
    assert data == [b"3"]
    typ, data = m.search(None, "OR", "SEEN", "FROM", "bob")
    assert data == [b"1 2 3 4"]
    m.store("2", "-FLAGS", "(Important)")
    m.logout()
    m = imap.login(alice)
    m.select("INBOX")
    typ, data = m.search(None, "KEYWORD", "Important")
    assert data == [b"4"]
    typ, data = m.select("INBOX")
    assert b"Important" in m.untagged_responses["FLAGS"][0]
    m.logout()


def test_folders_create_list_rename_delete_subscribe(imap, alice):
    m = imap.login(alice)
    assert m.create("INBOX.Work")[0] == "OK"
    assert m.create("INBOX.Work.2024")[0] == "OK"
    assert m.create("INBOX.Sent")[0] == "OK"
    typ, _ = m.create("INBOX.Work")
    assert typ == "NO"
    typ, data = m.list('""', "*")
    text = b"\n".join(data)
    assert b'(\\HasChildren) "." INBOX' in text or b'(\\HasChildren) "." "INBOX"' in text
    assert b'(\\HasChildren) "." INBOX.Work' in text
    assert b'(\\HasNoChildren) "." INBOX.Work.2024' in text
    assert b"\\Sent" in text
    typ, data = m.list("INBOX.", "%")
    assert b"INBOX.Work.2024" not in b"\n".join(data)
    assert m.subscribe("INBOX.Work")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert data == [b'() "." INBOX.Work']
    assert m.rename("INBOX.Work", "INBOX.Job")[0] == "OK"
    typ, data = m.list('""', "INBOX.Job*")
    assert len(data) == 2
    typ, data = m.lsub('""', "*")
    assert data == [b'() "." INBOX.Job']
    assert (alice.maildir / ".Job.2024" / "cur").is_dir()
    assert m.delete("INBOX.Job.2024")[0] == "OK"
    assert m.delete("INBOX")[0] == "NO"
    typ, data = m.status("INBOX.Job", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)")
    assert typ == "OK" and b"MESSAGES 0" in data[0] and b"UIDNEXT 1" in data[0]
    m.logout()


def test_hostile_mailbox_names_refused(imap, alice):
    m = imap.login(alice)
    for name in ("INBOX/../x", "INBOX..x", "INBOX.a/b", "../etc", "INBOX.&Jjo", "INBOX.&AGE-"):
        typ, _ = m.create(name)
        assert typ == "NO", name
    assert sorted(p.name for p in alice.maildir.iterdir() if p.name.startswith(".")) == []
    m.logout()


def test_international_mailbox_name(imap, alice):
    m = imap.login(alice)
    assert m.create("INBOX.&ZeVnLIqe-")[0] == "OK"      # 日本語
    assert (alice.maildir / ".日本語").is_dir()
    typ, data = m.list('""', "*")
    assert any(b"INBOX.&ZeVnLIqe-" in d for d in data)
    m.logout()


def test_copy_move_uidplus(imap, alice):
    put(alice, 3)
    m = imap.login(alice)
    m.create("INBOX.Archive")
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Flagged Tagged)")
    typ, data = m.copy("1:2", "INBOX.Archive")
    assert typ == "OK" and re.search(rb"COPYUID \d+ 1:2 1:2", data[0])
    typ, data = m.uid("MOVE", "3", "INBOX.Archive")
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    m.select("INBOX.Archive")
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    assert len(data) == 3
    assert b"\\Flagged" in data[0] and b"Tagged" in data[0]
    typ, data = m.copy("1", "INBOX.Nope")
    assert typ == "NO"
    m.logout()


def test_uid_expunge_only_touches_the_set(imap, alice):
    put(alice, 3)
    m = imap.login(alice)
    m.select("INBOX")
    m.store("1:3", "+FLAGS", "\\Deleted")
    typ, data = m.uid("EXPUNGE", "2")
    assert typ == "OK"
    typ, data = m.uid("SEARCH", "ALL")
    assert data == [b"1 3"]
    m.logout()


def test_namespace_id_enable_unselect_check(imap, alice):
    m = imap.login(alice)
    typ, data = m.namespace()
    assert data[0].startswith(b'(("INBOX." "."))')
    typ, data = m.xatom("ID", "NIL")
    assert typ == "OK"
    m.select("INBOX")
    assert m.check()[0] == "OK"
    assert m.unselect()[0] == "OK"
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "FLAGS")
    m.logout()


def test_move_expunge_to_trash(mail_system, tmp_path, alice):
    server = ImapServer(mail_system, "imap2", IMAP_MOVE_EXPUNGE_TO_TRASH="1")
    try:
        put(alice, 2)
        m = server.login(alice)
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        m.select("INBOX.Trash")
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"msg 0" in data[0][1]
        m.logout()
    finally:
        server.stop()
