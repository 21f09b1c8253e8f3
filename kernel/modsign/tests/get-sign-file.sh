#!/usr/bin/env bash
# Prints the path of Linux's own scripts/sign-file, fetched once into a cache:
# Debian's linux-kbuild-6.1 package ships it (/usr/lib/linux-kbuild-6.1/scripts/
# sign-file). The package is downloaded with `apt-get download` and unpacked with
# `dpkg-deb -x` under build/linux-kbuild/ (gitignored); nothing is installed but
# what it needs to run (libssl3) and openssl for the tests, through apt-get as
# root or sudo. Exit status 1 with the reason on stderr when it cannot be had.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cache=${SIGN_FILE_CACHE:-$root/build/linux-kbuild}
pkg=linux-kbuild-6.1
tool=$cache/root/usr/lib/$pkg/scripts/sign-file

if [ -x "$tool" ]; then
    echo "$tool"
    exit 0
fi
command -v apt-get >/dev/null || { echo "get-sign-file: no apt-get on this machine" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo -n); fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$cache/deb"
cd "$cache/deb"
if ! ls ${pkg}_*.deb >/dev/null 2>&1; then
    if ! apt-get download "$pkg" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq >&2 || { echo "get-sign-file: apt-get update failed" >&2; exit 1; }
        apt-get download "$pkg" >&2 || { echo "get-sign-file: apt-get download $pkg failed" >&2; exit 1; }
    fi
fi
rm -rf "$cache/root"
dpkg-deb -x ${pkg}_*.deb "$cache/root" || { echo "get-sign-file: dpkg-deb -x failed" >&2; exit 1; }
[ -x "$tool" ] || { echo "get-sign-file: $pkg has no scripts/sign-file" >&2; exit 1; }
if ! ldd "$tool" | grep -q 'libcrypto.*=> /'; then
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends libssl3 >&2 \
        || { echo "get-sign-file: cannot install libssl3 for sign-file" >&2; exit 1; }
fi
echo "$tool"
