"""imapd's folder state files are rewritten (a new file renamed over the
old one) only when the write changes something that matters: a session that
changes nothing leaves imapd-cache, courierimapkeywords/:list,
imapd-recent and courierimapuiddb as they were (same inode and mtime);
the writes that are needed still happen (new messages claimed as \\Recent,
keywords stored, the cache of a folder whose messages changed enough).
Entries of expunged messages leave :list lazily: when it is written anyway,
or once they are a quarter of it; a message moved back into a folder under
its old name never picks up such an entry. Real imaplogin + imapd
sessions (imaplib)."""
from __future__ import annotations

import os
from pathlib import Path

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)
from imap_support import deliver, message

STATE = ["imapd-cache", "courierimapkeywords/:list", "imapd-recent", "courierimapuiddb"]


def put(alice, first: int, n: int) -> None:
    for i in range(first, first + n):
        text = message(f"msg {i}")
        deliver(alice.maildir, f"1700000{i:03d}.M1P1.test,S={len(text)}", text, alice.uid, alice.gid)


def settle(imap) -> None:
    """Waits for the sessions' processes to end (imapd writes imapd-cache
    as it closes the folder, after LOGOUT's reply)."""
    with imap.lock:
        procs = list(imap.procs)
    for p in procs:
        p.wait(timeout=30)


def session(imap, alice, *commands: tuple[str, ...]) -> list:
    m = imap.login(alice)
    out = []
    try:
        assert m.select("INBOX")[0] == "OK"
        for c in commands:
            typ, data = getattr(m, c[0])(*c[1:]) if c[0] != "uid" else m.uid(*c[1:])
            assert typ == "OK", (c, data)
            out.append(data)
    finally:
        m.logout()
        settle(imap)
    return out


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def identities(alice) -> dict[str, tuple[int, int] | None]:
    return {name: identity(alice.maildir / name) for name in STATE}


def list_entries(alice) -> dict[str, set[str]]:
    """courierimapkeywords/:list as COURIER-COMPAT.md describes it."""
    text = (alice.maildir / "courierimapkeywords" / ":list").read_text()
    names, _, rest = text.partition("\n\n")
    names = names.split("\n") if names else []
    out = {}
    for line in rest.splitlines():
        base, _, nums = line.rpartition(":")
        out[base] = {names[int(n)] for n in nums.split()}
    return out


def bases(alice) -> list[str]:
    return sorted(p.name.split(":")[0] for p in (alice.maildir / "cur").iterdir())


def test_a_session_that_changes_nothing_writes_no_state_file(imap, alice):
    put(alice, 0, 24)
    # The first session numbers, claims \Recent, caches and stores keywords.
    session(imap, alice, ("fetch", "1:*", "(FLAGS ENVELOPE BODYSTRUCTURE)"), ("store", "2,5", "+FLAGS", "($Work)"))
    before = identities(alice)
    assert all(before.values()), before
    # Reading sessions: FETCH (from the cache), SEARCH, a STORE that
    # changes no keyword, a STORE of a system flag.
    session(imap, alice, ("fetch", "1:*", "(FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)"),
            ("search", None, "KEYWORD", "$Work"), ("store", "2", "+FLAGS", "($Work)"),
            ("store", "5", "-FLAGS", "($Other)"), ("store", "3", "+FLAGS", "(\\Seen)"))
    session(imap, alice, ("sort", "(SUBJECT)", "UTF-8", "ALL"))
    assert identities(alice) == before
    # A new message: claimed as \Recent (imapd-recent) and numbered; one
    # message of 25 read from its file leaves the cache file as it is.
    put(alice, 24, 1)
    data = session(imap, alice, ("fetch", "1:*", "(FLAGS ENVELOPE)"))
    assert b"msg 24" in b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data[0])
    after = identities(alice)
    assert after["imapd-recent"] != before["imapd-recent"]
    assert after["courierimapuiddb"] != before["courierimapuiddb"]
    assert after["imapd-cache"] == before["imapd-cache"]
    assert after["courierimapkeywords/:list"] == before["courierimapkeywords/:list"]
    # A keyword stored is written.
    session(imap, alice, ("store", "1", "+FLAGS", "($Work)"))
    assert identity(alice.maildir / "courierimapkeywords/:list") != before["courierimapkeywords/:list"]
    # Enough new messages (1/8 of the folder): the cache file is written.
    put(alice, 25, 3)
    session(imap, alice, ("fetch", "1:*", "(ENVELOPE)"))
    assert identity(alice.maildir / "imapd-cache") != before["imapd-cache"]


def test_expunged_keyword_entries_leave_list_lazily(imap, alice):
    put(alice, 0, 12)
    session(imap, alice, ("store", "1:12", "+FLAGS", "($Work)"))
    everyone = bases(alice)
    assert set(list_entries(alice)) == set(everyone)
    listed = identity(alice.maildir / "courierimapkeywords/:list")
    # One of twelve expunged: :list is left as it is; the entry matches no
    # message, so no session shows it.
    session(imap, alice, ("store", "1", "+FLAGS", "(\\Deleted)"), ("expunge",))
    assert identity(alice.maildir / "courierimapkeywords/:list") == listed
    assert everyone[0] in list_entries(alice)
    data = session(imap, alice, ("search", None, "KEYWORD", "$Work"))
    assert data[0] == [b" ".join(str(i).encode() for i in range(1, 12))]
    # The next keyword change writes :list, without the gone entry.
    session(imap, alice, ("store", "1", "+FLAGS", "($Home)"))
    entries = list_entries(alice)
    assert set(entries) == set(everyone[1:])
    assert entries[everyone[1]] == {"$Work", "$Home"}
    # Expunged messages a quarter of :list (3 of 11): written at once.
    listed = identity(alice.maildir / "courierimapkeywords/:list")
    session(imap, alice, ("store", "1:2", "+FLAGS", "(\\Deleted)"), ("expunge",))
    assert identity(alice.maildir / "courierimapkeywords/:list") == listed  # 2 of 11
    session(imap, alice, ("store", "1", "+FLAGS", "(\\Deleted)"), ("expunge",))
    assert set(list_entries(alice)) == set(everyone[4:])
    data = session(imap, alice, ("search", None, "KEYWORD", "$Work"))
    assert data[0] == [b"1 2 3 4 5 6 7 8"]


def test_message_moved_back_under_its_name_has_no_stale_keywords(imap, alice):
    """A :list entry left by an expunge (a message expunged to Trash keeps
    its name there) is not picked up when the message is moved back."""
    put(alice, 0, 3)
    m = imap.login(alice)
    assert m.create("INBOX.Archive")[0] == "OK"
    m.logout()
    settle(imap)
    session(imap, alice, ("store", "1:3", "+FLAGS", "($Work)"))
    name = sorted((alice.maildir / "cur").iterdir())[1]
    base = name.name.split(":")[0]
    # As an expunge to Trash leaves it: the file elsewhere, its entry here.
    archive = alice.maildir / ".Archive"
    os.rename(name, archive / "cur" / (base + ":2,"))
    assert base in list_entries(alice)
    m = imap.login(alice)
    assert m.select("INBOX.Archive")[0] == "OK"
    typ, data = m.fetch("1", "(FLAGS)")
    assert typ == "OK" and b"$Work" not in data[0]
    typ, data = m.uid("MOVE", "1:*", "INBOX")
    assert typ == "OK", data
    m.logout()
    settle(imap)
    assert base not in list_entries(alice)
    m = imap.login(alice)
    assert m.select("INBOX")[0] == "OK"
    typ, data = m.fetch("1:*", "(FLAGS)")
    m.logout()
    settle(imap)
    flags = b" ".join(data)
    assert flags.count(b"$Work") == 2, flags
