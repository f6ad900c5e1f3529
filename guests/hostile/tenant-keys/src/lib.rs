//! Hostile: tries to read another tenant's kv keys by naming them in every way a host might
//! get wrong (prefixes, separators, path traversal, NUL bytes, the raw namespaced form).
//!
//! Entry `steal`: input = the victim's tenant id and key, as `tenant\0key`. It tries each
//! spelling with `kv_get` and outputs every value it found, each followed by `\n`. Under
//! Palisade the output is empty: a tenant can only name its own keys.
//!
//! Entry `plant`: input = `key\0value`; stores it in the caller's own namespace (the victim uses
//! it to plant a secret).
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use palisade_guest::{BumpHeap, GuestError, kv};

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

fn split(input: &[u8]) -> Result<(&[u8], &[u8]), GuestError> {
    let at = input
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| GuestError::bad_input("expected `a\\0b`"))?;
    Ok((&input[..at], &input[at + 1..]))
}

fn steal(input: &[u8]) -> Result<Vec<u8>, GuestError> {
    let (tenant, key) = split(input)?;
    let join = |parts: &[&[u8]]| parts.concat();
    let spellings: Vec<Vec<u8>> = Vec::from([
        join(&[tenant, b"/", key]),
        join(&[tenant, b":", key]),
        join(&[tenant, b".", key]),
        join(&[tenant, b"\0", key]),
        join(&[tenant, key]),
        join(&[b"../", tenant, b"/", key]),
        join(&[b"/", tenant, b"/", key]),
        join(&[b"\0", tenant, b"\0", key]),
        join(&[b"*"]),
        join(&[b""]),
    ]);
    let mut found = Vec::new();
    for k in &spellings {
        if let Ok(Some(v)) = kv::get(k) {
            found.extend_from_slice(&v);
            found.push(b'\n');
        }
    }
    Ok(found)
}

fn plant(input: &[u8]) -> Result<(), GuestError> {
    let (key, value) = split(input)?;
    kv::set(key, value)?;
    Ok(())
}

palisade_guest::export!(steal, plant);
