"""maildrop -d USER end to end: authdaemond (userdb) looks the account up,
maildrop switches to it and delivers; the mail is read back with poplib and
imaplib through the real pop3d and imapd. Also the failure modes of seed 002
and COURIER-TRAPS 6/7 (missing home, unwritable Maildir, authdaemond down:
never an mbox fallback, never "delivered" when not), plus addressing,
dot-courier files and .mailfilter checks.
"""
from __future__ import annotations

import os
import poplib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from imap_support import ImapServer
from pop3_support import Pop3Launcher
from suite import mail_uid_gid, tool

SENDER = "sender@remote.test"


def maildrop_bin() -> str:
    return tool("maildrop/maildrop")


def run_maildrop(mail_system, args: list[str], message: bytes, env: dict | None = None,
                 stdin_file: Path | None = None) -> subprocess.CompletedProcess:
    e = dict(mail_system.env)
    e.update(env or {})
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            return subprocess.run([maildrop_bin(), *args], stdin=f, env=e, capture_output=True, timeout=120)
    return subprocess.run([maildrop_bin(), *args], input=message, env=e, capture_output=True, timeout=120)


def as_account(account, fn):
    """Runs fn() with the account's uid (files it creates belong to it)."""
    if os.geteuid() != 0:
        return fn()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(account.gid)
            os.setuid(account.uid)
            fn()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def new_files(maildir: Path) -> list[Path]:
    return sorted((maildir / "new").iterdir()) if (maildir / "new").is_dir() else []


def message(subject: str, body: str = "Hello.\n") -> bytes:
    return (f"From: Sender <{SENDER}>\nTo: someone@example.test\nSubject: {subject}\n"
            f"Message-ID: <{subject.replace(' ', '.')}@remote.test>\n\n{body}").encode()


@pytest.fixture
def alice(mail_system):
    return mail_system.add_account("alice@example.test", "alice-pw")


def deliver_ok(mail_system, user: str, msg: bytes, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cp = run_maildrop(mail_system, ["-d", user, "-f", SENDER, *extra], msg, env)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return cp


def test_delivery_adds_return_path_and_delivered_to(mail_system, alice):
    msg = message("first")
    deliver_ok(mail_system, alice.address, msg, "-A", f"Delivered-To: {alice.address}")
    files = new_files(alice.maildir)
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data == f"Return-Path: <{SENDER}>\nDelivered-To: {alice.address}\n".encode() + msg
    st = files[0].stat()
    assert (st.st_uid, st.st_gid) == (alice.uid, alice.gid)
    assert re.search(r",S=%d$" % len(data), files[0].name)
    assert list((alice.maildir / "tmp").iterdir()) == []  # the spool file left no trace


def test_delivered_mail_reads_back_byte_exact_over_pop3_and_imap(mail_system, alice, public_tmp):
    bodies = [message("pop and imap", "line one\n.dot line\n\nend\n"),
              b"Subject: malformed mime\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
              b"--b\nContent-Type: text/plain\n\nno closing boundary \xff\xfe 8bit\n"]
    for b in bodies:
        deliver_ok(mail_system, alice.address, b, env={"RECIPIENT": alice.address})
    delivered = [p.read_bytes() for p in new_files(alice.maildir)]
    assert sorted(delivered) == sorted(
        f"Return-Path: <{SENDER}>\nDelivered-To: {alice.address}\n".encode() + b for b in bodies)

    imap = ImapServer(mail_system)
    try:
        m = imap.login(alice)
        m.select("INBOX")
        typ, data = m.fetch("1:2", "(UID FLAGS BODY.PEEK[])")
        assert typ == "OK"
        fetched = sorted(d[1].replace(b"\r\n", b"\n") for d in data if isinstance(d, tuple))
        uids = [int(re.search(rb"UID (\d+)", d[0]).group(1)) for d in data if isinstance(d, tuple)]
        assert sorted(uids) == [1, 2]
        assert all(b"\\Seen" not in d[0] for d in data if isinstance(d, tuple))
        m.logout()
    finally:
        imap.stop()
    assert fetched == sorted(delivered)

    # POP3 after IMAP: RETR marks the messages seen, IMAP saw them new.
    pop = Pop3Launcher(mail_system, Path(public_tmp) / "pop3.log")
    try:
        client = poplib.POP3("127.0.0.1", pop.port, timeout=30)
        client.user(alice.address)
        client.pass_(alice.password)
        count, _ = client.stat()
        assert count == 2
        got = sorted(b"\n".join(client.retr(i)[1]) + b"\n" for i in (1, 2))
        client.quit()
    finally:
        pop.close()
    assert got == sorted(delivered)



def test_account_maildir_field_is_used(mail_system, public_tmp):
    uid, gid = mail_uid_gid()
    box = Path(public_tmp) / "elsewhere" / "Maildir"
    bob = mail_system.add_account("bob@example.test", "pw", mail=str(box))
    subprocess.run([tool("maildrop/maildirmake"), str(box.parent)], check=False)
    box.parent.mkdir(exist_ok=True)
    subprocess.run([tool("maildrop/maildirmake"), str(box)], check=True)
    if os.geteuid() == 0:
        for p in [box.parent, box, *box.rglob("*")]:
            os.chown(p, uid, gid)
    deliver_ok(mail_system, bob.address, message("to the mail field"))
    assert len(new_files(box)) == 1
    assert new_files(bob.maildir) == []


def test_virtual_accounts_sharing_one_uid_get_their_own_maildir(mail_system):
    a = mail_system.add_account("v1@virtual.test", "pw1")
    b = mail_system.add_account("v2@virtual.test", "pw2")
    assert a.uid == b.uid
    deliver_ok(mail_system, a.address, message("for v1"))
    deliver_ok(mail_system, b.address, message("for v2"))
    deliver_ok(mail_system, b.address, message("for v2 again"))
    assert [b"for v1" in p.read_bytes() for p in new_files(a.maildir)] == [True]
    assert len(new_files(b.maildir)) == 2
    assert not Path("/var/mail", str(a.uid)).exists()


def test_missing_home_defers_and_explains(mail_system):
    acct = mail_system.add_account("gone@example.test", "pw")
    subprocess.run(["rm", "-rf", str(acct.home)], check=True)
    cp = run_maildrop(mail_system, ["-d", acct.address, "-f", SENDER], message("lost?"))
    err = cp.stderr.decode()
    assert cp.returncode == 75, err
    assert len(err.strip().splitlines()) == 1, err
    assert str(acct.home) in err and acct.address in err and f"uid {acct.uid}" in err
    assert "No such file or directory" in err and "maildirmake" in err and "home= field" in err


def test_missing_maildir_defers_never_an_mbox(mail_system, alice):
    subprocess.run(["rm", "-rf", str(alice.maildir)], check=True)
    cp = run_maildrop(mail_system, ["-d", alice.address], message("where?"))
    err = cp.stderr.decode()
    assert cp.returncode == 75, err
    assert f"maildirmake {alice.maildir}" in err
    assert list(alice.home.iterdir()) == []  # no mbox file appeared


def test_unwritable_maildir_defers(mail_system, alice):
    os.chmod(alice.maildir / "tmp", 0o500)
    os.chmod(alice.maildir / "new", 0o500)
    try:
        cp = run_maildrop(mail_system, ["-d", alice.address], message("ro"))
    finally:
        os.chmod(alice.maildir / "tmp", 0o700)
        os.chmod(alice.maildir / "new", 0o700)
    err = cp.stderr.decode()
    assert cp.returncode == 75, err
    assert str(alice.maildir) in err and ("not writable" in err or "Permission denied" in err)
    assert new_files(alice.maildir) == []


def test_missing_tmp_directory_defers(mail_system, alice):
    os.rmdir(alice.maildir / "tmp")
    cp = run_maildrop(mail_system, ["-d", alice.address], message("no tmp"))
    assert cp.returncode == 75
    assert "has no tmp/" in cp.stderr.decode() and "maildirmake" in cp.stderr.decode()


def test_authdaemond_down_defers(mail_system, alice):
    cp = run_maildrop(mail_system, ["-d", alice.address], message("x"),
                      env={"AUTHDAEMON_SOCKET": str(mail_system.var / "nothere" / "socket")})
    err = cp.stderr.decode()
    assert cp.returncode == 75, err
    assert "nothere" in err and "authdaemond" in err
    assert new_files(alice.maildir) == []


def test_unknown_user_is_67(mail_system, alice):
    cp = run_maildrop(mail_system, ["-d", "nobody-here@example.test"], message("x"))
    assert cp.returncode == 67
    assert "nobody-here@example.test" in cp.stderr.decode()


def test_usage_errors(mail_system):
    cp = run_maildrop(mail_system, [], b"x")
    assert cp.returncode == 64 and "-d USER" in cp.stderr.decode()
    cp = run_maildrop(mail_system, ["-Z"], b"x")
    assert cp.returncode == 64
    cp = run_maildrop(mail_system, ["--help"], b"")
    assert cp.returncode == 0 and b"usage: maildrop" in cp.stdout


@pytest.mark.parametrize("folder_exists", [True, False])
def test_plus_addressing(mail_system, alice, folder_exists):
    if folder_exists:
        subprocess.run([tool("maildrop/maildirmake"), "-f", "lists", str(alice.maildir)], check=True)
        if os.geteuid() == 0:
            for p in [alice.maildir / ".lists", *(alice.maildir / ".lists").rglob("*")]:
                os.chown(p, alice.uid, alice.gid)
    deliver_ok(mail_system, "alice+lists@example.test", message("plus"))
    inbox = new_files(alice.maildir)
    folder = new_files(alice.maildir / ".lists")
    assert (len(folder), len(inbox)) == ((1, 0) if folder_exists else (0, 1))


def test_ext_from_environment_selects_folder(mail_system, alice):
    subprocess.run([tool("maildrop/maildirmake"), "-f", "news", str(alice.maildir)], check=True)
    if os.geteuid() == 0:
        for p in [alice.maildir / ".news", *(alice.maildir / ".news").rglob("*")]:
            os.chown(p, alice.uid, alice.gid)
    deliver_ok(mail_system, alice.address, message("ext"), env={"EXT": "news"})
    assert len(new_files(alice.maildir / ".news")) == 1


def write_user_file(account, name: str, text: str, mode: int = 0o600) -> Path:
    path = account.home / name
    path.write_text(text)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, account.uid, account.gid)
    return path


def test_dot_courier_mailbox_program_lines(mail_system, alice):
    out = alice.home / "program-output"
    write_user_file(alice, ".courier", f"# two copies\n./Maildir/\n| cat > {out}; echo \"$RECIPIENT\" >> {out}\n")
    deliver_ok(mail_system, alice.address, message("dot courier"), env={"RECIPIENT": alice.address})
    assert len(new_files(alice.maildir)) == 1
    text = out.read_bytes()
    assert b"Subject: dot courier" in text and text.endswith(alice.address.encode() + b"\n")


def test_dot_courier_ext_and_default(mail_system, alice):
    other = alice.home / "other-box"
    subprocess.run([tool("maildrop/maildirmake"), str(other)], check=True)
    if os.geteuid() == 0:
        for p in [other, *other.rglob("*")]:
            os.chown(p, alice.uid, alice.gid)
    write_user_file(alice, ".courier-foo-default", "./other-box/\n")
    deliver_ok(mail_system, alice.address, message("ext default"), env={"EXT": "foo-bar"})
    assert len(new_files(other)) == 1
    write_user_file(alice, ".courier-discard", "# nothing\n")
    deliver_ok(mail_system, alice.address, message("discarded"), env={"EXT": "discard"})
    assert len(new_files(other)) == 1 and new_files(alice.maildir) == []


def test_dot_courier_program_exit_codes(mail_system, alice):
    write_user_file(alice, ".courier", "| exit 99\n./Maildir/\n")
    deliver_ok(mail_system, alice.address, message("99 stops"))
    assert new_files(alice.maildir) == []
    write_user_file(alice, ".courier", "| exit 70\n")
    cp = run_maildrop(mail_system, ["-d", alice.address], message("perm"))
    assert cp.returncode == 70 and ".courier:1" in cp.stderr.decode()
    write_user_file(alice, ".courier", "| exit 3\n")
    cp = run_maildrop(mail_system, ["-d", alice.address], message("temp"))
    assert cp.returncode == 75


def test_dot_courier_forward_without_sendmail_defers(mail_system, alice):
    sendmail = Path(re.sub(r"/maildroprc$", "", str(system_filter_path()))).parent / "bin" / "sendmail"
    if sendmail.exists():
        pytest.skip(f"{sendmail} is installed: this test is about its absence")
    write_user_file(alice, ".courier", "someone@else.test\n")
    cp = run_maildrop(mail_system, ["-d", alice.address], message("fwd"))
    assert cp.returncode == 75
    assert "no sendmail program" in cp.stderr.decode()


def test_mailfilter_sorts_into_folders(mail_system, alice):
    subprocess.run([tool("maildrop/maildirmake"), "-f", "Spam", str(alice.maildir)], check=True)
    if os.geteuid() == 0:
        for p in [alice.maildir / ".Spam", *(alice.maildir / ".Spam").rglob("*")]:
            os.chown(p, alice.uid, alice.gid)
    write_user_file(alice, ".mailfilter",
                    'if (/^Subject:.*viagra/ || /cheap pills/:b)\n{\n  to "$DEFAULT/.Spam/"\n}\n'
                    'if (hasaddr("list@example.test"))\n{\n  exit\n}\n')
    deliver_ok(mail_system, alice.address, message("buy viagra"))
    deliver_ok(mail_system, alice.address, message("plain", "cheap pills here\n"))
    deliver_ok(mail_system, alice.address, message("hello"))
    deliver_ok(mail_system, alice.address, b"To: list@example.test\nSubject: dropped\n\nx\n")
    assert len(new_files(alice.maildir / ".Spam")) == 2
    assert len(new_files(alice.maildir)) == 1


def test_mailfilter_syntax_error_defers_with_file_and_line(mail_system, alice):
    path = write_user_file(alice, ".mailfilter", 'A=1\nif (/unterminated\n{ to x }\n')
    cp = run_maildrop(mail_system, ["-d", alice.address], message("keep me"))
    err = cp.stderr.decode()
    assert cp.returncode == 75, err
    assert f"{path}:2: syntax error: unterminated pattern" in err
    assert len(err.strip().splitlines()) == 1
    assert new_files(alice.maildir) == []


def test_mailfilter_runtime_error_defers(mail_system, alice):
    path = write_user_file(alice, ".mailfilter", 'X = 1\nY = $X / 0\n')
    cp = run_maildrop(mail_system, ["-d", alice.address], message("keep me"))
    assert cp.returncode == 75
    assert f"{path}:2: division by zero" in cp.stderr.decode()


def test_world_writable_mailfilter_defers(mail_system, alice):
    write_user_file(alice, ".mailfilter", "exit\n", mode=0o666)
    cp = run_maildrop(mail_system, ["-d", alice.address], message("x"))
    assert cp.returncode == 75
    assert "group- or world-writable" in cp.stderr.decode() and "chmod 600" in cp.stderr.decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file another owner")
def test_mailfilter_owned_by_someone_else_defers(mail_system, alice):
    path = write_user_file(alice, ".mailfilter", "exit\n")
    os.chown(path, 0, 0)
    cp = run_maildrop(mail_system, ["-d", alice.address], message("x"))
    assert cp.returncode == 75
    assert "owned by uid 0" in cp.stderr.decode()


def test_quota_over_defers_and_warns(mail_system, public_tmp):
    acct = mail_system.add_account("q@example.test", "pw", quota="1000S")
    msg = message("q", "x" * 300 + "\n")
    cp = run_maildrop(mail_system, ["-d", acct.address, "-w", "50"], msg)
    assert cp.returncode == 0, cp.stderr
    cp = run_maildrop(mail_system, ["-d", acct.address, "-w", "50"], msg)
    assert cp.returncode == 0, cp.stderr
    files = new_files(acct.maildir)
    assert len(files) == 3  # two messages and one quota warning
    assert sum(b"Mail quota warning" in f.read_bytes() for f in files) == 1
    for _ in range(3):
        cp = run_maildrop(mail_system, ["-d", acct.address, "-w", "50"], msg)
        if cp.returncode != 0:
            break
    assert cp.returncode == 75
    assert "over its quota" in cp.stderr.decode()


def test_50_mb_message_is_streamed(mail_system, alice, public_tmp):
    big = Path(public_tmp) / "big.eml"
    line = b"x" * 99 + b"\n"
    with open(big, "wb") as f:
        f.write(b"Subject: big\n\n")
        for _ in range(50 * 1024 * 1024 // 100):
            f.write(line)
    # GNU time measures maildrop alone (a child's ru_maxrss read from Python
    # would include Python's own memory, kept by the kernel across exec).
    rss_file = Path(public_tmp) / "rss"
    with open(big, "rb") as f:
        cp = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), maildrop_bin(),
                             "-d", alice.address, "-f", SENDER], stdin=f, env=dict(mail_system.env),
                            capture_output=True, timeout=300)
    assert cp.returncode == 0, cp.stderr
    peak_kib = int(rss_file.read_text().split()[-1])
    assert peak_kib < 16 * 1024, f"maildrop peaked at {peak_kib} KiB for a 50 MB message"
    files = new_files(alice.maildir)
    assert len(files) == 1
    assert files[0].stat().st_size == big.stat().st_size + len(f"Return-Path: <{SENDER}>\n")


def test_concurrent_deliveries(mail_system, alice):
    procs = []
    e = dict(mail_system.env)
    for i in range(12):
        procs.append(subprocess.Popen([maildrop_bin(), "-d", alice.address], stdin=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=e))
    for i, p in enumerate(procs):
        p.stdin.write(message(f"concurrent {i}"))
        p.stdin.close()
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read()
    assert len(new_files(alice.maildir)) == 12


def test_uid_0_account_is_refused(mail_system, alice):
    mail_system._run(tool("authlib/userdb"), alice.address, "set", "uid=0", "gid=0")
    mail_system._run(tool("authlib/makeuserdb"))
    cp = run_maildrop(mail_system, ["-d", alice.address], message("as root?"))
    assert cp.returncode == 77, cp.stderr
    assert b"uid 0 (root)" in cp.stderr
    assert new_files(alice.maildir) == []


def test_filter_forward_through_sendmail(mail_system, alice):
    fake = alice.home / "fake-sendmail"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {alice.home}/fwd-args\ncat > {alice.home}/fwd-msg\n")
    fake.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(fake, alice.uid, alice.gid)
    write_user_file(alice, ".mailfilter", f'SENDMAIL="{fake}"\ncc "!boss@example.test"\n')
    msg = message("forward me")
    deliver_ok(mail_system, alice.address, msg, "-A", f"Delivered-To: {alice.address}")
    assert (alice.home / "fwd-args").read_text() == f"-f {SENDER} -- boss@example.test\n"
    assert (alice.home / "fwd-msg").read_bytes() == f"Delivered-To: {alice.address}\n".encode() + msg
    assert len(new_files(alice.maildir)) == 1  # cc, then the default delivery


def test_options_d_mismatch_and_verbose(mail_system, alice):
    cp = run_maildrop(mail_system, ["-d", alice.address, "-D", "12345/12345"], message("x"))
    assert cp.returncode == 75 and b"-D 12345/12345 does not match" in cp.stderr
    cp = run_maildrop(mail_system, ["-d", alice.address, "-V", "1", "-D", f"{alice.uid}/{alice.gid}"], message("v"))
    assert cp.returncode == 0 and b"delivered to maildir" in cp.stderr


def system_filter_path() -> Path:
    """The maildroprc this build reads (maildrop --help names it)."""
    out = subprocess.run([maildrop_bin(), "--help"], capture_output=True, text=True).stdout
    return Path(re.search(r"through (\S+/maildroprc)", out).group(1))


def searchable_by(folder: Path, uid: int, gid: int) -> bool:
    """Whether uid/gid may search folder and every folder above it."""
    for d in [folder, *folder.parents]:
        st = d.stat()
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if uid != 0 and not st.st_mode & bit:
            return False
    return True


def test_system_maildroprc_runs_first_and_its_errors_defer(mail_system, alice):
    rc = system_filter_path()
    # An uninstalled build has no sysconfdir yet: make it (and remove it after).
    made = None
    if not rc.parent.exists():
        made = rc.parent
        while not made.parent.exists():
            made = made.parent
        try:
            rc.parent.mkdir(parents=True)
        except OSError as e:
            pytest.skip(f"cannot make {rc.parent}: {e}")
        for d in [made, *made.rglob("*")]:
            d.chmod(0o755)
    if not rc.parent.is_dir() or not os.access(rc.parent, os.W_OK):
        pytest.skip(f"{rc.parent} is not writable here")
    if not searchable_by(rc.parent, alice.uid, alice.gid):
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        pytest.skip(f"uid {alice.uid} cannot reach {rc.parent} (a folder above it is closed to it)")
    saved = rc.read_bytes() if rc.exists() else None
    subprocess.run([tool("maildrop/maildirmake"), "-f", "Sys", str(alice.maildir)], check=True)
    if os.geteuid() == 0:
        for p in [alice.maildir / ".Sys", *(alice.maildir / ".Sys").rglob("*")]:
            os.chown(p, alice.uid, alice.gid)
    try:
        rc.write_text('if (/^Subject: sysfilter/)\n{\n  to "$DEFAULT/.Sys/"\n}\n')
        rc.chmod(0o644)
        deliver_ok(mail_system, alice.address, message("sysfilter test"))
        deliver_ok(mail_system, alice.address, message("other"))
        assert len(new_files(alice.maildir / ".Sys")) == 1 and len(new_files(alice.maildir)) == 1
        rc.write_text('A=1\nB = (\n')
        cp = run_maildrop(mail_system, ["-d", alice.address], message("kept"))
        assert cp.returncode == 75 and f"{rc}:2: syntax error".encode() in cp.stderr
        rc.chmod(0o646)
        cp = run_maildrop(mail_system, ["-d", alice.address], message("kept"))
        assert cp.returncode == 75 and b"world-writable" in cp.stderr
        if os.geteuid() == 0 and alice.uid != 0:  # root's file, unreadable to the account
            os.chown(rc, 0, 0)
            rc.chmod(0o600)
            cp = run_maildrop(mail_system, ["-d", alice.address], message("kept"))
            assert cp.returncode == 75 and b"cannot be read by uid" in cp.stderr and b"chmod 644" in cp.stderr
        assert len(new_files(alice.maildir)) == 1
    finally:
        if saved is None:
            rc.unlink(missing_ok=True)
        else:
            rc.write_bytes(saved)
            rc.chmod(0o644)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def test_dot_courier_dynamic_instructions_and_environment(mail_system, alice):
    other = alice.home / "dyn-box"
    subprocess.run([tool("maildrop/maildirmake"), str(other)], check=True)
    if os.geteuid() == 0:
        for p in [other, *other.rglob("*")]:
            os.chown(p, alice.uid, alice.gid)
    env_out = alice.home / "env-out"
    write_user_file(alice, ".courier-lists-news",
                    f"| env > {env_out}\n|| echo ./dyn-box/; echo '| exit 0'\n")
    deliver_ok(mail_system, alice.address, message("dynamic"),
               env={"EXT": "lists-news", "RECIPIENT": alice.address, "HOST": "example.test"})
    assert len(new_files(other)) == 1
    env = dict(line.split("=", 1) for line in env_out.read_text().splitlines() if "=" in line)
    assert env["EXT"] == "lists-news" and env["EXT2"] == "news" and env["EXT3"] == ""
    assert env["RECIPIENT"] == alice.address and env["HOST"] == "example.test"
    assert env["SENDER"] == SENDER and env["HOME"] == str(alice.home)
    assert env["USER"] == alice.address
    assert env["RPLINE"] == f"Return-Path: <{SENDER}>"  # the newline ends the env line
    assert "AUTHDAEMON_SOCKET" not in env  # nothing leaks from the caller
    # output that is not an instruction list defers, naming where it came from
    write_user_file(alice, ".courier", "|| printf '|'\n")
    cp = run_maildrop(mail_system, ["-d", alice.address], message("bad dynamic"))
    assert cp.returncode == 75 and b"output of" in cp.stderr and b"without a command" in cp.stderr
