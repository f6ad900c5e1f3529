//! Running guest code: the one loop every guest function goes through (entry points,
//! allocators, start functions, WASI start-up), in fuel slices with the interrupt, the deadline
//! and the fuel budget checked between slices.
//!
//! Below `call`, `step` and `wasi` in the module graph, above `store` and `trap`.

use wasmi::{Store, TypedFunc, TypedResumableCall, WasmParams, WasmResults};

use crate::error::{Error, ErrorKind, wasm_reason};
use crate::store::CallState;
use crate::trap::map_error;

pub(crate) fn set_fuel(store: &mut Store<CallState>, fuel: u64) -> Result<(), Error> {
    store
        .set_fuel(fuel)
        .map_err(|e| Error::config(wasm_reason(&e, "the store refused the fuel budget")))
}

/// Runs `func` to completion in fuel slices, checking the deadline between slices.
pub(crate) fn drive<P: WasmParams, R: WasmResults>(
    store: &mut Store<CallState>,
    func: &TypedFunc<P, R>,
    params: P,
) -> Result<R, Error> {
    let mut call = func
        .call_resumable(&mut *store, params)
        .map_err(|e| map_error(store, &e))?;
    loop {
        match call {
            TypedResumableCall::Finished(results) => return Ok(results),
            TypedResumableCall::HostTrap(trap) => return Err(map_error(store, trap.host_error())),
            TypedResumableCall::OutOfFuel(out) => {
                refuel(store, out.required_fuel())?;
                call = out.resume(&mut *store).map_err(|e| map_error(store, &e))?;
            }
        }
    }
}

/// Hands the guest its next fuel slice, or ends the call on its interrupt, deadline or budget.
pub(crate) fn refuel(store: &mut Store<CallState>, required: u64) -> Result<(), Error> {
    let state = store.data();
    let limits = state.limits;
    if state.is_interrupted() {
        return Err(ErrorKind::Interrupted.into());
    }
    if state.clock_now() >= state.deadline_at {
        return Err(ErrorKind::DeadlineExceeded {
            deadline: limits.deadline,
        }
        .into());
    }
    let left = store.get_fuel().unwrap_or(0);
    let need = required.saturating_sub(left);
    let reserve = store.data().fuel_reserve;
    if reserve < need {
        return Err(ErrorKind::OutOfFuel {
            budget: limits.fuel,
        }
        .into());
    }
    let give = limits.fuel_slice.max(need).min(reserve);
    store.data_mut().fuel_reserve = reserve - give;
    set_fuel(store, left + give)
}
