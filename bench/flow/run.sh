#!/usr/bin/env bash
# bench/flow/run.sh [BUILD]: end to end, smtp-source (10 sessions, 5 KB) to files in
# Maildir/new, and the 250-to-new/ latency, for
#   1. our suite as ./run configures it (esmtpd -> queue -> courierd -> maildrop), and
#   2. Debian's Courier 1.0.16 (courieresmtpd -> submit -> courierd -> courierlocal),
# in one run. Needs root (mount namespace for Courier, -user for both). See README.md.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
WORK=${WORK:-/tmp/bench-flow}
MESSAGES=${MESSAGES:-2000}
LATENCY=${LATENCY:-200}
mkdir -p "$WORK"
chmod 755 "$WORK"
PF=$WORK/postfix
if [ ! -x "$PF/usr/sbin/smtp-source" ]; then
  (cd "$WORK" && apt-get download postfix >/dev/null 2>&1) || { echo "cannot download postfix"; exit 1; }
  dpkg -x "$WORK"/postfix_*.deb "$PF"
fi
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$PF/usr/lib/postfix" "$PF/usr/sbin/smtp-source" >"$WORK/smtp-source"
chmod +x "$WORK/smtp-source"
ARGS=("$SRC/bench/flow/flow.py" --source "$WORK/smtp-source" --messages "$MESSAGES" --latency "$LATENCY")
rm -rf "$WORK/ours"
echo "ours:    $(/usr/bin/python3 "$SRC/bench/flow/ours.py" "$BUILD" "$WORK/ours" "${ARGS[@]}")"
echo "courier: $("$SRC/bench/flow/courier.sh" "$WORK" "${ARGS[@]}" 2>&1 | tail -n 3)"
