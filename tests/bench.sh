#!/usr/bin/env bash
# `make bench`: every figure the project quotes, each printed with its method.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p qemu-tests --bin bench
echo
# Linux side by side (make bench-linux); prints ours alone when Debian's
# packages cannot be fetched.
cargo run -q --release -p qemu-tests --bin bench -- --linux
echo
# Every CPU (issue 10); quotes the Linux rmmod figures --linux just saved.
cargo run -q --release -p qemu-tests --bin bench -- --smp
if [ -x kernel/loader/bench.sh ]; then
    echo
    kernel/loader/bench.sh
fi
