//! The always-granted `core` capability: `output` and `fail`.

use alloc::string::String;

use wasmi::Caller;

use crate::capability::{CORE, price};
use crate::host_funcs::HostFuncs;
use crate::host_funcs::guest::{charge, guest_bytes, trap};
use crate::store::CallState;
use crate::trap::HostTrap;

/// Registers the `core` capability's host functions.
pub(crate) fn register(funcs: &mut HostFuncs) {
    funcs.add(CORE, "output", output).add(CORE, "fail", fail);
}

/// The `palisade.output` import (docs/ABI.md).
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

/// The `palisade.fail` import (docs/ABI.md).
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
