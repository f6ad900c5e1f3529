//! Capability `random`: random bytes from the host's source.

use crate::error::CapError;
use crate::sys;

/// The most bytes one `random_fill` import call provides (larger requests are split by [`fill`]).
pub const MAX_CHUNK: usize = 4096;

/// Fills `buf` with random bytes (in chunks of [`MAX_CHUNK`]).
///
/// # Errors
///
/// [`CapError::Host`] if the host has no random source.
pub fn fill(buf: &mut [u8]) -> Result<(), CapError> {
    for chunk in buf.chunks_mut(MAX_CHUNK) {
        let (ptr, len) = sys::raw_mut(chunk);
        // SAFETY: the region is a live, exclusive borrow.
        CapError::check(unsafe { sys::random_fill(ptr, len) })?;
    }
    Ok(())
}

/// A random `u64`.
///
/// # Errors
///
/// As [`fill`].
pub fn u64() -> Result<u64, CapError> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
