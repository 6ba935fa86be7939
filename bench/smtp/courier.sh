#!/usr/bin/env bash
# bench/smtp/courier.sh WORK SOURCE SESSIONS MESSAGES SIZE RCPTS: Debian's
# courier-mta 1.0.16 esmtpd (couriertcpd + courieresmtpd + submit), unpacked
# with dpkg -x and run in a private mount namespace where overlay mounts put
# its compiled-in paths (/etc/courier, /usr/lib/courier, /var/lib/courier) in
# place without touching the host. Prints messages/s, or fails saying why.
set -euo pipefail
WORK=$1 SOURCE=$2 SESSIONS=$3 MESSAGES=$4 SIZE=$5 RCPTS=$6
SUITE_BUILD=${SUITE_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
ROOT=$WORK/courier-root
if [ ! -x "$ROOT/usr/sbin/courieresmtpd" ]; then
  mkdir -p "$WORK/debs" "$ROOT"
  (cd "$WORK/debs" && apt-get download courier-mta courier-base courier-authlib libcourier-unicode4 libidn12 >/dev/null 2>&1)
  for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
O=$WORK/courier-ovl
rm -rf "$O"; mkdir -p "$O"/{etc,usrlib,varlib}/{up,work}
cp -a "$ROOT/etc/courier" "$O/etc/up/courier"
cp -a "$ROOT/usr/lib/courier" "$O/usrlib/up/courier"
mkdir -p "$O/varlib/up/courier/tmp" "$O/varlib/up/courier/msgs" "$O/varlib/up/courier/filters" "$O/varlib/up/courier/allfilters"
chown -R nobody:nogroup "$O/varlib/up/courier"
E=$O/etc/up/courier
echo bench.example >"$E/me"
echo bench.example >"$E/esmtpacceptmailfor"
printf 'maxrcpts 1000\n' >"$E/bofh"
cat >"$WORK/courier-inner.sh" <<EOS
set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir=$O/etc/up,workdir=$O/etc/work /etc
mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=$O/usrlib/up,workdir=$O/usrlib/work /usr/lib
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$O/varlib/up,workdir=$O/varlib/work /var/lib
export LD_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib
# The access file (Courier's is gdbm): RELAYCLIENT for 127.0.0.1, through Courier's makedatprog.
printf '127.0.0.1\tallow,RELAYCLIENT\n.\n' | /usr/lib/courier/courier/makedatprog - /etc/courier/smtpaccess.tmp /etc/courier/smtpaccess.dat
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH=\$LD_LIBRARY_PATH BOFHCHECKDNS=0 MAILUSER=nobody MAILGROUP=nogroup \
  TCPREMOTEHOST=localhost \
  $ROOT/usr/sbin/couriertcpd -pid=$WORK/courier.pid -user=nobody -group=nogroup -nodnslookup -noidentlookup \
  -maxprocs=100 -maxperip=100 -maxperc=100 -access=/etc/courier/smtpaccess.dat 127.0.0.1.$port \
  $ROOT/usr/lib/courier/courier/modules/esmtp/courieresmtpd >$WORK/courier-tcpd.log 2>&1
sleep 0.5
start=\$(date +%s.%N)
"$SOURCE" -s $SESSIONS -m $MESSAGES -l $SIZE -r $RCPTS -f bench@example.org -t rcpt@example.net -c 127.0.0.1:$port >/dev/null 2>$WORK/courier-source.err || true
end=\$(date +%s.%N)
n=\$(find /var/lib/courier/tmp /var/lib/courier/msgs -type f -name 'C*' | wc -l)
kill \$(cat $WORK/courier.pid) 2>/dev/null || true
echo "\$(python3 -c "print(f'{$MESSAGES/(\$end-\$start):.0f}')") (\$n queued)"
EOS
unshare -m bash "$WORK/courier-inner.sh"
