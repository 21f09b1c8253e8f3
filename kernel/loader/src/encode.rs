//! Writes one computed relocation value into its place: range check, then encode.
//!
//! This file owns the instruction-field arithmetic and nothing else: the caller has
//! already computed `X` (AAELF64 5.7: `S+A`, `S+A-P`, `Page(S+A)-Page(P)`, ...) and
//! handed over exactly the bytes of the place. [`apply`] checks `X` against the
//! relocation's overflow and alignment rules first and touches the place only when
//! every check passed, so a refused relocation leaves the place as it was (never a
//! half-written instruction). Old immediate bits are always cleared before the new
//! ones are or-ed in: objects may carry non-zero immediates, and RELA addends are
//! never read from the instruction.
//!
//! Range rules (AAELF64 5.7.5-5.7.8, matching LLVM's lld unless stated):
//! - ABS16/ABS32 accept the union of the signed and unsigned ranges
//!   (`-2^(n-1) <= X < 2^n`), like lld and Linux (modversions CRCs have bit 31 set).
//! - PREL16/PREL32 are checked as signed (`-2^(n-1) <= X < 2^(n-1)`), as Linux does
//!   since 2019: every consumer of a 32-bit place-relative offset (`.eh_frame`,
//!   jump tables, `__ksymtab` PREL entries) sign-extends it, so a value in
//!   `[2^31, 2^32)` that AAELF64 would accept always means a wrong address.
//! - `_NC` types are unchecked; MOVW_UABS_G3 and MOVW_PREL_G3 cannot overflow.
//! - Scaled LDST*_ABS_LO12_NC / LD64_GOT_LO12_NC / LD64_GOTPAGE_LO15 refuse a target
//!   that is not aligned to the access size, like lld (Linux does not check; the
//!   low bits would be silently dropped and the access would hit a wrong address).
//! - Branches (TSTBR14, CONDBR19, JUMP26, CALL26) and LD_PREL_LO19/GOT_LD_PREL19
//!   refuse a target that is not 4-byte aligned, for the same reason.

use crate::reloc::RelocKind;

/// Why a value cannot be encoded in a relocation's field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// `X` is outside the range the ABI allows for the type.
    Overflow,
    /// `X` has low bits set that the scaled field cannot hold.
    Misaligned {
        /// Required alignment in bytes.
        align: u64,
    },
    /// The place given is shorter than the type's width (a caller bug, not input).
    ShortPlace,
}

// A64 instruction fields (Arm ARM, "A64 Instruction Set Encoding").

/// B / BL `imm26` position, bits [25:0] (C6.2.26 B, C6.2.35 BL); holds offset / 4.
pub const IMM26_SHIFT: u32 = 0;
/// B / BL `imm26` width mask.
pub const IMM26_MASK: u32 = 0x03ff_ffff;
/// B.cond, CBZ/CBNZ, LDR (literal) `imm19` position, bits [23:5]; holds offset / 4.
pub const IMM19_SHIFT: u32 = 5;
/// `imm19` width mask.
pub const IMM19_MASK: u32 = 0x7_ffff;
/// TBZ / TBNZ `imm14` position, bits [18:5]; holds offset / 4.
pub const IMM14_SHIFT: u32 = 5;
/// `imm14` width mask.
pub const IMM14_MASK: u32 = 0x3fff;
/// ADR / ADRP `immlo` position, bits [30:29]: the low two bits of the 21-bit immediate.
pub const ADR_IMMLO_SHIFT: u32 = 29;
/// `immlo` width mask.
pub const ADR_IMMLO_MASK: u32 = 0x3;
/// ADR / ADRP `immhi` position, bits [23:5]: the high 19 bits of the 21-bit immediate.
pub const ADR_IMMHI_SHIFT: u32 = 5;
/// `immhi` width mask.
pub const ADR_IMMHI_MASK: u32 = 0x7_ffff;
/// ADD (immediate) and LDR/STR (unsigned offset) `imm12` position, bits [21:10].
pub const IMM12_SHIFT: u32 = 10;
/// `imm12` width mask.
pub const IMM12_MASK: u32 = 0xfff;
/// MOVN / MOVZ / MOVK `imm16` position, bits [20:5] (C6.2.190-192).
pub const IMM16_SHIFT: u32 = 5;
/// `imm16` width mask.
pub const IMM16_MASK: u32 = 0xffff;
/// Move-wide `opc` position, bits [30:29].
pub const MOVW_OPC_SHIFT: u32 = 29;
/// Move-wide `opc` width mask.
pub const MOVW_OPC_MASK: u32 = 0x3;
/// `opc` of MOVN.
pub const MOVW_OPC_MOVN: u32 = 0b00;
/// `opc` of MOVZ.
pub const MOVW_OPC_MOVZ: u32 = 0b10;
/// `opc` of MOVK.
pub const MOVW_OPC_MOVK: u32 = 0b11;

/// Replaces the field `mask << shift` of `insn` with `value & mask`.
const fn insert(insn: u32, shift: u32, mask: u32, value: u64) -> u32 {
    (insn & !(mask << shift)) | (((value as u32) & mask) << shift)
}

/// Reads the field `mask << shift` of `insn`.
pub const fn extract(insn: u32, shift: u32, mask: u32) -> u32 {
    (insn >> shift) & mask
}

/// `-2^(bits-1) <= X < 2^(bits-1)`, with `X` read as two's complement.
const fn fits_signed(x: u64, bits: u32) -> bool {
    let v = x as i64;
    let half = 1i64 << (bits - 1);
    v >= -half && v < half
}

/// `0 <= X < 2^bits`.
const fn fits_unsigned(x: u64, bits: u32) -> bool {
    x < (1u64 << bits)
}

/// `-2^(bits-1) <= X < 2^bits`: either reading is acceptable.
const fn fits_signed_or_unsigned(x: u64, bits: u32) -> bool {
    fits_signed(x, bits) || fits_unsigned(x, bits)
}

fn check(ok: bool) -> Result<(), FieldError> {
    if ok {
        Ok(())
    } else {
        Err(FieldError::Overflow)
    }
}

fn check_align(x: u64, align: u64) -> Result<(), FieldError> {
    if x & (align - 1) == 0 {
        Ok(())
    } else {
        Err(FieldError::Misaligned { align })
    }
}

/// A MOVN/MOVZ/MOVK for a signed group: MOVK keeps its opcode (later group of a
/// sequence); MOVN/MOVZ become MOVN with the inverted group when `X` is negative
/// and MOVZ otherwise (AAELF64 5.7.7 note on MOV[NZ]; the sign is that of the
/// whole `X`, as Linux's `reloc_insn_movw` decides).
fn signed_movw(insn: u32, x: u64, group_shift: u32) -> u32 {
    let group = ((x as i64) >> group_shift) as u64;
    if extract(insn, MOVW_OPC_SHIFT, MOVW_OPC_MASK) == MOVW_OPC_MOVK {
        return insert(insn, IMM16_SHIFT, IMM16_MASK, group);
    }
    if (x as i64) < 0 {
        let insn = insert(insn, MOVW_OPC_SHIFT, MOVW_OPC_MASK, MOVW_OPC_MOVN.into());
        insert(insn, IMM16_SHIFT, IMM16_MASK, !group)
    } else {
        let insn = insert(insn, MOVW_OPC_SHIFT, MOVW_OPC_MASK, MOVW_OPC_MOVZ.into());
        insert(insn, IMM16_SHIFT, IMM16_MASK, group)
    }
}

/// ADR/ADRP immediate: `immlo` takes bits [1:0] of `imm21`, `immhi` bits [20:2].
const fn adr_imm(insn: u32, imm21: u64) -> u32 {
    let insn = insert(insn, ADR_IMMLO_SHIFT, ADR_IMMLO_MASK, imm21);
    insert(insn, ADR_IMMHI_SHIFT, ADR_IMMHI_MASK, imm21 >> 2)
}

/// Checks `x` for `kind` and, only if it fits, writes it into `place`.
///
/// `place` must be at least `kind.width()` bytes (the first bytes are used). On
/// error `place` is unchanged.
// Inlined into the load's relocation loop, its one hot caller: once per
// relocation, where a call and its `Result` through memory cost as much as the
// work.
#[inline(always)]
pub fn apply(kind: RelocKind, place: &mut [u8], x: u64) -> Result<(), FieldError> {
    use RelocKind as K;
    // Instructions first, by one compare: most relocations patch one, and
    // the data kinds' arms, tested first, cost a compare each.
    if kind.is_instruction() {
        let word = place.get_mut(..4).ok_or(FieldError::ShortPlace)?;
        // An instruction is 4-byte aligned wherever the section is: one
        // load and one store (the kernel builds with `+strict-align`, where
        // a `[u8; 4]` access is four byte accesses).
        // Stored only when it changes (see `crate::store`: a module loaded
        // again into its previous pages keeps QEMU's translations).
        if let Ok(w) = bytemuck::try_from_bytes_mut::<u32>(word) {
            let new = encode_insn(kind, u32::from_le(*w), x)?.to_le();
            if *w != new {
                *w = new;
            }
            return Ok(());
        }
        let old = read_insn(word)?;
        let new = encode_insn(kind, old, x)?;
        return write_bytes(word, &new.to_le_bytes());
    }
    match kind {
        K::Abs64 | K::Prel64 => match place.get_mut(..8).map(bytemuck::try_from_bytes_mut::<u64>) {
            Some(Ok(w)) => {
                if *w != x.to_le() {
                    *w = x.to_le();
                }
                Ok(())
            }
            _ => write_bytes(place, &x.to_le_bytes()),
        },
        K::Abs32 => {
            check(fits_signed_or_unsigned(x, 32))?;
            write_bytes(place, &(x as u32).to_le_bytes())
        }
        K::Prel32 => {
            check(fits_signed(x, 32))?;
            write_bytes(place, &(x as u32).to_le_bytes())
        }
        K::Abs16 => {
            check(fits_signed_or_unsigned(x, 16))?;
            write_bytes(place, &(x as u16).to_le_bytes())
        }
        K::Prel16 => {
            check(fits_signed(x, 16))?;
            write_bytes(place, &(x as u16).to_le_bytes())
        }
        // NONE; the instruction kinds took the branch above.
        _ => Ok(()),
    }
}

/// The new instruction word for an instruction relocation, or why there is none.
// Inlined into `apply` (so into the relocation loop), as `apply` is.
#[inline(always)]
pub fn encode_insn(kind: RelocKind, insn: u32, x: u64) -> Result<u32, FieldError> {
    use RelocKind as K;
    let imm16 = |insn: u32, shift: u32| insert(insn, IMM16_SHIFT, IMM16_MASK, x >> shift);
    let imm12 = |insn: u32, scale: u32| insert(insn, IMM12_SHIFT, IMM12_MASK, (x & 0xfff) >> scale);
    Ok(match kind {
        K::MovwUabsG0 => {
            check(fits_unsigned(x, 16))?;
            imm16(insn, 0)
        }
        K::MovwUabsG0Nc => imm16(insn, 0),
        K::MovwUabsG1 => {
            check(fits_unsigned(x, 32))?;
            imm16(insn, 16)
        }
        K::MovwUabsG1Nc => imm16(insn, 16),
        K::MovwUabsG2 => {
            check(fits_unsigned(x, 48))?;
            imm16(insn, 32)
        }
        K::MovwUabsG2Nc => imm16(insn, 32),
        K::MovwUabsG3 => imm16(insn, 48),
        K::MovwSabsG0 | K::MovwPrelG0 => {
            check(fits_signed(x, 17))?;
            signed_movw(insn, x, 0)
        }
        K::MovwSabsG1 | K::MovwPrelG1 => {
            check(fits_signed(x, 33))?;
            signed_movw(insn, x, 16)
        }
        K::MovwSabsG2 | K::MovwPrelG2 => {
            check(fits_signed(x, 49))?;
            signed_movw(insn, x, 32)
        }
        K::MovwPrelG0Nc => signed_movw(insn, x, 0),
        K::MovwPrelG1Nc => signed_movw(insn, x, 16),
        K::MovwPrelG2Nc => signed_movw(insn, x, 32),
        K::MovwPrelG3 => signed_movw(insn, x, 48),
        K::LdPrelLo19 | K::CondBr19 | K::GotLdPrel19 => {
            check_align(x, 4)?;
            check(fits_signed(x, 21))?;
            insert(insn, IMM19_SHIFT, IMM19_MASK, x >> 2)
        }
        K::AdrPrelLo21 => {
            check(fits_signed(x, 21))?;
            adr_imm(insn, x)
        }
        K::AdrPrelPgHi21 | K::AdrGotPage => {
            check(fits_signed(x, 33))?;
            adr_imm(insn, x >> 12)
        }
        K::AdrPrelPgHi21Nc => adr_imm(insn, x >> 12),
        K::AddAbsLo12Nc | K::Ldst8AbsLo12Nc => imm12(insn, 0),
        K::Ldst16AbsLo12Nc => {
            check_align(x, 2)?;
            imm12(insn, 1)
        }
        K::Ldst32AbsLo12Nc => {
            check_align(x, 4)?;
            imm12(insn, 2)
        }
        K::Ldst64AbsLo12Nc | K::Ld64GotLo12Nc => {
            check_align(x, 8)?;
            imm12(insn, 3)
        }
        K::Ldst128AbsLo12Nc => {
            check_align(x, 16)?;
            imm12(insn, 4)
        }
        K::Ld64GotpageLo15 => {
            check_align(x, 8)?;
            check(fits_unsigned(x, 15))?;
            insert(insn, IMM12_SHIFT, IMM12_MASK, x >> 3)
        }
        K::TstBr14 => {
            check_align(x, 4)?;
            check(fits_signed(x, 16))?;
            insert(insn, IMM14_SHIFT, IMM14_MASK, x >> 2)
        }
        K::Jump26 | K::Call26 => {
            check_align(x, 4)?;
            check(fits_signed(x, 28))?;
            insert(insn, IMM26_SHIFT, IMM26_MASK, x >> 2)
        }
        K::None | K::Abs64 | K::Abs32 | K::Abs16 | K::Prel64 | K::Prel32 | K::Prel16 => insn,
    })
}

/// Whether a 26-bit branch from `place` reaches `target` (B/BL: +-128 MiB).
pub fn branch26_reaches(place: u64, target: u64) -> bool {
    let x = target.wrapping_sub(place);
    x & 3 == 0 && fits_signed(x, 28)
}

fn read_insn(place: &[u8]) -> Result<u32, FieldError> {
    match place.get(..4) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(FieldError::ShortPlace),
    }
}

fn write_bytes(place: &mut [u8], bytes: &[u8]) -> Result<(), FieldError> {
    match place.get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(())
        }
        None => Err(FieldError::ShortPlace),
    }
}

/// `Page(x)`: `x` with its low 12 bits cleared (AAELF64 5.7.3).
pub const fn page(x: u64) -> u64 {
    x & !0xfff
}

/// Field positions, exported for the veneer writer and the tests' decoders.
pub mod fields {
    pub use super::{
        ADR_IMMHI_MASK, ADR_IMMHI_SHIFT, ADR_IMMLO_MASK, ADR_IMMLO_SHIFT, IMM12_MASK, IMM12_SHIFT,
        IMM14_MASK, IMM14_SHIFT, IMM16_MASK, IMM16_SHIFT, IMM19_MASK, IMM19_SHIFT, IMM26_MASK,
        IMM26_SHIFT, MOVW_OPC_MASK, MOVW_OPC_MOVK, MOVW_OPC_MOVN, MOVW_OPC_MOVZ, MOVW_OPC_SHIFT,
    };
}
