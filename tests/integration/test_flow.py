"""The delivery half as one system: real clients in, real clients out.

    smtplib -> couriertcpd -> esmtpd -> queue -> courierd -> maildrop -> Maildir
            -> imapd (imaplib) / pop3d (poplib)
    esmtpd -> queue -> courierd -> courieresmtp -> a Python SMTP sink (esmtproutes)

esmtpd and courierd share one sysconfdir (me, hosteddomains, aliases) and one queue,
as an installed suite does; DEFAULTDELIVERY is "| maildrop" (the real maildrop, run
as the account with -d). Every assertion is on what a user or an admin sees: the
message bytes over IMAP and POP3, the Maildir folder it landed in, the log lines.

Run: cd tests/integration && python3 -m pytest -q test_flow.py
"""
from __future__ import annotations

import email
import email.policy
import grp
import imaplib
import os
import poplib
import pwd
import shutil
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

import backends
from courierd_support import Courierd, SmtpSink
from esmtp_support import Esmtpd
from imap_support import ImapServer
from pop3_support import Pop3Launcher
from suite import SRC, tool

ME = "mx.example.net"
SENDER = "sender@example.org"


def message(subject: str, to: str = "alice@example.test", body: str = "first line\r\n.dot line\r\nlast line\r\n",
            sender: str = SENDER) -> bytes:
    return (f"From: Sender <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n{body}").encode()


class Flow:
    """esmtpd and courierd over one sysconfdir and one queue (root/etc, root/queue)."""

    def __init__(self, root: Path, mail_system, aliases: str = "", courierd_settings: dict | None = None,
                 control: dict | None = None, start_courierd: bool = True):
        self.root = root
        self.mail_system = mail_system
        maildrop = tool("maildrop/maildrop")
        settings = {"DEFAULTDELIVERY": f"| {maildrop}", "MAILDROP": maildrop, "QUEUESCAN": "1m"}
        settings.update(courierd_settings or {})
        self.courierd = Courierd(root, mail_system, settings=settings, control={"me": ME, **(control or {})})
        files = {"aliases": aliases} if aliases else {}
        self.esmtpd = Esmtpd(root, mail_system, files=files, queue=self.courierd.queue)
        if start_courierd:
            self.courierd.start()

    def send(self, msg: bytes, *rcpts: str, sender: str = SENDER) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.esmtpd.port, timeout=30) as s:
                refused = s.sendmail(sender, list(rcpts), msg)
        except smtplib.SMTPException as e:
            raise AssertionError(f"{e!r}\nesmtpd log:\n{self.esmtpd.log_text()[-3000:]}") from e
        assert not refused, (refused, self.esmtpd.log_text()[-3000:])

    def wait_delivered(self, timeout_s: float = 30) -> None:
        self.courierd.wait_empty(timeout_s)

    def log(self) -> str:
        return self.courierd.log_text() + self.esmtpd.log_text()

    def stop(self) -> None:
        self.esmtpd.stop()
        self.courierd.stop()


@pytest.fixture
def make_flow(public_tmp: Path, mail_system):
    mail_system.stop()
    with open(mail_system.rc, "a") as f:
        if os.geteuid() == 0:
            # esmtpd (recipient checks) runs as nobody: its group may use authdaemond's
            # socket, as authdaemongroup=MAILGROUP does in an installed suite.
            f.write("authdaemongroup=%s\n" % grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name)
        f.write("daemons=10\n")  # esmtpd, courierd and maildrop look up at the same time
    mail_system.start()
    made: list[Flow] = []

    def make(**kwargs) -> Flow:
        f = Flow(public_tmp / f"flow{len(made)}", mail_system, **kwargs)
        made.append(f)
        return f

    yield make
    for f in made:
        f.stop()


def new_files(maildir: Path) -> list[Path]:
    d = maildir / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


def wait_files(maildir: Path, n: int, timeout_s: float = 30, flow: Flow | None = None) -> list[Path]:
    deadline = time.monotonic() + timeout_s
    while len(new_files(maildir)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {n} message(s) in {maildir}/new; logs:\n"
                                 + (flow.log()[-4000:] if flow else ""))
        time.sleep(0.05)
    return new_files(maildir)


def maildirmake(account, *args: str) -> None:
    argv = [tool("maildrop/maildirmake"), *args]
    kw = {}
    if os.geteuid() == 0:
        def drop():
            os.setgid(account.gid)
            os.setuid(account.uid)
        kw["preexec_fn"] = drop
    subprocess.run(argv, check=True, **kw)


def test_smtp_in_imap_and_pop3_out_byte_exact(make_flow, mail_system, public_tmp):
    alice = mail_system.add_account("alice@example.test", "secret")
    flow = make_flow()
    sent = message("byte exact")
    flow.send(sent, "alice@example.test")
    flow.wait_delivered()
    [path] = wait_files(alice.maildir, 1, flow=flow)
    stored = path.read_bytes()
    # Return-Path and Delivered-To from the final delivery, then esmtpd's Received:,
    # then the message exactly as sent (line ends stored as LF in the Maildir).
    head = b"Return-Path: <sender@example.org>\nDelivered-To: alice@example.test\n"
    assert stored.startswith(head), stored[:200]
    assert stored.split(b"\n", 2)[2].startswith(b"Received: from ")
    assert stored.endswith(sent.replace(b"\r\n", b"\n")), stored
    assert stored.count(b"Return-Path:") == 1 and stored.count(b"Delivered-To:") == 1
    assert path.stat().st_uid == alice.uid
    assert "module=local" in flow.courierd.log_text() and "status=delivered" in flow.courierd.log_text()

    imap = ImapServer(mail_system)
    try:
        m = imap.login(alice)
        typ, data = m.select("INBOX")
        assert typ == "OK" and data == [b"1"], data
        typ, data = m.fetch("1", "(UID BODY.PEEK[])")
        assert typ == "OK", data
        assert data[0][1] == stored.replace(b"\n", b"\r\n")
        m.logout()
    finally:
        imap.stop()

    launcher = Pop3Launcher(mail_system, public_tmp / "pop3.log")
    try:
        pop = poplib.POP3("127.0.0.1", launcher.port, timeout=30)
        pop.user("alice@example.test")
        pop.pass_("secret")
        assert pop.stat() == (1, len(stored.replace(b"\n", b"\r\n")))
        _, lines, _ = pop.retr(1)
        pop.quit()
    finally:
        launcher.close()
    assert b"\n".join(lines) + b"\n" == stored


def test_two_local_recipients_in_one_transaction_each_get_one_copy(make_flow, mail_system):
    alice = mail_system.add_account("alice@example.test", "a")
    bob = mail_system.add_account("bob@example.test", "b")
    flow = make_flow()
    # bob twice in the envelope: still one copy.
    flow.send(message("two rcpts"), "alice@example.test", "bob@example.test", "bob@example.test")
    flow.wait_delivered()
    time.sleep(0.5)  # a second copy would have been written by now
    for acct in (alice, bob):
        [path] = new_files(acct.maildir)
        text = path.read_bytes()
        assert f"Delivered-To: {acct.address}\n".encode() in text
        assert b"Subject: two rcpts" in text
    assert len(flow.esmtpd.messages()) == 0  # the queue is empty: both resolved


def test_alias_and_domain_alias_with_dot_courier_ext(make_flow, mail_system):
    alice = mail_system.add_account("alice@example.test", "a")
    carol = mail_system.add_account("carol", "c")
    # carol's .courier-foo files foo@other.test's mail into her .Foo folder.
    maildirmake(carol, "-f", "Foo", str(carol.maildir))
    dot = carol.home / ".courier-foo"
    dot.write_text("./Maildir/.Foo/\n")
    if os.geteuid() == 0:
        os.chown(dot, carol.uid, carol.gid)
    flow = make_flow(aliases="john@example.test: alice@example.test\n@other.test: carol\n")
    flow.send(message("to john", to="john@example.test"), "john@example.test")
    flow.send(message("to foo", to="foo@other.test"), "foo@other.test")
    flow.wait_delivered()
    [john] = wait_files(alice.maildir, 1, flow=flow)
    assert b"Subject: to john" in john.read_bytes()
    [foo] = wait_files(carol.maildir / ".Foo", 1, flow=flow)
    assert b"Subject: to foo" in foo.read_bytes()
    assert new_files(carol.maildir) == []
    # Never relayed out: the @domain alias is delivered locally.
    assert "module=esmtp" not in flow.courierd.log_text()


def test_plus_addressing_into_existing_folder_and_missing_one(make_flow, mail_system):
    alice = mail_system.add_account("alice@example.test", "a")
    maildirmake(alice, "-f", "Work", str(alice.maildir))
    flow = make_flow()
    flow.send(message("plus work", to="alice+Work@example.test"), "alice+Work@example.test")
    flow.send(message("plus missing", to="alice+Missing@example.test"), "alice+Missing@example.test")
    flow.wait_delivered()
    [work] = wait_files(alice.maildir / ".Work", 1, flow=flow)
    assert b"Subject: plus work" in work.read_bytes()
    [inbox] = wait_files(alice.maildir, 1, flow=flow)
    assert b"Subject: plus missing" in inbox.read_bytes()
    assert not (alice.maildir / ".Missing").exists()


def test_virtual_accounts_sharing_one_uid_get_their_own_maildirs(make_flow, mail_system):
    v1 = mail_system.add_account("v1@example.test", "1")
    v2 = mail_system.add_account("v2@example.test", "2")
    assert v1.uid == v2.uid  # seed 002 / trap 7: one uid for all virtual accounts
    flow = make_flow()
    flow.send(message("for v1", to="v1@example.test"), "v1@example.test")
    flow.send(message("for v2", to="v2@example.test"), "v2@example.test")
    flow.wait_delivered()
    [a] = wait_files(v1.maildir, 1, flow=flow)
    [b] = wait_files(v2.maildir, 1, flow=flow)
    assert b"Subject: for v1" in a.read_bytes() and b"Delivered-To: v1@example.test" in a.read_bytes()
    assert b"Subject: for v2" in b.read_bytes() and b"Delivered-To: v2@example.test" in b.read_bytes()
    assert "Unable to change to home directory" not in flow.log()


def test_missing_home_defers_naming_home_uid_errno_and_fix(make_flow, mail_system):
    dave = mail_system.add_account("dave@example.test", "d")
    shutil.rmtree(dave.home)
    flow = make_flow()
    flow.send(message("homeless", to="dave@example.test"), "dave@example.test")  # accepted: the account exists
    flow.courierd.wait_log("status=deferred")
    log = flow.courierd.log_text()
    line = next(l for l in log.splitlines() if "status=deferred" in l and "dave" in l)
    assert str(dave.home) in line, line
    assert f"uid {dave.uid}" in line, line
    assert "No such file or directory" in line, line
    assert "create" in line and "maildirmake" in line, line
    assert len(flow.courierd.qids()) == 1  # kept for a retry, not bounced
    # The admin follows the fix; the retry (flush) delivers.
    dave.home.mkdir()
    os.chown(dave.home, dave.uid, dave.gid)
    maildirmake(dave, str(dave.maildir))
    cp = flow.courierd.run_tool(tool("courierd/courierd"), "-c", str(flow.courierd.etc), "--flush")
    assert cp.returncode == 0, cp.stdout
    flow.wait_delivered()
    [path] = wait_files(dave.maildir, 1, flow=flow)
    assert b"Subject: homeless" in path.read_bytes()


def courier_script(flow: Flow, folder: Path) -> Path:
    script = folder / "courier"
    text = (SRC / "courierd" / "courier.rc.in").read_text()
    for key, value in {"@sysconfdir@": str(flow.courierd.etc), "@localstatedir@": str(flow.root / "var"),
                       "@sbindir@": str(Path(tool("courierd/courierd")).parent)}.items():
        text = text.replace(key, value)
    script.write_text(text)
    script.chmod(0o755)
    return script


def test_scheduler_not_running_warns_then_delivers_after_courier_start(make_flow, mail_system, tmp_path):
    alice = mail_system.add_account("alice@example.test", "a")
    flow = make_flow(start_courierd=False)
    flow.send(message("while down"), "alice@example.test")
    assert len(flow.esmtpd.messages()) == 1  # accepted and queued
    backends.poll_until(lambda: "courierd" in flow.esmtpd.log_text() and "not running" in flow.esmtpd.log_text(),
                        what="esmtpd's warning that courierd is not running", timeout_s=10)
    mailq = subprocess.run([tool("esmtpd/mailq")], env=flow.courierd.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    assert "not running" in mailq.stdout and "courier start" in mailq.stdout, mailq.stdout
    assert new_files(alice.maildir) == []

    script = courier_script(flow, tmp_path)
    started = subprocess.run([str(script), "start"], env=flow.courierd.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stdout
        [path] = wait_files(alice.maildir, 1, flow=flow)
        assert b"Subject: while down" in path.read_bytes()
        flow.wait_delivered()
        mailq = subprocess.run([tool("esmtpd/mailq")], env=flow.courierd.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
        assert "not running" not in mailq.stdout, mailq.stdout
    finally:
        subprocess.run([str(script), "stop"], env=flow.courierd.env, timeout=60)


@pytest.fixture
def sink():
    s = SmtpSink(capabilities=("8BITMIME", "DSN", "PIPELINING"))
    yield s
    s.close()


def outbound(sink: SmtpSink) -> dict:
    return {"courierd_settings": {"ESMTP_USE_STARTTLS": "0"},
            "control": {"esmtproutes": f"remote.example: [127.0.0.1],{sink.port}\n"}}


def test_outbound_through_esmtproutes_to_a_loopback_sink(make_flow, mail_system, sink):
    mail_system.add_account("alice@example.test", "a")
    flow = make_flow(**outbound(sink))
    sent = message("outbound", to="bob@remote.example", sender="alice@example.test")
    flow.send(sent, "bob@remote.example", sender="alice@example.test")
    flow.wait_delivered()
    [tx] = sink.messages
    assert tx["mail_from"] == "alice@example.test" and tx["rcpts"] == ["bob@remote.example"]
    assert tx["data"].startswith(b"Received: from ")
    assert tx["data"].endswith(sent)  # byte for byte, dot-stuffing undone
    assert b"Return-Path:" not in tx["data"] and b"Delivered-To:" not in tx["data"]
    assert "module=esmtp" in flow.courierd.log_text()


def test_remote_5xx_bounces_into_the_local_senders_maildir(make_flow, mail_system, sink):
    alice = mail_system.add_account("alice@example.test", "a")
    sink.rcpt_replies["nobody@remote.example"] = "550 5.1.1 <nobody@remote.example>: no such user here"
    flow = make_flow(**outbound(sink))
    flow.send(message("doomed", to="nobody@remote.example", sender="alice@example.test"),
              "nobody@remote.example", sender="alice@example.test")
    flow.wait_delivered()
    [path] = wait_files(alice.maildir, 1, flow=flow)
    raw = path.read_bytes()
    assert raw.startswith(b"Return-Path: <>\nDelivered-To: alice@example.test\n"), raw[:200]
    report = email.message_from_bytes(raw, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"]
    text = raw.decode()
    assert "Final-Recipient: rfc822; nobody@remote.example" in text
    assert "Action: failed" in text and "Status: 5.1.1" in text
    assert "no such user here" in text and "Subject: doomed" in text
    assert sink.messages == []
