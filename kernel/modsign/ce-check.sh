#!/usr/bin/env bash
# Runs modsign's SHA-256 instruction path (sha256_ce.rs, used by the kernel once it
# declares FEAT_SHA256) against the generic code, and RSA verification's Montgomery
# row kernel in assembly (mont_aarch64.rs) against the portable one: ce-check/ is built for the
# kernel's target, aarch64-unknown-none, as a staticlib, linked with a C main by
# aarch64-linux-gnu-gcc, and run under qemu-aarch64 (Debian qemu-user) with
# -cpu max, which implements the SHA-256 instructions. Used by
# `cargo test -p modsign` (tests/sha2_ce.rs); exit 0 when every digest and
# every product matched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/modsign-ce-check"
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
for tool in "$CC" qemu-aarch64; do
    command -v "$tool" >/dev/null || { echo "ce-check: $tool not found" >&2; exit 2; }
done
cd "$here/ce-check"
cargo build -q --release --target aarch64-unknown-none
lib="$CARGO_TARGET_DIR/aarch64-unknown-none/release/libmodsign_ce_check.a"
# No aarch64 libc is needed: a freestanding _start with Linux syscalls.
cat > "$CARGO_TARGET_DIR/main.c" <<'C'
int modsign_ce_check(void);
int modsign_mont_check(void);
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
static void say(const char *s) { long n = 0; while (s[n]) n++; sys3(64, 1, (long)s, n); }
void _start(void) {
    int bad = modsign_ce_check();
    if (bad < 0) say("ce-check: the sha2-ce path was not taken\n");
    else if (bad > 0) say("ce-check: sha2-ce and generic SHA-256 differ\n");
    else say("ce-check: sha2-ce matches generic SHA-256 at 1101 lengths (0..1099 and 45 KiB) and 16 start offsets\n");
    int mont = modsign_mont_check();
    if (mont != 0) say("ce-check: the assembly and portable Montgomery row kernels differ\n");
    else say("ce-check: the assembly Montgomery row kernel matches the portable one (addmul4 and redc4 at 4..64 limbs; products and squares at 2048, 3072, 4096 bits)\n");
    sys3(93, bad != 0 || mont != 0, 0, 0);
    for (;;) {}
}
C
"$CC" -static -nostdlib -ffreestanding -O1 "$CARGO_TARGET_DIR/main.c" "$lib" -lgcc -o "$CARGO_TARGET_DIR/ce-check"
qemu-aarch64 -cpu max "$CARGO_TARGET_DIR/ce-check"
