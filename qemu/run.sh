#!/usr/bin/env bash
# The one place QEMU's command line is made. `make run`, `make debug`, the QEMU
# tests and `make bench` all start QEMU through this script.
#
# Environment (defaults in brackets):
#   CPU [cortex-a72]  MEM [256M]  SMP [1]  GIC [2]  EL [1] (2 = enter at EL2)
#   KERNEL [build/kernel.img] (none: no -kernel, for tests that load
#   everything with -device loader)  INITRD []  DISK [] (a raw image attached
#   as a virtio-blk device)  APPEND []  QEMU_EXTRA []
#   PRINT_ONLY=1 prints the command instead of running it.
# Extra arguments are appended to QEMU's command line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CPU=${CPU:-cortex-a72}
MEM=${MEM:-256M}
SMP=${SMP:-1}
GIC=${GIC:-2}
EL=${EL:-1}
KERNEL=${KERNEL:-$here/build/kernel.img}

machine="virt,gic-version=$GIC"
case "$EL" in
    1) ;;
    2) machine="$machine,virtualization=on" ;;
    *) echo "run.sh: EL must be 1 or 2, not '$EL'" >&2; exit 2 ;;
esac

cmd=(qemu-system-aarch64 -M "$machine" -cpu "$CPU" -m "$MEM" -smp "$SMP"
     -nographic -nic none)
if [ "$KERNEL" != none ]; then cmd+=(-kernel "$KERNEL"); fi
if [ -n "${INITRD:-}" ]; then cmd+=(-initrd "$INITRD"); fi
if [ -n "${APPEND:-}" ]; then cmd+=(-append "$APPEND"); fi
if [ -n "${DISK:-}" ]; then
    cmd+=(-drive "file=$DISK,if=none,format=raw,id=disk0" -device virtio-blk-device,drive=disk0)
fi
# shellcheck disable=SC2206 # QEMU_EXTRA is a word list by design
if [ -n "${QEMU_EXTRA:-}" ]; then cmd+=($QEMU_EXTRA); fi
cmd+=("$@")

if [ -n "${PRINT_ONLY:-}" ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
printf '+ ' >&2
printf '%q ' "${cmd[@]}" >&2
echo >&2
exec "${cmd[@]}"
