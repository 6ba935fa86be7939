#!/bin/sh
# bench/imap/strace_stress.sh: usage: strace_stress.sh BUILD OUTDIR [SECS]
# Runs imaptest stress (10 clients) against BUILD's imapd, stracing every 4th
# imapd session into OUTDIR/s.PID, then prints per-session syscall and
# file-creation counts (creates = opens with O_CREAT, by target file).
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(readlink -f "$1"); OUT=$(readlink -f "$2"); SECS=${3:-10}
W=$(mktemp -d /var/tmp/stwrap.XXXX); mkdir -p "$W/imapd" "$OUT"; chmod 755 "$W"; rm -f "$OUT"/s.*; chmod 777 "$OUT"
cat > "$W/imapd/imapd" <<EOS
#!/bin/sh
if [ \$(( \$\$ % 4 )) = 0 ]; then exec strace -o $OUT/s.\$\$ $B/imapd/imapd "\$@"; fi
exec $B/imapd/imapd "\$@"
EOS
chmod 755 "$W/imapd/imapd"
/usr/bin/python3 "$HERE/stress_one.py" "$W" --secs "$SECS" | head -1
cd "$OUT"; n=$(ls | wc -l)
echo "sessions traced: $n"
echo "syscalls per session:"; cat s.* | grep -v '^+++\|^---' | awk -F'(' '{print $1}' | sort | uniq -c | sort -rn | awk -v n=$n '{printf "  %-14s %.1f\n", $2, $1/n}' | head -20
echo "file creations (O_CREAT) per session, by target:"
cat s.* | grep "O_CREAT" | sed -E 's/openat\(AT_FDCWD, "([^"]*)".*/\1/' | sed -E 's#.*/Maildir/##; s#\.[0-9]+$##; s#tmp/[0-9].*#tmp/MSG#' | sort | uniq -c | awk -v n=$n '{printf "  %-30s %.2f\n", $2, $1/n}'
rm -rf "$W"
