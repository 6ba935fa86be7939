#!/usr/bin/env python3
"""bench/flow/ours.py BUILD WORK FLOWPY-ARGS...: our suite as ./run configures it
(couriertcpd + esmtpd, courierd with DEFAULTDELIVERY "| maildrop", authdaemond with
userdb), in WORK, from the build folder BUILD; then runs flow.py against it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    build, work, rest = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3:]
    os.environ["SUITE_BUILD"] = str(build)
    sys.path.insert(0, str(HERE.parents[1] / "tests" / "integration"))
    import suite
    from courierd_support import Courierd
    from esmtp_support import Esmtpd

    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    system = suite.MailSystem(work / "mail")
    if os.geteuid() == 0:  # esmtpd runs as nobody: its group may use authdaemond's socket
        import grp
        import pwd
        with open(system.rc, "a") as f:
            f.write("authdaemongroup=%s\n" % grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name)
    system.start()
    account = system.add_account("bench@example.test", "secret")
    maildrop = suite.tool("maildrop/maildrop")
    delivery = os.environ.get("DEFAULTDELIVERY", f"| {maildrop}")
    c = Courierd(work / "ours", system, settings={"DEFAULTDELIVERY": delivery, "MAILDROP": maildrop,
                                                 "MAXLOCAL": "10", "QUEUESCAN": "1m"},
                 control={"me": "mx.example.net"})
    e = Esmtpd(work / "ours", system, queue=c.queue)
    c.start()
    try:
        return subprocess.run([sys.executable, *rest, "--port", str(e.port), "--maildir", str(account.maildir),
                               "--rcpt", account.address]).returncode
    finally:
        e.stop()
        c.stop()
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
