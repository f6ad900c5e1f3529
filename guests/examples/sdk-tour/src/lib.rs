//! # sdk-tour: every `palisade-guest` wrapper a desktop or server host provides
//!
//! Capabilities needed: `clock`, `random`, `kv.read`, `kv.write` (each entry imports only what
//! it uses, but the module as a whole imports all four).
//!
//! | entry | input | output |
//! |---|---|---|
//! | `clock` | none | two readings of `clock::now_nanos`, `u64` LE each (the second ≥ the first) |
//! | `random` | a length, `u32` LE | that many random bytes (`random::fill` splits requests over 4096 bytes) |
//! | `kv_roundtrip` | a key | `1` if `set`/`get`/`delete`/`get` behaved (value back, then gone), and the key was absent before |
//! | `add` (postcard) | `(u32, u32)` | their sum as `u64` |
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use palisade_guest::{BumpHeap, GuestError, clock, kv, random};

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

fn clock(_input: &[u8]) -> Vec<u8> {
    let a = clock::now_nanos();
    let b = clock::now_nanos();
    let mut out = Vec::from(a.to_le_bytes());
    out.extend_from_slice(&b.to_le_bytes());
    out
}

fn random(input: &[u8]) -> Result<Vec<u8>, GuestError> {
    let len: [u8; 4] = input
        .try_into()
        .map_err(|_| GuestError::bad_input("expected a length (u32 LE)"))?;
    let mut buf = alloc::vec![0u8; u32::from_le_bytes(len) as usize];
    random::fill(&mut buf)?;
    Ok(buf)
}

fn kv_roundtrip(key: &[u8]) -> Result<&'static [u8], GuestError> {
    let absent_before = kv::get(key)?.is_none();
    kv::set(key, b"value")?;
    let back = kv::get(key)?;
    let existed = kv::delete(key)?;
    let gone = kv::get(key)?.is_none() && !kv::delete(key)?;
    let ok = absent_before && back.as_deref() == Some(&b"value"[..]) && existed && gone;
    Ok(if ok { b"1" } else { b"0" })
}

fn add((a, b): (u32, u32)) -> Result<u64, GuestError> {
    Ok(u64::from(a) + u64::from(b))
}

palisade_guest::export!(clock, random, kv_roundtrip);
palisade_guest::export_postcard!(add);
