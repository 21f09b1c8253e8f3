//! Stores that leave equal bytes alone.
//!
//! Text written only where it changes: when a module is loaded again into
//! the pages its previous image ran from (the page allocator hands the same
//! pages back, the address allocator the same addresses), most of the new
//! text equals what is already there. Under QEMU's TCG every store into a
//! page that still has translated code takes the self-modifying-code slow
//! path and drops the translations it touches, so the next run translates
//! the module again; skipping equal bytes keeps both. On hardware a compare
//! costs about what the copy did. The result is the same bytes either way.

/// Bytes compared at once: one 64-byte block (four NEON registers a side).
const BLOCK: usize = 64;

/// Makes `dst` equal to `src` (the shorter length of the two), storing only
/// the 64-byte blocks that differ. Both compared as aligned 16-byte words
/// when they sit at the same offset from a 16-byte boundary (a module's
/// text and its section in the file normally do); else block by block as
/// bytes (slow under `+strict-align`, but correct).
pub fn copy_changed(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let head = dst.as_ptr().align_offset(16).min(n);
    if src.as_ptr().align_offset(16).min(n) != head {
        for (d, s) in dst.chunks_mut(BLOCK).zip(src.chunks(BLOCK)) {
            put_changed(d, s);
        }
        return;
    }
    let (dh, dst) = dst.split_at_mut(head);
    let (sh, src) = src.split_at(head);
    put_changed(dh, sh);
    let (_, dw, dt) = bytemuck::pod_align_to_mut::<u8, u128>(dst);
    let (sw, st) = (
        bytemuck::pod_align_to::<u8, u128>(src).1,
        &src[dw.len() * 16..],
    );
    let mut d = dw.chunks_exact_mut(WORDS);
    let mut s = sw.chunks_exact(WORDS);
    for (d, s) in (&mut d).zip(&mut s) {
        if differ(d, s) {
            d.copy_from_slice(s);
        }
    }
    let (d, s) = (d.into_remainder(), s.remainder());
    put_changed(bytemuck::cast_slice_mut(d), bytemuck::cast_slice(s));
    put_changed(dt, st);
}

/// Makes every byte of `dst` zero, storing only the 64-byte blocks that are not.
pub fn zero_changed(dst: &mut [u8]) {
    const ZERO: [u128; WORDS] = [0; WORDS];
    let (dh, dw, dt) = bytemuck::pod_align_to_mut::<u8, u128>(dst);
    for part in [dh, dt] {
        if part.iter().any(|&b| b != 0) {
            part.fill(0);
        }
    }
    let mut d = dw.chunks_exact_mut(WORDS);
    for d in &mut d {
        if differ(d, &ZERO) {
            d.fill(0);
        }
    }
    let d = d.into_remainder();
    if d.iter().any(|&w| w != 0) {
        d.fill(0);
    }
}

/// 16-byte words in a block.
const WORDS: usize = BLOCK / 16;

/// Whether two blocks of four 16-byte words differ: one OR of XORs (no early
/// exit, no call to `memcmp`).
#[inline(always)]
fn differ(a: &[u128], b: &[u128]) -> bool {
    let (Ok(a), Ok(b)) = (<&[u128; WORDS]>::try_from(a), <&[u128; WORDS]>::try_from(b)) else {
        return a != b;
    };
    ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) != 0
}

/// Writes `bytes` at `dst` unless they are already there.
#[inline(always)]
pub fn put_changed(dst: &mut [u8], bytes: &[u8]) {
    if *dst != *bytes {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn copy_changed_gives_src_for_every_length_and_difference() {
        for n in [0, 1, 63, 64, 65, 127, 128, 200, 4096 + 17] {
            let src = pattern(n, 7);
            // Equal, all different, one byte different in each position class.
            let mut cases = vec![src.clone(), pattern(n, 9), vec![0; n]];
            for at in [0, n / 2, n.saturating_sub(1)] {
                if n > 0 {
                    let mut c = src.clone();
                    c[at] ^= 0x80;
                    cases.push(c);
                }
            }
            for mut dst in cases {
                copy_changed(&mut dst, &src);
                assert_eq!(dst, src, "n={n}");
            }
        }
    }

    #[test]
    fn copy_changed_at_offsets_of_unaligned_slices() {
        let src = pattern(300, 3);
        for off in 0..16 {
            let mut buf = pattern(400, 5);
            copy_changed(&mut buf[off..off + 300], &src);
            assert_eq!(&buf[off..off + 300], &src[..]);
            assert_eq!(&buf[..off], &pattern(400, 5)[..off]);
            assert_eq!(&buf[off + 300..], &pattern(400, 5)[off + 300..]);
        }
    }

    #[test]
    fn copy_changed_uses_the_shorter_length() {
        let mut dst = vec![1u8; 10];
        copy_changed(&mut dst, &[2u8; 4]);
        assert_eq!(dst, [2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn zero_changed_zeroes_every_byte() {
        for n in [0, 1, 64, 65, 130, 4096] {
            for at in 0..n.min(70) {
                let mut d = vec![0u8; n];
                d[at] = 1;
                d[n - 1] |= 2;
                zero_changed(&mut d);
                assert!(d.iter().all(|&b| b == 0), "n={n} at={at}");
            }
        }
    }

    #[test]
    fn put_changed_writes_only_a_difference() {
        let mut d = [1u8, 2, 3, 4];
        put_changed(&mut d, &[1, 2, 3, 4]);
        assert_eq!(d, [1, 2, 3, 4]);
        put_changed(&mut d, &[4, 3, 2, 1]);
        assert_eq!(d, [4, 3, 2, 1]);
    }
}
