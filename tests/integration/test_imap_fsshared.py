"""Filesystem shared folders (Courier's "shared." namespace) end to end:
maildirmake -S / -s / --add / --del run for real, two accounts over imaplib,
a message delivered with deliverquota into the sharable folder.

The accounts share one uid (as virtual-mailbox sites do): ours, or nobody's
when the tests run as root. The moderated (-s read) folder must be read-only
to them: as root it belongs to root, as an ordinary user its cur/ loses the
owner's write bit (the only way to take write access from one's own uid).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from imap_support import ImapServer
from suite import mail_uid_gid, tool

ROOT = os.geteuid() == 0


def as_account(argv, stdin: bytes | None = None, as_root: bool = False) -> subprocess.CompletedProcess:
    uid, gid = mail_uid_gid()

    def drop():
        if ROOT and not as_root:
            os.setgid(gid)
            os.setuid(uid)
    cp = subprocess.run([str(a) for a in argv], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        preexec_fn=drop)
    assert cp.returncode == 0, f"{argv}: {cp.returncode} {cp.stderr.decode(errors='replace')}"
    return cp


def message(subject: str) -> bytes:
    return (f"From: owner@example.test\nTo: firm@example.test\nSubject: {subject}\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.test>\n\nbody of {subject}\n").encode()


@pytest.fixture
def shared_site(mail_system):
    uid, gid = mail_uid_gid()
    alice = mail_system.add_account("alice@example.test", "alicepw")
    bob = mail_system.add_account("bob@example.test", "bobpw")
    mk = tool("maildrop/maildirmake")
    share = Path(mail_system.root) / "firm-shared"
    if ROOT:  # the owner (the accounts' uid) makes it in a folder of its own
        share.mkdir()
        os.chown(share, uid, gid)
    as_account([mk, "-S", share])
    as_account([mk, "-s", "write", "-f", "Board", share])
    as_account([mk, "-s", "read", "-f", "Announce", share], as_root=True)
    assert oct((share / ".Board").stat().st_mode & 0o7777) == "0o1777"
    assert oct((share / ".Announce").stat().st_mode & 0o7777) == "0o755"
    as_account([tool("maildrop/deliverquota"), share / ".Board"], stdin=message("board one"))
    as_account([tool("maildrop/deliverquota"), share / ".Announce"], stdin=message("announce one"), as_root=True)
    if ROOT:  # delivered by root, 0600: the moderator makes it readable
        for f in (share / ".Announce" / "new").iterdir():
            f.chmod(0o644)
    else:
        (share / ".Announce" / "cur").chmod(0o555)
        (share / ".Announce" / "new").chmod(0o555)
    for account in (alice, bob):
        as_account([mk, "--add", f"firm={share}", account.maildir])
    assert (alice.maildir / "shared-maildirs").read_text() == f"firm\t{share.resolve()}\n"
    server = ImapServer(mail_system)
    yield server, alice, bob, share
    server.stop()
    if not ROOT:
        (share / ".Announce" / "cur").chmod(0o755)
        (share / ".Announce" / "new").chmod(0o755)


def shared_names(m) -> list[str]:
    typ, data = m.list('""', "shared.*")
    assert typ == "OK"
    return sorted(re.search(rb'"\." "?([^"]*)"?$', line).group(1).decode() for line in data if line)


def test_namespace_and_list_show_shared_folders(shared_site):
    server, alice, bob, _ = shared_site
    for account in (alice, bob):
        m = server.login(account)
        typ, data = m.namespace()
        assert typ == "OK" and b'("shared." ".")' in data[0], data
        assert shared_names(m) == ["shared.firm", "shared.firm.Announce", "shared.firm.Board"]
        m.logout()


def test_both_accounts_see_delivery_and_seen_stays_per_user(shared_site):
    server, alice, bob, share = shared_site
    a, b = server.login(alice), server.login(bob)
    for m in (a, b):
        typ, data = m.select("shared.firm.Board")
        assert typ == "OK" and data == [b"1"], data
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Subject: board one" in data[0][1]
    typ, _ = a.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    assert b"\\Seen" in a.fetch("1", "(FLAGS)")[1][0]
    b.noop()
    assert b"\\Seen" not in b.fetch("1", "(FLAGS)")[1][0]
    # The flag lives in alice's copy: a link in shared-folders/firm/Board/cur.
    links = list((alice.maildir / "shared-folders" / "firm" / "Board" / "cur").iterdir())
    assert len(links) == 1 and links[0].is_symlink() and links[0].name.endswith(":2,S")
    # A second delivery shows up for both: at the next SELECT, or with NOOP.
    as_account([tool("maildrop/deliverquota"), share / ".Board"], stdin=message("board two"))
    typ, data = a.select("shared.firm.Board")
    assert data == [b"2"], data
    assert b.noop()[0] == "OK"
    assert b.response("EXISTS")[1][-1] == b"2"  # (the first is from SELECT)
    # APPEND by bob goes into the sharable folder, so alice sees it.
    typ, data = b.append("shared.firm.Board", None, None, message("from bob").replace(b"\n", b"\r\n"))
    assert typ == "OK", data
    typ, data = a.select("shared.firm.Board")
    assert data == [b"3"], data
    # bob expunges his own message: it leaves the sharable folder.
    b.select("shared.firm.Board")
    typ, data = b.search(None, "SUBJECT", '"from bob"')
    seq = data[0].split()[0]
    b.store(seq, "+FLAGS", "(\\Deleted)")
    assert b.expunge()[0] == "OK"
    assert len(list((share / ".Board" / "cur").iterdir())) == 2
    assert a.select("shared.firm.Board")[1] == [b"2"]
    a.logout()
    b.logout()


def test_read_only_share_refuses_changes(shared_site):
    server, alice, _, _ = shared_site
    m = server.login(alice)
    # imaplib raises when a SELECT answers [READ-ONLY]; the mailbox is selected.
    with pytest.raises(m.readonly, match="shared.firm.Announce"):
        m.select("shared.firm.Announce")
    assert m.response("READ-ONLY")[1] != [None]  # (taken, so imaplib sends the next commands)
    assert m.response("EXISTS")[1] == [b"1"]
    assert b"announce one" in m.fetch("1", "(BODY.PEEK[TEXT])")[1][0][1]
    for attempt in (lambda: m.store("1", "+FLAGS", "(\\Deleted)"), lambda: m.expunge(),
                    lambda: m.append("shared.firm.Announce", None, None, message("nope").replace(b"\n", b"\r\n"))):
        try:
            typ, data = attempt()
        except m.error as e:
            typ, data = "NO", [str(e).encode()]
        assert typ == "NO", data
        assert b"[NOPERM]" in data[0] and b"shared.firm.Announce" in data[0], data
    # Subscribing works, and the name stays in LSUB.
    assert m.subscribe("shared.firm.Announce")[0] == "OK"
    assert b"shared.firm.Announce" in b"".join(x for x in m.lsub('""', "shared.*")[1] if x)
    m.logout()


def test_del_removes_share_and_vanished_folder_is_clear(shared_site):
    server, alice, bob, share = shared_site
    m = server.login(bob)
    assert m.select("shared.firm.Board")[0] == "OK"
    m.logout()
    as_account([tool("maildrop/maildirmake"), "--del", "firm", bob.maildir])
    assert not (bob.maildir / "shared-folders" / "firm").exists()
    m = server.login(bob)
    assert shared_names(m) == []
    typ, data = m.select("shared.firm.Board")
    assert typ == "NO" and b"firm" in data[0], data
    m.logout()
    # alice still has it; then the owner removes the folder under her.
    a = server.login(alice)
    assert a.select("shared.firm.Board")[0] == "OK"
    a.close()
    shutil.rmtree(share / ".Board")
    typ, data = a.select("shared.firm.Board")
    assert typ == "NO" and b"shared.firm.Board" in data[0], data
    typ, data = a.subscribe("shared.firm.Board")
    assert typ == "NO" and b"shared.firm.Board is not available" in data[0], data
    a.logout()
    log = server.log_text()
    assert re.search(r"shared folder shared\.firm\.Board is not available: .*/\.Board/cur: No such file", log), log


def test_maildirmake_add_del_refuse_bad_input(tmp_path):
    mk = tool("maildrop/maildirmake")
    user, share = tmp_path / "Maildir", tmp_path / "share"

    def run(*args):
        return subprocess.run([mk, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run(user).returncode == 0
    assert run("-S", share).returncode == 0
    assert oct(share.stat().st_mode & 0o777) == "0o755"
    plain = tmp_path / "plain"
    assert run(plain).returncode == 0
    cp = run("-s", "read", "-f", "News", plain)  # works, but says the maildir is not sharable
    assert cp.returncode == 0 and "not a sharable maildir" in cp.stderr and "maildirmake -S" in cp.stderr
    cases = [
        (("--add", f"a.b={share}", user), 64, "invalid name"),
        (("--add", "firm", user), 64, "NICK=/path"),
        (("--add", f"firm={tmp_path / 'nothing'}", user), 66, "No such file"),
        (("--add", f"firm={tmp_path}", user), 66, "not a maildir"),
        (("--add", f"firm={share}", tmp_path / "nomaildir"), 66, "not a maildir"),
        (("--del", "firm", user), 66, "does not list"),
    ]
    for args, rc, text in cases:
        cp = run(*args)
        assert cp.returncode == rc and text in cp.stderr, (args, cp.returncode, cp.stderr)
    assert not (user / "shared-maildirs").exists()  # nothing written by a refused command
    assert run("--add", f"firm={share}", user).returncode == 0
    cp = run("--add", f"firm={share}", user)
    assert cp.returncode == 73 and "already lists" in cp.stderr
    # Hand-edited lines the tool cannot keep are named, and dropped on rewrite.
    with open(user / "shared-maildirs", "a") as f:
        f.write("bad.nick /x\n")
    assert run("--add", f"tech={share}", user).returncode == 0
    assert (user / "shared-maildirs").read_text() == f"firm\t{share}\ntech\t{share}\n"
    assert run("--del", "firm", user).returncode == 0
    assert (user / "shared-maildirs").read_text() == f"tech\t{share}\n"


def test_copy_and_move_into_shared_folder(shared_site):
    server, alice, bob, share = shared_site
    a = server.login(alice)
    assert a.append("INBOX", None, None, message("filed by alice").replace(b"\n", b"\r\n"))[0] == "OK"
    assert a.append("INBOX", None, None, message("moved by alice").replace(b"\n", b"\r\n"))[0] == "OK"
    a.select("INBOX")
    typ, data = a.copy("1", "shared.firm.Board")
    assert typ == "OK", data
    typ, data = a._simple_command("MOVE", "2", "shared.firm.Board")
    assert typ == "OK", data
    assert a.select("INBOX")[1] == [b"1"]  # the moved one left INBOX
    # Into the read-only folder: refused, nothing stored.
    typ, data = a.copy("1", "shared.firm.Announce")
    assert typ == "NO" and b"[NOPERM]" in data[0], data
    assert len(list((share / ".Announce" / "new").iterdir())) == 1
    a.logout()
    b = server.login(bob)
    typ, data = b.select("shared.firm.Board")
    assert data == [b"3"], data
    subjects = b"".join(x[1] for x in b.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1] if isinstance(x, tuple))
    assert b"filed by alice" in subjects and b"moved by alice" in subjects
    assert b"\\Seen" not in b"".join(b.fetch("1:*", "(FLAGS)")[1])
    # MOVE out of the shared folder: a real file in bob's INBOX (never a link
    # into the sharable folder), and the message leaves the sharable folder.
    typ, data = b.search(None, "SUBJECT", '"moved by alice"')
    typ, data = b._simple_command("MOVE", data[0].split()[0], "INBOX")
    assert typ == "OK", data
    assert len(list((share / ".Board" / "cur").iterdir())) == 2
    files = [f for d in ("new", "cur") for f in (bob.maildir / d).iterdir()]
    assert len(files) == 1 and not files[0].is_symlink() and b"moved by alice" in files[0].read_bytes()
    assert b.select("INBOX")[1] == [b"1"]
    b.logout()


def test_idle_in_shared_folder_hears_delivery(shared_site):
    server, alice, _, share = shared_site
    c = server.raw()
    c.line()  # greeting
    c.send(f'a LOGIN "{alice.address}" "{alice.password}"\r\n')
    assert c.until_tag("a")[-1].startswith(b"a OK")
    c.send("b SELECT shared.firm.Board\r\n")
    assert b"* 1 EXISTS" in c.until_tag("b")
    c.send("c IDLE\r\n")
    assert c.line().startswith(b"+")
    as_account([tool("maildrop/deliverquota"), share / ".Board"], stdin=message("while idling"))
    assert c.line() == b"* 2 EXISTS"  # from the inotify watch on the sharable folder
    c.send("DONE\r\n")
    assert c.until_tag("c")[-1].startswith(b"c OK")
