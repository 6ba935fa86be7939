"""Turns imaptest_runall.sh's output (one line per script) into IMAPTEST.md's
Markdown table: script, commands run, failed, skipped.

    python3 bench/imap/imaptest_table.py < run.txt
"""
import re
import sys

print("| script | commands | failed | skipped |")
print("|---|---|---|---|")
totals = [0, 0, 0]
for line in sys.stdin:
    m = re.match(r"(\S+) rc=\d+ 1 test groups: \d+ failed, (\d+) skipped .*?"
                 r"base protocol: (\d+)/(\d+) .*?extensions: (\d+)/(\d+)", line)
    if not m:
        continue
    name, skipped, bf, bc, ef, ec = m.group(1), *map(int, m.groups()[1:])
    print(f"| {name} | {bc + ec} | {bf + ef} | {skipped} |")
    if name != "broken":
        totals = [totals[0] + bc + ec, totals[1] + bf + ef, totals[2] + skipped]
print(f"| **71 scripts (without broken)** | **{totals[0]}** | **{totals[1]}** | **{totals[2]}** |")
