"""couriertcpd and makesmtpaccess, run for real: the environment a child sees,
access files, connection limits, asynchronous DNS against a fake nameserver
(one that never answers included), blocklists, ident, floods, EMFILE, SIGHUP
and -pid/-stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import backends
from suite import tool
from tcpd_support import (ENV_CHILD, WAITING_CHILD, FakeDns, FakeIdent, Tcpd, connect_from, env_of,
                          ipv6_loopback_available, make_access, parse_env, read_all, read_until, served_env)

QUIET = ["-nodnslookup", "-noidentlookup"]


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def dns():
    server = FakeDns()
    yield server
    server.close()


# ---- environment ---------------------------------------------------------------------------


def test_child_sees_courier_environment_and_access_variables(tmp):
    dat = make_access(tmp, '127.0.0.1\tallow,RELAYCLIENT,SIZELIMIT=1000,BLOCK="550 go, away"\n'
                           '*\tallow,DEFAULTED=yes\n')
    with Tcpd(tmp, [*QUIET, f"-access={dat}"], ENV_CHILD) as d:
        with connect_from("127.0.0.1", d.port) as s:
            client_port = s.getsockname()[1]
            env = parse_env(read_all(s))
        assert env["TCPREMOTEIP"] == "127.0.0.1"
        assert env["TCPREMOTEPORT"] == str(client_port)
        assert env["TCPLOCALIP"] == "127.0.0.1"
        assert env["TCPLOCALPORT"] == str(d.port)
        assert env["RELAYCLIENT"] == ""
        assert env["SIZELIMIT"] == "1000"
        assert env["BLOCK"] == "550 go, away"
        assert "DEFAULTED" not in env  # only the most specific entry counts
        assert "TCPREMOTEHOST" not in env and "TCPLOCALHOST" not in env  # -nodnslookup
        assert "TCPREMOTEINFO" not in env  # -noidentlookup
        assert env["PATH"] == os.environ["PATH"]  # the inherited environment is kept
        other = env_of(d.port, "127.0.0.9")
        assert other["DEFAULTED"] == "yes" and "RELAYCLIENT" not in other


def test_wildcard_listens_on_ipv4_and_ipv6(tmp):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback in this environment")
    port = backends.free_port()
    with Tcpd(tmp, QUIET, ENV_CHILD, ports=str(port)) as d:
        v4 = env_of(port, "127.0.0.1")
        v6 = env_of(port, "", host="::1")
        assert v4["TCPREMOTEIP"] == "127.0.0.1"  # never ::ffff:127.0.0.1
        assert v6["TCPREMOTEIP"] == "::1"
        assert v6["TCPLOCALIP"] == "::1"
        assert d.proc.poll() is None


def test_ipv6_access_key_in_courier_form(tmp):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback in this environment")
    dat = make_access(tmp, ":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n*\tdeny\n")
    port = backends.free_port()
    with Tcpd(tmp, [*QUIET, f"-access={dat}"], ENV_CHILD, ports=f"::1.{port},127.0.0.1.{port}"):
        assert env_of(port, "", host="::1")["RELAYCLIENT"] == ""
        with connect_from("127.0.0.1", port) as s:
            assert read_all(s) == b""  # '*' deny


def test_ident_sets_tcpremoteinfo(tmp):
    ident = FakeIdent("alice")
    try:
        with Tcpd(tmp, ["-nodnslookup", f"-identport={ident.port}"], ENV_CHILD) as d:
            with connect_from("127.0.0.1", d.port) as s:
                client_port = s.getsockname()[1]
                env = parse_env(read_all(s))
            assert env["TCPREMOTEINFO"] == "alice"
            assert ident.queries == [f"{client_port} , {d.port}"]
    finally:
        ident.close()


# ---- access file ---------------------------------------------------------------------------


def test_denied_connection_gets_denymsg_and_starts_no_program(tmp):
    marker = tmp / "started"
    child = ["/bin/sh", "-c", f"echo started >> {marker}; env"]
    dat = make_access(tmp, "127.0.0.2\tdeny\n127.0.0\tallow,LAN\n")
    with Tcpd(tmp, [*QUIET, f"-access={dat}", "-denymsg=421 Go away"], child) as d:
        with connect_from("127.0.0.2", d.port) as s:
            assert read_all(s) == b"421 Go away\n"
        assert not marker.exists()
        assert env_of(d.port, "127.0.0.3")["LAN"] == ""
        assert marker.read_text() == "started\n"


def test_access_file_rebuilt_and_restart_reloads(tmp):
    pid_file = tmp / "tcpd.pid"
    src = tmp / "rules"
    dat = make_access(tmp, "127.0.0.8\tallow,FIRST\n", "rules")
    port = backends.free_port()
    r = subprocess.run([tool("tcpd/couriertcpd"), f"-pid={pid_file}", *QUIET, f"-access={dat}",
                        f"-stderr={tmp / 'log'}", f"127.0.0.1.{port}", *ENV_CHILD],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert env_of(port, "127.0.0.8")["FIRST"] == ""
        src.write_text("127.0.0.8\tdeny\n")
        out = subprocess.run([tool("tcpd/makesmtpaccess"), f"-src={src}", f"-file={dat}", "-nohup"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        r = subprocess.run([tool("tcpd/couriertcpd"), f"-pid={pid_file}", "-restart"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

        def denied() -> bool:
            with connect_from("127.0.0.8", port) as s:
                return read_all(s) == b""
        backends.poll_until(denied, what="the rebuilt access file denies 127.0.0.8")
        assert "SIGHUP" in (tmp / "log").read_text()
    finally:
        subprocess.run([tool("tcpd/couriertcpd"), f"-pid={pid_file}", "-stop"], timeout=120)


def test_makesmtpaccess_bad_line_names_file_and_line_and_keeps_database(tmp):
    dat = make_access(tmp, "127.0.0.1\tallow,RELAYCLIENT\n")
    before = dat.read_bytes()
    src = tmp / "access"
    src.write_text("127.0.0.1\tallow,RELAYCLIENT\n10.1.2.3/16\tdeny\n")
    r = subprocess.run([tool("tcpd/makesmtpaccess"), f"-src={src}", f"-file={dat}", "-nohup"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"{src}:2: " in r.stderr and "did you mean 10.1.0.0/16" in r.stderr
    assert dat.read_bytes() == before


def test_makesmtpaccess_reads_sysconf_default_source(tmp):
    # The shipped default source compiles, and grants RELAYCLIENT as Courier's does.
    src = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2])) / "sysconfdir" / "smtpaccess"
    dat = tmp / "smtpaccess.dat"
    r = subprocess.run([tool("tcpd/makesmtpaccess"), f"-src={src}", f"-file={dat}", "-nohup"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with Tcpd(tmp, [*QUIET, f"-access={dat}"], ENV_CHILD) as d:
        assert env_of(d.port, "127.0.0.1")["RELAYCLIENT"] == ""
        assert "RELAYCLIENT" not in env_of(d.port, "127.0.0.2")


# ---- limits --------------------------------------------------------------------------------


def test_maxprocs_makes_new_connections_wait(tmp):
    with Tcpd(tmp, [*QUIET, "-maxprocs=2", "-maxperip=10"], WAITING_CHILD) as d:
        a = connect_from("127.0.0.1", d.port)
        b = connect_from("127.0.0.1", d.port)
        assert b"END" in read_until(a, b"END\n")
        assert b"END" in read_until(b, b"END\n")
        c = connect_from("127.0.0.1", d.port)  # queued by the kernel, not served
        c.settimeout(1.0)
        with pytest.raises(socket.timeout):
            c.recv(100)
        a.close()  # frees a slot: c is served now
        c.settimeout(30)
        assert b"TCPREMOTEIP=127.0.0.1" in read_until(c, b"END\n")
        for s in (b, c):
            s.close()


def test_maxperip_and_maxcperip_override(tmp):
    dat = make_access(tmp, "127.0.0.4\tallow,MAXCPERIP=3\n")
    with Tcpd(tmp, [*QUIET, "-maxprocs=20", "-maxperip=2", f"-access={dat}"], WAITING_CHILD) as d:
        held = []
        for _ in range(2):
            s = connect_from("127.0.0.1", d.port)
            assert b"END" in read_until(s, b"END\n")
            held.append(s)
        with connect_from("127.0.0.1", d.port) as third:
            assert read_all(third) == b""  # over -maxperip: closed at once
        other = connect_from("127.0.0.3", d.port)  # another address is not affected
        assert b"END" in read_until(other, b"END\n")
        held.append(other)
        for _ in range(3):
            s = connect_from("127.0.0.4", d.port)
            assert b"END" in read_until(s, b"END\n")
            held.append(s)
        with connect_from("127.0.0.4", d.port) as fourth:
            assert read_all(fourth) == b""
        assert "maximum connection limit reached for 127.0.0.1" in d.log_text()
        for s in held:
            s.close()


def test_maxperc_counts_the_c_block(tmp):
    with Tcpd(tmp, [*QUIET, "-maxprocs=20", "-maxperip=5", "-maxperc=2"], WAITING_CHILD) as d:
        a = connect_from("127.0.5.1", d.port)
        b = connect_from("127.0.5.2", d.port)
        for s in (a, b):
            assert b"END" in read_until(s, b"END\n")
        with connect_from("127.0.5.3", d.port) as c:
            assert read_all(c) == b""
        e = connect_from("127.0.6.1", d.port)
        assert b"END" in read_until(e, b"END\n")
        for s in (a, b, e):
            s.close()


# ---- DNS -----------------------------------------------------------------------------------


def test_dns_host_only_when_forward_matches(tmp, dns):
    dns.add_host("127.0.0.5", "good.example")
    dns.add_host("127.0.0.6", "liar.example", forward="10.9.9.9")
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=30"], ENV_CHILD) as d:
        good = env_of(d.port, "127.0.0.5")
        assert good["TCPREMOTEHOST"] == "good.example"
        liar = env_of(d.port, "127.0.0.6")
        assert "TCPREMOTEHOST" not in liar
        unknown = env_of(d.port, "127.0.0.10")  # NXDOMAIN
        assert "TCPREMOTEHOST" not in unknown
        assert ("liar.example", 1) in dns.queries  # the forward lookup was made


def test_dead_resolver_delays_no_other_client(tmp, dns):
    dns.add_host("127.0.0.5", "good.example")
    dns.blackhole.add(FakeDns.reverse_name("127.0.0.7"))
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=120"], ENV_CHILD) as d:
        stuck = connect_from("127.0.0.7", d.port)
        dns.wait_for_query(FakeDns.reverse_name("127.0.0.7"))
        # While 127.0.0.7 waits for a nameserver that never answers, others are served.
        for _ in range(3):
            assert env_of(d.port, "127.0.0.5")["TCPREMOTEHOST"] == "good.example"
        stuck.setblocking(False)
        with pytest.raises(BlockingIOError):
            stuck.recv(100)  # still waiting for its lookup (up to 120 s)
        stuck.close()


def test_dead_resolver_costs_the_client_only_the_timeout(tmp, dns):
    dns.blackhole.add(FakeDns.reverse_name("127.0.0.7"))
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=1"], ENV_CHILD) as d:
        started = time.monotonic()
        env = env_of(d.port, "127.0.0.7")
        elapsed = time.monotonic() - started
        assert env["TCPREMOTEHOST"] == "softdnserr"
        # Generous bound: a blocking resolver would wait for the nameserver forever.
        assert elapsed < 20, elapsed


def test_blocklist_sets_block_variables(tmp, dns):
    dns.a["2.0.0.127.bl.test"] = ["127.0.0.2"]
    dns.txt["2.0.0.127.bl.test"] = ["Listed at bl.test"]
    dns.txt["2.0.0.127.txt.test"] = ["TXT says no"]
    with Tcpd(tmp, [*QUIET, f"-nameserver={dns.address}", "-block=bl.test=BL", "-block=txt.test,BLOCK2,*",
                    "-block=bl.test,BLOCK3/127.0.0.9,never"], ENV_CHILD) as d:
        listed = env_of(d.port, "127.0.0.2")
        assert listed["BLOCK"] == "Blacklisted by bl.test"
        assert listed["BLOCK_IP"] == "127.0.0.2"
        assert listed["BLOCK_ZONE"] == "BL"
        assert listed["BLOCK2"] == "TXT says no" and listed["BLOCK2_TXT"] == "TXT says no"
        assert "BLOCK3" not in listed  # only 127.0.0.9 would count
        clean = env_of(d.port, "127.0.0.5")
        assert "BLOCK" not in clean and "BLOCK2" not in clean


def test_blocklist_drop_and_access_file_exemption(tmp, dns):
    dns.a["2.0.0.127.bl.test"] = ["127.0.0.2"]
    dns.a["3.0.0.127.bl.test"] = ["127.0.0.2"]
    dat = make_access(tmp, "127.0.0.3\tallow,BLOCK\n")
    with Tcpd(tmp, [*QUIET, f"-nameserver={dns.address}", "-block=bl.test,BLOCK,550 @ blocked", "-drop",
                    "-denymsg=550 no", f"-access={dat}"], ENV_CHILD) as d:
        with connect_from("127.0.0.2", d.port) as s:
            assert read_all(s) == b"550 no\n"
        assert "dropped blocked connection from 127.0.0.2 (BLOCK=550 127.0.0.2 blocked)" in d.log_text()
        exempt = env_of(d.port, "127.0.0.3")
        assert exempt["BLOCK"] == ""  # the access file's empty BLOCK wins; no query made
        assert ("3.0.0.127.bl.test", 1) not in dns.queries


def test_haproxy_header_names_the_real_client(tmp):
    dat = make_access(tmp, "192.0.2.66\tdeny\n192.0.2\tallow,VIA_PROXY\n")
    child = ["/bin/sh", "-c", 'read line; echo "GOT:$line"; env']
    with Tcpd(tmp, [*QUIET, "-haproxy=2", f"-access={dat}"], child) as d:
        with connect_from("127.0.0.1", d.port) as s:
            # The header and the client's first bytes in one segment: nothing after it is lost.
            s.sendall(b"PROXY TCP4 192.0.2.7 198.51.100.1 4444 25\r\nhello\n")
            out = read_all(s).decode()
        assert "GOT:hello" in out
        env = parse_env(out.encode())
        assert env["TCPREMOTEIP"] == "192.0.2.7" and env["TCPREMOTEPORT"] == "4444"
        assert env["TCPLOCALIP"] == "198.51.100.1" and env["TCPLOCALPORT"] == "25"
        assert env["VIA_PROXY"] == ""
        with connect_from("127.0.0.1", d.port) as s:  # the access file sees the real client
            s.sendall(b"PROXY TCP4 192.0.2.66 198.51.100.1 4444 25\r\n")
            assert read_all(s) == b""
        with connect_from("127.0.0.1", d.port) as s:  # a client without a header is not served
            s.sendall(b"EHLO example\r\n")
            assert read_all(s) == b""
        with connect_from("127.0.0.1", d.port) as s:  # nor one that sends nothing (-haproxy=2)
            assert read_all(s) == b""
        log = d.log_text()
        assert "no PROXY header (the port expects one" in log or "malformed PROXY header" in log


# ---- robustness ----------------------------------------------------------------------------


def test_flood_of_connections_and_garbage_keeps_listener(tmp):
    with Tcpd(tmp, [*QUIET, "-maxprocs=20", "-maxperip=20"], ["/bin/cat"]) as d:
        for i in range(300):
            try:
                s = connect_from("127.0.0.1", d.port, timeout_s=5)
                if i % 3 == 0:
                    s.send(os.urandom(512))
                if i % 5 == 0:  # reset instead of a clean close
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass  # the backlog may be full for a moment; that is allowed
        # Still listening, still serving.
        def served() -> bool:
            with connect_from("127.0.0.1", d.port, timeout_s=10) as s:
                s.sendall(b"ping\n")
                return read_until(s, b"ping\n") == b"ping\n"
        backends.poll_until(served, what="couriertcpd serves after the flood")
        assert d.proc.poll() is None


def test_out_of_descriptors_backs_off_and_recovers(tmp, dns):
    # Lookups held open by a dead nameserver fill a small descriptor limit.
    dns.blackhole.add(FakeDns.reverse_name("127.0.0.7"))

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=3", "-maxprocs=200",
                    "-maxperip=200"], ENV_CHILD, preexec=low_nofile) as d:
        held = []
        for _ in range(40):
            try:
                held.append(connect_from("127.0.0.7", d.port, timeout_s=5))
            except OSError:
                break
        backends.poll_until(lambda: "Too many open files" in d.log_text(),
                            what="couriertcpd reports EMFILE")
        for s in held:
            s.close()
        backends.poll_until(lambda: served_env(d.port), what="couriertcpd serves again after EMFILE",
                            timeout_s=60)
        assert d.proc.poll() is None


def test_signal_storm_and_dying_children(tmp):
    with Tcpd(tmp, [*QUIET, "-maxprocs=50", "-maxperip=50"], ["/bin/sh", "-c", "kill -9 $$"]) as d:
        for _ in range(50):
            with connect_from("127.0.0.1", d.port) as s:
                read_all(s)
        for _ in range(200):
            d.proc.send_signal(signal.SIGCHLD)
            d.proc.send_signal(signal.SIGHUP)
        assert d.proc.poll() is None
        with connect_from("127.0.0.1", d.port) as s:
            assert read_all(s) == b""  # the child killed itself; the daemon is fine
    with Tcpd(tmp, QUIET, ENV_CHILD) as d2:
        for _ in range(100):
            d2.proc.send_signal(signal.SIGHUP)
        assert env_of(d2.port)["TCPREMOTEIP"] == "127.0.0.1"


def test_stderr_socket_and_stderrlogger(tmp):
    child = ["/bin/sh", "-c", "echo to-stderr >&2; echo to-stdout"]
    with Tcpd(tmp, [*QUIET, "-stderr=socket"], child) as d:
        with connect_from("127.0.0.1", d.port) as s:
            out = read_all(s)
        assert b"to-stderr\n" in out and b"to-stdout\n" in out
    logged = tmp / "logged.txt"
    logger = tmp / "logger.sh"
    logger.write_text(f"#!/bin/sh\necho \"name=$1\" >> {logged}\nexec cat >> {logged}\n")
    logger.chmod(0o755)
    port = backends.free_port()
    proc = subprocess.Popen([tool("tcpd/couriertcpd"), *QUIET, f"-stderrlogger={logger}", "-stderrloggername=smtp",
                             f"127.0.0.1.{port}", *child], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        backends.poll_until(lambda: logged.exists() and "listening on" in logged.read_text(),
                            what="couriertcpd logs through -stderrlogger", proc=proc)
        with connect_from("127.0.0.1", port) as s:
            assert read_all(s) == b"to-stdout\n"  # stderr went to the logger, not the socket
        backends.poll_until(lambda: "to-stderr" in logged.read_text(), what="the child's stderr reaches the logger")
        assert logged.read_text().startswith("name=smtp\n")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_user_option(tmp):
    child = ["/bin/sh", "-c", "id -u"]
    other = "nobody" if os.geteuid() == 0 else "root"
    with Tcpd(tmp, [*QUIET, f"-user={other}"], child) as d:
        with connect_from("127.0.0.1", d.port) as s:
            uid = int(read_all(s).decode().strip())
        if os.geteuid() == 0:
            # Root drops to nobody after binding: the daemon and its children run as nobody.
            nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
            assert uid == nobody
            status = Path(f"/proc/{d.proc.pid}/status").read_text()
            assert f"Uid:\t{nobody}\t{nobody}\t{nobody}" in status
        else:
            # An ordinary user has nothing to drop: it says so and goes on.
            assert uid == os.geteuid()
            assert "-user/-group ignored: not running as root" in d.log_text()


# ---- pid file, stop, errors ----------------------------------------------------------------


def test_pid_stop_lets_children_finish_then_kills(tmp):
    pid_file = tmp / "d.pid"
    port = backends.free_port()
    start = [tool("tcpd/couriertcpd"), f"-pid={pid_file}", *QUIET, "-stopgrace=1", f"-stderr={tmp / 'log'}",
             f"127.0.0.1.{port}", *WAITING_CHILD]
    r = subprocess.run(start, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pid = int(pid_file.read_text())
    os.kill(pid, 0)
    again = subprocess.run(start, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert f"already running as pid {pid}" in again.stderr
    client = connect_from("127.0.0.1", port)
    assert b"END" in read_until(client, b"END\n")
    stop = subprocess.run([tool("tcpd/couriertcpd"), f"-pid={pid_file}", "-stop"],
                          capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    # The waiting child got SIGTERM after the grace period: its connection ends.
    assert read_all(client) == b""
    backends.poll_until(lambda: process_gone(pid), what="couriertcpd exits after -stop")
    with pytest.raises(OSError):
        connect_from("127.0.0.1", port, timeout_s=5)
    assert not pid_file.exists()
    assert "sending SIGTERM to 1 remaining children" in (tmp / "log").read_text()


def test_errors_name_option_address_and_errno(tmp):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([tool("tcpd/couriertcpd"), *QUIET, f"-pid={tmp / 'x.pid'}", f"127.0.0.1.{port}",
                            *ENV_CHILD], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        assert f"127.0.0.1:{port}" in r.stderr and "Address already in use" in r.stderr
    bad = subprocess.run([tool("tcpd/couriertcpd"), "-maxprocs=zero", "25", "/bin/true"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "-maxprocs=zero" in bad.stderr
    missing = subprocess.run([tool("tcpd/couriertcpd"), "25", "/no/such/program"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "/no/such/program" in missing.stderr
    no_access = subprocess.run([tool("tcpd/couriertcpd"), f"-access={tmp / 'none.dat'}", "-nodnslookup",
                                f"127.0.0.1.{backends.free_port()}", "/bin/true"],
                               capture_output=True, text=True, timeout=60)
    assert no_access.returncode == 1 and "none.dat" in no_access.stderr
