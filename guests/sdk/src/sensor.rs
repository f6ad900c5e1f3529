//! Capability `sensor` (board hosts, `palisade-mcu`): read a sensor channel.

use crate::error::CapError;
use crate::sys;

/// Reads `channel`: a value in milli-units (for a temperature sensor, milli-degrees Celsius).
///
/// # Errors
///
/// [`CapError::Invalid`] for an unknown channel.
pub fn read(channel: u32) -> Result<i32, CapError> {
    let mut value = 0i32;
    let ptr = core::ptr::addr_of_mut!(value) as usize as i32;
    // SAFETY: `ptr` is a live, exclusive, aligned `i32`.
    CapError::check(unsafe { sys::sensor_read(channel as i32, ptr) })?;
    Ok(value)
}
