//! The simulated sensor every QEMU board reads (neither machine models a thermometer).

use palisade_mcu::{Sensor, SensorError};

/// A simulated thermometer on channel 0: a triangle wave from 18.0 °C up to 26.0 °C and back,
/// 0.5 °C per tick (milli-degrees), advanced by the control loop once per period.
#[derive(Debug, Default)]
pub struct SimThermometer {
    tick: u32,
}

impl SimThermometer {
    /// The reading at tick `k`.
    pub const fn reading_at(k: u32) -> i32 {
        let phase = (k % 32) as i32;
        let step = if phase <= 16 { phase } else { 32 - phase };
        18_000 + 500 * step
    }

    /// Moves to tick `k`.
    pub fn set_tick(&mut self, k: u32) {
        self.tick = k;
    }
}

impl Sensor for SimThermometer {
    fn read(&mut self, channel: u32) -> Result<i32, SensorError> {
        match channel {
            0 => Ok(Self::reading_at(self.tick)),
            _ => Err(SensorError::NoSuchChannel),
        }
    }
}
