//! # sha256: the SHA-256 digest of the input
//!
//! Entry point `digest`: input = any bytes; output = the 32-byte SHA-256 digest.
//! Entry point `hex`: the same digest as 64 lower-case hex characters.
//!
//! Needs no capability. Used by the benches with 1 KiB and 64 KiB inputs.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use palisade_guest::BumpHeap;
use sha2::{Digest, Sha256};

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

fn digest(input: &[u8]) -> Vec<u8> {
    Sha256::digest(input).to_vec()
}

fn hex(input: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(64);
    for b in Sha256::digest(input) {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
    out
}

palisade_guest::export!(digest, hex);
