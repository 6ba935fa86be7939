"""esmtpd end to end: real couriertcpd + esmtpd + authdaemond, real clients
(smtplib, swaks, raw sockets for what clients will not send)."""
from __future__ import annotations

import grp
import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from esmtp_support import Esmtpd, RawClient, unprivileged, wait_for
from suite import tool

ALIASES = """\
staff: demo@example.test, postmaster
john@example.com: john1
@virtual.example: demo
loop1: loop2
"""


@pytest.fixture
def mail(mail_system):
    # esmtpd runs as nobody: let its group reach authdaemond's socket.
    mail_system.stop()
    with open(mail_system.rc, "a") as f:
        f.write("authdaemongroup=%s\n" % grp.getgrgid(unprivileged()[1]).gr_name)
    mail_system.start()
    mail_system.add_account("demo@example.test", "secret")
    mail_system.add_account("john1", "secret")
    return mail_system


@pytest.fixture
def smtpd(mail, public_tmp):
    servers = []

    def start(**kw):
        s = Esmtpd(Path(public_tmp) / f"esmtpd{len(servers)}", mail, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
        print(f"--- {s.log}:\n{s.log_text()[-4000:]}")  # shown when the test fails


def send(port: int, sender: str, rcpts: list[str], body: bytes) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
        c.ehlo("client.example")
        return c.sendmail(sender, rcpts, body)


MSG = b"From: a@remote.example\r\nTo: demo@example.test\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\n"


def test_accepts_into_queue_durably(smtpd):
    s = smtpd()
    assert send(s.port, "a@remote.example", ["demo@example.test"], MSG) == {}
    msgs = s.messages()
    assert len(msgs) == 1
    ctl = s.control(msgs[0])
    assert "S a@remote.example\n" in ctl
    assert "R demo@example.test\t\t\n" in ctl
    assert "P ESMTP\n" in ctl
    data = s.data(msgs[0])
    assert data.startswith(b"Received: from client.example (unknown [127.0.0.1])\n")
    assert b"\nhello\n.dot line\n" in data, data
    assert b"\r" not in data
    assert f"Z {len(data)}\n" in ctl
    assert not list((s.queue / "tmp").iterdir())
    log = s.log_text()
    assert f"accepted {msgs[0]}: size={len(data)} from=<a@remote.example> rcpts=1" in log
    assert "courierd is not running" in log


def test_ehlo_extensions(smtpd):
    s = smtpd()
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        code, text = c.ehlo("client.example")
        assert code == 250
        for ext in ("PIPELINING", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING",
                    "SIZE 10485760"):
            assert ext.encode() in text
        assert b"VRFY" not in text and b"EXPN" not in text


def test_relay_matrix(smtpd, public_tmp):
    # A client without RELAYCLIENT (the access file gives it only to 10.192.64).
    s = smtpd(access="10.192.64\tallow,RELAYCLIENT\n", files={"aliases": ALIASES, "locals": "example.org\n"})
    c = RawClient(s.port)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    expect = {
        "demo@example.test": 250,        # hosted domain alone (trap 8)
        "DEMO@Example.Test": 250,
        "nobody-here@example.test": 550,  # unknown user, refused in session
        "john1@mx.example.net": 250,     # me
        "john1@example.org": 250,        # locals
        "john1-ext@example.org": 250,    # extension of an account
        "john@example.com": 250,         # alias (seed row 13)
        "foo@virtual.example": 250,      # @domain alias (seed row 12)
        "staff@mx.example.net": 250,
        "someone@elsewhere.example": 513,  # relaying denied
        "postmaster@mx.example.net": 250,
    }
    for rcpt, code in expect.items():
        got, text = c.cmd(f"RCPT TO:<{rcpt}>")
        assert got == code, (rcpt, text)
    got, text = c.cmd("RCPT TO:<someone@elsewhere.example>")
    assert text == "513 5.7.1 Relaying denied."
    c.cmd("QUIT")
    log = s.log_text()
    assert "relaying denied for domain elsewhere.example" in log
    assert "no account nobody-here@example.test" in log


def test_relayclient_from_access_file(smtpd):
    s = smtpd(access="127.0.0\tallow,RELAYCLIENT\n")
    assert send(s.port, "a@b.example", ["x@elsewhere.example"], MSG) == {}
    s2 = smtpd(access="10.192.64\tallow,RELAYCLIENT\n")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(s2.port, "a@b.example", ["x@elsewhere.example"], MSG)
    assert e.value.recipients["x@elsewhere.example"][0] == 513


def test_path_without_brackets_517(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    code, text = c.cmd("MAIL FROM:user@example.com")
    assert code == 517 and "violates RFC 821" in text
    code, text = c.cmd("MAIL FROM:<user@example.com>")
    assert code == 250
    code, text = c.cmd("RCPT TO:demo@example.test")
    assert code == 517
    assert c.cmd("FROBNICATE")[0] == 500
    assert c.cmd("NOOP")[0] == 250  # the session lives on


def test_maxrcpts(smtpd):
    s = smtpd(files={"bofh": "maxrcpts 20\n"}, access="127.0.0.1\tallow,RELAYCLIENT\n")
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    for i in range(20):
        assert c.cmd(f"RCPT TO:<r{i}@elsewhere.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<r20@elsewhere.example>")
    assert code == 452 and "4.5.3" in text
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    qid = s.messages()[0]
    assert s.control(qid).count("\nR ") == 20


def test_default_maxrcpts_100(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    for i in range(100):
        assert c.cmd(f"RCPT TO:<r{i}@elsewhere.example>")[0] == 250
    assert c.cmd("RCPT TO:<r100@elsewhere.example>")[0] == 452


def test_bofh_badfrom_spamtrap(smtpd):
    s = smtpd(files={"bofh": "badfrom @spam.example\nspamtrap trap@mx.example.net\n"})
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<x@spam.example>")[0] == 517
    assert c.cmd("MAIL FROM:<x@ok.example>")[0] == 250
    assert c.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<trap@mx.example.net>")[0] == 550
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 550
    assert s.messages() == []


SMUGGLING = [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n"]


@pytest.mark.parametrize("probe", SMUGGLING, ids=["lf.lf", "cr.cr", "crlf.lf", "lf.crlf"])
def test_smuggling_never_splits(smtpd, probe):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    smuggled = (b"Subject: one\r\n\r\nfirst" + probe +
                b"MAIL FROM:<evil@b.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nsecond\r\n.\r\n")
    c.send(smuggled)
    code, text = c.reply()
    # The whole thing is one message, refused for its bare line end; nothing else is answered.
    assert code == 550 and "bare" in text, text
    assert c.cmd("NOOP")[0] == 250
    assert s.messages() == []


def test_pipelining_after_dot(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<demo@example.test>\r\nRCPT TO:<nosuch@example.test>\r\n"
           b"DATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 550
    assert c.reply()[0] == 354
    # The end of data and the next transaction in one packet.
    c.send(b"Subject: 1\r\n\r\none\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    c.send(b"Subject: 2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert len(s.messages()) == 2


def test_size_limits(smtpd):
    s = smtpd(files={"sizelimit": "10000\n"})
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.ehlo("x.example")
        assert c.esmtp_features["size"] == "10000"
        # Declared too big: refused at MAIL.
        code, _ = c.docmd("MAIL FROM:<a@b.example> SIZE=20000")
        assert code == 552
        c.rset()
        body = b"Subject: s\r\n\r\n" + b"x" * 100 + b"\r\n"
        under = body + b"y" * (9000 - len(body)) + b"\r\n"
        assert c.sendmail("a@b.example", ["demo@example.test"], under) == {}
        # Undeclared and too big: refused at the end of DATA.
        over = body + (b"z" * 998 + b"\r\n") * 11
        assert c.docmd("MAIL FROM:<a@b.example>")[0] == 250
        assert c.docmd("RCPT TO:<demo@example.test>")[0] == 250
        code, text = c.data(over)
        assert code == 552 and b"limit is 10000" in text
        # Declared at the limit and sent: accepted.
        exact = body + b"y" * (10000 - len(body) - 2 - 300) + b"\r\n"
        assert c.sendmail("a@b.example", ["demo@example.test"], exact) == {}
    assert len(s.messages()) == 2


def test_bdat(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example> BODY=BINARYMIME")
    c.cmd("RCPT TO:<demo@example.test>")
    part1 = b"Subject: chunked\r\n\r\n"
    part2 = b"line one\r\n.not stuffed\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2 + b"NOOP\r\n")
    code, text = c.reply()
    assert code == 250 and "queued as" in text
    assert c.reply()[0] == 250
    qid = s.messages()[0]
    assert s.data(qid).endswith(b"Subject: chunked\n\nline one\n.not stuffed\n")
    assert "B BINARYMIME\n" in s.control(qid)


def test_dsn_params_recorded(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@b.example> RET=HDRS ENVID=abc+2Bdef")[0] == 250
    assert c.cmd("RCPT TO:<demo@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;demo+40example.test")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: d\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    ctl = s.control(s.messages()[0])
    assert "E abc+def\n" in ctl and "N HDRS\n" in ctl
    assert "R demo@example.test\trfc822;demo@example.test\tSUCCESS,FAILURE\n" in ctl


def test_mime_checks(smtpd):
    s = smtpd()
    deep = b"Subject: deep\r\nMIME-Version: 1.0\r\n"
    inner = b"text\r\n"
    for i in range(30):
        b = b"b%d" % i
        inner = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + inner +
                 b"\r\n--" + b + b"--\r\n")
    too_complex = deep + inner
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(s.port, "a@b.example", ["demo@example.test"], too_complex)
    assert e.value.smtp_code == 552 and b"too complex" in e.value.smtp_error
    ambiguous = (b"Subject: amb\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
                 b"--outer\r\nContent-Type: multipart/alternative; boundary=\"outer-inner\"\r\n\r\n"
                 b"--outer-inner\r\n\r\nhidden\r\n--outer-inner--\r\n--outer--\r\n")
    assert send(s.port, "a@b.example", ["demo@example.test"], ambiguous) == {}
    data = s.data(s.messages()[0])
    assert b"ambiguous" in data and b"Subject: amb\n" in data
    assert ambiguous.replace(b"\r\n", b"\n") in data  # attached byte for byte
    fine = b"Subject: ok\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nfine\r\n"
    assert send(s.port, "a@b.example", ["demo@example.test"], fine) == {}


@pytest.mark.parametrize("setting", ["accept", "refuse"])
def test_8bit_headers(smtpd, setting):
    s = smtpd(env={"ESMTP_8BIT_HEADERS": setting})
    msg = "Subject: caf\u00e9\r\n\r\nbody\r\n".encode()
    if setting == "accept":
        assert send(s.port, "a@b.example", ["demo@example.test"], msg) == {}
        assert len(s.messages()) == 1
    else:
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(s.port, "a@b.example", ["demo@example.test"], msg)
        assert e.value.smtp_code == 554
        assert s.messages() == []


def test_swaks(smtpd):
    s = smtpd()
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(s.port), "--from", "a@b.example",
                        "--to", "demo@example.test", "--pipeline", "--helo", "swaks.example"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    assert len(s.messages()) == 1


def _esmtpd_children(tcpd_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(tcpd_pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_kill_mid_data_leaves_nothing(smtpd):
    s = smtpd()
    c = RawClient(s.port)
    c.reply()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: half\r\n\r\n" + b"x" * 100000 + b"\r\n")
    time.sleep(0.3)
    kids = _esmtpd_children(s.proc.pid)
    assert kids
    for k in kids:
        os.kill(k, signal.SIGKILL)
    time.sleep(0.3)
    assert s.messages() == []
    assert list((s.queue / "msgs").iterdir()) == []


def test_esmtpd_refuses_root(mail, public_tmp):
    env = dict(mail.env, COURIER_SYSCONFDIR=str(public_tmp), COURIER_QUEUEDIR=str(public_tmp / "q"),
               ESMTPD_LOG_STDERR="1")
    if os.geteuid() != 0:
        pytest.skip("needs root to check that esmtpd refuses root")
    r = subprocess.run([tool("esmtpd/esmtpd")], env=env, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert b"421" in r.stdout
    assert b"refuses to run as root" in r.stderr


def _check_queue_consistent(s) -> list[str]:
    """Every committed message has its data file, of the size its control file says."""
    out = []
    for qid in s.messages():
        ctl = s.control(qid)
        size = int(next(l[2:] for l in ctl.splitlines() if l.startswith("Z ")))
        assert len(s.data(qid)) == size, qid
        out.append(qid)
    return out


def test_kill_right_after_dot_loses_nothing_acknowledged(smtpd):
    s = smtpd()
    acknowledged = 0
    for i in range(25):
        c = RawClient(s.port)
        c.reply()
        c.cmd("EHLO x.example")
        c.cmd("MAIL FROM:<a@b.example>")
        c.cmd("RCPT TO:<demo@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: k%d\r\n\r\n" % i + b"y" * 200000 + b"\r\n")
        kids = _esmtpd_children(s.proc.pid)
        c.send(b".\r\n")
        time.sleep(0.0004 * i)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            code, text = c.reply()
            if code == 250:
                acknowledged += 1
        except (EOFError, ConnectionError):
            pass
        c.close()
    time.sleep(0.2)
    committed = _check_queue_consistent(s)
    assert len(committed) >= acknowledged
    # Nothing half-committed: each msgs/ .ctl has its .data (checked above); tmp/ leftovers are allowed.


FULL_DISK_MB = 1


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_gives_452_and_loses_nothing(smtpd, public_tmp):
    mnt = Path(public_tmp) / "smallqueue"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_DISK_MB}m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        s = smtpd(queue=mnt / "q", files={"sizelimit": "0\n"})
        assert send(s.port, "a@b.example", ["demo@example.test"], b"Subject: small\r\n\r\nfirst\r\n") == {}
        big = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 1500  # 1.5 MB > 1 MB
        with smtplib.SMTP("127.0.0.1", s.port, timeout=30) as c:
            c.ehlo("x.example")
            assert c.docmd("MAIL FROM:<a@b.example>")[0] == 250
            assert c.docmd("RCPT TO:<demo@example.test>")[0] == 250
            code, text = c.data(big)
            assert code == 452, text
            assert c.sendmail("a@b.example", ["demo@example.test"], b"Subject: after\r\n\r\nsecond\r\n") == {}
        qids = _check_queue_consistent(s)
        assert len(qids) == 2
        assert list((s.queue / "tmp").iterdir()) == []
        assert "No space left on device" in s.log_text()
        s.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_auth_grants_relaying(smtpd):
    s = smtpd(access="10.192.64\tallow,RELAYCLIENT\n", env={"ESMTPAUTH": "PLAIN LOGIN"})
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.ehlo("x.example")
        assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail("demo@example.test", ["out@elsewhere.example"], MSG)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("demo@example.test", "Zq9-badpw")
        assert e.value.smtp_code == 535
        c.login("demo@example.test", "secret")
        assert c.sendmail("demo@example.test", ["out@elsewhere.example"], MSG) == {}
    qid = s.messages()[0]
    assert "A demo@example.test\n" in s.control(qid)
    assert "P ESMTPA\n" in s.control(qid)
    assert b"(AUTH: demo@example.test)" in s.data(qid)
    log = s.log_text()
    assert "user demo@example.test authenticated" in log
    assert "secret" not in log and "Zq9-badpw" not in log


def test_auth_mechanisms_exactly_as_configured(smtpd):
    # Nothing before TLS unless configured (the default ESMTPAUTH is empty).
    s = smtpd(env={"ESMTPAUTH": ""})
    c = RawClient(s.port)
    c.reply()
    code, text = c.cmd("EHLO x.example")
    assert "AUTH" not in text
    assert c.cmd("AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==")[0] == 504
    s2 = smtpd(env={"ESMTPAUTH": "LOGIN"})
    c = RawClient(s2.port)
    c.reply()
    code, text = c.cmd("EHLO x.example")
    assert "250-AUTH LOGIN\r" in text + "\r" or "AUTH LOGIN" in text
    assert c.cmd("AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==")[0] == 504
    assert c.cmd("AUTH CRAM-MD5")[0] == 504
    assert c.cmd("AUTH LOGIN")[0] == 334
    assert c.cmd("*")[0] == 501


def test_msa_requires_auth(smtpd):
    s = smtpd(access="10.192.64\tallow,RELAYCLIENT\n", env={"AUTH_REQUIRED": "1", "ESMTPAUTH": "PLAIN"})
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.ehlo("x.example")
        code, text = c.docmd("MAIL FROM:<demo@example.test>")
        assert code == 530
        c.login("demo@example.test", "secret")
        assert c.sendmail("demo@example.test", ["demo@example.test"], MSG) == {}


def test_swaks_auth_pipelining(smtpd):
    s = smtpd(access="10.192.64\tallow,RELAYCLIENT\n", env={"ESMTPAUTH": "PLAIN LOGIN"})
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(s.port), "--from", "demo@example.test",
                        "--to", "out@elsewhere.example", "--auth", "LOGIN", "--auth-user", "demo@example.test",
                        "--auth-password", "secret", "--pipeline"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(s.messages()) == 1


def test_sendmail_and_mailq(mail, public_tmp):
    q = Path(public_tmp) / "q"
    etc = Path(public_tmp) / "etc"
    etc.mkdir()
    (etc / "me").write_text("mx.example.net\n")
    env = dict(mail.env, COURIER_QUEUEDIR=str(q), COURIER_SYSCONFDIR=str(etc))
    msg = b"To: demo@example.test\nCc: Carol <carol@elsewhere.example>\nBcc: hidden@elsewhere.example\nSubject: local\n\nhi\n.\nstill here\n"
    r = subprocess.run([tool("esmtpd/sendmail"), "-t", "-f", "root@mx.example.net", "-F", "Admin", "-oi"],
                       input=msg, env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"courierd is not running" in r.stderr
    qids = sorted(p.name[:-4] for p in (q / "msgs").glob("*.ctl"))
    assert len(qids) == 1
    ctl = (q / "msgs" / f"{qids[0]}.ctl").read_text()
    assert "P LOCAL\n" in ctl and "S root@mx.example.net\n" in ctl
    for rcpt in ("demo@example.test", "carol@elsewhere.example", "hidden@elsewhere.example"):
        assert f"R {rcpt}\t" in ctl
    data = (q / "msgs" / f"{qids[0]}.data").read_bytes()
    assert b"Bcc:" not in data and b"From: \"Admin\" <root@mx.example.net>\n" in data
    assert b"\n.\nstill here\n" in data
    # Argument recipients, no -t.
    r = subprocess.run([tool("esmtpd/sendmail"), "demo"], input=b"Subject: x\n\nbody\n", env=env,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([tool("esmtpd/mailq")], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert "2 messages in the queue" in out.stdout
    assert "<demo@mx.example.net>" in out.stdout
    assert "courierd is not running" in out.stderr
    batch = subprocess.run([tool("esmtpd/mailq"), "-batch"], env=env, capture_output=True, text=True, timeout=30)
    lines = batch.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split(";")[1] == qids[0]
    assert ";queued;demo@example.test" in lines[0]
    bp = subprocess.run([tool("esmtpd/sendmail"), "-bp"], env=env, capture_output=True, text=True, timeout=30)
    assert bp.stdout == out.stdout


def test_sendmail_bs(mail, public_tmp):
    q = Path(public_tmp) / "q"
    etc = Path(public_tmp) / "etc"
    etc.mkdir()
    (etc / "me").write_text("mx.example.net\n")
    env = dict(mail.env, COURIER_QUEUEDIR=str(q), COURIER_SYSCONFDIR=str(etc))
    (q / "tmp").mkdir(parents=True)
    (q / "msgs").mkdir()
    dialog = (b"EHLO localhost\r\nMAIL FROM:<root@mx.example.net>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\n"
              b"Subject: bs\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    r = subprocess.run([tool("esmtpd/sendmail"), "-bs"], input=dialog, env=env, capture_output=True, timeout=30)
    assert b"250 2.0.0 Ok: queued as" in r.stdout, r.stdout + r.stderr
    assert len(list((q / "msgs").glob("*.ctl"))) == 1


def test_silent_client_times_out(smtpd):
    s = smtpd(env={"ESMTP_TIMEOUT": "1"})
    c = RawClient(s.port)
    assert c.reply()[0] == 220
    t0 = time.time()
    code, text = c.reply()  # nothing sent: the server gives up
    assert code == 421 and "Timeout" in text
    assert time.time() - t0 < 10
    # Other clients were served meanwhile and after.
    assert send(s.port, "a@b.example", ["demo@example.test"], MSG) == {}
    assert "ended (timeout)" in s.log_text()


def test_bofhcheckdns(smtpd):
    from esmtp_support import MxDns
    dns = MxDns()
    try:
        dns.mx["mx-only.example"] = ["mail.mx-only.example"]
        dns.a["mail.mx-only.example"] = ["192.0.2.10"]
        dns.a["a-only.example"] = ["192.0.2.11"]
        dns.mx["spammy.example"] = ["trap.spammy.example"]
        dns.a["trap.spammy.example"] = ["127.0.0.2"]
        dns.blackhole.add("slow.example")
        s = smtpd(access="10.192.64\tallow,RELAYCLIENT\n", files={"bofh": "badmx 127.0.0.2\n"},
                  env={"BOFHCHECKDNS": "1", "BOFHCHECKDNS_NAMESERVERS": dns.address, "BOFHCHECKDNS_TIMEOUT": "1"})
        c = RawClient(s.port)
        c.reply()
        c.cmd("EHLO x.example")
        for sender, code in (("a@mx-only.example", 250), ("a@a-only.example", 250), ("a@nowhere.example", 517),
                             ("a@spammy.example", 517)):
            got, text = c.cmd(f"MAIL FROM:<{sender}>")
            assert got == code, (sender, text)
            if got == 250:
                c.cmd("RSET")
        # A resolver that never answers: 451 after the deadline; other sessions are greeted at once.
        c.send(b"MAIL FROM:<a@slow.example>\r\n")
        t0 = time.time()
        other = RawClient(s.port)
        assert other.reply()[0] == 220
        assert time.time() - t0 < 1.0
        code, text = c.reply()
        assert code == 451 and "DNS lookup failure" in text
        assert time.time() - t0 < 10
        assert c.cmd("MAIL FROM:<>")[0] == 250  # the null sender is not looked up
        log = s.log_text()
        assert "bofh badmx" in log and "no MX and no A record" in log
    finally:
        dns.close()
