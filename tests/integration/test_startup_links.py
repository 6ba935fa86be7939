"""Issue 16: the programs exec'd for every connection load only the shared
libraries they call. imaplogin and pop3login link no OpenSSL (STARTTLS runs
couriertls); imapd and pop3d load neither libcrypto nor zlib at exec (imapd
loads them with dlopen when a session first uses URLAUTH or COMPRESS, which
test_imap_urlauth.py and test_imap_compress.py exercise). Read from the
programs' dynamic sections (readelf -d)."""
from __future__ import annotations

import re
import subprocess

import pytest

from suite import BUILD

PER_CONNECTION = ["imapd/imaplogin", "imapd/imapd", "pop3d/pop3login", "pop3d/pop3d"]
NEVER_AT_EXEC = ("libssl.so", "libcrypto.so", "libz.so")


def needed(program: str) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(BUILD / program)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


@pytest.mark.parametrize("program", PER_CONNECTION)
def test_per_connection_program_loads_no_openssl_or_zlib(program):
    libs = needed(program)
    assert "libc.so.6" in libs, libs  # the parse found the dynamic section
    loaded = [lib for lib in libs if lib.startswith(NEVER_AT_EXEC)]
    assert not loaded, f"{program} loads {loaded} at every exec: {libs}"


def test_relro_kept_on_per_connection_programs():
    for program in PER_CONNECTION:
        out = subprocess.run(["readelf", "-lW", str(BUILD / program)], capture_output=True, text=True,
                             check=True).stdout
        assert "GNU_RELRO" in out, f"{program} lost RELRO"
