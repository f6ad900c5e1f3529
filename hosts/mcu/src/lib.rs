//! # palisade-mcu
//!
//! Palisade on microcontrollers (`no_std` + `alloc`): the board capabilities of
//! `docs/ABI.md` §4 over embedded-hal 1.0, a monotonic clock for deadlines, guest logs to defmt,
//! and a reader for rule bundles kept in a flash region.
//!
//! | item | what it gives a board |
//! |---|---|
//! | [`Gpio`] | capability `gpio`: `gpio_write` / `gpio_read` over `OutputPin` / `InputPin`, with a pin allowlist per guest |
//! | [`Sensors`] | capability `sensor`: `sensor_read` over the board's [`Sensor`] |
//! | [`TimerClock`] | a [`palisade::Clock`] over the board's [`MonotonicTimer`] (call deadlines) |
//! | [`BundleSlot`] | a rule bundle in a flash region: verified (digest, ed25519 signature) before it is compiled; [`load_first_good`] falls back slot by slot |
//! | `DefmtLog` | (feature `defmt`) a [`palisade::LogSink`] that sends guest lines to defmt, escaped |
//! | [`LogLine`] | a guest message escaped into a fixed stack buffer (what `DefmtLog` prints) |
//!
//! Configuration lives in fixed-capacity `heapless` tables; pins are boxed once when a board
//! configures them; no host function allocates.
//!
//! ```
//! # extern crate alloc;
//! use alloc::sync::Arc;
//! use core::convert::Infallible;
//! use palisade::{ManualClock, Runtime};
//! use palisade_mcu::{Gpio, PinSet, Sensor, SensorError, Sensors};
//!
//! struct Led;
//! impl embedded_hal::digital::ErrorType for Led { type Error = Infallible; }
//! impl embedded_hal::digital::OutputPin for Led {
//!     fn set_low(&mut self) -> Result<(), Infallible> { Ok(()) }
//!     fn set_high(&mut self) -> Result<(), Infallible> { Ok(()) }
//! }
//! struct Thermometer;
//! impl Sensor for Thermometer {
//!     fn read(&mut self, channel: u32) -> Result<i32, SensorError> {
//!         if channel == 0 { Ok(21_500) } else { Err(SensorError::NoSuchChannel) }
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpio: Gpio = Gpio::new();
//! gpio.add_output(0, Led).map_err(|e| format!("{e:?}"))?;
//! gpio.allow("thermostat", PinSet::of(&[0])).map_err(|e| format!("{e:?}"))?;
//! let sensors = Sensors::new(Thermometer);
//!
//! let builder = Runtime::builder(Arc::new(ManualClock::new()));
//! let runtime = sensors.register(gpio.register(builder)).build()?;
//! let tenant = runtime.tenant("thermostat").grant("gpio").grant("sensor").build()?;
//! # let _ = tenant;
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! | feature | default | effect |
//! |---|---|---|
//! | `defmt` | no | `DefmtLog`, and `defmt::Format` on this crate's types |
//!
//! ## Targets
//!
//! Builds for `thumbv7em-none-eabihf`, `thumbv7m-none-eabi` and `riscv32imac-unknown-none-elf`.
//! Not for `thumbv6m` (Cortex-M0): wasmi needs atomic compare-and-swap.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

mod bundle;
mod clock;
pub mod gpio;
#[cfg(feature = "defmt")]
mod log;
mod log_line;
pub mod sensor;

pub use bundle::{BundleSlot, FlashBundle, LoadError, load_first_good};
pub use clock::{MonotonicTimer, TimerClock, Widen32, ticks_to_nanos};
pub use gpio::{Gpio, GpioError, PinSet};
#[cfg(feature = "defmt")]
pub use log::DefmtLog;
pub use log_line::{LOG_LINE_BYTES, LOG_LINE_CAPACITY, LogLine};
pub use sensor::{Sensor, SensorError, Sensors};

#[cfg(test)]
mod tests;
