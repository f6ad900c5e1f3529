//! Capabilities `kv.read` and `kv.write`: a key-value store the host namespaces per tenant.
//!
//! Keys are at most [`MAX_KEY_BYTES`]; values at most the tenant's `kv_value_bytes`; a call may
//! write at most `kv_write_bytes` in total. A guest can never name another tenant's key.

use alloc::vec::Vec;

use crate::error::CapError;
use crate::sys;

/// Largest key in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// Reads `key` into `buf`: `Ok(Some(len))` with the value's full length (only
/// `min(len, buf.len())` bytes were written), or `Ok(None)` if the key does not exist.
///
/// # Errors
///
/// [`CapError::TooLarge`] for a key over [`MAX_KEY_BYTES`]; [`CapError::Host`] if the store failed.
pub fn get_into(key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, CapError> {
    let (kp, kl) = sys::raw(key);
    let (vp, vc) = sys::raw_mut(buf);
    // SAFETY: both regions are live borrows; the value region is exclusive.
    match CapError::check(unsafe { sys::kv_get(kp, kl, vp, vc) }) {
        Ok(len) => Ok(Some(len as usize)),
        Err(CapError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the whole value of `key`, or `None` if it does not exist.
///
/// # Errors
///
/// As [`get_into`].
pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, CapError> {
    let mut buf = Vec::new();
    loop {
        match get_into(key, &mut buf)? {
            None => return Ok(None),
            Some(len) if len <= buf.len() => {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            Some(len) => buf.resize(len, 0),
        }
    }
}

/// Stores `value` under `key`.
///
/// # Errors
///
/// [`CapError::TooLarge`] for a key or value over its limit, [`CapError::Quota`] when the
/// call's write budget or the tenant's quota is spent, [`CapError::Host`] if the store failed.
pub fn set(key: &[u8], value: &[u8]) -> Result<(), CapError> {
    let (kp, kl) = sys::raw(key);
    let (vp, vl) = sys::raw(value);
    // SAFETY: both regions are live borrows.
    CapError::check(unsafe { sys::kv_set(kp, kl, vp, vl) }).map(drop)
}

/// Deletes `key`; returns whether it existed.
///
/// # Errors
///
/// As [`set`].
pub fn delete(key: &[u8]) -> Result<bool, CapError> {
    let (kp, kl) = sys::raw(key);
    // SAFETY: the region is a live borrow.
    match CapError::check(unsafe { sys::kv_delete(kp, kl) }) {
        Ok(_) => Ok(true),
        Err(CapError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}
