//! Kernel objects that modules provide: devices, IRQ handlers, timers; and the
//! handles through which the kernel reaches them.
//!
//! Every object names its owner module and carries its own user count
//! ([`kcore::refcount::ObjectCount`]): an [`ObjectRef`] is taken only while the
//! owner is LIVE (refused once `rmmod` has begun), and an object in use keeps
//! its owner loaded: `rmmod` counts the owner's objects in use and refuses at
//! any (the module's count is derived from its objects rather than taken on
//! every first reference; kcore::refcount has the handshake that makes that
//! safe on every CPU). An `ObjectRef` is the only way to
//! call a device's operations, so the kernel never calls into a module it does
//! not hold. Registration itself holds no module reference (or no module could
//! ever be unloaded); that is why a module's exit must unregister everything,
//! and why the kernel checks afterwards that it did: each object is entered in
//! its owner's ledger ([`Module::add_resource`]) while registered.
//!
//! Room `kobject` (also `devfs.rs`): uses `arch`, `sync`, `module`.

pub mod devfs;

use crate::module::{Module, Resource};
use crate::sync::IrqLock;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kabi::{errno, DeviceKind};
use kcore::refcount::{GetError, ModuleRef, ObjectCount, State};
use kcore::vecmap::VecMap;

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Device(DeviceKind),
    Irq(u32),
    Timer(i64),
    Work,
    /// A file system type (`register_filesystem`); `ctx` is its `FsOps`.
    Filesystem,
}

impl Kind {
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Device(DeviceKind::Char) => "chardev",
            Kind::Device(DeviceKind::Tty) => "tty",
            Kind::Device(DeviceKind::Block) => "blockdev",
            Kind::Irq(_) => "irq",
            Kind::Timer(_) => "timer",
            Kind::Work => "work",
            Kind::Filesystem => "filesystem",
        }
    }
}

/// Device operations copied from the module's `DeviceOps` at registration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ops {
    pub open: Option<usize>,
    pub release: Option<usize>,
    pub read: Option<usize>,
    pub write: Option<usize>,
    pub flush: Option<usize>,
}

pub struct KObject {
    pub id: u32,
    pub name: String,
    pub kind: Kind,
    pub owner: Option<Arc<Module>>,
    pub users: ObjectCount,
    pub ops: Ops,
    pub ctx: usize,
    pub size: u64,
    /// Calls made (IRQs handled, timer expiries).
    pub calls: AtomicU64,
    /// Holders of a [`WriteClaim`]: while non-zero, raw writes through devfs
    /// are refused (a mounted block device; Linux's BLK_DEV_WRITE_MOUNTED=n).
    write_claims: AtomicU32,
    /// Opens of the device not yet closed ([`open_device`] / [`close_device`]):
    /// `release` runs when the last one closes, decided atomically.
    opens: AtomicU32,
}

impl Resource for KObject {
    fn id(&self) -> u32 {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn label(&self) -> &'static str {
        self.kind.label()
    }
    fn users(&self) -> u32 {
        self.users.count()
    }
}

impl KObject {
    fn owner_ref(&self) -> Option<&ModuleRef> {
        self.owner.as_deref().map(|m| &m.refs)
    }
}

static OBJECTS: IrqLock<VecMap<u32, Arc<KObject>>> = IrqLock::new(VecMap::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Registers an object. Device names are unique (-EEXIST).
pub fn register(
    name: String,
    kind: Kind,
    owner: Option<Arc<Module>>,
    ops: Ops,
    ctx: usize,
    size: u64,
) -> Result<Arc<KObject>, i32> {
    let mut table = OBJECTS.lock();
    if matches!(kind, Kind::Device(_))
        && table
            .values()
            .any(|o| matches!(o.kind, Kind::Device(_)) && o.name == name)
    {
        return Err(-errno::EEXIST);
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let obj = Arc::new(KObject {
        id,
        name,
        kind,
        owner,
        users: ObjectCount::new(),
        ops,
        ctx,
        size,
        calls: AtomicU64::new(0),
        write_claims: AtomicU32::new(0),
        opens: AtomicU32::new(0),
    });
    table.insert(id, Arc::clone(&obj));
    if let Some(m) = &obj.owner {
        m.add_resource(Arc::clone(&obj) as Arc<dyn Resource>);
    }
    Ok(obj)
}

/// Unregisters object `id` if `owner` owns it and nobody uses it (-EBUSY).
pub fn unregister(id: u32, owner: Option<&Arc<Module>>) -> Result<Arc<KObject>, i32> {
    let mut table = OBJECTS.lock();
    let obj = table.get(&id).ok_or(-errno::ENOENT)?;
    let same_owner = match (&obj.owner, owner) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    if !same_owner {
        return Err(-errno::EPERM);
    }
    // GOING: `rmmod` found none of the module's objects in use, so any count
    // now is a get that is about to back off (kcore::refcount).
    let going = obj
        .owner
        .as_ref()
        .is_some_and(|m| m.state() == State::Going);
    obj.users.kill(going).map_err(|_| -errno::EBUSY)?;
    let obj = table.remove(&id).ok_or(-errno::ENOENT)?;
    if let Some(m) = &obj.owner {
        m.remove_resource(id);
    }
    Ok(obj)
}

/// Unregisters object `id` on behalf of the kernel, whoever owns it (a
/// one-shot timer that fired, a work item that ran); nothing if it is gone.
pub fn retire(id: u32) {
    let owner = OBJECTS.lock().get(&id).and_then(|o| o.owner.clone());
    let _ = unregister(id, owner.as_ref());
}

/// The object with id `id`, if registered.
pub fn get(id: u32) -> Option<Arc<KObject>> {
    OBJECTS.lock().get(&id).cloned()
}

/// Finds a device by name.
pub fn find_device(name: &str) -> Option<Arc<KObject>> {
    OBJECTS
        .lock()
        .values()
        .find(|o| matches!(o.kind, Kind::Device(_)) && o.name == name)
        .cloned()
}

/// Finds an object of `kind` owned by `owner`.
pub fn find(kind: Kind, owner: &Arc<Module>) -> Option<Arc<KObject>> {
    OBJECTS
        .lock()
        .values()
        .find(|o| o.kind == kind && o.owner.as_ref().is_some_and(|m| Arc::ptr_eq(m, owner)))
        .cloned()
}

/// Counts one call (IRQ handled, timer expiry) of object `id`.
pub fn count_call(id: u32) {
    if let Some(o) = OBJECTS.lock().get(&id) {
        o.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// All objects, in registration order.
pub fn all() -> Vec<Arc<KObject>> {
    OBJECTS.lock().values().cloned().collect()
}

/// The names of the objects of `kind`, in registration order (without
/// cloning every object, as `all` would: boot asks this with none).
pub fn names_of_kind(kind: kabi::DeviceKind) -> Vec<alloc::string::String> {
    OBJECTS
        .lock()
        .values()
        .filter(|o| matches!(o.kind, Kind::Device(k) if k == kind))
        .map(|o| o.name.clone())
        .collect()
}

/// A counted reference to an object; dropping it releases the count (and, for
/// the last one, the module reference).
pub struct ObjectRef {
    obj: Arc<KObject>,
}

impl ObjectRef {
    pub fn get(obj: &Arc<KObject>) -> Result<ObjectRef, GetError> {
        obj.users.get(obj.owner_ref())?;
        Ok(ObjectRef {
            obj: Arc::clone(obj),
        })
    }

    pub fn object(&self) -> &Arc<KObject> {
        &self.obj
    }
}

impl Drop for ObjectRef {
    fn drop(&mut self) {
        self.obj.users.put();
    }
}

impl KObject {
    /// Whether someone (a mounted file system) owns all writes to it.
    pub fn writes_claimed(&self) -> bool {
        self.write_claims.load(Ordering::Acquire) != 0
    }
}

/// Exclusive ownership of a device's writes, held by a mounted file system:
/// while it lives, raw writes through devfs get -EBUSY, so nothing the shell
/// offers can overwrite a mounted disk under its file system.
pub struct WriteClaim {
    obj: Arc<KObject>,
}

impl WriteClaim {
    pub fn new(obj: &Arc<KObject>) -> WriteClaim {
        obj.write_claims.fetch_add(1, Ordering::AcqRel);
        WriteClaim {
            obj: Arc::clone(obj),
        }
    }
}

impl Drop for WriteClaim {
    fn drop(&mut self) {
        self.obj.write_claims.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Calls operation `func` of `obj` (module code) with `args`, guarded: a fault
/// fails the call with -EFAULT and marks the module failed. The caller holds
/// an [`ObjectRef`] on `obj`, so its module is LIVE and the code mapped.
pub fn call_op(obj: &KObject, func: usize, args: [usize; 4]) -> i64 {
    let text = obj.owner.as_ref().map(|m| m.text).unwrap_or((0, 0));
    // SAFETY: `func` is one of the device's registered operations; the caller holds a reference, so the module is LIVE and its text mapped.
    match unsafe { crate::arch::modcall::call_guarded4(func, args, text) } {
        Ok(r) => r as i64,
        Err(crate::arch::modcall::Fault) => {
            if let Some(m) = &obj.owner {
                m.refs.set_failed();
            }
            -(errno::EFAULT as i64)
        }
    }
}

/// Opens device `obj`: takes a reference (refused once its module is going)
/// and calls its `open` operation; -errno if either fails.
pub fn open_device(obj: &Arc<KObject>) -> Result<ObjectRef, i32> {
    let handle = ObjectRef::get(obj).map_err(|e| match e {
        GetError::Gone => -errno::ENODEV,
        GetError::ModuleNotLive => -errno::EBUSY,
    })?;
    obj.opens.fetch_add(1, Ordering::AcqRel);
    if let Some(f) = obj.ops.open {
        let r = call_op(obj, f, [obj.ctx, 0, 0, 0]) as i32;
        if r < 0 {
            obj.opens.fetch_sub(1, Ordering::AcqRel);
            return Err(r);
        }
    }
    Ok(handle)
}

/// Closes an open of a device: the last close (counted atomically over every
/// CPU) calls its `release` operation, while the reference is still held.
pub fn close_device(handle: ObjectRef) {
    let obj = handle.object();
    if obj.opens.fetch_sub(1, Ordering::AcqRel) == 1 {
        if let Some(rel) = obj.ops.release {
            call_op(obj, rel, [obj.ctx, 0, 0, 0]);
        }
    }
    drop(handle);
}
