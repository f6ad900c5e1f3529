//! The `kv.read` and `kv.write` capabilities: the tenant's own key-value namespace.

use wasmi::Caller;

use crate::KvError;
use crate::capability::{KV_READ, KV_WRITE, MAX_KEY_BYTES, code, price};
use crate::host_funcs::HostFuncs;
use crate::host_funcs::guest::{bytes_price, charge, check_region, memory_of, region, trap};
use crate::store::CallState;
use crate::trap::HostTrap;

/// Registers the `kv.read` and `kv.write` capabilities' host functions.
pub(crate) fn register(funcs: &mut HostFuncs) {
    funcs
        .add(KV_READ, "kv_get", kv_get)
        .add(KV_WRITE, "kv_set", kv_set)
        .add(KV_WRITE, "kv_delete", kv_delete);
}

/// The `palisade.kv_get` import (docs/ABI.md).
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

/// The `palisade.kv_set` import (docs/ABI.md).
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

/// The `palisade.kv_delete` import (docs/ABI.md).
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
