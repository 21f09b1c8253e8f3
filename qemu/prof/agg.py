#!/usr/bin/env python3
"""Sums a prof.out (qemu/prof/prof.c) per function of build/kernel.elf, largest
first. Usage: agg.py PROF_OUT [N]. Addresses outside the kernel (module code)
are grouped by 64 KiB as ?ADDR."""
import bisect, collections, re, subprocess, sys
from pathlib import Path

elf = Path(__file__).resolve().parents[2] / "build" / "kernel.elf"
syms = []
nm = subprocess.run(["aarch64-linux-gnu-nm", "-C", "--defined-only", str(elf)],
                    capture_output=True, text=True, check=True).stdout
for line in nm.splitlines():
    p = line.split(" ", 2)
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), re.sub(r"::h[0-9a-f]{16}$", "", p[2])))
syms.sort()
addrs = [a for a, _ in syms]

def name(pc):
    i = bisect.bisect_right(addrs, pc) - 1
    if i >= 0 and pc - addrs[i] < 0x100000:
        return syms[i][1]
    return "?%x" % (pc >> 16 << 16)

counts = collections.Counter()
for line in open(sys.argv[1]):
    pc, n = line.split()
    counts[name(int(pc, 16))] += int(n)
total = sum(counts.values())
print("total", total, "guest instructions")
for k, v in counts.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 40):
    print("%12d %5.1f%% %s" % (v, 100 * v / total, k[:140]))
