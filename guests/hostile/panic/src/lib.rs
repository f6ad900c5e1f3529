//! Hostile (or merely buggy): panics. The SDK's panic handler turns the panic into the guest
//! error `101` (`code::PANIC`) with a message naming the location, never undefined behaviour.
//!
//! Entry `explode`: panics with the message `boom`. Entry `index`: indexes past the end of its
//! input (a bounds-check panic).
#![no_std]

use palisade_guest::BumpHeap;

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

fn explode(_input: &[u8]) -> &'static [u8] {
    panic!("boom")
}

fn index(input: &[u8]) -> &'static [u8] {
    let i = input.len() + 7;
    if input[i] == 0 { b"zero" } else { b"nonzero" }
}

palisade_guest::export!(explode, index);
