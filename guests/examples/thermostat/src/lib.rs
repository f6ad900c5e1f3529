//! # thermostat: a Palisade rule that runs unchanged on desktop, server and board
//!
//! A pure input → output rule: it reads a temperature from its INPUT, keeps its state in `kv`,
//! logs mode changes with `log`, and decides which outputs to drive. It imports nothing else
//! (no `sensor`, no `gpio`): the host feeds it the reading and drives the LEDs from its output,
//! so the same module runs everywhere.
//!
//! Capabilities needed: `log`, `kv.read`, `kv.write`.
//!
//! ## Entry point `decide`
//!
//! **Input** — 4 or 8 bytes:
//!
//! | bytes | type | meaning |
//! |---|---|---|
//! | 0..4 | `i32` little-endian | temperature in milli-degrees Celsius (`21500` = 21.5 °C) |
//! | 4..8 | `i32` little-endian, optional | setpoint in milli-degrees Celsius (default [`DEFAULT_SETPOINT`]) |
//!
//! Any other length is the guest error `2` (`BAD_INPUT`).
//!
//! **Output** — 1 byte of flags, one per LED:
//!
//! | bit | flag | meaning |
//! |---|---|---|
//! | 0 | [`HEAT`] | heating on (LED 0) |
//! | 1 | [`COOL`] | cooling on (LED 1) |
//! | 2 | [`ALARM`] | temperature outside 5–35 °C, or a jump of more than 5 °C since the last reading (LED 2) |
//!
//! **Rule** — hysteresis of ±[`HYSTERESIS`]: heating switches on below `setpoint - 0.5 °C` and
//! stays on until the setpoint is reached; cooling switches on above `setpoint + 0.5 °C` and stays
//! on until the setpoint is reached.
//!
//! **State** — key `thermostat` in the tenant's kv: 9 bytes, `mode: u8` (0 idle, 1 heating,
//! 2 cooling), `last: i32 LE` (the last reading), `readings: u32 LE`. A missing or malformed
//! value starts from idle.
//!
//! ## Memory
//!
//! Linked with 1-byte pages into exactly 4096 bytes of linear memory (2 KiB stack, static data, a
//! 256-byte heap arena for the input), which cannot grow: see `build.rs`.
#![no_std]

use palisade_guest::{GuestError, StaticHeap, kv, log};

#[global_allocator]
static HEAP: StaticHeap<256> = StaticHeap::new();
palisade_guest::panic_handler!();

/// Output flag: heating on.
pub const HEAT: u8 = 1 << 0;
/// Output flag: cooling on.
pub const COOL: u8 = 1 << 1;
/// Output flag: alarm.
pub const ALARM: u8 = 1 << 2;
/// Setpoint when the input gives none: 21 °C.
pub const DEFAULT_SETPOINT: i32 = 21_000;
/// Hysteresis around the setpoint: 0.5 °C.
pub const HYSTERESIS: i32 = 500;
/// Below this the alarm is raised: 5 °C.
pub const ALARM_LOW: i32 = 5_000;
/// Above this the alarm is raised: 35 °C.
pub const ALARM_HIGH: i32 = 35_000;
/// A change larger than this between two readings raises the alarm: 5 °C.
pub const ALARM_JUMP: i32 = 5_000;

const STATE_KEY: &[u8] = b"thermostat";

/// Every possible output, so that the output needs no allocation.
static OUTPUTS: [[u8; 1]; 8] = [[0], [1], [2], [3], [4], [5], [6], [7]];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle = 0,
    Heating = 1,
    Cooling = 2,
}

struct State {
    mode: Mode,
    last: i32,
    readings: u32,
}

impl State {
    fn load() -> Result<Self, GuestError> {
        let mut buf = [0u8; 9];
        let fresh = State {
            mode: Mode::Idle,
            last: 0,
            readings: 0,
        };
        if kv::get_into(STATE_KEY, &mut buf)? != Some(buf.len()) {
            return Ok(fresh);
        }
        let [m, l0, l1, l2, l3, r0, r1, r2, r3] = buf;
        let mode = match m {
            1 => Mode::Heating,
            2 => Mode::Cooling,
            _ => Mode::Idle,
        };
        Ok(State {
            mode,
            last: i32::from_le_bytes([l0, l1, l2, l3]),
            readings: u32::from_le_bytes([r0, r1, r2, r3]),
        })
    }

    fn store(&self) -> Result<(), GuestError> {
        let [l0, l1, l2, l3] = self.last.to_le_bytes();
        let [r0, r1, r2, r3] = self.readings.to_le_bytes();
        kv::set(
            STATE_KEY,
            &[self.mode as u8, l0, l1, l2, l3, r0, r1, r2, r3],
        )?;
        Ok(())
    }
}

fn read_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.try_into().ok()?))
}

/// The rule: see the crate documentation for the encoding.
fn decide(input: &[u8]) -> Result<&'static [u8], GuestError> {
    let (temp, setpoint) = match input.len() {
        4 => (read_i32(input), Some(DEFAULT_SETPOINT)),
        8 => (read_i32(&input[..4]), read_i32(&input[4..])),
        _ => (None, None),
    };
    let (Some(temp), Some(setpoint)) = (temp, setpoint) else {
        return Err(GuestError::bad_input(
            "expected 4 bytes (temperature, i32 LE milli-°C) or 8 (temperature, setpoint)",
        ));
    };

    let mut state = State::load()?;
    let mode = match state.mode {
        Mode::Heating if temp < setpoint => Mode::Heating,
        Mode::Cooling if temp > setpoint => Mode::Cooling,
        _ if temp < setpoint.saturating_sub(HYSTERESIS) => Mode::Heating,
        _ if temp > setpoint.saturating_add(HYSTERESIS) => Mode::Cooling,
        _ => Mode::Idle,
    };
    let jump = state.readings > 0 && temp.abs_diff(state.last) > ALARM_JUMP.unsigned_abs();
    let alarm = !(ALARM_LOW..=ALARM_HIGH).contains(&temp) || jump;

    if mode != state.mode {
        // A full log budget must not stop the rule: the line is dropped, the decision stands.
        let _ = log::info(match mode {
            Mode::Idle => "thermostat: idle",
            Mode::Heating => "thermostat: heating on",
            Mode::Cooling => "thermostat: cooling on",
        });
    }
    if alarm {
        let _ = log::warn("thermostat: alarm");
    }

    state.mode = mode;
    state.last = temp;
    state.readings = state.readings.saturating_add(1);
    state.store()?;

    let flags = match mode {
        Mode::Heating => HEAT,
        Mode::Cooling => COOL,
        Mode::Idle => 0,
    } | if alarm { ALARM } else { 0 };
    Ok(OUTPUTS
        .get(usize::from(flags))
        .map_or(&[], |o| o.as_slice()))
}

palisade_guest::export!(decide);
