//! The global allocator: a linked-list heap in RAM, wrapped to count bytes in use, the
//! high-water mark, and what the live allocations were at that mark by size class (the figures
//! docs/EMBEDDED.md reports).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Heap size: 32 KiB. The scenarios' largest heap high-water is the Rust thermostat guest's,
/// 23,645 B (docs/EMBEDDED.md); the rest, 9,123 B (28 %), is margin for allocator fragmentation
/// and rules with more functions. It is what lets the Cortex-M4 firmware fit 64 KiB of RAM
/// (boards/mps2-an386/memory.x).
pub const HEAP_BYTES: usize = 32 * 1024;

/// Upper bounds (inclusive) of the size classes the heap counts by; the last class takes the
/// rest.
pub const SIZE_CLASSES: [usize; 6] = [16, 64, 256, 1024, 4096, usize::MAX];

const CLASSES: usize = SIZE_CLASSES.len();

/// Live bytes and allocations of one size class.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassUse {
    /// Bytes in live allocations of this class.
    pub bytes: usize,
    /// Live allocations of this class.
    pub count: usize,
}

/// A heap that counts.
pub struct CountingHeap {
    heap: LlffHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
    live_bytes: [AtomicUsize; CLASSES],
    live_count: [AtomicUsize; CLASSES],
    peak_bytes: [AtomicUsize; CLASSES],
    peak_count: [AtomicUsize; CLASSES],
}

fn class_of(size: usize) -> usize {
    SIZE_CLASSES
        .iter()
        .position(|&max| size <= max)
        .unwrap_or(CLASSES - 1)
}

impl CountingHeap {
    /// An uninitialised heap.
    pub const fn empty() -> Self {
        Self {
            heap: LlffHeap::empty(),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            live_bytes: [const { AtomicUsize::new(0) }; CLASSES],
            live_count: [const { AtomicUsize::new(0) }; CLASSES],
            peak_bytes: [const { AtomicUsize::new(0) }; CLASSES],
            peak_count: [const { AtomicUsize::new(0) }; CLASSES],
        }
    }

    /// Hands the heap its memory. Call once, before the first allocation.
    pub fn init(&self) {
        static mut MEMORY: [u8; HEAP_BYTES] = [0; HEAP_BYTES];
        // SAFETY: called once at startup; MEMORY is used by nothing else.
        unsafe {
            self.heap
                .init(core::ptr::addr_of_mut!(MEMORY) as usize, HEAP_BYTES)
        }
    }

    /// Bytes allocated now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Most bytes ever allocated at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// The live allocations by size class ([`SIZE_CLASSES`]) at the high-water mark.
    pub fn at_peak(&self) -> [ClassUse; CLASSES] {
        core::array::from_fn(|c| ClassUse {
            bytes: self.peak_bytes[c].load(Ordering::Relaxed),
            count: self.peak_count[c].load(Ordering::Relaxed),
        })
    }
}

// SAFETY: forwards to LlffHeap, which is a correct allocator; the counters are only statistics
// (the firmware is single-threaded and allocates from no interrupt, so plain loads and stores
// between the atomic updates do not race).
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let c = class_of(layout.size());
            self.live_bytes[c].fetch_add(layout.size(), Ordering::Relaxed);
            self.live_count[c].fetch_add(1, Ordering::Relaxed);
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            if used > self.peak.load(Ordering::Relaxed) {
                self.peak.store(used, Ordering::Relaxed);
                for c in 0..CLASSES {
                    let (b, n) = (&self.live_bytes[c], &self.live_count[c]);
                    self.peak_bytes[c].store(b.load(Ordering::Relaxed), Ordering::Relaxed);
                    self.peak_count[c].store(n.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { self.heap.dealloc(ptr, layout) };
        let c = class_of(layout.size());
        self.live_bytes[c].fetch_sub(layout.size(), Ordering::Relaxed);
        self.live_count[c].fetch_sub(1, Ordering::Relaxed);
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}
