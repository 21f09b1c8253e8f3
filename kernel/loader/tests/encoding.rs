//! Every relocation type at the edges of its range: the value that just fits and the
//! value that just overflows, on both sides, written over an instruction whose
//! immediate field is already non-zero (so a writer that forgets to clear it fails).
//! Decoding is done here independently of `encode.rs`, bit by bit from the Arm ARM.

use modloader::encode::{apply, FieldError};
use modloader::RelocKind as K;

fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn bits(insn: u32, lo: u32, width: u32) -> u64 {
    u64::from((insn >> lo) & ((1u32 << width) - 1))
}

/// The value the instruction's field now holds, in the units of `X`.
fn decode(kind: K, insn: u32) -> i64 {
    match kind {
        K::Call26 | K::Jump26 => sext(bits(insn, 0, 26), 26) << 2,
        K::CondBr19 | K::LdPrelLo19 | K::GotLdPrel19 => sext(bits(insn, 5, 19), 19) << 2,
        K::TstBr14 => sext(bits(insn, 5, 14), 14) << 2,
        K::AdrPrelLo21 => sext(bits(insn, 5, 19) << 2 | bits(insn, 29, 2), 21),
        K::AdrPrelPgHi21 | K::AdrPrelPgHi21Nc | K::AdrGotPage => {
            sext(bits(insn, 5, 19) << 2 | bits(insn, 29, 2), 21) << 12
        }
        K::AddAbsLo12Nc | K::Ldst8AbsLo12Nc => bits(insn, 10, 12) as i64,
        K::Ldst16AbsLo12Nc => (bits(insn, 10, 12) << 1) as i64,
        K::Ldst32AbsLo12Nc => (bits(insn, 10, 12) << 2) as i64,
        K::Ldst64AbsLo12Nc | K::Ld64GotLo12Nc | K::Ld64GotpageLo15 => {
            (bits(insn, 10, 12) << 3) as i64
        }
        K::Ldst128AbsLo12Nc => (bits(insn, 10, 12) << 4) as i64,
        _ => unreachable!("not an instruction type: {kind:?}"),
    }
}

/// The 64-bit value a MOVZ/MOVN alone would produce for its group `shift`.
fn movw_alone(insn: u32, shift: u32) -> i64 {
    let imm = bits(insn, 5, 16) << shift;
    match bits(insn, 29, 2) {
        0b10 => imm as i64,
        0b00 => !imm as i64,
        opc => panic!("not MOVZ/MOVN: opc {opc:#b}"),
    }
}

// Old instructions with every immediate bit set (and registers non-zero).
const BL: u32 = 0x97ff_ffff; // bl with imm26 = all ones
const B: u32 = 0x17ff_ffff;
const B_COND: u32 = 0x54ff_ffe1; // b.ne with imm19 all ones
const LDR_LIT: u32 = 0x58ff_ffe1; // ldr x1, literal, imm19 all ones
const TBZ: u32 = 0x367f_ffe1; // tbz w1, #15, imm14 all ones
const ADR: u32 = 0x70ff_ffe1; // adr x1, immlo/immhi all ones
const ADRP: u32 = 0xf0ff_ffe1; // adrp x1, all ones
const ADD: u32 = 0x913f_fc21; // add x1, x1, #0xfff
const LDRB: u32 = 0x397f_fc21; // ldrb w1, [x1, #0xfff]
const LDRH: u32 = 0x797f_fc21;
const LDRW: u32 = 0xb97f_fc21;
const LDRX: u32 = 0xf97f_fc21;
const LDRQ: u32 = 0x3dff_fc21; // ldr q1, [x1, #imm*16]
const MOVZ: u32 = 0xd29f_ffe1; // movz x1, #0xffff
const MOVN: u32 = 0x929f_ffe1; // movn x1, #0xffff
const MOVK: u32 = 0xf29f_ffe1; // movk x1, #0xffff

fn place_of(insn: u32) -> [u8; 4] {
    insn.to_le_bytes()
}

/// `x` fits: Ok, the field decodes to `x` (per `expect`), the other bits unchanged.
fn fits(kind: K, insn: u32, x: i64, expect: i64) {
    let mut place = place_of(insn);
    assert_eq!(
        apply(kind, &mut place, x as u64),
        Ok(()),
        "{kind} {x:#x} should fit"
    );
    let new = u32::from_le_bytes(place);
    assert_eq!(
        decode(kind, new),
        expect,
        "{kind} {x:#x}: field holds {new:#010x}"
    );
}

/// `x` does not fit: the error, and the place is untouched.
fn refuses(kind: K, insn: u32, x: i64, err: FieldError) {
    let mut place = place_of(insn);
    assert_eq!(
        apply(kind, &mut place, x as u64),
        Err(err),
        "{kind} {x:#x} should be refused"
    );
    assert_eq!(
        u32::from_le_bytes(place),
        insn,
        "{kind}: place written despite refusal"
    );
}

const OVF: FieldError = FieldError::Overflow;

/// A PC-relative branch or literal type with a signed `bits`-bit byte range, 4-aligned.
fn signed_word_range(kind: K, insn: u32, bits: u32) {
    let max = (1i64 << (bits - 1)) - 4;
    let min = -(1i64 << (bits - 1));
    fits(kind, insn, max, max);
    fits(kind, insn, min, min);
    fits(kind, insn, 0, 0);
    fits(kind, insn, -4, -4);
    refuses(kind, insn, max + 4, OVF);
    refuses(kind, insn, min - 4, OVF);
    refuses(kind, insn, 2, FieldError::Misaligned { align: 4 });
}

#[test]
fn call26_and_jump26_reach_128_mib_each_way() {
    signed_word_range(K::Call26, BL, 28);
    signed_word_range(K::Jump26, B, 28);
    // The opcode bits survive.
    let mut place = place_of(BL);
    apply(K::Call26, &mut place, 8).unwrap();
    assert_eq!(u32::from_le_bytes(place), 0x9400_0002);
}

#[test]
fn condbr19_ld_prel_lo19_got_ld_prel19_reach_1_mib() {
    signed_word_range(K::CondBr19, B_COND, 21);
    signed_word_range(K::LdPrelLo19, LDR_LIT, 21);
    signed_word_range(K::GotLdPrel19, LDR_LIT, 21);
    let mut place = place_of(B_COND);
    apply(K::CondBr19, &mut place, 8).unwrap();
    assert_eq!(u32::from_le_bytes(place), 0x5400_0041, "b.ne .+8");
}

#[test]
fn tstbr14_reaches_32_kib() {
    signed_word_range(K::TstBr14, TBZ, 16);
}

#[test]
fn adr_prel_lo21_reaches_1_mib_at_byte_granularity() {
    let k = K::AdrPrelLo21;
    fits(k, ADR, (1 << 20) - 1, (1 << 20) - 1);
    fits(k, ADR, -(1 << 20), -(1 << 20));
    fits(k, ADR, 1, 1);
    fits(k, ADR, -3, -3);
    refuses(k, ADR, 1 << 20, OVF);
    refuses(k, ADR, -(1 << 20) - 1, OVF);
}

#[test]
fn adrp_reaches_4_gib_pages_and_nc_wraps() {
    for k in [K::AdrPrelPgHi21, K::AdrGotPage] {
        let max = (1i64 << 32) - 4096;
        let min = -(1i64 << 32);
        fits(k, ADRP, max, max);
        fits(k, ADRP, min, min);
        fits(k, ADRP, 4096, 4096);
        refuses(k, ADRP, 1 << 32, OVF);
        refuses(k, ADRP, min - 4096, OVF);
    }
    // _NC: the same bits, no check.
    fits(K::AdrPrelPgHi21Nc, ADRP, 1 << 32, -(1 << 32));
    fits(K::AdrPrelPgHi21Nc, ADRP, (1 << 33) + 4096, 4096);
}

#[test]
fn lo12_types_take_the_low_bits_and_check_alignment() {
    fits(K::AddAbsLo12Nc, ADD, 0x1234_5678, 0x678);
    fits(K::AddAbsLo12Nc, ADD, 0, 0);
    fits(K::Ldst8AbsLo12Nc, LDRB, 0xfff, 0xfff);
    fits(K::Ldst8AbsLo12Nc, LDRB, 0x1001, 1);
    for (k, insn, align) in [
        (K::Ldst16AbsLo12Nc, LDRH, 2),
        (K::Ldst32AbsLo12Nc, LDRW, 4),
        (K::Ldst64AbsLo12Nc, LDRX, 8),
        (K::Ld64GotLo12Nc, LDRX, 8),
        (K::Ldst128AbsLo12Nc, LDRQ, 16),
    ] {
        fits(k, insn, 0x5000 + 0x1000 - align, 0x1000 - align);
        fits(k, insn, 0x7000, 0);
        fits(k, insn, align, align);
        refuses(
            k,
            insn,
            0x1000 - align / 2,
            FieldError::Misaligned {
                align: align as u64,
            },
        );
    }
    // LD64_GOTPAGE_LO15: 0 <= X < 2^15, 8-aligned.
    fits(K::Ld64GotpageLo15, LDRX, 0x7ff8, 0x7ff8);
    fits(K::Ld64GotpageLo15, LDRX, 0, 0);
    refuses(K::Ld64GotpageLo15, LDRX, 0x8000, OVF);
    refuses(K::Ld64GotpageLo15, LDRX, -8, OVF);
    refuses(
        K::Ld64GotpageLo15,
        LDRX,
        4,
        FieldError::Misaligned { align: 8 },
    );
}

#[test]
fn movw_uabs_groups_check_unsigned_ranges() {
    let groups = [
        (K::MovwUabsG0, K::MovwUabsG0Nc, 0u32, Some(16u32)),
        (K::MovwUabsG1, K::MovwUabsG1Nc, 16, Some(32)),
        (K::MovwUabsG2, K::MovwUabsG2Nc, 32, Some(48)),
        (K::MovwUabsG3, K::MovwUabsG3, 48, None),
    ];
    for (checked, nc, shift, limit) in groups {
        for insn in [MOVZ, MOVK] {
            let imm = |new: [u8; 4]| bits(u32::from_le_bytes(new), 5, 16);
            let opc = |new: [u8; 4]| bits(u32::from_le_bytes(new), 29, 2);
            if let Some(limit) = limit {
                let max = (1u64 << limit) - 1;
                let mut p = place_of(insn);
                assert_eq!(apply(checked, &mut p, max), Ok(()));
                assert_eq!(imm(p), 0xffff, "{checked}");
                let mut p = place_of(insn);
                let small = 1u64 << shift;
                assert_eq!(apply(checked, &mut p, small), Ok(()));
                assert_eq!(imm(p), 1, "{checked}: old immediate cleared");
                assert_eq!(opc(p), bits(insn, 29, 2), "{checked} keeps its opcode");
                let mut p = place_of(insn);
                assert_eq!(apply(checked, &mut p, max + 1), Err(OVF), "{checked}");
                assert_eq!(p, place_of(insn));
                let mut p = place_of(insn);
                assert_eq!(apply(checked, &mut p, u64::MAX), Err(OVF), "{checked} -1");
            }
            let mut p = place_of(insn);
            assert_eq!(apply(nc, &mut p, 0x1234_5678_9abc_def0), Ok(()));
            assert_eq!(imm(p), (0x1234_5678_9abc_def0u64 >> shift) & 0xffff, "{nc}");
        }
    }
}

#[test]
fn movw_signed_groups_pick_movn_or_movz_and_check_signed_ranges() {
    let groups = [
        (K::MovwSabsG0, 0u32, 17u32),
        (K::MovwSabsG1, 16, 33),
        (K::MovwSabsG2, 32, 49),
        (K::MovwPrelG0, 0, 17),
        (K::MovwPrelG1, 16, 33),
        (K::MovwPrelG2, 32, 49),
    ];
    for (kind, shift, bits_) in groups {
        let max = (1i64 << (bits_ - 1)) - 1;
        let min = -(1i64 << (bits_ - 1));
        for old in [MOVZ, MOVN] {
            for x in [max, min, 0, -1, 1i64 << shift, -(1i64 << shift)] {
                let mut p = place_of(old);
                assert_eq!(apply(kind, &mut p, x as u64), Ok(()), "{kind} {x:#x}");
                let new = u32::from_le_bytes(p);
                assert_eq!(
                    movw_alone(new, shift) >> shift,
                    x >> shift,
                    "{kind} {x:#x} -> {new:#010x}"
                );
                assert_eq!(new & 0x1f, 1, "{kind}: Rd kept");
            }
            for x in [max + 1, min - 1] {
                let mut p = place_of(old);
                assert_eq!(apply(kind, &mut p, x as u64), Err(OVF), "{kind} {x:#x}");
                assert_eq!(p, place_of(old));
            }
        }
        // A MOVK stays a MOVK.
        let mut p = place_of(MOVK);
        assert_eq!(apply(kind, &mut p, (-5i64 << shift) as u64), Ok(()));
        let new = u32::from_le_bytes(p);
        assert_eq!(bits(new, 29, 2), 0b11);
        assert_eq!(bits(new, 5, 16), 0xfffb);
    }
    // Unchecked signed forms: G3 and the _NC ones never overflow.
    for (kind, shift) in [
        (K::MovwPrelG0Nc, 0),
        (K::MovwPrelG1Nc, 16),
        (K::MovwPrelG2Nc, 32),
        (K::MovwPrelG3, 48),
    ] {
        for x in [i64::MAX, i64::MIN, -1, 0x1234_5678_9abc_def0] {
            let mut p = place_of(MOVK);
            assert_eq!(apply(kind, &mut p, x as u64), Ok(()), "{kind}");
            assert_eq!(
                bits(u32::from_le_bytes(p), 5, 16),
                ((x >> shift) as u64) & 0xffff,
                "{kind}"
            );
        }
    }
    let mut p = place_of(MOVZ);
    apply(K::MovwPrelG3, &mut p, (-2i64 << 48) as u64).unwrap();
    assert_eq!(movw_alone(u32::from_le_bytes(p), 48) >> 48, -2);
}

#[test]
fn data_relocations_check_their_ranges() {
    let old16 = [0xaa, 0xbb];
    let old32 = [0xaa, 0xbb, 0xcc, 0xdd];
    let cases16: [(K, i64, bool); 10] = [
        (K::Abs16, 0xffff, true),
        (K::Abs16, -0x8000, true),
        (K::Abs16, 0x1_0000, false),
        (K::Abs16, -0x8001, false),
        (K::Prel16, 0x7fff, true),
        (K::Prel16, -0x8000, true),
        (K::Prel16, 0x8000, false),
        (K::Prel16, -0x8001, false),
        (K::Abs16, 0x1234, true),
        (K::Prel16, -2, true),
    ];
    for (k, x, ok) in cases16 {
        let mut p = old16;
        let r = apply(k, &mut p, x as u64);
        if ok {
            assert_eq!(r, Ok(()), "{k} {x:#x}");
            assert_eq!(p, (x as u16).to_le_bytes());
        } else {
            assert_eq!(r, Err(OVF), "{k} {x:#x}");
            assert_eq!(p, old16);
        }
    }
    let cases32: [(K, i64, bool); 8] = [
        (K::Abs32, 0xffff_ffff, true),
        (K::Abs32, -0x8000_0000, true),
        (K::Abs32, 0x1_0000_0000, false),
        (K::Abs32, -0x8000_0001, false),
        (K::Prel32, 0x7fff_ffff, true),
        (K::Prel32, -0x8000_0000, true),
        (K::Prel32, 0x8000_0000, false),
        (K::Prel32, -0x8000_0001, false),
    ];
    for (k, x, ok) in cases32 {
        let mut p = old32;
        let r = apply(k, &mut p, x as u64);
        if ok {
            assert_eq!(r, Ok(()), "{k} {x:#x}");
            assert_eq!(p, (x as u32).to_le_bytes());
        } else {
            assert_eq!(r, Err(OVF), "{k} {x:#x}");
            assert_eq!(p, old32);
        }
    }
    for k in [K::Abs64, K::Prel64] {
        let mut p = [0xffu8; 8];
        apply(k, &mut p, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(p, 0x0123_4567_89ab_cdefu64.to_le_bytes());
    }
    let mut p = [0x5au8; 4];
    apply(K::None, &mut p, 12345).unwrap();
    assert_eq!(p, [0x5a; 4], "R_AARCH64_NONE writes nothing");
}

#[test]
fn a_short_place_is_an_error_not_a_panic() {
    let mut p = [0u8; 2];
    assert_eq!(apply(K::Call26, &mut p, 0), Err(FieldError::ShortPlace));
    assert_eq!(apply(K::Abs64, &mut p, 0), Err(FieldError::ShortPlace));
}
