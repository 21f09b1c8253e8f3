//! The serial shell: reads lines from the console and runs commands.
//!
//! Input is read from the console's queue and edited by [`kcore::lineedit`];
//! when the queue is empty the CPU sleeps in WFI until the next interrupt: the
//! UART's receive interrupt as soon as a byte arrives (the console drains the
//! whole FIFO each time), else the tick, at most 10 ms away. Command words are
//! split on whitespace; every command reports its errors the way the
//! equivalent Linux tool would.
//!
//! Room `shell` (highest): uses any room.

use crate::arch::{cpu, irqchip, psci};
use crate::irq::{self, time};
use crate::{console, klog, mm, print, println};
use kcore::lineedit::{Action, LineEditor};
use kcore::units::Bytes;

mod disk;
mod files;
mod modules;
#[cfg(feature = "selftest")]
mod ratio;
#[cfg(feature = "selftest")]
mod selftest;
#[cfg(feature = "selftest")]
mod smpbench;

pub const PROMPT: &str = "/ # ";

struct Command {
    name: &'static str,
    help: &'static str,
    run: fn(&[&str]),
}

const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        help: "list commands",
        run: cmd_help,
    },
    Command {
        name: "dmesg",
        help: "print the kernel log",
        run: cmd_dmesg,
    },
    Command {
        name: "uptime",
        help: "time since boot",
        run: cmd_uptime,
    },
    Command {
        name: "mem",
        help: "memory use: RAM, page allocator, heap",
        run: cmd_mem,
    },
    Command {
        name: "devices",
        help: "device-tree devices: compatible, address, irq",
        run: cmd_devices,
    },
    Command {
        name: "sleep",
        help: "sleep SECONDS: wait (fractions allowed, e.g. 0.5)",
        run: cmd_sleep,
    },
    Command {
        name: "cpus",
        help: "cpus: every CPU: number, state, MPIDR, interrupts and timer ticks taken",
        run: cmd_cpus,
    },
    Command {
        name: "interrupts",
        help: "registered interrupt handlers and counts",
        run: cmd_interrupts,
    },
    Command {
        name: "bootargs",
        help: "the kernel command line",
        run: cmd_bootargs,
    },
    Command {
        name: "echo",
        help: "print the arguments",
        run: cmd_echo,
    },
    Command {
        name: "insmod",
        help: "insmod PATH [param=value ...]: load a module",
        run: modules::insmod,
    },
    Command {
        name: "rmmod",
        help: "rmmod [-f] NAME: unload a module",
        run: modules::rmmod,
    },
    Command {
        name: "lsmod",
        help: "loaded modules: size, users, state",
        run: modules::lsmod,
    },
    Command {
        name: "modinfo",
        help: "modinfo PATH|NAME: a module's .modinfo",
        run: modules::modinfo,
    },
    Command {
        name: "modprobe",
        help: "modprobe NAME [param=value ...]: load with dependencies",
        run: modules::modprobe,
    },
    Command {
        name: "ksyms",
        help: "symbols modules can import (address, CRC, name, owner)",
        run: modules::ksyms,
    },
    Command {
        name: "taint",
        help: "taint: the kernel's taint flags (P proprietary, D died, E unsigned module)",
        run: modules::taint,
    },
    Command {
        name: "sig_enforce",
        help: "sig_enforce [on]: require trusted module signatures from now on",
        run: modules::sig_enforce,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "modstress",
        help: "modstress N PATH [--busy]: load/unload N times (other CPUs spinning), report time and memory",
        run: selftest::modstress,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "sigbench",
        help: "sigbench PATH [N]: time hashing and signature check of a signed module",
        run: selftest::sigbench,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "smpstress",
        help: "smpstress N PATH DEVICE: other CPUs read DEVICE while this one loads/unloads PATH N times",
        run: selftest::smpstress,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "tlbstress",
        help: "tlbstress N: map, read on the other CPUs, unmap a module page N times; count stale TLB reads",
        run: selftest::tlbstress,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "fpirqtest",
        help: "fpirqtest [N]: FP/SIMD registers survive N interrupts that overwrite them, and an abandoned module call",
        run: selftest::fpirqtest,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "memtest",
        help: "memtest: the kernel's memcmp, memcpy, memset, the loader's copy, copy_changed, zero_changed and SHA-256 against reference code",
        run: selftest::memtest,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "refbench",
        help: "refbench [N [smp]]: cost of module and object get/put (smp: 4 CPUs contending)",
        run: selftest::refbench,
    },
    Command {
        name: "ls",
        help: "ls [/initrd|/disk[/DIR]|/dev]: list files or devices",
        run: files::ls,
    },
    Command {
        name: "cat",
        help: "cat FILE|/dev/NAME: print a file or read a device",
        run: files::cat,
    },
    Command {
        name: "hexdump",
        help: "hexdump [-s OFFSET] [-n LENGTH] FILE: hexdump -C of a file or device",
        run: files::hexdump,
    },
    #[cfg(feature = "selftest")]
    Command {
        name: "blkbench",
        help: "blkbench /dev/NAME MiB [write [--force] | --cpus N]: sequential MB/s in 1 MiB requests",
        run: selftest::blkbench,
    },
    Command {
        name: "lsdev",
        help: "devices with their drivers, and objects modules registered: owner, users, calls",
        run: modules::lsdev,
    },
    Command {
        name: "open",
        help: "open /dev/NAME: keep a device open",
        run: files::open,
    },
    Command {
        name: "close",
        help: "close FD",
        run: files::close,
    },
    Command {
        name: "read",
        help: "read FD [N]: read from an open device",
        run: files::read,
    },
    Command {
        name: "write",
        help: "write FD TEXT: write to an open device",
        run: files::write,
    },
    Command {
        name: "sync",
        help: "sync FD: flush an open device",
        run: files::sync,
    },
    Command {
        name: "lsof",
        help: "open descriptors",
        run: files::lsof,
    },
    Command {
        name: "console",
        help: "console [early|TTY]: show or move the console",
        run: cmd_console,
    },
    Command {
        name: "mount",
        help: "mount [DEV]: list mounts; mount DEV's FAT file system at /disk",
        run: disk::mount,
    },
    Command {
        name: "umount",
        help: "umount: unmount /disk (releases the block device)",
        run: disk::umount,
    },
    Command {
        name: "lsdisk",
        help: "lsdisk [DIR]: files on /disk (or a directory below it) with sizes",
        run: disk::lsdisk,
    },
    Command {
        name: "rng",
        help: "rng N: N random bytes from /dev/hwrng (virtio-rng)",
        run: files::rng,
    },
    Command {
        name: "time",
        help: "time CMD...: run a command and print how long it took",
        run: cmd_time,
    },
    Command {
        name: "poweroff",
        help: "power the machine off (PSCI SYSTEM_OFF)",
        run: cmd_poweroff,
    },
    Command {
        name: "reboot",
        help: "reset the machine (PSCI SYSTEM_RESET)",
        run: cmd_reboot,
    },
    Command {
        name: "panic",
        help: "panic the kernel (tests the panic path)",
        run: cmd_panic,
    },
    Command {
        name: "fault",
        help: "read from NULL: a real data abort (tests the oops path)",
        run: cmd_fault,
    },
];

/// The commands of feature `selftest` (`make ... SELFTEST=1`; `make test`
/// and `make bench` build with it), named when the image was built without.
const SELFTESTS: &[&str] = &[
    "modstress",
    "sigbench",
    "smpstress",
    "tlbstress",
    "fpirqtest",
    "memtest",
    "refbench",
    "blkbench",
];

/// Runs the shell forever.
pub fn run() -> ! {
    let mut ed = LineEditor::new();
    console::write_str(PROMPT);
    loop {
        let Some(byte) = console::read_byte() else {
            // Unloaded images every CPU has flushed for go back to the page
            // allocator; then this CPU's queued work, then sleep until an
            // interrupt unless input came in meanwhile.
            crate::module::memory::reap_idle();
            crate::smp::idle_unless(console::input_waiting);
            continue;
        };
        match ed.feed(byte) {
            Action::None => {}
            Action::Echo(b) => console::write_raw(&[b]),
            Action::Erase => console::write_raw(b"\x08 \x08"),
            Action::EraseN(n) => {
                for _ in 0..n {
                    console::write_raw(b"\x08 \x08");
                }
            }
            Action::Bell => console::write_raw(b"\x07"),
            Action::Cancel => print!("^C\n{PROMPT}"),
            Action::Submit => {
                print!("\n");
                execute(ed.line());
                console::write_str(PROMPT);
            }
        }
    }
}

/// Runs one command line. Kept out of line so backtraces name it.
#[inline(never)]
pub fn execute(line: &str) {
    let mut words: [&str; 16] = [""; 16];
    let mut n = 0;
    for w in line.split_whitespace() {
        if n == words.len() {
            println!("sh: too many arguments (at most {})", words.len() - 1);
            return;
        }
        words[n] = w;
        n += 1;
    }
    if n == 0 {
        return;
    }
    match COMMANDS.iter().find(|c| c.name == words[0]) {
        Some(c) => (c.run)(&words[1..n]),
        None if !cfg!(feature = "selftest") && SELFTESTS.contains(&words[0]) => println!(
            "sh: {}: a self-test, not built in (make run SELFTEST=1)",
            words[0]
        ),
        None => println!("sh: {}: command not found", words[0]),
    }
}

fn cmd_help(_: &[&str]) {
    println!("Commands:");
    for c in COMMANDS {
        println!("  {:<12} {}", c.name, c.help);
    }
}

fn cmd_dmesg(_: &[&str]) {
    klog::dump(&mut |bytes| {
        // The ring holds text we formatted ourselves.
        if let Ok(s) = core::str::from_utf8(bytes) {
            console::write_str(s);
        }
    });
}

fn cmd_uptime(_: &[&str]) {
    let us = time::micros();
    let secs = us / 1_000_000;
    println!(
        "up {}:{:02}:{:02} ({}.{:06} s), {} timer ticks",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        secs,
        us % 1_000_000,
        time::jiffies()
    );
}

fn cmd_mem(_: &[&str]) {
    // Pages of unloaded modules are free once every CPU flushed its TLB
    // (`mm::tlb`, usually within microseconds): wait for that, so the figures
    // are settled, and say if a CPU did not answer.
    if !crate::module::memory::reap_wait() {
        println!(
            "(waiting for a TLB flush on another CPU: {} pages)",
            crate::module::memory::pages_awaiting_flush()
        );
    }
    let m = mm::info();
    let page = mm::PAGE_SIZE as u64;
    println!("RAM:        {:>10}", Bytes(m.ram_total));
    println!(
        "kernel:     {:>10}  (image, BSS and stacks)",
        Bytes(m.kernel_image)
    );
    println!(
        "reserved:   {:>10}  (DTB, initrd, page tails)",
        Bytes(m.reserved.saturating_sub(m.kernel_image))
    );
    println!(
        "pages:      {:>10}  total, {} free ({} pages of 4 KiB, {} in use)",
        Bytes(m.pages_total * page),
        Bytes(m.pages_free * page),
        m.pages_total,
        m.pages_total - m.pages_free
    );
    println!(
        "heap:       {:>10}  total, {} used ({} with allocator overhead), {} free",
        Bytes(m.heap_total),
        Bytes(m.heap_used),
        Bytes(m.heap_actual),
        Bytes(m.heap_total.saturating_sub(m.heap_actual))
    );
}

fn cmd_devices(_: &[&str]) {
    println!("{:<28} {:<28} {:<24} IRQ", "NODE", "COMPATIBLE", "ADDRESS");
    for d in crate::machine::devices() {
        let compat = d.compatibles().next().unwrap_or("");
        let mut addr = kcore::logring::LineBuf::<32>::new();
        if let Some(r) = d.regs().first() {
            let _ = core::fmt::Write::write_fmt(
                &mut addr,
                format_args!("{:#010x}+{:#x}", r.start, r.size()),
            );
        } else {
            let _ = core::fmt::Write::write_str(&mut addr, "-");
        }
        print!("{:<28} {:<28} {:<24}", d.name, compat, addr.as_str());
        if d.irqs().is_empty() {
            print!(" -");
        }
        for (i, irq) in d.irqs().iter().enumerate() {
            print!("{}{}", if i == 0 { " " } else { "," }, irq);
        }
        println!();
    }
}

fn cmd_interrupts(_: &[&str]) {
    println!(
        "{:>5} {:>10}  {:<6} {:<16} OWNER",
        "IRQ", "COUNT", "CHIP", "NAME"
    );
    let chip = if irqchip::version() == 3 {
        "GICv3"
    } else {
        "GICv2"
    };
    irq::for_each(|intid, a| {
        let owner = match a.owner {
            irq::Owner::Kernel => "kernel",
            irq::Owner::Module(_) => "module",
        };
        a.name.with(|name| {
            println!(
                "{:>5} {:>10}  {:<6} {:<16} {}",
                intid, a.count, chip, name, owner
            )
        });
    });
}

fn cmd_sleep(args: &[&str]) {
    let Some(us) = args.first().and_then(|a| kcore::units::parse_seconds_us(a)) else {
        println!("Usage: sleep SECONDS");
        return;
    };
    let end = time::micros().saturating_add(us);
    while time::micros() < end {
        crate::smp::idle_once();
    }
}

fn cmd_cpus(_: &[&str]) {
    println!("CPU  STATE    MPIDR         IRQS      TICKS");
    for n in 0..crate::arch::cpu::MAX_CPUS {
        let (state, mpidr) = crate::smp::cpu(n);
        let state = match state {
            crate::smp::State::Absent => continue,
            crate::smp::State::Offline => "offline",
            crate::smp::State::Online => "online",
        };
        println!(
            "{n:<4} {state:<8} {mpidr:#012x} {:>8} {:>10}",
            irq::taken_on(n),
            time::ticks_on(n)
        );
    }
}

fn cmd_bootargs(_: &[&str]) {
    if let Some(info) = crate::machine::boot_info() {
        println!("{}", info.bootargs);
    }
}

fn cmd_echo(args: &[&str]) {
    for (i, a) in args.iter().enumerate() {
        print!("{}{}", if i == 0 { "" } else { " " }, a);
    }
    println!();
}

fn psci_or_halt(function: u32, what: &str) {
    crate::klog::info(&[
        crate::klog::Piece::Str("reboot: "),
        crate::klog::Piece::Str(what),
    ]);
    match crate::machine::boot_info().and_then(|b| b.psci) {
        Some(c) => {
            let r = psci::call(c, function);
            println!("{what} failed: PSCI returned {r}");
        }
        None => {
            println!("{what}: no PSCI in the device tree; System halted.");
            cpu::halt();
        }
    }
}

fn cmd_time(args: &[&str]) {
    if args.is_empty() {
        println!("Usage: time CMD [ARGS...]");
        return;
    }
    let line = args.join(" ");
    let t0 = time::ticks_since_boot();
    execute(&line);
    let ticks = time::ticks_since_boot() - t0;
    // A u64 of microseconds lasts 584,000 years (and keeps u128's
    // formatting code out of the kernel).
    let us = (ticks as u128 * 1_000_000 / time::frequency() as u128) as u64;
    println!(
        "real {}.{:06} s ({ticks} counter ticks)",
        us / 1_000_000,
        us % 1_000_000
    );
}

fn cmd_console(args: &[&str]) {
    match args.first().copied() {
        None => println!(
            "console: {}",
            console::current_tty()
                .unwrap_or_else(|| alloc::string::String::from("early (polled PL011)"))
        ),
        Some("early") => {
            if console::detach().is_none() {
                println!("console: already on the early console");
            }
        }
        Some(tty) => {
            if let Err(e) = console::attach(tty) {
                println!("console: {tty}: {e}");
            }
        }
    }
}

fn cmd_poweroff(_: &[&str]) {
    psci_or_halt(psci::SYSTEM_OFF, "Power down");
}

fn cmd_reboot(_: &[&str]) {
    psci_or_halt(psci::SYSTEM_RESET, "Restarting system");
}

fn cmd_panic(args: &[&str]) {
    let _ = args;
    panic!("requested from the shell");
}

fn cmd_fault(_: &[&str]) {
    let null = core::hint::black_box(0usize) as *const u64;
    // Address 0 is never mapped (boot.rs maps no flash): this read takes a
    // translation fault, reported by the oops path, and never returns here.
    // SAFETY: deliberately unsound to exercise the oops path (see above).
    let v = unsafe { core::ptr::read_volatile(null) };
    println!("fault: read {v:#x} from NULL without a fault?");
}
