//! QEMU test runs: a descriptor in flash turns the control loop into a scenario whose verdict
//! is the semihosting exit code (QEMU's exit code).
//!
//! The descriptor lies at the board's [`Layout::scenario`](crate::Layout) address, as
//! little-endian `u32` words (written by each board's run-scenarios.sh with QEMU's
//! `-device loader`): `"PLSC"`, ticks, expectation, fuel (0 = default), deadline µs (0 =
//! default), period µs (0 = default). Without the magic the firmware runs forever.

use core::time::Duration;

use palisade::{CallReport, Outcome};

/// The semihosting exit code of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
#[repr(u8)]
pub enum Verdict {
    /// Every tick met the expectation.
    Pass = 0,
    /// The LED register differs from what the rule should have driven.
    Leds = 2,
    /// A tick's outcome differs from the expectation.
    Outcome = 3,
    /// A tick started late by more than half a period, or ran longer than a period.
    Period = 4,
    /// The rule came from the wrong slot (or a refused bundle was accepted).
    Source = 5,
    /// The firmware could not set itself up.
    Setup = 6,
    /// The guest's memory exceeded its cap.
    Memory = 7,
    /// The firmware panicked.
    Panic = 101,
    /// A hard fault.
    HardFault = 102,
}

/// What a scenario expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum Expect {
    /// No descriptor: run forever, check nothing.
    Nothing,
    /// The thermostat rule from the active slot: every tick `Ok`, LEDs as the reference model.
    Thermostat,
    /// The active slot is refused; the thermostat rule runs from the fallback slot.
    Fallback,
    /// Every slot is refused: no rule, LEDs stay off.
    SafeDefault,
    /// Every tick is cut by fuel (`OutOfFuel`), LEDs stay off.
    CutByFuel,
    /// Every tick is cut by the deadline (`DeadlineExceeded`), LEDs stay off.
    CutByDeadline,
    /// Every tick's memory growth is refused at the cap; memory never exceeds it.
    MemoryCapped,
    /// The `thermostat` guest (guests/examples/thermostat, a pure rule): every tick `Ok`, the
    /// firmware drives LED 0 (heat) and LED 1 (cool) from its output as [`GuestModel`] says.
    GuestThermostat,
}

/// A decoded descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// What every tick must show.
    pub expect: Expect,
    /// Ticks to run (`None`: forever).
    pub ticks: Option<u32>,
    /// Fuel per tick instead of the firmware's default.
    pub fuel: Option<u64>,
    /// Deadline per tick instead of the firmware's default.
    pub deadline: Option<Duration>,
    /// Control period instead of the firmware's default.
    pub period: Option<Duration>,
}

/// One tick, as the loop saw it.
pub struct Tick {
    /// The tick's number, from 0.
    pub k: u32,
    /// The sensor reading the rule got (milli-°C).
    pub reading: i32,
    /// The LEDs read back from the board after the call (bits 0-1).
    pub leds: u32,
    /// Whether the reference thermostat's heater is on.
    pub expected_heater: bool,
    /// LED bits the `thermostat` guest should have produced.
    pub expected_guest: u32,
    /// The call's report (`None`: no rule runs).
    pub report: Option<CallReport>,
    /// How late the tick started after its due time.
    pub lateness: Duration,
    /// The first tick: it translates the rule's functions (lazy compilation) and, under
    /// QEMU, runs firmware code for the first time (TCG translation), so it may overrun.
    pub first: bool,
}

/// The reference thermostat: heater (LED 0) on below 20.5 °C, off above 21.5 °C, unchanged in
/// between; alarm (LED 1) above 25.0 °C.
pub fn thermostat(reading: i32, heater: bool) -> bool {
    if reading < 20_500 {
        true
    } else if reading > 21_500 {
        false
    } else {
        heater
    }
}

/// Reference model of guests/examples/thermostat with its default setpoint (21.0 °C,
/// hysteresis 0.5 °C): heating below 20.5 °C until 21.0 °C is reached, cooling above 21.5 °C
/// until 21.0 °C. Its LED bits: heat = bit 0, cool = bit 1 (the alarm flag, bit 2, has no LED
/// here and never fires between 18 and 26 °C).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuestModel {
    /// Neither heating nor cooling.
    #[default]
    Idle,
    /// Heating (LED 0).
    Heating,
    /// Cooling (LED 1).
    Cooling,
}

impl GuestModel {
    /// The next mode for `temp`.
    pub fn step(self, temp: i32) -> Self {
        const SET: i32 = 21_000;
        match self {
            Self::Heating if temp < SET => Self::Heating,
            Self::Cooling if temp > SET => Self::Cooling,
            _ if temp < SET - 500 => Self::Heating,
            _ if temp > SET + 500 => Self::Cooling,
            _ => Self::Idle,
        }
    }

    /// The LED bits.
    pub fn leds(self) -> u32 {
        match self {
            Self::Idle => 0,
            Self::Heating => 1,
            Self::Cooling => 2,
        }
    }
}

fn word(addr: usize, i: usize) -> u32 {
    // SAFETY: the descriptor lies in the always-mapped flash region.
    unsafe { core::ptr::read_volatile((addr + 4 * i) as *const u32) }
}

fn micros(w: u32) -> Option<Duration> {
    (w != 0).then(|| Duration::from_micros(u64::from(w)))
}

impl Scenario {
    /// Reads the descriptor at `addr`.
    pub fn read(addr: usize) -> Self {
        let none = Self {
            expect: Expect::Nothing,
            ticks: None,
            fuel: None,
            deadline: None,
            period: None,
        };
        if word(addr, 0) != u32::from_le_bytes(*b"PLSC") {
            return none;
        }
        let expect = match word(addr, 2) {
            1 => Expect::Thermostat,
            2 => Expect::Fallback,
            3 => Expect::SafeDefault,
            4 => Expect::CutByFuel,
            5 => Expect::CutByDeadline,
            6 => Expect::MemoryCapped,
            7 => Expect::GuestThermostat,
            _ => Expect::Nothing,
        };
        let fuel = word(addr, 3);
        Self {
            expect,
            ticks: Some(word(addr, 1)),
            fuel: (fuel != 0).then_some(u64::from(fuel) * 1000),
            deadline: micros(word(addr, 4)),
            period: micros(word(addr, 5)),
        }
    }

    /// Checks which slot the rule came from.
    pub fn check_source(&self, slot: Option<&str>) -> Result<(), Verdict> {
        let ok = match self.expect {
            Expect::Nothing => true,
            Expect::SafeDefault => slot.is_none(),
            Expect::Fallback => slot == Some("fallback"),
            _ => slot == Some("active"),
        };
        if ok { Ok(()) } else { Err(Verdict::Source) }
    }

    /// Checks one tick.
    pub fn check_tick(&self, t: &Tick, period: Duration, memory_cap: usize) -> Result<(), Verdict> {
        if self.expect == Expect::Nothing {
            return Ok(());
        }
        // The loop keeps its period: a tick starts within half a period of its due time, and
        // a cut rule returns well inside the period.
        let overran = t.report.is_some_and(|r| r.wall_time > period);
        if t.lateness > period / 2 || (overran && !t.first) {
            return Err(Verdict::Period);
        }
        if t.report.is_some_and(|r| r.memory_high_water > memory_cap) {
            return Err(Verdict::Memory);
        }
        let outcome = t.report.map(|r| r.outcome);
        match self.expect {
            Expect::Nothing => Ok(()),
            Expect::Thermostat | Expect::Fallback => {
                if outcome != Some(Outcome::Ok) {
                    return Err(Verdict::Outcome);
                }
                let want = u32::from(t.expected_heater) | (u32::from(t.reading > 25_000) << 1);
                if t.leds != want {
                    Err(Verdict::Leds)
                } else {
                    Ok(())
                }
            }
            Expect::GuestThermostat => {
                if outcome != Some(Outcome::Ok) {
                    Err(Verdict::Outcome)
                } else if t.leds != t.expected_guest {
                    Err(Verdict::Leds)
                } else {
                    Ok(())
                }
            }
            Expect::SafeDefault => {
                if t.leds != 0 {
                    Err(Verdict::Leds)
                } else if outcome.is_some() {
                    Err(Verdict::Outcome)
                } else {
                    Ok(())
                }
            }
            Expect::CutByFuel | Expect::CutByDeadline => {
                let want = if self.expect == Expect::CutByFuel {
                    Outcome::OutOfFuel
                } else {
                    Outcome::DeadlineExceeded
                };
                if outcome != Some(want) {
                    Err(Verdict::Outcome)
                } else if t.leds != 0 {
                    Err(Verdict::Leds)
                } else {
                    Ok(())
                }
            }
            Expect::MemoryCapped => {
                let capped = t.report.is_some_and(|r| r.memory_cap_hits > 0);
                if !capped || outcome != Some(Outcome::Ok) {
                    Err(Verdict::Outcome)
                } else if t.leds != 0 {
                    Err(Verdict::Leds)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Figures over a run, printed at the end (docs/EMBEDDED.md).
#[derive(Default)]
pub struct Stats {
    ticks: u32,
    fuel_min: u64,
    fuel_max: u64,
    wall_min_us: u64,
    wall_max_us: u64,
    late_max_us: u64,
    mem_max: usize,
    heap_peak: usize,
    heap_used: usize,
}

impl Stats {
    /// Adds a tick.
    pub fn record(&mut self, t: &Tick, heap_peak: usize, heap_used: usize) {
        if let Some(r) = t.report {
            let wall = r.wall_time.as_micros() as u64;
            if self.ticks == 0 {
                self.fuel_min = r.fuel_used;
                self.wall_min_us = wall;
            }
            self.fuel_min = self.fuel_min.min(r.fuel_used);
            self.fuel_max = self.fuel_max.max(r.fuel_used);
            self.wall_min_us = self.wall_min_us.min(wall);
            self.wall_max_us = self.wall_max_us.max(wall);
            self.mem_max = self.mem_max.max(r.memory_high_water);
        }
        self.late_max_us = self.late_max_us.max(t.lateness.as_micros() as u64);
        self.heap_peak = heap_peak;
        self.heap_used = heap_used;
        self.ticks += 1;
    }

    /// Prints the figures: `waited` of `elapsed` was spent waiting for the next period; the
    /// stack's high-water mark comes from the painted stack.
    pub fn print(
        &self,
        heap_before_load: usize,
        waited: Duration,
        elapsed: Duration,
        stack_high_water: usize,
    ) {
        defmt::info!(
            "{=u32} ticks: fuel/tick {=u64}..{=u64}, wall/tick {=u64}..{=u64} us, max lateness {=u64} us, guest memory max {=usize} B",
            self.ticks,
            self.fuel_min,
            self.fuel_max,
            self.wall_min_us,
            self.wall_max_us,
            self.late_max_us,
            self.mem_max
        );
        defmt::info!(
            "heap: high-water {=usize} B, in use {=usize} B (runtime before rule load {=usize} B)",
            self.heap_peak,
            self.heap_used,
            heap_before_load
        );
        for (max, c) in crate::SIZE_CLASSES.iter().zip(crate::HEAP.at_peak()) {
            defmt::info!(
                "heap at high-water, allocations <= {=usize} B: {=usize} B in {=usize}",
                *max,
                c.bytes,
                c.count
            );
        }
        let busy = elapsed.saturating_sub(waited);
        let permille = busy.as_micros() * 1000 / elapsed.as_micros().max(1);
        defmt::info!(
            "busy {=u64} of {=u64} us ({=u64} per mille of the periods); stack high-water {=usize} B",
            busy.as_micros() as u64,
            elapsed.as_micros() as u64,
            permille as u64,
            stack_high_water
        );
    }
}
