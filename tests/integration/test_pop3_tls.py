"""POP3 with TLS and through the start scripts: STLS (RFC 2595) and POP3 over
TLS through the real couriertls, POP3_TLS_REQUIRED, SASL EXTERNAL with a
client certificate, and sbin/pop3d, sbin/pop3d-ssl start|status|stop running
the real couriertcpd. Each test skips, saying why, while couriertls or
couriertcpd is not built."""
from __future__ import annotations

import base64
import os
import poplib
import socket
import subprocess
from pathlib import Path

import pytest

import backends
from pop3_support import (Pop3Launcher, RawClient, StartScriptPrefix, client_tls_context, deliver,
                          make_certificates, optional_tool, tls_env)


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "wonder land")


@pytest.fixture
def certs(public_tmp):
    return make_certificates(Path(public_tmp) / "certs", client_email="alice@example.test")


@pytest.fixture
def launchers():
    made = []
    yield made
    for launcher in made:
        launcher.close()


def test_stls_then_login(mail_system, public_tmp, alice, certs, launchers):
    env = dict(tls_env(certs), POP3_STARTTLS="YES", POP3_TLS_REQUIRED="1")
    pop3 = Pop3Launcher(mail_system, Path(public_tmp) / "stls.log", env)
    launchers.append(pop3)
    deliver(alice, b"Subject: tls\n\nover tls\n")
    client = poplib.POP3("127.0.0.1", pop3.port, timeout=60)
    capa = client.capa()
    assert "STLS" in capa and "USER" not in capa and "SASL" not in capa
    with pytest.raises(poplib.error_proto, match="TLS required"):
        client.user(alice.address)
    client.stls(client_tls_context(certs["ca"]))
    capa = client.capa()
    assert "STLS" not in capa and "USER" in capa
    client.user(alice.address)
    client.pass_(alice.password)
    assert client.retr(1)[1] == [b"Subject: tls", b"", b"over tls"]
    client.quit()
    pop3.wait_idle()
    assert "LOGIN, user=alice@example.test" in pop3.log_text()
    assert "stls=1" in pop3.log_text()


def test_stls_drops_commands_sent_before_the_handshake(mail_system, public_tmp, alice, certs, launchers):
    pop3 = Pop3Launcher(mail_system, Path(public_tmp) / "inject.log", dict(tls_env(certs), POP3_STARTTLS="YES"))
    launchers.append(pop3)
    raw = RawClient(pop3.port)
    assert raw.line().startswith(b"+OK")
    raw.send(b"STLS\r\nUSER alice@example.test\r\n")  # CVE-2011-0411 style injection
    assert raw.line() == b"+OK Begin SSL/TLS negotiation now."
    tls = client_tls_context(certs["ca"]).wrap_socket(raw.sock, server_hostname="localhost")
    tls.sendall(b"PASS wonder land\r\n")
    assert tls.recv(4096).startswith(b"-ERR USER first")
    tls.close()


def test_pop3_over_tls_with_couriertls(mail_system, public_tmp, alice, certs, launchers):
    couriertls = optional_tool("tls/couriertls", "POP3 over TLS cannot be tested")
    env = dict(tls_env(certs), POP3_TLS="1", POP3_STARTTLS="NO")
    pop3 = Pop3Launcher(mail_system, Path(public_tmp) / "pop3s.log", env, wrapper=[couriertls, "-server", "-tcpd"])
    launchers.append(pop3)
    deliver(alice, b"Subject: s\n\nimplicit tls\n")
    client = poplib.POP3_SSL("127.0.0.1", pop3.port, context=client_tls_context(certs["ca"]), timeout=60)
    assert "STLS" not in client.capa()
    client.user(alice.address)
    client.pass_(alice.password)
    assert client.retr(1)[1][-1] == b"implicit tls"
    client.quit()


def test_external_login_with_a_client_certificate(mail_system, public_tmp, alice, certs, launchers):
    couriertls = optional_tool("tls/couriertls", "SASL EXTERNAL cannot be tested")
    env = dict(tls_env(certs), POP3_TLS="1", POP3_STARTTLS="NO", TLS_TRUSTCERTS=str(certs["ca"]),
               TLS_VERIFYPEER="PEER", TLS_EXTERNAL="emailaddress")
    pop3 = Pop3Launcher(mail_system, Path(public_tmp) / "external.log", env, wrapper=[couriertls, "-server", "-tcpd"])
    launchers.append(pop3)
    ctx = client_tls_context(certs["ca"], certs["client_crt"], certs["client_key"])
    with socket.create_connection(("127.0.0.1", pop3.port), timeout=60) as plain:
        with ctx.wrap_socket(plain, server_hostname="localhost") as tls:
            f = tls.makefile("rwb")
            assert f.readline().startswith(b"+OK")
            f.write(b"CAPA\r\n")
            f.flush()
            capa = []
            while (line := f.readline().rstrip(b"\r\n")) != b".":
                capa.append(line)
            assert any(c.startswith(b"SASL") and c.endswith(b"EXTERNAL") for c in capa), capa
            f.write(b"AUTH EXTERNAL " + base64.b64encode(b"alice@example.test") + b"\r\nQUIT\r\n")
            f.flush()
            assert f.readline() == b"+OK logged in.\r\n"
            assert f.readline().startswith(b"+OK")
    # Without a certificate, EXTERNAL is not offered.
    plain_ctx = client_tls_context(certs["ca"])
    with socket.create_connection(("127.0.0.1", pop3.port), timeout=60) as plain:
        with plain_ctx.wrap_socket(plain, server_hostname="localhost") as tls:
            f = tls.makefile("rwb")
            f.readline()
            f.write(b"AUTH EXTERNAL =\r\n")
            f.flush()
            assert f.readline().startswith(b"-ERR Unsupported")


@pytest.fixture
def prefix(mail_system, public_tmp, certs):
    root = Path(public_tmp) / "install"
    port, sslport = backends.free_port(), backends.free_port()
    log = root / "var" / "log" / "pop3d.log"
    p = StartScriptPrefix(
        root,
        {"PORT": str(port), "ADDRESS": "127.0.0.1", "LOGFILE": str(log), "MAXPERIP": "50",
         "POP3_FAILED_LOGIN_DELAY": "0", "AUTHDAEMON_SOCKET": str(mail_system.socket)},
        {"SSLPORT": str(sslport), "SSLADDRESS": "127.0.0.1", "TLS_CERTFILE": str(certs["server_pem"]),
         "SSLLOGFILE": str(root / "var" / "log" / "pop3d-ssl.log")})
    p.port, p.sslport, p.log = port, sslport, log
    yield p
    p.stop_all()


def test_start_script_runs_couriertcpd(prefix, alice):
    status = prefix.run("pop3d", "status")
    assert status.returncode == 3, status.stdout
    started = prefix.run("pop3d", "start")
    assert started.returncode == 0, started.stdout
    assert "started" in started.stdout
    assert prefix.run("pop3d", "status").returncode == 0
    assert prefix.run("pop3d", "start").returncode == 0  # already running: fine
    deliver(alice, b"Subject: rc\n\nvia couriertcpd\n")
    client = poplib.POP3("127.0.0.1", prefix.port, timeout=60)
    client.user(alice.address)
    client.pass_(alice.password)
    assert client.retr(1)[1][-1] == b"via couriertcpd"
    client.quit()
    stopped = prefix.run("pop3d", "stop")
    assert stopped.returncode == 0, stopped.stdout
    assert prefix.run("pop3d", "status").returncode == 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", prefix.port), timeout=5).close()
    backends.poll_until(lambda: "LOGOUT, user=alice@example.test" in prefix.log.read_text(errors="replace"),
                        what="the session's log line", timeout_s=30)


def test_ssl_start_script(prefix, alice, certs):
    optional_tool("tls/couriertls", "pop3d-ssl runs couriertls")
    started = prefix.run("pop3d-ssl", "start")
    assert started.returncode == 0, started.stdout
    client = poplib.POP3_SSL("127.0.0.1", prefix.sslport, context=client_tls_context(certs["ca"]), timeout=60)
    client.user(alice.address)
    client.pass_(alice.password)
    assert client.stat() == (0, 0)
    client.quit()
    assert prefix.run("pop3d-ssl", "stop").returncode == 0
    assert prefix.run("pop3d-ssl", "status").returncode == 3


def test_start_script_stls(prefix, alice, certs):
    optional_tool("tls/couriertls", "STLS runs couriertls")
    assert prefix.run("pop3d", "start").returncode == 0
    client = poplib.POP3("127.0.0.1", prefix.port, timeout=60)
    assert "STLS" in client.capa()
    client.stls(client_tls_context(certs["ca"]))
    client.user(alice.address)
    client.pass_(alice.password)
    client.quit()


def test_start_script_refuses_a_broken_configuration(prefix):
    conf = prefix.etc / "pop3d"
    conf.write_text(conf.read_text() + "POP3_IDEL_TIMEOUT=5\nPOP3_PROXY=1\n")
    warned = prefix.run("pop3d", "start")
    assert warned.returncode == 0, warned.stdout
    assert "POP3_IDEL_TIMEOUT" in warned.stdout and "POP3_PROXY is not supported" in warned.stdout
    prefix.run("pop3d", "stop")
    conf.write_text(conf.read_text() + "MAXDAEMONS=`id`\n")
    broken = prefix.run("pop3d", "start")
    assert broken.returncode != 0
    assert "pop3d" in broken.stdout and "not started" in broken.stdout


def test_start_switch_and_missing_certificate(prefix):
    conf = prefix.etc / "pop3d"
    conf.write_text(conf.read_text() + "POP3DSTART=NO\n")
    off = prefix.run("pop3d", "start")
    assert off.returncode == 0 and "not started" in off.stdout
    assert prefix.run("pop3d", "status").returncode == 3
    ssl_conf = prefix.etc / "pop3d-ssl"
    ssl_conf.write_text(ssl_conf.read_text() + f"TLS_CERTFILE={prefix.root}/missing.pem\n")
    nocert = prefix.run("pop3d-ssl", "start")
    assert nocert.returncode != 0
    assert "mkpop3dcert" in nocert.stdout


def test_a_stale_pid_file_is_not_taken_for_the_daemon(prefix):
    # The pid of a process that is not couriertcpd (this test run itself).
    (prefix.var / "run").mkdir(exist_ok=True)
    (prefix.var / "run" / "pop3d.pid").write_text(f"{os.getpid()}\n")
    status = prefix.run("pop3d", "status")
    assert status.returncode == 3, status.stdout
    stopped = prefix.run("pop3d", "stop")
    assert stopped.returncode == 0 and "not running" in stopped.stdout
    started = prefix.run("pop3d", "start")
    assert started.returncode == 0, started.stdout
    assert prefix.run("pop3d", "status").returncode == 0
