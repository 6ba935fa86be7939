"""IMAP4rev2 (RFC 9051) alongside IMAP4rev1, through imaplogin + imapd with
Python's imaplib (raw commands through _simple_command) and, where the exact
bytes or their order matter, the raw socket client. Each difference of RFC
9051 Appendix E that imapd serves is checked after ENABLE IMAP4rev2, and the
same commands in a session that did not enable it are checked to answer as
IMAP4rev1 always did."""
from __future__ import annotations

import imaplib
import re

import pytest

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)
from imap_support import deliver, message


def put(alice, n: int, prefix: str = "m") -> None:
    for i in range(1, n + 1):
        deliver(alice.maildir, f"1700000{i:03d}.M1P1.{prefix},S=100", message(f"{prefix} {i}"), alice.uid, alice.gid)


def rev2(imap, alice) -> imaplib.IMAP4:
    m = imap.login(alice)
    typ, data = m._simple_command("ENABLE", "IMAP4rev2")
    assert typ == "OK", data
    assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    return m


def untagged(m: imaplib.IMAP4, name: str) -> list:
    return m.untagged_responses.pop(name, [])


def raw_rev2(imap, alice):
    c = logged_in_raw(imap, alice)
    r = c.command("e", "ENABLE IMAP4rev2")
    assert r == [b"* ENABLED IMAP4rev2", b"e OK ENABLE completed."], r
    return c


# --- CAPABILITY and ENABLE --------------------------------------------------

def test_capability_lists_both_versions_and_enable_switches(imap, alice):
    # Before login too: an RFC 9051 client decides from the greeting.
    c = imap.raw()
    greeting = c.line()
    assert b" IMAP4rev1 IMAP4rev2 " in greeting, greeting
    c.close()
    m = imap.login(alice)
    typ, data = m.capability()
    caps = data[0].split()
    assert b"IMAP4rev1" in caps and b"IMAP4rev2" in caps
    for folded in (b"NAMESPACE", b"UNSELECT", b"UIDPLUS", b"MOVE", b"ID", b"LITERAL+", b"SASL-IR", b"ENABLE",
                   b"IDLE", b"LIST-EXTENDED", b"LIST-STATUS", b"ESEARCH", b"BINARY", b"SPECIAL-USE",
                   b"STATUS=SIZE"):
        assert folded in caps, folded
    # Unknown names are ignored; IMAP4rev2 is echoed as RFC 9051 spells it.
    typ, data = m._simple_command("ENABLE", "X-UNKNOWN", "imap4REV2")
    assert typ == "OK"
    assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    m.logout()


# --- \Recent -----------------------------------------------------------------

def test_select_without_recent_and_with_list_response(imap, alice):
    put(alice, 3)
    m = imap.login(alice)
    m.create("INBOX.Sub")
    m.logout()
    c = raw_rev2(imap, alice)
    r = c.command("s", "SELECT INBOX")
    assert r[-1] == b"s OK [READ-WRITE] Ok", r
    text = b"\r\n".join(r)
    assert b"* 3 EXISTS" in r
    assert b"RECENT" not in text and b"\\Recent" not in text and b"[UNSEEN" not in text, r
    assert b'* LIST (\\HasChildren) "." INBOX' in r, r
    assert any(line.startswith(b"* OK [PERMANENTFLAGS (") for line in r)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in r
    r = c.command("s2", "EXAMINE INBOX.Sub")
    assert r[0] == b"* OK [CLOSED] Previous mailbox closed.", r  # before the new mailbox's data
    assert b'* LIST (\\HasNoChildren) "." INBOX.Sub' in r, r
    c.close()
    # IMAP4rev1: RECENT and [UNSEEN n], no LIST, no CLOSED (the messages are
    # no longer new: the rev2 session claimed them, as any session would).
    put(alice, 4, "n")  # 4 more, not yet seen by any session
    c = logged_in_raw(imap, alice)
    r = c.command("s", "SELECT INBOX")
    assert b"* 4 RECENT" in r and any(line.startswith(b"* OK [UNSEEN 1]") for line in r), r
    assert not any(line.startswith(b"* LIST") for line in r), r
    r = c.command("s2", "SELECT INBOX")
    assert not any(b"[CLOSED]" in line for line in r), r
    c.close()


def test_fetch_flags_and_new_mail_without_recent(imap, alice):
    put(alice, 1)
    c = raw_rev2(imap, alice)
    r = c.command("s", "SELECT INBOX")
    assert r[-1].startswith(b"s OK")
    r = c.command("f", "FETCH 1 FLAGS")
    assert r[0] == b"* 1 FETCH (FLAGS ())", r
    deliver(alice.maildir, "1700000500.M1P1.late,S=100", message("late"), alice.uid, alice.gid)
    r = c.command("n", "NOOP")
    assert b"* 2 EXISTS" in r and not any(b"RECENT" in line for line in r), r
    r = c.command("f2", "FETCH 2 FLAGS")
    assert r[0] == b"* 2 FETCH (FLAGS ())", r
    r = c.command("st", "STORE 2 +FLAGS (\\Seen)")
    assert r[0] == b"* 2 FETCH (FLAGS (\\Seen))", r
    c.close()
    # IMAP4rev1 sees \Recent and RECENT as before.
    deliver(alice.maildir, "1700000600.M1P1.later,S=100", message("later"), alice.uid, alice.gid)
    c = logged_in_raw(imap, alice)
    r = c.command("s", "SELECT INBOX")
    assert b"* 1 RECENT" in r, r
    r = c.command("f", "FETCH 3 FLAGS")
    assert r[0] == b"* 3 FETCH (FLAGS (\\Recent))", r
    deliver(alice.maildir, "1700000700.M1P1.last,S=100", message("last"), alice.uid, alice.gid)
    r = c.command("n", "NOOP")
    assert b"* 4 EXISTS" in r and b"* 2 RECENT" in r, r
    c.close()


def test_status_and_search_reject_recent_in_rev2(imap, alice):
    put(alice, 2)
    m = rev2(imap, alice)
    with pytest.raises(imaplib.IMAP4.error, match="STATUS RECENT"):
        m.status("INBOX", "(MESSAGES RECENT)")
    typ, data = m.status("INBOX", "(MESSAGES SIZE DELETED UNSEEN)")  # STATUS SIZE and DELETED are rev2
    assert typ == "OK" and re.search(rb"MESSAGES 2 SIZE \d+ DELETED 0 UNSEEN 2", data[0]), data
    m.select("INBOX")
    for key in ("RECENT", "NEW", "OLD", "NOT RECENT"):
        with pytest.raises(imaplib.IMAP4.error, match="IMAP4rev2"):
            m._simple_command("SEARCH", key)
    m.logout()
    m = imap.login(alice)
    typ, data = m.status("INBOX", "(MESSAGES RECENT)")
    assert typ == "OK" and re.search(rb"RECENT \d+", data[0]), data
    m.select("INBOX")
    for key in ("RECENT", "NEW", "OLD"):
        typ, data = m._simple_command("SEARCH", key)
        assert typ == "OK", key
    m.logout()


# --- SEARCH: ESEARCH and SEARCHRES --------------------------------------------

def rev2_selected_with_flagged(imap, alice, flagged: str):
    """Five messages in INBOX, `flagged` (a message set) \\Flagged, INBOX
    selected in an IMAP4rev2 session."""
    put(alice, 5)
    c = raw_rev2(imap, alice)
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    assert c.command("st", f"STORE {flagged} +FLAGS (\\Flagged)")[-1].startswith(b"st OK")
    return c


def test_search_answers_with_esearch(imap, alice):
    c = rev2_selected_with_flagged(imap, alice, "2,4")
    r = c.command("q1", "SEARCH FLAGGED")
    assert r == [b'* ESEARCH (TAG "q1") ALL 2,4', b"q1 OK SEARCH completed."], r
    r = c.command("q2", "UID SEARCH ALL")
    assert r == [b'* ESEARCH (TAG "q2") UID ALL 1:5', b"q2 OK SEARCH completed."], r
    r = c.command("q3", "SEARCH KEYWORD nothing")
    assert r == [b'* ESEARCH (TAG "q3")', b"q3 OK SEARCH completed."], r
    r = c.command("q4", "SEARCH RETURN (MIN COUNT) FLAGGED")
    assert r[0] == b'* ESEARCH (TAG "q4") MIN 2 COUNT 2', r
    r = c.command("q5", "SEARCH CHARSET UTF-8 SUBJECT m")
    assert r[0] == b'* ESEARCH (TAG "q5") ALL 1:5', r
    c.close()
    # IMAP4rev1: the SEARCH response, ESEARCH only with RETURN.
    c = logged_in_raw(imap, alice)
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    assert c.command("q1", "SEARCH FLAGGED") == [b"* SEARCH 2 4", b"q1 OK SEARCH completed."]
    assert c.command("q2", "UID SEARCH KEYWORD nothing") == [b"* SEARCH", b"q2 OK SEARCH completed."]
    assert c.command("q3", "SEARCH RETURN (COUNT) FLAGGED")[0] == b'* ESEARCH (TAG "q3") COUNT 2'
    c.close()


def test_searchres_saves_and_dollar_refers_to_it(imap, alice):
    c = rev2_selected_with_flagged(imap, alice, "2,3,5")
    # SAVE alone: no ESEARCH response (RFC 5182 2.4).
    assert c.command("q1", "SEARCH RETURN (SAVE) FLAGGED") == [b"q1 OK SEARCH completed."]
    r = c.command("f1", "FETCH $ (UID)")
    assert r[:-1] == [b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)", b"* 5 FETCH (UID 5)"], r
    r = c.command("u1", "UID FETCH $ (FLAGS)")
    assert len(r) == 4 and all(b"\\Flagged" in line for line in r[:-1]), r
    # "$" inside SEARCH, and SAVE with other options.
    r = c.command("q2", "SEARCH RETURN (SAVE ALL) UID $ NOT 3")
    assert r[0] == b'* ESEARCH (TAG "q2") ALL 2,5', r
    assert c.command("f2", "FETCH $ (UID)")[:-1] == [b"* 2 FETCH (UID 2)", b"* 5 FETCH (UID 5)"]
    # SAVE with MIN only saves the minimum (RFC 5182 2.1).
    r = c.command("q3", "SEARCH RETURN (SAVE MIN) FLAGGED")
    assert r[0] == b'* ESEARCH (TAG "q3") MIN 2', r
    assert c.command("f3", "FETCH $ (UID)")[:-1] == [b"* 2 FETCH (UID 2)"]
    # STORE, COPY, MOVE take "$" too.
    assert c.command("st2", "STORE $ +FLAGS.SILENT (\\Seen)")[-1].startswith(b"st2 OK")
    assert c.command("cr", "CREATE INBOX.Kept")[-1].startswith(b"cr OK")
    r = c.command("cp", "COPY $ INBOX.Kept")
    assert r[-1].startswith(b"cp OK [COPYUID "), r
    # A failed SEARCH ... RETURN (SAVE) empties "$".
    assert c.command("q4", "SEARCH RETURN (SAVE) BOGUSKEY")[-1].startswith(b"q4 BAD")
    assert c.command("f4", "FETCH $ (UID)") == [b"f4 OK FETCH completed."]
    # Selecting empties it as well.
    assert c.command("q5", "SEARCH RETURN (SAVE) ALL")[-1].startswith(b"q5 OK")
    assert c.command("s2", "SELECT INBOX")[-1].startswith(b"s2 OK")
    assert c.command("f5", "FETCH $ (UID)") == [b"f5 OK FETCH completed."]
    c.close()
    # IMAP4rev1 sessions are as before: SAVE is unknown and "$" no message set.
    c = logged_in_raw(imap, alice)
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    assert c.command("q1", "SEARCH RETURN (SAVE) ALL")[-1].startswith(b"q1 BAD")
    assert c.command("f1", "FETCH $ (UID)")[-1].startswith(b"f1 BAD")
    c.close()


# --- mailbox names, LIST, NAMESPACE -------------------------------------------

def test_mailbox_names_are_utf8_in_rev2(imap, alice):
    c = raw_rev2(imap, alice)
    name = "INBOX.Grüße".encode()
    c.send(b'c1 CREATE "' + name + b'"\r\n')
    assert c.until_tag("c1")[-1].startswith(b"c1 OK")
    r = c.command("l", 'LIST "" "INBOX.*"')
    assert b'* LIST (\\HasNoChildren) "." "' + name + b'"' in r, r
    r = c.command("l2", 'LIST (SUBSCRIBED) "" "*"')  # rev2 has no LSUB; LIST (SUBSCRIBED) instead
    assert r[-1].startswith(b"l2 OK"), r
    c.send(b'sub SUBSCRIBE "' + name + b'"\r\n')
    assert c.until_tag("sub")[-1].startswith(b"sub OK")
    r = c.command("l3", 'LIST (SUBSCRIBED) "" "*"')
    assert b'* LIST (\\Subscribed) "." "' + name + b'"' in r, r
    r = c.command("l4", 'LIST "" "*" RETURN (STATUS (MESSAGES SIZE DELETED))')
    assert any(line.startswith(b'* STATUS "' + name + b'" (MESSAGES 0 SIZE 0 DELETED 0)') for line in r), r
    c.send(b's SELECT "' + name + b'"\r\n')
    r = c.until_tag("s")
    assert b'* LIST (\\HasNoChildren) "." "' + name + b'"' in r, r
    assert c.command("ns", "NAMESPACE")[0] == b'* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))'
    c.close()
    # IMAP4rev1: the same folder in modified UTF-7.
    m = imap.login(alice)
    typ, data = m.list('""', "INBOX.*")
    assert typ == "OK" and any(b'"INBOX.Gr&APwA3w-e"' in d or b"INBOX.Gr&APwA3w-e" in d for d in data), data
    typ, data = m.lsub('""', "*")
    assert typ == "OK" and any(b"INBOX.Gr&APwA3w-e" in d for d in data), data
    m.logout()


# --- the rest RFC 9051 folds in, in a rev2 session ----------------------------

def test_folded_extensions_work_in_rev2(imap, alice):
    m = rev2(imap, alice)
    # ID, NAMESPACE
    typ, data = m.xatom("ID", "NIL")
    assert typ == "OK" and untagged(m, "ID")
    typ, data = m.namespace()
    assert typ == "OK" and b'(("INBOX." "."))' in data[0]
    # UIDPLUS: APPENDUID and COPYUID; MOVE; UID EXPUNGE
    m.create("INBOX.Dest")
    typ, data = m.append("INBOX", None, None, message("appended").replace("\n", "\r\n").encode())
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\]", data[0]), data
    m.append("INBOX", None, None, message("second").replace("\n", "\r\n").encode())
    m.select("INBOX")
    typ, data = m._simple_command("UID", "COPY", "1", "INBOX.Dest")  # the tagged reply's text
    assert typ == "OK" and data[0].startswith(b"[COPYUID "), data
    typ, data = m.uid("MOVE", "1", "INBOX.Dest")
    assert typ == "OK", data
    m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    typ, data = m.uid("EXPUNGE", "2")
    assert typ == "OK"
    typ, data = m._simple_command("UNSELECT")
    assert typ == "OK"
    typ, data = m.status("INBOX.Dest", "(MESSAGES)")
    assert b"MESSAGES 2" in data[0], data
    # BINARY and BINARY.SIZE
    m.select("INBOX.Dest")
    typ, data = m.fetch("1", "(BINARY.SIZE[1] BINARY.PEEK[1])")
    assert typ == "OK" and b"BINARY.SIZE[1] " in data[0][0] and b"BINARY[1] " in data[0][0], data
    m.logout()


def test_literal_minus_and_idle_in_rev2(imap, alice):
    c = raw_rev2(imap, alice)
    body = message("lit").replace("\n", "\r\n").encode()
    c.send(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")  # LITERAL-: non-synchronizing
    assert c.until_tag("a")[-1].startswith(b"a OK [APPENDUID ")
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    c.send(b"i IDLE\r\n")
    assert c.line().startswith(b"+ ")
    deliver(alice.maildir, "1700000900.M1P1.idle,S=100", message("idle"), alice.uid, alice.gid)
    seen = b""
    while b"EXISTS" not in seen:
        seen = c.line()
        assert b"RECENT" not in seen, seen
    c.send(b"DONE\r\n")
    r = c.until_tag("i")
    assert not any(b"RECENT" in line for line in r), r
    c.close()
