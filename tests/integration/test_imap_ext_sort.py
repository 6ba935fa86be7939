"""SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267) through
imaplogin + imapd with Python's imaplib against a real authdaemond account:
each sort key, REVERSE, ties, UID SORT, search criteria, ESORT's RETURN
options and the errors."""
from __future__ import annotations

import imaplib
import re
from datetime import datetime, timezone

import pytest

from imap_ext_fixtures import alice, filled_box, imap, logged_in_raw  # noqa: F401 (fixtures)


# (From, To, Cc, Subject, Date, body size, INTERNALDATE day)
MESSAGES = [
    ('"Zoe" <carl@example.org>', "dave@x", "", "Re: Lunch", "Mon, 3 Jan 2022 10:00:00 +0000", 1000, 5),
    ("<bert@example.org>", "Anna <erin@x>", "frank@x", "[list] lunch (fwd)", "Sun, 2 Jan 2022 10:00:00 +0000", 100, 4),
    ("=?utf-8?q?Andr=C3=A9?= <anne@example.org>", "beth@x", "gus@x", "Budget", "garbage", 500, 3),
    ("Yves <abe@example.org>", "", "ed@x", "Fwd: [fwd: budget]", "Mon, 3 Jan 2022 09:00:00 -0200", 300, 1),
]


def fill(m) -> None:
    for frm, to, cc, subject, date, size, day in MESSAGES:
        text = f"From: {frm}\r\nTo: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "") + \
            f"Subject: {subject}\r\nDate: {date}\r\n\r\n" + "x" * size + "\r\n"
        when = datetime(2022, 1, day, 12, 0, 0, tzinfo=timezone.utc)
        assert m.append("INBOX", None, imaplib.Time2Internaldate(when), text.encode())[0] == "OK"


def sort(m, criteria: str, *search: str, uid: bool = False) -> list[int]:
    typ, data = (m.uid("SORT", criteria, "UTF-8", *search) if uid
                 else m.sort(criteria, "UTF-8", *(search or ("ALL",))))
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


@pytest.fixture
def box(filled_box):
    return filled_box


def test_capabilities_announced(box):
    caps = box.capability()[1][0].split()
    for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT"):
        assert cap in caps


def test_each_key(box):
    assert sort(box, "(ARRIVAL)") == [4, 3, 2, 1]
    assert sort(box, "(SIZE)") == [2, 4, 3, 1]
    assert sort(box, "(REVERSE SIZE)") == [1, 3, 4, 2]
    # Date in UTC: 1 is 10:00Z, 4 is 11:00Z on Jan 3; 3 has no valid Date: its
    # INTERNALDATE (Jan 3, 12:00Z) is used.
    assert sort(box, "(DATE)") == [2, 1, 4, 3]
    assert sort(box, "(REVERSE DATE)") == [3, 4, 1, 2]
    assert sort(box, "(FROM)") == [4, 3, 2, 1]          # abe anne bert carl
    assert sort(box, "(TO)") == [4, 3, 1, 2]            # "" beth dave erin
    assert sort(box, "(CC)") == [1, 4, 2, 3]            # "" ed frank gus
    # base subjects: Lunch, lunch, Budget, budget (compared case-insensitively):
    # ties in mailbox order, REVERSE or not, unless a further key decides
    assert sort(box, "(SUBJECT)") == [3, 4, 1, 2]
    assert sort(box, "(REVERSE SUBJECT)") == [1, 2, 3, 4]
    assert sort(box, "(SUBJECT ARRIVAL)") == [4, 3, 2, 1]


def test_display_keys(box):
    # display names: Zoe, (none: bert@example.org), André, Yves
    assert sort(box, "(DISPLAYFROM)") == [3, 2, 4, 1]
    # To: dave@x (no name), Anna, beth@x, "" -> "", ANNA, BETH@X, DAVE@X
    assert sort(box, "(DISPLAYTO)") == [4, 2, 3, 1]
    assert sort(box, "(REVERSE DISPLAYTO)") == [1, 3, 2, 4]


def test_search_criteria_and_uid_sort(box):
    assert sort(box, "(REVERSE SIZE)", "SMALLER", "800") == [3, 4, 2]
    assert sort(box, "(SIZE)", "LARGER", "800") == [1]
    uids = {}
    typ, data = box.fetch("1:*", "(UID)")
    for line in data:
        seq, uid = re.match(rb"(\d+) \(UID (\d+)\)", line).groups()
        uids[int(seq)] = int(uid)
    assert sort(box, "(FROM)", "ALL", uid=True) == [uids[4], uids[3], uids[2], uids[1]]
    assert sort(box, "(FROM)", "SUBJECT", "budget", uid=True) == [uids[4], uids[3]]
    assert sort(box, "(FROM)", "SUBJECT", "nothing-like-this") == []


def test_esort_return_options(imap, alice):
    m = imap.login(alice)
    fill(m)
    m.logout()
    c = logged_in_raw(imap, alice)
    assert c.command("b", "SELECT INBOX")[-1].startswith(b"b OK")
    r = c.command("c", "SORT RETURN (MIN MAX COUNT ALL) (FROM) UTF-8 ALL")
    assert r[0] == b'* ESEARCH (TAG "c") MIN 4 MAX 1 ALL 4,3,2,1 COUNT 4'
    assert r[-1].startswith(b"c OK")
    r = c.command("d", "SORT RETURN () (ARRIVAL) UTF-8 ALL")
    assert r[0] == b'* ESEARCH (TAG "d") ALL 4,3,2,1'
    r = c.command("e", "UID SORT RETURN (COUNT) (SIZE) UTF-8 1:2")
    assert r[0] == b'* ESEARCH (TAG "e") UID COUNT 2'
    r = c.command("f", "SORT RETURN (MIN) (SIZE) UTF-8 SUBJECT nothing-like-this")
    assert r[0] == b'* ESEARCH (TAG "f")'
    r = c.command("g", "SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL")
    assert r[0] == b'* ESEARCH (TAG "g") ALL 1:4'


def test_errors(imap, alice):
    c = logged_in_raw(imap, alice)
    assert c.command("b", "SORT (DATE) UTF-8 ALL")[-1].startswith(b"b BAD")  # nothing selected
    assert c.command("c", "SELECT INBOX")[-1].startswith(b"c OK")
    assert c.command("d", "SORT (NOSUCHKEY) UTF-8 ALL")[-1].startswith(b"d BAD")
    assert c.command("e", "SORT DATE UTF-8 ALL")[-1].startswith(b"e BAD")
    assert c.command("f", "SORT (DATE REVERSE) UTF-8 ALL")[-1].startswith(b"f BAD")
    assert c.command("g", "SORT (DATE) UTF-8")[-1].startswith(b"g BAD")
    assert c.command("h", "SORT (DATE) X-UNKNOWN ALL")[-1].startswith(b"h NO [BADCHARSET")
    assert c.command("i", "NOOP")[-1].startswith(b"i OK")
