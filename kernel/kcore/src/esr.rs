//! Decoding of ESR_ELx (Exception Syndrome Register) for oops messages.
//!
//! Names follow Linux's `esr_class_str[]` (arch/arm64/kernel/traps.c) so an oops
//! reads the same; data/instruction abort status codes follow the Arm ARM D17.2.40
//! (ESR_EL1, ISS encoding for an exception from a Data Abort, DFSC).

/// Exception class, ESR bits [31:26].
pub fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Instruction-specific syndrome, ESR bits [24:0].
pub fn iss(esr: u64) -> u32 {
    (esr & 0x1ff_ffff) as u32
}

/// Linux's name for an exception class.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "Unknown/Uncategorized",
        0x01 => "WFI/WFE",
        0x07 => "SIMD/FP",
        0x0e => "Illegal Execution State",
        0x15 => "SVC (AArch64)",
        0x16 => "HVC (AArch64)",
        0x17 => "SMC (AArch64)",
        0x18 => "MSR/MRS (AArch64)",
        0x20 => "IABT (lower EL)",
        0x21 => "IABT (current EL)",
        0x22 => "PC Alignment",
        0x24 => "DABT (lower EL)",
        0x25 => "DABT (current EL)",
        0x26 => "SP Alignment",
        0x2c => "FP (AArch64)",
        0x2f => "SError",
        0x30 => "Breakpoint (lower EL)",
        0x31 => "Breakpoint (current EL)",
        0x32 => "Software Step (lower EL)",
        0x33 => "Software Step (current EL)",
        0x34 => "Watchpoint (lower EL)",
        0x35 => "Watchpoint (current EL)",
        0x3c => "BRK (AArch64)",
        _ => "UNRECOGNIZED EC",
    }
}

/// Whether the class is a data or instruction abort (FAR is then valid).
pub fn is_abort(ec: u8) -> bool {
    matches!(ec, 0x20 | 0x21 | 0x24 | 0x25)
}

/// Description of a fault status code (DFSC/IFSC, ISS bits [5:0]).
pub fn fault_status_name(fsc: u8) -> &'static str {
    match fsc {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "unknown fault",
    }
}

/// The translation level of a fault status code, for codes that have one.
pub fn fault_level(fsc: u8) -> Option<u8> {
    match fsc {
        0x00..=0x0f => Some(fsc & 3),
        _ => None,
    }
}

/// Whether a data abort was caused by a write (ISS.WnR, bit 6).
pub fn is_write(esr: u64) -> bool {
    iss(esr) & (1 << 6) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_level_3_translation_fault_on_read() {
        // EC=0x25 (DABT current EL), IL=1, DFSC=0b000111 (translation fault, level 3)
        let esr = (0x25u64 << 26) | (1 << 25) | 0x07;
        assert_eq!(class(esr), 0x25);
        assert_eq!(class_name(class(esr)), "DABT (current EL)");
        assert!(is_abort(class(esr)));
        let fsc = (iss(esr) & 0x3f) as u8;
        assert_eq!(fault_status_name(fsc), "translation fault");
        assert_eq!(fault_level(fsc), Some(3));
        assert!(!is_write(esr));
        assert!(is_write(esr | (1 << 6)));
    }

    #[test]
    fn unknown_classes_are_named_as_such() {
        assert_eq!(class_name(0x3f), "UNRECOGNIZED EC");
        assert_eq!(class_name(0x3c), "BRK (AArch64)");
    }
}
