//! Guest-memory and fuel helpers every host function uses, built-in or embedder's.

use wasmi::{Caller, Extern, Memory};

use crate::store::CallState;
use crate::trap::HostTrap;

use crate::capability::price;

/// Wraps a host trap into the error wasmi carries back out of the guest.
pub(crate) fn trap(t: HostTrap) -> wasmi::Error {
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

/// A base price plus one unit of fuel per [`price::BYTES_PER_FUEL`] bytes.
pub(crate) fn bytes_price(base: u64, bytes: usize) -> u64 {
    base + (bytes as u64) / price::BYTES_PER_FUEL
}

/// The calling instance's exported memory.
pub(crate) fn memory_of(caller: &Caller<'_, CallState>) -> Result<Memory, wasmi::Error> {
    match caller.data().memory {
        Some(m) => Ok(m),
        None => match caller.get_export("memory") {
            Some(Extern::Memory(m)) => Ok(m),
            _ => Err(trap(HostTrap::MemoryOutOfBounds { ptr: 0, len: 0 })),
        },
    }
}

/// A guest region as unsigned pointer, length and byte range.
pub(crate) fn region(ptr: i32, len: i32) -> (u32, u32, core::ops::Range<usize>) {
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

/// Traps unless `ptr..ptr+len` is inside guest memory.
pub(crate) fn check_region(
    caller: &Caller<'_, CallState>,
    ptr: i32,
    len: i32,
) -> Result<(), wasmi::Error> {
    guest_bytes(caller, ptr, len).map(|_| ())
}
