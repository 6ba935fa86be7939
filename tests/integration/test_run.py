"""./run: the sandbox comes up with the installed layout and stops cleanly."""
import os
import subprocess

import pytest

SRC = os.environ.get("SUITE_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("SUITE_BUILD", os.path.join(SRC, "build"))


def run(*args, sandbox, timeout=900):
    env = dict(os.environ, SANDBOX=sandbox, SUITE_BUILD=BUILD, PORT_BASE="21000")
    return subprocess.run([os.path.join(SRC, "run"), *args], env=env, cwd=SRC, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def sandbox():
    # The build ./check made is configured for this sandbox, so ./run reuses it.
    path = os.path.join(BUILD, "sandbox")
    result = run("--detach", sandbox=path)
    assert result.returncode == 0, result.stdout
    yield path, result.stdout
    run("stop", sandbox=path)


def test_detach_installs_the_layout(sandbox):
    path, output = sandbox
    for sub in ("bin", "sbin", "libexec", "etc", "var/log"):
        assert os.path.isdir(os.path.join(path, sub)), sub
    assert "127.0.0.1:21143" in output  # IMAP on PORT_BASE+143
    assert "running in the background" in output


def test_unknown_argument_is_refused(tmp_path):
    result = run("--frobnicate", sandbox=str(tmp_path / "sb"))
    assert result.returncode != 0
    assert "usage" in result.stdout


def test_stop_without_sandbox_says_so(tmp_path):
    result = run("stop", sandbox=str(tmp_path / "missing"))
    assert result.returncode != 0
    assert "no sandbox" in result.stdout


def test_authdaemond_runs_with_the_demo_account(sandbox):
    path, output = sandbox
    assert "started authdaemond" in output
    authtest = os.path.join(path, "sbin", "authtest")
    ok = subprocess.run([authtest, "-s", "imap", "demo@example.test", "demo"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert os.path.join(path, "home", "demo") in ok.stdout
    bad = subprocess.run([authtest, "-s", "imap", "demo@example.test", "nope"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert bad.returncode == 1
    log = open(os.path.join(path, "var", "log", "authdaemond.log")).read()
    assert "demo@example.test" in log and "nope" not in log


def test_stop_then_status(sandbox):
    path, _ = sandbox
    result = run("stop", sandbox=path)
    assert result.returncode == 0, result.stdout
    assert "stopped" in result.stdout
    assert "running" not in run("status", sandbox=path).stdout.replace("running in", "")
