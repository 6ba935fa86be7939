"""What an admin sees from the start scripts (issue 9): a clean `imapd start`,
`imapd-ssl start` and `pop3d start` print no warnings and say where the log
goes; a weak DH parameter file stops imapd-ssl and pop3d-ssl at start with
the file and mkdhparams; without LOGFILE and without /dev/log a failed login
is written to standard error; the MAXPERIP refusal names MAXPERIP."""
from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import backends
from pop3_support import StartScriptPrefix, make_certificates
from suite import BUILD
from test_imap_startscript import make_sandbox, run

pytestmark = pytest.mark.skipif(not (BUILD / "tcpd" / "couriertcpd").exists()
                                or not (BUILD / "tls" / "couriertls").exists(),
                                reason="couriertcpd and couriertls are not built")


def weak_dh_file(path: Path) -> Path:
    """1024-bit DH parameters (X9.42 form: made at once), below TLS_MIN_DH_BITS."""
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DHX", "-pkeyopt", "dh_paramgen_prime_len:1024",
                    "-pkeyopt", "dh_paramgen_subprime_len:160", "-out", str(path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert "PARAMETERS" in path.read_text()
    return path


@pytest.fixture
def imap_sb(mail_system, public_tmp):
    sb = make_sandbox(Path(public_tmp) / "sb", mail_system)
    # A certificate that does not expire soon: couriertls -check would rightly warn.
    cert = sb["etc"] / "imapd.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj",
                    "/CN=localhost", "-keyout", str(cert), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield sb
    for name in ("imapd", "imapd-ssl"):
        run(sb["sbin"] / name, "stop")


def test_clean_imap_start_prints_no_warning_and_names_the_log(imap_sb):
    r = run(imap_sb["sbin"] / "imapd", "start")
    assert r.returncode == 0, r.stdout
    assert "WARN" not in r.stdout and "is not set" not in r.stdout, r.stdout
    assert f"log: {imap_sb['log']}" in r.stdout, r.stdout
    s = run(imap_sb["sbin"] / "imapd-ssl", "start")
    assert s.returncode == 0, s.stdout
    assert "WARN" not in s.stdout and "is not set" not in s.stdout, s.stdout
    assert "log: " in s.stdout, s.stdout


def test_weak_dh_parameters_stop_imapd_ssl_at_start(imap_sb):
    dh = weak_dh_file(imap_sb["etc"] / "dhparams.pem")
    with open(imap_sb["etc"] / "imapd-ssl", "a") as f:
        f.write(f"TLS_DHPARAMS={dh}\n")
    r = run(imap_sb["sbin"] / "imapd-ssl", "start")
    assert r.returncode == 1, r.stdout
    assert str(dh) in r.stdout and "mkdhparams" in r.stdout and "1024 bits" in r.stdout, r.stdout
    assert run(imap_sb["sbin"] / "imapd-ssl", "status").returncode == 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", imap_sb["sslport"]), timeout=5).close()


@pytest.mark.skipif(os.path.exists("/dev/log"), reason="this host has a syslog socket: lines go to syslog")
def test_without_logfile_and_syslog_a_failed_login_goes_to_stderr(mail_system, public_tmp):
    sb = make_sandbox(Path(public_tmp) / "nolog", mail_system, LOGFILE="")
    out = Path(public_tmp) / "start.out"
    try:
        with open(out, "w") as f:
            r = subprocess.run([str(sb["sbin"] / "imapd"), "start"], stdout=f, stderr=subprocess.STDOUT,
                               timeout=60)
        assert r.returncode == 0, out.read_text()
        assert "log: standard error (no LOGFILE and no syslog socket /dev/log)" in out.read_text()
        backends.wait_for_socket(("127.0.0.1", sb["port"]))
        m = imaplib.IMAP4("127.0.0.1", sb["port"], timeout=30)
        with pytest.raises(imaplib.IMAP4.error):
            m.login("nobody@example.test", "wrong")
        m.logout()
        backends.poll_until(lambda: "LOGIN FAILED" in out.read_text(errors="replace"),
                            what="the failed login on the start script's standard error", timeout_s=30)
    finally:
        run(sb["sbin"] / "imapd", "stop")


def test_maxperip_refusal_names_maxperip(mail_system, public_tmp):
    sb = make_sandbox(Path(public_tmp) / "perip", mail_system, MAXPERIP="1")
    try:
        # `imapd start` returns once couriertcpd listens; no probe connection
        # (it would count against the limit of one).
        assert run(sb["sbin"] / "imapd", "start").returncode == 0
        first = imaplib.IMAP4("127.0.0.1", sb["port"], timeout=30)  # holds the one allowed connection
        second = socket.create_connection(("127.0.0.1", sb["port"]), timeout=30)
        second.settimeout(30)
        assert second.recv(100) == b""  # closed without a greeting
        second.close()
        first.logout()
        backends.poll_until(lambda: "MAXPERIP" in sb["log"].read_text(errors="replace"),
                            what="the MAXPERIP refusal in the log", timeout_s=30)
        line = next(l for l in sb["log"].read_text().splitlines() if "maximum connection limit" in l)
        assert "MAXCPERIP" not in line, line
    finally:
        run(sb["sbin"] / "imapd", "stop")


@pytest.fixture
def pop3_prefix(mail_system, public_tmp):
    root = Path(public_tmp) / "install"
    certs = make_certificates(Path(public_tmp) / "certs")
    port, sslport = backends.free_port(), backends.free_port()
    p = StartScriptPrefix(
        root,
        {"PORT": str(port), "ADDRESS": "127.0.0.1", "LOGFILE": str(root / "var" / "log" / "pop3d.log"),
         "AUTHDAEMON_SOCKET": str(mail_system.socket)},
        {"SSLPORT": str(sslport), "SSLADDRESS": "127.0.0.1", "TLS_CERTFILE": str(certs["server_pem"]),
         "COURIERTLS": str(root / "bin" / "couriertls")})
    yield p
    p.stop_all()


def test_clean_pop3_start_and_weak_dh_refusal(pop3_prefix):
    r = pop3_prefix.run("pop3d", "start")
    assert r.returncode == 0, r.stdout
    assert "WARN" not in r.stdout and "is not set" not in r.stdout, r.stdout
    assert "log: " + str(pop3_prefix.var / "log" / "pop3d.log") in r.stdout, r.stdout
    dh = weak_dh_file(pop3_prefix.etc / "weak-dh.pem")
    with open(pop3_prefix.etc / "pop3d-ssl", "a") as f:
        f.write(f"TLS_DHPARAMS={dh}\n")
    s = pop3_prefix.run("pop3d-ssl", "start")
    assert s.returncode == 1, s.stdout
    assert str(dh) in s.stdout and "mkdhparams" in s.stdout, s.stdout
    assert pop3_prefix.run("pop3d-ssl", "status").returncode == 3
