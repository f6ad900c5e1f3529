//! Capability `clock`: the host's monotonic clock.

use crate::sys;

/// Monotonic nanoseconds since an origin the host chooses. Only differences are meaningful.
pub fn now_nanos() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::clock_now() as u64 }
}
