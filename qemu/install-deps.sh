#!/usr/bin/env bash
# Installs what building, running and testing need, only if missing:
# the Rust target and components (RUSTUP_AUTO_INSTALL=0 here, so rust-toolchain.toml
# alone fetches nothing) and Debian packages (as root, or through sudo).
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-none; then
    echo "deps: rustup target add aarch64-unknown-none"
    rustup target add aarch64-unknown-none
fi
for comp in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
        echo "deps: rustup component add $comp"
        rustup component add "$comp"
    fi
done

# command -> Debian package
need=(
    qemu-system-aarch64:qemu-system-arm
    llvm-objcopy:llvm
    ld.lld:lld
    clang:clang
    aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu
    dtc:device-tree-compiler
    cpio:cpio
    mcopy:mtools
    mkfs.fat:dosfstools
    gdb-multiarch:gdb-multiarch
    openssl:openssl
    qemu-aarch64:qemu-user
)
missing=()
for pair in "${need[@]}"; do
    cmd=${pair%%:*}
    pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
# A static libc for arm64: `make bench-linux` builds Linux's /init with
# aarch64-linux-gnu-gcc -static (tests/linux-bench/init.c).
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
