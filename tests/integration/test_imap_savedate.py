"""SAVEDATE (RFC 8514) through imaplogin + imapd with imaplib: FETCH SAVEDATE
(when the message was saved into the mailbox: the time its Maildir name
starts with) apart from INTERNALDATE, SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE
and SAVEDATESUPPORTED, and NIL for a file whose name carries no time (the
save-date keys then compare INTERNALDATE)."""
from __future__ import annotations

import imaplib
import os
import re
import time

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)
from imap_support import deliver


def test_savedate(imap, alice):
    m = imap.login(alice)
    assert b"SAVEDATE" in m.capability()[1][0].split()
    before = time.time()
    assert m.append("INBOX", None, '"01-Feb-2001 10:00:00 +0000"', b"Subject: old\r\n\r\nx\r\n")[0] == "OK"
    path = deliver(alice.maildir, "no-time-in-this-name", "Subject: odd\n\ny\n", alice.uid, alice.gid)
    os.utime(path, (981021600, 981021600))  # 1-Feb-2001 10:00 UTC as its INTERNALDATE
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(SAVEDATE INTERNALDATE)")
    assert typ == "OK"
    saved = re.search(rb'SAVEDATE "([^"]+)"', data[0]).group(1)
    assert b"2001" in re.search(rb'INTERNALDATE "([^"]+)"', data[0]).group(1)
    t = time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "' + saved + b'"'))
    assert before - 2 <= t <= time.time() + 2
    assert b"SAVEDATE NIL" in data[1]
    today = time.strftime("%d-%b-%Y", time.localtime())
    assert m.search(None, "SAVEDSINCE", today) == ("OK", [b"1"])
    assert m.search(None, "SINCE", today) == ("OK", [b""])
    assert m.search(None, "SAVEDON", today) == ("OK", [b"1"])
    assert m.search(None, "SAVEDBEFORE", "1-Jan-2002") == ("OK", [b"2"])  # NIL: INTERNALDATE
    assert m.search(None, "SAVEDATESUPPORTED") == ("OK", [b"1"])
    assert m.uid("SEARCH", "NOT", "SAVEDATESUPPORTED")[1] == [b"2"]
    m.logout()
