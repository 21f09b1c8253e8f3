//! The load step makes no allocation per relocation: loading an object with 16 times
//! more relocations performs exactly as many allocations.

mod elfgen;

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use elfgen::*;
use modloader::{Layout, Object, Region, Regions, RelocKind};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_to_load(calls: usize) -> usize {
    let mut o = ObjBuilder::new();
    let text = o.text(&vec![0x9400_0000; calls]);
    let f = o.undefined("far_away");
    let g = o.undefined("near");
    for i in 0..calls {
        let sym = if i % 2 == 0 { f } else { g };
        o.rela(text, 4 * i as u64, sym, RelocKind::Call26.raw(), 0);
    }
    let obj = o.build();
    let object = Object::parse(&obj).unwrap();
    let layout = Layout::plan(&object).unwrap();
    let mut text = vec![0u8; layout.text.size as usize];
    let (mut r, mut d) = (Vec::new(), Vec::new());
    let mut resolver = |n: &str| {
        Some(if n == "near" {
            0x4000_1000
        } else {
            0x9000_0000
        })
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let regions = Regions {
        text: Region {
            base: 0x4000_0000,
            bytes: &mut text,
        },
        rodata: Region {
            base: 0x5000_0000,
            bytes: &mut r,
        },
        data: Region {
            base: 0x6000_0000,
            bytes: &mut d,
        },
    };
    let module = object.load(&layout, regions, &mut resolver).unwrap();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(module.stats.relocation_total(), calls as u64);
    assert_eq!(module.stats.veneers, 1);
    after - before
}

#[test]
fn load_allocates_nothing_per_relocation() {
    assert_eq!(allocations_to_load(64), allocations_to_load(1024));
}
