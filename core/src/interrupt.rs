//! Stopping a running call from another thread: [`Interrupt`].

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

/// A flag that stops a call from outside: raise it with [`Interrupt::interrupt`] (from any
/// thread, or from an interrupt handler on a board) and the call it was passed to ends with
/// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted) at its next check.
///
/// A call checks the flag before any guest code runs (an interrupt raised before the call stops
/// it with no fuel used), at every fuel-slice boundary (every [`Limits::fuel_slice`] units of
/// fuel, the same points where the deadline is checked) and in every host function that
/// [`charge`](crate::charge)s. So a call stops within one fuel slice of the interrupt, or when
/// the host function it is blocked in returns.
///
/// Cheap to clone; clones share the flag. An interrupt stays raised: pass a fresh one to the
/// next call (what a server does: one per request, raised when the client goes away or the
/// server shuts down).
///
/// ```
/// # use palisade::Interrupt;
/// let interrupt = Interrupt::new();
/// let handle = interrupt.clone();
/// std::thread::spawn(move || handle.interrupt()).join().unwrap();
/// assert!(interrupt.is_interrupted());
/// ```
///
/// [`Limits::fuel_slice`]: crate::Limits::fuel_slice
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag: every call running with this interrupt (or a clone) stops at its next
    /// check. Raising it again does nothing.
    pub fn interrupt(&self) {
        // Release/acquire: whatever the interrupting thread did before is visible to the thread
        // that sees the flag (a server records why it interrupted).
        self.0.store(true, Ordering::Release);
    }

    /// Whether the flag has been raised.
    pub fn is_interrupted(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
