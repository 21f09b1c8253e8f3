#!/usr/bin/env bash
# Fuzzes the whole load path (parse, plan, load) with cargo-fuzz on nightly.
# Usage: kernel/loader/fuzz.sh [SECONDS]   (default 600). New inputs go to a scratch
# corpus under the target dir; the committed seed corpus (fuzz/corpus/load) is read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/loader-fuzz}"
scratch="$CARGO_TARGET_DIR/corpus-load"
mkdir -p "$scratch"
cd "$here/fuzz"
cargo +nightly fuzz run load "$scratch" corpus/load -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1
