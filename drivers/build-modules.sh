#!/usr/bin/env bash
# Builds every module into build/modules/ (called by `make modules`):
#
#  - Rust: every crate drivers/NAME/ whose Cargo.toml makes a `staticlib`, all in
#    one `cargo build --target aarch64-unknown-none --release -p A -p B ...`;
#    each lib<NAME>.a is then linked with `ld.lld -r --gc-sections` (keeping
#    init_module/cleanup_module and what they reach; .modinfo, __versions,
#    .ksymtab and __param survive as `#[used]` sections) into NAME.ko.debug, and
#    NAME.ko is that object without debug info, LLVM bitcode sections or the
#    `$x`/`$d` mapping symbols (STRIP_FLAGS; .ko.debug keeps all of them).
#    `modtool versions --trim` first cuts `__versions` to the symbols the
#    module imports, as Linux's modpost writes it (kabi's table lists every
#    kernel export), and `modtool short-names` then drops the legacy-mangling
#    hash from NAME.ko's local symbols (only backtraces read them, demangled;
#    NAME.ko.debug keeps them whole).
#  - C, as Linux's kbuild does it: for every drivers/c/NAME.c,
#      1. `modtool genksyms` reads the preprocessed source (-D__GENKSYMS__) and
#         writes build/c/NAME.ksyms.h, the version CRC of each EXPORT_SYMBOL;
#      2. Debian's aarch64-linux-gnu-gcc compiles it against
#         kernel/abi/include/kabi.h (with -include NAME.ksyms.h) into build/c/NAME.o;
#    then `modtool symvers` writes build/Module.symvers (the kernel's exports
#    from kabi, the Rust modules' and the C objects' .ksymtab), and
#      3. `modtool modpost --symvers build/Module.symvers NAME.o -o NAME.ko.debug`
#         adds abi= and the __versions entry of every symbol NAME calls, and
#         refuses one nobody exports; NAME.ko is that without debug info.
#  - Every NAME.ko is prelinked (`modtool prelink --strip`: the relocations
#    that do not depend on where the module is loaded are applied and removed
#    from the RELA tables, `.modprelink` records the plan they assume; the
#    module then loads only so. PRELINK=rela keeps the RELA tables whole (any
#    linker may place the file), PRELINK=0 skips this), then
#  - every NAME.ko is signed in Linux's format (`modtool sign sha256 KEY KEY NAME.ko`)
#    with $SIGN_KEY (private key + certificate in one PEM; default
#    build/signing_key.pem, made by kernel/modsign/genkey.sh when missing).
#    SIGN_KEY= (empty) leaves the modules unsigned.
#  - Then depmod writes build/modules/modules.dep and modules.alias.
#
# Any error stops the script with a non-zero status and says what failed.
set -euo pipefail

die() { echo "build-modules: ERROR: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

TARGET=aarch64-unknown-none
OUT=${MODULES_OUT:-build/modules}
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir = /* ]] || target_dir="$root/$target_dir"
LIB_DIR="$target_dir/$TARGET/release"
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
C_OBJ=${C_OBJ_DIR:-build/c}
SYMVERS=${SYMVERS:-build/Module.symvers}
# -fno-toplevel-reorder keeps .modinfo, __param and .ksymtab in source order.
CFLAGS=(-O2 -g -fno-toplevel-reorder -ffreestanding -fno-pic -mno-outline-atomics -mgeneral-regs-only
    -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -Wall -Wextra -Werror
    -I kernel/abi/include)

sysroot=$(rustc --print sysroot) || die "rustc not found"
host=$(rustc -vV | sed -n 's/^host: //p')
LLD="$sysroot/lib/rustlib/$host/bin/rust-lld"
[ -x "$LLD" ] || LLD=$(command -v ld.lld) || die "no rust-lld in $sysroot and no ld.lld on PATH"
command -v llvm-objcopy >/dev/null || die "llvm-objcopy not found (Debian package llvm; run 'make deps')"

mkdir -p "$OUT" "$C_OBJ" "$(dirname "$SYMVERS")"
cargo build -q -p modtool -p depmod || die "building the host tools (modtool, depmod) failed"
MODTOOL="$target_dir/debug/modtool"

DEFAULT_SIGN_KEY=build/signing_key.pem
SIGN_KEY=${SIGN_KEY-$DEFAULT_SIGN_KEY}
if [ -n "$SIGN_KEY" ]; then
    if [ ! -e "$SIGN_KEY" ]; then
        [ "$SIGN_KEY" = "$DEFAULT_SIGN_KEY" ] || die "SIGN_KEY=$SIGN_KEY: no such file"
        kernel/modsign/genkey.sh "$SIGN_KEY" || die "cannot make the development signing key"
    fi
fi

# What NAME.ko leaves out of NAME.ko.debug: DWARF, and the AArch64 mapping
# symbols (`$x` code, `$d` data: disassembler hints, about 60% of a Rust
# module's symbols). Nothing loads by them, the signature hashes every byte
# of the file and the loader walks every symbol, so virtio_rng.ko is 3.4 KiB
# (7%) smaller and its insmod hashes and scans that much less. gdb and
# objdump get them from NAME.ko.debug.
STRIP_FLAGS=(--strip-debug --wildcard --strip-symbol='$x*' --strip-symbol='$d*')

# sign NAME.ko: appends the signature in place (no-op when SIGN_KEY is empty).
sign() {
    [ -n "$SIGN_KEY" ] || return 0
    "$MODTOOL" sign sha256 "$SIGN_KEY" "$SIGN_KEY" "$1" || die "signing $1 failed"
}

# --- Rust modules ------------------------------------------------------------
# The relocations whose result does not depend on where the module is loaded
# are applied now (modloader's prelink.rs); the load applies the rest. Before
# signing: the signature covers the prelinked file. The applied entries leave
# the RELA tables (--strip): about a third of a Rust module's file, which the
# signature check hashes at every insmod. PRELINK=rela keeps them (the file
# stays one any linker may place); PRELINK=0 skips prelinking.
prelink() {
    case "${PRELINK:-1}" in
        0) return 0 ;;
        1) "$MODTOOL" prelink -q --strip "$1" || die "prelinking $1 failed" ;;
        rela) "$MODTOOL" prelink -q "$1" || die "prelinking $1 failed" ;;
        *) die "PRELINK=$PRELINK: expected 1 (default), rela or 0" ;;
    esac
}

crates=()
for toml in drivers/*/Cargo.toml; do
    [ -e "$toml" ] || continue
    if ! grep -Eq '^crate-type *= *\[.*"staticlib"' "$toml"; then
        echo "build-modules: $(dirname "$toml") is not a module crate (no staticlib crate-type); skipped" >&2
        continue
    fi
    if ! grep -q "\"$(dirname "$toml")\"" Cargo.toml; then
        echo "build-modules: $(dirname "$toml") is not a workspace member (add it to Cargo.toml); skipped" >&2
        continue
    fi
    name=$(sed -n '/^\[package\]/,/^\[/ s/^name *= *"\(.*\)"/\1/p' "$toml" | head -n1)
    [ -n "$name" ] || die "$toml: no package name"
    crates+=("$name")
done

if [ ${#crates[@]} -gt 0 ]; then
    pkgs=()
    for c in "${crates[@]}"; do pkgs+=(-p "$c"); done
    echo "build-modules: cargo build ${crates[*]}"
    cargo build --target "$TARGET" --release "${pkgs[@]}" || die "cargo build of the module crates failed"
fi

# The string routines the kernel exports (kabi's memcpy, memmove, memset,
# memcmp, as Linux exports them from arch/arm64/lib): the archive members of
# compiler_builtins that define nothing else are left out of the link, so a
# module's calls stay imports, as a C module's do, instead of a copy of each
# routine in every module (about 1.4 KiB of text and QEMU translating it
# again for every module).
KERNEL_ROUTINES='memcpy|memmove|memset|memcmp'
# kernel_routines_members LIB: the members of LIB that define only those.
kernel_routines_members() {
    readelf -sW "$1" 2>/dev/null | awk -v names="^($KERNEL_ROUTINES)\$" '
        /^File: / { m = $2; sub(/^.*\(/, "", m); sub(/\)$/, "", m); next }
        $1 ~ /^[0-9]+:$/ && $5 != "LOCAL" && $7 != "UND" && $8 != "" { defs[m] = defs[m] " " $8 }
        END {
            for (m in defs) {
                n = split(defs[m], a, " "); only = 1
                for (i = 1; i <= n; i++) if (a[i] !~ names) only = 0
                if (only) print m
            }
        }'
}

rust_kos=()
link_dir=$(mktemp -d)
trap 'rm -rf "$link_dir"' EXIT
for c in "${crates[@]}"; do
    mod=${c//-/_}
    rust_kos+=("$OUT/$mod.ko")
    lib="$LIB_DIR/lib$mod.a"
    [ -f "$lib" ] || die "$c: $lib was not built"
    cp "$lib" "$link_dir/lib$mod.a"
    mapfile -t routines < <(kernel_routines_members "$lib")
    if [ ${#routines[@]} -gt 0 ]; then
        llvm-ar d "$link_dir/lib$mod.a" "${routines[@]}" || die "$c: removing the kernel's routines from $lib failed"
    fi
    "$LLD" -flavor gnu -r --gc-sections -T drivers/module.lds -u init_module -u cleanup_module \
        "$link_dir/lib$mod.a" -o "$OUT/$mod.ko.debug" || die "$c: linking $mod.ko failed"
    "$MODTOOL" versions --trim "$OUT/$mod.ko.debug" || die "$c: trimming __versions of $mod.ko failed"
    llvm-objcopy "${STRIP_FLAGS[@]}" --remove-section=.llvmbc --remove-section=.llvmcmd \
        "$OUT/$mod.ko.debug" "$OUT/$mod.ko" || die "$c: stripping $mod.ko failed"
    "$MODTOOL" short-names "$OUT/$mod.ko" || die "$c: shortening the local names of $mod.ko failed"
    prelink "$OUT/$mod.ko"
    sign "$OUT/$mod.ko"
    echo "build-modules: $OUT/$mod.ko $(stat -c %s "$OUT/$mod.ko") bytes (+ $mod.ko.debug)"
done

# --- C modules ---------------------------------------------------------------
shopt -s nullglob
c_sources=(drivers/c/*.c)
if [ ${#c_sources[@]} -gt 0 ]; then
    command -v "$CC" >/dev/null || die "$CC not found (Debian package gcc-aarch64-linux-gnu; run 'make deps')"
fi
c_objs=()
for src in "${c_sources[@]}"; do
    mod=$(basename "$src" .c)
    "$CC" -E -D__GENKSYMS__ "${CFLAGS[@]}" "$src" | "$MODTOOL" genksyms -o "$C_OBJ/$mod.ksyms.h" \
        || die "$src: genksyms failed"
    "$CC" -c "${CFLAGS[@]}" -include "$C_OBJ/$mod.ksyms.h" "$src" -o "$C_OBJ/$mod.o" \
        || die "$src: compile failed"
    c_objs+=("$C_OBJ/$mod.o")
done

# --- Module.symvers ----------------------------------------------------------
"$MODTOOL" symvers -o "$SYMVERS" ${rust_kos[@]+"${rust_kos[@]}"} ${c_objs[@]+"${c_objs[@]}"} \
    || die "writing $SYMVERS failed"
echo "build-modules: $SYMVERS $(wc -l < "$SYMVERS") exports"

# --- modpost: C objects into modules -----------------------------------------
for obj in ${c_objs[@]+"${c_objs[@]}"}; do
    mod=$(basename "$obj" .o)
    "$MODTOOL" modpost --symvers "$SYMVERS" "$obj" -o "$OUT/$mod.ko.debug" \
        || die "$obj: modpost failed"
    llvm-objcopy "${STRIP_FLAGS[@]}" "$OUT/$mod.ko.debug" "$OUT/$mod.ko" || die "$obj: stripping $mod.ko failed"
    prelink "$OUT/$mod.ko"
    sign "$OUT/$mod.ko"
    echo "build-modules: $OUT/$mod.ko $(stat -c %s "$OUT/$mod.ko") bytes (+ $mod.ko.debug)"
done

if [ -n "$SIGN_KEY" ]; then
    echo "build-modules: modules signed with $SIGN_KEY (sha256)"
else
    echo "build-modules: SIGN_KEY is empty: modules left unsigned"
fi

# --- index -------------------------------------------------------------------
cargo run -q -p depmod -- "$OUT" || die "depmod failed"
echo "build-modules: $OUT/modules.dep, $OUT/modules.alias"
