"""NOTIFY (RFC 5465) through imaplogin + imapd: one raw-socket session asks
for notifications, a second (imaplib) session changes other mailboxes, and
the first must be told with unsolicited STATUS / LIST / FETCH, both at its
next command and while it idles."""
from __future__ import annotations

import re
import socket

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)
from imap_support import message


def untagged(lines, prefix: bytes):
    return [l for l in lines if l.startswith(prefix)]


def status_of(line: bytes) -> dict[str, int]:
    inner = line[line.rindex(b"(") + 1:line.rindex(b")")].decode().split()
    return {inner[i].upper(): int(inner[i + 1]) for i in range(0, len(inner), 2)}


def test_capability_and_initial_status(imap, alice):
    c = logged_in_raw(imap, alice)
    caps = c.command("b", "CAPABILITY")[0]
    assert b" NOTIFY" in caps
    assert c.command("c", "CREATE INBOX.n2")[-1].startswith(b"c OK")
    other = imap.login(alice)
    assert other.append("INBOX.n2", None, None, message("one", "x\n").encode())[0] == "OK"
    r = c.command("d", "NOTIFY SET STATUS (mailboxes INBOX.n2 (MessageExpunge))")
    assert r[-1].startswith(b"d OK"), r
    st = untagged(r, b"* STATUS INBOX.n2 ")
    assert len(st) == 1 and status_of(st[0]) == {"MESSAGES": 1}
    r = c.command("e", "NOTIFY SET STATUS (mailboxes INBOX.n2 (MessageNew MessageExpunge FlagChange))")
    s = status_of(untagged(r, b"* STATUS INBOX.n2 ")[0])
    assert set(s) == {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"} and s["UIDNEXT"] == 2
    # Without STATUS nothing is sent at once.
    r = c.command("f", "NOTIFY SET (mailboxes INBOX.n2 (MessageNew MessageExpunge))")
    assert r[-1].startswith(b"f OK") and not untagged(r, b"* STATUS")
    other.logout()


def test_new_message_in_other_mailbox_reported_at_next_command(imap, alice):
    c = logged_in_raw(imap, alice)
    c.command("c", "CREATE INBOX.watched")
    c.command("c2", "CREATE INBOX.ignored")
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    r = c.command("d", "NOTIFY SET (selected (MessageNew MessageExpunge)) "
                       "(subtree INBOX.watched (MessageNew MessageExpunge FlagChange))")
    assert r[-1].startswith(b"d OK"), r
    other = imap.login(alice)
    assert other.append("INBOX.watched", None, None, message("w", "x\n").encode())[0] == "OK"
    assert other.append("INBOX.ignored", None, None, message("i", "x\n").encode())[0] == "OK"
    r = c.command("e", "NOOP")
    st = untagged(r, b"* STATUS ")
    assert len(st) == 1 and st[0].startswith(b"* STATUS INBOX.watched "), r
    assert status_of(st[0])["MESSAGES"] == 1
    # A flag change in the watched mailbox: HIGHESTMODSEQ moves.
    assert other.select("INBOX.watched")[0] == "OK"
    assert other.store("1", "+FLAGS", "\\Flagged")[0] == "OK"
    r = c.command("f", "NOOP")
    st = untagged(r, b"* STATUS INBOX.watched ")
    assert len(st) == 1 and "HIGHESTMODSEQ" in status_of(st[0]), r
    # Nothing changed: nothing sent.
    assert not untagged(c.command("g", "NOOP"), b"* STATUS")
    # NOTIFY NONE stops it.
    assert c.command("h", "NOTIFY NONE")[-1].startswith(b"h OK")
    assert other.append("INBOX.watched", None, None, message("w2", "x\n").encode())[0] == "OK"
    assert not untagged(c.command("i", "NOOP"), b"* STATUS")
    other.logout()


def test_notifications_while_idle(imap, alice):
    c = logged_in_raw(imap, alice)
    c.command("c", "CREATE INBOX.idlebox")
    c.command("s", "SELECT INBOX")
    assert c.command("d", "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge)) "
                          "(personal (MessageNew MessageExpunge MailboxName))")[-1].startswith(b"d OK")
    c.send("i IDLE\r\n")
    assert c.line().startswith(b"+ ")
    other = imap.login(alice)
    assert other.append("INBOX.idlebox", None, None, message("idle", "x\n").encode())[0] == "OK"
    c.sock.settimeout(10)
    l = c.line()
    assert l.startswith(b"* STATUS INBOX.idlebox ") and status_of(l)["MESSAGES"] == 1, l
    # A folder created elsewhere: MailboxName.
    assert other.create("INBOX.fresh")[0] == "OK"
    assert c.line() == b'* LIST () "." INBOX.fresh'
    # A new message in the selected mailbox: EXISTS and the asked-for FETCH.
    assert other.append("INBOX", None, None, message("sel", "x\n").encode())[0] == "OK"
    got = [c.line(), c.line()]
    assert any(re.match(rb"\* 1 EXISTS", g) for g in got), got
    lines = got
    while not any(b"FETCH" in g for g in lines):
        lines.append(c.line())
    fetch = [g for g in lines if b"FETCH" in g][0]
    assert b"UID 1" in fetch and b"FLAGS" in fetch, fetch
    assert other.delete("INBOX.fresh")[0] == "OK"
    assert c.line() == b'* LIST (\\NonExistent) "." INBOX.fresh'
    c.send("DONE\r\n")
    assert c.until_tag("i")[-1].startswith(b"i OK")
    other.logout()


def test_notifications_between_commands_without_idle(imap, alice):
    """RFC 5465: a client that never IDLEs is told as well, while it sends
    nothing; the selected mailbox's EXPUNGE waits for its next command
    (RFC 3501 7.4.1)."""
    c = logged_in_raw(imap, alice)
    c.command("c", "CREATE INBOX.quiet")
    other = imap.login(alice)
    assert other.append("INBOX", None, None, message("first", "x\n").encode())[0] == "OK"
    assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    assert c.command("d", "NOTIFY SET (selected (MessageNew (UID) MessageExpunge FlagChange)) "
                          "(personal (MessageNew MessageExpunge))")[-1].startswith(b"d OK")
    c.sock.settimeout(10)
    # Another mailbox: an unsolicited STATUS, no command sent.
    assert other.append("INBOX.quiet", None, None, message("q", "x\n").encode())[0] == "OK"
    l = c.line()
    assert l.startswith(b"* STATUS INBOX.quiet ") and status_of(l)["MESSAGES"] == 1, l
    # The selected mailbox: EXISTS and MessageNew's FETCH.
    assert other.append("INBOX", None, None, message("second", "x\n").encode())[0] == "OK"
    lines = [c.line()]
    while not any(b"FETCH" in g for g in lines):
        lines.append(c.line())
    assert b"* 2 EXISTS" in lines, lines
    assert any(re.match(rb"\* 2 FETCH \(UID 2\)", g) for g in lines), lines
    # A flag change by another session: FETCH FLAGS.
    assert other.select("INBOX")[0] == "OK"
    assert other.store("1", "+FLAGS", "\\Flagged")[0] == "OK"
    lines = [c.line()]
    while b"FETCH" not in lines[-1]:
        lines.append(c.line())
    assert re.match(rb"\* 1 FETCH \(FLAGS \(.*\\Flagged", lines[-1]), lines
    # An expunge is not sent while no command is in progress...
    assert other.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    assert other.expunge()[0] == "OK"
    c.sock.settimeout(1.5)
    seen = []
    try:
        while True:
            seen.append(c.line())
    except (socket.timeout, TimeoutError):
        pass
    assert not [g for g in seen if b"EXPUNGE" in g], seen
    # ...but at the next one.
    c.sock.settimeout(10)
    r = c.command("n", "NOOP")
    assert b"* 1 EXPUNGE" in r and r[-1].startswith(b"n OK"), r
    # NOTIFY NONE: silence again between commands.
    assert c.command("z", "NOTIFY NONE")[-1].startswith(b"z OK")
    assert other.append("INBOX.quiet", None, None, message("q2", "x\n").encode())[0] == "OK"
    c.sock.settimeout(1.5)
    try:
        extra = c.line()
    except (socket.timeout, TimeoutError):
        extra = None
    assert extra is None, extra
    other.logout()


def test_subscription_change(imap, alice):
    c = logged_in_raw(imap, alice)
    c.command("c", "CREATE INBOX.sub")
    assert c.command("d", "NOTIFY SET (personal (SubscriptionChange))")[-1].startswith(b"d OK")
    other = imap.login(alice)
    assert other.subscribe("INBOX.sub")[0] == "OK"
    r = c.command("e", "NOOP")
    assert b'* LIST (\\Subscribed) "." INBOX.sub' in r, r
    assert other.unsubscribe("INBOX.sub")[0] == "OK"
    r = c.command("f", "NOOP")
    assert b'* LIST () "." INBOX.sub' in r, r
    other.logout()


def test_errors(imap, alice):
    c = logged_in_raw(imap, alice)
    r = c.command("a1", "NOTIFY SET (selected (AnnotationChange))")
    assert r[-1].startswith(b"a1 NO [BADEVENT ("), r
    assert c.command("a2", "NOTIFY SET (nowhere (MessageNew))")[-1].startswith(b"a2 BAD")
    assert c.command("a3", "NOTIFY")[-1].startswith(b"a3 BAD")
    assert c.command("a4", "NOTIFY SET (personal (MessageNew (UID)))")[-1].startswith(b"a4 BAD")
    assert c.command("a5", "NOTIFY SET (selected (MessageNew (NOSUCHATT)))")[-1].startswith(b"a5 BAD")
    # The session is still usable.
    assert c.command("a6", "NOOP")[-1].startswith(b"a6 OK")
