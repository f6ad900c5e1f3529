//! Capability `gpio` (board hosts, `palisade-mcu`): drive and read the pins the board allows.

use crate::error::CapError;
use crate::sys;

/// Drives `pin` high (`true`) or low.
///
/// # Errors
///
/// [`CapError::Denied`] for a pin outside the guest's allowlist, [`CapError::Invalid`] for an
/// unknown pin.
pub fn write(pin: u32, high: bool) -> Result<(), CapError> {
    // SAFETY: no pointers.
    CapError::check(unsafe { sys::gpio_write(pin as i32, i32::from(high)) }).map(drop)
}

/// Reads `pin`: `true` for high.
///
/// # Errors
///
/// As [`write()`].
pub fn read(pin: u32) -> Result<bool, CapError> {
    // SAFETY: no pointers.
    CapError::check(unsafe { sys::gpio_read(pin as i32) }).map(|level| level != 0)
}
