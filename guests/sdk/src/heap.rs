//! Bump allocators. Every call gets a fresh instance that is dropped afterwards, so freeing is
//! pointless: a bump pointer is the smallest and fastest allocator that fits the ABI.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

const WASM_PAGE: usize = 65_536;

unsafe extern "C" {
    /// Defined by the linker: the first byte after static data and the stack.
    static __heap_base: u8;
}

fn align_up(addr: usize, align: usize) -> Option<usize> {
    addr.checked_add(align - 1).map(|a| a & !(align - 1))
}

/// A bump allocator from the end of static data up through linear memory, growing memory in
/// 64 KiB pages as needed. `dealloc` reclaims only the most recent allocation, and `realloc` of
/// the most recent allocation grows in place (so a growing `Vec` does not leak copies).
///
/// For guests linked with the default 64 KiB page size. Guests linked with custom page sizes
/// (`--page-size=1`) use [`StaticHeap`].
pub struct BumpHeap {
    /// The next free address; `0` until first use.
    next: AtomicUsize,
    /// The start of the most recent allocation.
    last: AtomicUsize,
}

impl BumpHeap {
    /// A heap that starts at the linker's `__heap_base`.
    pub const fn new() -> Self {
        Self {
            next: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    fn ensure(end: usize) -> bool {
        let have = core::arch::wasm32::memory_size(0).saturating_mul(WASM_PAGE);
        if end <= have {
            return true;
        }
        let pages = (end - have).div_ceil(WASM_PAGE);
        core::arch::wasm32::memory_grow(0, pages) != usize::MAX
    }
}

impl Default for BumpHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: wasm32 guests are single-threaded; the atomics are plain loads and stores.
unsafe impl GlobalAlloc for BumpHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut next = self.next.load(Ordering::Relaxed);
        if next == 0 {
            next = ptr::addr_of!(__heap_base) as usize;
        }
        let Some(start) = align_up(next, layout.align()) else {
            return ptr::null_mut();
        };
        let Some(end) = start.checked_add(layout.size()) else {
            return ptr::null_mut();
        };
        if !Self::ensure(end) {
            return ptr::null_mut();
        }
        self.next.store(end, Ordering::Relaxed);
        self.last.store(start, Ordering::Relaxed);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        if ptr as usize == self.last.load(Ordering::Relaxed) {
            self.next.store(ptr as usize, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start == self.last.load(Ordering::Relaxed) {
            let Some(end) = start.checked_add(new_size) else {
                return ptr::null_mut();
            };
            if !Self::ensure(end) {
                return ptr::null_mut();
            }
            self.next.store(end, Ordering::Relaxed);
            return ptr;
        }
        // SAFETY: as the default `realloc`: `new_size` and `layout.align()` form a valid layout.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}

/// A bump allocator over a fixed arena of `N` bytes in static data: memory never grows, so the
/// guest's whole footprint is what the linker declares. For small guests linked with custom page
/// sizes (the `thermostat` example runs in 4 KiB on a Cortex-M4 board).
pub struct StaticHeap<const N: usize> {
    arena: UnsafeCell<[u8; N]>,
    used: AtomicUsize,
}

impl<const N: usize> StaticHeap<N> {
    /// An empty arena.
    pub const fn new() -> Self {
        Self {
            arena: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
        }
    }
}

impl<const N: usize> Default for StaticHeap<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: wasm32 guests are single-threaded, and each allocation is a disjoint arena range.
unsafe impl<const N: usize> Sync for StaticHeap<N> {}

// SAFETY: returns disjoint, aligned ranges of the arena, or null when it is full.
unsafe impl<const N: usize> GlobalAlloc for StaticHeap<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.get() as usize;
        let used = self.used.load(Ordering::Relaxed);
        let Some(start) = base
            .checked_add(used)
            .and_then(|a| align_up(a, layout.align()))
        else {
            return ptr::null_mut();
        };
        let Some(end) = start.checked_add(layout.size()) else {
            return ptr::null_mut();
        };
        if end - base > N {
            return ptr::null_mut();
        }
        self.used.store(end - base, Ordering::Relaxed);
        start as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
