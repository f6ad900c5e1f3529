//! Capabilities: named groups of host functions, granted per tenant, denied by default.
//!
//! Built in: `core` (always granted: `output`, `fail`), `log`, `clock`, `random`, `kv.read`,
//! `kv.write`. Embedders add their own with [`RuntimeBuilder::host_func`]. Every host function
//! charges fuel for its own work, checks the deadline, bounds-checks every guest pointer and
//! returns errors as values: none of them can panic.
//!
//! [`RuntimeBuilder::host_func`]: crate::RuntimeBuilder::host_func

use alloc::string::String;
use core::fmt;

use wasmi::{Caller, Extern, Memory};

use crate::KvError;
use crate::error::{ErrorKind, TrapKind};
use crate::host::{LogLevel, LogRecord};
use crate::invoke::CallState;

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

/// Index of the always-granted `core` capability.
pub(crate) const CORE: u8 = 0;
pub(crate) const LOG: u8 = 1;
pub(crate) const CLOCK: u8 = 2;
pub(crate) const RANDOM: u8 = 3;
pub(crate) const KV_READ: u8 = 4;
pub(crate) const KV_WRITE: u8 = 5;

/// Names of the built-in capabilities, by index.
pub(crate) const BUILTIN_NAMES: [&str; 6] =
    ["core", "log", "clock", "random", "kv.read", "kv.write"];

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

/// Why a host function stopped the guest. Travels through wasmi as a host error.
pub(crate) enum HostTrap {
    OutOfFuel,
    Deadline,
    Interrupted,
    MemoryOutOfBounds { ptr: u32, len: u32 },
    OutputTooLarge { len: usize },
    GuestFail { code: i32, message: String },
}

// By hand, not derived: a derived impl writes the guest's message with `str`'s `Debug`, whose
// escaping links Unicode tables into every firmware (wasmi's `HostError` needs `Debug`).
impl fmt::Debug for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfFuel => f.write_str("OutOfFuel"),
            Self::Deadline => f.write_str("Deadline"),
            Self::Interrupted => f.write_str("Interrupted"),
            Self::MemoryOutOfBounds { ptr, len } => {
                write!(f, "MemoryOutOfBounds {{ ptr: {ptr}, len: {len} }}")
            }
            Self::OutputTooLarge { len } => write!(f, "OutputTooLarge {{ len: {len} }}"),
            Self::GuestFail { code, message } => {
                write!(f, "GuestFail {{ code: {code}, message: {message} }}")
            }
        }
    }
}

impl fmt::Display for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl wasmi::errors::HostError for HostTrap {}

impl HostTrap {
    pub(crate) fn into_kind(self, state: &CallState) -> ErrorKind {
        match self {
            Self::OutOfFuel => ErrorKind::OutOfFuel {
                budget: state.limits.fuel,
            },
            Self::Deadline => ErrorKind::DeadlineExceeded {
                deadline: state.limits.deadline,
            },
            Self::Interrupted => ErrorKind::Interrupted,
            Self::MemoryOutOfBounds { ptr, len } => ErrorKind::GuestMemoryOutOfBounds { ptr, len },
            Self::OutputTooLarge { len } => ErrorKind::OutputTooLarge {
                len,
                cap: state.limits.output_bytes,
            },
            Self::GuestFail { code, message } => ErrorKind::GuestError { code, message },
        }
    }
}

fn trap(t: HostTrap) -> wasmi::Error {
    wasmi::Error::host(t)
}

/// Charges `fuel` for a host function's work and checks the call's deadline and interrupt.
///
/// Call it first in every host function an embedder registers, with a price proportional to
/// the work done (bytes copied, keys read).
///
/// # Errors
///
/// A trap that ends the call as out of fuel, deadline exceeded or interrupted.
pub fn charge(caller: &mut Caller<'_, CallState>, fuel: u64) -> Result<(), wasmi::Error> {
    let state = caller.data();
    if state.is_interrupted() {
        return Err(trap(HostTrap::Interrupted));
    }
    if state.clock_now() >= state.deadline_at {
        return Err(trap(HostTrap::Deadline));
    }
    let left = caller.get_fuel()?;
    if left >= fuel {
        return caller.set_fuel(left - fuel);
    }
    let need = fuel - left;
    let state = caller.data_mut();
    if state.fuel_reserve < need {
        state.fuel_reserve = 0;
        caller.set_fuel(0)?;
        return Err(trap(HostTrap::OutOfFuel));
    }
    state.fuel_reserve -= need;
    caller.set_fuel(0)
}

fn bytes_price(base: u64, bytes: usize) -> u64 {
    base + (bytes as u64) / price::BYTES_PER_FUEL
}

fn memory_of(caller: &Caller<'_, CallState>) -> Result<Memory, wasmi::Error> {
    match caller.data().memory {
        Some(m) => Ok(m),
        None => match caller.get_export("memory") {
            Some(Extern::Memory(m)) => Ok(m),
            _ => Err(trap(HostTrap::MemoryOutOfBounds { ptr: 0, len: 0 })),
        },
    }
}

fn region(ptr: i32, len: i32) -> (u32, u32, core::ops::Range<usize>) {
    let (p, l) = (ptr as u32, len as u32);
    let start = p as usize;
    (p, l, start..start.saturating_add(l as usize))
}

/// The guest bytes at `ptr..ptr+len`, bounds-checked.
///
/// # Errors
///
/// A `GuestMemoryOutOfBounds` trap when the region is not inside guest memory.
pub fn guest_bytes<'a>(
    caller: &'a Caller<'_, CallState>,
    ptr: i32,
    len: i32,
) -> Result<&'a [u8], wasmi::Error> {
    let memory = memory_of(caller)?;
    let (p, l, range) = region(ptr, len);
    memory
        .data(caller)
        .get(range)
        .ok_or_else(|| trap(HostTrap::MemoryOutOfBounds { ptr: p, len: l }))
}

/// The guest bytes at `ptr..ptr+len` for writing, bounds-checked, with the call state.
///
/// # Errors
///
/// A `GuestMemoryOutOfBounds` trap when the region is not inside guest memory.
pub fn guest_bytes_mut<'a>(
    caller: &'a mut Caller<'_, CallState>,
    ptr: i32,
    len: i32,
) -> Result<(&'a mut [u8], &'a mut CallState), wasmi::Error> {
    let memory = memory_of(caller)?;
    let (p, l, range) = region(ptr, len);
    let (data, state) = memory.data_and_store_mut(caller);
    match data.get_mut(range) {
        Some(bytes) => Ok((bytes, state)),
        None => Err(trap(HostTrap::MemoryOutOfBounds { ptr: p, len: l })),
    }
}

fn check_region(caller: &Caller<'_, CallState>, ptr: i32, len: i32) -> Result<(), wasmi::Error> {
    guest_bytes(caller, ptr, len).map(|_| ())
}

pub(crate) fn output(
    mut caller: Caller<'_, CallState>,
    ptr: i32,
    len: i32,
) -> Result<(), wasmi::Error> {
    charge(&mut caller, price::OUTPUT)?;
    let len_u = len as u32 as usize;
    if len_u > caller.data().limits.output_bytes {
        return Err(trap(HostTrap::OutputTooLarge { len: len_u }));
    }
    caller.data_mut().output = Some((ptr as u32, len as u32));
    Ok(())
}

pub(crate) fn fail(
    caller: Caller<'_, CallState>,
    code_: i32,
    ptr: i32,
    len: i32,
) -> Result<(), wasmi::Error> {
    let cap = caller.data().limits.output_bytes;
    let len_u = (len as u32 as usize).min(cap);
    let message = match guest_bytes(&caller, ptr, len_u as i32) {
        Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Err(e) => return Err(e),
    };
    Err(trap(HostTrap::GuestFail {
        code: code_,
        message,
    }))
}

pub(crate) fn log(
    mut caller: Caller<'_, CallState>,
    level: i32,
    ptr: i32,
    len: i32,
) -> Result<i32, wasmi::Error> {
    charge(&mut caller, bytes_price(price::LOG, len as u32 as usize))?;
    let Some(level) = LogLevel::from_abi(level) else {
        return Ok(code::INVALID);
    };
    let len_u = len as u32 as usize;
    let state = caller.data();
    if state.log_bytes.saturating_add(len_u) > state.limits.log_bytes {
        caller.data_mut().log_dropped += 1;
        check_region(&caller, ptr, len)?;
        return Ok(code::QUOTA);
    }
    let message = guest_bytes(&caller, ptr, len)?;
    let state = caller.data();
    state.shared.log.log(&LogRecord {
        tenant: state.tenant.id(),
        digest: &state.digest,
        level,
        message,
    });
    caller.data_mut().log_bytes += len_u;
    Ok(0)
}

pub(crate) fn clock_now(mut caller: Caller<'_, CallState>) -> Result<i64, wasmi::Error> {
    charge(&mut caller, price::CLOCK)?;
    Ok(caller.data().clock_now().0 as i64)
}

pub(crate) fn random_fill(
    mut caller: Caller<'_, CallState>,
    ptr: i32,
    len: i32,
) -> Result<i32, wasmi::Error> {
    let len_u = len as u32 as usize;
    charge(&mut caller, bytes_price(price::RANDOM, len_u))?;
    if len_u > MAX_RANDOM_BYTES {
        return Ok(code::TOO_LARGE);
    }
    let (buf, state) = guest_bytes_mut(&mut caller, ptr, len)?;
    Ok(match state.shared.random.fill(buf) {
        Ok(()) => 0,
        Err(_) => code::HOST,
    })
}

pub(crate) fn kv_get(
    mut caller: Caller<'_, CallState>,
    key_ptr: i32,
    key_len: i32,
    val_ptr: i32,
    val_cap: i32,
) -> Result<i32, wasmi::Error> {
    let key_len_u = key_len as u32 as usize;
    charge(&mut caller, bytes_price(price::KV_READ, key_len_u))?;
    if key_len_u > MAX_KEY_BYTES {
        return Ok(code::TOO_LARGE);
    }
    check_region(&caller, val_ptr, val_cap)?;
    let memory = memory_of(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let (_, _, key_range) = region(key_ptr, key_len);
    let (_, _, val_range) = region(val_ptr, val_cap);
    // Copy the key out so that the value can be written into the same memory.
    let mut key_buf = [0u8; MAX_KEY_BYTES];
    let key = match (data.get(key_range), key_buf.get_mut(..key_len_u)) {
        (Some(k), Some(dst)) => {
            dst.copy_from_slice(k);
            &*dst
        }
        _ => {
            return Err(trap(HostTrap::MemoryOutOfBounds {
                ptr: key_ptr as u32,
                len: key_len as u32,
            }));
        }
    };
    let mut full_len = 0usize;
    let mut copied = 0usize;
    let found = {
        let out = data.get_mut(val_range).unwrap_or(&mut []);
        let kv = &*state.shared.kv;
        state
            .kv_writes
            .get(kv, state.tenant.id(), key, &mut |value| {
                full_len = value.len();
                copied = value.len().min(out.len());
                if let (Some(dst), Some(src)) = (out.get_mut(..copied), value.get(..copied)) {
                    dst.copy_from_slice(src);
                }
            })
    };
    charge(&mut caller, (copied as u64) / price::BYTES_PER_FUEL)?;
    Ok(match found {
        Ok(true) => i32::try_from(full_len).unwrap_or(i32::MAX),
        Ok(false) => code::NOT_FOUND,
        Err(_) => code::HOST,
    })
}

pub(crate) fn kv_set(
    mut caller: Caller<'_, CallState>,
    key_ptr: i32,
    key_len: i32,
    val_ptr: i32,
    val_len: i32,
) -> Result<i32, wasmi::Error> {
    let (key_len_u, val_len_u) = (key_len as u32 as usize, val_len as u32 as usize);
    charge(
        &mut caller,
        bytes_price(price::KV_WRITE, key_len_u.saturating_add(val_len_u)),
    )?;
    let state = caller.data();
    if key_len_u > MAX_KEY_BYTES || val_len_u > state.limits.kv_value_bytes {
        return Ok(code::TOO_LARGE);
    }
    let written = state.kv_written + key_len_u + val_len_u;
    if written > state.limits.kv_write_bytes {
        return Ok(code::QUOTA);
    }
    check_region(&caller, key_ptr, key_len)?;
    check_region(&caller, val_ptr, val_len)?;
    let memory = memory_of(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let (key, value) = (
        data.get(region(key_ptr, key_len).2).unwrap_or(&[]),
        data.get(region(val_ptr, val_len).2).unwrap_or(&[]),
    );
    // Buffered until the call ends: committed only if it succeeds (`KvWrites`).
    let result = state
        .kv_writes
        .set(&*state.shared.kv, state.tenant.id(), key, value);
    Ok(match result {
        Ok(()) => {
            caller.data_mut().kv_written = written;
            0
        }
        Err(KvError::Quota) => code::QUOTA,
        Err(KvError::TooLarge) => code::TOO_LARGE,
        Err(KvError::Backend) => code::HOST,
    })
}

pub(crate) fn kv_delete(
    mut caller: Caller<'_, CallState>,
    key_ptr: i32,
    key_len: i32,
) -> Result<i32, wasmi::Error> {
    let key_len_u = key_len as u32 as usize;
    charge(&mut caller, bytes_price(price::KV_READ, key_len_u))?;
    if key_len_u > MAX_KEY_BYTES {
        return Ok(code::TOO_LARGE);
    }
    check_region(&caller, key_ptr, key_len)?;
    let memory = memory_of(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let key = data.get(region(key_ptr, key_len).2).unwrap_or(&[]);
    Ok(
        match state
            .kv_writes
            .delete(&*state.shared.kv, state.tenant.id(), key)
        {
            Ok(true) => 0,
            Ok(false) => code::NOT_FOUND,
            Err(_) => code::HOST,
        },
    )
}

/// Maps a wasmi trap code to Palisade's.
pub(crate) fn trap_kind(code: wasmi::TrapCode) -> TrapKind {
    use wasmi::TrapCode as T;
    match code {
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        T::TableOutOfBounds => TrapKind::TableOutOfBounds,
        T::IndirectCallToNull => TrapKind::IndirectCallToNull,
        T::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        T::IntegerOverflow => TrapKind::IntegerOverflow,
        T::BadConversionToInteger => TrapKind::BadConversionToInteger,
        T::StackOverflow => TrapKind::StackOverflow,
        T::BadSignature => TrapKind::BadSignature,
        _ => TrapKind::Other,
    }
}

/// The trap a failed instantiation amounts to when the guest's own segments caused it (an
/// element or data segment that does not fit): wasmi reports those as instantiation, table or
/// memory errors rather than trap codes.
pub(crate) fn instantiation_trap(e: &wasmi::Error) -> Option<TrapKind> {
    use wasmi::errors::{ErrorKind as K, InstantiationError, MemoryError, TableError};
    match e.kind() {
        K::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. })
        | K::Table(
            TableError::InitOutOfBounds
            | TableError::SetOutOfBounds
            | TableError::FillOutOfBounds
            | TableError::CopyOutOfBounds,
        ) => Some(TrapKind::TableOutOfBounds),
        K::Memory(MemoryError::OutOfBoundsAccess) => Some(TrapKind::MemoryOutOfBounds),
        _ => None,
    }
}
