"""maildirmake and deliverquota as an admin or a script uses them: real
directories, real quota files, exit codes and messages; and maildrop's
manual mode (a filter file named on the command line) and -m syntax check.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from suite import mail_uid_gid, tool


def run(argv: list[str], input: bytes = b"", env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(argv, input=input, capture_output=True, timeout=60, env=env, cwd=cwd)


def maildirmake(*args: str):
    return run([tool("maildrop/maildirmake"), *args])


def deliverquota(*args: str, input: bytes):
    return run([tool("maildrop/deliverquota"), *args], input=input)


def messages(md: Path) -> list[Path]:
    return sorted(list((md / "new").iterdir()) + list((md / "cur").iterdir()))


def test_maildirmake_creates_and_repairs(tmp_path):
    md = tmp_path / "Maildir"
    assert maildirmake(str(md)).returncode == 0
    assert all((md / d).is_dir() for d in ("cur", "new", "tmp"))
    assert stat.S_IMODE(md.stat().st_mode) == 0o700
    (md / "tmp").rmdir()
    assert maildirmake(str(md)).returncode == 0  # repairs, keeps the rest
    assert (md / "tmp").is_dir()
    cp = maildirmake(str(tmp_path / "no" / "parent"))
    assert cp.returncode == 73 and b"parent" in cp.stderr


def test_maildirmake_folders(tmp_path):
    md = tmp_path / "Maildir"
    maildirmake(str(md))
    assert maildirmake("-f", "Lists.courier", str(md)).returncode == 0
    folder = md / ".Lists.courier"
    assert (folder / "maildirfolder").is_file() and (folder / "new").is_dir()
    assert maildirmake("-f", "INBOX.Sent", str(md)).returncode == 0
    assert (md / ".Sent").is_dir()
    cp = maildirmake("-f", "Sent", str(md))
    assert cp.returncode == 73 and b"already exists" in cp.stderr
    cp = maildirmake("-f", "bad..name", str(md))
    assert cp.returncode == 64


def test_maildirmake_shared(tmp_path):
    md = tmp_path / "shared"
    assert maildirmake("-S", str(md)).returncode == 0
    assert stat.S_IMODE(md.stat().st_mode) == 0o755
    assert maildirmake("-s", "write", "-f", "Drop", str(md)).returncode == 0
    assert stat.S_IMODE((md / ".Drop").stat().st_mode) == 0o1777
    assert maildirmake("-s", "read,group", "-f", "Ro", str(md)).returncode == 0
    assert stat.S_IMODE((md / ".Ro").stat().st_mode) == 0o750
    assert maildirmake("-s", "bogus", "-f", "X", str(md)).returncode == 64
    assert maildirmake("-s", "read", str(md)).returncode == 64


def test_maildirmake_quota_and_deliverquota(tmp_path):
    md = tmp_path / "Maildir"
    assert maildirmake("-q", "250S,3C", str(md)).returncode == 0  # creates the maildir too
    assert (md / "maildirsize").read_text().splitlines()[0] == "250S,3C"
    assert maildirmake("-q", "12X", str(md)).returncode == 64
    msg = b"Subject: q\n\n" + b"z" * 87 + b"\n"  # 100 bytes
    assert deliverquota(str(md), input=msg).returncode == 0
    assert deliverquota(str(md), input=msg).returncode == 0
    cp = deliverquota(str(md), input=msg)
    assert cp.returncode == 75 and b"over its quota" in cp.stderr
    got = messages(md)
    assert len(got) == 2 and all(p.read_bytes() == msg for p in got)


def test_deliverquota_create_warn_and_errors(tmp_path):
    md = tmp_path / "new-box"
    cp = deliverquota(str(md), input=b"Subject: x\n\nx\n")
    assert cp.returncode == 75 and b"maildirmake" in cp.stderr
    assert deliverquota("-c", "-w", "10", str(md), "1000S", input=b"Subject: x\n\n" + b"x" * 200 + b"\n").returncode == 0
    texts = [p.read_bytes() for p in messages(md)]
    assert len(texts) == 2 and sum(b"quota warning" in t for t in texts) == 1
    assert deliverquota(input=b"").returncode == 64
    assert deliverquota("--help", input=b"").returncode == 0


def as_mail_user():
    """preexec_fn: the test accounts' uid when the tests run as root."""
    uid, gid = mail_uid_gid()
    if os.geteuid() == 0:
        os.setgid(gid)
        os.setuid(uid)


def test_manual_mode_filter_file(public_tmp):
    top = Path(public_tmp) / "manual"
    md = top / "Maildir"
    top.mkdir()
    maildirmake(str(md))
    maildirmake("-f", "Work", str(md))
    filt = top / "filter"
    filt.write_text('if (/^Subject: work/) { to "$HOME/Maildir/.Work/" }\nlog "args $1 $2"\n')
    filt.chmod(0o600)
    if os.geteuid() == 0:
        uid, gid = mail_uid_gid()
        for p in [top, *top.rglob("*")]:
            os.chown(p, uid, gid)
    env = dict(os.environ, HOME=str(top), DEFAULT=str(md))

    def md_run(stdin: bytes, *args: str):
        return subprocess.run([tool("maildrop/maildrop"), *args], input=stdin, capture_output=True, timeout=60,
                              env=env, cwd=top, preexec_fn=as_mail_user)

    cp = md_run(b"Subject: work item\n\nx\n", str(filt), "a1", "a2")
    assert cp.returncode == 0, cp.stderr
    assert len(messages(md / ".Work")) == 1
    cp = md_run(b"Subject: other\n\nx\n", str(filt), "a1", "a2")
    assert cp.returncode == 0 and b"args a1 a2" in cp.stderr
    assert len(messages(md)) == 1
    filt.chmod(0o622)
    cp = md_run(b"Subject: x\n\nx\n", str(filt))
    assert cp.returncode == 75 and b"world-writable" in cp.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused")
def test_manual_mode_refuses_root(tmp_path):
    filt = tmp_path / "filter"
    filt.write_text('to "/tmp/x/"\n')
    filt.chmod(0o600)
    cp = run([tool("maildrop/maildrop"), str(filt)], b"Subject: x\n\nx\n", env=dict(os.environ, HOME=str(tmp_path)))
    assert cp.returncode == 77 and b"as root" in cp.stderr


def test_syntax_check_mode(tmp_path):
    good = tmp_path / "good"
    good.write_text('if (/x/) { to "a/" }\n')
    bad = tmp_path / "bad"
    bad.write_text('A=1\n\nif (1 { to x }\n')
    cp = run([tool("maildrop/maildrop"), "-m", str(good)], env=dict(os.environ, HOME=str(tmp_path)))
    assert cp.returncode == 0 and b"syntax OK" in cp.stdout
    cp = run([tool("maildrop/maildrop"), "-m", str(bad)], env=dict(os.environ, HOME=str(tmp_path)))
    assert cp.returncode == 75 and f"{bad}:3: syntax error".encode() in cp.stderr
