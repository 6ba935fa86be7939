"""mbsync (isync) against imapd: a mailbox synchronised both ways, with new
messages, flag changes and deletions on either side, and a second folder."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imap_support import ImapServer, deliver, message

MBSYNC = shutil.which("mbsync")
pytestmark = pytest.mark.skipif(not MBSYNC, reason="mbsync not installed (apt-get install -y isync)")


def sync(config: Path, home: Path) -> str:
    cp = subprocess.run([MBSYNC, "-c", str(config), "-a"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, timeout=120, env=dict(os.environ, HOME=str(home)))
    assert cp.returncode == 0, cp.stdout
    return cp.stdout


def local_files(d: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (d / sub).iterdir())


def test_mbsync_both_ways(mail_system, tmp_path):
    alice = mail_system.add_account("alice@example.test", "alice-pw")
    for i in range(3):
        deliver(alice.maildir, f"1700002{i:03d}.M1P1.test,S=100", message(f"server {i}"), alice.uid, alice.gid)
    server = ImapServer(mail_system)
    try:
        local = tmp_path / "local"
        local.mkdir()
        config = tmp_path / "mbsyncrc"
        config.write_text(f"""
IMAPAccount test
Host 127.0.0.1
Port {server.port}
User {alice.address}
Pass {alice.password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
""")
        sync(config, tmp_path)
        assert len(local_files(local / "INBOX")) == 3
        # Local changes: a new message, a flag, a new folder with a message.
        first = next(p for p in local_files(local / "INBOX") if "Subject: server 0" in p.read_text())
        newmsg = local / "INBOX" / "new" / "1700009999.local.x"
        newmsg.write_text(message("from local"))
        os.rename(first, first.parent.parent / "cur" / (first.name.split(":")[0] + ":2,F"))
        (local / "Lists" / "cur").mkdir(parents=True)
        (local / "Lists" / "new").mkdir()
        (local / "Lists" / "tmp").mkdir()
        (local / "Lists" / "new" / "1700009998.local.y").write_text(message("list mail"))
        sync(config, tmp_path)
        m = server.login(alice)
        typ, data = m.select("INBOX")
        assert data == [b"4"]
        typ, data = m.search(None, "FLAGGED")
        assert data == [b"1"]
        typ, data = m.search(None, "SUBJECT", '"from local"')
        assert data == [b"4"]
        typ, data = m.select("INBOX.Lists")
        assert typ == "OK" and data == [b"1"], data
        # Server-side changes: delete one, flag another, deliver a new one.
        m.select("INBOX")
        m.store("2", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.store("1", "+FLAGS", "(\\Seen)")
        m.logout()
        deliver(alice.maildir, "1700003000.M1P1.test,S=100", message("server late"), alice.uid, alice.gid)
        sync(config, tmp_path)
        files = local_files(local / "INBOX")
        assert len(files) == 4
        texts = [p.read_text() for p in files]
        assert any("server late" in t for t in texts)
        assert not any("Subject: server 1" in t for t in texts)
        flagged = [p for p in files if ":2," in p.name and "F" in p.name.split(":2,")[1]]
        assert len(flagged) == 1 and "S" in flagged[0].name.split(":2,")[1]
        # Nothing left to do: a second run changes nothing.
        before = sorted(os.listdir(alice.maildir / "cur"))
        sync(config, tmp_path)
        assert sorted(os.listdir(alice.maildir / "cur")) == before
    finally:
        server.stop()
