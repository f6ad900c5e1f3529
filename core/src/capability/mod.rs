//! Capabilities: named groups of host functions, granted per tenant, denied by default.
//!
//! Built in: `core` (always granted: `output`, `fail`), `log`, `clock`, `random`, `kv.read`,
//! `kv.write`. Embedders add their own with [`RuntimeBuilder::host_func`]. Every host function
//! charges fuel for its own work, checks the deadline, bounds-checks every guest pointer and
//! returns errors as values: none of them can panic.
//!
//! This module is what a capability *is*: its name (the constants below), its id in a
//! runtime's table ([`CapabilityId`]), sets of them
//! ([`CapSet`]), the table, and the codes and prices of the ABI. The host
//! functions themselves, built-in and embedder's, are registered in `host_funcs`, above the
//! per-call state they work on.
//!
//! [`RuntimeBuilder::host_func`]: crate::RuntimeBuilder::host_func

pub(crate) mod set;
mod table;

pub(crate) use set::{CapSet, CapabilityId};
pub(crate) use table::{CapabilityTable, ImportDef};

/// The most capabilities one runtime can define (the width of [`CapSet`]).
pub const MAX_CAPABILITIES: usize = 64;

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
