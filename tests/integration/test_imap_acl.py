"""ACL (RFC 4314, Courier's courierimapacl, ACL2=UNION) and the virtual shared
folders "#shared.<account>.<folder>" through imaplogin + imapd with Python's
imaplib: two accounts (alice shares, bob and carol use), the shared index file,
grants, revokes, negative rights, NO [NOPERM] for each right, MYRIGHTS,
LISTRIGHTS, a corrupt courierimapacl file, an unreadable shared maildir, and
the maildiracl tool on the same files."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from imap_support import ImapServer, deliver, message
from suite import tool

PROJECT = "#shared.alice.Project"


def chown_tree(path: Path, account) -> None:
    if os.geteuid() != 0:
        return
    for p in [path, *path.rglob("*")]:
        os.chown(p, account.uid, account.gid)


@pytest.fixture
def site(mail_system):
    alice = mail_system.add_account("alice", "alice-pw")
    bob = mail_system.add_account("bob", "bob-pw", options="group=team")
    carol = mail_system.add_account("carol", "carol-pw")
    shared = Path(mail_system.root) / "shared"
    shared.mkdir(exist_ok=True)
    os.chmod(shared, 0o755)
    index = shared / "index"
    index.write_text("".join(f"{a.address}\t{a.uid}\t{a.gid}\t{a.home}\t\n" for a in (alice, bob, carol)))
    os.chmod(index, 0o644)
    server = ImapServer(mail_system, IMAP_ACL="1", IMAP_SHAREDINDEXFILE=str(index))
    m = server.login(alice)
    assert m.create("INBOX.Project")[0] == "OK"
    assert m.append("INBOX.Project", None, None, message("plan").encode())[0] == "OK"
    m.logout()
    yield server, alice, bob, carol
    server.stop()


def grant(server, alice, who: str, rights: str, folder: str = "INBOX.Project") -> None:
    m = server.login(alice)
    typ, data = m.setacl(folder, who, rights)
    assert typ == "OK", data
    m.logout()


def listrights(m, mailbox: str, identifier: str):
    """LISTRIGHTS (RFC 4314 3.4), which imaplib lacks: through its xatom."""
    typ, data = m.xatom("LISTRIGHTS", mailbox, identifier)
    if typ != "OK":
        return typ, data
    return typ, m.response("LISTRIGHTS")[1]


def nope(result) -> bool:
    typ, data = result
    return typ == "NO" and b"[NOPERM]" in data[0]


def test_capability_and_owner_defaults(site):
    server, alice, _, _ = site
    m = server.login(alice)
    caps = m.capability()[1][0].split()
    assert b"ACL" in caps and b"ACL2=UNION" in caps
    assert m.myrights("INBOX") == ("OK", [b"INBOX aceiklrstwx"])
    typ, data = m.getacl("INBOX")
    assert typ == "OK" and data == [b"INBOX owner aceiklrstwx administrators aceiklrstwx"]
    # The owner keeps "l" and "a": taking them away is refused, the ACL unchanged.
    typ, data = m.setacl("INBOX.Project", "owner", "lr")
    assert typ == "NO" and b"owner must keep the l and a rights" in data[0]
    assert m.myrights("INBOX.Project")[1] == [b"INBOX.Project aceiklrstwx"]
    typ, data = listrights(m, "INBOX.Project", "owner")
    assert typ == "OK" and data == [b'INBOX.Project owner "la" r s w i kc x t e']
    m.logout()


def test_shared_listing_follows_lookup_right(site):
    server, alice, bob, _ = site
    m = server.login(bob)
    assert m.list('""', "#shared.*") == ("OK", [None])
    assert nope(m.select(PROJECT))
    grant(server, alice, "bob", "lr")
    typ, data = m.list('""', "#shared.*")
    assert typ == "OK"
    assert data == [b'() "." #shared.alice.Project']  # not #shared.alice: no "l" on alice's INBOX
    assert m.list('""', "#%") == ("OK", [b'(\\Noselect \\HasChildren) "." #shared'])
    assert m.myrights(PROJECT) == ("OK", [b"#shared.alice.Project lr"])
    m.logout()


def test_read_only_grant(site):
    server, alice, bob, _ = site
    grant(server, alice, "bob", "lr")
    m = server.login(bob)
    # Without s, w, t, e or i, SELECT opens it read-only (imaplib raises on that).
    with pytest.raises(m.readonly):
        m.select(PROJECT)
    m.is_readonly = True  # what imaplib's select(readonly=True) would have set
    m.logout()
    m = server.login(bob)
    assert m.select(PROJECT, readonly=True) == ("OK", [b"1"])
    typ, data = m.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Subject: plan" in data[0][1]
    m.logout()
    # Read-write (w) but without s: FETCH BODY[] leaves the message unseen.
    grant(server, alice, "bob", "lrw")
    m = server.login(bob)
    assert m.select(PROJECT)[0] == "OK"
    assert m.fetch("1", "(BODY[])")[0] == "OK"
    m.logout()
    a = server.login(alice)
    a.select("INBOX.Project")
    assert b"\\Seen" not in a.fetch("1", "(FLAGS)")[1][0]
    assert a.fetch("1", "(BODY[])")[0] == "OK"  # the owner's read does set it
    assert b"\\Seen" in a.fetch("1", "(FLAGS)")[1][0]
    a.logout()


def test_each_right_is_enforced(site):
    server, alice, bob, _ = site
    m = server.login(bob)

    # r: SELECT and STATUS
    grant(server, alice, "bob", "l")
    assert nope(m.select(PROJECT))
    assert nope(m.status(PROJECT, "(MESSAGES)"))
    # i: APPEND and COPY into the folder
    grant(server, alice, "bob", "lr")
    assert nope(m.append(PROJECT, None, None, message("from bob").encode()))
    grant(server, alice, "bob", "lri")
    assert m.append(PROJECT, None, None, message("from bob").encode())[0] == "OK"
    deliver(bob.maildir, "1.M1.host", message("bob's own"), bob.uid, bob.gid)
    m.select("INBOX")
    assert m.copy("1", PROJECT)[0] == "OK"
    # s, w, t: STORE of \Seen, keywords, \Deleted
    grant(server, alice, "bob", "lrw")
    assert m.select(PROJECT)[0] == "OK"
    assert nope(m.store("1", "+FLAGS", "(\\Seen)"))
    assert m.store("1", "+FLAGS", "($Label1)")[0] == "OK"
    grant(server, alice, "bob", "lrs")
    assert m.select(PROJECT)[0] == "OK"
    assert nope(m.store("1", "+FLAGS", "($Label2)"))
    assert nope(m.store("1", "+FLAGS", "(\\Deleted)"))
    assert m.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    # e: EXPUNGE
    grant(server, alice, "bob", "lrst")
    assert m.select(PROJECT)[0] == "OK"
    assert m.store("3", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert nope(m.expunge())
    grant(server, alice, "bob", "lrste")
    assert m.select(PROJECT)[0] == "OK"
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"3"]
    m.unselect()
    # k: CREATE below the folder; x: DELETE it
    assert nope(m.create(PROJECT + ".Sub"))
    grant(server, alice, "bob", "lrk")
    assert m.create(PROJECT + ".Sub")[0] == "OK"
    assert (alice.maildir / ".Project.Sub" / "cur").is_dir()
    grant(server, alice, "bob", "lr", folder="INBOX.Project.Sub")
    assert nope(m.delete(PROJECT + ".Sub"))
    grant(server, alice, "bob", "lrx", folder="INBOX.Project.Sub")
    # RENAME needs x on the folder and k on the new parent (Project has "lrk").
    assert m.rename(PROJECT + ".Sub", PROJECT + ".Sub2")[0] == "OK"
    assert (alice.maildir / ".Project.Sub2" / "cur").is_dir() and not (alice.maildir / ".Project.Sub").exists()
    typ, data = m.rename(PROJECT + ".Sub2", "INBOX.Mine")
    assert typ == "NO" and b"another account" in data[0]
    assert m.delete(PROJECT + ".Sub2")[0] == "OK"
    # a: GETACL, SETACL, LISTRIGHTS
    assert nope(m.getacl(PROJECT))
    assert nope(m.setacl(PROJECT, "bob", "lrswi"))
    assert nope(listrights(m, PROJECT, "bob"))
    grant(server, alice, "bob", "lra")
    typ, data = m.getacl(PROJECT)
    assert typ == "OK" and b"user=bob alr" in data[0]
    assert m.setacl(PROJECT, "carol", "lr")[0] == "OK"
    m.logout()
    c = server.login(carol_of(site))
    assert c.myrights(PROJECT) == ("OK", [b"#shared.alice.Project lr"])
    c.logout()


def carol_of(site):
    return site[3]


def test_negative_rights_and_groups(site):
    server, alice, bob, carol = site
    grant(server, alice, "anyone", "lr")
    grant(server, alice, "-bob", "r")
    b = server.login(bob)
    c = server.login(carol)
    assert nope(b.select(PROJECT))
    assert b.myrights(PROJECT) == ("OK", [b"#shared.alice.Project l"])
    assert c.select(PROJECT, readonly=True)[0] == "OK"
    # bob is in group=team: the group's rights add up, the negative entry still wins.
    grant(server, alice, "group=team", "lrsw")
    assert b.myrights(PROJECT) == ("OK", [b"#shared.alice.Project lsw"])
    a = server.login(alice)
    assert a.deleteacl("INBOX.Project", "-bob")[0] == "OK"
    assert b.myrights(PROJECT) == ("OK", [b"#shared.alice.Project lrsw"])
    assert b.select(PROJECT)[0] == "OK"
    # Revoking: DELETEACL takes bob's access away at the next command.
    assert a.deleteacl("INBOX.Project", "group=team")[0] == "OK"
    assert a.deleteacl("INBOX.Project", "anyone")[0] == "OK"
    assert nope(b.select(PROJECT))
    assert b.list('""', "#shared.*") == ("OK", [None])
    for m in (a, b, c):
        m.logout()


def test_corrupt_acl_file_is_logged_and_defaults_apply(site):
    server, alice, bob, _ = site
    acl = alice.maildir / ".Project" / "courierimapacl"
    acl.write_bytes(b"\x00\x01garbage \xff\xfe\nowner q!\n")
    chown_tree(acl, alice)
    m = server.login(alice)
    assert m.select("INBOX.Project")[0] == "OK"
    assert m.myrights("INBOX.Project")[1] == [b"INBOX.Project aceiklrstwx"]
    m.logout()
    b = server.login(bob)
    assert nope(b.select(PROJECT))
    b.logout()
    log = server.log_text()
    assert f"ACL file {acl}: line 1: no usable identifier" in log, log
    assert f"ACL file {acl} has no usable entry: using the inherited or default ACL" in log, log


def test_unreadable_shared_maildir(site):
    server, alice, bob, _ = site
    grant(server, alice, "bob", "lr")
    folder = alice.maildir / ".Project"
    if os.geteuid() == 0 and alice.uid == 0:
        pytest.skip("imapd runs as root here: no file is unreadable to it")
    os.chmod(folder, 0)
    try:
        m = server.login(bob)
        typ, data = m.select(PROJECT)
        assert typ == "NO" and b"Cannot open #shared.alice.Project" in data[0], data
        m.logout()
    finally:
        os.chmod(folder, 0o700)
    log = server.log_text()
    assert f"shared folder #shared.alice.Project: {folder}: Permission denied" in log, log


def test_acl_off_without_imap_acl(mail_system):
    alice = mail_system.add_account("alice", "alice-pw")
    server = ImapServer(mail_system, name="imap-noacl")
    try:
        m = server.login(alice)
        assert b"ACL" not in m.capability()[1][0].split()
        with pytest.raises(m.error, match="IMAP_ACL=1"):
            m.myrights("INBOX")
        assert m.select("#shared.alice")[0] == "NO"
        m.logout()
    finally:
        server.stop()


def test_maildiracl_tool(site):
    server, alice, bob, _ = site
    maildiracl = tool("imapd/maildiracl")
    md = str(alice.maildir)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([maildiracl, *args], capture_output=True, text=True)

    assert run("-set", md, "INBOX.Project", "user=bob", "lrs").returncode == 0
    assert run("-set", md, "INBOX.Project", "user=bob", "+i").returncode == 0
    assert run("-set", md, "INBOX.Project", "-group=team", "s").returncode == 0
    out = run("-list", md, "INBOX.Project").stdout
    assert "user=bob ilrs\n" in out and "-group=team s\n" in out
    assert run("-compute", md, "INBOX.Project", "user=bob", "group=team").stdout == "ilr\n"
    refused = run("-set", md, "INBOX.Project", "owner", "r")
    assert refused.returncode == 1 and "owner must keep the l and a rights" in refused.stderr
    assert run("-delete", md, "INBOX.Project", "-group=team").returncode == 0
    chown_tree(alice.maildir / ".Project", alice)
    # imapd reads what the tool wrote.
    m = server.login(bob)
    assert m.myrights(PROJECT) == ("OK", [b"#shared.alice.Project ilrs"])
    m.logout()
    usage = run("--help")
    assert usage.returncode == 0 and "-compute" in usage.stdout
    bad = run("-list", md, "Project")
    assert bad.returncode == 1 and "write INBOX or INBOX.name" in bad.stderr


def test_index_from_authenumerate_and_sharedindexinstall(mail_system):
    alice = mail_system.add_account("alice", "alice-pw")
    bob = mail_system.add_account("bob", "bob-pw")
    mail_system.add_account("dave", "dave-pw", options="disableshared")
    etc = Path(mail_system.root) / "etc-shared"
    (etc / "shared.tmp").mkdir(parents=True)
    os.chmod(etc, 0o755)
    listed = subprocess.run([tool("authlib/authenumerate"), "-S", str(mail_system.socket), "-s"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    (etc / "shared.tmp" / "index").write_text(listed.stdout)
    install = tool("imapd/rc/sharedindexinstall")
    env = dict(os.environ, SHAREDINDEX_SYSCONFDIR=str(etc))
    done = subprocess.run([install], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    index = (etc / "shared" / "index").read_text()
    names = [line.split("\t")[0] for line in index.splitlines()]
    assert "alice" in names and "bob" in names and "dave" not in names, index  # disableshared: left out
    assert not (etc / "shared.tmp").exists()
    again = subprocess.run([install], capture_output=True, text=True, env=env)
    assert again.returncode == 1 and "does not exist" in again.stderr
    server = ImapServer(mail_system, name="imap-index", IMAP_ACL="1",
                        IMAP_SHAREDINDEXFILE=str(etc / "shared" / "index"))
    try:
        a = server.login(alice)
        assert a.setacl("INBOX", "bob", "lr")[0] == "OK"
        a.logout()
        b = server.login(bob)
        typ, data = b.list('""', "#shared.%")
        assert typ == "OK" and any(line.endswith(b"#shared.alice") for line in data if line), data
        assert b.myrights("#shared.alice") == ("OK", [b"#shared.alice lr"])
        b.logout()
    finally:
        server.stop()


def test_account_options_pick_index_groups_and_admins(mail_system):
    alice = mail_system.add_account("alice", "alice-pw")
    bob = mail_system.add_account("bob", "bob-pw")
    eng = mail_system.add_account("eng1", "eng1-pw", options="sharedgroup=eng")
    admin = mail_system.add_account("root1", "root1-pw", options="group=administrators")
    loner = mail_system.add_account("loner", "loner-pw", options="disableshared")
    shared = Path(mail_system.root) / "shared-opts"
    shared.mkdir()
    os.chmod(shared, 0o755)
    line = lambda a: f"{a.address}\t{a.uid}\t{a.gid}\t{a.home}\t\n"  # noqa: E731
    (shared / "index").write_text(line(alice))
    (shared / "indexeng").write_text(line(bob))  # sharedgroup=eng reads index + "eng"
    for f in ("index", "indexeng"):
        os.chmod(shared / f, 0o644)
    server = ImapServer(mail_system, name="imap-opts", IMAP_ACL="1", IMAP_SHAREDINDEXFILE=str(shared / "index"))
    try:
        for owner in (alice, bob):
            m = server.login(owner)
            assert m.setacl("INBOX", "anyone", "lr")[0] == "OK"
            m.logout()
        e = server.login(eng)
        assert e.list('""', "#shared.%") == ("OK", [b'() "." #shared.bob'])  # indexeng, not index
        assert e.select("#shared.alice")[0] == "NO"
        e.logout()
        r = server.login(admin)
        # administrators have every right, whatever the ACL says.
        assert r.myrights("#shared.alice") == ("OK", [b"#shared.alice aceiklrstwx"])
        assert r.status("#shared.alice", "(MESSAGES)") == ("OK", [b"#shared.alice (MESSAGES 0)"])
        assert r.append("#shared.alice", None, None, message("from admin").encode())[0] == "OK"
        assert r.status("#shared.alice", "(MESSAGES)") == ("OK", [b"#shared.alice (MESSAGES 1)"])
        r.logout()
        n = server.login(loner)
        assert n.list('""', "#shared.*") == ("OK", [None])  # disableshared: no #shared at all
        typ, data = n.select("#shared.alice")
        assert typ == "NO" and b"NONEXISTENT" in data[0]
        n.logout()
    finally:
        server.stop()


def test_list_extended_shows_shared(site):
    server, alice, bob, _ = site
    grant(server, alice, "bob", "lr")
    m = server.login(bob)
    typ, data = m.list('""', '("#shared.*" "#shared.alice.*" "INBOX")')
    assert typ == "OK"
    assert data.count(b'() "." #shared.alice.Project') == 1, data
    assert any(line.endswith(b"INBOX") for line in data), data
    m.logout()
