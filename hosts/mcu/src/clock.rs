//! A monotonic timer trait for boards, and its adapter to [`palisade::Clock`] (deadlines).

use palisade::{Clock, Instant};

/// A board's free-running monotonic timer: ticks at a fixed rate and never goes backwards.
///
/// Deadlines and the control loop's period are measured with it. A 32-bit hardware counter can
/// be widened with [`Widen32`].
pub trait MonotonicTimer: Send + Sync {
    /// Ticks per second.
    fn tick_hz(&self) -> u32;
    /// Ticks since an origin the board chooses.
    fn ticks(&self) -> u64;
}

/// A [`palisade::Clock`] over a [`MonotonicTimer`]: converts ticks to nanoseconds without
/// 128-bit arithmetic.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimerClock<T>(pub T);

impl<T: MonotonicTimer> TimerClock<T> {
    /// The underlying timer.
    pub fn timer(&self) -> &T {
        &self.0
    }
}

/// `ticks` at `hz` in nanoseconds (saturating; `hz == 0` reads as zero).
pub fn ticks_to_nanos(ticks: u64, hz: u32) -> u64 {
    const NANOS: u64 = 1_000_000_000;
    let hz = u64::from(hz);
    if hz == 0 {
        return 0;
    }
    // (ticks % hz) < 2^32 so the product stays below 2^62.
    (ticks / hz)
        .saturating_mul(NANOS)
        .saturating_add((ticks % hz) * NANOS / hz)
}

impl<T: MonotonicTimer> Clock for TimerClock<T> {
    fn now(&self) -> Instant {
        Instant(ticks_to_nanos(self.0.ticks(), self.0.tick_hz()))
    }
}

/// Widens a 32-bit up-counter to 64 bits by counting wraps.
///
/// Correct as long as [`Widen32::widen`] is called at least once per wrap period (at 25 MHz,
/// every 171 s): a control loop that reads the clock every period does.
#[derive(Debug, Default)]
pub struct Widen32 {
    state: spin::Mutex<(u32, u32)>,
}

impl Widen32 {
    /// A widener that has seen nothing yet.
    pub const fn new() -> Self {
        Self {
            state: spin::Mutex::new((0, 0)),
        }
    }

    /// The 64-bit count for the 32-bit reading `raw` (which counts up).
    pub fn widen(&self, raw: u32) -> u64 {
        let mut state = self.state.lock();
        let (last, high) = &mut *state;
        if raw < *last {
            *high = high.wrapping_add(1);
        }
        *last = raw;
        (u64::from(*high) << 32) | u64::from(raw)
    }
}
