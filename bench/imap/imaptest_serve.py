"""Serves this build's imaplogin + imapd on a loopback port for Dovecot's
imaptest (see IMAPTEST.md), with two userdb accounts through authdaemond:
tester@example.test and tester2@example.test, both with the password testpw
(imaptest's user2= takes no password of its own: it logs in with pass=).
Prints "PORT ROOT" and serves until killed.

    python3 bench/imap/imaptest_serve.py [BUILD]     # BUILD defaults to ./build
"""
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

here = Path(__file__).resolve().parent
repo = here.parent.parent
build = Path(sys.argv[1] if len(sys.argv) > 1 else repo / "build").resolve()
sys.path.insert(0, str(repo / "tests" / "integration"))
os.environ["SUITE_BUILD"] = str(build)
from suite import MailSystem  # noqa: E402
from imap_support import ImapServer  # noqa: E402

root = Path(tempfile.mkdtemp(prefix="imaptest-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
os.chmod(root, 0o755)
ms = MailSystem(root / "mail")
ms.start()
ms.add_account("tester@example.test", "testpw")
second = ms.add_account("tester2@example.test", "testpw")  # urlauth2's "user 2: $user2"
# imaptest makes box= (INBOX.imaptest) only in the first account, but every
# connection of a script SELECTs it: give the second account one too.
box = second.maildir / ".imaptest"
for sub in ("", "cur", "new", "tmp"):
    (box / sub).mkdir(exist_ok=True)
(box / "maildirfolder").touch()
for p in (box, box / "cur", box / "new", box / "tmp", box / "maildirfolder"):
    if os.geteuid() == 0:
        os.chown(p, second.uid, second.gid)
srv = ImapServer(ms, "imap", IMAP_LOGFILE=str(root / "imapd.log"))
print(srv.port, root, flush=True)
# kill PID (SIGTERM) stops the server and authdaemond cleanly.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    while True:
        time.sleep(3600)
finally:
    srv.stop()
    ms.stop()
