#!/usr/bin/env bash
# bench/flow/courier.sh WORK FLOWPY ARGS...: Debian's Courier 1.0.16 (courier-mta,
# courier-base, courier-authlib: couriertcpd + courieresmtpd + submit, courierd,
# courierlocal delivering ./Maildir, authdaemond with authpam), unpacked with dpkg -x
# and run in a private mount namespace where overlay mounts put its compiled-in
# paths (/etc, /usr/lib, /var/lib, /run) in place without touching the host; the
# users it needs ("courier", the mail user, and "bench", the account) exist only in
# the overlay's /etc/passwd. Then runs flow.py (ARGS) against it from inside.
set -euo pipefail
WORK=$1
shift
ROOT=$WORK/courier-root
if [ ! -x "$ROOT/usr/lib/courier/courier/courierd" ]; then
  mkdir -p "$WORK/debs" "$ROOT"
  (cd "$WORK/debs" && apt-get download courier-mta courier-base courier-authlib libcourier-unicode4 libidn12 >/dev/null 2>&1) ||
    { echo "courier.sh: apt-get download of courier-mta and its libraries failed" >&2; exit 1; }
  for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done
fi
O=$WORK/courier-ovl
rm -rf "$O" "$WORK/courier-home"
mkdir -p "$O"/{etc,usrlib,varlib,run}/{up,work}
cp -a "$ROOT/etc/courier" "$O/etc/up/courier"
cp -a "$ROOT/usr/lib/courier" "$O/usrlib/up/courier"
cp -a "$ROOT/usr/lib/courier-authlib" "$O/usrlib/up/courier-authlib"
CUID=7701 BUID=7702
cp /etc/passwd /etc/group "$O/etc/up/"
echo "courier:x:$CUID:$CUID:Courier:/var/lib/courier:/usr/sbin/nologin" >>"$O/etc/up/passwd"
echo "bench:x:$BUID:$BUID:bench:$WORK/courier-home:/bin/sh" >>"$O/etc/up/passwd"
echo "courier:x:$CUID:" >>"$O/etc/up/group"
echo "bench:x:$BUID:" >>"$O/etc/up/group"
mkdir -p "$WORK/courier-home/Maildir"/{cur,new,tmp}
chown -R $BUID:$BUID "$WORK/courier-home"
chmod 755 "$WORK"
V=$O/varlib/up/courier
mkdir -p "$V"/{tmp,msgs,msgq,track,filters,allfilters,sts}
chown -R $CUID:$CUID "$V"
chmod 770 "$V"/{tmp,msgs,msgq,track}
E=$O/etc/up/courier
echo bench.example >"$E/me"
echo bench.example >"$E/locals"
echo bench.example >"$E/esmtpacceptmailfor"
# module.uucp and module.fax must stay: the modules are compiled in and courierd
# exits ("Cannot open /etc/courier/module.uucp") without their files (COURIER-TRAPS 14).
printf 'maxrcpts 1000\n' >"$E/bofh"
sed -i 's/^MAXDELS=.*/MAXDELS=10/' "$E/module.local"
cat >"$E/authdaemonrc" <<EOR
authmodulelist="authpam"
authmodulelistorig="authpam"
daemons=5
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOR
mkdir -p "$O/run/up/courier/authdaemon"
cat >"$WORK/courier-inner.sh" <<EOS
set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir=$O/etc/up,workdir=$O/etc/work /etc
mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=$O/usrlib/up,workdir=$O/usrlib/work /usr/lib
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$O/varlib/up,workdir=$O/varlib/work /var/lib
mount -t overlay overlay -o lowerdir=/run,upperdir=$O/run/up,workdir=$O/run/work /run
export LD_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib
# Courier logs only through syslog (COURIER-TRAPS 4): a private /dev with a /dev/log
# that a small listener copies into $WORK/courier-syslog.log.
mkdir -p $O/devorig
mount --bind /dev $O/devorig
mount -t tmpfs tmpfs /dev
for n in null zero random urandom tty full; do touch /dev/\$n; mount --bind $O/devorig/\$n /dev/\$n; done
ln -s /proc/self/fd /dev/fd
python3 -c '
import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind("/dev/log")
import os; os.chmod("/dev/log",0o666)
f=open(sys.argv[1],"ab",buffering=0)
while True: f.write(s.recv(65536)+b"\n")
' $WORK/courier-syslog.log &
syslogd=\$!
sleep 0.3
/usr/lib/courier/courier-authlib/authdaemond >$WORK/courier-authd.log 2>&1 &
authd=\$!
for i in \$(seq 50); do [ -S /run/courier/authdaemon/socket ] && break; sleep 0.1; done
[ -S /run/courier/authdaemon/socket ] || { echo "courier.sh: courier-authlib's authdaemond did not start: \$(cat $WORK/courier-authd.log)" >&2; exit 1; }
printf '127.0.0.1\tallow,RELAYCLIENT\n.\n' | /usr/lib/courier/courier/makedatprog - /etc/courier/smtpaccess.tmp /etc/courier/smtpaccess.dat
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH=\$LD_LIBRARY_PATH /bin/sh -c "set -a; . /etc/courier/courierd; cd /usr; /usr/lib/courier/courier/courierd" >$WORK/courierd.out 2>&1 &
sleep 1
[ -p /var/lib/courier/tmp/trigger ] || { echo "courier.sh: courierd did not start: \$(cat $WORK/courierd.out)" >&2; exit 1; }
port=\$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH=\$LD_LIBRARY_PATH BOFHCHECKDNS=0 TCPREMOTEHOST=localhost \
  $ROOT/usr/sbin/couriertcpd -pid=$WORK/courier.pid -user=courier -group=courier -nodnslookup -noidentlookup \
  -maxprocs=100 -maxperip=100 -maxperc=100 -access=/etc/courier/smtpaccess.dat 127.0.0.1.\$port \
  /usr/lib/courier/courier/modules/esmtp/courieresmtpd >$WORK/courier-tcpd.log 2>&1
sleep 0.5
rc=0
python3 "\$@" --port \$port --maildir $WORK/courier-home/Maildir --rcpt bench@bench.example || rc=\$?
kill \$(cat $WORK/courier.pid) 2>/dev/null || true
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH=\$LD_LIBRARY_PATH $ROOT/usr/sbin/courier stop >/dev/null 2>&1 || true
kill \$authd \$syslogd 2>/dev/null || true
exit \$rc
EOS
unshare -m --propagation private env PATH=$ROOT/usr/sbin:/usr/sbin:/usr/bin:/bin bash "$WORK/courier-inner.sh" "$@"
