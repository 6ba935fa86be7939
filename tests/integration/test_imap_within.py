"""WITHIN (RFC 5032) through imaplogin + imapd with imaplib: SEARCH OLDER and
YOUNGER on INTERNALDATE (the APPEND date), combined with other keys, in UID
SEARCH and ESEARCH, and BAD for a missing or zero interval."""
from __future__ import annotations

import imaplib
import time

from imap_ext_fixtures import alice, imap  # noqa: F401 (fixtures)


def test_older_younger(imap, alice):
    m = imap.login(alice)
    typ, caps = m.capability()
    assert b"WITHIN" in caps[0].split()
    now = time.time()
    for subject, age in (("week", 7 * 86400), ("hour", 3600), ("fresh", 0)):
        date = imaplib.Time2Internaldate(now - age)
        assert m.append("INBOX", "(\\Seen)" if subject == "hour" else None, date,
                        f"Subject: {subject}\r\n\r\nx\r\n".encode())[0] == "OK"
    m.select("INBOX")
    assert m.search(None, "OLDER", "86400") == ("OK", [b"1"])
    assert m.search(None, "YOUNGER", "86400") == ("OK", [b"2 3"])
    assert m.search(None, "YOUNGER", "600") == ("OK", [b"3"])
    assert m.search(None, "OLDER", "600", "SEEN") == ("OK", [b"2"])
    assert m.search(None, "OR", "OLDER", "86400", "YOUNGER", "600") == ("OK", [b"1 3"])
    assert m.uid("SEARCH", "YOUNGER", "86400")[1] == [b"2 3"]
    typ, _ = m._simple_command("SEARCH", "RETURN", "(COUNT)", "OLDER", "1000")
    assert typ == "OK"
    assert m.untagged_responses.pop("ESEARCH")[0].endswith(b"COUNT 2")
    for bad in (("OLDER",), ("OLDER", "0"), ("YOUNGER", "x")):
        try:
            typ, _ = m.search(None, *bad)
        except imaplib.IMAP4.error:
            continue
        raise AssertionError(f"SEARCH {bad} accepted: {typ}")
    m.logout()
