#!/bin/sh
# bench/imap/anchors.sh: unpacks Debian's courier-imap and Dovecot IMAP
# programs into a private folder (default /var/tmp/courier-suite-anchors),
# without installing them (courier-imap conflicts with dovecot-imapd, and
# neither may disturb the machine: COURIER-TRAPS.md 1 and 3). Used by
# bench/imap/bench.py and tests/integration/test_imap_courier_migration.py.
#   anchors.sh [DIR]      prints DIR when done
set -e
dir=${1:-/var/tmp/courier-suite-anchors}
mkdir -p "$dir/debs" "$dir/courier" "$dir/dovecot"
cd "$dir/debs"
need_courier="courier-imap courier-base courier-authlib libcourier-unicode4 libgamin0 libgdbm6 libidn12"
need_dovecot="dovecot-core dovecot-imapd libexttextcat-2.0-0 libsodium23 liblz4-1 libzstd1 libunwind8"
if [ ! -x "$dir/courier/usr/bin/imapd" ]; then
	apt-get download $need_courier >/dev/null 2>&1 || apt-get download $need_courier
	for p in $need_courier; do dpkg -x "$(ls ${p}_*.deb | head -1)" "$dir/courier"; done
fi
if [ ! -x "$dir/dovecot/usr/lib/dovecot/imap" ]; then
	for p in $need_dovecot; do apt-get download "$p" >/dev/null 2>&1 || true; done
	for f in *.deb; do case "$f" in dovecot*|libexttextcat*|libsodium*|liblz4*|libzstd*|libunwind*) dpkg -x "$f" "$dir/dovecot" ;; esac; done
fi
chmod -R a+rX "$dir"
echo "$dir"
