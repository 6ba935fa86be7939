"""What a folder's state promises after a power loss (README.md, "What
survives a power loss"), through imaplogin + imapd and a raw IMAP client.

imapd writes imapd-modseq and courierimapuiddb without fsync between durable
reservations (imapd-modseq's header or "R" records, imapd-uidlimit). A power loss is
simulated after the sessions end: each state file is rolled back to the last
content imapd fsynced (the test watches the files after every command; the
fsynced imapd-modseq writes are those that move its reservation), the boot
id they record is replaced (the machine rebooted), and a flag rename the
crash did not keep is undone on disk. The next session must never reuse a
UID or a mod-sequence a client saw, and must report every message as changed
and every lost UID as vanished to a client that synchronizes from what it saw.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)
from imap_support import message


def header(path: Path) -> list[str]:
    return path.read_text().split("\n", 1)[0].split()


def set_boot(path: Path, field: int, value: str) -> None:
    head, rest = path.read_text().split("\n", 1)
    f = head.split()
    f[field] = value
    path.write_text(" ".join(f) + "\n" + rest)


def modseq_reservation(path: Path) -> str:
    """imapd-modseq's reservation: the header's, or the last appended "R" record's."""
    lines = path.read_text().split("\n")
    reserved = lines[0].split()[5]
    for l in lines[1:]:
        if l.startswith("R "):
            reserved = l.split()[1]
    return reserved


def set_modseq_boot(path: Path, value: str) -> None:
    """The boot id in imapd-modseq's header and in every "R" record it appended."""
    text = path.read_text()
    path.write_text(text.replace(text.split("\n", 1)[0].split()[6], value))


def expand(seq: str) -> set[int]:
    out = set()
    for part in seq.split(","):
        a, _, b = part.partition(":")
        out |= set(range(int(a), int(b or a) + 1))
    return out


def numbers(lines: list[bytes], pattern: bytes) -> list[int]:
    out = []
    for l in lines:
        out += [int(x) for x in re.findall(pattern, l)]
    return out


def test_power_loss_never_reuses_uids_or_modseqs(imap, alice):
    box = Path(alice.home) / "Maildir"
    modseq_file, uiddb_file, limit_file = box / "imapd-modseq", box / "courierimapuiddb", box / "imapd-uidlimit"
    c = imap.raw()
    c.line()
    assert c.command("a", f"LOGIN {alice.address} {alice.password}")[-1].startswith(b"a OK")
    assert c.command("b", "ENABLE QRESYNC")[-1].startswith(b"b OK")
    assert c.command("c", "SELECT INBOX")[-1].startswith(b"c OK")
    # A new folder's uiddb is written with fsync: that is its durable content.
    durable_uiddb = uiddb_file.read_text()
    durable_modseq, reserved = None, None

    def watch():
        nonlocal durable_modseq, reserved
        r = modseq_reservation(modseq_file)
        if r != reserved:  # this write moved the reservation: it was fsynced
            durable_modseq, reserved = modseq_file.read_text(), r

    told_uids, told_modseqs = [], []
    for i in range(6):
        lit = message(f"msg {i}", f"body {i}\n").replace("\n", "\r\n").encode()
        c.send(f"t{i} APPEND INBOX {{{len(lit)}}}\r\n")
        assert c.line().startswith(b"+")
        c.send(lit + b"\r\n")
        lines = c.until_tag(f"t{i}")
        assert lines[-1].startswith(f"t{i} OK".encode()), lines
        told_uids += numbers(lines, rb"APPENDUID \d+ (\d+)")
        watch()
    lines = c.command("n", "NOOP")
    watch()
    for i, flags in enumerate(["\\Seen", "\\Flagged", "\\Answered $Work"]):
        lines = c.command(f"s{i}", f"UID STORE {told_uids[i]} +FLAGS ({flags})")
        assert lines[-1].startswith(f"s{i} OK".encode()), lines
        told_modseqs += numbers(lines, rb"MODSEQ \((\d+)\)")
        watch()
    lines = c.command("x", f"UID STORE {told_uids[5]} +FLAGS (\\Deleted)")
    watch()
    lines = c.command("y", "EXPUNGE")
    assert lines[-1].startswith(b"y OK"), lines
    told_modseqs += numbers(lines, rb"HIGHESTMODSEQ (\d+)")
    watch()
    lines = c.command("z", "UID FETCH 1:* (MODSEQ FLAGS)")
    told_modseqs += numbers(lines, rb"MODSEQ \((\d+)\)")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(c.command("st", "STATUS INBOX (UIDVALIDITY)"))).group(1))
    c.command("q", "LOGOUT")
    c.close()
    told_uid, told_modseq = max(told_uids), max(told_modseqs)
    assert durable_modseq is not None and durable_modseq != modseq_file.read_text()
    assert uiddb_file.read_text() != durable_uiddb  # the numbering since was not fsynced

    # Power loss: unfsynced writes gone, another boot; the \Flagged rename
    # of the second message was not on disk yet either.
    modseq_file.write_text(durable_modseq)
    set_modseq_boot(modseq_file, "lost-boot")
    uiddb_file.write_text(durable_uiddb)
    set_boot(limit_file, 2, "lost-boot")
    flagged = [p for p in (box / "cur").iterdir() if p.name.endswith("F") or ",F" in p.name]
    assert len(flagged) == 1, list((box / "cur").iterdir())
    shutil.move(flagged[0], flagged[0].with_name(flagged[0].name.split(":2,")[0] + ":2,"))

    c = imap.raw()
    c.line()
    assert c.command("a", f"LOGIN {alice.address} {alice.password}")[-1].startswith(b"a OK")
    assert c.command("b", "ENABLE QRESYNC")[-1].startswith(b"b OK")
    lines = c.command("c", f"SELECT INBOX (QRESYNC ({uidvalidity} {told_modseq}))")
    assert lines[-1].startswith(b"c OK"), lines
    assert numbers(lines, rb"UIDVALIDITY (\d+)") == [uidvalidity]
    highest = numbers(lines, rb"HIGHESTMODSEQ (\d+)")
    assert highest and highest[0] > told_modseq, lines
    # Every UID the client knew is gone (the messages were renumbered above
    # them), and every message is reported, flags included.
    vanished = set()
    for l in lines:
        if l.startswith(b"* VANISHED (EARLIER) "):
            vanished |= expand(l.split()[-1].decode())
    assert set(told_uids) <= vanished, lines
    fetched = [l for l in lines if b" FETCH " in l]
    assert len(fetched) == 5, lines
    new_uids = numbers(fetched, rb"UID (\d+)")
    assert min(new_uids) > told_uid
    assert min(numbers(fetched, rb"MODSEQ \((\d+)\)")) > told_modseq
    assert sum(b"\\Flagged" in l for l in fetched) == 0  # the lost rename is lost, and told
    assert sum(b"\\Seen" in l for l in fetched) == 1
    # A new message too: above everything told.
    lit = message("after", "after\n").replace("\n", "\r\n").encode()
    c.send(f"d APPEND INBOX {{{len(lit)}}}\r\n")
    assert c.line().startswith(b"+")
    c.send(lit + b"\r\n")
    lines = c.until_tag("d")
    assert numbers(lines, rb"APPENDUID \d+ (\d+)")[0] > max(new_uids)
    c.command("q", "LOGOUT")
    c.close()
    log = imap.log_text()
    assert "imapd-modseq was last fsynced before this boot" in log
    assert "numbering new messages from the reserved limit" in log
    # Durable again, in this boot.
    assert header(modseq_file)[6] not in ("lost-boot", "-")
    assert limit_file.read_text().split()[2] not in ("lost-boot", "-")


def test_killed_session_loses_nothing(imap, alice):
    """SIGKILL is not a power loss: the unfsynced writes are in the page cache,
    so the next session continues the numbering without a jump."""
    c = imap.raw()
    c.line()
    assert c.command("a", f"LOGIN {alice.address} {alice.password}")[-1].startswith(b"a OK")
    assert c.command("c", "SELECT INBOX (CONDSTORE)")[-1].startswith(b"c OK")
    uids = []
    for i in range(3):
        lit = message(f"k {i}", "x\n").replace("\n", "\r\n").encode()
        c.send(f"t{i} APPEND INBOX {{{len(lit)}}}\r\n")
        assert c.line().startswith(b"+")
        c.send(lit + b"\r\n")
        uids += numbers(c.until_tag(f"t{i}"), rb"APPENDUID \d+ (\d+)")
    lines = c.command("s", f"UID STORE {uids[0]} +FLAGS (\\Seen)")
    before = numbers(lines, rb"MODSEQ \((\d+)\)")[0]
    with imap.lock:
        for p in imap.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    c.close()
    m = imap.login(alice)
    typ, data = m.select("INBOX")
    assert typ == "OK"
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    assert sorted(numbers([d if isinstance(d, bytes) else d[0] for d in data], rb"UID (\d+)")) == uids
    typ, data = m.status("INBOX", "(HIGHESTMODSEQ UIDNEXT)")
    assert int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1)) == before
    assert int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1)) == uids[-1] + 1
    m.logout()
    assert "before this boot" not in imap.log_text()
