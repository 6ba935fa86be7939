"""couriertls with real clients: openssl s_client, Python's ssl, curl-free.

Each test serves TLS through couriertls behind a minimal accept loop
(tls_support.MiniTcpd, standing in for couriertcpd) with a small child program,
and checks what a client sees and what the child sees.
"""
from __future__ import annotations

import os
import select
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import backends
from suite import tool
from tls_support import SERVE_MODES, MiniTcpd, couriertls, make_identity, serve_couriertls, startup_failure, tls_env


@pytest.fixture
def certs(tmp_path: Path):
    """A server certificate (CN localhost) in one file with its key."""
    ident = make_identity("localhost", dns=["localhost"])
    return {"ident": ident, "pem": ident.write(tmp_path / "imapd.pem"), "dir": tmp_path}


@pytest.fixture(params=SERVE_MODES)
def mode(request) -> str:
    """Each serving test runs twice: couriertls exec'd per connection, and the
    real couriertcpd serving "couriertls -server -tcpd" in-process."""
    return request.param


def serve(tmp_path: Path, env: dict, program: list[str], mode: str = "exec"):
    return serve_couriertls(mode, ["-server", "-tcpd", *program], env, tmp_path / "couriertls.log")


def assert_exits(tcpd, expected: list[int]) -> None:
    """The connections' exit codes where the server can tell them (MiniTcpd);
    couriertcpd cannot, so there it only waits for them to end."""
    codes = tcpd.wait_all()
    if isinstance(tcpd, MiniTcpd):
        assert codes == expected
    else:
        assert codes is None


ECHO = ["/bin/sh", "-c", "echo hello; exec cat"]
ECHO_ONCE = ["/bin/sh", "-c", 'echo hello; read line; echo "$line"']  # ends by itself, for s_client


def client_context(**kw) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def talk(port: int, ctx: ssl.SSLContext, *, server_hostname: str | None = None, send: bytes = b"ping\n",
         session=None):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname, session=session) as s:
            data = b""
            while b"hello\n" not in data:
                chunk = s.recv(4096)
                assert chunk, f"closed early: {data!r}"
                data += chunk
            s.sendall(send)
            while not data.endswith(send):
                chunk = s.recv(4096)
                assert chunk, f"closed early: {data!r}"
                data += chunk
            return data, s.version(), s.getpeercert(binary_form=True), s.session, s.session_reused


def s_client(port: int, *args: str, stdin: bytes = b"ping\n") -> subprocess.CompletedProcess:
    backends.require_binary("/usr/bin/openssl", "openssl")
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof", *args],
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)


@pytest.mark.parametrize("version,expected", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_s_client_completes_tls12_and_tls13(tmp_path, certs, version, expected, mode):
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"])), ECHO_ONCE, mode)
    try:
        out = s_client(tcpd.port, version).stdout.decode(errors="replace")
        assert f"New, {expected}, Cipher is" in out, out
        assert "hello" in out and "ping" in out, out
    finally:
        tcpd.stop()


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_s_client_old_protocols_are_refused(tmp_path, certs, version, mode):
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_PROTOCOL="TLSv1"), ECHO, mode)
    try:
        # SECLEVEL=0 so that the client really offers the old protocol.
        out = s_client(tcpd.port, version, "-cipher", "DEFAULT@SECLEVEL=0").stdout.decode(errors="replace")
        assert "hello" not in out
        assert "alert protocol version" in out, out
        assert_exits(tcpd, [1])
        log = tcpd.log_text()
        assert "older than TLS 1.2, which are refused" in log, log
        assert "TLS_PROTOCOL=TLSv1 asks for a protocol older than TLS 1.2" in log, log
    finally:
        tcpd.stop()


def test_python_ssl_and_the_environment_the_program_sees(tmp_path, certs, mode):
    envfile = tmp_path / "env.txt"
    env = tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_SUBJECT_CN="stale-from-parent")
    tcpd = serve(tmp_path, env, ["/bin/sh", "-c", f"env > {envfile}; echo hello; exec cat"], mode)
    try:
        data, version, _, _, _ = talk(tcpd.port, client_context())
        assert data == b"hello\nping\n"
        assert version == "TLSv1.3"
    finally:
        tcpd.stop()
    seen = dict(line.split("=", 1) for line in envfile.read_text().splitlines() if "=" in line)
    assert seen["TLS_CONNECTED_PROTOCOL"].startswith("TLSv1.3,256bits,TLS_AES_256_GCM_SHA384"), seen
    assert "TLS_SUBJECT_CN" not in seen  # no client certificate: nothing may pose as one
    assert seen["TCPREMOTEIP"] == "127.0.0.1"


def test_client_certificate_reaches_the_program(tmp_path, certs, mode):
    ca = make_identity("Test CA", ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    alice = make_identity("Alice", issuer=ca, email="alice@example.test")
    alice_key, alice_cert = tmp_path / "alice.key", tmp_path / "alice.crt"
    alice_key.write_bytes(alice.key_pem())
    alice_cert.write_bytes(alice.cert_pem())
    mallory = make_identity("Mallory", email="alice@example.test")  # self-signed: not trusted
    mallory_key, mallory_cert = tmp_path / "m.key", tmp_path / "m.crt"
    mallory_key.write_bytes(mallory.key_pem())
    mallory_cert.write_bytes(mallory.cert_pem())
    envfile = tmp_path / "env.txt"
    env = tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_VERIFYPEER="PEER", TLS_TRUSTCERTS=str(tmp_path / "ca.pem"))
    tcpd = serve(tmp_path, env, ["/bin/sh", "-c", f"env > {envfile}; echo hello; exec cat"], mode)
    try:
        ctx = client_context()
        ctx.load_cert_chain(alice_cert, alice_key)
        talk(tcpd.port, ctx)
        seen = dict(line.split("=", 1) for line in envfile.read_text().splitlines() if "=" in line)
        assert seen["TLS_SUBJECT_CN"] == "Alice"
        assert seen["TLS_SUBJECT_EMAILADDRESS"] == "alice@example.test"
        envfile.unlink()

        bad = client_context()
        bad.load_cert_chain(mallory_cert, mallory_key)
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            talk(tcpd.port, bad)
        assert_exits(tcpd, [0, 1])
        assert not envfile.exists()  # the program never ran for Mallory
        assert "client certificate rejected" in tcpd.log_text()
    finally:
        tcpd.stop()


def test_requirepeer_refuses_a_client_without_certificate(tmp_path, certs, mode):
    ca = make_identity("Test CA", ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    env = tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_VERIFYPEER="REQUIREPEER",
                  TLS_TRUSTCERTS=str(tmp_path / "ca.pem"))
    tcpd = serve(tmp_path, env, ECHO, mode)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            talk(tcpd.port, client_context())
        assert_exits(tcpd, [1])
        assert "TLS_VERIFYPEER=REQUIREPEER requires one" in tcpd.log_text()
    finally:
        tcpd.stop()


def test_sni_and_local_address_pick_the_certificate(tmp_path, certs, mode):
    make_identity("mail.example.test").write(Path(f"{certs['pem']}.mail.example.test"))
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"])), ECHO, mode)
    try:
        from cryptography import x509
        for sni, cn in [("mail.example.test", "mail.example.test"), ("other.example.test", "localhost"),
                        (None, "localhost")]:
            _, _, der, _, _ = talk(tcpd.port, client_context(), server_hostname=sni)
            got = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            assert f"CN={cn}" in got, (sni, got)
        # $TLS_CERTFILE.<TCPLOCALIP> wins over $TLS_CERTFILE for connections to that address.
        make_identity("by-address").write(Path(f"{certs['pem']}.127.0.0.1"))
        _, _, der, _, _ = talk(tcpd.port, client_context())
        assert "CN=by-address" in x509.load_der_x509_certificate(der).subject.rfc4514_string()
    finally:
        tcpd.stop()


def test_crlf_pem_loads(tmp_path, mode):
    pem = make_identity("localhost").write(tmp_path / "windows.pem", crlf=True)
    assert b"\r\n" in pem.read_bytes()
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(pem)), ECHO, mode)
    try:
        data, _, _, _, _ = talk(tcpd.port, client_context())
        assert data == b"hello\nping\n"
    finally:
        tcpd.stop()


def test_startup_errors_name_the_file_and_the_fix(tmp_path):
    good = make_identity("localhost")
    other = make_identity("other")
    (tmp_path / "garbage.pem").write_text("this is not PEM\n")
    (tmp_path / "wrongkey.pem").write_bytes(other.key_pem() + good.cert_pem())
    make_identity("old", expired=True).write(tmp_path / "expired.pem")
    good.write(tmp_path / "good.pem")
    weak = subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:modp_1536"],
                          stdout=subprocess.PIPE, check=True).stdout
    (tmp_path / "weak-dh.pem").write_bytes(weak)
    cases = [
        ({"TLS_CERTFILE": str(tmp_path / "garbage.pem")}, ["garbage.pem", "not a PEM file"]),
        ({"TLS_CERTFILE": str(tmp_path / "wrongkey.pem")}, ["wrongkey.pem", "does not belong to the certificate"]),
        ({"TLS_CERTFILE": str(tmp_path / "missing.pem")}, ["missing.pem", "does not exist", "mkimapdcert"]),
        ({"TLS_CERTFILE": str(tmp_path / "expired.pem")}, ["expired.pem", "expired on", "renew it"]),
        ({"TLS_CERTFILE": str(tmp_path / "good.pem"), "TLS_DHPARAMS": str(tmp_path / "weak-dh.pem")},
         ["weak-dh.pem", "1536 bits", "mkdhparams"]),
        ({"TLS_CERTFILE": str(tmp_path / "good.pem"), "TLS_VERIFYPEER": "REQUIREPEER"},
         ["TLS_TRUSTCERTS, which is not set"]),
    ]
    for settings, expected in cases:
        rc, stderr, status = startup_failure(tls_env(**settings))
        assert rc == 1, (settings, stderr)
        for text in expected:
            assert text in stderr, (text, stderr)
            assert text in status, (text, status)
        assert "ERR:" in stderr


def test_garbage_and_half_handshakes_do_not_hang_or_crash(tmp_path, certs, mode):
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_HANDSHAKE_TIMEOUT="2"), ECHO, mode)
    try:
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(3000))
            s.shutdown(socket.SHUT_WR)
            try:
                answer = s.recv(65536)
            except ConnectionResetError:
                answer = b""
            assert b"hello" not in answer
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as s:
            s.sendall(bytes.fromhex("160301020001"))  # a ClientHello cut short; then gone
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20):
            pass  # a client that says nothing and hangs up
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as s:
            assert s.recv(1) == b""  # silent client: the handshake deadline ends it
        assert_exits(tcpd, [1, 1, 1, 1])
        log = tcpd.log_text()
        assert "sent something that is not TLS" in log, log
        assert "closed the connection during the handshake" in log, log
        assert "the handshake timed out" in log, log
        # ...and the next honest client is served.
        data, _, _, _, _ = talk(tcpd.port, client_context())
        assert data == b"hello\nping\n"
    finally:
        tcpd.stop()


def test_large_transfer_both_ways(tmp_path, certs, mode):
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"])), ECHO, mode)
    try:
        payload = os.urandom(3 * 1024 * 1024)
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=30) as raw:
            with client_context().wrap_socket(raw) as s:
                assert s.recv(6) == b"hello\n"
                # One thread, non-blocking, both directions at once: Python's
                # SSLSocket must not be read and written from two threads.
                s.setblocking(False)
                sent, got = 0, bytearray()
                while len(got) < len(payload):
                    want_write = [s] if sent < len(payload) else []
                    readable, writable, _ = select.select([s], want_write, [], 30)
                    assert readable or writable or s.pending(), f"stalled: sent {sent}, got {len(got)}"
                    if writable:
                        try:
                            sent += s.send(payload[sent:sent + 65536])
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            pass
                    while True:
                        try:
                            chunk = s.recv(65536)
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            break
                        assert chunk, f"connection closed after {len(got)} of {len(payload)} bytes"
                        got += chunk
        assert bytes(got) == payload
    finally:
        tcpd.stop()


def test_session_resumption_with_cachefile(tmp_path, certs, mode):
    cache = tmp_path / "couriersslcache"
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_CACHEFILE=str(cache)), ECHO, mode)
    try:
        ctx = client_context()
        _, _, _, session, reused = talk(tcpd.port, ctx)
        assert not reused and session is not None
        _, _, _, _, reused = talk(tcpd.port, ctx, session=session)
        assert reused  # another couriertls process decrypted the ticket
        assert oct(cache.stat().st_mode & 0o777) == "0o600"
    finally:
        tcpd.stop()


def test_alpn(tmp_path, certs, mode):
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"]), TLS_ALPN="imap"), ECHO, mode)
    try:
        ctx = client_context()
        ctx.set_alpn_protocols(["h2", "imap"])
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as raw:
            with ctx.wrap_socket(raw) as s:
                assert s.selected_alpn_protocol() == "imap"
        wrong = client_context()
        wrong.set_alpn_protocols(["h2"])
        with pytest.raises((ssl.SSLError, ConnectionError)):
            talk(tcpd.port, wrong)
    finally:
        tcpd.stop()


def test_starttls_through_start_tls_api(tmp_path, certs):
    server = tool("tests/tls/starttls_server")
    env = tls_env(TLS_CERTFILE=str(certs["pem"]), COURIERTLS=couriertls())
    tcpd = MiniTcpd([server], env, tmp_path / "starttls.log")
    try:
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as raw:
            f = raw.makefile("rb")
            assert f.readline().startswith(b"* OK")
            raw.sendall(b"ENV\r\n")
            assert f.readline() == b"* ENV protocol=- cn=-\r\n"  # plaintext: no TLS yet
            raw.sendall(b"a STARTTLS\r\n")
            assert f.readline() == b"a OK begin TLS now\r\n"
            with client_context().wrap_socket(raw) as s:
                sf = s.makefile("rb")
                assert sf.readline() == b"* OK secure\r\n"
                s.sendall(b"ENV\r\n")
                line = sf.readline()
                assert line.startswith(b"* ENV protocol=TLSv1.3,256bits,"), line
                s.sendall(b"EXEC\r\n")  # the login process execs: the session survives
                rest = sf.read()
                assert b"TLS_CONNECTED_PROTOCOL=TLSv1.3" in rest
        assert_exits(tcpd, [0])
    finally:
        tcpd.stop()


def test_starttls_failure_is_reported(tmp_path):
    server = tool("tests/tls/starttls_server")
    env = tls_env(TLS_CERTFILE=str(tmp_path / "missing.pem"), COURIERTLS=couriertls())
    tcpd = MiniTcpd([server], env, tmp_path / "starttls.log")
    try:
        with socket.create_connection(("127.0.0.1", tcpd.port), timeout=20) as raw:
            f = raw.makefile("rb")
            f.readline()
            raw.sendall(b"a STARTTLS\r\n")
            assert f.readline() == b"a OK begin TLS now\r\n"
            assert f.read() == b""
        assert_exits(tcpd, [1])
        assert "STARTTLS: TLS_CERTFILE=" in tcpd.log_text() and "does not exist" in tcpd.log_text()
    finally:
        tcpd.stop()


def test_debug_client_mode_verifies_the_server(tmp_path, certs, mode):
    (tmp_path / "trust.pem").write_bytes(certs["ident"].cert_pem())
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(certs["pem"])), ECHO, mode)
    try:
        env = tls_env(TLS_TRUSTCERTS=str(tmp_path / "trust.pem"))
        ok = subprocess.run([couriertls(), "-host=127.0.0.1", f"-port={tcpd.port}", "-verify=localhost"],
                            input=b"ping\n", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert ok.stdout == b"hello\nping\n", ok.stderr
        bad = subprocess.run([couriertls(), "-host=127.0.0.1", f"-port={tcpd.port}", "-verify=wrong.example"],
                             input=b"ping\n", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert bad.returncode == 1
        assert b"server certificate rejected" in bad.stderr, bad.stderr
    finally:
        tcpd.stop()


def test_mkdhparams(tmp_path):
    path = tmp_path / "dhparams.pem"
    made = subprocess.run([tool("tls/mkdhparams"), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert f"wrote {path}: 3072-bit DH parameters, RFC 7919 group ffdhe3072" in made.stdout
    text = subprocess.run(["openssl", "pkeyparam", "-in", str(path), "-text", "-noout"],
                          stdout=subprocess.PIPE, text=True, check=True).stdout
    assert "3072 bit" in text
    kept = subprocess.run([tool("tls/mkdhparams"), str(path)], stdout=subprocess.PIPE, text=True, timeout=60)
    assert "kept" in kept.stdout and kept.returncode == 0
    forced = subprocess.run([tool("tls/mkdhparams"), "-f", str(path)], env=dict(os.environ, DH_BITS="2048"),
                            stdout=subprocess.PIPE, text=True, timeout=60)
    assert "2048-bit" in forced.stdout
    weak = subprocess.run([tool("tls/mkdhparams"), "-f", str(path)], env=dict(os.environ, DH_BITS="1024"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert weak.returncode == 1 and "DH_BITS=1024 is too small" in weak.stderr
    assert not list(tmp_path.glob("*.tmp.*"))


@pytest.mark.parametrize("service", ["imapd", "pop3d", "esmtpd"])
def test_mkcert_tools(tmp_path, service):
    backends.require_binary("/usr/bin/openssl", "openssl")
    pem = tmp_path / f"{service}.pem"
    cnf = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2])) / "sysconfdir" / f"{service}.cnf"
    made = subprocess.run([tool(f"tls/mk{service}cert"), str(pem), str(cnf)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert f"made {pem}" in made.stdout and "CN = localhost" in made.stdout
    assert oct(pem.stat().st_mode & 0o777) == "0o600"
    again = subprocess.run([tool(f"tls/mk{service}cert"), str(pem), str(cnf)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(pem)), ECHO)
    try:
        ctx = ssl.create_default_context(cafile=str(pem))  # the self-signed certificate verifies as localhost
        data, _, _, _, _ = talk(tcpd.port, ctx, server_hostname="localhost")
        assert data == b"hello\nping\n"
    finally:
        tcpd.stop()


def test_user_option_drops_the_relay_but_not_the_program(tmp_path, certs, mode):
    if os.geteuid() != 0:
        pytest.skip("-user=name needs root")
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    # The program prints its own uid and the uid of its parent, the relaying couriertls.
    program = ["/bin/sh", "-c", 'echo hello; echo "$(id -u) $(stat -c %u /proc/$PPID)"; exec cat']
    tcpd = serve_couriertls(mode, ["-server", "-tcpd", "-user=nobody", *program],
                            tls_env(TLS_CERTFILE=str(certs["pem"])), tmp_path / "couriertls.log")
    try:
        data, _, _, _, _ = talk(tcpd.port, client_context(), send=b"x\n")
        assert f"hello\n0 {nobody}\n".encode() in data, data
    finally:
        tcpd.stop()


# ----- couriertcpd serving couriertls in-process (tcpd/tls_inprocess.hpp) -----

RELAY_EXE = ["/bin/sh", "-c", 'echo hello; readlink /proc/$PPID/exe; exec cat']


@pytest.mark.parametrize("inprocess", ["1", "0"])
def test_couriertcpd_runs_couriertls_in_process_unless_turned_off(tmp_path, certs, inprocess):
    env = tls_env(TLS_CERTFILE=str(certs["pem"]), TCPD_TLS_INPROCESS=inprocess)
    tcpd = serve(tmp_path, env, RELAY_EXE, "couriertcpd")
    try:
        data, _, _, _, _ = talk(tcpd.port, client_context(), send=b"x\n")
        relay = data.split(b"\n")[1].decode()
        # The process that relays TLS for the program: couriertcpd's fork, or an exec'd couriertls.
        assert os.path.basename(relay) == ("couriertcpd" if inprocess == "1" else "couriertls"), data
    finally:
        tcpd.stop()


def test_couriertcpd_serves_a_renewed_certificate_and_says_when_it_is_bad(tmp_path, certs):
    from cryptography import x509
    pem = certs["pem"]
    tcpd = serve(tmp_path, tls_env(TLS_CERTFILE=str(pem)), RELAY_EXE, "couriertcpd")
    try:
        def served_cn() -> str:
            _, _, der, _, _ = talk(tcpd.port, client_context(), send=b"x\n")
            return x509.load_der_x509_certificate(der).subject.rfc4514_string()
        assert served_cn().startswith("CN=localhost,")
        # Renewed in place, as certbot's deploy hook or mkimapdcert would: the next connections get it.
        make_identity("renewed").write(tmp_path / "new.pem")
        os.rename(tmp_path / "new.pem", pem)
        deadline = time.monotonic() + 10
        while not served_cn().startswith("CN=renewed,"):
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.3)
        # A broken replacement: couriertcpd says so once, and connections fail the way
        # couriertls's do (it runs for each and names the file).
        pem.write_text("not a certificate\n")
        pem.chmod(0o600)
        time.sleep(1.2)
        with pytest.raises((ssl.SSLError, OSError, AssertionError)):
            talk(tcpd.port, client_context(), send=b"x\n")
        tcpd.wait_all()
        log = tcpd.log_text()
        assert "TLS files changed, and the new ones cannot be used" in log, log
        assert f"TLS_CERTFILE={pem}" in log, log
    finally:
        tcpd.stop()


def test_couriertcpd_honours_tls_settings_from_the_access_file(tmp_path, certs):
    """An access file entry may set TLS_* variables for some clients: those
    connections get couriertls with them (exec'd), the others the in-process one."""
    from tcpd_support import connect_from, make_access
    from tls_support import CouriertcpdTls
    dat = make_access(tmp_path, "127.0.0.1\tallow,TLS_PROTOCOL=TLSv1.3\n")
    tcpd = CouriertcpdTls(["-server", "-tcpd", *RELAY_EXE], tls_env(TLS_CERTFILE=str(certs["pem"])),
                          tmp_path / "couriertls.log", [f"-access={dat}"])
    try:
        def handshake(source: str, version: ssl.TLSVersion) -> str:
            ctx = client_context(minimum_version=version, maximum_version=version)
            with connect_from(source, tcpd.port) as raw, ctx.wrap_socket(raw) as s:
                data = b""
                while data.count(b"\n") < 2:
                    chunk = s.recv(4096)
                    assert chunk, data
                    data += chunk
                return os.path.basename(data.split(b"\n")[1].decode())
        assert handshake("127.0.0.1", ssl.TLSVersion.TLSv1_3) == "couriertls"  # exec'd, with TLSv1.3 only
        with pytest.raises((ssl.SSLError, OSError)):
            handshake("127.0.0.1", ssl.TLSVersion.TLSv1_2)
        assert handshake("127.0.0.9", ssl.TLSVersion.TLSv1_2) == "couriertcpd"  # no entry: in-process
    finally:
        tcpd.stop()


def test_couriertcpd_drops_to_the_mail_user_each_connection_names(tmp_path, certs):
    """couriertcpd resolves the mail user once for its in-process TLS
    connections; a connection whose access-file entry sets another MAILUSER
    still drops to that one (and stays in-process: MAILUSER is not a TLS_*
    setting)."""
    import pwd
    from tcpd_support import connect_from, make_access
    from tls_support import CouriertcpdTls
    if os.geteuid() != 0:
        pytest.skip("dropping to the mail user needs root")
    dat = make_access(tmp_path, "127.0.0.1\tallow,MAILUSER=daemon\n")
    program = ["/bin/sh", "-c", 'echo hello; awk \'/^Uid:/ {print $3}\' /proc/$PPID/status; '
               'readlink /proc/$PPID/exe; exec cat']
    tcpd = CouriertcpdTls(["-server", "-tcpd", *program],
                          tls_env(TLS_CERTFILE=str(certs["pem"]), MAILUSER="nobody"),
                          tmp_path / "couriertls.log", [f"-access={dat}"])
    try:
        def relay(source: str) -> tuple[int, str]:
            with connect_from(source, tcpd.port) as raw, client_context().wrap_socket(raw) as s:
                data = b""
                while data.count(b"\n") < 3:
                    chunk = s.recv(4096)
                    assert chunk, data
                    data += chunk
                lines = data.decode().split("\n")
                return int(lines[1]), os.path.basename(lines[2])
        nobody, daemon = pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("daemon").pw_uid
        assert relay("127.0.0.9") == (nobody, "couriertcpd")
        assert relay("127.0.0.1") == (daemon, "couriertcpd")
        assert relay("127.0.0.9") == (nobody, "couriertcpd")
    finally:
        tcpd.stop()
