#!/usr/bin/env bash
# Guest instruction profile of shell commands: builds the plugin (prof.c) into
# build/prof/, boots build/kernel.img with build/initrd-all.cpio under
# -icount shift=0, types each argument at the shell (WAIT seconds apart,
# default 5), powers off, and prints agg.py's per-function sums. The boot is
# in the profile too: profile a loop (`modstress 200 /initrd/hello.ko`) so the
# commands dominate, or subtract a run without them.
#   qemu/prof/run.sh "modstress 200 /initrd/hello.ko"
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$here/build/prof
mkdir -p "$out"
gcc -shared -fPIC -O2 -o "$out/libprof.so" "$here/qemu/prof/prof.c"
{ sleep 1; for c in "$@"; do echo "$c"; sleep "${WAIT:-5}"; done; echo poweroff; } |
    (cd "$out" && PROF_OUT=$out/prof.out INITRD=${PROF_INITRD-$here/build/initrd-all.cpio} \
        QEMU_EXTRA="-icount shift=0 -plugin $out/libprof.so" timeout 600 "$here/qemu/run.sh") |
    grep -v '^\[' || true
python3 "$here/qemu/prof/agg.py" "$out/prof.out" "${TOP:-40}"
