//! The `clock` capability.

use wasmi::Caller;

use crate::capability::{CLOCK, price};
use crate::host_funcs::HostFuncs;
use crate::host_funcs::guest::charge;
use crate::store::CallState;

/// Registers the `clock` capability's host functions.
pub(crate) fn register(funcs: &mut HostFuncs) {
    funcs.add(CLOCK, "clock_now", clock_now);
}

/// The `palisade.clock_now` import (docs/ABI.md).
pub(crate) fn clock_now(mut caller: Caller<'_, CallState>) -> Result<i64, wasmi::Error> {
    charge(&mut caller, price::CLOCK)?;
    Ok(caller.data().clock_now().0 as i64)
}
