//! [`OsRandom`]: the `random` capability over the operating system's generator.

use palisade::{RandomError, RandomSource};

/// A [`RandomSource`] over the operating system's cryptographic generator (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}
