"""Migration from Courier-IMAP: a Maildir made and used by Debian's
courier-imap (its imapd run directly on a pipe, as imaplogin would exec it)
is opened by ours: same UIDVALIDITY, same UIDs, flags, keywords (including
Courier's pending keyword updates) and subscriptions; and back again.

Courier's programs come from bench/imap/anchors.sh (apt-get download +
dpkg -x, nothing installed); the test is skipped when they are not there."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from imap_support import ImapServer, deliver, message

ROOT = Path(os.environ.get("COURIER_IMAP_ROOT", "/var/tmp/courier-suite-anchors/courier"))
COURIER_IMAPD = ROOT / "usr" / "bin" / "imapd"

pytestmark = pytest.mark.skipif(not COURIER_IMAPD.exists(),
                                reason=f"{COURIER_IMAPD} missing: run bench/imap/anchors.sh (or set COURIER_IMAP_ROOT)")


def courier(account, script: str) -> str:
    """Runs Courier's imapd as the account on a pipe; returns its transcript."""
    env = {"LD_LIBRARY_PATH": f"{ROOT}/usr/lib:{ROOT}/usr/lib/x86_64-linux-gnu", "AUTHENTICATED": account.address,
           "HOME": str(account.home), "MAILDIR": str(account.maildir), "TCPREMOTEIP": "127.0.0.1",
           "IMAP_KEYWORDS": "1", "PATH": "/usr/bin:/bin"}
    kwargs = {}
    if os.geteuid() == 0:
        kwargs = dict(user=account.uid, group=account.gid, extra_groups=[])
    cp = subprocess.run([str(COURIER_IMAPD), "Maildir"], input=script.replace("\n", "\r\n").encode(), env=env,
                        cwd=account.home, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60, **kwargs)
    return cp.stdout.decode(errors="replace")


def test_courier_maildir_keeps_uids_flags_keywords(mail_system):
    alice = mail_system.add_account("alice@example.test", "alice-pw")
    for i in range(5):
        deliver(alice.maildir, f"16000000{i:02d}.M1P1.courier,S=100", message(f"c{i}"), alice.uid, alice.gid)
    t = courier(alice, "a SELECT INBOX\n"
                       "b STORE 2 +FLAGS (\\Seen $Work)\n"
                       "c STORE 3 +FLAGS (\\Flagged Later)\n"
                       "d STORE 1 +FLAGS (\\Deleted)\n"
                       "e EXPUNGE\n"
                       "f CREATE INBOX.Projects\n"
                       "g SUBSCRIBE INBOX.Projects\n"
                       "h UID FETCH 1:* (FLAGS)\n"
                       "z LOGOUT\n")
    assert "e OK" in t and "h OK" in t, t
    uidvalidity = re.search(r"UIDVALIDITY (\d+)", t).group(1)
    courier_view = dict(re.findall(r"UID (\d+) FLAGS \(([^)]*)\)", t))
    assert set(courier_view) == {"2", "3", "4", "5"}
    assert (alice.maildir / "courierimapuiddb").exists()

    server = ImapServer(mail_system)
    try:
        m = server.login(alice)
        typ, data = m.select("INBOX")
        assert data == [b"4"]
        assert m.untagged_responses["UIDVALIDITY"] == [uidvalidity.encode()]
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        ours = {re.search(rb"UID (\d+)", d).group(1).decode(): d for d in data}
        assert set(ours) == set(courier_view)
        assert b"$Work" in ours["2"] and b"\\Seen" in ours["2"]
        assert b"Later" in ours["3"] and b"\\Flagged" in ours["3"]
        typ, data = m.uid("FETCH", "4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"c3" in data[0][1]
        typ, data = m.lsub('""', "*")
        assert data == [b'() "." INBOX.Projects']
        # Our changes, seen by Courier afterwards.
        m.uid("STORE", "4", "+FLAGS", "(Ours)")
        typ, data = m.append("INBOX", "(\\Seen)", None, b"Subject: ours\r\n\r\nx\r\n")
        new_uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
        assert int(new_uid) == 6
        m.logout()
    finally:
        server.stop()
    t = courier(alice, "a SELECT INBOX\nb UID FETCH 1:* (FLAGS)\nz LOGOUT\n")
    assert f"UIDVALIDITY {uidvalidity}" in t
    view = dict(re.findall(r"UID (\d+) FLAGS \(([^)]*)\)", t))
    assert set(view) == {"2", "3", "4", "5", new_uid}
    assert "Ours" in view["4"] and "$Work" in view["2"]
