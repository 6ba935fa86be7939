"""The imapd and imapd-ssl start scripts with couriertcpd and couriertls, as
./run uses them: a sandbox layout (sbin, libexec, etc, var) built from the
build tree, `imapd start|status|stop`, login through couriertcpd, STARTTLS
and IMAPS with Python's ssl module, and LOGINDISABLED until TLS."""
from __future__ import annotations

import imaplib
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

import backends
from suite import BUILD, MAIL_USER, SRC, tool

pytestmark = pytest.mark.skipif(not (BUILD / "tcpd" / "couriertcpd").exists(),
                                reason=f"{BUILD}/tcpd/couriertcpd is not built yet (tcpd part missing)")


def make_sandbox(root: Path, mail_system, **settings: str) -> dict:
    """A sandbox as `make install` lays it out, with our config files."""
    d = {k: root / k for k in ("sbin", "bin", "libexec", "etc", "var")}
    for p in d.values():
        p.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for p in d.values():
        os.chmod(p, 0o755)
    for prog, where in (("tcpd/couriertcpd", "sbin"), ("imapd/imaplogin", "libexec"), ("imapd/imapd", "libexec"),
                        ("tls/couriertls", "bin")):
        src = Path(tool(prog))
        shutil.copy(src, d[where] / src.name)
    for name, ssl_flag, start in (("imapd", "0", "IMAPDSTART"), ("imapd-ssl", "1", "IMAPDSSLSTART")):
        text = (SRC / "imapd" / "imapd.rc.in").read_text()
        for k, v in {"@NAME@": name, "@SSL@": ssl_flag, "@STARTVAR@": start, "@DESCRIPTION@": name,
                     "@sbindir@": str(d["sbin"]), "@bindir@": str(d["bin"]), "@sysconfdir@": str(d["etc"]),
                     "@localstatedir@": str(d["var"]), "@pkglibexecdir@": str(d["libexec"]),
                     "@MAILUSER@": MAIL_USER}.items():
            text = text.replace(k, v)
        (d["sbin"] / name).write_text(text)
        os.chmod(d["sbin"] / name, 0o755)
    port, sslport = backends.free_port(), backends.free_port()
    log = d["var"] / "log" / "imapd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    conf = (SRC / "sysconfdir" / "imapd").read_text()
    conf += f"\nADDRESS=127.0.0.1\nPORT={port}\nLOGFILE={log}\nIMAP_BAD_LOGIN_DELAY=0\n"
    conf += f"AUTHDAEMON_SOCKET={mail_system.socket}\n"
    for k, v in settings.items():
        conf += f"{k}={v}\n"
    (d["etc"] / "imapd").write_text(conf)
    cert = d["etc"] / "imapd.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(cert), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ssl_conf = (SRC / "sysconfdir" / "imapd-ssl").read_text()
    ssl_conf += f"\nSSLADDRESS=127.0.0.1\nSSLPORT={sslport}\nTLS_DHPARAMS=\n"
    (d["etc"] / "imapd-ssl").write_text(ssl_conf)
    return dict(d, port=port, sslport=sslport, log=log)


def run(script: Path, action: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), action], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=60)


@pytest.fixture
def sandbox(mail_system, public_tmp):
    sb = make_sandbox(Path(public_tmp) / "sb", mail_system)
    yield sb
    for name in ("imapd", "imapd-ssl"):
        run(sb["sbin"] / name, "stop")


def test_start_status_stop_and_login(sandbox, mail_system):
    alice = mail_system.add_account("alice@example.test", "pw1")
    imapd = sandbox["sbin"] / "imapd"
    assert run(imapd, "status").returncode == 3
    r = run(imapd, "start")
    assert r.returncode == 0, r.stdout
    assert run(imapd, "status").returncode == 0
    backends.wait_for_socket(("127.0.0.1", sandbox["port"]))
    m = imaplib.IMAP4("127.0.0.1", sandbox["port"], timeout=30)
    assert b"STARTTLS" in m.welcome
    m.login(alice.address, alice.password)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    assert run(imapd, "stop").returncode == 0
    assert run(imapd, "status").returncode == 3
    assert "LOGIN, user=alice@example.test" in sandbox["log"].read_text()


def test_starttls_and_imaps(sandbox, mail_system):
    alice = mail_system.add_account("alice@example.test", "pw1")
    assert run(sandbox["sbin"] / "imapd", "start").returncode == 0
    r = run(sandbox["sbin"] / "imapd-ssl", "start")
    assert r.returncode == 0, r.stdout
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    backends.wait_for_socket(("127.0.0.1", sandbox["port"]))
    m = imaplib.IMAP4("127.0.0.1", sandbox["port"], timeout=30)
    assert m.starttls(ssl_context=ctx)[0] == "OK"
    typ, caps = m.capability()
    assert b"STARTTLS" not in caps[0]
    m.login(alice.address, alice.password)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    backends.wait_for_socket(("127.0.0.1", sandbox["sslport"]))
    s = imaplib.IMAP4_SSL("127.0.0.1", sandbox["sslport"], ssl_context=ctx, timeout=30)
    assert b"STARTTLS" not in s.welcome
    s.login(alice.address, alice.password)
    assert s.select("INBOX")[0] == "OK"
    s.logout()


def test_tls_required(mail_system, public_tmp):
    sb = make_sandbox(Path(public_tmp) / "sb2", mail_system)
    with open(sb["etc"] / "imapd-ssl", "a") as f:
        f.write("IMAP_TLS_REQUIRED=1\n")
    alice = mail_system.add_account("alice@example.test", "pw1")
    try:
        assert run(sb["sbin"] / "imapd", "start").returncode == 0
        backends.wait_for_socket(("127.0.0.1", sb["port"]))
        m = imaplib.IMAP4("127.0.0.1", sb["port"], timeout=30)
        assert b"LOGINDISABLED" in m.welcome
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            m.login(alice.address, alice.password)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m.starttls(ssl_context=ctx)
        assert b"LOGINDISABLED" not in m.capability()[1][0]
        assert m.login(alice.address, alice.password)[0] == "OK"
        m.logout()
    finally:
        run(sb["sbin"] / "imapd", "stop")


def test_check_config_reports_typos(sandbox):
    with open(sandbox["etc"] / "imapd", "a") as f:
        f.write("IMAP_IDEL_TIMEOUT=5\n")
    r = subprocess.run([str(sandbox["libexec"] / "imaplogin"), "--check-config", str(sandbox["etc"] / "imapd"),
                        str(sandbox["etc"] / "imapd-ssl")], stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0
    assert "IMAP_IDEL_TIMEOUT" in r.stderr and "IMAP_IDLE_TIMEOUT" in r.stderr
