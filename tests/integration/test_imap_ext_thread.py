"""THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256) through imaplogin +
imapd with Python's imaplib against a real authdaemond account: reply
chains by References and In-Reply-To, a missing parent, subject gathering,
UID THREAD, search criteria and the errors."""
from __future__ import annotations

import imaplib
import re
from datetime import datetime, timezone

import pytest

from imap_ext_fixtures import alice, filled_box, imap, logged_in_raw  # noqa: F401 (fixtures)


# (Message-ID, extra header, Subject, day of the month for Date:)
MESSAGES = [
    ("<root@x>", "", "Plans", 1),                                  # 1
    ("<r1@x>", "In-Reply-To: <root@x>\r\n", "Re: Plans", 3),        # 2
    ("<r2@x>", "References: <root@x>\r\n", "Re: Plans", 2),         # 3
    ("<r11@x>", "References: <root@x> <r1@x>\r\n", "Re: Re: Plans", 4),  # 4
    ("<o1@x>", "References: <gone@x>\r\n", "Lunch", 5),              # 5: parent not here
    ("<o2@x>", "References: <gone@x>\r\n", "Re: Lunch", 6),          # 6
    ("<solo@x>", "", "[list] Fwd: plans", 7),                       # 7: gathered by subject
    ("<alone@x>", "", "Something else", 0),                        # 8: earliest
]


def fill(m) -> None:
    for mid, extra, subject, day in MESSAGES:
        date = f"{max(day, 1)} Jan 2022 {10 if day else 9}:00:00 +0000"
        text = (f"From: a@x\r\nMessage-ID: {mid}\r\n{extra}Subject: {subject}\r\n"
                f"Date: {'Sat, 1 Jan 2022 08:00:00 +0000' if day == 0 else date}\r\n\r\nbody\r\n")
        when = datetime(2022, 2, 1, tzinfo=timezone.utc)
        assert m.append("INBOX", None, imaplib.Time2Internaldate(when), text.encode())[0] == "OK"


@pytest.fixture
def box(filled_box):
    return filled_box


def thread(m, algorithm: str, *search: str, uid: bool = False) -> bytes:
    typ, data = (m.uid("THREAD", algorithm, "UTF-8", *(search or ("ALL",))) if uid
                 else m.thread(algorithm, "UTF-8", *(search or ("ALL",))))
    assert typ == "OK", data
    return data[0] or b""


def test_capabilities(box):
    caps = box.capability()[1][0].split()
    assert b"THREAD=ORDEREDSUBJECT" in caps and b"THREAD=REFERENCES" in caps


def test_references(box):
    # 1 has replies 3 (Jan 2) and 2 (Jan 3); 2 has the reply 4; 7 joins the
    # "plans" thread by subject as a forward of 1. 5 and 6 share a missing
    # parent: the dummy is a root with two children.
    assert thread(box, "REFERENCES") == b"(8)(1 (3)(2 4)(7))((5)(6))"


def test_orderedsubject(box):
    # by base subject: LUNCH (5, 6), PLANS (1, 3, 2, 4, 7 by date), SOMETHING ELSE (8)
    assert thread(box, "ORDEREDSUBJECT") == b"(8)(1 (3)(2)(4)(7))(5 6)"


def test_uid_thread_and_search(box):
    typ, data = box.fetch("1:*", "(UID)")
    uids = {int(s): int(u) for s, u in (re.match(rb"(\d+) \(UID (\d+)\)", l).groups() for l in data)}
    assert thread(box, "REFERENCES", "SUBJECT", "lunch", uid=True) == f"(({uids[5]})({uids[6]}))".encode()
    assert thread(box, "REFERENCES", "NOT", "SUBJECT", "plans") == b"(8)((5)(6))"
    assert thread(box, "REFERENCES", "SUBJECT", "nothing-like-this") == b""


def test_errors(imap, alice):
    c = logged_in_raw(imap, alice)
    assert c.command("b", "THREAD REFERENCES UTF-8 ALL")[-1].startswith(b"b BAD")  # nothing selected
    assert c.command("c", "SELECT INBOX")[-1].startswith(b"c OK")
    assert c.command("d", "THREAD NOSUCH UTF-8 ALL")[-1].startswith(b"d BAD")
    assert c.command("e", "THREAD REFERENCES UTF-8")[-1].startswith(b"e BAD")
    assert c.command("f", "THREAD REFERENCES X-UNKNOWN ALL")[-1].startswith(b"f NO [BADCHARSET")
    r = c.command("g", "THREAD REFERENCES UTF-8 ALL")  # empty mailbox: "* THREAD" alone
    assert r[0] == b"* THREAD" and r[-1].startswith(b"g OK")
