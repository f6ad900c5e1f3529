//! Stack painting: the stack region is filled with a pattern at boot, and the deepest word no
//! longer holding it after the run is the stack's high-water mark.

use core::ptr::{read_volatile, write_volatile};

const PAINT: u32 = 0x5AA5_5AA5;

/// Paints from `bottom` up to 1 KiB below the current stack pointer (the live frames above
/// are left alone).
#[inline(never)]
pub fn paint(bottom: usize) {
    let marker = 0u8;
    let here = core::ptr::addr_of!(marker) as usize;
    let end = here.saturating_sub(1024) & !3;
    let mut p = (bottom + 3) & !3;
    while p < end {
        // SAFETY: `[bottom, end)` is unused stack below every live frame (Board::stack).
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of the stack below `top` that were ever used since [`paint`].
pub fn high_water(bottom: usize, top: usize) -> usize {
    let mut p = (bottom + 3) & !3;
    // SAFETY: the stack region is mapped RAM (Board::stack).
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
