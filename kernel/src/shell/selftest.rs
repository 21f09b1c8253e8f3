//! Self-tests run from the shell, like Linux's kselftests: `modstress`
//! (load/unload cycles with time and memory figures), `sigbench` (the cost of
//! a module signature check, hashing and signature apart), `refbench` (the
//! cost of the reference-count rules) and `blkbench` (block device throughput,
//! with a read-back check). `make bench` drives them; their SMP modes (other
//! CPUs contending or busy meanwhile) are in `smpbench.rs`.

use super::ratio::Ratio;
use crate::arch::cpu::{self, Window};
use crate::irq::time;
use crate::kobject::devfs;
use crate::module;
use crate::println;
use alloc::string::String;
use kabi::errno;
use kcore::errno::strerror;

/// The heap and page use before and after a self-test, as the tests read it.
fn print_heap(before: &crate::mm::MemInfo, after: &crate::mm::MemInfo) {
    println!(
        "heap in use: before {} bytes, after {} bytes (difference {}); pages in use: before {}, after {}",
        before.heap_actual,
        after.heap_actual,
        after.heap_actual as i64 - before.heap_actual as i64,
        before.pages_total - before.pages_free,
        after.pages_total - after.pages_free
    );
}

/// A self-test's first two arguments, a count and a module file, read:
/// (count, path, the file's bytes); `None` after saying what is wrong.
fn count_and_module<'a>(
    cmd: &str,
    usage: &str,
    args: &[&'a str],
) -> Option<(u64, &'a str, alloc::borrow::Cow<'static, [u8]>)> {
    let (Some(n), Some(&path)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1),
    ) else {
        println!("Usage: {cmd} {usage}");
        return None;
    };
    match crate::fs::read(path) {
        Ok(b) => Some((n, path, b)),
        Err(e) => {
            println!("{cmd}: {path}: {e}");
            None
        }
    }
}

/// `modstress N PATH`: loads and unloads a module N times (a self-test, like
/// Linux's kselftests) and reports time per insmod and rmmod and the heap and
/// page use before and after. The first cycle is a warm-up (it creates the
/// page table for the module area and the kernel's export index); the baseline
/// is taken after it. With `--busy`, the other CPUs (up to three) spin in a
/// kernel work item throughout (rmmod while the machine is busy). Also prints
/// the mean and longest grace period an unload waited for before freeing the
/// module's memory.
pub fn modstress(args: &[&str]) {
    let busy = args.contains(&"--busy");
    let args: alloc::vec::Vec<&str> = args.iter().copied().filter(|a| *a != "--busy").collect();
    if args.len() > 2 {
        println!("Usage: modstress N PATH [--busy]");
        return;
    }
    let Some((n, path, bytes)) = count_and_module("modstress", "N PATH [--busy]", &args) else {
        return;
    };
    let name = crate::fs::file_stem(path);
    let mut previous_handle = None;
    let mut stale_refused = 0u64;
    // Per cycle: (64-byte blocks of text stored, blocks of text, non-zero
    // bytes in the text pages after the planned text).
    let mut cycle =
        |samples: &mut alloc::vec::Vec<(u64, u64)>| -> Result<(usize, usize, usize), String> {
            let t0 = time::ticks_since_boot();
            cpu::mark_window(Window::Insmod as u8, true);
            let m = module::load(name, &bytes, &[]).map_err(|e| e.detail);
            cpu::mark_window(Window::Insmod as u8, false);
            let m = m?;
            let t1 = time::ticks_since_boot();
            let (size, relocs, prelinked) = (m.size, m.relocations, m.prelinked);
            let text = (
                m.text_stored,
                (m.text.1 - m.text.0).div_ceil(64) as usize,
                m.text_tail_nonzero(),
            );
            // The check is timed in neither the load nor the unload.
            let checked = time::ticks_since_boot();
            // The last cycle's handle names no module now, not even this one.
            if let Some(old) = previous_handle.replace(m.handle()) {
                if module::from_handle(old).is_none() && old != m.handle() {
                    stale_refused += 1;
                }
            }
            drop(m);
            cpu::mark_window(Window::Rmmod as u8, true);
            let unloaded = module::unload(name, false).map_err(|e| e.detail);
            cpu::mark_window(Window::Rmmod as u8, false);
            unloaded?;
            let t2 = time::ticks_since_boot();
            samples.push((t1 - t0, t2 - checked));
            LAST_SIZE_RELOCS.lock().replace((size, relocs, prelinked));
            Ok(text)
        };
    // Every cycle's (load, unload) ticks, for the mean, the minimum and the
    // median (a burst on a shared host moves the mean, hardly the median);
    // allocated before the heap baseline, never grown.
    let mut samples = alloc::vec::Vec::new();
    if samples
        .try_reserve_exact((n as usize).saturating_add(1))
        .is_err()
    {
        println!("modstress: {n} cycles: out of memory for their timings");
        return;
    }
    let spinners = busy.then(super::smpbench::BusyCpus::start);
    crate::klog::set_console_quiet(true);
    let warm = cycle(&mut samples);
    samples.clear();
    crate::module::memory::reap_wait();
    let before = crate::mm::info();
    let grace_before = module::grace_stats(true);
    let steps_before = module::step_ticks();
    let mut done = 0;
    let (mut stored, mut text_blocks) = (0u64, 0usize);
    let mut tail_dirty = match &warm {
        Ok((_, _, z)) if *z > 0 => 1u64,
        _ => 0,
    };
    let mut err = warm.err();
    while err.is_none() && done < n {
        match cycle(&mut samples) {
            Ok((s, t, z)) => {
                stored += s as u64;
                text_blocks = t;
                tail_dirty += u64::from(z > 0);
            }
            Err(e) => err = Some(e),
        }
        done += 1;
    }
    crate::klog::set_console_quiet(false);
    // Unloaded images wait for the other CPUs' TLB flush before their
    // pages are free (`mm::tlb`): settle that first.
    crate::module::memory::reap_wait();
    let after = crate::mm::info();
    let grace_after = module::grace_stats(false);
    let steps_after = module::step_ticks();
    let busy_loops = spinners.map(super::smpbench::BusyCpus::stop);
    if let Some(e) = err {
        println!("modstress: cycle {done} failed: {e}");
        return;
    }
    let freq = time::frequency();
    let us = |t: u64| Ratio::new(t as i128 * 1_000_000, freq as i128).per(n);
    let lt: u64 = samples.iter().map(|s| s.0).sum();
    let ut: u64 = samples.iter().map(|s| s.1).sum();
    let (size, relocs, prelinked) = LAST_SIZE_RELOCS.lock().unwrap_or((0, 0, 0));
    println!(
        "modstress: {n} load/unload cycles of {name} ({size} bytes mapped, {relocs} relocations, {prelinked} prelinked)"
    );
    println!("modstress: handles of unloaded modules refused: {stale_refused} of {n}");
    if let Some(loops) = &busy_loops {
        let cpus: alloc::vec::Vec<String> = loops
            .iter()
            .map(|(c, l)| alloc::format!("CPU{c} {l}"))
            .collect();
        println!(
            "modstress: busy CPUs (spin loops in a kernel work item meanwhile): {}",
            if cpus.is_empty() {
                String::from("none online")
            } else {
                cpus.join(", ")
            }
        );
    }
    println!(
        "insmod: {:.1} us/cycle ({:.2} us/KiB of file, {:.3} us/relocation); rmmod: {:.1} us/cycle",
        us(lt),
        us(lt).times(1024).per(bytes.len() as u64),
        us(lt).per(relocs),
        us(ut)
    );
    print_cycle_spread(&mut samples, freq);
    let steps: alloc::vec::Vec<String> = module::LOAD_STEPS
        .iter()
        .zip(steps_before.iter().zip(&steps_after))
        .map(|(step, (b, a))| alloc::format!("{step} {:.1}", us(a - b)))
        .collect();
    println!("insmod steps, us/cycle: {}", steps.join(", "));
    println!(
        "modstress: text stored at load: mean {:.2} of {text_blocks} 64-byte blocks a cycle",
        Ratio::new(stored as i128, 1).per(n)
    );
    if tail_dirty == 0 {
        println!("modstress: text pages after the planned text: zero at every load");
    } else {
        println!(
            "modstress: error: text pages after the planned text not zero at {tail_dirty} of {} loads",
            n + 1
        );
    }
    print_grace("modstress", grace_before, grace_after);
    print_heap(&before, &after);
}

/// `insmod per cycle: min A, median B us; rmmod per cycle: ...` of
/// modstress's per-cycle (load, unload) ticks, sorted in place (no
/// allocation, O(n log n) for any N the timings fitted in).
fn print_cycle_spread(samples: &mut [(u64, u64)], freq: u64) {
    let us = |t: u64| Ratio::new(t as i128 * 1_000_000, freq as i128);
    // The smallest and the median (the lower of the middle two for an even
    // count) of the sorted `samples`' `pick`; zeros for none.
    let spread = |samples: &[(u64, u64)], pick: fn(&(u64, u64)) -> u64| match samples.len() {
        0 => (0, 0),
        n => (pick(&samples[0]), pick(&samples[(n - 1) / 2])),
    };
    kcore::sort::heap_sort_by_key(samples, |s| s.0);
    let (load_min, load_median) = spread(samples, |s| s.0);
    kcore::sort::heap_sort_by_key(samples, |s| s.1);
    let (unload_min, unload_median) = spread(samples, |s| s.1);
    println!(
        "insmod per cycle: min {:.1}, median {:.1} us; rmmod per cycle: min {:.1}, median {:.1} us",
        us(load_min),
        us(load_median),
        us(unload_min),
        us(unload_median)
    );
}

/// `WHO: grace period before freeing: mean X us per unload, longest Y us,
/// over N`: the time `module::unload` spent waiting until no CPU was inside
/// the module, between two `module::grace_stats` readings.
fn print_grace(who: &str, before: (u64, u64, u64), after: (u64, u64, u64)) {
    let waits = after.0 - before.0;
    let us = |t: u64| Ratio::new(t as i128 * 1_000_000, time::frequency() as i128);
    println!(
        "{who}: grace period before freeing (no CPU inside the module): mean {:.3} us per unload, longest {:.3} us, over {waits} unloads",
        us(after.1 - before.1).per(waits),
        us(after.2)
    );
}

static LAST_SIZE_RELOCS: crate::sync::IrqLock<Option<(usize, u64, u64)>> =
    crate::sync::IrqLock::new(None);

/// `sigbench PATH [N]`: what checking a module's signature costs, timed with
/// the generic counter over N iterations (default 100) each of (a) hashing the
/// signed ELF bytes with the signature's digest, as `modsign::verify` does,
/// and (b) the whole `modsign::verify` against the kernel's keyring (trailer
/// split, CMS parse, key lookup, hash, RSA/ECDSA check). The signature check
/// is (b) - (a). One `key=value` line per figure; "us" under `-icount shift=0`
/// reads as thousands of instructions. The keyring is parsed (on first use)
/// and the module verified once before timing, so neither counts. Apart, a
/// key's first verification (a P-256 key builds its comb table then) is timed
/// once with a freshly parsed keyring: `first_verify_us`, and
/// `first_sigcheck_us` = that - (a).
pub fn sigbench(args: &[&str]) {
    use core::hint::black_box;
    let Some(&path) = args.first() else {
        println!("Usage: sigbench PATH [N]");
        return;
    };
    let n = match args.get(1).map(|a| a.parse::<u64>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            println!("Usage: sigbench PATH [N] (N: a positive number of iterations)");
            return;
        }
    };
    let image = match crate::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("sigbench: {path}: {e}");
            return;
        }
    };
    let info = match modsign::inspect(&image) {
        Ok(i) => i,
        Err(e) => {
            println!("sigbench: {path}: no signature to time: {e}");
            return;
        }
    };
    let fresh = module::signing::fresh_keyring();
    let t0 = time::ticks_since_boot();
    let first = black_box(modsign::verify(black_box(&image), &fresh));
    let first_verify = time::ticks_since_boot() - t0;
    drop(first);
    let keyring = module::signing::trusted_keyring();
    if let Err(e) = modsign::verify(&image, keyring) {
        println!("sigbench: {path}: does not verify here: {e}");
        return;
    }
    let key = keyring
        .find(&info.signer_id)
        .map_or_else(|| String::from("?"), |c| c.key().name());
    let elf = &image[..info.elf_len];
    let timed = |f: &dyn Fn()| {
        let t0 = time::ticks_since_boot();
        for _ in 0..n {
            f();
        }
        time::ticks_since_boot() - t0
    };
    let hash = timed(&|| {
        black_box(info.hash_algo.digest(black_box(elf)));
    });
    let verify = timed(&|| {
        let _ = black_box(modsign::verify(black_box(&image), keyring));
    });
    let us = |t: u64| Ratio::new(t as i128 * 1_000_000, time::frequency() as i128).per(n);
    println!(
        "sigbench: file={path} signed_bytes={} key={key} hash={} sha256_path={} iterations={n} counter_hz={}",
        elf.len(),
        info.hash_algo.name(),
        modsign::hash::sha256_path(),
        time::frequency()
    );
    println!(
        "sigbench: hash_us={:.1} hash_us_per_kib={:.3}",
        us(hash),
        us(hash).times(1024).per(elf.len() as u64)
    );
    println!("sigbench: verify_us={:.1}", us(verify));
    println!(
        "sigbench: sigcheck_us={:.1} (verify - hash)",
        us(verify).minus(us(hash))
    );
    let first_us = Ratio::new(first_verify as i128 * 1_000_000, time::frequency() as i128);
    println!(
        "sigbench: first_verify_us={first_us:.1} first_sigcheck_us={:.1} (a key's first verify, once, less the mean hash)",
        first_us.minus(us(hash))
    );
}

/// `refbench N`: the cost of the reference-count rules, measured in guest
/// counter ticks over N iterations each: a bare atomic increment+decrement,
/// `try_module_get`+`module_put` on a LIVE module, and an object get+put of a
/// LIVE module's object, already held and as its first reference (every get a
/// 0 -> 1 transition; the module's count is derived from its objects in use,
/// so neither touches it: kcore::refcount). `refbench N smp`: the same loops alone and with CPUs
/// 1..3 contending (`smpbench::refbench_smp`).
/// `fpirqtest [N]`: the FP/SIMD registers of interrupted code survive N
/// interrupts (default 5) whose entry overwrites all of them, and d8..d15
/// survive a guarded call that changed them and was abandoned (a module
/// panic's path). See `arch::fpsimd`.
pub fn fpirqtest(args: &[&str]) {
    let n = match args {
        [] => 5,
        [n] => match n.parse::<u64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                println!("Usage: fpirqtest [N] (N: 1 to 1000 interrupts)");
                return;
            }
        },
        _ => {
            println!("Usage: fpirqtest [N] (N: 1 to 1000 interrupts)");
            return;
        }
    };
    let names = |mask: u64| {
        let mut s = String::new();
        for r in 0..33 {
            if mask & 1 << r != 0 {
                if !s.is_empty() {
                    s.push(' ');
                }
                match r {
                    32 => s.push_str("fpsr"),
                    r => s.push_str(&alloc::format!("v{r}")),
                }
            }
        }
        s
    };
    // 100 ms per interrupt asked for: the tick alone gives one every 10 ms.
    let timeout = time::frequency() / 10 * n;
    let cpu = cpu::id();
    let (seen, bad) = crate::arch::fpsimd::survives_irqs(n, timeout);
    if seen < n {
        println!("fpirqtest: FAILED: only {seen} of {n} interrupts arrived on CPU{cpu}");
    } else if bad != 0 {
        println!(
            "fpirqtest: FAILED: changed across {seen} interrupts on CPU{cpu}: {}",
            names(bad)
        );
    } else {
        println!("fpirqtest: v0-v31 and FPSR intact across {seen} interrupts that overwrote them on CPU{cpu}");
    }
    match crate::arch::fpsimd::survives_abandoned_call() {
        (false, _) => println!("fpirqtest: FAILED: the guarded call was not abandoned"),
        (true, 0) => {
            println!("fpirqtest: d8-d15 intact across an abandoned guarded call that changed them")
        }
        (true, bad) => {
            let mut s = String::new();
            for r in (0..8).filter(|r| bad & 1 << r != 0) {
                s.push_str(&alloc::format!(" d{}", r + 8));
            }
            println!("fpirqtest: FAILED: changed across an abandoned guarded call:{s}");
        }
    }
}

/// `tlbstress N`: see [`super::smpbench::tlbstress`].
pub fn tlbstress(args: &[&str]) {
    match args {
        [n] => match n.parse::<u64>() {
            Ok(n) if n > 0 => super::smpbench::tlbstress(n),
            _ => println!("Usage: tlbstress N (N: a positive number of rounds)"),
        },
        _ => println!("Usage: tlbstress N (N: a positive number of rounds)"),
    }
}

pub fn refbench(args: &[&str]) {
    use core::hint::black_box;
    use core::sync::atomic::{AtomicU64, Ordering};
    use kcore::refcount::{ModuleRef, ObjectCount};
    let n: u64 = match args.first().map(|a| a.parse::<u64>()) {
        None => 100_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            println!("Usage: refbench [N [smp]] (N: a positive number of iterations)");
            return;
        }
    };
    match args.get(1) {
        None => {}
        Some(&"smp") if args.len() == 2 => return super::smpbench::refbench_smp(n),
        Some(_) => {
            println!("Usage: refbench [N [smp]] (N: a positive number of iterations)");
            return;
        }
    }
    let atomic = AtomicU64::new(0);
    let module = ModuleRef::new();
    module.set_live();
    let object = ObjectCount::new();
    let measure = |f: &dyn Fn()| {
        let t0 = time::ticks_since_boot();
        for _ in 0..n {
            f();
        }
        time::ticks_since_boot() - t0
    };
    let bare = measure(&|| {
        black_box(&atomic).fetch_add(1, Ordering::AcqRel);
        black_box(&atomic).fetch_sub(1, Ordering::AcqRel);
    });
    let modref = measure(&|| {
        let m = black_box(&module);
        if m.try_get() {
            m.put();
        }
    });
    // Steady state: the object is already referenced (an open handle), so a
    // get/put pair never touches the module count.
    let held = object.get(Some(&module)).is_ok();
    let objref_held = measure(&|| {
        let o = black_box(&object);
        if o.get(Some(&module)).is_ok() {
            o.put();
        }
    });
    if held {
        object.put();
    }
    let objref = measure(&|| {
        let o = black_box(&object);
        if o.get(Some(&module)).is_ok() {
            o.put();
        }
    });
    let ns = |t: u64| Ratio::new(t as i128 * 1_000_000_000, time::frequency() as i128).per(n);
    println!(
        "refbench: {n} iterations each, guest counter at {} Hz",
        time::frequency()
    );
    println!("atomic inc+dec:                  {:.1} ns", ns(bare));
    println!(
        "try_module_get+module_put:       {:.1} ns ({:.2}x the bare atomic pair)",
        ns(modref),
        Ratio::new(modref as i128, bare as i128)
    );
    println!(
        "object get+put (already held):   {:.1} ns ({:.2}x the bare atomic pair)",
        ns(objref_held),
        Ratio::new(objref_held as i128, bare as i128)
    );
    println!(
        "object get+put (first/last ref): {:.1} ns ({:.2}x the bare atomic pair)",
        ns(objref),
        Ratio::new(objref as i128, bare as i128)
    );
}

/// The byte `blkbench` writes at disk offset `offset` (251 is prime, so the
/// pattern never lines up with sectors; the MiB number shifts it per request).
pub fn blkbench_pattern(offset: u64) -> u8 {
    ((offset % 251) as u8).wrapping_add((offset >> 20) as u8)
}

const MIB: usize = 1 << 20;

/// Seconds and MB/s (10^6 bytes, as dd) for `bytes` in `ticks` counter ticks.
fn rate(bytes: u64, ticks: u64) -> (u64, u64, u64) {
    let freq = time::frequency().max(1);
    let us = (ticks as u128 * 1_000_000 / freq as u128) as u64;
    let mb_per_s_x10 = (bytes as u128 * 10 / us.max(1) as u128) as u64;
    (us, mb_per_s_x10 / 10, mb_per_s_x10 % 10)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Write,
    Read,
    /// Read and count the bytes that differ from the pattern (untimed).
    Verify,
}

/// Whether `blkbench ... write` may overwrite device `name`: never while it
/// is mounted (its file system owns its writes), and not when it holds a
/// partition table or a file system unless `force`.
fn check_scratch(name: &str, force: bool) -> Result<(), String> {
    let fd = devfs::open(name).map_err(|e| String::from(strerror(e)))?;
    let mut start = [0u8; kcore::blkid::PROBE_BYTES];
    let got = devfs::read(fd, &mut start);
    let claimed = devfs::writes_claimed(fd);
    let _ = devfs::close(fd);
    if claimed {
        return Err(alloc::format!(
            "{}: mounted at /disk; unmount it first",
            strerror(-errno::EBUSY)
        ));
    }
    let got = got.map_err(|e| String::from(strerror(e)))?;
    match kcore::blkid::probe(&start[..got]) {
        Some(what) if !force => Err(alloc::format!(
            "holds {what}; writing the test pattern would destroy it (use --force to write anyway)"
        )),
        _ => Ok(()),
    }
}

/// One pass over `mib` MiB of device `name` in 1 MiB requests: counter ticks
/// taken by the requests, then by the final flush (`Write` only), then for
/// `Verify` the bytes that differ from the pattern.
fn blkbench_pass(
    name: &str,
    buf: &mut [u8],
    mib: usize,
    pass: Pass,
) -> Result<(u64, u64, u64), i32> {
    let fd = devfs::open(name)?;
    let mut ticks = 0;
    let mut result = Ok(());
    let mut bad = 0u64;
    for i in 0..mib {
        let base = (i * MIB) as u64;
        if pass == Pass::Write {
            for (j, b) in buf.iter_mut().enumerate() {
                *b = blkbench_pattern(base + j as u64);
            }
            let start = time::ticks_since_boot();
            result = devfs::write(fd, buf).map(|_| ());
            ticks += time::ticks_since_boot() - start;
        } else {
            let start = time::ticks_since_boot();
            let r = devfs::read(fd, buf);
            ticks += time::ticks_since_boot() - start;
            result = match r {
                Ok(n) if n == buf.len() => Ok(()),
                Ok(_) => Err(-errno::ENOSPC),
                Err(e) => Err(e),
            };
            if pass == Pass::Verify {
                bad += buf
                    .iter()
                    .enumerate()
                    .filter(|&(j, &b)| b != blkbench_pattern(base + j as u64))
                    .count() as u64;
            }
        }
        if result.is_err() {
            break;
        }
    }
    let mut flush_ticks = 0;
    if pass == Pass::Write && result.is_ok() {
        let start = time::ticks_since_boot();
        result = devfs::flush(fd);
        flush_ticks = time::ticks_since_boot() - start;
    }
    let _ = devfs::close(fd);
    result.map(|()| (ticks, flush_ticks, bad))
}

/// `blkbench /dev/NAME MiB [write [--force]]`: self-test: sequential reads (after
/// writing a known pattern, with `write`) of MiB MiB in 1 MiB requests through
/// devfs, timed with the generic counter around each request (filling the
/// buffer with the pattern is not counted). The write pass is followed by a
/// `sync` (a virtio flush: QEMU's fsync of the image), timed and printed on
/// its own line; after it an untimed pass reads everything back and checks it
/// against the pattern.
///
/// `blkbench /dev/NAME MiB --cpus N`: the read pass only, split into N equal
/// parts read at the same time from this CPU and CPUs 1..N-1.
pub fn blkbench(args: &[&str]) {
    const USAGE: &str =
        "Usage: blkbench /dev/NAME MiB [write [--force]] | blkbench /dev/NAME MiB --cpus N";
    let force = args.contains(&"--force");
    let mut args: alloc::vec::Vec<&str> =
        args.iter().copied().filter(|a| *a != "--force").collect();
    let cpus = match args.iter().position(|a| *a == "--cpus") {
        None => None,
        Some(i) => match args.get(i + 1).and_then(|a| a.parse::<usize>().ok()) {
            Some(n) if n > 0 && n <= crate::arch::cpu::MAX_CPUS => {
                args.drain(i..i + 2);
                Some(n)
            }
            _ => {
                println!("{USAGE} (N: 1 to {} CPUs)", crate::arch::cpu::MAX_CPUS);
                return;
            }
        },
    };
    let (Some(path), Some(mib)) = (
        args.first(),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
    ) else {
        println!("{USAGE}");
        return;
    };
    let write = args.get(2) == Some(&"write");
    if args.len() > 3 || (args.len() == 3 && !write) || (write && cpus.is_some()) {
        println!("{USAGE} (--cpus times reads only)");
        return;
    }
    if let Some(cpus) = cpus.filter(|&c| c > 1) {
        return blkbench_split(path, mib, cpus);
    }
    let name = path.strip_prefix("/dev/").unwrap_or(path);
    if write {
        if let Err(why) = check_scratch(name, force) {
            println!("blkbench: {path}: {why}");
            return;
        }
    }
    let mut buf = alloc::vec::Vec::new();
    if buf.try_reserve_exact(MIB).is_err() {
        println!("blkbench: cannot allocate a 1 MiB buffer");
        return;
    }
    buf.resize(MIB, 0u8);
    let bytes = (mib * MIB) as u64;
    let passes: &[(&str, Pass)] = if write {
        &[
            ("write", Pass::Write),
            ("read", Pass::Read),
            ("verify", Pass::Verify),
        ]
    } else {
        &[("read", Pass::Read)]
    };
    for &(what, pass) in passes {
        match blkbench_pass(name, &mut buf, mib, pass) {
            Ok((_, _, bad)) if pass == Pass::Verify => {
                if bad == 0 {
                    println!("blkbench: {path}: read back {mib} MiB: matches the pattern");
                } else {
                    println!("blkbench: {path}: read back {mib} MiB: {bad} bytes differ from the pattern");
                }
            }
            Ok((ticks, flush_ticks, _)) => {
                let (us, mbs, tenth) = rate(bytes, ticks);
                println!(
                    "blkbench: {path}: {what} {mib} MiB in 1 MiB requests: {}.{:06} s, {mbs}.{tenth} MB/s",
                    us / 1_000_000,
                    us % 1_000_000,
                );
                if pass == Pass::Write {
                    let (us, _, _) = rate(0, flush_ticks);
                    let (all_us, mbs, tenth) = rate(bytes, ticks + flush_ticks);
                    println!(
                        "blkbench: {path}: sync (flush to the host's disk): {}.{:06} s; write+sync {mbs}.{tenth} MB/s ({} ms)",
                        us / 1_000_000,
                        us % 1_000_000,
                        all_us / 1000
                    );
                }
            }
            Err(e) => {
                println!("blkbench: {path}: {what}: {}", strerror(e));
                return;
            }
        }
    }
}

/// `blkbench PATH MiB --cpus N` for N > 1: one timed read pass split over N
/// CPUs, with the requests each CPU had refused busy (and retried).
fn blkbench_split(path: &str, mib: usize, cpus: usize) {
    if mib < cpus {
        println!(
            "blkbench: {path}: {mib} MiB cannot be split over {cpus} CPUs (at least 1 MiB each)"
        );
        return;
    }
    let name = path.strip_prefix("/dev/").unwrap_or(path);
    match super::smpbench::blk_read_split(name, mib, cpus) {
        Ok((ticks, retries)) => {
            let (us, mbs, tenth) = rate((mib * MIB) as u64, ticks);
            println!(
                "blkbench: {path}: read {mib} MiB in 1 MiB requests from {cpus} CPUs at once (a part each): {}.{:06} s, {mbs}.{tenth} MB/s",
                us / 1_000_000,
                us % 1_000_000
            );
            let r: alloc::vec::Vec<String> = retries
                .iter()
                .map(|(c, n, _)| alloc::format!("CPU{c} {n}"))
                .collect();
            println!(
                "blkbench: {path}: requests refused busy (another CPU had the disk) and retried: {}",
                r.join(", ")
            );
            let sums: alloc::vec::Vec<String> = retries
                .iter()
                .map(|(c, _, h)| alloc::format!("CPU{c} {h:#018x}"))
                .collect();
            println!(
                "blkbench: {path}: what each CPU read, sampled (first 8 bytes of every 4 KiB, h = h * 31 + word): {}",
                sums.join(", ")
            );
        }
        Err(why) => println!("blkbench: {path}: read from {cpus} CPUs: {why}"),
    }
}

/// Readers running on the other CPUs during `smpstress`.
mod stress {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    pub static STOP: AtomicBool = AtomicBool::new(false);
    pub static DEVICE: crate::sync::Mutex<alloc::string::String> =
        crate::sync::Mutex::new(alloc::string::String::new());
    pub static READS: [AtomicU64; crate::arch::cpu::MAX_CPUS] =
        [const { AtomicU64::new(0) }; crate::arch::cpu::MAX_CPUS];
    pub static REFUSED: [AtomicU64; crate::arch::cpu::MAX_CPUS] =
        [const { AtomicU64::new(0) }; crate::arch::cpu::MAX_CPUS];
    pub static RUNNING: AtomicU64 = AtomicU64::new(0);

    /// One CPU's reader: reads the device in a loop until told to stop,
    /// running its CPU's queued work between reads (the module's work items
    /// land there too).
    pub fn reader(cpu: usize) {
        {
            let name = DEVICE.lock().clone();
            let mut buf = [0u8; 96];
            while !STOP.load(Ordering::Acquire) {
                match crate::kobject::devfs::read_once(&name, &mut buf) {
                    Ok(_) => READS[cpu].fetch_add(1, Ordering::Relaxed),
                    Err(_) => REFUSED[cpu].fetch_add(1, Ordering::Relaxed),
                };
                crate::smp::work::run_local();
                // Between reads the device is free: rmmod gets its chances.
                crate::irq::time::udelay(50);
            }
            // `name` is freed here: the CPU that waits for RUNNING to reach
            // zero measures the heap next, so nothing of the reader's may
            // still be allocated when it says it is done.
        }
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one `smpstress` phase did.
/// (The first refusal is kept on the stack: the heap is measured while the
/// result is alive.)
#[derive(Default)]
struct StressResult {
    unloaded: u64,
    refused: u64,
    first_refusal: kcore::logring::LineBuf<160>,
    errors: alloc::vec::Vec<String>,
}

/// One phase: readers on `readers` read `device` while this CPU loads the
/// module (when absent), lets it run for a moment, and tries to unload it,
/// `cycles` times; then the readers stop and the module is unloaded.
fn stress_phase(
    name: &str,
    bytes: &[u8],
    device: &str,
    readers: &[usize],
    cycles: u64,
) -> StressResult {
    use core::sync::atomic::Ordering;
    let mut r = StressResult::default();
    *stress::DEVICE.lock() = String::from(device);
    stress::STOP.store(false, Ordering::Release);
    for &c in readers {
        stress::RUNNING.fetch_add(1, Ordering::AcqRel);
        crate::smp::work::queue(c, crate::smp::work::Func::Kernel(stress::reader), c, None);
    }
    for _ in 0..cycles {
        if module::find(name).is_none() {
            if let Err(e) = module::load(name, bytes, &[]) {
                r.errors
                    .push(alloc::format!("insmod: {} (errno {})", e.detail, e.errno));
                break;
            }
        }
        // Let its timer fire and its work items and the readers run.
        crate::irq::time::udelay(300);
        match module::unload(name, false) {
            Ok(()) => r.unloaded += 1,
            Err(e) if e.errno == errno::EBUSY && e.detail.contains(" is in use") => {
                if r.refused == 0 {
                    let _ = core::fmt::Write::write_str(&mut r.first_refusal, &e.detail);
                }
                r.refused += 1
            }
            Err(e) => {
                r.errors
                    .push(alloc::format!("rmmod: {} (errno {})", e.detail, e.errno));
                break;
            }
        }
    }
    stress::STOP.store(true, Ordering::Release);
    while stress::RUNNING.load(Ordering::Acquire) != 0 {
        crate::smp::idle_once();
    }
    if module::find(name).is_some() {
        if let Err(e) = module::unload(name, false) {
            r.errors.push(alloc::format!(
                "final rmmod, readers stopped: {} (errno {})",
                e.detail,
                e.errno
            ));
        }
    }
    r
}

/// `smpstress N PATH DEVICE`: the SMP unload stress test. Every other online
/// CPU (up to three) reads DEVICE in a loop while this CPU loads the module
/// at PATH, lets it run 300 us and unloads it, N times; the module's own
/// timer and work items (on every CPU) run meanwhile. Every `rmmod` either
/// succeeds or is refused naming the holder; the readers see the device or a
/// clean -ENODEV/-EBUSY; after a 20-cycle warm-up (queues and tables reach
/// their size) the heap and the pages in use end where they started.
pub fn smpstress(args: &[&str]) {
    use core::sync::atomic::Ordering;
    let Some(&device) = args.get(2) else {
        println!("Usage: smpstress N PATH DEVICE");
        return;
    };
    let Some((n, path, bytes)) = count_and_module("smpstress", "N PATH DEVICE", args) else {
        return;
    };
    let name = crate::fs::file_stem(path);
    let readers: alloc::vec::Vec<usize> = (1..crate::arch::cpu::MAX_CPUS)
        .filter(|&c| crate::smp::cpu(c).0 == crate::smp::State::Online)
        .take(3)
        .collect();
    crate::klog::set_console_quiet(true);
    let warm = stress_phase(name, &bytes, device, &readers, 20);
    crate::module::memory::reap_wait();
    let before = crate::mm::info();
    let grace_before = module::grace_stats(true);
    for &c in &readers {
        stress::READS[c].store(0, Ordering::Relaxed);
        stress::REFUSED[c].store(0, Ordering::Relaxed);
    }
    let r = stress_phase(name, &bytes, device, &readers, n);
    crate::klog::set_console_quiet(false);
    // Unloaded images wait for the other CPUs' TLB flush before their
    // pages are free (`mm::tlb`): settle that first.
    crate::module::memory::reap_wait();
    let after = crate::mm::info();
    let grace_after = module::grace_stats(false);
    println!(
        "smpstress: {n} cycles of {name} with {} reader CPUs: {} unloaded, {} refused (in use)",
        readers.len(),
        r.unloaded,
        r.refused
    );
    if r.refused > 0 {
        println!("smpstress: first refusal: {}", r.first_refusal.as_str());
    }
    for &c in &readers {
        println!(
            "smpstress: CPU{c}: {} reads, {} refused (device gone or module going)",
            stress::READS[c].load(Ordering::Relaxed),
            stress::REFUSED[c].load(Ordering::Relaxed)
        );
    }
    for e in &warm.errors {
        println!("smpstress: error: in the warm-up: {e}");
    }
    for e in &r.errors {
        println!("smpstress: error: {e}");
    }
    print_grace("smpstress", grace_before, grace_after);
    print_heap(&before, &after);
}

/// `memtest`: the kernel's assembly `memcmp`, `memcpy`, `memset` and the
/// module loader's NEON `copy`, `copy_changed` (and the count of blocks it
/// stored) and `zero_changed` against byte loops, and SHA-256 on the CPU's
/// instructions against the portable code, for
/// every length up to 200, source and destination offsets 0..8, and a
/// difference at every position (both signs).
pub fn memtest(_args: &[&str]) {
    use core::hint::black_box;
    extern "C" {
        fn memcmp(a: *const kabi::Opaque, b: *const kabi::Opaque, n: usize) -> i32;
    }
    // Byte by byte, each byte through `black_box` so the compiler cannot
    // turn the loop back into a call of the routine under test.
    fn reference_cmp(a: &[u8], b: &[u8]) -> i32 {
        for i in 0..a.len() {
            let (x, y) = (black_box(a[i]), black_box(b[i]));
            if x != y {
                return if x < y { -1 } else { 1 };
            }
        }
        0
    }
    let pattern = |seed: u8| -> [u8; 224] {
        core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
    };
    let mut checks = 0u64;
    let mut failed = 0u64;
    let mut fail = |what: &str, n: usize, off: usize| {
        failed += 1;
        if failed <= 5 {
            println!("memtest: {what} wrong for length {n} at offset {off}");
        }
    };
    for n in 0..=200usize {
        for off in 0..8usize {
            let a = pattern(3);
            let mut b = [0u8; 224];
            b[off..off + n].copy_from_slice(black_box(&a[..n]));
            checks += 1;
            if (0..n).any(|i| black_box(b[off + i]) != a[i]) {
                fail("memcpy", n, off);
            }
            // SAFETY: both ranges are `n` bytes inside their arrays (n + 8 <= 224).
            let r = unsafe { memcmp(a.as_ptr().cast(), b.as_ptr().add(off).cast(), n) };
            checks += 1;
            if r != 0 {
                fail("memcmp (equal)", n, off);
            }
            for at in 0..n {
                for delta in [1u8, 0xff] {
                    let mut c = b;
                    c[off + at] = c[off + at].wrapping_add(delta);
                    // SAFETY: as above.
                    let r = unsafe { memcmp(a.as_ptr().cast(), c.as_ptr().add(off).cast(), n) };
                    let want = reference_cmp(&a[..n], &c[off..off + n]);
                    checks += 1;
                    if r.signum() != want {
                        fail("memcmp", n, off);
                    }
                }
            }
            // Whether `buf`, once pattern(9), is not `a[..n]` at `off` and
            // pattern(9) elsewhere (what a copy of `a[..n]` there gives).
            let copied_wrong = |buf: &[u8; 224]| {
                (0..224).any(|i| {
                    let want = if (off..off + n).contains(&i) {
                        a[i - off]
                    } else {
                        pattern(9)[i]
                    };
                    black_box(buf[i]) != want
                })
            };
            let mut d = pattern(9);
            // Make every other 64-byte block equal already, so the count of
            // blocks stored has both kinds to tell apart.
            for (i, chunk) in d[off..off + n].chunks_mut(64).enumerate() {
                if i % 2 == 1 {
                    chunk.copy_from_slice(&a[i * 64..i * 64 + chunk.len()]);
                }
            }
            let want_stored = (0..n.div_ceil(64))
                .filter(|i| {
                    let end = ((i + 1) * 64).min(n);
                    (i * 64..end).any(|j| black_box(d[off + j]) != a[j])
                })
                .count();
            let stored = crate::arch::mem::copy_changed(&mut d[off..off + n], &a[..n]);
            checks += 1;
            if stored != want_stored {
                fail("copy_changed (blocks stored)", n, off);
            }
            checks += 1;
            if copied_wrong(&d) {
                fail("copy_changed", n, off);
            }
            // SHA-256 (the SHA-256 instructions, which read each block with
            // one unaligned `LD1`) against the portable block function.
            checks += 1;
            if modsign::hash::sha256(&a[off..off + n])
                != modsign::hash::sha256_generic(black_box(&a[off..off + n]))
            {
                fail("sha256", n, off);
            }
            let mut c = pattern(9);
            crate::arch::mem::copy(&mut c[off..off + n], &a[..n]);
            checks += 1;
            if copied_wrong(&c) {
                fail("copy", n, off);
            }
            let mut z = pattern(5);
            crate::arch::mem::zero_changed(&mut z[off..off + n]);
            let mut m = pattern(5);
            m[off..off + n].fill(black_box(0));
            checks += 2;
            if (0..224).any(|i| black_box(z[i]) != black_box(m[i])) {
                fail("zero_changed", n, off);
            }
            if (0..224).any(|i| {
                let want = if (off..off + n).contains(&i) {
                    0
                } else {
                    pattern(5)[i]
                };
                black_box(m[i]) != want
            }) {
                fail("memset", n, off);
            }
        }
    }
    if failed == 0 {
        println!("memtest: {checks} checks passed");
    } else {
        println!("memtest: {failed} of {checks} checks failed");
    }
}
