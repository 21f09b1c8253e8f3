//! The kernel's exports to modules: the implementations of every function in
//! `kabi::api`, and their `.ksymtab` entries.
//!
//! [`export!`] checks at compile time that each implementation has exactly the
//! ABI's signature (`kabi::sig::NAME`) and records its name, address, version
//! CRC and flags. Arguments come from module code: owners are looked up (an
//! unknown handle is -EINVAL), sizes bounded, null pointers refused. Pointers a
//! module passes for its own buffers are trusted to be valid for the stated
//! length, as in any kernel: modules run at EL1.

use crate::irq::{self, time, timer as ktimer};
use crate::kobject::{self, Kind, Ops};
use crate::mm;
use crate::module::{self, Module};
use alloc::string::String;
use alloc::sync::Arc;
use core::alloc::Layout;
use core::ffi::CStr;
use kabi::{
    errno, DeviceDesc, DeviceKind, DtDevice, IrqHandler, Opaque, PanicNotifier, ThisModule, TimerFn,
};

macro_rules! export {
    ($($name:ident),* $(,)?) => {$(
        const _: () = {
            // The implementation must have the ABI's exact type.
            const _: kabi::sig::$name = $name;
            #[used]
            #[link_section = ".ksymtab"]
            static SYM: kabi::KernelSymbol = kabi::KernelSymbol {
                name: stringify!($name).as_ptr(),
                name_len: stringify!($name).len(),
                addr: $name as *const Opaque,
                crc: kabi::api::crc::$name,
                flags: kabi::api::flags::$name,
            };
        };
    )*};
}

export!(
    printk,
    kmalloc,
    kfree,
    dma_alloc,
    dma_free,
    ioremap,
    iounmap,
    request_irq,
    free_irq,
    timer_add,
    timer_del,
    virt_to_phys,
    virt_to_phys_range,
    local_irq_save,
    local_irq_restore,
    udelay,
    ktime_us,
    cpu_wait_irq,
    dt_find_compatible,
    register_device,
    unregister_device,
    tty_receive,
    request_module,
    module_panic,
    panic_notifier_register,
);

fn owner(ptr: *const ThisModule) -> Option<Arc<Module>> {
    module::from_handle(ptr as usize)
}

/// Reads a NUL-terminated name of at most 63 bytes.
fn cstr_name(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the module passes a NUL-terminated string; we stop at 64 bytes.
    let bytes = unsafe { core::slice::from_raw_parts(p, 64) };
    let c = CStr::from_bytes_until_nul(bytes).ok()?;
    Some(String::from(c.to_str().ok()?))
}

/// # Safety
/// `msg` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn printk(
    owner_ptr: *const ThisModule,
    level: u32,
    msg: *const u8,
    len: usize,
) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the caller passes a buffer valid for `len` bytes (bounded here).
    let bytes = unsafe { core::slice::from_raw_parts(msg, len.min(1024)) };
    let text = core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>");
    let name = owner(owner_ptr)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| String::from("?"));
    match level {
        0..=3 => log::error!("{name}: {text}"),
        4 => log::warn!("{name}: {text}"),
        5 | 6 => log::info!("{name}: {text}"),
        _ => log::debug!("{name}: {text}"),
    }
}

#[no_mangle]
pub extern "C" fn kmalloc(size: usize, align: usize) -> *mut u8 {
    match Layout::from_size_align(size.max(1), align.max(1)) {
        // SAFETY: non-zero size, valid layout.
        Ok(l) => unsafe { alloc::alloc::alloc(l) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// # Safety
/// `ptr` from `kmalloc` with the same size and align.
#[no_mangle]
pub unsafe extern "C" fn kfree(ptr: *mut u8, size: usize, align: usize) {
    if let (false, Ok(l)) = (
        ptr.is_null(),
        Layout::from_size_align(size.max(1), align.max(1)),
    ) {
        // SAFETY: the caller returns a kmalloc block with its layout.
        unsafe { alloc::alloc::dealloc(ptr, l) };
    }
}

fn pages_for(size: usize) -> usize {
    size.div_ceil(mm::PAGE_SIZE).max(1)
}

/// # Safety
/// `bus` null or writable.
#[no_mangle]
pub unsafe extern "C" fn dma_alloc(size: usize, bus: *mut u64) -> *mut u8 {
    match mm::alloc_pages(pages_for(size)) {
        Ok(addr) => {
            if !bus.is_null() {
                // SAFETY: the caller passes a writable u64. No IOMMU: bus = physical = virtual.
                unsafe { *bus = addr as u64 };
            }
            addr as *mut u8
        }
        Err(_) => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn dma_free(ptr: *mut u8, size: usize) {
    if !ptr.is_null() {
        mm::free_pages(ptr as usize, pages_for(size));
    }
}

#[no_mangle]
pub extern "C" fn ioremap(phys: u64, size: usize) -> *mut u8 {
    // Devices the DT describes are identity-mapped Device-nGnRE at boot.
    let Some(info) = crate::machine::boot_info() else {
        return core::ptr::null_mut();
    };
    let end = phys.saturating_add(size as u64);
    if info
        .device_maps
        .as_slice()
        .iter()
        .any(|r| r.start <= phys && end <= r.end)
    {
        phys as *mut u8
    } else {
        log::warn!("ioremap: {phys:#x}+{size:#x} is not a device the device tree describes");
        core::ptr::null_mut()
    }
}

#[no_mangle]
pub extern "C" fn iounmap(_ptr: *mut u8, _size: usize) {}

#[no_mangle]
pub extern "C" fn request_irq(
    owner_ptr: *const ThisModule,
    intid: u32,
    handler: IrqHandler,
    ctx: *mut Opaque,
    name: *const u8,
) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let label = cstr_name(name).unwrap_or_else(|| m.name.clone());
    let obj = match kobject::register(
        label.clone(),
        Kind::Irq(intid),
        Some(Arc::clone(&m)),
        Ops::default(),
        ctx as usize,
        0,
    ) {
        Ok(o) => o,
        Err(e) => return e,
    };
    // Handler names are 'static in the IRQ table: keep the label alive as long
    // as the object (leaked only once per registration, freed never: bounded
    // by the number of IRQ lines).
    let static_name: &'static str = alloc::boxed::Box::leak(label.into_boxed_str());
    let h = irq::Handler::Module {
        func: handler as usize,
        text: m.text,
    };
    match irq::request(
        intid,
        h,
        ctx as usize,
        static_name,
        irq::Owner::Module(m.id),
    ) {
        Ok(()) => 0,
        Err(e) => {
            let _ = kobject::unregister(obj.id, Some(&m));
            match e {
                irq::IrqError::Busy(_) => -errno::EBUSY,
                _ => -errno::EINVAL,
            }
        }
    }
}

#[no_mangle]
pub extern "C" fn free_irq(owner_ptr: *const ThisModule, intid: u32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let Some(obj) = kobject::find(Kind::Irq(intid), &m) else {
        return -errno::ENOENT;
    };
    let _ = irq::free(intid);
    match kobject::unregister(obj.id, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn timer_add(
    owner_ptr: *const ThisModule,
    delay_us: u64,
    period_us: u64,
    func: TimerFn,
    ctx: *mut Opaque,
) -> i64 {
    let Some(m) = owner(owner_ptr) else {
        return -(errno::EINVAL as i64);
    };
    let obj = match kobject::register(
        alloc::format!("{}-timer", m.name),
        Kind::Timer(0),
        Some(Arc::clone(&m)),
        Ops::default(),
        ctx as usize,
        0,
    ) {
        Ok(o) => o,
        Err(e) => return e as i64,
    };
    let id = ktimer::add(
        func as usize,
        ctx as usize,
        m.text,
        m.id,
        delay_us,
        period_us,
        obj.id,
    );
    // Record the timer id in the object's kind for lookups on deletion.
    TIMER_OBJECTS.lock().push((id, obj.id));
    id
}

static TIMER_OBJECTS: crate::sync::IrqLock<alloc::vec::Vec<(i64, u32)>> =
    crate::sync::IrqLock::new(alloc::vec::Vec::new());

#[no_mangle]
pub extern "C" fn timer_del(owner_ptr: *const ThisModule, id: i64) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    let obj_id = {
        let mut t = TIMER_OBJECTS.lock();
        let Some(pos) = t.iter().position(|(tid, _)| *tid == id) else {
            return -errno::ENOENT;
        };
        t.remove(pos).1
    };
    let _ = ktimer::remove(id);
    match kobject::unregister(obj_id, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn virt_to_phys(addr: *const u8) -> u64 {
    crate::arch::mmu::translate(addr as usize).unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn virt_to_phys_range(addr: *const u8, len: usize) -> u64 {
    let va = addr as usize;
    if let Some(pa) = crate::mm::address_space::linear_phys(va as u64, len as u64) {
        return pa;
    }
    // Anything else (module images, the kernel image with its guard pages):
    // translate page by page and insist on contiguity.
    let Some(end) = va.checked_add(len.max(1)) else {
        return 0;
    };
    let Some(phys) = crate::arch::mmu::translate(va) else {
        return 0;
    };
    let page = crate::arch::mmu::PAGE_SIZE;
    let mut next = (va | (page - 1)) + 1;
    while next < end {
        if crate::arch::mmu::translate(next) != Some(phys + (next - va) as u64) {
            return 0;
        }
        next += page;
    }
    phys
}

#[no_mangle]
pub extern "C" fn local_irq_save() -> u64 {
    crate::arch::cpu::irq_save().bits()
}

#[no_mangle]
pub extern "C" fn local_irq_restore(flags: u64) {
    crate::arch::cpu::irq_restore(crate::arch::cpu::IrqState::from_bits(flags));
}

#[no_mangle]
pub extern "C" fn udelay(us: u64) {
    time::udelay(us.min(1_000_000));
}

#[no_mangle]
pub extern "C" fn ktime_us() -> u64 {
    time::micros()
}

#[no_mangle]
pub extern "C" fn cpu_wait_irq() {
    crate::arch::cpu::wait_for_interrupt();
}

/// # Safety
/// `compatible` NUL-terminated; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn dt_find_compatible(
    compatible: *const u8,
    index: u32,
    out: *mut DtDevice,
) -> i32 {
    let (Some(compat), false) = (cstr_name(compatible), out.is_null()) else {
        return -errno::EINVAL;
    };
    let Some(d) = crate::machine::devices()
        .iter()
        .filter(|d| d.is_compatible(&compat))
        .nth(index as usize)
    else {
        return -errno::ENODEV;
    };
    let mut dev = DtDevice::default();
    for (i, r) in d.regs().iter().take(4).enumerate() {
        dev.reg_base[i] = r.start;
        dev.reg_size[i] = r.size();
    }
    dev.nregs = d.regs().len().min(4) as u32;
    for (i, irq) in d.irqs().iter().take(4).enumerate() {
        dev.irqs[i] = *irq;
    }
    dev.nirqs = d.irqs().len().min(4) as u32;
    let n = d.name.len().min(dev.name.len() - 1);
    dev.name[..n].copy_from_slice(&d.name.as_bytes()[..n]);
    // SAFETY: the caller passes a writable DtDevice.
    unsafe { *out = dev };
    0
}

/// # Safety
/// `desc` points to a valid `DeviceDesc` whose `ops` and `name` are valid.
#[no_mangle]
pub unsafe extern "C" fn register_device(
    owner_ptr: *const ThisModule,
    desc: *const DeviceDesc,
) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    if desc.is_null() {
        return -errno::EINVAL;
    }
    // SAFETY: the caller passes a valid descriptor.
    let d = unsafe { &*desc };
    let Some(name) = cstr_name(d.name) else {
        return -errno::EINVAL;
    };
    let kind = match d.kind {
        0 => DeviceKind::Char,
        1 => DeviceKind::Tty,
        2 => DeviceKind::Block,
        _ => return -errno::EINVAL,
    };
    let ops = if d.ops.is_null() {
        Ops::default()
    } else {
        // SAFETY: a non-null ops table from the module.
        let o = unsafe { &*d.ops };
        Ops {
            open: o.open.map(|f| f as usize),
            release: o.release.map(|f| f as usize),
            read: o.read.map(|f| f as usize),
            write: o.write.map(|f| f as usize),
            flush: o.flush.map(|f| f as usize),
        }
    };
    match kobject::register(
        name,
        Kind::Device(kind),
        Some(m),
        ops,
        d.ctx as usize,
        d.size,
    ) {
        Ok(o) => o.id as i32,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn unregister_device(owner_ptr: *const ThisModule, id: i32) -> i32 {
    let Some(m) = owner(owner_ptr) else {
        return -errno::EINVAL;
    };
    match kobject::unregister(id as u32, Some(&m)) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn request_module(device: *const u8, alias: *const u8) -> i32 {
    let (Some(device), Some(alias)) = (cstr_name(device), cstr_name(alias)) else {
        return -errno::EINVAL;
    };
    crate::kmod::request(&device, &alias);
    0
}

/// # Safety
/// `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tty_receive(
    owner_ptr: *const ThisModule,
    id: i32,
    buf: *const u8,
    len: usize,
) {
    // One console input queue serves every tty for now; `id` will pick the
    // tty's own queue when there is more than one.
    if buf.is_null() || owner(owner_ptr).is_none() || id <= 0 {
        return;
    }
    // SAFETY: the driver passes a buffer valid for `len` bytes (bounded).
    let bytes = unsafe { core::slice::from_raw_parts(buf, len.min(4096)) };
    crate::console::receive(bytes);
}

/// # Safety
/// `msg` valid for `len` bytes; called from a module's panic handler.
#[no_mangle]
pub unsafe extern "C" fn module_panic(owner_ptr: *const ThisModule, msg: *const u8, len: usize) {
    let name = owner(owner_ptr)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| String::from("?"));
    let bytes = if msg.is_null() {
        &[][..]
    } else {
        // SAFETY: as for printk: the caller passes a buffer valid for `len`.
        unsafe { core::slice::from_raw_parts(msg, len.min(512)) }
    };
    crate::klog::oops::module_panic_report(
        &name,
        core::str::from_utf8(bytes).unwrap_or("<invalid UTF-8>"),
    );
    if let Some(m) = owner(owner_ptr) {
        m.refs.set_failed();
    }
    drop(name);
    // SAFETY: we are inside the module call that panicked; everything this
    // function owned has been dropped above.
    unsafe { crate::arch::modcall::abandon() }
}

#[no_mangle]
pub extern "C" fn panic_notifier_register(owner_ptr: *const ThisModule, func: PanicNotifier) {
    if let Some(m) = owner(owner_ptr) {
        crate::klog::oops::panic_notifier_add(func as usize, m.text);
    }
}
