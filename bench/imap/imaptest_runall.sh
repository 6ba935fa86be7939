#!/bin/sh
# Runs every imaptest script against a server started by imaptest_serve.py.
# usage: imaptest_runall.sh IMAPTEST_DIR PORT OUTDIR
# IMAPTEST_DIR: the built imaptest tree (src/imaptest, src/tests/), with
# Dovecot's libraries in IMAPTEST_DIR/dc/usr/lib/dovecot (IMAPTEST.md).
# One line per script: its exit status and imaptest's two summary lines.
set -u
D=$1; P=$2; OUT=$3
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$D/dc/usr/lib/dovecot"
# urlauth2 (two connections, the second as user2) has no "messages:" header,
# so imaptest appends nothing and its first "fetch 1:2" meets an empty
# mailbox (urlauth, with one connection, gets its two messages). It runs from
# a copy with "messages: 2" prepended, beside a copy of default.mbox; the
# commands and expected replies are upstream's.
FIXED="$OUT/fixed-scripts"
mkdir -p "$FIXED"
cp "$D/src/tests/default.mbox" "$FIXED/"
for t in $(ls "$D/src/tests" | grep -v '\.mbox$'); do
  script="$D/src/tests/$t"
  if [ "$t" = urlauth2 ] && ! grep -q '^messages:' "$script"; then
    { echo "messages: 2"; cat "$script"; } > "$FIXED/$t"
    script="$FIXED/$t"
  fi
  timeout 120 "$D/src/imaptest" host=127.0.0.1 port="$P" user=tester@example.test \
    user2=tester2@example.test pass=testpw box=INBOX.imaptest test="$script" > "$OUT/$t.log" 2>&1
  echo "$t rc=$? $(grep -E 'test groups|individual commands' "$OUT/$t.log" | tr '\n' ' ')"
done
