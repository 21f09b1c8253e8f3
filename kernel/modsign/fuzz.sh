#!/usr/bin/env bash
# Fuzzes the trailer split and CMS parse (and the verification behind them) with
# cargo-fuzz on nightly. Usage: kernel/modsign/fuzz.sh [SECONDS] (default 600).
# New inputs go to a scratch corpus under the target dir; the committed seed
# corpus (fuzz/corpus/verify), replayed by `cargo test -p modsign`, is read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/modsign-fuzz}"
scratch="$CARGO_TARGET_DIR/corpus-verify"
mkdir -p "$scratch"
cd "$here/fuzz"
cargo +nightly fuzz run verify "$scratch" corpus/verify -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1
