//! Host-side harness for the QEMU tests: boots the kernel through `qemu/run.sh`
//! (the one place QEMU's flags live), types at its serial shell and collects what
//! it prints. Every wait has a timeout and QEMU is killed when a [`Machine`] is
//! dropped, so a hung guest fails its test instead of hanging the suite.

pub mod linux_bench;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const PROMPT: &str = "/ # ";
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The kernel image `make kernel` writes; the tests need it built first.
pub fn kernel_image() -> PathBuf {
    let p = root().join("build/kernel.img");
    assert!(
        p.exists(),
        "{} is missing: run `make kernel` (make test does) first",
        p.display()
    );
    p
}

/// Builds the TCG plugin `qemu/prof/NAME.c` with gcc into
/// `build/prof/libNAME.so`; None when gcc is missing or fails.
pub fn build_plugin(name: &str) -> Option<PathBuf> {
    let dir = root().join("build/prof");
    std::fs::create_dir_all(&dir).ok()?;
    let lib = dir.join(format!("lib{name}.so"));
    Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(root().join(format!("qemu/prof/{name}.c")))
        .status()
        .is_ok_and(|s| s.success())
        .then_some(lib)
}

/// The initrd `make initrd-all` writes (every module and the depmod index).
pub fn initrd_image() -> PathBuf {
    let p = root().join("build/initrd-all.cpio");
    assert!(
        p.exists(),
        "{} is missing: run `make initrd-all` (make test does) first",
        p.display()
    );
    p
}

/// From `modstress`'s output, `modstress: text stored at load: mean X of N
/// 64-byte blocks a cycle`: (X, N).
pub fn text_stored(out: &str) -> Option<(f64, u64)> {
    let rest = out
        .lines()
        .find_map(|l| l.strip_prefix("modstress: text stored at load: mean "))?;
    let mut words = rest.split(' ');
    let mean = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let blocks = words.next()?.parse().ok()?;
    Some((mean, blocks))
}

/// Options for a machine booted with the module initrd.
pub fn with_initrd() -> Opts {
    Opts {
        initrd: Some(initrd_image()),
        ..Opts::default()
    }
}

/// With the initrd but no driver loaded by coldplug at boot (the module tests
/// start from a kernel with no module loaded).
pub fn with_initrd_no_coldplug() -> Opts {
    Opts {
        append: Some("modprobe.blacklist=pl011,virtio_mmio,virtio_blk,virtio_rng".into()),
        ..with_initrd()
    }
}

/// How to start QEMU (the environment qemu/run.sh reads).
#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub cpu: Option<&'static str>,
    pub mem: Option<&'static str>,
    pub smp: Option<u32>,
    pub gic: Option<u32>,
    pub el: Option<u32>,
    pub append: Option<String>,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub extra: Vec<String>,
}

pub struct Machine {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Everything QEMU printed, and a signal for each new piece: a waiter
    /// wakes as output arrives, not at its next poll (`make bench` times boot
    /// to the prompt through [`Machine::wait_for`]; a 5 ms poll added 2.5 ms
    /// on average to every boot it timed).
    out: Arc<(Mutex<Vec<u8>>, Condvar)>,
    cursor: usize,
}

impl Machine {
    /// The heap bytes in use, as `mem` prints them ("N used").
    pub fn heap_used(&mut self) -> String {
        let mem = self.run("mem");
        let line = mem
            .lines()
            .find(|l| l.starts_with("heap:"))
            .unwrap_or_else(|| panic!("{mem}"));
        line.split(", ").nth(1).unwrap_or("").to_string()
    }

    /// Starts QEMU without waiting for anything.
    pub fn start(opts: &Opts) -> Machine {
        let mut cmd = Command::new(root().join("qemu/run.sh"));
        // Only what the test asks for: `make` exports its machine variables.
        for var in [
            "CPU",
            "MEM",
            "SMP",
            "GIC",
            "EL",
            "APPEND",
            "INITRD",
            "DISK",
            "QEMU_EXTRA",
            "PRINT_ONLY",
        ] {
            cmd.env_remove(var);
        }
        let kernel = opts.kernel.clone().unwrap_or_else(kernel_image);
        cmd.env("KERNEL", kernel);
        if let Some(v) = opts.cpu {
            cmd.env("CPU", v);
        }
        if let Some(v) = opts.mem {
            cmd.env("MEM", v);
        }
        // A test that does not choose gets the suite's machine: QEMU_TEST_SMP
        // and QEMU_TEST_GIC (`make test` runs the suite once as it is and once
        // with 4 CPUs on GICv3).
        let suite = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
        if let Some(v) = opts.smp.or_else(|| suite("QEMU_TEST_SMP")) {
            cmd.env("SMP", v.to_string());
        }
        if let Some(v) = opts.gic.or_else(|| suite("QEMU_TEST_GIC")) {
            cmd.env("GIC", v.to_string());
        }
        if let Some(v) = opts.el {
            cmd.env("EL", v.to_string());
        }
        if let Some(v) = &opts.append {
            cmd.env("APPEND", v);
        }
        if let Some(v) = &opts.initrd {
            cmd.env("INITRD", v);
        }
        cmd.env_remove("QEMU_EXTRA");
        cmd.args(&opts.extra);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start qemu/run.sh");
        let out = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        for mut stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")) as Box<dyn Read + Send>,
        ] {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let (text, arrived) = &*out;
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // Kept without CRs: what `transcript` and `wait_for` read.
                    text.lock()
                        .expect("output lock")
                        .extend(buf[..n].iter().filter(|&&b| b != b'\r'));
                    arrived.notify_all();
                }
                // End of output (QEMU exited): wake waiters to see it.
                arrived.notify_all();
            });
        }
        let stdin = child.stdin.take();
        Machine {
            child,
            stdin,
            out,
            cursor: 0,
        }
    }

    /// Starts QEMU and waits for the shell prompt.
    pub fn boot(opts: &Opts) -> Machine {
        let mut m = Machine::start(opts);
        m.expect(PROMPT, BOOT_TIMEOUT);
        m
    }

    /// Everything printed so far, CRs removed.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.out.0.lock().expect("output lock")).into_owned()
    }

    /// Waits until `pattern` appears after the cursor; returns the text up to and
    /// including it and moves the cursor past it. Each piece of output is
    /// searched once, as it arrives (the cursor and offsets count the
    /// transcript's bytes).
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let needle = pattern.as_bytes();
        if needle.is_empty() {
            return Ok(String::new());
        }
        let mut searched = self.cursor;
        loop {
            let seen = {
                let out = self.out.0.lock().expect("output lock");
                let from = searched.saturating_sub(needle.len()).max(self.cursor);
                if let Some(pos) = out
                    .get(from..)
                    .and_then(|t| t.windows(needle.len()).position(|w| w == needle))
                {
                    let start = self.cursor;
                    self.cursor = from + pos + needle.len();
                    return Ok(String::from_utf8_lossy(&out[start..self.cursor]).into_owned());
                }
                searched = out.len();
                out.len()
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {pattern:?}; output so far:\n{}",
                    self.transcript()
                ));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain the pipes once more.
                std::thread::sleep(Duration::from_millis(100));
                if self.out.0.lock().expect("output lock").len() > seen {
                    continue;
                }
                return Err(format!(
                    "QEMU exited ({status}) before {pattern:?}; output:\n{}",
                    self.transcript()
                ));
            }
            self.wait_for_output(seen, deadline);
        }
    }

    /// Blocks until QEMU has printed more than `seen` bytes, or 20 ms (QEMU's
    /// exit is also checked then), or `deadline`.
    fn wait_for_output(&self, seen: usize, deadline: Instant) {
        let (text, arrived) = &*self.out;
        let guard = text.lock().expect("output lock");
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(20));
        let _ = arrived
            .wait_timeout_while(guard, wait, |t| t.len() == seen)
            .expect("output lock");
    }

    /// Like [`wait_for`](Self::wait_for), panicking with the transcript on failure.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> String {
        self.wait_for(pattern, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Types raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes);
            let _ = stdin.flush();
        }
    }

    /// Runs a shell command and returns what it printed (without the echoed
    /// command line and the next prompt).
    pub fn run(&mut self, cmd: &str) -> String {
        self.run_for(cmd, CMD_TIMEOUT)
    }

    /// [`Machine::run`] for a command that may take up to `timeout`.
    pub fn run_for(&mut self, cmd: &str, timeout: Duration) -> String {
        self.send(format!("{cmd}\r").as_bytes());
        let echoed = format!("{cmd}\n");
        self.expect(&echoed, CMD_TIMEOUT);
        let out = self.expect(PROMPT, timeout);
        out[..out.len() - PROMPT.len()].to_string()
    }

    /// Waits for QEMU to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "QEMU did not exit within {timeout:?}; output:\n{}",
                    self.transcript()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 11's burst of typed input: `uptime`, eight `echo` lines of 120
/// characters, `uptime` again, written to the serial console in one go (1,022
/// bytes), as a pipe or a paste delivers them.
pub struct Burst {
    /// The eight 120-character arguments of `echo`, each line's own.
    pub payloads: Vec<String>,
}

/// What the guest printed for a [`Burst`].
pub struct BurstOutput {
    /// Everything from the first command's echo to the last prompt.
    pub text: String,
    /// Guest time between the two `uptime`s, in microseconds.
    pub guest_us: u64,
}

impl Burst {
    pub fn new() -> Burst {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let payloads = (0..8)
            .map(|line| {
                let head = format!("line{line}:");
                let tail: String = (head.len()..120)
                    .map(|k| CHARS[(k * 7 + line * 13) % CHARS.len()] as char)
                    .collect();
                head + &tail
            })
            .collect();
        Burst { payloads }
    }

    /// The commands, in the order typed.
    pub fn commands(&self) -> Vec<String> {
        let mut c = vec!["uptime".to_string()];
        c.extend(self.payloads.iter().map(|p| format!("echo {p}")));
        c.push("uptime".to_string());
        c
    }

    /// The bytes typed: each command ended by a carriage return (Enter).
    pub fn bytes(&self) -> Vec<u8> {
        self.commands()
            .iter()
            .flat_map(|c| c.bytes().chain([b'\r']))
            .collect()
    }

    /// Types the burst at the prompt of `m` and waits for the last prompt.
    pub fn type_into(&self, m: &mut Machine) -> BurstOutput {
        m.send(&self.bytes());
        let mut text = String::new();
        for c in self.commands() {
            text += &m.expect(&format!("{c}\n"), CMD_TIMEOUT);
            text += &m.expect(PROMPT, CMD_TIMEOUT);
        }
        let uptimes: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("up "))
            .filter_map(|l| {
                let secs = l.split('(').nth(1)?.split(" s)").next()?;
                let (s, us) = secs.split_once('.')?;
                Some(s.parse::<u64>().ok()? * 1_000_000 + us.parse::<u64>().ok()?)
            })
            .collect();
        assert_eq!(uptimes.len(), 2, "two uptime lines expected:\n{text}");
        BurstOutput {
            guest_us: uptimes[1] - uptimes[0],
            text,
        }
    }
}

impl Default for Burst {
    fn default() -> Self {
        Burst::new()
    }
}
