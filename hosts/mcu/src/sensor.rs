//! The `sensor` capability: `sensor_read` over a small trait the board implements.

use alloc::sync::Arc;

use palisade::capability::code;
use palisade::wasmi::{self, Caller};
use palisade::{CallState, RuntimeBuilder, charge, guest_bytes_mut};

/// The capability name guests are granted (`docs/ABI.md` §4).
pub const CAPABILITY: &str = "sensor";

/// Fuel price of `sensor_read` (`docs/ABI.md` §4).
pub const PRICE: u64 = 50;

/// Why a sensor read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SensorError {
    /// The board has no such channel: the guest gets `INVALID`.
    NoSuchChannel,
    /// The sensor failed (bus error, not ready): the guest gets `HOST` and may retry later.
    Failed,
}

/// A board's sensors, read by channel number. Readings are `i32` milli-units (milli-degrees,
/// millivolts, ...), as the guest sees them.
///
/// Implementations must not block for long: a guest blocked in the host burns no fuel, and
/// only the call's deadline bounds it.
pub trait Sensor: Send {
    /// Reads `channel`.
    ///
    /// # Errors
    ///
    /// [`SensorError::NoSuchChannel`] or [`SensorError::Failed`].
    fn read(&mut self, channel: u32) -> Result<i32, SensorError>;
}

/// A shared handle to the board's [`Sensor`], registered as the `sensor` capability.
pub struct Sensors<S: Sensor> {
    inner: Arc<spin::Mutex<S>>,
}

impl<S: Sensor> Clone for Sensors<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Sensor + 'static> Sensors<S> {
    /// Wraps the board's sensor.
    pub fn new(sensor: S) -> Self {
        Self {
            inner: Arc::new(spin::Mutex::new(sensor)),
        }
    }

    /// Runs `f` on the sensor (for the board: to advance a simulation, recalibrate, ...).
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.inner.lock())
    }

    /// Registers `sensor_read(channel, out_ptr) -> i32` under capability [`CAPABILITY`]: `0`
    /// and the reading written as a little-endian `i32` at `out_ptr`, `INVALID` for an unknown
    /// channel, `HOST` when the sensor failed. `out_ptr..out_ptr+4` outside guest memory traps
    /// with `GuestMemoryOutOfBounds` (checked before the sensor is touched).
    pub fn register(&self, builder: RuntimeBuilder) -> RuntimeBuilder {
        let me = self.clone();
        builder.host_func(
            CAPABILITY,
            "sensor_read",
            move |mut caller: Caller<'_, CallState>,
                  channel: i32,
                  out_ptr: i32|
                  -> Result<i32, wasmi::Error> {
                charge(&mut caller, PRICE)?;
                let (out, _) = guest_bytes_mut(&mut caller, out_ptr, 4)?;
                let Ok(channel) = u32::try_from(channel) else {
                    return Ok(code::INVALID);
                };
                Ok(match me.inner.lock().read(channel) {
                    Ok(value) => {
                        out.copy_from_slice(&value.to_le_bytes());
                        0
                    }
                    Err(SensorError::NoSuchChannel) => code::INVALID,
                    Err(SensorError::Failed) => code::HOST,
                })
            },
        )
    }
}
