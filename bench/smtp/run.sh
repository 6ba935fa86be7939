#!/usr/bin/env bash
# bench/smtp/run.sh: durable accepted messages per second, smtp-source against
#   1. our esmtpd (couriertcpd + esmtpd, queue commit with fsync before 250),
#   2. Debian's Courier courieresmtpd 1.0.16 (unpacked with dpkg -x; see README),
#   3. Postfix's smtp-sink (accepts and discards: the ceiling of the client).
# 10 sessions x 2000 messages of 5 KB, then 100 recipients per message.
#   bench/smtp/run.sh [BUILD]      (default build/); needs root for -user=nobody
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
WORK=${WORK:-/tmp/bench-smtp}
SESSIONS=${SESSIONS:-10}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-5120}
mkdir -p "$WORK"
PF=$WORK/postfix
if [ ! -x "$PF/usr/sbin/smtp-source" ]; then
  (cd "$WORK" && apt-get download postfix >/dev/null 2>&1) || { echo "cannot download postfix"; exit 1; }
  dpkg -x "$WORK"/postfix_*.deb "$PF"
fi
# Wrappers: the unpacked programs find Postfix's shared libraries.
for prog in smtp-source smtp-sink; do
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$PF/usr/lib/postfix" "$PF/usr/sbin/$prog" >"$WORK/$prog"
  chmod +x "$WORK/$prog"
done
SOURCE=$WORK/smtp-source
SINK=$WORK/smtp-sink

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rate NAME PORT RCPTS: runs smtp-source, prints messages/s
rate() {
  local name=$1 port=$2 rcpts=$3 start end
  start=$(date +%s.%N)
  "$SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -r "$rcpts" -f bench@example.org -t rcpt@example.net \
    -c "127.0.0.1:$port" >/dev/null 2>"$WORK/$name.err" || true
  end=$(date +%s.%N)
  python3 -c "print(f'{$MESSAGES/($end-$start):.0f}')"
}

ours() {
  local rcpts=$1 port q etc
  port=$(free_port)
  q=$WORK/queue-ours; etc=$WORK/etc-ours
  rm -rf "$q" "$etc"; mkdir -p "$q/tmp" "$q/msgs" "$etc"
  echo bench.example >"$etc/me"
  printf '127.0.0.1\tallow,RELAYCLIENT\n' >"$etc/smtpaccess"
  "$BUILD/tcpd/makesmtpaccess" -src="$etc/smtpaccess" -file="$etc/smtpaccess.dat" -nohup >/dev/null
  printf 'maxrcpts 1000\n' >"$etc/bofh"
  chown -R nobody "$q"
  COURIER_SYSCONFDIR=$etc COURIER_QUEUEDIR=$q LOGFILE=/dev/null \
    "$BUILD/tcpd/couriertcpd" -user=nobody -group=nogroup -access="$etc/smtpaccess.dat" -nodnslookup \
    -noidentlookup -maxprocs=100 -maxperip=100 -pid="$WORK/ours.pid" "127.0.0.1.$port" "$BUILD/esmtpd/esmtpd" \
    2>/dev/null
  sleep 0.5
  local r; r=$(rate ours "$port" "$rcpts")
  local n; n=$(ls "$q/msgs" | grep -c '\.ctl$' || true)
  "$BUILD/tcpd/couriertcpd" -pid="$WORK/ours.pid" -stop >/dev/null 2>&1 || kill "$(cat "$WORK/ours.pid")"
  echo "$r $n"
}

sink() {
  local rcpts=$1 port pid r
  port=$(free_port)
  "$SINK" -u nobody -c "127.0.0.1:$port" 256 >/dev/null 2>&1 &
  pid=$!
  sleep 0.3
  r=$(rate sink "$port" "$rcpts")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$r"
}

for rcpts in 1 100; do
  read -r o n < <(ours "$rcpts")
  s=$(sink "$rcpts")
  c=$("$SRC/bench/smtp/courier.sh" "$WORK" "$SOURCE" "$SESSIONS" "$MESSAGES" "$SIZE" "$rcpts" 2>"$WORK/courier.err" || echo "n/a")
  echo "rcpts/msg=$rcpts  ours=$o msg/s ($n queued of $MESSAGES)  courier=$c msg/s  smtp-sink=$s msg/s"
done
