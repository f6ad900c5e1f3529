//! Hostile: tries to keep state between calls in a static and in the heap, to leak data from one
//! call (or tenant) to the next.
//!
//! Entry `remember`: stores its input in a static, bumps a counter, and outputs
//! `counter (u32 LE) ++ previous input`. Under Palisade every call gets a fresh instance, so the
//! output is always `1u32 ++ []`: nothing survives.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use palisade_guest::BumpHeap;

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

static CALLS: AtomicU32 = AtomicU32::new(0);
static PREVIOUS_PTR: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_LEN: AtomicUsize = AtomicUsize::new(0);

fn remember(input: &[u8]) -> Vec<u8> {
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let mut out = Vec::from(calls.to_le_bytes());
    let (ptr, len) = (
        PREVIOUS_PTR.load(Ordering::Relaxed),
        PREVIOUS_LEN.load(Ordering::Relaxed),
    );
    if ptr != 0 {
        // SAFETY: only if a previous call in this same instance stored a leaked buffer here.
        out.extend_from_slice(unsafe { core::slice::from_raw_parts(ptr as *const u8, len) });
    }
    let kept: &'static [u8] = Vec::from(input).leak();
    PREVIOUS_PTR.store(kept.as_ptr() as usize, Ordering::Relaxed);
    PREVIOUS_LEN.store(kept.len(), Ordering::Relaxed);
    out
}

palisade_guest::export!(remember);
