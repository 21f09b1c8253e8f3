//! The SMP halves of the self-tests `make bench --smp` drives: the get/put
//! loop of `refbench` run on CPUs 1..3 at the same time as on this CPU
//! (`refbench N smp`), CPUs kept spinning while `modstress --busy` loads and
//! unloads, and sequential block reads split over CPUs (`blkbench ... --cpus`).
//!
//! Each puts one kernel work item on each helper CPU (`smp::work::queue`),
//! waits until every one has started (at most a second), times on this CPU,
//! then raises [`STOP`] and waits until every item has returned: nothing a
//! self-test started is still running when it prints, and one crew runs at a
//! time (the shell runs one command at a time).

use super::ratio::Ratio;
use crate::arch::cpu::{self, Window};
use crate::irq::time;
use crate::kobject::devfs;
use crate::println;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use kabi::errno;
use kcore::errno::strerror;
use kcore::refcount::{ModuleRef, ObjectCount};

const MAX_CPUS: usize = crate::arch::cpu::MAX_CPUS;
const MIB: usize = 1 << 20;

/// Set to end every helper's loop.
static STOP: AtomicBool = AtomicBool::new(false);
/// Helpers that have started (and, for block reads, are ready).
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Helpers that have not returned yet.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Per helper (indexed by the work item's `ctx`): loops or operations done,
/// or for block reads the requests refused busy and retried.
static COUNT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Online CPUs other than the boot CPU (which runs the shell), at most `n`.
pub fn helper_cpus(n: usize) -> Vec<usize> {
    (1..MAX_CPUS)
        .filter(|&c| crate::smp::cpu(c).0 == crate::smp::State::Online)
        .take(n)
        .collect()
}

/// Queues `f(i)` on `cpus[i - first]` for each helper and waits (at most one
/// second) until all have called [`started`]. Returns how many did.
fn start_crew(cpus: &[usize], first: usize, f: fn(usize)) -> usize {
    STOP.store(false, Ordering::Release);
    STARTED.store(0, Ordering::Release);
    for (i, &c) in cpus.iter().enumerate() {
        COUNT[first + i].store(0, Ordering::Relaxed);
        RUNNING.fetch_add(1, Ordering::AcqRel);
        crate::smp::work::queue(c, crate::smp::work::Func::Kernel(f), first + i, None);
    }
    let t0 = time::micros();
    while STARTED.load(Ordering::Acquire) < cpus.len() && time::micros() - t0 < 1_000_000 {
        crate::arch::cpu::relax();
    }
    STARTED.load(Ordering::Acquire)
}

fn started() {
    STARTED.fetch_add(1, Ordering::AcqRel);
}

/// Stops the crew and waits until every helper has returned.
fn stop_crew() {
    STOP.store(true, Ordering::Release);
    while RUNNING.load(Ordering::Acquire) != 0 {
        crate::arch::cpu::relax();
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::Acquire)
}

fn finished() {
    RUNNING.fetch_sub(1, Ordering::AcqRel);
}

// ---- refbench N smp ----

/// The counts every CPU gets and puts at once (a LIVE module's and one
/// object's of it).
static BENCH_MODULE: ModuleRef = ModuleRef::new();
static BENCH_OBJECT: ObjectCount = ObjectCount::new();
/// Which loop the helpers run (an index into [`REF_LOOPS`]).
static REF_KIND: AtomicUsize = AtomicUsize::new(0);

const REF_LOOPS: [&str; 3] = [
    "try_module_get+module_put:      ",
    "object get+put (already held):  ",
    "object get+put (first/last ref):",
];

/// One get+put pair of kind `kind`.
fn ref_pair(kind: usize) {
    if kind == 0 {
        let m = black_box(&BENCH_MODULE);
        if m.try_get() {
            m.put();
        }
    } else {
        let o = black_box(&BENCH_OBJECT);
        if o.get(Some(&BENCH_MODULE)).is_ok() {
            o.put();
        }
    }
}

fn ref_contender(i: usize) {
    started();
    let kind = REF_KIND.load(Ordering::Acquire);
    while !stopping() {
        for _ in 0..64 {
            ref_pair(kind);
        }
        COUNT[i].fetch_add(64, Ordering::Relaxed);
    }
    finished();
}

/// `refbench N smp`: each get+put loop of `refbench`, N pairs on this CPU
/// alone, then again while CPUs 1..3 run the same loop on the same counts;
/// per pair on this CPU, and how many pairs the others did meanwhile (under
/// TCG they run only as far as the host gives QEMU's vCPU threads cores).
pub fn refbench_smp(n: u64) {
    let cpus = helper_cpus(3);
    if cpus.is_empty() {
        println!("refbench: smp: no other CPU is online (boot with -smp 2 or more)");
        return;
    }
    BENCH_MODULE.set_live();
    let timed = |kind: usize, window: Window| {
        let w = window as u8 + kind as u8;
        let t0 = time::ticks_since_boot();
        cpu::mark_window(w, true);
        for _ in 0..n {
            ref_pair(kind);
        }
        cpu::mark_window(w, false);
        time::ticks_since_boot() - t0
    };
    let ns = |t: u64| Ratio::new(t as i128 * 1_000_000_000, time::frequency() as i128).per(n);
    println!(
        "refbench: smp: {n} pairs each on CPU0, alone and while CPU{} run the same loop on the same counts; guest counter at {} Hz",
        cpus.iter()
            .map(|c| alloc::format!("{c}"))
            .collect::<Vec<_>>()
            .join(",CPU"),
        time::frequency()
    );
    for (kind, label) in REF_LOOPS.iter().enumerate() {
        // "Already held": an open handle keeps the object's count above zero,
        // so no pair touches the module count.
        let held = kind == 1 && BENCH_OBJECT.get(Some(&BENCH_MODULE)).is_ok();
        let alone = timed(kind, Window::RefAlone);
        REF_KIND.store(kind, Ordering::Release);
        let window = time::ticks_since_boot();
        let ready = start_crew(&cpus, 1, ref_contender);
        let together = timed(kind, Window::RefContended);
        stop_crew();
        let window = time::ticks_since_boot() - window;
        if held {
            BENCH_OBJECT.put();
        }
        let others: u64 = (1..=cpus.len())
            .map(|i| COUNT[i].load(Ordering::Relaxed))
            .sum();
        // Under -icount the vCPUs take turns and the counter counts every
        // one's instructions: there, the window over all pairs is the figure.
        let all = others + n;
        println!(
            "{label} alone {:.1} ns, with {} CPUs {:.1} ns = {:.2}x; other CPUs' pairs meanwhile: {others}; window over all CPUs' pairs: {:.1} ns{}",
            ns(alone),
            ready + 1,
            ns(together),
            Ratio::new(together as i128, alone as i128),
            Ratio::new(window as i128 * 1_000_000_000, time::frequency() as i128).per(all),
            if ready < cpus.len() {
                " (not every CPU started within 1 s)"
            } else {
                ""
            }
        );
    }
    println!(
        "refbench: smp: counts afterwards: module {}, object {}",
        BENCH_MODULE.count(),
        BENCH_OBJECT.count()
    );
}

// ---- modstress --busy ----

fn spinner(i: usize) {
    started();
    let mut loops = 0u64;
    while !stopping() {
        crate::arch::cpu::relax();
        loops += 1;
    }
    COUNT[i].store(loops, Ordering::Relaxed);
    finished();
}

/// Other CPUs (up to three) spinning in a kernel work item until dropped.
pub struct BusyCpus {
    cpus: Vec<usize>,
}

impl BusyCpus {
    /// Starts the spinners (waiting at most a second for them).
    pub fn start() -> BusyCpus {
        let cpus = helper_cpus(3);
        start_crew(&cpus, 1, spinner);
        BusyCpus { cpus }
    }

    /// Stops the spinners; returns how many loops each made.
    pub fn stop(self) -> Vec<(usize, u64)> {
        stop_crew();
        self.cpus
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, COUNT[i + 1].load(Ordering::Relaxed)))
            .collect()
    }
}

// ---- blkbench ... --cpus N ----

static BLK_DEVICE: crate::sync::Mutex<String> = crate::sync::Mutex::new(String::new());
static BLK_PARTS: AtomicUsize = AtomicUsize::new(1);
static BLK_MIB: AtomicUsize = AtomicUsize::new(0);
static BLK_GO: AtomicBool = AtomicBool::new(false);
/// Per part: 0, or the negative errno it ended with.
static BLK_RESULT: [AtomicI64; MAX_CPUS] = [const { AtomicI64::new(0) }; MAX_CPUS];
/// One CPU's part of a split read: (CPU, busy retries, sampled checksum).
pub type PartRead = (usize, u64, u64);

/// Each part's sampled checksum ([`sample_sum`]).
static BLK_SUM: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Folds the first 8 bytes (little-endian) of every 4 KiB block of `buf`
/// into `h` (`h = h * 31 + word`): cheap enough not to move the figure, and
/// a request completed into another CPU's buffer or at the wrong place
/// changes it.
pub fn sample_sum(mut h: u64, buf: &[u8]) -> u64 {
    for block in buf.chunks(4096) {
        let mut w = [0u8; 8];
        let n = block.len().min(8);
        w[..n].copy_from_slice(&block[..n]);
        h = h.wrapping_mul(31).wrapping_add(u64::from_le_bytes(w));
    }
    h
}

/// Part `i`'s MiB range of the disk: `[first, end)`.
fn part(i: usize) -> (usize, usize) {
    let (mib, parts) = (
        BLK_MIB.load(Ordering::Acquire),
        BLK_PARTS.load(Ordering::Acquire).max(1),
    );
    (i * mib / parts, (i + 1) * mib / parts)
}

/// An open descriptor positioned at part `i` and a 1 MiB buffer.
fn blk_prepare(i: usize) -> Result<(usize, Vec<u8>), i32> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(MIB).map_err(|_| -errno::ENOMEM)?;
    buf.resize(MIB, 0u8);
    let name = BLK_DEVICE.lock().clone();
    let fd = devfs::open(&name)?;
    if let Err(e) = devfs::seek(fd, (part(i).0 * MIB) as u64) {
        let _ = devfs::close(fd);
        return Err(e);
    }
    Ok((fd, buf))
}

/// Reads part `i` in 1 MiB requests; a request the driver refuses with
/// -EBUSY (another CPU has the disk) is retried and counted.
fn blk_read_part(i: usize, fd: usize, buf: &mut [u8]) -> Result<(), i32> {
    let (first, end) = part(i);
    let mut sum = 0;
    BLK_SUM[i].store(0, Ordering::Relaxed);
    for _ in first..end {
        loop {
            match devfs::read(fd, buf) {
                Ok(n) if n == buf.len() => {
                    sum = sample_sum(sum, buf);
                    break;
                }
                Ok(_) => return Err(-errno::ENOSPC),
                Err(e) if e == -errno::EBUSY => {
                    COUNT[i].fetch_add(1, Ordering::Relaxed);
                    crate::arch::cpu::relax();
                }
                Err(e) => return Err(e),
            }
        }
    }
    BLK_SUM[i].store(sum, Ordering::Relaxed);
    Ok(())
}

fn blk_reader(i: usize) {
    let prepared = blk_prepare(i);
    started();
    while !BLK_GO.load(Ordering::Acquire) && !stopping() {
        crate::arch::cpu::relax();
    }
    let r = match prepared {
        Ok((fd, mut buf)) => {
            let r = if stopping() {
                Ok(())
            } else {
                blk_read_part(i, fd, &mut buf)
            };
            let _ = devfs::close(fd);
            r
        }
        Err(e) => Err(e),
    };
    BLK_RESULT[i].store(r.err().unwrap_or(0) as i64, Ordering::Release);
    finished();
}

/// Reads `mib` MiB of device `name` sequentially, split into `cpus` equal
/// parts read at once, part 0 by this CPU and the others by CPUs 1.. (each
/// its own descriptor and buffer). Returns the counter ticks from the start
/// signal until the last part is read and, per CPU, its [`PartRead`].
pub fn blk_read_split(name: &str, mib: usize, cpus: usize) -> Result<(u64, Vec<PartRead>), String> {
    let r = read_split(name, mib, cpus);
    // Every helper has stopped by now (each path out of `read_split` waits
    // for them): the name goes, so a run leaves the heap as it found it
    // whatever device the run before it named.
    *BLK_DEVICE.lock() = String::new();
    r
}

fn read_split(name: &str, mib: usize, cpus: usize) -> Result<(u64, Vec<PartRead>), String> {
    let helpers = helper_cpus(cpus.saturating_sub(1));
    if helpers.len() + 1 < cpus {
        return Err(alloc::format!(
            "--cpus {cpus}: only {} CPUs online",
            helpers.len() + 1
        ));
    }
    *BLK_DEVICE.lock() = String::from(name);
    BLK_PARTS.store(cpus, Ordering::Release);
    BLK_MIB.store(mib, Ordering::Release);
    BLK_GO.store(false, Ordering::Release);
    COUNT[0].store(0, Ordering::Relaxed);
    let mine = blk_prepare(0);
    let ready = start_crew(&helpers, 1, blk_reader);
    let (fd, mut buf) = match mine {
        Ok(p) => p,
        Err(e) => {
            stop_crew();
            return Err(String::from(strerror(e)));
        }
    };
    if ready < helpers.len() {
        stop_crew();
        let _ = devfs::close(fd);
        return Err(String::from("not every CPU started its part within 1 s"));
    }
    let t0 = time::ticks_since_boot();
    BLK_GO.store(true, Ordering::Release);
    let mine = blk_read_part(0, fd, &mut buf);
    let _ = devfs::close(fd);
    while RUNNING.load(Ordering::Acquire) != 0 {
        crate::arch::cpu::relax();
    }
    let ticks = time::ticks_since_boot() - t0;
    drop(buf);
    if let Err(e) = mine {
        return Err(alloc::format!("CPU0: {}", strerror(e)));
    }
    for (i, &c) in helpers.iter().enumerate() {
        let e = BLK_RESULT[i + 1].load(Ordering::Acquire);
        if e != 0 {
            return Err(alloc::format!("CPU{c}: {}", strerror(e as i32)));
        }
    }
    let retries = core::iter::once(0)
        .chain(helpers.iter().copied())
        .enumerate()
        .map(|(i, c)| {
            (
                c,
                COUNT[i].load(Ordering::Relaxed),
                BLK_SUM[i].load(Ordering::Relaxed),
            )
        })
        .collect();
    Ok((ticks, retries))
}

// ---- tlbstress N ----

/// The image page the readers check: published by `SEQ` (release) after
/// its address and the value it holds.
static TLB_SEQ: AtomicU64 = AtomicU64::new(0);
static TLB_VA: AtomicUsize = AtomicUsize::new(0);
static TLB_MAGIC: AtomicU64 = AtomicU64::new(0);
/// The last round each helper checked, and its reads that saw another value.
static TLB_ACK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static TLB_STALE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Rounds per phase of the readers: interrupts taken, then masked (so the
/// TLB-flush IPI waits: a CPU late to catch up).
const TLB_PHASE: u64 = 64;

fn tlb_reader(i: usize) {
    use crate::arch::cpu;
    started();
    let mut last = 0;
    let mut masked = None;
    while !stopping() {
        let seq = TLB_SEQ.load(Ordering::Acquire);
        if seq != last {
            let mask = (seq / TLB_PHASE) % 2 == 1;
            match (mask, masked) {
                (true, None) => masked = Some(cpu::irq_save()),
                (false, Some(saved)) => {
                    cpu::irq_restore(saved);
                    masked = None;
                }
                _ => {}
            }
            let va = TLB_VA.load(Ordering::Relaxed);
            let magic = TLB_MAGIC.load(Ordering::Relaxed);
            // SAFETY: `tlbstress` keeps the page mapped at `va`, holding `magic`, until every helper acknowledged `seq`.
            let seen = unsafe { core::ptr::read_volatile(va as *const u64) };
            if seen != magic {
                TLB_STALE[i].fetch_add(1, Ordering::Relaxed);
            }
            COUNT[i].fetch_add(1, Ordering::Relaxed);
            TLB_ACK[i].store(seq, Ordering::Release);
            last = seq;
        }
        crate::arch::cpu::relax();
    }
    if let Some(saved) = masked {
        cpu::irq_restore(saved);
    }
    finished();
}

/// `tlbstress N`: N times, maps a fresh module-memory page holding a new
/// value, has CPUs 1..3 read it at its address (so their TLBs hold the
/// translation), unmaps and frees it. Unloaded images' addresses and pages
/// are reused only once every CPU has flushed its TLB (`mm::tlb`); if a CPU
/// kept a stale translation, a later round mapping the same address over
/// another page would read the old page through it: counted as stale. The
/// readers mask interrupts every other 64 rounds, so some CPUs are late to
/// flush and the broadcast fallback is exercised too.
pub fn tlbstress(n: u64) {
    use crate::module::memory::ModuleMemory;
    let cpus = helper_cpus(3);
    if cpus.is_empty() {
        println!("tlbstress: needs a second CPU");
        return;
    }
    for &c in &cpus {
        let i = cpus.iter().position(|&x| x == c).unwrap_or(0) + 1;
        TLB_ACK[i].store(0, Ordering::Relaxed);
        TLB_STALE[i].store(0, Ordering::Relaxed);
    }
    TLB_SEQ.store(0, Ordering::Release);
    let broadcasts = crate::mm::tlb::broadcasts();
    crate::module::memory::reap_wait();
    let before = crate::mm::info();
    start_crew(&cpus, 1, tlb_reader);
    let (mut reused, mut moved, mut hung) = (0u64, 0u64, false);
    let mut last_pa: Vec<u64> = alloc::vec![0; (crate::module::memory::MODULE_VA_END
        - crate::module::memory::MODULE_VA_START)
        / crate::mm::PAGE_SIZE];
    let mut done = 0;
    for round in 1..=n {
        // Every other round, a page taken first (the one freed last) moves
        // the image to another page than the one its address last mapped.
        let hold = if round % 2 == 0 {
            crate::mm::alloc_pages(1).ok()
        } else {
            None
        };
        let mut mem = match ModuleMemory::allocate(0, 0, crate::mm::PAGE_SIZE as u64) {
            Ok(m) => m,
            Err(e) => {
                println!("tlbstress: round {round}: {e}");
                if let Some(h) = hold {
                    crate::mm::free_pages(h, 1);
                }
                break;
            }
        };
        let magic = 0x7e57_0000_0000_0000 | round;
        mem.regions_mut().2[..8].copy_from_slice(&magic.to_le_bytes());
        if let Err(e) = mem.map_final() {
            println!("tlbstress: round {round}: {e}");
            break;
        }
        let va = mem.data.base;
        let pa = crate::arch::mmu::translate(va).unwrap_or(0);
        // The page each module address last mapped.
        let slot = (va - crate::module::memory::MODULE_VA_START) / crate::mm::PAGE_SIZE;
        if let Some(prev) = last_pa.get_mut(slot) {
            if *prev != 0 {
                reused += 1;
                moved += u64::from(*prev != pa);
            }
            *prev = pa;
        }
        TLB_VA.store(va, Ordering::Relaxed);
        TLB_MAGIC.store(magic, Ordering::Relaxed);
        TLB_SEQ.store(round, Ordering::Release);
        let t0 = time::micros();
        while (1..=cpus.len()).any(|i| TLB_ACK[i].load(Ordering::Acquire) != round) {
            if time::micros() - t0 > 1_000_000 {
                hung = true;
                break;
            }
            crate::arch::cpu::relax();
        }
        drop(mem);
        if let Some(h) = hold {
            crate::mm::free_pages(h, 1);
        }
        done = round;
        if hung {
            break;
        }
    }
    stop_crew();
    drop(last_pa);
    crate::module::memory::reap_wait();
    let after = crate::mm::info();
    let stale: u64 = (1..=cpus.len())
        .map(|i| TLB_STALE[i].load(Ordering::Relaxed))
        .sum();
    let reads: u64 = (1..=cpus.len())
        .map(|i| COUNT[i].load(Ordering::Relaxed))
        .sum();
    println!(
        "tlbstress: {done} rounds, {reads} reads on CPUs {cpus:?}: {stale} stale; an address mapped again {reused} times, {moved} of them over another page{}",
        if hung { "; a CPU stopped answering" } else { "" }
    );
    println!(
        "tlbstress: broadcast TLB invalidations (a CPU late to flush): {}",
        crate::mm::tlb::broadcasts() - broadcasts
    );
    println!(
        "tlbstress: pages in use before {}, after {}",
        before.pages_total - before.pages_free,
        after.pages_total - after.pages_free
    );
}
