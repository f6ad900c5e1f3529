//! The global allocator: a linked-list heap in RAM, wrapped to count bytes in use and the
//! high-water mark (the figure docs/EMBEDDED.md reports).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Heap size. The thermostat rule needs far less (see docs/EMBEDDED.md); the rest is margin
/// for rules with more functions.
pub const HEAP_BYTES: usize = 64 * 1024;

/// A heap that counts.
pub struct CountingHeap {
    heap: LlffHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl CountingHeap {
    /// An uninitialised heap.
    pub const fn empty() -> Self {
        Self {
            heap: LlffHeap::empty(),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
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
}

// SAFETY: forwards to LlffHeap, which is a correct allocator; the counters are only statistics.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { self.heap.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}
