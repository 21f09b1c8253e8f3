#!/usr/bin/env bash
# `make bench`: every figure the project quotes, each printed with its method.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p qemu-tests --bin bench
if [ -x kernel/loader/bench.sh ]; then
    echo
    kernel/loader/bench.sh
fi
