//! The WASI preview1 host functions (`docs/WASI.md`): how they are linked, the guest-memory
//! helpers they share, and the small ones (args, environment, clocks, exit, yield, random).
//! Files and stdio are in `fd` and `path`, `poll_oneoff` in `poll`. Like every host function
//! they charge fuel first, check every guest pointer, and never panic; errors are WASI `errno`
//! values.

use wasmi::{Caller, Linker, Val};

use crate::capability::price::{self, BYTES_PER_FUEL};
use crate::capability::{CLOCK, MAX_RANDOM_BYTES, RANDOM};
use crate::host_funcs::guest::{charge, memory_of, trap};
use crate::store::CallState;
use crate::trap::HostTrap;

use super::ctx::{WasiCall, granted, stderr_flush};
use super::errno::{INVAL, IO, NOTCAPABLE, SUCCESS};
use super::{Access, NAMESPACE, PRICE, fd, path, poll};
use crate::abi::preview1::FUNCTIONS;

pub(super) type Res<T = i32> = Result<T, wasmi::Error>;

/// Links every preview1 function into `linker`: the profile's own, and `ENOTCAPABLE` stubs.
pub(crate) fn install(linker: &mut Linker<CallState>) -> Result<(), wasmi::errors::LinkerError> {
    linker
        .func_wrap(NAMESPACE, "args_get", args_get)?
        .func_wrap(NAMESPACE, "args_sizes_get", args_sizes_get)?
        .func_wrap(NAMESPACE, "environ_get", environ_get)?
        .func_wrap(NAMESPACE, "environ_sizes_get", environ_sizes_get)?
        .func_wrap(NAMESPACE, "clock_res_get", clock_res_get)?
        .func_wrap(NAMESPACE, "clock_time_get", clock_time_get)?
        .func_wrap(NAMESPACE, "fd_fdstat_get", fd::fd_fdstat_get)?
        .func_wrap(NAMESPACE, "fd_prestat_get", fd::fd_prestat_get)?
        .func_wrap(NAMESPACE, "fd_prestat_dir_name", fd::fd_prestat_dir_name)?
        .func_wrap(NAMESPACE, "fd_read", fd::fd_read)?
        .func_wrap(NAMESPACE, "fd_write", fd::fd_write)?
        .func_wrap(NAMESPACE, "poll_oneoff", poll::poll_oneoff)?
        .func_wrap(NAMESPACE, "proc_exit", proc_exit)?
        .func_wrap(NAMESPACE, "sched_yield", sched_yield)?
        .func_wrap(NAMESPACE, "random_get", random_get)?
        .func_wrap(NAMESPACE, "path_open", path::path_open)?
        .func_wrap(
            NAMESPACE,
            "path_create_directory",
            path::path_create_directory,
        )?
        .func_wrap(NAMESPACE, "path_unlink_file", path::path_unlink_file)?
        .func_wrap(
            NAMESPACE,
            "path_remove_directory",
            path::path_remove_directory,
        )?
        .func_wrap(NAMESPACE, "path_rename", path::path_rename)?
        .func_wrap(NAMESPACE, "fd_close", fd::fd_close)?
        .func_wrap(NAMESPACE, "fd_seek", fd::fd_seek)?
        .func_wrap(NAMESPACE, "fd_tell", fd::fd_tell)?
        .func_wrap(NAMESPACE, "fd_filestat_get", fd::fd_filestat_get)?;
    for def in FUNCTIONS.iter().filter(|d| d.access == Access::Denied) {
        linker.func_new(
            NAMESPACE,
            def.name,
            def.ty(),
            |mut caller, _params, results| {
                charge(&mut caller, PRICE)?;
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(NOTCAPABLE);
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The guest memory and the call state together.
pub(super) fn split<'a>(
    caller: &'a mut Caller<'_, CallState>,
) -> Res<(&'a mut [u8], &'a mut CallState)> {
    let memory = memory_of(caller)?;
    Ok(memory.data_and_store_mut(caller))
}

pub(super) fn oob(ptr: u32, len: usize) -> wasmi::Error {
    trap(HostTrap::MemoryOutOfBounds {
        ptr,
        len: u32::try_from(len).unwrap_or(u32::MAX),
    })
}

pub(super) fn range(ptr: u32, len: usize) -> core::ops::Range<usize> {
    let start = ptr as usize;
    start..start.saturating_add(len)
}

pub(super) fn get(data: &[u8], ptr: u32, len: usize) -> Res<&[u8]> {
    data.get(range(ptr, len)).ok_or_else(|| oob(ptr, len))
}

pub(super) fn put(data: &mut [u8], ptr: u32, bytes: &[u8]) -> Res<()> {
    data.get_mut(range(ptr, bytes.len()))
        .ok_or_else(|| oob(ptr, bytes.len()))?
        .copy_from_slice(bytes);
    Ok(())
}

pub(super) fn u32_at(data: &[u8], ptr: u32) -> Res<u32> {
    let b = get(data, ptr, 4)?;
    Ok(u32::from_le_bytes([
        b.first().copied().unwrap_or(0),
        b.get(1).copied().unwrap_or(0),
        b.get(2).copied().unwrap_or(0),
        b.get(3).copied().unwrap_or(0),
    ]))
}

pub(super) fn u64_at(data: &[u8], ptr: u32) -> Res<u64> {
    let lo = u64::from(u32_at(data, ptr)?);
    let hi = u64::from(u32_at(data, ptr.wrapping_add(4))?);
    Ok(lo | (hi << 32))
}

pub(super) fn size(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn bytes_fuel(bytes: usize) -> u64 {
    (bytes as u64) / BYTES_PER_FUEL
}

/// The sizes `args_sizes_get`/`environ_sizes_get` report for `list`: count, and bytes with NULs.
fn sizes<'a>(list: impl Iterator<Item = &'a [u8]>) -> (u32, u32) {
    list.fold((0, 0), |(n, b), item| {
        (n + 1, b.saturating_add(size(item.len()).saturating_add(1)))
    })
}

/// `args_get`/`environ_get`: pointers at `ptrs`, NUL-terminated strings at `buf`.
fn write_list(caller: &mut Caller<'_, CallState>, env: bool, ptrs: i32, buf: i32) -> Res {
    let tenant = caller.data().tenant.clone();
    let list: alloc::vec::Vec<&[u8]> = if env {
        tenant.wasi_env().collect()
    } else {
        tenant.wasi_args().collect()
    };
    let (_, bytes) = sizes(list.iter().copied());
    charge(caller, PRICE + bytes_fuel(bytes as usize))?;
    let (data, _) = split(caller)?;
    let (mut p, mut b) = (ptrs as u32, buf as u32);
    for item in list {
        put(data, p, &b.to_le_bytes())?;
        put(data, b, item)?;
        put(data, b.wrapping_add(size(item.len())), &[0])?;
        p = p.wrapping_add(4);
        b = b.wrapping_add(size(item.len())).wrapping_add(1);
    }
    Ok(SUCCESS)
}

fn write_sizes(caller: &mut Caller<'_, CallState>, env: bool, count: i32, bytes: i32) -> Res {
    charge(caller, PRICE)?;
    let tenant = caller.data().tenant.clone();
    let (n, b) = if env {
        sizes(tenant.wasi_env())
    } else {
        sizes(tenant.wasi_args())
    };
    let (data, _) = split(caller)?;
    put(data, count as u32, &n.to_le_bytes())?;
    put(data, bytes as u32, &b.to_le_bytes())?;
    Ok(SUCCESS)
}

fn args_get(mut caller: Caller<'_, CallState>, argv: i32, buf: i32) -> Res {
    write_list(&mut caller, false, argv, buf)
}

fn args_sizes_get(mut caller: Caller<'_, CallState>, count: i32, bytes: i32) -> Res {
    write_sizes(&mut caller, false, count, bytes)
}

fn environ_get(mut caller: Caller<'_, CallState>, environ: i32, buf: i32) -> Res {
    write_list(&mut caller, true, environ, buf)
}

fn environ_sizes_get(mut caller: Caller<'_, CallState>, count: i32, bytes: i32) -> Res {
    write_sizes(&mut caller, true, count, bytes)
}

/// Clock ids: realtime and monotonic; the CPU-time clocks are not offered.
pub(super) const REALTIME: i32 = 0;
pub(super) const MONOTONIC: i32 = 1;

fn clock_res_get(mut caller: Caller<'_, CallState>, id: i32, out: i32) -> Res {
    charge(&mut caller, price::CLOCK)?;
    if !granted(caller.data(), CLOCK) {
        return Ok(NOTCAPABLE);
    }
    if id != REALTIME && id != MONOTONIC {
        return Ok(INVAL);
    }
    let (data, _) = split(&mut caller)?;
    // Instants are nanoseconds; what a host clock really resolves is not known.
    put(data, out as u32, &1u64.to_le_bytes())?;
    Ok(SUCCESS)
}

fn clock_time_get(mut caller: Caller<'_, CallState>, id: i32, _precision: i64, out: i32) -> Res {
    charge(&mut caller, price::CLOCK)?;
    let state = caller.data();
    if !granted(state, CLOCK) {
        return Ok(NOTCAPABLE);
    }
    let now = match id {
        REALTIME => state
            .shared
            .clock
            .unix_time()
            .unwrap_or_else(|| state.clock_now().0),
        MONOTONIC => state.clock_now().0,
        _ => return Ok(INVAL),
    };
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &now.to_le_bytes())?;
    Ok(SUCCESS)
}

/// Ends the call: see [`super::ctx::run`] for how the status becomes its outcome.
fn proc_exit(mut caller: Caller<'_, CallState>, status: i32) -> Res<()> {
    let state = caller.data_mut();
    stderr_flush(state);
    let message = match state.extensions.get_mut::<WasiCall>() {
        Some(ctx) => {
            ctx.exit = Some(status);
            ctx.tail_text()
        }
        None => alloc::string::String::new(),
    };
    Err(trap(HostTrap::GuestFail {
        code: status,
        message,
    }))
}

/// Returns at once, ending the current fuel slice: the rest of it goes back to the reserve, so
/// the driver checks the deadline and interrupt before the guest runs on.
fn sched_yield(mut caller: Caller<'_, CallState>) -> Res {
    charge(&mut caller, PRICE)?;
    let left = caller.get_fuel()?;
    let state = caller.data_mut();
    state.fuel_reserve = state.fuel_reserve.saturating_add(left);
    caller.set_fuel(0)?;
    Ok(SUCCESS)
}

fn random_get(mut caller: Caller<'_, CallState>, buf: i32, len: i32) -> Res {
    let len_u = len as u32 as usize;
    charge(&mut caller, price::RANDOM + bytes_fuel(len_u))?;
    if !granted(caller.data(), RANDOM) {
        return Ok(NOTCAPABLE);
    }
    let (data, state) = split(&mut caller)?;
    let dst = data
        .get_mut(range(buf as u32, len_u))
        .ok_or_else(|| oob(buf as u32, len_u))?;
    for chunk in dst.chunks_mut(MAX_RANDOM_BYTES) {
        if state.shared.random.fill(chunk).is_err() {
            return Ok(IO);
        }
    }
    Ok(SUCCESS)
}
