//! The threat model of `docs/THREATS.md`, one file per threat. Every test runs a hostile guest
//! from `palisade-guest-artifacts`, asserts the exact error kind, and then asserts that the same
//! runtime and tenant still serve a good guest correctly.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation fails the test"
)]

mod amplification;
mod cpu;
mod escape;
mod every_guest;
mod exfiltration;
mod memory;
mod read_data;
mod supply_chain;
mod wasi;
