//! The kernel log: the `log` crate's backend.
//!
//! Each record is stamped with the time since kernel entry, appended to the
//! `dmesg` ring ([`kcore::logring::LogRing`]) and echoed to the console when its
//! level is at or above the console level (`loglevel=` bootarg, Linux numbering:
//! 3 = errors, 4 = warnings, 6 = info, 7 = debug; the default, like Linux's
//! `loglevel=7`, shows everything but debug).
//!
//! Room `klog` (also `oops.rs`, `symbols.rs`): uses every room below it up to
//! `console`.

pub mod oops;
pub mod symbols;

use crate::sync::IrqLock;
use core::fmt::Write;
pub use kcore::logring::Piece;
use kcore::logring::{LineBuf, LogRing};
use log::{Level, LevelFilter, Log, Metadata, Record};

const RING_BYTES: usize = 32 * 1024;

static RING: IrqLock<LogRing<RING_BYTES>> = IrqLock::new(LogRing::new());
static LOGGER: KernelLogger = KernelLogger;
/// Highest Linux level shown on the console: 6 (info) by default, as Linux's
/// default console_loglevel of 7 shows levels below 7; debug goes to dmesg only.
static CONSOLE_LEVEL: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(6);

struct KernelLogger;

fn linux_level(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

impl Log for KernelLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let mut line = LineBuf::<256>::new();
        match record.level() {
            Level::Error => line.push_str("ERROR: "),
            Level::Warn => line.push_str("WARNING: "),
            _ => {}
        }
        // A record without arguments (most boot lines) skips `core::fmt`.
        match record.args().as_str() {
            Some(text) => line.push_str(text),
            None => {
                let _ = line.write_fmt(*record.args());
            }
        }
        emit(record.level(), line.as_str());
    }

    fn flush(&self) {}
}

/// Stamps `text` (already prefixed for its level), appends it to the ring and
/// echoes it to the console when the level is shown.
fn emit(level: Level, text: &str) {
    // The line is built once, for the ring and the console alike (`text`
    // holds at most 256 bytes, so it is never cut here).
    let mut out = LineBuf::<300>::new();
    out.push_timestamp(crate::irq::time::micros());
    out.push_str(text);
    out.push_str("\n");
    RING.lock().push_line(&out.buf[..out.len]);
    let console_level = CONSOLE_LEVEL.load(core::sync::atomic::Ordering::Relaxed);
    if linux_level(level) <= console_level && !QUIET.load(core::sync::atomic::Ordering::Relaxed) {
        crate::console::write_str(out.as_str());
    }
}

/// Logs an info record built from `pieces` without `core::fmt`: what
/// `log::info!` prints for the same text, for lines every boot prints (under
/// TCG the formatting machinery costs more translation than the line).
pub fn info(pieces: &[Piece<'_>]) {
    let mut line = LineBuf::<256>::new();
    line.push_pieces(pieces);
    emit(Level::Info, line.as_str());
}

/// Logs a record built from `pieces` at `level`: what `log::log!` records
/// for the same text (the same `ERROR: `/`WARNING: ` prefix), without the
/// `log` crate's dispatch, `core::fmt`, or a second copy of a line the
/// caller built first (every module load logs several records).
pub fn record(level: Level, pieces: &[Piece<'_>]) {
    let mut line = LineBuf::<256>::new();
    match level {
        Level::Error => line.push_str("ERROR: "),
        Level::Warn => line.push_str("WARNING: "),
        _ => {}
    }
    line.push_pieces(pieces);
    emit(level, line.as_str());
}

static QUIET: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// While set, records go only to the ring, not the console (self-tests that
/// would otherwise print thousands of lines).
#[cfg(feature = "selftest")]
pub fn set_console_quiet(quiet: bool) {
    QUIET.store(quiet, core::sync::atomic::Ordering::Relaxed);
}

/// Installs the logger; `loglevel` as Linux's bootarg (messages with a level
/// number below it reach the console).
pub fn init(loglevel: Option<u8>) {
    if let Some(l) = loglevel {
        CONSOLE_LEVEL.store(l.saturating_sub(1), core::sync::atomic::Ordering::Relaxed);
    }
    let _ = log::set_logger(&LOGGER);
    crate::module::set_record_sink(record);
    log::set_max_level(LevelFilter::Debug);
}

/// Prints the whole log buffer (`dmesg`).
pub fn dump(out: &mut dyn FnMut(&[u8])) {
    // Copy out under the lock in chunks so the console is not written while
    // holding the ring (the console may log).
    let mut copy = alloc::vec::Vec::new();
    let dropped;
    {
        let ring = RING.lock();
        let (a, b) = ring.as_slices();
        if copy.try_reserve_exact(a.len() + b.len()).is_err() {
            return;
        }
        copy.extend_from_slice(a);
        copy.extend_from_slice(b);
        dropped = ring.dropped();
    }
    if dropped > 0 {
        let mut l = LineBuf::<64>::new();
        let _ = writeln!(l, "[dmesg: {dropped} older records dropped]");
        out(&l.buf[..l.len]);
    }
    out(&copy);
}
