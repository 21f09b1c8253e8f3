#!/usr/bin/env bash
# mkdisk.sh OUT SIZE_MIB FILE...: a disk image with an MBR partition table and
# one FAT partition (from sector 2048, the usual 1 MiB alignment) holding FILEs,
# made without root: the MBR is written here, the file system with mkfs.fat
# --offset and filled with mtools (Debian packages dosfstools and mtools).
set -euo pipefail
out=$1 size=$2
shift 2
[ "$size" -ge 8 ] || { echo "mkdisk: size must be at least 8 MiB" >&2; exit 2; }
tmp="$out.tmp"
rm -f "$tmp"
truncate -s "${size}M" "$tmp"
start=2048
sectors=$(( size * 2048 - start ))
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
# Partition entry 1 (MBR offset 446): not bootable, CHS unused, type 0x0c
# (FAT32, LBA) or 0x0e (FAT16, LBA), LBA start, sector count; then 0x55AA.
type=$([ "$size" -ge 64 ] && echo '\x0c' || echo '\x0e')
entry="\\x00\\xff\\xff\\xff${type}\\xff\\xff\\xff$(le32 $start)$(le32 $sectors)"
printf "$entry" | dd of="$tmp" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$tmp" bs=1 seek=510 conv=notrunc status=none
fat=$([ "$size" -ge 64 ] && echo 32 || echo 16)
mkfs.fat -F "$fat" --offset "$start" -n MODULES "$tmp" $(( sectors / 2 )) >/dev/null
if [ $# -gt 0 ]; then
    MTOOLS_SKIP_CHECK=1 mcopy -o -i "$tmp@@$(( start * 512 ))" "$@" ::
fi
mv "$tmp" "$out"
