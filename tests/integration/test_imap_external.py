"""IMAP AUTHENTICATE EXTERNAL (RFC 4422 appendix A, RFC 3501 6.2.2, SASL-IR
RFC 4959) with a TLS client certificate, end to end: the real couriertls
(-server -tcpd, as the imapd-ssl start script runs it) verifies the client
certificate and passes its subject to the real imaplogin as TLS_SUBJECT_*;
with TLS_EXTERNAL=emailaddress imaplogin takes that field as the login and
execs the real imapd. Clients are Python's ssl module and imaplib."""
from __future__ import annotations

import base64
import imaplib
import os
from pathlib import Path

import pytest

from imap_support import RawClient
from pop3_support import client_tls_context, optional_tool
from suite import tool
from tls_support import MiniTcpd, make_identity

ALICE = "alice@example.test"


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account(ALICE, "wonder land")


@pytest.fixture
def certs(public_tmp):
    """A CA, the server's key+certificate, and two client certificates signed by
    the CA: one naming alice, one naming an address that has no account."""
    d = Path(public_tmp) / "certs"
    d.mkdir()
    ca = make_identity("Test CA", ca=True)
    (d / "ca.crt").write_bytes(ca.cert_pem())
    server = make_identity("localhost", issuer=ca, dns=["localhost"])
    out = {"ca": d / "ca.crt", "server_pem": server.write(d / "imapd.pem")}
    for name, email in (("alice", ALICE), ("stranger", "stranger@example.test")):
        ident = make_identity(name, issuer=ca, email=email)
        out[f"{name}_crt"] = d / f"{name}.crt"
        out[f"{name}_key"] = d / f"{name}.key"
        out[f"{name}_crt"].write_bytes(ident.cert_pem())
        out[f"{name}_key"].write_bytes(ident.key_pem())
    return out


@pytest.fixture
def imaps(mail_system, public_tmp, certs):
    """imaplogin behind couriertls on a loopback port, as imapd-ssl runs it."""
    couriertls = optional_tool("tls/couriertls", "AUTHENTICATE EXTERNAL needs couriertls")
    imaplogin, imapd = tool("imapd/imaplogin"), tool("imapd/imapd")
    log = Path(public_tmp) / "imapd.log"
    log.touch()
    os.chmod(log, 0o666)  # imapd, running as the account, appends too
    env = {k: v for k, v in mail_system.env.items() if not k.startswith(("TLS_", "IMAP_"))}
    env.update(IMAP_LOGFILE=str(log), IMAP_BAD_LOGIN_DELAY="0", IMAP_TLS="1", IMAP_STARTTLS="NO",
               IMAP_TLS_REQUIRED="0", TLS_CERTFILE=str(certs["server_pem"]), TLS_TRUSTCERTS=str(certs["ca"]),
               TLS_VERIFYPEER="PEER", TLS_EXTERNAL="emailaddress")
    server = MiniTcpd([couriertls, "-server", "-tcpd", imaplogin, imapd, "Maildir"], env,
                      Path(public_tmp) / "stderr.log")
    server.imap_log = log
    yield server
    print("imapd.log:\n" + log.read_text(errors="replace"))
    print("stderr:\n" + server.log_text())
    server.stop()


def tls_client(server, certs, who: str | None) -> RawClient:
    """A RawClient over TLS, presenting who's client certificate (or none)."""
    ctx = client_tls_context(certs["ca"], certs[f"{who}_crt"] if who else None,
                             certs[f"{who}_key"] if who else None)
    raw = RawClient(("127.0.0.1", server.port), 60)
    raw.sock = ctx.wrap_socket(raw.sock, server_hostname="localhost")
    return raw


def capabilities(raw: RawClient) -> list[bytes]:
    lines = raw.command("c", "CAPABILITY")
    assert lines[-1].startswith(b"c OK"), lines
    caps = [l for l in lines if l.startswith(b"* CAPABILITY ")]
    assert len(caps) == 1, lines
    return caps[0].split()[2:]


def test_external_with_initial_response_then_select(imaps, certs, alice):
    raw = tls_client(imaps, certs, "alice")
    try:
        assert raw.line().startswith(b"* OK"), "no greeting"
        assert b"AUTH=EXTERNAL" in capabilities(raw)
        lines = raw.command("a", "AUTHENTICATE EXTERNAL =")
        assert lines[-1].startswith(b"a OK"), lines
        lines = raw.command("b", "SELECT INBOX")
        assert lines[-1].startswith(b"b OK [READ-WRITE]"), lines
        assert b"* 0 EXISTS" in lines, lines
        assert raw.command("z", "LOGOUT")[-1].startswith(b"z OK")
    finally:
        raw.close()
    imaps.wait_all()
    assert f"LOGIN, user={ALICE}" in imaps.imap_log.read_text(errors="replace")


def test_external_through_imaplib_with_an_empty_response(imaps, certs, alice):
    ctx = client_tls_context(certs["ca"], certs["alice_crt"], certs["alice_key"])
    with imaplib.IMAP4_SSL("localhost", imaps.port, ssl_context=ctx, timeout=60) as m:
        assert "AUTH=EXTERNAL" in m.capabilities
        typ, _ = m.authenticate("EXTERNAL", lambda challenge: b"")  # empty line after "+ "
        assert typ == "OK"
        assert m.state == "AUTH"
        typ, data = m.select("INBOX")
        assert typ == "OK" and data == [b"0"]


def test_authorization_identity_must_match_the_certificate(imaps, certs, alice):
    raw = tls_client(imaps, certs, "alice")
    try:
        raw.line()
        same = base64.b64encode(ALICE.encode()).decode()
        other = base64.b64encode(b"bob@example.test").decode()
        assert raw.command("a", f"AUTHENTICATE EXTERNAL {other}")[-1].startswith(b"a NO"), "proxy login allowed"
        assert raw.command("b", f"AUTHENTICATE EXTERNAL {same}")[-1].startswith(b"b OK")
    finally:
        raw.close()


def test_no_client_certificate_no_external(imaps, certs, alice):
    raw = tls_client(imaps, certs, None)
    try:
        assert raw.line().startswith(b"* OK")
        assert b"AUTH=EXTERNAL" not in capabilities(raw)
        lines = raw.command("a", "AUTHENTICATE EXTERNAL =")
        assert lines[-1].startswith(b"a NO"), lines
        assert not raw.command("b", "SELECT INBOX")[-1].startswith(b"b OK")  # still not logged in
        # Password login still works on the same connection: EXTERNAL's refusal is not fatal.
        assert raw.command("c", f'LOGIN "{ALICE}" "wonder land"')[-1].startswith(b"c OK")
    finally:
        raw.close()


def test_certificate_naming_an_unknown_account(imaps, certs, alice):
    raw = tls_client(imaps, certs, "stranger")
    try:
        assert raw.line().startswith(b"* OK")
        lines = raw.command("a", "AUTHENTICATE EXTERNAL =")
        assert lines[-1].startswith(b"a NO"), lines
        # Not logged in: SELECT is refused.
        assert not raw.command("b", "SELECT INBOX")[-1].startswith(b"b OK")
    finally:
        raw.close()
    imaps.wait_all()
    assert "LOGIN, user=stranger@example.test" not in imaps.imap_log.read_text(errors="replace")
