"""CONDSTORE and QRESYNC (RFC 7162) and CONTEXT=SEARCH/SORT (RFC 5267) through
imaplogin + imapd with Python's imaplib (and a raw socket client where exact
transcripts matter) against a real authdaemond account. Every connection is
a new imapd process, so each new session also checks that mod-sequences
survive a restart; a server stopped and started again checks the same for
the whole service."""
from __future__ import annotations

import imaplib
import os
import re
from pathlib import Path

import pytest

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)
from imap_support import ImapServer, message


def fill(m, n: int = 5) -> None:
    for i in range(1, n + 1):
        assert m.append("INBOX", None, None, message(f"msg {i}", f"body number {i}\n").encode())[0] == "OK"


def modseqs(m, uid_set: str = "1:*") -> dict[int, int]:
    typ, data = m.uid("FETCH", uid_set, "(MODSEQ)")
    assert typ == "OK", data
    out = {}
    for d in data:
        if d is None:
            continue
        s = d.decode() if isinstance(d, bytes) else d[0].decode()
        mu = re.search(r"UID (\d+)", s)
        mm = re.search(r"MODSEQ \((\d+)\)", s)
        if mu and mm:
            out[int(mu.group(1))] = int(mm.group(1))
    return out


def highest(m, box: str = "INBOX") -> int:
    typ, data = m.status(box, "(HIGHESTMODSEQ)")
    assert typ == "OK", data
    return int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))


def inbox(account) -> Path:
    return Path(account.home) / "Maildir"


@pytest.fixture
def box(imap, alice):
    m = imap.login(alice)
    fill(m)
    assert m.select("INBOX")[0] == "OK"
    yield m
    try:
        m.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def test_capabilities(box):
    caps = box.capability()[1][0].split()
    for c in (b"CONDSTORE", b"QRESYNC", b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"ENABLE"):
        assert c in caps


def test_select_reports_highestmodseq_and_status_agrees(imap, alice, box):
    typ, data = box.select("INBOX")
    assert typ == "OK"
    sel = int(box.untagged_responses.get("HIGHESTMODSEQ", [b"0"])[-1]) if "HIGHESTMODSEQ" in box.untagged_responses \
        else None
    other = imap.login(alice)
    h = highest(other)
    assert h > 0
    assert max(modseqs(box).values()) == h
    if sel is not None:
        assert sel == h
    other.logout()


def test_store_by_another_session_raises_modseq_and_is_durable(imap, alice, box):
    before = modseqs(box)
    h0 = highest(box)
    other = imap.login(alice)
    other.select("INBOX")
    assert other.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    other.logout()
    # The first session's next command sees it with a higher modseq.
    box.noop()
    after = modseqs(box)
    uid2 = sorted(after)[1]
    assert after[uid2] > before[uid2]
    assert after[uid2] > h0
    for u in before:
        if u != uid2:
            assert after[u] == before[u]
    # A new imapd process (a restart for this folder) reads the same values.
    third = imap.login(alice)
    third.select("INBOX", readonly=True)
    assert modseqs(third) == after
    third.logout()


def test_durable_across_server_restart(mail_system, alice):
    s1 = ImapServer(mail_system, name="imap-a")
    try:
        m = s1.login(alice)
        fill(m, 3)
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Seen)")
        first = modseqs(m)
        h = highest(m)
        m.logout()
    finally:
        s1.stop()
    s2 = ImapServer(mail_system, name="imap-b")
    try:
        m = s2.login(alice)
        m.select("INBOX")
        assert modseqs(m) == first
        assert highest(m) == h
        m.store("3", "+FLAGS", "(\\Answered)")
        assert highest(m) > h  # counting on from the stored value, never back
        m.logout()
    finally:
        s2.stop()


def test_flag_change_by_another_program_gets_new_modseq(alice, box):
    before = modseqs(box)
    cur = inbox(alice) / "cur"
    files = sorted(os.listdir(cur))
    name = files[0]
    base = name.split(":")[0]
    os.rename(cur / name, cur / (base + ":2,FS"))  # as a Courier or mutt session would
    box.noop()  # the rescan at the end of a command sees it
    after = modseqs(box)
    changed = [u for u in after if after[u] != before[u]]
    assert len(changed) == 1
    assert after[changed[0]] > max(before.values())


def test_changedsince_and_unchangedsince_conflict(imap, alice, box):
    ms = modseqs(box)
    uids = sorted(ms)
    base = max(ms.values())
    # FETCH CHANGEDSINCE: nothing changed yet.
    typ, data = box.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % base)
    assert typ == "OK" and data == [None]
    other = imap.login(alice)
    other.select("INBOX")
    other.uid("STORE", str(uids[0]), "+FLAGS", "(\\Seen)")
    other.logout()
    box.noop()
    typ, data = box.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % base)
    assert typ == "OK"
    text = b" ".join(d for d in data if isinstance(d, bytes))
    assert re.search(rb"UID %d .*MODSEQ \(\d+\)" % uids[0], text), text
    assert text.count(b"FETCH") <= 1 and b"UID %d" % uids[1] not in text
    # STORE UNCHANGEDSINCE with the stale value fails for uids[0] only.
    typ, data = box.uid("STORE", f"{uids[0]},{uids[1]}", "(UNCHANGEDSINCE %d)" % base, "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    assert box.response("MODIFIED")[1] == [b"%d" % uids[0]]  # the tagged OK's [MODIFIED uid]
    flags = box.uid("FETCH", f"{uids[0]},{uids[1]}", "(FLAGS)")[1]
    joined = b" ".join(flags)
    assert re.search(rb"UID %d FLAGS \([^)]*\\Flagged" % uids[1], joined), joined
    assert not re.search(rb"UID %d FLAGS \([^)]*\\Flagged" % uids[0], joined), joined


def test_unchangedsince_reply_text(imap, alice):
    m = imap.login(alice)
    fill(m, 2)
    m.logout()
    c = logged_in_raw(imap, alice)
    c.command("s", "SELECT INBOX")
    lines = c.command("f", "FETCH 1:2 (UID MODSEQ)")
    assert any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in lines), lines
    ms = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in lines if l.startswith(b"* ") and b" FETCH " in l]
    lines = c.command("t", f"STORE 1:2 (UNCHANGEDSINCE {ms[0]}) +FLAGS.SILENT (\\Deleted)")
    # Message 1 passes (modseq == value), 2 fails if its modseq is higher.
    tagged = lines[-1]
    assert ms[1] > ms[0]  # appended one after the other
    assert tagged.startswith(b"t OK [MODIFIED 2]"), lines
    assert any(re.match(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)", l) for l in lines), lines
    lines = c.command("u", "STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)")
    assert lines[-1].startswith(b"u OK [MODIFIED 1]"), lines
    lines = c.command("v", "SEARCH MODSEQ %d" % (ms[0] + 1))
    assert re.match(rb"\* SEARCH 1( \d+)* \(MODSEQ \d+\)", lines[0]), lines
    # FETCH BODY[] sets \Seen: the new MODSEQ comes with the new FLAGS.
    lines = c.command("b", "FETCH 2 (BODY[TEXT])")
    fetch = [l for l in lines if l.startswith(b"* 2 FETCH")]
    assert fetch and b"\\Seen" in fetch[0], lines
    got = int(re.search(rb"MODSEQ \((\d+)\)", fetch[0]).group(1))
    assert got > ms[1], lines
    c.command("z", "LOGOUT")


def test_qresync_resync_after_expunge(imap, alice, box):
    ms = modseqs(box)
    uids = sorted(ms)
    typ, data = box.status("INBOX", "(UIDVALIDITY)")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
    known = max(ms.values())
    # Another session flags one message and expunges two.
    other = imap.login(alice)
    other.select("INBOX")
    other.uid("STORE", str(uids[0]), "+FLAGS", "(\\Answered)")
    other.uid("STORE", f"{uids[1]},{uids[3]}", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.logout()
    c = logged_in_raw(imap, alice)
    lines = c.command("e", "ENABLE QRESYNC")
    assert b"* ENABLED" in lines[0] and b"QRESYNC" in lines[0], lines
    lines = c.command("s", f"SELECT INBOX (QRESYNC ({uidvalidity} {known} 1:{uids[-1]}))")
    assert lines[-1].startswith(b"s OK"), lines
    van = [l for l in lines if l.startswith(b"* VANISHED (EARLIER) ")]
    assert van == [b"* VANISHED (EARLIER) %d,%d" % (uids[1], uids[3])], lines
    fetches = [l for l in lines if b" FETCH " in l]
    assert len(fetches) == 1 and b"UID %d " % uids[0] in fetches[0] and b"\\Answered" in fetches[0], lines
    # A modseq from before the expunges but UIDs the client never knew: only
    # the known set is reported.
    lines = c.command("t", f"SELECT INBOX (QRESYNC ({uidvalidity} {known} {uids[3]}))")
    assert b"* OK [CLOSED] Previous mailbox closed." in lines
    assert [l for l in lines if l.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) %d" % uids[3]], lines
    # UID FETCH ... (CHANGEDSINCE n VANISHED)
    lines = c.command("f", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)")
    assert b"* VANISHED (EARLIER) %d,%d" % (uids[1], uids[3]) in lines, lines
    # EXPUNGE with QRESYNC enabled answers VANISHED, not EXPUNGE.
    c.command("d", f"UID STORE {uids[2]} +FLAGS (\\Deleted)")
    lines = c.command("x", "EXPUNGE")
    assert b"* VANISHED %d" % uids[2] in lines and not any(l.endswith(b"EXPUNGE") for l in lines[:-1]), lines
    # Wrong UIDVALIDITY: no resync data, just the usual SELECT.
    lines = c.command("w", f"SELECT INBOX (QRESYNC ({uidvalidity + 1} 1))")
    assert lines[-1].startswith(b"w OK") and not any(b"VANISHED" in l for l in lines), lines
    # QRESYNC without ENABLE is an error (new connection).
    d = logged_in_raw(imap, alice)
    assert d.command("q", f"SELECT INBOX (QRESYNC ({uidvalidity} 1))")[-1].startswith(b"q BAD")
    d.close()
    c.close()


def test_context_search_update_and_cancel(imap, alice, box):
    c = logged_in_raw(imap, alice)
    c.command("s", "SELECT INBOX")
    lines = c.command("S1", "SEARCH RETURN (UPDATE) SEEN")
    assert lines[0] == b'* ESEARCH (TAG "S1")', lines
    # A change by another session shows up at this session's next command.
    other = imap.login(alice)
    other.select("INBOX")
    other.store("2,4", "+FLAGS", "(\\Seen)")
    other.logout()
    lines = c.command("n", "NOOP")
    assert b'* ESEARCH (TAG "S1") ADDTO (0 2,4)' in lines, lines
    lines = c.command("r", "STORE 2 -FLAGS (\\Seen)")
    assert b'* ESEARCH (TAG "S1") REMOVEFROM (0 2)' in lines, lines
    # Expunge: the number is the one the message had.
    c.command("d", "STORE 4 +FLAGS (\\Deleted)")
    lines = c.command("x", "EXPUNGE")
    assert b'* ESEARCH (TAG "S1") REMOVEFROM (0 4)' in lines, lines
    assert c.command("c", 'CANCELUPDATE "S1"')[-1].startswith(b"c OK")
    lines = c.command("t", "STORE 1 +FLAGS (\\Seen)")
    assert not any(b"ESEARCH" in l for l in lines), lines
    # PARTIAL
    lines = c.command("p", "SEARCH RETURN (PARTIAL 2:3) ALL")
    assert lines[0] == b'* ESEARCH (TAG "p") PARTIAL (2:3 2:3)', lines
    lines = c.command("q", "SEARCH RETURN (PARTIAL 9:10) ALL")
    assert lines[0] == b'* ESEARCH (TAG "q") PARTIAL (9:10 NIL)', lines
    assert c.command("b", "SEARCH RETURN (PARTIAL 1:*) ALL")[-1].startswith(b"b BAD")
    c.close()


def test_context_sort_update(imap, alice, box):
    c = logged_in_raw(imap, alice)
    c.command("s", "SELECT INBOX")
    lines = c.command("S2", "SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) UTF-8 UNSEEN")
    assert lines[0] == b'* ESEARCH (TAG "S2") ALL 5,4,3,2,1' or lines[0].startswith(b'* ESEARCH (TAG "S2") ALL'), lines
    order = lines[0].split(b"ALL ")[1]
    lines = c.command("f", "STORE 3 +FLAGS (\\Seen)")
    pos = order.replace(b":", b",").split(b",").index(b"3") + 1 if b":" not in order else None
    rem = [l for l in lines if b"REMOVEFROM" in l]
    assert len(rem) == 1 and rem[0].endswith(b" 3)"), lines
    if pos:
        assert rem[0] == b'* ESEARCH (TAG "S2") REMOVEFROM (%d 3)' % pos
    lines = c.command("g", "STORE 3 -FLAGS (\\Seen)")
    add = [l for l in lines if b"ADDTO" in l]
    assert len(add) == 1 and add[0].endswith(b" 3)"), lines
    lines = c.command("h", "SORT RETURN (PARTIAL 1:2) (ARRIVAL) UTF-8 ALL")
    assert lines[0] == b'* ESEARCH (TAG "h") PARTIAL (1:2 1:2)', lines
    c.close()


def test_corrupt_modseq_file_is_rebuilt_higher(imap, alice, box):
    h = highest(box)
    box.logout()
    f = inbox(alice) / "imapd-modseq"
    assert f.read_text().startswith("imapd-modseq 3 ")
    f.write_text("this is not a modseq file\n")
    m = imap.login(alice)
    m.select("INBOX")
    after = modseqs(m)
    assert min(after.values()) > h  # never a value handed out before
    assert f.read_text().startswith("imapd-modseq 3 ")
    assert "imapd-modseq" in imap.log_text()  # the admin is told which file
    m.logout()


def test_concurrent_unchangedsince_exactly_one_wins(imap, alice, box):
    """Two sessions send STORE (UNCHANGEDSINCE m) for one message at the same
    moment: the test and the change are atomic, so exactly one succeeds."""
    a = logged_in_raw(imap, alice)
    b = logged_in_raw(imap, alice)
    a.command("s", "SELECT INBOX")
    b.command("s", "SELECT INBOX")
    for round_ in range(8):
        lines = a.command("f", "FETCH 1 (MODSEQ)")
        m = max(int(x) for x in re.findall(rb"MODSEQ \((\d+)\)", b" ".join(lines)))
        flag = "$R%d" % round_
        a.send(f"x STORE 1 (UNCHANGEDSINCE {m}) +FLAGS ($A{flag})\r\n")
        b.send(f"y STORE 1 (UNCHANGEDSINCE {m}) +FLAGS ($B{flag})\r\n")
        ra, rb_ = a.until_tag("x")[-1], b.until_tag("y")[-1]
        won = [r for r in (ra, rb_) if b"MODIFIED" not in r]
        lost = [r for r in (ra, rb_) if b"[MODIFIED 1]" in r]
        assert len(won) == 1 and len(lost) == 1, (ra, rb_)
        flags = a.command("g", "FETCH 1 (FLAGS)")
        text = b" ".join(flags)
        assert (b"$A" + flag.encode() in text) != (b"$B" + flag.encode() in text), text
    a.close()
    b.close()
