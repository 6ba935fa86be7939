"""esmtpd with TLS: STARTTLS (and the plaintext-injection probe) and the
esmtpd-ssl arrangement (couriertls -server -tcpd in front of esmtpd)."""
from __future__ import annotations

import grp
import os
import smtplib
import ssl
from pathlib import Path

import pytest

from esmtp_support import Esmtpd, RawClient, unprivileged
from pop3_support import client_tls_context, make_certificates, tls_env


@pytest.fixture
def mail(mail_system):
    mail_system.stop()
    with open(mail_system.rc, "a") as f:
        f.write("authdaemongroup=%s\n" % grp.getgrgid(unprivileged()[1]).gr_name)
    mail_system.start()
    mail_system.add_account("demo@example.test", "secret")
    return mail_system


@pytest.fixture
def certs(public_tmp):
    c = make_certificates(Path(public_tmp) / "certs")
    if os.geteuid() == 0:
        os.chown(c["server_pem"], *unprivileged())
    return c


def test_starttls_and_received_header(mail, certs, public_tmp):
    s = Esmtpd(Path(public_tmp) / "e", mail, env=tls_env(certs))
    try:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=30) as c:
            c.ehlo("client.example")
            assert c.has_extn("starttls")
            c.starttls(context=client_tls_context(certs["ca"]))
            c.ehlo("client.example")
            assert not c.has_extn("starttls")
            assert c.sendmail("a@b.example", ["demo@example.test"], b"Subject: tls\r\n\r\nsecret\r\n") == {}
        qid = s.messages()[0]
        data = s.data(qid)
        assert b"(TLS: TLSv1.3" in data or b"(TLS: TLSv1.2" in data, data[:400]
        assert b"with ESMTPS;" in data
        assert "P ESMTPS\n" in s.control(qid)
        assert "tls=TLSv1" in s.log_text()
    finally:
        s.stop()


def test_starttls_injection_discarded(mail, certs, public_tmp):
    s = Esmtpd(Path(public_tmp) / "e", mail, env=tls_env(certs))
    try:
        c = RawClient(s.port)
        c.reply()
        c.cmd("EHLO client.example")
        # Plaintext pipelined after STARTTLS must not be read as coming from inside TLS.
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@b.example>\r\nRCPT TO:<demo@example.test>\r\n")
        code, _ = c.reply()
        assert code == 220
        ctx = client_tls_context(certs["ca"])
        tls = ctx.wrap_socket(c.s, server_hostname="localhost")
        tls.sendall(b"EHLO client.example\r\n")
        data = b""
        while b"250 " not in data:
            data += tls.recv(4096)
        # A RCPT now must fail: the injected MAIL was discarded.
        tls.sendall(b"RCPT TO:<demo@example.test>\r\n")
        reply = tls.recv(4096)
        assert reply.startswith(b"503"), reply
        tls.sendall(b"QUIT\r\n")
        tls.recv(4096)
        tls.close()
        assert "sent in plaintext after STARTTLS were discarded" in s.log_text()
    finally:
        s.stop()


def test_implicit_tls_like_esmtpd_ssl(mail, certs, public_tmp):
    env = dict(tls_env(certs), ESMTP_TLS="1")
    s = Esmtpd(Path(public_tmp) / "e", mail, env=env, wrapper=[env["COURIERTLS"], "-server", "-tcpd"])
    try:
        with smtplib.SMTP_SSL("127.0.0.1", s.port, timeout=30, context=client_tls_context(certs["ca"])) as c:
            c.ehlo("client.example")
            assert not c.has_extn("starttls")
            assert c.sendmail("a@b.example", ["demo@example.test"], b"Subject: ssl\r\n\r\nx\r\n") == {}
        qid = s.messages()[0]
        assert b"with ESMTPS;" in s.data(qid)
    finally:
        s.stop()
