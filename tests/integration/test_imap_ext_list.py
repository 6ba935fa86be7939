"""LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819) through imaplogin +
imapd with a raw client: several patterns, the SUBSCRIBED selection with
\\Subscribed and \\NonExistent, RECURSIVEMATCH with CHILDINFO, RETURN
(CHILDREN SUBSCRIBED STATUS (...)), and BAD for unknown options."""
from __future__ import annotations

import imaplib

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)


def setup_folders(imap, alice) -> None:
    m = imap.login(alice)
    for f in ("INBOX.a", "INBOX.a.x", "INBOX.b", "INBOX.c2", "INBOX.p", "INBOX.p.q"):
        assert m.create(f)[0] == "OK"
    for f in ("INBOX.a.x", "INBOX.b", "INBOX.p.q", "INBOX.ghost"):  # ghost: never created
        assert m.subscribe(f)[0] == "OK"
    assert m.append("INBOX.b", None, None, b"Subject: s\r\n\r\nbody\r\n")[0] == "OK"
    m.logout()


def lines(c, tag: str, cmd: str) -> list[bytes]:
    r = c.command(tag, cmd)
    assert r[-1].startswith(tag.encode() + b" OK"), r
    return r[:-1]


def test_list_extended(imap, alice):
    setup_folders(imap, alice)
    c = logged_in_raw(imap, alice)
    caps = c.command("b", "CAPABILITY")[0].split()
    assert b"LIST-EXTENDED" in caps and b"LIST-STATUS" in caps
    assert lines(c, "c", 'LIST "" (INBOX.a INBOX.c%)') == [b'* LIST () "." INBOX.a', b'* LIST () "." INBOX.c2']
    assert lines(c, "d", 'LIST (SUBSCRIBED) "" INBOX.*') == [
        b'* LIST (\\Subscribed) "." INBOX.a.x', b'* LIST (\\Subscribed) "." INBOX.b',
        b'* LIST (\\NonExistent \\Subscribed) "." INBOX.ghost', b'* LIST (\\Subscribed) "." INBOX.p.q']
    # INBOX.a is not subscribed but has a subscribed child the pattern does not list
    assert lines(c, "e", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" INBOX.% RETURN (CHILDREN)') == [
        b'* LIST (\\HasChildren) "." INBOX.a (CHILDINFO ("SUBSCRIBED"))',
        b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX.b',
        b'* LIST (\\NonExistent \\Subscribed) "." INBOX.ghost',
        b'* LIST (\\HasChildren) "." INBOX.p (CHILDINFO ("SUBSCRIBED"))']
    assert lines(c, "f", 'LIST "" INBOX.% RETURN (SUBSCRIBED CHILDREN)') == [
        b'* LIST (\\HasChildren) "." INBOX.a', b'* LIST (\\Subscribed \\HasNoChildren) "." INBOX.b',
        b'* LIST (\\HasNoChildren) "." INBOX.c2', b'* LIST (\\HasChildren) "." INBOX.p']
    for tag, bad in (("g", 'LIST (BOGUS) "" %'), ("h", 'LIST (RECURSIVEMATCH) "" %'),
                     ("i", 'LIST (RECURSIVEMATCH REMOTE) "" %'), ("j", 'LIST "" % RETURN (BOGUS)'),
                     ("k", 'LIST "" % RETURN (STATUS (BOGUS))'), ("l", 'LIST "" ()')):
        assert c.command(tag, bad)[-1].startswith(tag.encode() + b" BAD"), bad
    assert lines(c, "m", 'LIST (REMOTE) "" INBOX.b') == [b'* LIST () "." INBOX.b']


def test_list_status(imap, alice):
    setup_folders(imap, alice)
    c = logged_in_raw(imap, alice)
    r = lines(c, "b", 'LIST "" (INBOX.b INBOX.ghost INBOX.c2) RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    assert r == [b'* LIST () "." INBOX.b', b'* STATUS INBOX.b (MESSAGES 1 UNSEEN 1 SIZE 20)',
                 b'* LIST () "." INBOX.c2', b'* STATUS INBOX.c2 (MESSAGES 0 UNSEEN 0 SIZE 0)']
    # imaplib's plain LIST is unchanged
    m = imap.login(alice)
    typ, data = m.list('""', "INBOX.b")
    assert typ == "OK" and data == [b'(\\HasNoChildren) "." INBOX.b']
    m.logout()


def test_delete_keeps_subscription(imap, alice):
    """RFC 3501 6.3.6: DELETE does not remove the name from the subscription
    list; LIST (SUBSCRIBED) shows it \\NonExistent until UNSUBSCRIBE."""
    setup_folders(imap, alice)
    c = logged_in_raw(imap, alice)
    assert c.command("b", "DELETE INBOX.b")[-1].startswith(b"b OK")
    assert lines(c, "c", 'LIST (SUBSCRIBED) "" INBOX.b') == [b'* LIST (\\NonExistent \\Subscribed) "." INBOX.b']
    assert lines(c, "d", 'LSUB "" INBOX.b') == [b'* LSUB () "." INBOX.b']
    assert c.command("e", "UNSUBSCRIBE INBOX.b")[-1].startswith(b"e OK")
    assert lines(c, "f", 'LIST (SUBSCRIBED) "" INBOX.b') == []
