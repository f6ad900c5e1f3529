//! The `random` capability.

use wasmi::Caller;

use crate::capability::{MAX_RANDOM_BYTES, RANDOM, code, price};
use crate::host_funcs::HostFuncs;
use crate::host_funcs::guest::{bytes_price, charge, guest_bytes_mut};
use crate::store::CallState;

/// Registers the `random` capability's host functions.
pub(crate) fn register(funcs: &mut HostFuncs) {
    funcs.add(RANDOM, "random_fill", random_fill);
}

/// The `palisade.random_fill` import (docs/ABI.md).
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
