//! The scenario harness compiled out (a product build, without feature `scenarios`): the same
//! interface as `scenario.rs`, with nothing to read and nothing to check, so the control loop
//! runs forever and the checks, the reference models and the run statistics cost no flash.

use core::time::Duration;

use palisade::CallReport;

/// The semihosting exit code of a run (only setup failures and faults end a product run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
#[repr(u8)]
pub enum Verdict {
    /// The loop ended (it does not without a scenario).
    Pass = 0,
    /// A tick overran its period (never checked without a scenario).
    Period = 4,
    /// The firmware could not set itself up.
    Setup = 6,
    /// The firmware panicked.
    Panic = 101,
    /// A hard fault.
    HardFault = 102,
}

/// No scenario: no tick count, the firmware's own defaults.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Always `None`: run forever.
    pub ticks: Option<u32>,
    /// Always `None`: the firmware's default.
    pub fuel: Option<u64>,
    /// Always `None`: the firmware's default.
    pub deadline: Option<Duration>,
    /// Always `None`: the firmware's default.
    pub period: Option<Duration>,
}

/// One tick, as the loop saw it.
#[expect(
    missing_docs,
    reason = "the same fields as the harness's `Tick`, documented there"
)]
pub struct Tick {
    pub k: u32,
    pub reading: i32,
    pub leds: u32,
    pub expected_heater: bool,
    pub expected_guest: u32,
    pub report: Option<CallReport>,
    pub lateness: Duration,
    pub first: bool,
}

/// No reference model without a scenario.
pub fn thermostat(_reading: i32, heater: bool) -> bool {
    heater
}

/// No reference model without a scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuestModel;

impl GuestModel {
    /// Unchanged.
    pub fn step(self, _temp: i32) -> Self {
        self
    }

    /// No LED bits.
    pub fn leds(self) -> u32 {
        0
    }
}

impl Scenario {
    /// No descriptor is read.
    pub fn read(_addr: usize) -> Self {
        Self {
            ticks: None,
            fuel: None,
            deadline: None,
            period: None,
        }
    }

    /// Nothing to check.
    pub fn check_source(&self, _slot: Option<&str>) -> Result<(), Verdict> {
        Ok(())
    }

    /// Nothing to check.
    pub fn check_tick(
        &self,
        _t: &Tick,
        _period: Duration,
        _memory_cap: usize,
    ) -> Result<(), Verdict> {
        Ok(())
    }
}

/// No statistics without a scenario.
#[derive(Default)]
pub struct Stats;

impl Stats {
    /// Nothing recorded.
    pub fn record(&mut self, _t: &Tick, _heap_peak: usize, _heap_used: usize) {}

    /// Nothing printed.
    pub fn print(
        &self,
        _heap_before_load: usize,
        _waited: Duration,
        _elapsed: Duration,
        _stack_high_water: usize,
    ) {
    }
}
