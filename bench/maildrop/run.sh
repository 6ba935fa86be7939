#!/bin/sh
# bench/maildrop/run.sh BUILD_DIR [bench.py options]: unpacks Debian's
# maildrop 2.9 (with courier-authlib and libcourier-unicode, which it links
# against) into a private folder and runs bench.py against BUILD_DIR's maildrop.
# Debian's maildrop is setgid mail; the unpacked copy loses that bit, or the
# loader would ignore LD_LIBRARY_PATH.
set -e
build=$(cd "${1:?usage: run.sh BUILD_DIR [options]}" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
work=${MDBENCH_DIR:-/tmp/mdbench}
mkdir -p "$work/debs"
if [ ! -x "$work/root/usr/bin/maildrop" ]; then
  (cd "$work/debs" && apt-get download maildrop courier-authlib libcourier-unicode4)
  for d in "$work"/debs/*.deb; do dpkg -x "$d" "$work/root"; done
  chmod g-s,u-s "$work/root/usr/bin/maildrop"
fi
exec python3 "$here/bench.py" --ours "$build/maildrop/maildrop" \
  --debian "$work/root/usr/bin/maildrop" \
  --debian-libs "$work/root/usr/lib/x86_64-linux-gnu:$work/root/usr/lib" "$@"
