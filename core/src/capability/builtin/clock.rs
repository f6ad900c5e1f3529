//! The `clock` capability.

use wasmi::Caller;

use crate::capability::guest::charge;
use crate::capability::{CLOCK, price};
use crate::runtime::RuntimeBuilder;
use crate::store::CallState;

/// Registers the `clock` capability's host functions.
pub(crate) fn register(builder: RuntimeBuilder) -> RuntimeBuilder {
    builder.builtin(CLOCK, "clock_now", clock_now)
}

/// The `palisade.clock_now` import (docs/ABI.md).
pub(crate) fn clock_now(mut caller: Caller<'_, CallState>) -> Result<i64, wasmi::Error> {
    charge(&mut caller, price::CLOCK)?;
    Ok(caller.data().clock_now().0 as i64)
}
