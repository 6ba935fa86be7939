"""The userdb tools as an admin runs them: userdb, makeuserdb, userdbpw, pw2userdb
and authpasswd (doc/*.8), and authuserdb behind authdaemond/authtest.

Every test works on its own userdb in a temporary folder (USERDB=<path>, our
extension, or -f). The databases are read back with Berkeley DB's own
db5.3_dump, and the hashes checked with libcrypt, so the tests do not trust the
code under test to read what it wrote. The authdaemond cases are skipped until
the daemon is built; they cover the trap of COURIER-TRAPS.md 5 (an account added
without makeuserdb is absent, and the log says to run makeuserdb), a database
replaced under a running daemon, a corrupt one (temporary failure) and a
password change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import backends
from suite import MAIL_USER, ModuleDaemon

SRC = Path(os.environ.get("SUITE_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SUITE_BUILD", SRC / "build"))
TOOLS = {name: BUILD / "authlib" / name
         for name in ("userdb", "makeuserdb", "userdbpw", "pw2userdb", "authpasswd")}
AUTHDAEMOND = BUILD / "authlib" / "authdaemond"
AUTHTEST = BUILD / "authlib" / "authtest"
DB_DUMP = shutil.which("db5.3_dump")

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in TOOLS.values()),
    reason=f"the userdb tools are not built yet in {BUILD}/authlib (set SUITE_BUILD to the build folder)")

needs_daemon = pytest.mark.skipif(
    not (AUTHDAEMOND.exists() and AUTHTEST.exists()),
    reason=f"authdaemond or authtest not built yet in {BUILD}/authlib")

needs_dump = pytest.mark.skipif(DB_DUMP is None, reason="db5.3_dump not installed (Debian: db5.3-util)")

EXIT_OK, EXIT_REJECTED, EXIT_TEMPFAIL = 0, 1, 75


def run(tool: str, *args: str, userdb: Path | None = None, input: str | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("USERDB", None)
    if userdb is not None:
        env["USERDB"] = str(userdb)
    cp = subprocess.run([str(TOOLS[tool]), *args], input=input if input is not None else "",
                        capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert cp.returncode == 0, f"{tool} {args}: exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp


def dump(dat: Path) -> dict[str, str]:
    """The records of a .dat file, read with Berkeley DB's own tool."""
    out = subprocess.run([DB_DUMP, "-p", str(dat)], capture_output=True, text=True, check=True).stdout
    body = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
    assert len(body) % 2 == 0, out
    # db_dump -p prints printable bytes as themselves and the rest as \xx.
    unescape = lambda s: re.sub(r"\\([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), s[1:])
    return {unescape(body[i]): unescape(body[i + 1]) for i in range(0, len(body), 2)}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def udb(etc: Path) -> Path:
    """The userdb source path (not yet created)."""
    return etc / "userdb"


def add_account(udb: Path, addr: str, password: str, *extra: str, home: str = "/srv/mail/x",
                uid: int = 5000) -> None:
    run("userdb", addr, "set", f"home={home}", f"uid={uid}", f"gid={uid}", *extra, userdb=udb, check=True)
    hashed = run("userdbpw", input=password + "\n", check=True).stdout
    run("userdb", addr, "set", "systempw", userdb=udb, input=hashed, check=True)


# ---------------------------------------------------------------------------
# userdb


def test_set_creates_a_private_file_and_reminds_of_makeuserdb(udb: Path):
    cp = run("userdb", "user1@example.test", "set", "home=/srv/mail/u1", "uid=5000", "gid=5000",
             userdb=udb, check=True)
    assert "run makeuserdb" in cp.stderr
    assert udb.read_text() == "user1@example.test\thome=/srv/mail/u1|uid=5000|gid=5000\n"
    assert mode(udb) == 0o600
    assert not (udb.parent / ".tmp.userdb").exists()


def test_set_unset_del_and_show(udb: Path):
    udb.write_text("# my accounts\n\na\thome=/a|uid=1|gid=1|quota=10S\nb\thome=/b|uid=2|gid=2\n")
    udb.chmod(0o600)
    run("userdb", "a", "set", "quota=20S", "mail=/a/Maildir", userdb=udb, check=True)
    run("userdb", "b", "unset", "gid", userdb=udb, check=True)
    run("userdb", "c", "set", "home=/c", "uid=3", "gid=3", userdb=udb, check=True)
    run("userdb", "5=", "set", "c", userdb=udb, check=True)
    assert udb.read_text() == ("# my accounts\n\na\thome=/a|uid=1|gid=1|quota=20S|mail=/a/Maildir\n"
                               "b\thome=/b|uid=2\nc\thome=/c|uid=3|gid=3\n5=\tc\n")
    assert run("userdb", "-show", userdb=udb, check=True).stdout == "a\nb\nc\n5=\n"
    assert run("userdb", "-show", "a", userdb=udb, check=True).stdout == \
        "home=/a\nuid=1\ngid=1\nquota=20S\nmail=/a/Maildir\n"
    assert run("userdb", "-show", "-f", str(udb), "c", check=True).stdout == "home=/c\nuid=3\ngid=3\n"
    run("userdb", "b", "del", userdb=udb, check=True)
    assert run("userdb", "-show", userdb=udb, check=True).stdout == "a\nc\n5=\n"
    # Deleting what is not there changes nothing, says so and succeeds, as in Courier.
    before = udb.read_bytes()
    cp = run("userdb", "zz", "del", userdb=udb)
    assert cp.returncode == 0 and "nothing to delete" in cp.stderr
    assert udb.read_bytes() == before
    missing = run("userdb", "-show", "zz", userdb=udb)
    assert missing.returncode == 1 and "no record for zz" in missing.stderr


def test_set_reads_a_missing_value_from_stdin(udb: Path):
    run("userdb", "a", "set", "home=/a", "uid=1", "gid=1", "gecos", userdb=udb,
        input="Ann Example\n", check=True)
    assert "gecos=Ann Example" in udb.read_text()
    cp = run("userdb", "a", "set", "systempw", userdb=udb, input="")
    assert cp.returncode == 1 and "no input" in cp.stderr


@pytest.mark.parametrize("args,message", [
    (["a", "set", "gecos=x|y"], "contains \"|\""),
    (["a", "set", "uid=abc"], "not a numeric user id"),
    (["a", "set", "home=relative"], "absolute path"),
    (["a", "set", "bad name=1"], "may contain only"),
    (["a", "set", "_=x"], "reserved"),
    (["a b\t", "set", "uid=1"], "control character"),
    (["../x/a", "set", "uid=1"], "not a file name"),
    (["a", "frobnicate"], "usage"),
])
def test_userdb_refuses_bad_arguments_and_changes_nothing(udb: Path, args, message):
    udb.write_text("a\thome=/a|uid=1|gid=1\n")
    udb.chmod(0o600)
    cp = run("userdb", *args, userdb=udb)
    assert cp.returncode == 1
    assert message in cp.stderr, cp.stderr
    assert udb.read_text() == "a\thome=/a|uid=1|gid=1\n"


def test_userdb_refuses_to_edit_a_broken_file(udb: Path):
    udb.write_text("a\thome=/a|uid=1|gid=1\nthis line has no tab\n")
    udb.chmod(0o600)
    cp = run("userdb", "a", "set", "quota=1S", userdb=udb)
    assert cp.returncode == 1
    assert f"{udb}:2: no tab" in cp.stderr
    assert "nothing was changed" in cp.stderr


def test_userdb_in_a_directory(udb: Path):
    udb.mkdir(mode=0o700)
    cp = run("userdb", "john", "set", "uid=1", userdb=udb)
    assert cp.returncode == 1 and "is a directory" in cp.stderr
    run("userdb", "default/john", "set", "home=/j", "uid=1", "gid=1", userdb=udb, check=True)
    assert (udb / "default").read_text() == "john\thome=/j|uid=1|gid=1\n"
    assert mode(udb / "default") == 0o600
    assert run("userdb", "-show", "default", userdb=udb, check=True).stdout == "john\n"
    assert run("userdb", "-show", "default", "john", userdb=udb, check=True).stdout == "home=/j\nuid=1\ngid=1\n"
    hidden = run("userdb", ".hidden/x", "set", "uid=1", userdb=udb)
    assert hidden.returncode == 1 and "makeuserdb skips" in hidden.stderr


def test_group_readable_source_is_refused(udb: Path):
    udb.write_text("a\thome=/a|uid=1|gid=1\n")
    udb.chmod(0o644)
    for tool, args in (("userdb", ["a", "set", "quota=1S"]), ("makeuserdb", [])):
        cp = run(tool, *args, userdb=udb)
        assert cp.returncode == 1, tool
        assert "group or world permissions (mode 0644)" in cp.stderr and f"chmod 600 {udb}" in cp.stderr
    assert not (udb.parent / "userdb.dat").exists()
    udb.parent.joinpath("dir").mkdir(mode=0o755)
    cp = run("makeuserdb", "-f", str(udb.parent / "dir"))
    assert cp.returncode == 1 and "chmod 700" in cp.stderr


# ---------------------------------------------------------------------------
# userdbpw, authpasswd


def test_userdbpw_piped_into_userdb_sets_a_verifiable_hash(udb: Path):
    run("userdb", "a", "set", "home=/a", "uid=1", "gid=1", userdb=udb, check=True)
    for option, prefix in (([], "$y$"), (["-md5"], "$1$"), (["-sha512-crypt"], "$6$")):
        hashed = run("userdbpw", *option, input="s3cret pass\n", check=True).stdout
        assert hashed.startswith(prefix) and hashed.endswith("\n"), hashed
        run("userdb", "a", "set", "systempw", userdb=udb, input=hashed, check=True)
        stored = re.search(r"systempw=([^|\n]*)", udb.read_text()).group(1)
        assert stored == hashed.strip()
        assert backends.crypt_hash("s3cret pass", stored) == stored
        assert backends.crypt_hash("wrong", stored) != stored


@pytest.mark.parametrize("option,hex_digits", [("-hmac-md5", 64), ("-hmac-sha1", 80), ("-hmac-sha256", 128)])
def test_userdbpw_hmac_secrets(option, hex_digits):
    out = run("userdbpw", option, input="pw\n", check=True).stdout.strip()
    assert re.fullmatch(f"[0-9a-f]{{{hex_digits}}}", out), out
    # Deterministic, as Courier's precomputed form is: the same password, the same secret.
    assert run("userdbpw", option, input="pw\n", check=True).stdout.strip() == out
    assert run("userdbpw", option, input="other\n", check=True).stdout.strip() != out


def test_userdbpw_refuses_bad_input():
    assert run("userdbpw", "-frob", input="pw\n").returncode == 1
    empty = run("userdbpw", input="")
    assert empty.returncode == 1 and "no input" in empty.stderr
    huge = run("userdbpw", input="x" * 5000 + "\n")
    assert huge.returncode == 1 and "longer than" in huge.stderr


@pytest.mark.parametrize("method,prefix", [
    (None, "$y$"), ("md5", "{MD5}"), ("{SHA}", "{SHA}"), ("ssha", "{SSHA}"), ("sha512-crypt", "$6$"),
    ("md5-crypt", "$1$"), ("crypt", "$y$"),
])
def test_authpasswd_methods(method, prefix):
    args = [method] if method else []
    out = run("authpasswd", *args, input="pw\n", check=True).stdout.strip()
    assert out.startswith(prefix), out
    if out.startswith("$"):
        assert backends.crypt_hash("pw", out) == out
    elif prefix == "{MD5}":
        assert out == "{MD5}" + base64.b64encode(hashlib.md5(b"pw").digest()).decode()
    elif prefix == "{SHA}":
        assert out == "{SHA}" + base64.b64encode(hashlib.sha1(b"pw").digest()).decode()
    else:
        assert backends.verify_password("pw", out)


def test_authpasswd_refuses_unknown_method():
    cp = run("authpasswd", "rot13", input="pw\n")
    assert cp.returncode == 1 and "unknown method" in cp.stderr


# ---------------------------------------------------------------------------
# makeuserdb


@needs_dump
def test_makeuserdb_builds_both_databases(udb: Path):
    add_account(udb, "user1@example.test", "pw1", "imappw=$1$x$y", "hmac-md5pw=" + "a" * 64)
    run("userdb", "5000=", "set", "user1@example.test", userdb=udb, check=True)
    cp = run("makeuserdb", userdb=udb, check=True)
    assert f"1 account written to {udb}.dat (1 with passwords in {udb}shadow.dat), 1 uid record" in cp.stdout
    dat, shadow = Path(f"{udb}.dat"), Path(f"{udb}shadow.dat")
    # Never world-readable: as root, root and the mail user's group, mode 0640
    # (authdaemond's userdb workers then run as the mail user); otherwise 0600.
    if os.geteuid() == 0:
        mail_gid = pwd.getpwnam(MAIL_USER).pw_gid
        assert mode(dat) == mode(shadow) == 0o640
        assert dat.stat().st_gid == shadow.stat().st_gid == mail_gid and dat.stat().st_uid == 0
    else:
        assert mode(dat) == mode(shadow) == 0o600
    records = dump(dat)
    assert records == {"user1@example.test": "home=/srv/mail/x|uid=5000|gid=5000|_=",
                       "5000=": "user1@example.test"}
    secrets = dump(shadow)
    assert list(secrets) == ["user1@example.test"]
    fields = dict(f.split("=", 1) for f in secrets["user1@example.test"].split("|"))
    assert set(fields) == {"systempw", "imappw", "hmac-md5pw"}
    assert backends.crypt_hash("pw1", fields["systempw"]) == fields["systempw"]


@needs_dump
def test_makeuserdb_f_and_directory_location(etc: Path):
    src = etc / "accounts"
    src.mkdir(mode=0o700)
    (src / "sub").mkdir(mode=0o700)
    for path, text in ((src / "default", "a\thome=/a|uid=1|gid=1\n"),
                       (src / "sub" / "more", "b\thome=/b|uid=2|gid=2|systempw=$1$s$h\n"),
                       (src / "ignored~", "not a record\n")):
        path.write_text(text)
        path.chmod(0o600)
    run("makeuserdb", "-f", str(src) + "/", check=True)
    assert dump(Path(f"{src}.dat")) == {"a": "home=/a|uid=1|gid=1|_=default/",
                                        "b": "home=/b|uid=2|gid=2|_=sub/more/"}
    assert dump(Path(f"{src}shadow.dat")) == {"b": "systempw=$1$s$h"}


def test_bad_line_leaves_the_old_databases(udb: Path):
    add_account(udb, "good", "pw")
    run("makeuserdb", userdb=udb, check=True)
    before = Path(f"{udb}.dat").read_bytes(), Path(f"{udb}shadow.dat").read_bytes()
    with udb.open("a") as f:
        f.write("new\thome=/n|uid=7|gid=7\nbroken line\nother\tuid=x\n")
    cp = run("makeuserdb", userdb=udb)
    assert cp.returncode == 1
    assert f"{udb}:3: no tab" in cp.stderr
    assert f"{udb}:4: uid \"x\" is not a numeric user id" in cp.stderr
    assert "nothing was changed" in cp.stderr
    assert (Path(f"{udb}.dat").read_bytes(), Path(f"{udb}shadow.dat").read_bytes()) == before
    assert not [p for p in udb.parent.iterdir() if ".tmp." in p.name]


def test_duplicate_address_across_files_is_an_error(etc: Path):
    src = etc / "userdb"
    src.mkdir(mode=0o700)
    (src / "a").write_text("sam\thome=/s|uid=1|gid=1\n")
    (src / "b").write_text("# x\nsam\thome=/t|uid=2|gid=2\n")
    cp = run("makeuserdb", userdb=src)
    assert cp.returncode == 1
    assert f"{src}/b:2: \"sam\" is also defined at {src}/a:1" in cp.stderr
    assert not Path(f"{src}.dat").exists()


def test_makeuserdb_warns_about_incomplete_accounts(udb: Path):
    udb.write_text("Upper\thome=/u|uid=1|gid=1\nhalf\thome=/h\n9=\tnobody\n")
    udb.chmod(0o600)
    cp = run("makeuserdb", userdb=udb, check=True)
    assert "upper-case letters" in cp.stderr
    assert "\"half\" has no uid=, gid=" in cp.stderr
    assert "9= names \"nobody\", which has no record" in cp.stderr


def test_makeuserdb_missing_source_says_how_to_create_it(udb: Path):
    cp = run("makeuserdb", userdb=udb)
    assert cp.returncode == 1 and str(udb) in cp.stderr


# ---------------------------------------------------------------------------
# pw2userdb


def test_pw2userdb_output_compiles(tmp_path: Path, udb: Path):
    passwd = tmp_path / "passwd"
    shadow = tmp_path / "shadow"
    h = backends.crypt_hash("pw", "$6$saltsalt$")
    passwd.write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "alice:x:1000:1000:Alice A|B,,,:/home/alice:/bin/sh\n"
        "alias:x:1000:1000::/home/alice:\n"
        "locked:x:1001:1001::/home/locked:/usr/sbin/nologin\n"
        "+nisuser::::::\n"
        "broken line\n"
        "rel:x:1002:1002::home/rel:/bin/sh\n")
    shadow.write_text(f"root:*:19000:0:99999:7:::\nalice:{h}:19000::::::\nlocked:!{h}:19000::::::\n")
    cp = run("pw2userdb", f"--passwd={passwd}", f"--shadow={shadow}", check=True)
    lines = cp.stdout.splitlines()
    assert lines[0] == "root\tuid=0|gid=0|home=/root|shell=/bin/bash|gecos=root"
    assert lines[1] == "0=\troot"
    assert lines[2] == f"alice\tuid=1000|gid=1000|home=/home/alice|shell=/bin/sh|systempw={h}|gecos=Alice A.B,,,"
    assert lines[3] == "1000=\talice"
    assert lines[4] == "alias\tuid=1000|gid=1000|home=/home/alice"  # no second 1000= record
    assert lines[5] == "locked\tuid=1001|gid=1001|home=/home/locked|shell=/usr/sbin/nologin"
    assert lines[6] == "1001=\tlocked"
    assert len(lines) == 7
    assert "NIS entry skipped" in cp.stderr and "absolute path" in cp.stderr and "not a passwd entry" in cp.stderr

    with_domain = run("pw2userdb", f"--passwd={passwd}", "--noshadow", "--nouid", "--domain=example.test",
                      check=True).stdout.splitlines()
    assert with_domain[1] == "alice@example.test\tuid=1000|gid=1000|home=/home/alice|shell=/bin/sh|gecos=Alice A.B,,,"
    assert not any("=\t" in line for line in with_domain)

    udb.write_text(cp.stdout)
    udb.chmod(0o600)
    assert "4 accounts written" in run("makeuserdb", userdb=udb, check=True).stdout


# ---------------------------------------------------------------------------
# authuserdb through authdaemond


class AuthDaemon(ModuleDaemon):
    """authdaemond in the foreground with authmodulelist="authuserdb" over the
    userdb udb (suite.ModuleDaemon, the one authdaemond harness)."""

    def __init__(self, folder: Path, udb: Path):
        super().__init__(folder, "authuserdb", "USERDB", udb, None)

    def authtest(self, *args: str, service: str | None = "imap") -> subprocess.CompletedProcess:
        return super().authtest(*args, service=service)


@pytest.fixture
def daemon(public_tmp: Path):
    """daemon(udb) -> a running AuthDaemon over that userdb; stopped after the test."""
    started: list[AuthDaemon] = []

    def start(udb: Path) -> AuthDaemon:
        folder = public_tmp / f"authd{len(started)}"
        folder.mkdir(mode=0o711)
        d = AuthDaemon(folder, udb)
        started.append(d)
        return d.start()

    yield start
    for d in started:
        d.stop()


@needs_daemon
def test_authuserdb_login_and_the_forgotten_makeuserdb(public_tmp: Path, daemon):
    etc = public_tmp / "etc"
    etc.mkdir(mode=0o700)
    udb = etc / "userdb"
    add_account(udb, "user1@example.test", "pw1", "mail=/srv/mail/x/Maildir")
    run("makeuserdb", userdb=udb, check=True)
    d = daemon(udb)

    ok = d.authtest("user1@example.test", "pw1")
    assert ok.returncode == EXIT_OK, d.explain(ok)
    assert "Home Directory: /srv/mail/x" in ok.stdout and "/srv/mail/x/Maildir" in ok.stdout
    wrong = d.authtest("user1@example.test", "nope")
    assert wrong.returncode == EXIT_REJECTED, d.explain(wrong)

    # COURIER-TRAPS.md 5: an account added without makeuserdb is absent, and the
    # log says why; makeuserdb makes it work without restarting the daemon.
    add_account(udb, "user2@example.test", "pw2", uid=5001)
    absent = d.authtest("user2@example.test", "pw2")
    assert absent.returncode == EXIT_REJECTED, d.explain(absent)
    assert "run makeuserdb" in d.log()
    run("makeuserdb", userdb=udb, check=True)
    present = d.authtest("user2@example.test", "pw2")
    assert present.returncode == EXIT_OK, d.explain(present)


@needs_daemon
def test_authuserdb_service_password_corrupt_database_and_password_change(public_tmp: Path, daemon):
    etc = public_tmp / "etc"
    etc.mkdir(mode=0o700)
    udb = etc / "userdb"
    add_account(udb, "u@example.test", "system")
    imap_hash = run("userdbpw", input="imap-only\n", check=True).stdout
    run("userdb", "u@example.test", "set", "imappw", userdb=udb, input=imap_hash, check=True)
    run("makeuserdb", userdb=udb, check=True)
    d = daemon(udb)
    assert d.authtest("u@example.test", "imap-only", service="imap").returncode == EXIT_OK
    assert d.authtest("u@example.test", "system", service="imap").returncode == EXIT_REJECTED
    assert d.authtest("u@example.test", "system", service="pop3").returncode == EXIT_OK

    good = Path(f"{udb}.dat").read_bytes()
    Path(f"{udb}.dat").write_bytes(b"\x5a" * 8192)
    corrupt = d.authtest("u@example.test", "system", service="pop3")
    assert corrupt.returncode == EXIT_TEMPFAIL, d.explain(corrupt)
    assert f"{udb}.dat" in d.log() and "makeuserdb" in d.log()
    Path(f"{udb}.dat").write_bytes(good)
    assert d.authtest("u@example.test", "system", service="pop3").returncode == EXIT_OK

    changed = d.authtest("u@example.test", "system", "newpass", service="pop3")
    assert changed.returncode == EXIT_OK, d.explain(changed)
    assert d.authtest("u@example.test", "newpass", service="pop3").returncode == EXIT_OK
    assert d.authtest("u@example.test", "system", service="pop3").returncode == EXIT_REJECTED
    stored = re.search(r"systempw=([^|\n]*)", udb.read_text()).group(1)
    assert backends.crypt_hash("newpass", stored) == stored
