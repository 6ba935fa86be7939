"""courierd end to end: messages queued with lib/queue (tests/courierd/queue_inject)
are delivered by the real courierd into Maildirs (read back with poplib through the
real pop3d), through `| program` deliveries, and over SMTP (courieresmtp) to a
loopback sink found through a loopback DNS server; retries, RFC 3464 bounces parsed
with Python's email package, double bounces, kill -9, cancelmsg and the start script.

Run: cd tests/integration && python3 -m pytest -q test_courierd.py
"""
from __future__ import annotations

import email
import email.policy
import os
import poplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import backends
from courierd_support import Courierd, DnsServer, SmtpSink
from pop3_support import Pop3Launcher, make_certificates
from suite import SRC, tool

MESSAGE = (b"From: Sender <sender@example.org>\nTo: alice@example.test\nSubject: hello\n"
           b"Message-ID: <m1@example.org>\n\nfirst line\n.dot line\nlast line\n")


@pytest.fixture
def dns():
    server = DnsServer({
        "remote.example": {"MX": [(10, "mx.remote.example")]},
        "mx.remote.example": {"A": ["127.0.0.1"]},
        "example.org": {"MX": [(5, "mx.example.org")]},
        "mx.example.org": {"A": ["127.0.0.1"]},
        "dead.example": {"MX": [(5, "mx.remote.example")]},
        "nomx.example": {"A": ["127.0.0.1"]},
    })
    yield server
    server.close()


@pytest.fixture
def sink():
    s = SmtpSink()
    yield s
    s.close()


@pytest.fixture
def make_courierd(public_tmp: Path, mail_system):
    made: list[Courierd] = []

    def make(**kwargs) -> Courierd:
        c = Courierd(public_tmp / f"courier{len(made)}", mail_system, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def routes_for(dns: DnsServer, sink: SmtpSink) -> dict:
    # Every remote domain through DNS (MX then A) on the sink's port.
    return {"settings": {"ESMTP_DNS_SERVER": dns.address, "ESMTP_USE_STARTTLS": "0"},
            "control": {"esmtproutes": f"remote.example: ,{sink.port}\nexample.org: ,{sink.port}\n"
                                       f"dead.example: ,{sink.port}\nnomx.example: ,{sink.port}\n"}}


def merged(base: dict, settings: dict | None = None, control: dict | None = None) -> dict:
    return {"settings": {**base["settings"], **(settings or {})}, "control": {**base["control"], **(control or {})}}


def server_tls(folder: Path) -> tuple[ssl.SSLContext, dict]:
    """A server TLS context with a certificate for localhost/127.0.0.1, and the files
    (certs["ca"] signed it); folder must be readable by the mail user."""
    certs = make_certificates(folder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["server_pem"])
    return ctx, certs


def delivery_script(public_tmp: Path, name: str, body) -> tuple[Path, Path]:
    """A shell script (body(out) after the #! line) that the account may run, and a
    folder out/ it may write into."""
    out = public_tmp / f"{name}-out"
    out.mkdir()
    out.chmod(0o777)
    script = public_tmp / name
    script.write_text("#!/bin/sh\n" + body(out))
    script.chmod(0o755)
    return script, out


def maildir_messages(maildir: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((maildir / "new").iterdir())]


def test_local_delivery_into_maildir_read_back_over_pop3(make_courierd, mail_system, public_tmp):
    alice = mail_system.add_account("alice@example.test", "secret")
    c = make_courierd()
    c.start()
    qid = c.inject(MESSAGE, "alice@example.test")
    c.wait_empty()
    expected = b"Return-Path: <sender@example.org>\nDelivered-To: alice@example.test\n" + MESSAGE
    assert maildir_messages(alice.maildir) == [expected]
    # Written as the account, never as root; the scheduler itself runs as the mail user.
    delivered = next((alice.maildir / "new").iterdir())
    assert (delivered.stat().st_uid, delivered.stat().st_gid) == (alice.uid, alice.gid)
    if os.geteuid() == 0:
        import pwd
        status = Path(f"/proc/{c.proc.pid}/status").read_text()
        uids = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
        assert set(uids) == {str(pwd.getpwnam("nobody").pw_uid)}
    log = c.log_text()
    assert f"id={qid} rcpt=<alice@example.test> module=local" in log and "status=delivered" in log
    launcher = Pop3Launcher(mail_system, public_tmp / "pop3.log")
    try:
        pop = poplib.POP3("127.0.0.1", launcher.port, timeout=30)
        pop.user("alice@example.test")
        pop.pass_("secret")
        _, lines, _ = pop.retr(1)
        pop.quit()
    finally:
        launcher.close()
    assert b"\n".join(lines) + b"\n" == expected


def test_plus_extension_goes_to_existing_folder(make_courierd, mail_system):
    bob = mail_system.add_account("bob@example.test", "secret")
    for sub in ("cur", "new", "tmp"):
        (bob.maildir / ".lists" / sub).mkdir(parents=True)
    (bob.maildir / ".lists" / "maildirfolder").write_text("")
    if os.geteuid() == 0:
        for p in [bob.maildir / ".lists", *(bob.maildir / ".lists").rglob("*")]:
            os.chown(p, bob.uid, bob.gid)
    c = make_courierd()
    c.start()
    c.inject(MESSAGE, "bob+lists@example.test", "bob+nofolder@example.test")
    c.wait_empty()
    assert len(maildir_messages(bob.maildir / ".lists")) == 1
    inbox = maildir_messages(bob.maildir)
    assert len(inbox) == 1 and b"Delivered-To: bob+nofolder@example.test\n" in inbox[0]


def test_virtual_accounts_sharing_one_uid_get_their_own_maildirs(make_courierd, mail_system):
    one = mail_system.add_account("one@example.test", "secret")
    two = mail_system.add_account("two@example.test", "secret")
    assert one.uid == two.uid
    c = make_courierd()
    c.start()
    c.inject(MESSAGE, "one@example.test", "two@example.test")
    c.wait_empty()
    assert b"Delivered-To: one@example.test\n" in maildir_messages(one.maildir)[0]
    assert b"Delivered-To: two@example.test\n" in maildir_messages(two.maildir)[0]
    assert "Unable to change to home directory" not in c.log_text()


def test_account_maildir_field_is_where_mail_goes(make_courierd, mail_system, public_tmp):
    box = public_tmp / "boxes" / "nina"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    nina = mail_system.add_account("nina@example.test", "secret", mail=str(box))
    if os.geteuid() == 0:
        for p in [box.parent, box, *box.rglob("*")]:
            os.chown(p, nina.uid, nina.gid)
    c = make_courierd()
    c.start()
    c.inject(MESSAGE, "nina@example.test")
    c.wait_empty()
    assert len(maildir_messages(box)) == 1  # where pop3d/imapd read it (MAILDIR)
    assert maildir_messages(nina.maildir) == []


def test_maildrop_path_gets_d_f_and_a_options(make_courierd, mail_system, public_tmp):
    mail_system.add_account("hank@example.test", "secret")
    fake, out = delivery_script(public_tmp, "maildrop",
                                lambda out: f'for a in "$@"; do echo "$a"; done > {out}/argv\ncat > {out}/msg\nexit 0\n')
    c = make_courierd(settings={"MAILDROP": str(fake), "DEFAULTDELIVERY": f"| {fake}"})
    c.start()
    c.inject(MESSAGE, "hank@example.test")
    c.wait_empty()
    assert (out / "argv").read_text().splitlines() == [
        "-d", "hank@example.test", "-f", "sender@example.org",
        "-A", "Delivered-To: hank@example.test", "-A", "Return-Path: <sender@example.org>"]
    assert (out / "msg").read_bytes() == MESSAGE


def test_missing_home_directory_defers_with_path_uid_and_fix(make_courierd, mail_system):
    import shutil
    ivy = mail_system.add_account("ivy@example.test", "secret")
    shutil.rmtree(ivy.home)
    c = make_courierd()
    c.start()
    qid = c.inject(MESSAGE, "ivy@example.test")
    c.wait_log(f"id={qid} rcpt=<ivy@example.test> module=local")
    line = [l for l in c.log_text().splitlines() if f"id={qid} rcpt=" in l][0]
    assert "status=deferred" in line
    assert str(ivy.home) in line and f"uid {ivy.uid}" in line and f"create it: mkdir -p {ivy.home}" in line
    assert c.qids() == [qid]


def test_dot_courier_files(make_courierd, mail_system, public_tmp):
    kim = mail_system.add_account("kim@example.test", "secret")
    script, out = delivery_script(public_tmp, "dc.sh",
                                  lambda out: f'echo "$1 EXT=$EXT DEFAULT=$DEFAULT" >> {out}/calls\ncat > /dev/null\n')
    (kim.home / ".courier-foo").write_text(f"# the foo list\n| {script} foo\n")
    (kim.home / ".courier-list-default").write_text(f"| {script} \\\n  list\n")
    (kim.home / ".courier").write_text("# no instructions: mail to kim itself is discarded\n")
    c = make_courierd()
    c.start()
    c.inject(MESSAGE, "kim+foo@example.test", "kim-list-abc@example.test", "kim@example.test", "kim+other@example.test")
    c.wait_empty()
    calls = sorted((out / "calls").read_text().splitlines())
    assert calls == ["foo EXT=foo DEFAULT=", "list EXT=list-abc DEFAULT=abc"]
    inbox = maildir_messages(kim.maildir)  # only kim+other: no file claims it
    assert len(inbox) == 1 and b"Delivered-To: kim+other@example.test" in inbox[0]
    assert "has no instructions: message discarded" in c.log_text()


def test_dot_courier_forwarding_and_loop_detection(make_courierd, mail_system, dns, sink):
    lee = mail_system.add_account("lee@example.test", "secret")
    mia = mail_system.add_account("mia@example.test", "secret")
    (lee.home / ".courier").write_text("./Maildir\nmia@example.test, <x@remote.example>\n")
    (lee.home / ".courier-loop1").write_text("lee-loop2@example.test\n")
    (lee.home / ".courier-loop2").write_text("lee-loop1@example.test\n")
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    c.inject(MESSAGE, "lee@example.test")
    c.wait_empty()
    assert len(maildir_messages(lee.maildir)) == 1
    copy = maildir_messages(mia.maildir)
    assert len(copy) == 1
    assert copy[0].startswith(b"Return-Path: <sender@example.org>\nDelivered-To: mia@example.test\n"
                              b"Delivered-To: lee@example.test\n")
    remote = [m for m in sink.messages if m["rcpts"] == ["x@remote.example"]]
    assert len(remote) == 1 and remote[0]["mail_from"] == "sender@example.org"
    assert "forwarded to mia@example.test,x@remote.example" in c.log_text()
    c.inject(MESSAGE, "lee-loop1@example.test")
    c.wait_log("mail loop")
    c.wait_empty()
    bounces = [m for m in sink.messages if m["mail_from"] == "" and m["rcpts"] == ["sender@example.org"]]
    assert len(bounces) == 1 and b"Status: 5.4.6" in bounces[0]["data"]


def test_pipe_delivery_gets_courier_environment(make_courierd, mail_system, public_tmp):
    mail_system.add_account("carol@example.test", "secret")
    script, out = delivery_script(public_tmp, "deliver.sh", lambda out: f"env > {out}/env.$$\ncat > {out}/msg.$$\nexit 0\n")
    c = make_courierd(settings={"DEFAULTDELIVERY": f"| {script}"})
    c.start()
    c.inject(MESSAGE, "carol+box@example.test")
    c.wait_empty()
    envs = list(out.glob("env.*"))
    msgs = list(out.glob("msg.*"))
    assert len(envs) == 1 and len(msgs) == 1
    env = dict(line.split("=", 1) for line in envs[0].read_text().splitlines() if "=" in line)
    assert env["SENDER"] == "sender@example.org"
    assert env["RECIPIENT"] == "carol+box@example.test"
    assert env["EXT"] == "box"
    assert env["USER"] == "carol@example.test"
    assert env["DTLINE"] == "Delivered-To: carol+box@example.test"
    assert env["RPLINE"] == "Return-Path: <sender@example.org>"
    assert msgs[0].read_bytes() == MESSAGE  # the command gets the message as queued


def test_failing_pipe_exit_codes(make_courierd, mail_system, public_tmp, dns, sink):
    mail_system.add_account("dave@example.test", "secret")
    script = public_tmp / "fail.sh"
    script.write_text("#!/bin/sh\necho 'mailbox is locked by the admin' >&2\nexit 70\n")
    script.chmod(0o755)
    base = routes_for(dns, sink)
    c = make_courierd(**merged(base, settings={"DEFAULTDELIVERY": f"| {script}"}))
    c.start()
    c.inject(MESSAGE, "dave@example.test")
    c.wait_empty()
    assert "status=failed" in c.log_text() and "mailbox is locked by the admin" in c.log_text()
    backends.poll_until(lambda: len(sink.messages) == 1, what="the bounce at the sink", timeout_s=30)
    report = email.message_from_bytes(sink.messages[0]["data"], policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert "mailbox is locked by the admin" in sink.messages[0]["data"].decode()


def test_missing_delivery_program_is_reported_at_start_and_in_every_deferral(make_courierd, mail_system):
    mail_system.add_account("erin@example.test", "secret")
    c = make_courierd(settings={"DEFAULTDELIVERY": "| /nonexistent/bin/maildrop -d erin"})
    c.start()
    c.wait_log("runs /nonexistent/bin/maildrop, which cannot be executed")
    qid = c.inject(MESSAGE, "erin@example.test")
    c.wait_log(f"id={qid} rcpt=<erin@example.test> module=local relay=- status=deferred")
    deferral = [l for l in c.log_text().splitlines() if f"id={qid}" in l and "deferred" in l][0]
    assert "/nonexistent/bin/maildrop" in deferral and "DEFAULTDELIVERY" in deferral
    assert c.qids() == [qid]
    assert "\nY 0\t" in c.control_text(qid)
    status = c.run_tool(tool("courierd/courierd"), "-c", str(c.etc), "--status")
    assert status.returncode == 0 and "running" in status.stdout and "1 message(s) waiting" in status.stdout


def test_status_when_scheduler_is_not_running(make_courierd):
    c = make_courierd()
    c.queue.mkdir()
    (c.queue / "msgs").mkdir()
    (c.queue / "tmp").mkdir()
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        for p in (c.queue, c.queue / "msgs", c.queue / "tmp"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    c.inject(MESSAGE, "alice@example.test")
    status = c.run_tool(tool("courierd/courierd"), "-c", str(c.etc), "--status")
    assert status.returncode == 3
    assert "NOT running" in status.stdout and "courier start" in status.stdout
    assert "1 message(s) waiting" in status.stdout


def test_outbound_via_mx_with_dsn_parameters(make_courierd, dns, sink):
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    c.inject(MESSAGE, "x@remote.example", "y@remote.example", notify="SUCCESS,FAILURE")
    c.wait_empty()
    assert len(sink.messages) == 1
    tx = sink.messages[0]
    assert tx["mail_from"] == "sender@example.org"
    assert tx["rcpts"] == ["x@remote.example", "y@remote.example"]  # one transaction
    assert all("NOTIFY=SUCCESS,FAILURE" in l for l in tx["rcpt_lines"])
    assert tx["data"] == MESSAGE.replace(b"\n", b"\r\n")
    assert ("remote.example", "MX") in dns.queries and ("mx.remote.example", "A") in dns.queries
    assert "module=esmtp relay=mx.remote.example [127.0.0.1] status=delivered" in c.log_text()


def test_success_notices_local_and_relayed_without_dsn(make_courierd, mail_system, dns):
    mail_system.add_account("gina@example.test", "secret")
    sink = SmtpSink(capabilities=("8BITMIME",))  # no DSN: we must report "relayed"
    try:
        c = make_courierd(**routes_for(dns, sink))
        c.start()
        c.inject(MESSAGE, "gina@example.test", "x@remote.example", notify="SUCCESS")
        c.wait_empty()
        c.wait_log("success notice")
        time.sleep(0.5)
        assert len(sink.messages) == 2, c.log_text()  # the message, one notice for both
        notices = [m for m in sink.messages if m["mail_from"] == ""]
        assert "NOTIFY" not in sink.messages[0]["rcpt_lines"][0]  # the server does not know DSN
        actions = sorted(l for n in notices for l in n["data"].decode().splitlines() if l.startswith("Action:"))
        assert actions == ["Action: delivered", "Action: relayed"]
        for n in notices:
            report = email.message_from_bytes(n["data"], policy=email.policy.default)
            assert report.get_content_type() == "multipart/report"
            assert "(Success)" in report["Subject"]
    finally:
        sink.close()


def test_implicit_mx_falls_back_to_a_record(make_courierd, dns, sink):
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    c.inject(MESSAGE, "z@nomx.example")
    c.wait_empty()
    assert sink.messages and sink.messages[0]["rcpts"] == ["z@nomx.example"]


def test_8bit_body_is_downgraded_for_a_server_without_8bitmime(make_courierd, dns):
    sink = SmtpSink(capabilities=("PIPELINING",))
    try:
        c = make_courierd(**routes_for(dns, sink))
        c.start()
        c.inject(b"Subject: caf\n\ncaf\xc3\xa9\n", "x@remote.example")
        c.wait_empty()
        data = sink.messages[0]["data"]
        assert b"Content-Transfer-Encoding: quoted-printable" in data and b"caf=C3=A9" in data
        assert max(data) < 128
        assert "BODY=8BITMIME" not in sink.messages[0]["mail_line"]
    finally:
        sink.close()


def test_starttls_and_auth_to_a_smarthost(make_courierd, tmp_path):
    ctx, _ = server_tls(tmp_path / "certs")
    sink = SmtpSink(tls_context=ctx, logins={"relayuser": "relay-secret"})
    try:
        c = make_courierd(settings={"ESMTP_USE_STARTTLS": "1"},
                          control={"esmtproutes": f": [127.0.0.1],{sink.port}\n",
                                   "esmtpauthclient": "[127.0.0.1] relayuser relay-secret\n"})
        c.start()
        c.inject(MESSAGE, "anyone@anywhere.example")
        c.wait_empty()
        assert len(sink.messages) == 1
        assert sink.messages[0]["tls"] is True and sink.messages[0]["auth"] == "relayuser"
        assert sink.messages[0]["data"] == MESSAGE.replace(b"\n", b"\r\n")
        assert "relay-secret" not in c.log_text()
    finally:
        sink.close()


def test_security_required_verifies_the_certificate(make_courierd, public_tmp):
    ctx, certs = server_tls(public_tmp / "certs")  # readable by the mail user
    other = make_certificates(public_tmp / "other")  # a CA that did not sign the server's certificate
    sink = SmtpSink(tls_context=ctx)
    plain = SmtpSink()  # no STARTTLS at all
    try:
        routes = (f"trusted.example: [127.0.0.1],{sink.port} /SECURITY=REQUIRED\n"
                  f"plain.example: [127.0.0.1],{plain.port} /SECURITY=STARTTLS\n")
        c = make_courierd(settings={"TLS_TRUSTCERTS": str(certs["ca"])},
                          control={"esmtproutes": routes, "retryalpha": "1h"})
        c.start()
        c.inject(MESSAGE, "a@trusted.example")
        c.wait_empty()
        assert sink.messages and sink.messages[0]["tls"] is True
        qid = c.inject(MESSAGE, "b@plain.example")
        c.wait_log(f"id={qid} rcpt=<b@plain.example>")
        assert "does not offer STARTTLS, which" in c.log_text() and "esmtproutes:2 (/SECURITY)" in c.log_text()
        assert not plain.messages
        c.stop()
        c.settings["TLS_TRUSTCERTS"] = str(other["ca"])
        c.write_config()
        c.start()
        qid2 = c.inject(MESSAGE, "c@trusted.example")
        c.wait_log(f"id={qid2} rcpt=<c@trusted.example>")
        assert "certificate not trusted" in c.log_text()
        assert len(sink.messages) == 1
    finally:
        sink.close()
        plain.close()


def test_smtps_route(make_courierd, public_tmp):
    ctx, _ = server_tls(public_tmp / "certs")
    sink = SmtpSink(tls_context=ctx, implicit_tls=True, logins={"u": "p"})
    try:
        c = make_courierd(control={"esmtproutes": f": [127.0.0.1],{sink.port} /SECURITY=SMTPS\n",
                                   "esmtpauthclient": "[127.0.0.1] u p\n"})
        c.start()
        c.inject(MESSAGE, "a@anywhere.example")
        c.wait_empty()
        assert sink.messages and sink.messages[0]["tls"] is True and sink.messages[0]["auth"] == "u"
    finally:
        sink.close()


def test_wrong_smarthost_password_defers_and_names_the_file(make_courierd):
    sink = SmtpSink(logins={"relayuser": "right"})
    try:
        c = make_courierd(settings={"ESMTP_USE_STARTTLS": "0"},
                          control={"esmtproutes": f": [127.0.0.1],{sink.port}\n",
                                   "esmtpauthclient": "[127.0.0.1] relayuser wrong\n", "retryalpha": "1h"})
        c.start()
        qid = c.inject(MESSAGE, "anyone@anywhere.example")
        c.wait_log(f"id={qid} rcpt=<anyone@anywhere.example> module=esmtp")
        line = [l for l in c.log_text().splitlines() if f"id={qid} rcpt=" in l][0]
        assert "status=deferred" in line and "authentication as relayuser" in line and "esmtpauthclient" in line
        assert "wrong" not in line
        assert c.qids() == [qid] and not sink.messages
    finally:
        sink.close()


def test_remote_down_then_up_is_retried(make_courierd, dns):
    port = backends.free_port()
    down = {"settings": {"ESMTP_DNS_SERVER": dns.address, "ESMTP_USE_STARTTLS": "0"},
            "control": {"esmtproutes": f"remote.example: ,{port}\n", "esmtptimeoutconnect": "5"}}
    c = make_courierd(**down)
    c.start()
    qid = c.inject(MESSAGE, "x@remote.example")
    c.wait_log(f"id={qid} rcpt=<x@remote.example> module=esmtp")
    assert "status=deferred" in c.log_text() and "cannot connect to mx.remote.example [127.0.0.1]" in c.log_text()
    assert "\nY 0\t" in c.control_text(qid) and "\nX " in c.control_text(qid)
    sink = SmtpSink(port)
    try:
        flush = c.run_tool(tool("courierd/courierd"), "-c", str(c.etc), "--flush", qid)
        assert flush.returncode == 0, flush.stdout
        c.wait_empty()
        assert len(sink.messages) == 1
    finally:
        sink.close()


def test_4xx_is_retried_then_delivered(make_courierd, dns, sink):
    sink.rcpt_replies["grey@remote.example"] = "451 4.7.1 greylisted, try again later"
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    qid = c.inject(MESSAGE, "grey@remote.example")
    c.wait_log(f"id={qid} rcpt=<grey@remote.example> module=esmtp")
    line = [l for l in c.log_text().splitlines() if f"id={qid} rcpt=" in l][0]
    assert "status=deferred" in line and "dsn=4.7.1" in line and "greylisted" in line
    del sink.rcpt_replies["grey@remote.example"]
    c.wait_empty()  # retried after retryalpha (1 s here) without a flush
    assert [m["rcpts"] for m in sink.messages] == [["grey@remote.example"]]
    assert not [m for m in sink.messages if m["mail_from"] == ""]


def test_5xx_gives_a_multipart_report_bounce(make_courierd, dns, sink):
    sink.rcpt_replies["nobody@remote.example"] = "550 5.1.1 <nobody@remote.example>: no such user here"
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    qid = c.inject(MESSAGE, "nobody@remote.example", "ok@remote.example")
    c.wait_empty()
    delivered = [m for m in sink.messages if m["mail_from"] == "sender@example.org"]
    bounces = [m for m in sink.messages if m["mail_from"] == ""]
    assert len(delivered) == 1 and delivered[0]["rcpts"] == ["ok@remote.example"]
    assert len(bounces) == 1 and bounces[0]["rcpts"] == ["sender@example.org"]
    report = email.message_from_bytes(bounces[0]["data"], policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "message/rfc822"]
    status_text = bounces[0]["data"].decode()
    assert "Final-Recipient: rfc822; nobody@remote.example" in status_text
    assert "Action: failed" in status_text and "Status: 5.1.1" in status_text
    assert "550 5.1.1 <nobody@remote.example>: no such user here" in status_text
    assert f"X-Courier-Queue-ID: {qid}" in status_text
    assert "ok@remote.example" not in status_text.split("message/delivery-status")[1].split("message/rfc822")[0]
    assert "Subject: hello" in status_text


def test_bounce_to_a_dead_sender_does_not_loop(make_courierd, dns, sink):
    sink.rcpt_replies["nobody@remote.example"] = "550 5.1.1 no such user"
    sink.rcpt_replies["gone@dead.example"] = "550 5.1.1 sender is gone too"
    c = make_courierd(**routes_for(dns, sink))
    c.start()
    c.inject(MESSAGE, "nobody@remote.example", sender="gone@dead.example")
    c.wait_empty()
    time.sleep(1.5)  # anything looping would show up as new queue entries by now
    assert c.qids() == []
    log = c.log_text()
    assert "notice to <postmaster> queued" in log
    assert "double-bounce notice to the postmaster failed too; dropped" in log
    assert log.count("notice to <") == 2  # one bounce, one double bounce, nothing more


def test_delay_warning_then_expiry_bounce(make_courierd, dns, sink):
    port = backends.free_port()
    cfg = routes_for(dns, sink)
    cfg["control"].update({"esmtproutes": f"remote.example: ,{port}\nexample.org: ,{sink.port}\n",
                           "warntime": "1", "queuetime": "4", "esmtptimeoutconnect": "2"})
    c = make_courierd(**cfg)
    c.start()
    qid = c.inject(MESSAGE, "x@remote.example")
    c.wait_log("delay notice to <sender@example.org> queued")
    c.wait_empty(timeout_s=40)
    notices = [m["data"].decode() for m in sink.messages if m["mail_from"] == ""]
    assert len(notices) == 2
    delay = [n for n in notices if "(Delay)" in n][0]
    failure = [n for n in notices if "(Failure)" in n][0]
    assert "Action: delayed" in delay and "Will-Retry-Until:" in delay and "first line" not in delay
    assert "Action: failed" in failure and "Status: 5.4.7" in failure and "delivery time expired" in failure
    assert f"id={qid} rcpt=<x@remote.example> module=queue relay=- status=failed" in c.log_text()


def test_blockbackscatter_drops_bounces_of_unauthenticated_smtp_mail(make_courierd, dns, sink):
    sink.rcpt_replies["nobody@remote.example"] = "550 5.1.1 no such user"
    base = routes_for(dns, sink)
    c = make_courierd(**merged(base, settings={"ESMTP_BLOCKBACKSCATTER": "smtp/dsn"}))
    c.start()
    c.inject(MESSAGE, "nobody@remote.example", protocol="ESMTP")
    c.inject(MESSAGE, "nobody@remote.example", protocol="ESMTPA")
    c.wait_empty()
    time.sleep(1)
    c.wait_empty()
    assert "not sent (ESMTP_BLOCKBACKSCATTER=smtp/dsn)" in c.log_text()
    assert len([m for m in sink.messages if m["mail_from"] == ""]) == 1  # only the authenticated one


def test_dsntoauthaddr_sends_bounces_to_the_authenticated_user(make_courierd, dns, sink):
    sink.rcpt_replies["nobody@remote.example"] = "550 5.1.1 no such user"
    c = make_courierd(**merged(routes_for(dns, sink), settings={"DSNTOAUTHADDR": "1"}))
    c.start()
    c.inject(MESSAGE, "nobody@remote.example", sender="list-bounces@remote.example",
             protocol="ESMTPSA", auth="owner@example.org")
    c.wait_empty()
    bounces = [m for m in sink.messages if m["mail_from"] == ""]
    assert len(bounces) == 1 and bounces[0]["rcpts"] == ["owner@example.org"]


def test_cancelmsg_fails_pending_recipients_and_bounces(make_courierd, dns, sink):
    port = backends.free_port()
    cfg = routes_for(dns, sink)
    cfg["control"]["esmtproutes"] = f"remote.example: ,{port}\nexample.org: ,{sink.port}\n"
    cfg["control"]["esmtptimeoutconnect"] = "5"
    cfg["control"]["retryalpha"] = "1h"
    c = make_courierd(**cfg)
    c.start()
    qid = c.inject(MESSAGE, "x@remote.example")
    c.wait_log(f"id={qid} rcpt=<x@remote.example> module=esmtp")
    out = c.run_tool(tool("courierd/cancelmsg"), qid, "spam run, removed by the admin")
    assert out.returncode == 0 and "1 recipient(s) cancelled" in out.stdout
    c.wait_empty()
    bounces = [m for m in sink.messages if m["mail_from"] == ""]
    assert len(bounces) == 1 and b"spam run, removed by the admin" in bounces[0]["data"]


def test_kill9_mid_delivery_loses_nothing(make_courierd, mail_system, public_tmp):
    mail_system.add_account("frank@example.test", "secret")
    script, out = delivery_script(public_tmp, "slow.sh", lambda out: f"cat > {out}/msg.$$\nsleep 2\nexit 0\n")
    c = make_courierd(settings={"DEFAULTDELIVERY": f"| {script}"})
    c.start()
    qids = [c.inject(MESSAGE + str(i).encode() + b"\n", "frank@example.test") for i in range(3)]
    backends.poll_until(lambda: any(out.iterdir()), what="a delivery in progress", timeout_s=30)
    c.kill9()
    for qid in c.qids():  # every control file still reads
        assert c.control_text(qid).startswith("V 1\n")
    time.sleep(2.5)
    c.start()
    c.wait_empty()
    delivered = {p.read_bytes() for p in out.iterdir()}
    for i in range(3):
        assert MESSAGE + str(i).encode() + b"\n" in delivered  # none lost (one may repeat)
    assert len(qids) == 3


def start_script(c: Courierd, folder: Path):
    """sbin/courier made from courier.rc.in for this courierd; returns a runner."""
    script = folder / "courier"
    text = (SRC / "courierd" / "courier.rc.in").read_text()
    for key, value in {"@sysconfdir@": str(c.etc), "@localstatedir@": str(c.root / "var"),
                       "@sbindir@": str(Path(tool("courierd/courierd")).parent)}.items():
        text = text.replace(key, value)
    script.write_text(text)
    script.chmod(0o755)

    def run(*args):
        return subprocess.run([str(script), *args], env=c.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
    return run


def test_start_script_start_status_flush_stop(make_courierd, tmp_path):
    c = make_courierd()
    run = start_script(c, tmp_path)
    started = run("start")
    assert started.returncode == 0 and "courierd started" in started.stdout, started.stdout
    assert run("status").returncode == 0
    again = run("start")
    assert "already running" in again.stdout
    assert run("flush").returncode == 0
    stopped = run("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    st = run("status")
    assert st.returncode == 3 and "NOT running" in st.stdout


def test_start_script_says_at_once_that_the_delivery_program_is_missing(make_courierd, tmp_path):
    c = make_courierd(settings={"DEFAULTDELIVERY": "| /usr/lib/no-such/maildrop -d x"})
    del c.settings["LOGFILE"]
    c.write_config()
    run = start_script(c, tmp_path)
    started = run("start")
    try:
        assert started.returncode == 0, started.stdout
        assert "/usr/lib/no-such/maildrop, which cannot be executed" in started.stdout
        assert f"{c.root}/var/log/courierd.log" in started.stdout  # where the log goes, said at start
        backends.poll_until(lambda: "no-such/maildrop" in (c.root / "var/log/courierd.log").read_text(),
                            what="the error in courierd's log", timeout_s=30)
    finally:
        run("stop")


def test_housekeeping_of_leftovers_and_corrupt_control_files(make_courierd):
    c = make_courierd()
    c.start()  # creates the layout
    c.stop()
    msgs, tmp = c.queue / "msgs", c.queue / "tmp"
    old = time.time() - 40 * 3600
    (msgs / "06b000000.1.0.aaaa.data").write_bytes(b"uncommitted")  # no .ctl: a leftover
    os.utime(msgs / "06b000000.1.0.aaaa.data", (old, old))
    (msgs / "06b000000.1.1.bbbb.data").write_bytes(b"young leftover")  # kept for now
    (tmp / "06b000000.1.2.cccc.ctl.tmp").write_bytes(b"V 1\n")
    os.utime(tmp / "06b000000.1.2.cccc.ctl.tmp", (old, old))
    (msgs / "06b000000.1.3.dddd.ctl").write_text("V 1\n")  # control file without its message
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        for p in [*msgs.iterdir(), *tmp.iterdir()]:
            os.chown(p, pw.pw_uid, pw.pw_gid)
    c.start()
    c.wait_log("moved aside to")
    c.wait_log("left over from an interrupted submission")
    assert not (msgs / "06b000000.1.0.aaaa.data").exists()
    assert (msgs / "06b000000.1.1.bbbb.data").exists()
    assert not (tmp / "06b000000.1.2.cccc.ctl.tmp").exists()
    assert (msgs / "06b000000.1.3.dddd.ctl.corrupt").exists() and c.qids() == []
