#!/usr/bin/env bash
# Makes what `make bench-linux` boots: Debian's arm64 Linux 6.1 kernel and an
# initramfs whose /init (init.c, static) times finit_module/delete_module of
# virtio_mmio, virtio_blk and virtio-rng.
#
# Cached and idempotent under build/linux-bench/ (gitignored):
#   debs/       the .debs `apt-get download` fetched (linux-image-6.1.0-N-arm64,
#               busybox-static), kept; nothing is fetched again while they are here
#   root/       linux-image extracted with dpkg-deb -x
#   Image       the kernel (Debian ships arm64 vmlinuz as an uncompressed Image)
#   init        init.c built with aarch64-linux-gnu-gcc -static
#   initramfs.cpio        /init and the three .ko files (what the bench boots)
#   initramfs-shell.cpio  the same plus busybox as /bin/sh, for poking at it by
#               hand: APPEND="console=ttyAMA0 rdinit=/bin/sh"
#
# Debian's 6.1 modules are uncompressed .ko (CONFIG_MODULE_COMPRESS_NONE) and
# carry Debian's signature, which the kernel checks at each load (MODULE_SIG=y,
# not forced). virtio, virtio_ring and rng-core are built in (modules.builtin),
# so the three modules depend on no other module. Should a later package
# compress them (.ko.xz), they are decompressed here, so /init always times
# finit_module of a plain .ko.
#
# Prints the paths and version on the last line as `IMAGE INITRAMFS VERSION`. Exit status 3 (after a
# line saying why) when the packages cannot be fetched.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$here/build/linux-bench
mkdir -p "$out/debs"
cd "$out"

unavailable() {
    echo "bench-linux: cannot fetch Debian's arm64 linux-image-6.1.0-*-arm64 / busybox-static: $*" >&2
    exit 3
}

if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo -n); fi

# linux-image-6.1.0-N-arm64 and busybox-static, from the cache or apt-get download.
kernel_deb() { ls debs/linux-image-6.1.0-*-arm64_*_arm64.deb 2>/dev/null | sort -V | tail -n 1; }
busybox_deb() { ls debs/busybox-static_*_arm64.deb 2>/dev/null | tail -n 1; }
if [ -z "$(kernel_deb)" ] || [ -z "$(busybox_deb)" ]; then
    command -v apt-get >/dev/null || unavailable "no apt-get on this machine"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "bench-linux: dpkg --add-architecture arm64; apt-get update"
        "${sudo[@]}" dpkg --add-architecture arm64 || unavailable "cannot add the arm64 architecture (not root, no sudo)"
        "${sudo[@]}" apt-get update -qq || unavailable "apt-get update failed"
    fi
    # The package the linux-image-arm64 metapackage names (the newest 6.1.0-N),
    # else the newest linux-image-6.1.0-N-arm64 apt knows.
    pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-arm64\)\(:arm64\)\?$/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-arm64$' 2>/dev/null \
            | cut -d' ' -f1 | sort -V | tail -n 1)
    fi
    [ -n "$pkg" ] || unavailable "apt knows no linux-image-6.1.0-*-arm64 (is this Debian bookworm?)"
    echo "bench-linux: apt-get download $pkg:arm64 busybox-static:arm64 into $out/debs"
    # _apt cannot write into a root-owned build tree: download into a temporary
    # directory it can, then move.
    tmp=$(mktemp -d)
    chmod 777 "$tmp"
    download() { (cd "$tmp" && apt-get download -q "$pkg:arm64" busybox-static:arm64 >/dev/null 2>"$tmp/err"); }
    # Stale package lists name files the mirror has dropped: update once, retry.
    if ! download && ! { "${sudo[@]}" apt-get update -qq && download; }; then
        msg=$(grep -m1 '^E:' "$tmp/err" || true)
        rm -rf "$tmp"
        unavailable "apt-get download failed${msg:+: $msg}"
    fi
    mv "$tmp"/*.deb debs/
    rm -rf "$tmp"
fi
kdeb=$(kernel_deb)
bdeb=$(busybox_deb)

# Extract once per .deb.
stamp=root/.from-$(basename "$kdeb")-$(basename "$bdeb")
if [ ! -e "$stamp" ]; then
    rm -rf root
    mkdir -p root
    dpkg-deb -x "$kdeb" root
    dpkg-deb -x "$bdeb" root
    touch "$stamp"
fi
kver=$(basename "$(ls -d root/lib/modules/6.1.0-*-arm64 | head -n 1)")
cp -u root/boot/vmlinuz-"$kver" Image

# The three modules, decompressed if the package compressed them.
mods=root/lib/modules/$kver/kernel/drivers
mkdir -p stage/lib/modules stage/dev stage/proc stage/sys
for ko in virtio/virtio_mmio block/virtio_blk char/hw_random/virtio-rng; do
    name=$(basename "$ko")
    if [ -e "$mods/$ko.ko" ]; then
        cp -u "$mods/$ko.ko" stage/lib/modules/
    elif [ -e "$mods/$ko.ko.xz" ]; then
        xz -dc "$mods/$ko.ko.xz" > stage/lib/modules/"$name".ko
    else
        echo "bench-linux: $kver has no module $ko (built in?)" >&2
        exit 1
    fi
done

# /init, static.
init_c=$here/tests/linux-bench/init.c
if [ ! -e init ] || [ "$init_c" -nt init ]; then
    if [ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then
        echo "bench-linux: no static arm64 libc: run qemu/install-deps.sh (libc6-dev-arm64-cross)" >&2
        exit 1
    fi
    aarch64-linux-gnu-gcc -static -O2 -s -Wall -Wextra -Werror -o init.tmp "$init_c"
    mv init.tmp init
fi
cp init stage/init

# pack DIR OUT
pack() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort \
        | cpio -o -H newc --quiet --reproducible --owner=0:0) > "$2.tmp"
    mv "$2.tmp" "$2"
}
pack stage initramfs.cpio
rm -rf stage-shell
cp -a stage stage-shell
mkdir -p stage-shell/bin
cp root/bin/busybox stage-shell/bin/busybox
ln -sf busybox stage-shell/bin/sh
pack stage-shell initramfs-shell.cpio

echo "bench-linux: Linux $kver ($(basename "$kdeb")), initramfs $(stat -c %s initramfs.cpio) bytes" >&2
echo "$out/Image $out/initramfs.cpio $kver"
