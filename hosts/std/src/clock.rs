//! [`StdClock`]: the host clock over [`std::time::Instant`].

use std::time::Instant as StdInstant;

use palisade::{Clock, Instant};

/// A monotonic [`Clock`] over [`std::time::Instant`], with its origin at creation.
///
/// Deadlines and call-rate limits are measured on it. It never goes backwards because
/// `std::time::Instant` never does.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    origin: StdInstant,
}

impl StdClock {
    /// A clock whose time zero is now.
    pub fn new() -> Self {
        Self {
            origin: StdInstant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        let nanos = self.origin.elapsed().as_nanos();
        Instant(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The system's wall clock (what WASI's realtime clock reads, with capability `clock`).
    fn unix_time(&self) -> Option<u64> {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        u64::try_from(since.as_nanos()).ok()
    }

    /// Sleeps the thread (a WASI `poll_oneoff`), instead of the default busy-wait.
    fn sleep_until(&self, until: Instant) {
        let now = self.now();
        if until > now {
            std::thread::sleep(until.saturating_since(now));
        }
    }
}
