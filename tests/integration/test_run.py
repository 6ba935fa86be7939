"""./run: the sandbox comes up with the installed layout and stops cleanly."""
import os
import subprocess

import pytest

SRC = os.environ.get("SUITE_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("SUITE_BUILD", os.path.join(SRC, "build"))


def run(*args, sandbox, timeout=900):
    env = dict(os.environ, SANDBOX=sandbox, SUITE_BUILD=BUILD, PORT_BASE="21000")
    return subprocess.run([os.path.join(SRC, "run"), *args], env=env, cwd=SRC, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def sandbox():
    # The build ./check made is configured for this sandbox, so ./run reuses it.
    path = os.path.join(BUILD, "sandbox")
    result = run("--detach", sandbox=path)
    assert result.returncode == 0, result.stdout
    yield path, result.stdout
    run("stop", sandbox=path)


def test_detach_installs_the_layout(sandbox):
    path, output = sandbox
    for sub in ("bin", "sbin", "libexec", "etc", "var/log"):
        assert os.path.isdir(os.path.join(path, sub)), sub
    assert "127.0.0.1:21143" in output  # IMAP on PORT_BASE+143
    assert "running in the background" in output


def test_unknown_argument_is_refused(tmp_path):
    result = run("--frobnicate", sandbox=str(tmp_path / "sb"))
    assert result.returncode != 0
    assert "usage" in result.stdout


def test_stop_without_sandbox_says_so(tmp_path):
    result = run("stop", sandbox=str(tmp_path / "missing"))
    assert result.returncode != 0
    assert "no sandbox" in result.stdout


def test_authdaemond_runs_with_the_demo_account(sandbox):
    path, output = sandbox
    assert "started authdaemond" in output
    authtest = os.path.join(path, "sbin", "authtest")
    ok = subprocess.run([authtest, "-s", "imap", "demo@example.test", "demo"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert os.path.join(path, "home", "demo") in ok.stdout
    bad = subprocess.run([authtest, "-s", "imap", "demo@example.test", "nope"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert bad.returncode == 1
    log = open(os.path.join(path, "var", "log", "authdaemond.log")).read()
    assert "demo@example.test" in log and "nope" not in log


def test_imap_and_pop3_serve_the_demo_account(sandbox):
    """The whole chain ./run starts: couriertcpd -> (couriertls) -> imaplogin/pop3login
    -> authdaemond -> imapd/pop3d on the demo Maildir, with Python's clients."""
    import imaplib
    import poplib
    import ssl

    path, output = sandbox
    if "started imapd" not in output:
        pytest.skip("imapd is not built")
    imap = imaplib.IMAP4("127.0.0.1", 21143)
    try:
        imap.login("demo@example.test", "demo")
        typ, data = imap.select("INBOX")
        assert typ == "OK", data
        imap.append("INBOX", None, None, b"Subject: via run\r\n\r\nhello\r\n")
        typ, data = imap.search(None, "SUBJECT", '"via run"')
        assert typ == "OK" and data[0].split(), data
    finally:
        imap.logout()

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    imaps = imaplib.IMAP4_SSL("127.0.0.1", 21993, ssl_context=context)
    try:
        imaps.login("demo@example.test", "demo")
        assert imaps.select("INBOX")[0] == "OK"
    finally:
        imaps.logout()

    pop = poplib.POP3("127.0.0.1", 21110, timeout=30)
    try:
        pop.user("demo@example.test")
        pop.pass_("demo")
        count, _ = pop.stat()
        assert count >= 1
        assert b"hello" in b"\n".join(pop.retr(count)[1])
    finally:
        pop.quit()
    with pytest.raises(poplib.error_proto):
        bad = poplib.POP3("127.0.0.1", 21110, timeout=30)
        bad.user("demo@example.test")
        bad.pass_("wrong")


def test_status_shows_every_service_running(sandbox):
    path, output = sandbox
    status = run("status", sandbox=path).stdout
    for service in ("authdaemond", "courier", "esmtpd", "esmtpd-ssl", "esmtpd-msa",
                    "imapd", "imapd-ssl", "pop3d", "pop3d-ssl"):
        if f"started {service}\n" in output:
            assert f"run: {service}: running" in status, status


def test_mail_sent_to_demo_on_25_is_read_on_143_and_110(sandbox):
    """The delivery half ./run starts: smtplib -> esmtpd (+25) -> queue -> courierd ->
    maildrop -> the demo Maildir -> imapd (+143) and pop3d (+110), byte for byte."""
    import imaplib
    import poplib
    import smtplib
    import time

    path, output = sandbox
    for service in ("courier", "esmtpd", "imapd", "pop3d"):
        if f"started {service}\n" not in output:
            pytest.skip(f"{service} is not built")
    subject = f"through the whole chain {time.time()}"
    sent = (f"From: Someone <someone@example.org>\r\nTo: demo@example.test\r\nSubject: {subject}\r\n"
            f"\r\nline one\r\n.leading dot\r\n").encode()
    with smtplib.SMTP("127.0.0.1", 21025, timeout=30) as smtp:
        assert smtp.sendmail("someone@example.org", ["demo@example.test"], sent) == {}
    new = os.path.join(path, "home", "demo", "Maildir", "new")
    deadline = time.time() + 60
    stored = None
    while stored is None:
        for name in os.listdir(new):
            data = open(os.path.join(new, name), "rb").read()
            if subject.encode() in data:
                stored = data
        if stored is None:
            assert time.time() < deadline, open(os.path.join(path, "var", "log", "courierd.log")).read()[-3000:]
            time.sleep(0.1)
    assert stored.startswith(b"Return-Path: <someone@example.org>\nDelivered-To: demo@example.test\n"), stored
    assert stored.endswith(sent.replace(b"\r\n", b"\n"))
    assert "delivered" in open(os.path.join(path, "var", "log", "courierd.log")).read()

    imap = imaplib.IMAP4("127.0.0.1", 21143)
    try:
        imap.login("demo@example.test", "demo")
        imap.select("INBOX")
        typ, data = imap.search(None, "SUBJECT", f'"{subject}"')
        assert typ == "OK" and len(data[0].split()) == 1, data
        typ, data = imap.fetch(data[0].split()[0], "(BODY.PEEK[])")
        assert data[0][1] == stored.replace(b"\n", b"\r\n")
    finally:
        imap.logout()

    pop = poplib.POP3("127.0.0.1", 21110, timeout=30)
    try:
        pop.user("demo@example.test")
        pop.pass_("demo")
        found = [b"\n".join(pop.retr(i)[1]) + b"\n" for i in range(1, pop.stat()[0] + 1)]
    finally:
        pop.quit()
    assert stored in found


def test_esmtpd_instances_accept_mail_for_demo(sandbox):
    import glob
    import smtplib
    import ssl
    path, output = sandbox
    for name in ("esmtpd", "esmtpd-ssl", "esmtpd-msa"):
        assert f"started {name}" in output, output
    msg = b"Subject: run test\r\n\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", 21025, timeout=30) as c:
        c.ehlo("client.example")
        c.starttls(context=ssl._create_unverified_context())
        c.ehlo("client.example")
        assert c.sendmail("someone@remote.example", ["demo@example.test"], msg) == {}
    ctx = ssl._create_unverified_context()
    with smtplib.SMTP_SSL("127.0.0.1", 21465, timeout=30, context=ctx) as c:
        assert c.sendmail("someone@remote.example", ["demo@example.test"], msg) == {}
    with smtplib.SMTP("127.0.0.1", 21587, timeout=30) as c:
        c.ehlo("client.example")
        c.starttls(context=ssl._create_unverified_context())
        c.ehlo("client.example")
        c.login("demo@example.test", "demo")
        assert c.sendmail("demo@example.test", ["demo@example.test"], msg) == {}
    if "started courier\n" in output:
        # courierd delivers them: three copies reach the demo Maildir.
        import time
        new = os.path.join(path, "home", "demo", "Maildir", "new")
        deadline = time.time() + 60
        while sum(b"Subject: run test" in open(os.path.join(new, n), "rb").read() for n in os.listdir(new)) < 3:
            assert time.time() < deadline, "the three messages were not delivered"
            time.sleep(0.1)
        return
    queued = glob.glob(os.path.join(path, "var", "spool", "courier", "msgs", "*.ctl"))
    assert len(queued) >= 3
    mailq = subprocess.run([os.path.join(path, "bin", "mailq"), "-batch"], capture_output=True, text=True,
                           env=dict(os.environ, COURIER_QUEUEDIR=os.path.join(path, "var", "spool", "courier")),
                           timeout=60)
    assert "demo@example.test" in mailq.stdout


def test_stop_then_status(sandbox):
    path, _ = sandbox
    result = run("stop", sandbox=path)
    assert result.returncode == 0, result.stdout
    assert "stopped" in result.stdout
    assert "running" not in run("status", sandbox=path).stdout.replace("running in", "")
