#!/usr/bin/env bash
# Issue 11's figure on real modules: whole-process `modtool link` against `ld.lld`
# placing the same object at the same addresses, for the three largest modules of
# Debian's arm64 linux-image-6.1 (amdgpu, test_bpf, nouveau). Optional: runs only
# when tests/linux-bench/prepare.sh (`make bench-linux`) has extracted the package
# into build/linux-bench/root; otherwise says it is skipped and exits 0.
#
# What both linkers get, per module:
#   MOD.in.ko   the .ko with SHF_MERGE and SHF_STRINGS cleared in every section
#               header: a module loader (Linux's and ours) places mergeable sections
#               as they are, lld would de-duplicate their strings and move them. The
#               same file goes to both, so it is the same object.
#   MOD.syms    every undefined symbol (`modtool info`, "needs") at a made-up kernel
#               address, 16 bytes apart from 0x3f000000, below the module at
#               0x40100000: every call reaches without a veneer, as in Linux's
#               module area.
#   MOD.ld      `modtool lld-script`: one output section per input section at the
#               address modtool chose, the same symbol addresses, and the notes lld
#               would rewrite discarded.
# Then text (the text region: every executable section and the veneers) must be
# byte-identical, and the whole image is compared too (the discarded notes aside).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/loader}"
work="$CARGO_TARGET_DIR/bench-linux-modules"
runs="${BENCH_RUNS:-20}"
base=0x40100000

echo "== whole process on Debian's arm64 modules: modtool link vs ld.lld, same object, same addresses"
kdir=$(ls -d "$root"/build/linux-bench/root/lib/modules/6.1.0-*-arm64/kernel 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$kdir" ]; then
    echo "skipped: Debian's linux-image-6.1.0-*-arm64 is not extracted in build/linux-bench/root"
    echo "         (bash tests/linux-bench/prepare.sh, or make bench-linux, fetches it)"
    exit 0
fi
command -v python3 >/dev/null || { echo "skipped: no python3 (apt-get install python3)"; exit 0; }
sysroot="$(rustc --print sysroot)"
rust_lld="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
if command -v ld.lld >/dev/null; then lld=(ld.lld); lld_name="$(ld.lld --version | head -1)";
elif [ -x "$rust_lld" ]; then lld=("$rust_lld" -flavor gnu); lld_name="rust-lld";
else echo "bench-linux-modules.sh: no ld.lld: apt-get install lld" >&2; exit 1; fi
cargo build --release -q -p modtool
modtool="$CARGO_TARGET_DIR/release/modtool"
mkdir -p "$work"

deb=$(ls "$root"/build/linux-bench/root/.from-linux-image-* 2>/dev/null | head -n 1 | sed 's/.*\.from-\(.*\.deb\)-.*/\1/')
echo "package: ${deb:-linux-image-6.1 (name unknown)}"
echo "largest modules in it: $(find "$kdir" -name '*.ko' -printf '%s %f\n' | sort -rn | head -n 4 \
    | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }') bytes"
echo "linker:  $lld_name"
echo "method:  $runs alternating runs of each command per module, wall time from date +%s%N around the process"

# mawk has no strtonum: 0x... to a number (exact below 2^53).
hex='function hex(s,  v, i) { v = 0; s = tolower(substr(s, 3))
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v }'
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }
printf '%-10s %9s %7s  %-19s %-19s %-13s %s\n' module bytes relocs \
    "modtool best/mean" "ld.lld best/mean" "modtool/lld" "text, image"
for ko in drivers/gpu/drm/amd/amdgpu/amdgpu.ko lib/test_bpf.ko drivers/gpu/drm/nouveau/nouveau.ko; do
    name=$(basename "$ko" .ko)
    [ -e "$kdir/$ko" ] || { echo "$name: not in this package"; continue; }
    in="$work/$name.in.ko"
    python3 - "$kdir/$ko" "$in" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
shoff, = struct.unpack_from("<Q", b, 0x28)
shentsize, shnum = struct.unpack_from("<HH", b, 0x3a)
for i in range(shnum):
    at = shoff + i * shentsize + 8  # sh_flags
    flags, = struct.unpack_from("<Q", b, at)
    struct.pack_into("<Q", b, at, flags & ~0x30)  # SHF_MERGE | SHF_STRINGS
open(sys.argv[2], "wb").write(b)
PY
    "$modtool" info "$in" >"$work/$name.info"
    sed -n 's/^needs ([0-9]*): //p' "$work/$name.info" | tr ' ' '\n' \
        | awk 'NF { printf "%s 0x%x\n", $1, 1056964608 + 16 * n++ }' >"$work/$name.syms"
    out="$work/$name"
    "$modtool" link "$in" --base "$base" --symbols "$work/$name.syms" -o "$out"
    "$modtool" lld-script "$out.map" "$work/$name.syms" >"$out.ld"
    lld_cmd=("${lld[@]}" --no-relax -static -e 0 -T "$out.ld" "$in" -o "$out.lld.elf")
    # lld warns that its own empty synthetic .plt (matched by the module's .plt
    # pattern) is not 16-aligned there; nothing is placed in it.
    "${lld_cmd[@]}" 2>"$out.lld.err" || { cat "$out.lld.err" >&2; exit 1; }
    grep -v 'warning: address (0x[0-9a-f]*) of section \.o[0-9]* is not a multiple of alignment' \
        "$out.lld.err" >&2 || true
    llvm-objcopy -O binary "$out.lld.elf" "$out.lld.bin"

    # Text region: from the base to the end of the last text section or veneer.
    text_end=$(awk -v base="$base" "$hex"'
        FNR == NR { if ($1 ~ /^[0-9]+$/ && $NF == "text") text[$1] = 1; next }
        ($1 in text) || $1 == "PLT" { e = hex($(NF - 1)) + $NF; if (e > end) end = e }
        END { printf "%d", end - hex(base) }' "$work/$name.info" "$out.map")
    if cmp -s <(head -c "$text_end" "$out.bin") <(head -c "$text_end" "$out.lld.bin"); then
        text=identical
    else
        text="DIFFERENT at byte $(cmp <(head -c "$text_end" "$out.bin") <(head -c "$text_end" "$out.lld.bin") | awk '{ print $5 }')"
    fi
    # Whole image: bytes differing outside the notes lld discards, plus any non-zero
    # byte past the end of lld's image (modtool's image ends with bss as zeros).
    lld_size=$(stat -c %s "$out.lld.bin")
    outside=$({ cmp -l "$out.bin" "$out.lld.bin" 2>/dev/null || true; } | awk -v base="$base" -v map="$out.map" "$hex"'
        BEGIN { while ((getline l < map) > 0) { split(l, w, " ");
                    if (w[2] ~ /^\.note/) { lo[++n] = hex(w[3]) - hex(base); hi[n] = lo[n] + w[4] } } }
        { o = $1 - 1; inside = 0; for (i = 1; i <= n; i++) if (o >= lo[i] && o < hi[i]) inside = 1; if (!inside) bad++ }
        END { print bad + 0 }')
    past=$(tail -c +"$((lld_size + 1))" "$out.bin" | tr -d '\0' | wc -c)
    if [ "$outside" = 0 ] && [ "$past" = 0 ]; then image="identical but notes"; else image="$((outside + past)) bytes DIFFER"; fi

    best_m=999999999999; best_l=999999999999; sum_m=0; sum_l=0
    for ((r = 0; r < runs; r++)); do
        t0=$(date +%s%N)
        "$modtool" link "$in" --base "$base" --symbols "$work/$name.syms" -o "$out"
        t1=$(date +%s%N)
        "${lld_cmd[@]}" 2>/dev/null
        t2=$(date +%s%N)
        a=$((t1 - t0)); b=$((t2 - t1))
        sum_m=$((sum_m + a)); sum_l=$((sum_l + b))
        ((a < best_m)) && best_m=$a
        ((b < best_l)) && best_l=$b
    done
    relocs=$(sed -n 's/^relocations (\([0-9]*\)):$/\1/p' "$work/$name.info")
    printf '%-10s %9s %7s  %8s / %8s  %8s / %8s  %5s / %5s  text %s, image %s\n' "$name" \
        "$(stat -c %s "$in")" "$relocs" "$(ms $best_m)" "$(ms $((sum_m / runs)))" \
        "$(ms $best_l)" "$(ms $((sum_l / runs)))" \
        "$(awk -v a="$best_m" -v b="$best_l" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$sum_m" -v b="$sum_l" 'BEGIN { printf "%.2f", a / b }')" "$text" "$image"
done
echo "(times in ms; modtool/lld is best/best and mean/mean: issue 11's goal is <= 0.50)"
