#!/usr/bin/env bash
# Loader figures for `make bench`: relocations/s and MB/s of the in-process load path
# on a large generated object, then whole-process `modtool link` against `ld.lld`
# placing the same object at the same addresses, side by side in one run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/loader}"
work="$CARGO_TARGET_DIR/bench"
funcs="${BENCH_FUNCS:-6000}"
runs="${BENCH_RUNS:-20}"

need() {
    command -v "$1" >/dev/null || { echo "bench.sh: '$1' not found: apt-get install $2" >&2; exit 1; }
}
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need llvm-objcopy llvm
sysroot="$(rustc --print sysroot)"
rust_lld="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
if command -v ld.lld >/dev/null; then lld=(ld.lld); lld_name="$(ld.lld --version | head -1)";
elif [ -x "$rust_lld" ]; then lld=("$rust_lld" -flavor gnu); lld_name="rust-lld";
else echo "bench.sh: no ld.lld: apt-get install lld" >&2; exit 1; fi

cargo build --release -q -p modtool
modtool="$CARGO_TARGET_DIR/release/modtool"
mkdir -p "$work"

# A large module-like object: $funcs functions, each calling two kernel imports and
# one sibling, touching its own data, bss and a rodata string (CALL26, ADRP/ADD,
# LDST, ABS64 tables), one section per function and object, like a kernel module.
src="$work/big.c"
{
    echo 'extern int printk(const char *, ...); extern void *kmalloc(unsigned long, int);'
    echo 'extern unsigned long jiffies; extern int kernel_ops[64];'
    for ((i = 0; i < funcs; i++)); do
        echo "static int data_$i = $i; static long bss_$i;"
        echo "int f_$(( (i + 1) % funcs ))(int x);"
    echo "int f_$i(int x) { bss_$i += jiffies + kernel_ops[x & 63];"
        echo "  if (x > $i) return f_$(( (i + 1) % funcs ))(x - 1);"
        echo "  printk(\"f_$i %d\\n\", data_$i); kmalloc(x, $i); return data_$i + (int)bss_$i; }"
    done
    echo 'int (*const table[])(int) = {'
    for ((i = 0; i < funcs; i += 1)); do echo "f_$i,"; done
    echo '};'
} >"$src"
aarch64-linux-gnu-gcc -O1 -fno-pic -mcmodel=small -mno-outline-atomics -ffreestanding \
    -ffunction-sections -fdata-sections -fno-merge-constants -c "$src" -o "$work/big.o"
printf 'printk 0x40000000\nkmalloc 0x40000040\njiffies 0x40000080\nkernel_ops 0x40000100\n' >"$work/big.syms"

echo "== modloader: in-process load path (modtool bench)"
"$modtool" bench "$work/big.o" --iterations 50

echo
echo "== whole process: modtool link vs ${lld_name}, same object, same addresses"
"$modtool" link "$work/big.o" --base 0x40100000 --symbols "$work/big.syms" -o "$work/big"
# One output section per region with wildcards: lld keeps input order inside each,
# which is the loader's order, so the addresses match (checked below by comparing
# the text bytes). A script naming each of the ~24000 sections (what the
# differential tests use) costs lld seconds in pattern matching and would be unfair.
lowest() { awk -v re="$1" '$2 ~ re { print $3 }' "$work/big.map" | sort | sed -n 1p; }
text_addr=$(lowest '^\\.text'); rodata_addr=$(lowest '^\\.rodata'); data_addr=$(lowest '^\\.(data|bss)')
cat >"$work/big.ld" <<LD
SECTIONS {
  .text $text_addr : { *(.text .text.*) }
  .rodata $rodata_addr : { *(.rodata .rodata.*) }
  .data $data_addr : { *(.data .data.*) }
  .bss : { *(.bss .bss.*) }
  /DISCARD/ : { *(.eh_frame) *(.note*) }
}
LD
awk '{ printf "%s = %s;\n", $1, $2 }' "$work/big.syms" >>"$work/big.ld"
"${lld[@]}" --no-relax -static -e 0 -T "$work/big.ld" "$work/big.o" -o "$work/big.lld.elf"
llvm-objcopy -O binary --only-section=.text "$work/big.lld.elf" "$work/big.lld.text"
text_size=$(stat -c %s "$work/big.lld.text")
if cmp -s <(head -c "$text_size" "$work/big.bin") "$work/big.lld.text"; then same=identical; else same=DIFFERENT; fi
ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
best_modtool=999999999999; best_lld=999999999999; sum_modtool=0; sum_lld=0
for ((r = 0; r < runs; r++)); do
    t0=$(date +%s%N)
    "$modtool" link "$work/big.o" --base 0x40100000 --symbols "$work/big.syms" -o "$work/big"
    t1=$(date +%s%N)
    "${lld[@]}" --no-relax -static -e 0 -T "$work/big.ld" "$work/big.o" -o "$work/big.lld.elf"
    t2=$(date +%s%N)
    a=$((t1 - t0)); b=$((t2 - t1))
    sum_modtool=$((sum_modtool + a)); sum_lld=$((sum_lld + b))
    ((a < best_modtool)) && best_modtool=$a
    ((b < best_lld)) && best_lld=$b
done
size=$(stat -c %s "$work/big.o")
relocs=$("$modtool" info "$work/big.o" | sed -n 's/^relocations (\([0-9]*\)):$/\1/p')
echo "object:  $work/big.o ($size bytes, $relocs relocations, $funcs functions)"
echo "method:  $runs alternating runs of each command, wall time from date +%s%N around the process"
printf '%-22s best %8s ms   mean %8s ms\n' "modtool link" "$(ms $best_modtool)" "$(ms $((sum_modtool / runs)))"
printf '%-22s best %8s ms   mean %8s ms\n' "ld.lld ($lld_name)" "$(ms $best_lld)" "$(ms $((sum_lld / runs)))"
echo "text:    $text_size bytes, $same in both outputs"
echo "ratio:   ld.lld / modtool (best) = $(awk -v a="$best_lld" -v b="$best_modtool" 'BEGIN { printf "%.2f", a / b }')"

# The same comparison on Debian's three largest arm64 modules, when
# tests/linux-bench/prepare.sh has fetched the package (says "skipped" otherwise).
echo
"$here/bench-linux-modules.sh"
