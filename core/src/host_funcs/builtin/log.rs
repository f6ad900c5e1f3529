//! The `log` capability.

use wasmi::Caller;

use crate::capability::{LOG, code, price};
use crate::host::{LogLevel, LogRecord};
use crate::host_funcs::HostFuncs;
use crate::host_funcs::guest::{bytes_price, charge, check_region, guest_bytes};
use crate::store::CallState;

/// Registers the `log` capability's host functions.
pub(crate) fn register(funcs: &mut HostFuncs) {
    funcs.add(LOG, "log", log);
}

/// The `palisade.log` import (docs/ABI.md).
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
        extensions: &state.extensions,
    });
    caller.data_mut().log_bytes += len_u;
    Ok(0)
}
