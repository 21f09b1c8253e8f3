#!/usr/bin/env python3
"""Which kernel functions the blocks in a tbs.out (qemu/prof/tbs.c) belong to.

Usage: tbs.py TBS_OUT [N]        blocks per symbol of build/kernel.elf, then
                                 per function including inlined ones (a block
                                 counts for every function inlined at it)
       tbs.py TBS_OUT --in SYMBOL blocks of SYMBOL by the function inlined into
                                 it and the line of SYMBOL that inlined it

A boot's tbs.out:
  gcc -shared -fPIC -O2 -o build/prof/libtbs.so qemu/prof/tbs.c
  { sleep 3; printf 'poweroff\\r'; sleep 5; } | \\
    QEMU_EXTRA="-plugin build/prof/libtbs.so,out=build/prof/tbs.out" timeout 60 qemu/run.sh
"""
import bisect, collections, subprocess, sys
from pathlib import Path

elf = str(Path(__file__).resolve().parents[2] / "build" / "kernel.elf")
rows = [(int(a, 16), int(n)) for a, n in (l.split() for l in open(sys.argv[1]))]

def frames():
    """Per block, its inline chain innermost first: [(function, file:line)]."""
    text = "\n".join(hex(a) for a, _ in rows)
    out = subprocess.run(["llvm-symbolizer", "--inlining", "-C", "--functions=short",
                          "-e", elf], input=text, capture_output=True, text=True,
                         check=True).stdout
    for block in out.strip("\n").split("\n\n"):
        ls = block.split("\n")
        yield [(ls[i], ls[i + 1].rsplit("/", 1)[-1]) for i in range(0, len(ls) - 1, 2)]

if len(sys.argv) > 3 and sys.argv[2] == "--in":
    want, by = sys.argv[3], collections.Counter()
    for fr in frames():
        if fr and want in fr[-1][0]:
            inner = fr[-2][0][:70] if len(fr) > 1 else "(itself)"
            by[(fr[-1][1].rsplit(":", 1)[0], inner)] += 1
    for (line, inner), n in sorted(by.items()):
        print(f"{n:5d} {line:24s} {inner}")
    sys.exit()

top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
syms = []
nm = subprocess.run(["llvm-nm", "-n", "-C", elf], capture_output=True, text=True,
                    check=True).stdout
for line in nm.splitlines():
    p = line.split(" ", 2)
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), p[2]))
keys = [a for a, _ in syms]
blocks, insns = collections.Counter(), collections.Counter()
for a, n in rows:
    i = bisect.bisect_right(keys, a) - 1
    s = syms[i][1] if i >= 0 else "?"
    blocks[s] += 1
    insns[s] += n
print(f"{len(rows)} blocks, {sum(n for _, n in rows)} instructions")
for s, b in blocks.most_common(top):
    print(f"{b:5d} {insns[s]:6d}  {s[:120]}")
inclusive = collections.Counter()
for fr in frames():
    for f in {f for f, _ in fr}:
        inclusive[f] += 1
print("-- including inlined functions")
for f, b in inclusive.most_common(top):
    print(f"{b:5d}  {f[:120]}")
