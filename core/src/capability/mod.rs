//! Capabilities: named groups of host functions, granted per tenant, denied by default.
//!
//! Built in: `core` (always granted: `output`, `fail`), `log`, `clock`, `random`, `kv.read`,
//! `kv.write`. Embedders add their own with [`RuntimeBuilder::host_func`]. Every host function
//! charges fuel for its own work, checks the deadline, bounds-checks every guest pointer and
//! returns errors as values: none of them can panic.
//!
//! [`RuntimeBuilder::host_func`]: crate::RuntimeBuilder::host_func

use core::fmt;

mod builtin;
pub(crate) mod guest;
mod table;

pub(crate) use builtin::register as register_builtins;
pub use guest::{charge, guest_bytes, guest_bytes_mut};
pub(crate) use table::{CapabilityTable, ImportDef, Installer};

/// The most capabilities one runtime can define (the width of [`CapSet`]).
pub const MAX_CAPABILITIES: usize = 64;

/// A set of capabilities, as bits indexed by the runtime's capability table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(pub(crate) u64);

impl CapSet {
    /// The empty set: what a tenant has until something is granted.
    pub const EMPTY: CapSet = CapSet(0);

    pub(crate) fn with(self, index: u8) -> Self {
        CapSet(self.0 | (1u64 << index))
    }

    /// Whether capability number `index` is in the set.
    pub fn contains_index(self, index: u8) -> bool {
        index < 64 && self.0 & (1u64 << index) != 0
    }

    /// Whether every capability of `other` is in `self`.
    pub fn contains_all(self, other: CapSet) -> bool {
        other.0 & !self.0 == 0
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapSet({:#x})", self.0)
    }
}

/// The always-granted capability: `output` and `fail`.
pub const CORE: &str = "core";
/// Capability `log`: `palisade.log`.
pub const LOG: &str = "log";
/// Capability `clock`: `palisade.clock_now`.
pub const CLOCK: &str = "clock";
/// Capability `random`: `palisade.random_fill`.
pub const RANDOM: &str = "random";
/// Capability `kv.read`: `palisade.kv_get`.
pub const KV_READ: &str = "kv.read";
/// Capability `kv.write`: `palisade.kv_set` and `palisade.kv_delete`.
pub const KV_WRITE: &str = "kv.write";

/// Index of [`CORE`] in every runtime's table: it is registered first.
pub(crate) const CORE_INDEX: u8 = 0;

/// Error codes that capability functions return to the guest (see docs/ABI.md).
pub mod code {
    /// The key does not exist.
    pub const NOT_FOUND: i32 = -1;
    /// A key, value or buffer is over its limit.
    pub const TOO_LARGE: i32 = -2;
    /// A per-call or per-tenant budget is spent.
    pub const QUOTA: i32 = -3;
    /// An argument is out of range.
    pub const INVALID: i32 = -4;
    /// The resource exists but this guest may not use it.
    pub const DENIED: i32 = -5;
    /// The host backend failed.
    pub const HOST: i32 = -6;
}

/// Fuel prices of the built-in host functions (docs/ABI.md §4).
pub mod price {
    /// Bytes per extra unit of fuel for functions that move bytes.
    pub const BYTES_PER_FUEL: u64 = 8;
    /// `output`
    pub const OUTPUT: u64 = 10;
    /// `log`, plus bytes
    pub const LOG: u64 = 100;
    /// `clock_now`
    pub const CLOCK: u64 = 20;
    /// `random_fill`, plus bytes
    pub const RANDOM: u64 = 50;
    /// `kv_get` and `kv_delete`, plus bytes
    pub const KV_READ: u64 = 200;
    /// `kv_set`, plus bytes
    pub const KV_WRITE: u64 = 300;
}

/// Largest KV key in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest `random_fill` request in bytes.
pub const MAX_RANDOM_BYTES: usize = 4096;
