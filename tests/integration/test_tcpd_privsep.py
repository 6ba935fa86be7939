"""couriertcpd's lookup helper (issue 14, item 4): started as root without
-user (as the imapd and pop3d start scripts start it, for the root login
programs), couriertcpd parses nothing from the network itself. The PROXY
header, DNS replies and ident replies are read by a per-connection helper
that runs as the mail user; looked at from /proc while a connection sits in
each stage (half a PROXY header, a nameserver that never answers, an ident
server that never answers). The behaviour itself (the child's environment,
-haproxy, blocklists, timeouts) is test_tcpd.py's, which runs through the
helper too."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

import backends
from suite import tool
from tcpd_support import ENV_CHILD, WAITING_CHILD, FakeDns, Tcpd, connect_from, env_of, parse_env, read_all
from test_privsep import holders, mail_ids
from test_tcpd import dns, tmp  # noqa: F401 (fixtures)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="privileges can only be dropped by root")
QUIET = ["-nodnslookup", "-noidentlookup"]


def status_of(pid: int) -> dict[str, list[str]]:
    text = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: fields[k].split() for k in ("Name", "PPid", "Uid", "Gid", "Groups")}


def children_of(pid: int) -> dict[int, dict[str, list[str]]]:
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = status_of(int(d.name))
        except (OSError, KeyError):
            continue
        if st["PPid"] == [str(pid)]:
            found[int(d.name)] = st
    return found


def assert_mail_user(pid: int, st: dict) -> None:
    uid, gid = mail_ids()
    assert st["Uid"] == [str(uid)] * 4, f"pid {pid} ({st['Name']}) runs with uids {st['Uid']}"
    assert st["Gid"] == [str(gid)] * 4, f"pid {pid} ({st['Name']}) runs with gids {st['Gid']}"
    assert set(st["Groups"]) <= {str(gid)}, f"pid {pid} keeps supplementary groups {st['Groups']}"


def one_helper(d: Tcpd) -> tuple[int, dict]:
    helpers = {}

    def found() -> bool:
        helpers.clear()
        helpers.update({p: s for p, s in children_of(d.proc.pid).items() if s["Name"] == ["couriertcpd"]})
        return len(helpers) == 1
    backends.poll_until(found, what="one lookup helper")
    return next(iter(helpers.items()))


@needs_root
def test_half_a_proxy_header_is_read_by_the_mail_user(tmp):
    with Tcpd(tmp, [*QUIET, "-haproxy=60"], ENV_CHILD) as d:
        with connect_from("127.0.0.1", d.port) as s:
            s.sendall(b"PROXY TCP4 192.0.2.7 ")  # and the rest later
            pid, st = one_helper(d)
            assert_mail_user(pid, st)
            # Of the processes holding the server side of the connection, only
            # the daemon itself is root, and it does not read it.
            procs = holders(s)
            assert pid in procs and d.proc.pid in procs, procs
            assert set(procs) == {pid, d.proc.pid}, procs
            assert status_of(d.proc.pid)["Uid"][1] == "0"
            s.sendall(b"198.51.100.1 4444 25\r\n")
            env = parse_env(read_all(s))
        assert env["TCPREMOTEIP"] == "192.0.2.7" and env["TCPLOCALPORT"] == "25"
        backends.poll_until(lambda: not children_of(d.proc.pid), what="the helper and the child to end")


@needs_root
def test_dns_lookups_run_as_the_mail_user(tmp, dns):
    dns.blackhole.add(FakeDns.reverse_name("127.0.0.7"))
    dns.add_host("127.0.0.5", "good.example")
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=60"], ENV_CHILD) as d:
        stuck = connect_from("127.0.0.7", d.port)
        dns.wait_for_query(FakeDns.reverse_name("127.0.0.7"))
        pid, st = one_helper(d)
        assert_mail_user(pid, st)
        # The helper asked the nameserver: its UDP socket is its own.
        assert any(os.readlink(fd).startswith("socket:") for fd in Path(f"/proc/{pid}/fd").iterdir())
        # Meanwhile other connections are served, each through its own helper.
        assert env_of(d.port, "127.0.0.5")["TCPREMOTEHOST"] == "good.example"
        stuck.close()


@needs_root
def test_ident_lookup_runs_as_the_mail_user(tmp):
    # An ident server that accepts (in the kernel's backlog) and never answers.
    ident = socket.socket()
    ident.bind(("127.0.0.1", 0))
    ident.listen(8)
    try:
        with Tcpd(tmp, ["-nodnslookup", f"-identport={ident.getsockname()[1]}", "-identtimeout=60"],
                  WAITING_CHILD) as d:
            with connect_from("127.0.0.1", d.port):
                pid, st = one_helper(d)
                assert_mail_user(pid, st)
    finally:
        ident.close()


def test_no_helper_without_lookups(tmp):
    # -nodnslookup -noidentlookup, no -haproxy, no -block: nothing to parse,
    # so no extra process: the program is the daemon's only child.
    with Tcpd(tmp, QUIET, WAITING_CHILD) as d:
        with connect_from("127.0.0.1", d.port) as s:
            s.settimeout(30)
            data = b""
            while b"END" not in data:
                data += s.recv(4096)
            kids = children_of(d.proc.pid)
            assert len(kids) == 1 and next(iter(kids.values()))["Name"] == ["sh"], kids


@needs_root
def test_missing_mail_user_stops_the_start_with_the_fix(tmp):
    env = dict(os.environ, MAILUSER="no-such-mail-user")
    port = backends.free_port()
    r = subprocess.run([tool("tcpd/couriertcpd"), "-noidentlookup", f"127.0.0.1.{port}", "/bin/true"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "no-such-mail-user" in r.stderr and "useradd -r no-such-mail-user" in r.stderr, r.stderr
    assert "lookup helpers" in r.stderr, r.stderr


@needs_root
def test_a_helper_killed_mid_lookup_costs_only_its_connection(tmp, dns):
    dns.blackhole.add(FakeDns.reverse_name("127.0.0.7"))
    dns.add_host("127.0.0.5", "good.example")
    with Tcpd(tmp, ["-noidentlookup", f"-nameserver={dns.address}", "-dnstimeout=60"], ENV_CHILD) as d:
        with connect_from("127.0.0.7", d.port) as stuck:
            dns.wait_for_query(FakeDns.reverse_name("127.0.0.7"))
            pid, _ = one_helper(d)
            os.kill(pid, 9)
            assert read_all(stuck) == b""  # closed, not served with made-up values
        backends.poll_until(lambda: "sent a malformed result (no end line" in d.log_text(),
                            what="the log line for the dead helper")
        assert f"the lookup helper (pid {pid}) for a connection from 127.0.0.7" in d.log_text()
        assert env_of(d.port, "127.0.0.5")["TCPREMOTEHOST"] == "good.example"
        assert d.proc.poll() is None
