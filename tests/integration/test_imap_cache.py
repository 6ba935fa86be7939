"""The per-mailbox cache, imapd-cache (issue 15 item 2), through imaplogin +
imapd with real IMAP sessions: every answer the cache serves (FETCH
ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE, INTERNALDATE, header sections;
SORT, THREAD, SEARCH on headers) is byte for byte what imapd answers without
it; a second session answers them with the message files unreadable (so it
does not open them); a garbled, truncated or other-version file is rebuilt
with a log line; a message replaced under the same name is read again
(names without ",S="; with ",S=" the maildir rule that a name's content
never changes is trusted, and that trust is tested too);
expunged messages leave the file once they are a quarter of it, and a file
that drifted less is kept; concurrent sessions leave a valid file.
The file is also parsed here, independently of imapd's parser."""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
import xxhash  # Debian python3-xxhash: the rank section's checksum and ids

from imap_ext_fixtures import alice, imap, logged_in_raw  # noqa: F401 (fixtures)

CACHE = "imapd-cache"

COMMANDS = [
    "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)",
    "FETCH 1:* (INTERNALDATE BODYSTRUCTURE)",
    "FETCH 1:* BODY",
    "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] RFC822.SIZE)",
    "FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS.NOT (DATE)]<5.40>)",
    "UID FETCH 1:* RFC822.HEADER",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE DATE FROM) UTF-8 ALL",
    "SORT (DISPLAYFROM CC TO SIZE) UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "SEARCH SUBJECT lunch",
    "SEARCH FROM carl HEADER Message-ID 3@ex",
    "SEARCH SENTSINCE 1-Jan-2022 NOT TO dave",
    "SEARCH LARGER 300 TEXT budget",
    # SORT by string keys alone: answered from the rank section.
    "SORT (REVERSE FROM SUBJECT) UTF-8 ALL",
    "UID SORT (DISPLAYTO REVERSE CC DISPLAYFROM) UTF-8 SUBJECT budget",
    "SORT RETURN (MIN MAX COUNT PARTIAL 3:9) (REVERSE SUBJECT) UTF-8 NOT FROM carl3",
    "SORT (TO) US-ASCII 2:20",
]


def messages() -> list[str]:
    """Messages with the structures FETCH renders from a parsed file."""
    out = []
    subjects = ["Lunch", "Re: Lunch", "[list] Budget (fwd)", "Fwd: [fwd: budget]", "=?utf-8?q?Caf=C3=A9?= plan",
                "Re: Re: lunch", "status", "Budget"]
    for i in range(24):
        subject = subjects[i % len(subjects)]
        refs = f"References: <{i - 1}@ex.org>\n" if i % 4 else ""
        head = (f"From: =?utf-8?q?Carl_{i}?= <carl{i % 5}@example.org>\nTo: dave{i % 3}@x, \"Erin\" <erin@x>\n"
                f"Cc: group: a@x, b@x;\nSubject: {subject}\nMessage-ID: <{i}@ex.org>\n{refs}"
                f"Date: Mon, {1 + i % 9} Jan 2022 {10 + i % 7}:00:00 +0{i % 3}00\n")
        if i % 3 == 0:
            out.append(head + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"
                       "preamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nhello lunch\n"
                       "--b1\nContent-Type: message/rfc822\n\nSubject: inner budget\nFrom: x@y\n\ninner body\n"
                       "--b1\nContent-Type: application/octet-stream; name=\"a.bin\"\n"
                       "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=a.bin\n\n"
                       "AAECAwQF\n--b1--\n")
        elif i % 3 == 1:
            out.append(head.replace("Date: Mon", "Date: garbage Mon") + "\n" + "budget line\n" * (i * 5))
        else:
            out.append(head + "Content-Type: text/html\n\n<p>budget</p>\r\n" * 3)
    # A header larger than the cache keeps (64 KiB): served from the file.
    out.append("From: big@example.org\nSubject: big header lunch\nX-Long: " + "y" * 70000 + "\n\nbody\n")
    # No body at all, no blank line.
    out.append("Subject: headers only\nFrom: h@example.org\n")
    return out


def fill(account) -> list[Path]:
    paths = []
    cur = account.maildir / "cur"
    for i, text in enumerate(messages()):
        p = cur / f"{1640000000 + i}.M{i}P7.cachetest,S={len(text.encode())}:2,{'S' if i % 2 else ''}"
        p.write_bytes(text.encode())
        os.utime(p, (1641000000 + i * 3600, 1641000000 + i * 3600))
        if os.geteuid() == 0:
            os.chown(p, account.uid, account.gid)
        paths.append(p)
    return paths


def settle(imap) -> None:
    """Waits for the sessions' processes to end: imapd writes imapd-cache as
    it closes the folder, after LOGOUT's reply."""
    with imap.lock:
        procs = list(imap.procs)
    for p in procs:
        p.wait(timeout=30)


def transcript(imap, account, commands=COMMANDS) -> list[list[bytes]]:
    c = logged_in_raw(imap, account)
    try:
        assert c.command("s", "EXAMINE INBOX")[-1].startswith(b"s OK")
        return [c.command(f"t{i}", cmd) for i, cmd in enumerate(commands)]
    finally:
        c.command("z", "LOGOUT")
        c.close()
        settle(imap)


def parse_cache(data: bytes) -> list[dict]:
    """The file format, as README.md documents it: a header, the key section
    (sort/thread keys), the body section (ENVELOPE, BODY, BODYSTRUCTURE,
    header block)."""
    line = b"imapd-cache 3\n"
    assert data.startswith(line)
    pos = len(line)
    count, keys_length, bodies_length, keys_crc, ranks_hash, header_crc = struct.unpack_from("<IQQIQI", data, pos)
    assert xxhash.xxh3_64_intdigest(data[pos:pos + 32]) & 0xFFFFFFFF == header_crc
    pos += 36
    assert pos + 32 * count + keys_length + bodies_length == len(data)
    ranks = data[pos:pos + 32 * count]
    assert xxhash.xxh3_64_intdigest(ranks) == ranks_hash
    pos += 32 * count
    keys = data[pos:pos + keys_length]
    assert zlib.crc32(keys) == keys_crc
    body_at = pos + keys_length

    def strings(buf: bytes, p: int, n: int) -> tuple[list[bytes], int]:
        out = []
        for _ in range(n):
            (length,) = struct.unpack_from("<I", buf, p)
            out.append(buf[p + 4:p + 4 + length])
            p += 4 + length
        return out, p

    out = []
    k = 0
    for _ in range(count):
        (length,) = struct.unpack_from("<I", keys, k)
        rec = keys[k + 4:k + 4 + length]
        k += 4 + length
        size, mtime, crlf, flags, date, body_length, body_crc = struct.unpack_from("<QqQIqII", rec, 0)
        fields, p = strings(rec, 44, 8)
        (nrefs,) = struct.unpack_from("<I", rec, p)
        refs, p = strings(rec, p + 4, nrefs)
        assert p == len(rec)
        body = data[body_at:body_at + body_length]
        body_at += body_length
        assert zlib.crc32(body) == body_crc
        parts, q = strings(body, 0, 4)
        assert q == len(body)
        out.append(dict(base=fields[0].decode(), size=size, mtime_ns=mtime, crlf=crlf, has_header=bool(flags & 1),
                        subject=fields[1], message_id=fields[7], references=refs, display_from=fields[5],
                        display_to=fields[6], **{"from": fields[2], "to": fields[3], "cc": fields[4]},
                        envelope=parts[0], header=parts[3]))
    assert k == len(keys) and body_at == len(data)
    # The rank section: ids, then one rank column per string sort key
    # (SUBJECT FROM TO CC DISPLAYFROM DISPLAYTO), worked out here anew.
    ids = struct.unpack_from(f"<{count}Q", ranks, 0)
    assert list(ids) == [xxhash.xxh3_64_intdigest(e["base"].encode(), seed=e["size"]) for e in out]
    for c, field in enumerate(("subject", "from", "to", "cc", "display_from", "display_to")):
        column = struct.unpack_from(f"<{count}I", ranks, 8 * count + 4 * count * c)
        distinct = sorted({e[field] for e in out})
        assert list(column) == [distinct.index(e[field]) for e in out], field
    return out


def test_results_identical_with_and_without_the_cache(imap, alice):
    fill(alice)
    cache = alice.maildir / CACHE
    first = transcript(imap, alice)  # no cache file: every message parsed from its file
    assert cache.exists(), imap.log_text()
    entries = parse_cache(cache.read_bytes())
    assert len(entries) == len(messages())
    assert sum(1 for e in entries if not e["has_header"]) == 1  # the 70 KB header is not kept
    second = transcript(imap, alice)  # answered from the cache
    assert second == first
    cache.unlink()  # deleting it is safe: rebuilt, same answers
    assert transcript(imap, alice) == first
    assert cache.exists()
    # Sanity: the transcript has real content.
    assert any(b"ENVELOPE" in l for l in first[0])
    assert first[6][0].startswith(b"* SORT ") and first[9][0].startswith(b"* THREAD ")


def test_second_session_does_not_open_the_message_files(imap, alice):
    if os.geteuid() == 0 and alice.uid == 0:
        pytest.skip("imapd runs as root here: file modes do not stop it")
    paths = fill(alice)
    cached_commands = COMMANDS[:14] + COMMANDS[15:]  # not TEXT: it searches the bodies
    before = transcript(imap, alice, cached_commands)
    big = paths[-2]  # the large header is not cached: leave that file readable
    for p in paths:
        if p != big:
            os.chmod(p, 0)
    try:
        after = transcript(imap, alice, cached_commands + ["FETCH 1 BODY.PEEK[TEXT]"])
    finally:
        for p in paths:
            os.chmod(p, 0o600)
    assert after[:-1] == before
    # The control: the body is not cached, and the file cannot be read.
    assert after[-1][-1].startswith(f"t{len(cached_commands)} NO".encode()), after[-1]


@pytest.mark.parametrize("damage", ["flip", "keys", "ranks", "truncate", "version", "junk", "count"])
def test_damaged_cache_file_is_rebuilt_with_a_log_line(imap, alice, damage):
    fill(alice)
    good = transcript(imap, alice)
    cache = alice.maildir / CACHE
    data = bytearray(cache.read_bytes())
    if damage == "flip":  # in the body section (ENVELOPE and the rest)
        data[len(data) // 2] ^= 0x20
    elif damage == "keys":  # in the key section (SORT and THREAD's keys)
        data[len(b"imapd-cache 3\n") + 36 + 32 * len(messages()) + 100] ^= 0x20
    elif damage == "ranks":  # in the rank section (SORT by SUBJECT, FROM, ...)
        data[len(b"imapd-cache 3\n") + 36 + 8 * len(messages()) + 5] ^= 0x20
    elif damage == "truncate":
        data = data[:len(data) * 2 // 3]
    elif damage == "version":
        data[len(b"imapd-cache ")] = ord("7")
    elif damage == "count":
        data[14] += 1
    else:
        data = bytearray(b"\x00garbage\xff" * 100)
    cache.write_bytes(bytes(data))
    assert transcript(imap, alice) == good
    log = imap.log_text()
    assert f"cache file {cache}:" in log and "rebuilding it" in log, log
    rebuilt = cache.read_bytes()
    assert rebuilt != bytes(data)
    assert len(parse_cache(rebuilt)) == len(messages())


def test_replaced_message_is_not_served_stale(imap, alice):
    """A name without ",S=": its entry is checked against the file's size and
    mtime (a stat) in every session."""
    paths = fill(alice)
    target = paths[0].with_name(paths[0].name.replace(f",S={paths[0].stat().st_size}", ""))
    assert target != paths[0]
    os.rename(paths[0], target)
    transcript(imap, alice)
    text = target.read_text().replace("Subject: Lunch", "Subject: Replaced entirely")
    tmp = alice.maildir / "tmp" / "replacement"
    tmp.write_text(text)
    os.utime(tmp, (1650000000, 1650000000))
    if os.geteuid() == 0:
        os.chown(tmp, alice.uid, alice.gid)
    os.rename(tmp, target)  # same name, other content and mtime
    c = logged_in_raw(imap, alice)
    assert c.command("s", "EXAMINE INBOX")[-1].startswith(b"s OK")
    env = b"\n".join(c.command("f", "FETCH 1 (ENVELOPE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    assert b"Replaced entirely" in env and b"Lunch" not in env
    assert b'-Apr-2022 ' in env  # INTERNALDATE from the new mtime (2022-04-15), not January's
    search = c.command("g", "SEARCH SUBJECT replaced")
    assert search[0] == b"* SEARCH 1"
    c.command("z", "LOGOUT")
    settle(imap)
    base = target.name.split(":")[0]

    def entry() -> dict:
        return [e for e in parse_cache((alice.maildir / CACHE).read_bytes()) if e["base"] == base][0]

    # One message of 26 read again: the file is kept, its entry never served.
    assert entry()["mtime_ns"] != 1650000000 * 10**9
    again = b"\n".join(transcript(imap, alice, ["FETCH 1 (ENVELOPE)"])[0])
    assert b"Replaced entirely" in again and b"Lunch" not in again
    (alice.maildir / CACHE).unlink()
    transcript(imap, alice)
    assert b"Replaced entirely" in entry()["envelope"]
    assert entry()["mtime_ns"] == 1650000000 * 10**9


def test_sized_name_is_trusted_without_a_stat(imap, alice):
    """A name with ",S=NNN" whose entry was made from a file of NNN bytes is
    served from the cache without looking at the file: its content is taken
    to be fixed for the name (maildir). The trust, shown by breaking the rule:
    content of the same size, rewritten under the same name, is not seen
    until imapd-cache is deleted; a replacement delivered the maildir way
    (a new name, its own ",S=") is read."""
    paths = fill(alice)
    transcript(imap, alice)
    target = paths[0]
    old = target.read_bytes()
    new = old.replace(b"Subject: Lunch", b"Subject: LUNCH")
    assert len(new) == len(old) and new != old
    tmp = alice.maildir / "tmp" / "replacement"
    tmp.write_bytes(new)
    if os.geteuid() == 0:
        os.chown(tmp, alice.uid, alice.gid)
    os.rename(tmp, target)  # against the maildir rule: same name, other content
    # A renamed message gets a new UID: look at all of them.
    fetch = "FETCH 1:* (ENVELOPE RFC822.SIZE)"
    stale = b"".join(transcript(imap, alice, [fetch])[0])
    assert b'"Lunch"' in stale and b"LUNCH" not in stale, stale
    # The same file under a name without ",S=" (a new base name): read.
    bare = target.with_name(target.name.replace(f",S={len(new)}", ""))
    os.rename(target, bare)
    fresh = b"".join(transcript(imap, alice, [fetch])[0])
    assert b'"LUNCH"' in fresh, fresh
    # A new name with ",S=" (the maildir way to replace): read, not trusted blindly.
    renamed = bare.with_name(bare.name.replace(".cachetest", f".cachetest2,S={len(new)}"))
    os.rename(bare, renamed)
    again = b"".join(transcript(imap, alice, [fetch])[0])
    assert b'"LUNCH"' in again, again
    # Deleting the file is always safe: a rebuilt cache reads every message.
    os.rename(renamed, target)
    (alice.maildir / CACHE).unlink()
    rebuilt = b"".join(transcript(imap, alice, [fetch])[0])
    assert b'"LUNCH"' in rebuilt, rebuilt


def test_expunged_messages_leave_the_cache_once_they_are_a_quarter_of_it(imap, alice):
    """A few expunged messages leave the file as it is (their entries are
    never served: no message has their names); once they are a quarter of
    its entries, the session that sees it writes the file without them."""
    paths = fill(alice)
    transcript(imap, alice)
    cache = alice.maildir / CACHE
    before = cache.read_bytes()
    inode = cache.stat().st_ino

    def expunge(seqs: str) -> None:
        c = logged_in_raw(imap, alice)
        assert c.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
        assert c.command("d", f"STORE {seqs} +FLAGS.SILENT (\\Deleted)")[-1].startswith(b"d OK")
        assert c.command("e", "EXPUNGE")[-1].startswith(b"e OK")
        c.command("z", "LOGOUT")
        settle(imap)

    expunge("1:3")  # 3 of 26
    assert cache.stat().st_ino == inode and cache.read_bytes() == before
    kept = transcript(imap, alice)
    cache.unlink()
    assert transcript(imap, alice) == kept  # the answers of a fresh file
    inode = cache.stat().st_ino
    expunge("1:5")  # 5 of the 23 entries left: kept
    assert cache.stat().st_ino == inode
    expunge("1")  # 6 of 23: written without them
    assert cache.stat().st_ino != inode
    bases = {e["base"] for e in parse_cache(cache.read_bytes())}
    assert len(bases) == len(messages()) - 9
    assert not bases & {p.name.split(":")[0] for p in paths[:9]}


def test_concurrent_sessions_leave_a_valid_file(imap, alice):
    fill(alice)
    reference = transcript(imap, alice)
    (alice.maildir / CACHE).unlink()
    errors: list[str] = []

    def run():
        try:
            for _ in range(3):
                if transcript(imap, alice) != reference:
                    errors.append("transcript differs")
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(parse_cache((alice.maildir / CACHE).read_bytes())) == len(messages())
    assert "rebuilding" not in imap.log_text()
    assert not list((alice.maildir / "tmp").iterdir())  # no temporary file left behind


def test_session_reads_the_file_it_loaded_while_another_rewrites_it(imap, alice):
    """A session that loaded the key section (SORT) and reads the body
    section later (FETCH ENVELOPE) reads both from the file it opened, even
    when another session renamed a new file over it meanwhile."""
    fill(alice)
    reference = transcript(imap, alice)
    cache = alice.maildir / CACHE
    c = logged_in_raw(imap, alice)
    try:
        assert c.command("s", "EXAMINE INBOX")[-1].startswith(b"s OK")
        assert c.command("t6", COMMANDS[6]) == reference[6]  # SORT: the keys loaded
        before = cache.stat().st_ino
        cache.unlink()
        other = logged_in_raw(imap, alice)  # another session writes a new file at its close
        assert other.command("s", "EXAMINE INBOX")[-1].startswith(b"s OK")
        assert other.command("t0", COMMANDS[0]) == reference[0]
        other.command("z", "LOGOUT")
        other.close()
        for _ in range(200):
            if cache.exists():
                break
            time.sleep(0.05)
        assert cache.stat().st_ino != before
        for i in (0, 1, 9):
            assert c.command(f"t{i}", COMMANDS[i]) == reference[i]
    finally:
        c.command("z", "LOGOUT")
        c.close()
        settle(imap)
    assert len(parse_cache(cache.read_bytes())) == len(messages())
    assert "rebuilding" not in imap.log_text()


def test_courier_imapd_on_the_same_maildir(imap, alice):
    """Courier-IMAP (bench/imap/anchors.sh; skipped without it) flags and
    expunges in the folder: it leaves imapd-cache alone and shows no folder
    for it; imapd's answers afterwards equal those of a fresh cache."""
    from test_imap_courier_migration import COURIER_IMAPD, courier
    if not COURIER_IMAPD.exists():
        pytest.skip(f"{COURIER_IMAPD} missing: run bench/imap/anchors.sh")
    fill(alice)
    transcript(imap, alice)
    cache = alice.maildir / CACHE
    before = cache.read_bytes()
    out = courier(alice, "a SELECT INBOX\nb STORE 1 +FLAGS (\\Flagged)\nc STORE 2 +FLAGS (\\Deleted)\n"
                         "d EXPUNGE\ne LIST \"\" \"*\"\nf FETCH 1:3 (ENVELOPE)\ng LOGOUT\n")
    assert "d OK" in out and "f OK" in out, out
    assert "imapd-cache" not in out
    assert cache.read_bytes() == before  # Courier does not touch it
    with_cache = transcript(imap, alice)
    cache.unlink()
    assert transcript(imap, alice) == with_cache
    assert len(parse_cache(cache.read_bytes())) == len(messages()) - 1


def test_sort_ranks_follow_new_and_removed_messages(imap, alice):
    """SORT by string keys answers from the rank section without reading the
    key section (shown by garbling the key section: no log line, same
    answers); a message delivered since the file was written sends SORT to
    the key section until such messages are an eighth of the folder and the
    file is written again; a message removed by another program leaves the
    others found by their ids; every answer equals a fresh cache's."""
    paths = fill(alice)
    sorts = ["SORT (SUBJECT) UTF-8 ALL", "SORT (REVERSE FROM SUBJECT) UTF-8 ALL", "SORT (TO) US-ASCII 2:20",
             "SORT (DISPLAYFROM REVERSE CC) UTF-8 ALL"]
    transcript(imap, alice, sorts)  # builds the file, ranks and all
    cache = alice.maildir / CACHE
    built = cache.read_bytes()

    def deliver(k: int) -> None:
        text = f"From: Aaron{k} <aaron{k}@example.org>\nTo: zed@x\nSubject: aardvark {k}\n\nnew\n".encode()
        new = alice.maildir / "cur" / f"1650000000.M99{k}P7.cachetest,S={len(text)}:2,"
        new.write_bytes(text)
        if os.geteuid() == 0:
            os.chown(new, alice.uid, alice.gid)

    deliver(0)
    paths[5].unlink()
    # One new message of 26: read from its file each session (SORT uses the
    # key section); the file is kept as it is.
    one_new = transcript(imap, alice, sorts)
    assert cache.read_bytes() == built
    cache.rename(alice.maildir / "cache.kept")
    assert transcript(imap, alice, sorts) == one_new  # what a fresh file answers
    (alice.maildir / "cache.kept").rename(cache)
    for k in (1, 2, 3):
        deliver(k)
    got = transcript(imap, alice, sorts)  # 4 new of 29: recorded, ranks and all
    data = bytearray(cache.read_bytes())
    count = struct.unpack_from("<I", data, len(b"imapd-cache 3\n"))[0]
    assert count == len(messages()) + 3  # 26 - 1 + 4
    data[len(b"imapd-cache 3\n") + 36 + 32 * count + 60] ^= 0x01  # in the key section
    cache.write_bytes(bytes(data))
    from_ranks = transcript(imap, alice, sorts)
    assert "rebuilding" not in imap.log_text()  # the key section was not read
    cache.unlink()
    fresh = transcript(imap, alice, sorts)
    assert got == from_ranks == fresh
    assert fresh[0][0].startswith(b"* SORT ") and len(fresh[0][0].split()) == 2 + len(messages()) + 3
