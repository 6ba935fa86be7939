"""STATUS=SIZE (RFC 8438) through imaplogin + imapd with Python's imaplib:
the SIZE of a folder equals the sum of its messages' RFC822.SIZE, for a
folder not selected, the selected one, messages delivered without ",W=" in
their name (LF line ends), and after an EXPUNGE."""
from __future__ import annotations

import re

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)
from imap_support import deliver, message


def status_size(m, box: str) -> int:
    typ, data = m.status(box, "(MESSAGES SIZE)")
    assert typ == "OK", data
    return int(re.search(rb"SIZE (\d+)", data[0]).group(1))


def fetched_sizes(m, box: str) -> int:
    assert m.select(box)[0] == "OK"
    typ, data = m.fetch("1:*", "(RFC822.SIZE)")
    total = sum(int(re.search(rb"RFC822.SIZE (\d+)", l).group(1)) for l in data)
    return total


def test_status_size(imap, alice):
    # Two deliveries with LF line ends and no ",W=": imapd counts the CRLF size.
    deliver(alice.maildir, "1700000001.M1P1.test", message("one", "line\n" * 50), alice.uid, alice.gid)
    deliver(alice.maildir, "1700000002.M1P1.test", message("two", "x" * 3000 + "\n"), alice.uid, alice.gid)
    m = imap.login(alice)
    assert b"STATUS=SIZE" in m.capability()[1][0].split()
    assert m.create("INBOX.Other")[0] == "OK"
    assert m.append("INBOX.Other", None, None, b"Subject: hi\r\n\r\nbody\r\n")[0] == "OK"
    assert status_size(m, "INBOX.Other") == len(b"Subject: hi\r\n\r\nbody\r\n")
    assert status_size(m, "INBOX") == fetched_sizes(m, "INBOX")   # not selected: counted in the files
    inbox = status_size(m, "INBOX")                                # selected now: the session's view
    assert inbox == fetched_sizes(m, "INBOX") > 3000 + 50 * 6
    assert m.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    assert m.expunge()[0] == "OK"
    assert status_size(m, "INBOX") == fetched_sizes(m, "INBOX") < inbox
    assert m.create("INBOX.Empty")[0] == "OK"
    assert status_size(m, "INBOX.Empty") == 0
    typ, data = m.status("INBOX.Nope", "(SIZE)")
    assert typ == "NO"
    m.logout()
