//! The WASI preview1 host functions (`docs/WASI.md`). Like every host function they charge
//! fuel first, check every guest pointer, and never panic; errors are WASI `errno` values.

use wasmi::{Caller, Linker, Val};

use crate::capability::guest::{charge, memory_of, trap};
use crate::capability::price::{self, BYTES_PER_FUEL};
use crate::capability::{CLOCK, MAX_RANDOM_BYTES, RANDOM};
use crate::host::Instant;
use crate::store::CallState;
use crate::trap::HostTrap;

use super::ctx::{WasiCall, granted, stderr_flush, stderr_write};
use super::errno::{BADF, INVAL, IO, NOTCAPABLE, SUCCESS};
use super::{Access, FUNCTIONS, MAX_IOVS, MAX_SUBSCRIPTIONS, NAMESPACE, PRICE};

type Res<T = i32> = Result<T, wasmi::Error>;

/// Links every preview1 function into `linker`: the profile's own, and `ENOTCAPABLE` stubs.
pub(crate) fn install(linker: &mut Linker<CallState>) -> Result<(), wasmi::errors::LinkerError> {
    linker
        .func_wrap(NAMESPACE, "args_get", args_get)?
        .func_wrap(NAMESPACE, "args_sizes_get", args_sizes_get)?
        .func_wrap(NAMESPACE, "environ_get", environ_get)?
        .func_wrap(NAMESPACE, "environ_sizes_get", environ_sizes_get)?
        .func_wrap(NAMESPACE, "clock_res_get", clock_res_get)?
        .func_wrap(NAMESPACE, "clock_time_get", clock_time_get)?
        .func_wrap(NAMESPACE, "fd_fdstat_get", fd_fdstat_get)?
        .func_wrap(NAMESPACE, "fd_prestat_get", fd_prestat_get)?
        .func_wrap(NAMESPACE, "fd_prestat_dir_name", fd_prestat_dir_name)?
        .func_wrap(NAMESPACE, "fd_read", fd_read)?
        .func_wrap(NAMESPACE, "fd_write", fd_write)?
        .func_wrap(NAMESPACE, "poll_oneoff", poll_oneoff)?
        .func_wrap(NAMESPACE, "proc_exit", proc_exit)?
        .func_wrap(NAMESPACE, "sched_yield", sched_yield)?
        .func_wrap(NAMESPACE, "random_get", random_get)?;
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
fn split<'a>(caller: &'a mut Caller<'_, CallState>) -> Res<(&'a mut [u8], &'a mut CallState)> {
    let memory = memory_of(caller)?;
    Ok(memory.data_and_store_mut(caller))
}

fn oob(ptr: u32, len: usize) -> wasmi::Error {
    trap(HostTrap::MemoryOutOfBounds {
        ptr,
        len: u32::try_from(len).unwrap_or(u32::MAX),
    })
}

fn range(ptr: u32, len: usize) -> core::ops::Range<usize> {
    let start = ptr as usize;
    start..start.saturating_add(len)
}

fn get(data: &[u8], ptr: u32, len: usize) -> Res<&[u8]> {
    data.get(range(ptr, len)).ok_or_else(|| oob(ptr, len))
}

fn put(data: &mut [u8], ptr: u32, bytes: &[u8]) -> Res<()> {
    data.get_mut(range(ptr, bytes.len()))
        .ok_or_else(|| oob(ptr, bytes.len()))?
        .copy_from_slice(bytes);
    Ok(())
}

fn u32_at(data: &[u8], ptr: u32) -> Res<u32> {
    let b = get(data, ptr, 4)?;
    Ok(u32::from_le_bytes([
        b.first().copied().unwrap_or(0),
        b.get(1).copied().unwrap_or(0),
        b.get(2).copied().unwrap_or(0),
        b.get(3).copied().unwrap_or(0),
    ]))
}

fn u64_at(data: &[u8], ptr: u32) -> Res<u64> {
    let lo = u64::from(u32_at(data, ptr)?);
    let hi = u64::from(u32_at(data, ptr.wrapping_add(4))?);
    Ok(lo | (hi << 32))
}

fn size(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn bytes_fuel(bytes: usize) -> u64 {
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
const REALTIME: i32 = 0;
const MONOTONIC: i32 = 1;

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

/// `fdstat` of fds 0-2: a stream (filetype `unknown`, not a terminal), read or write rights.
fn fd_fdstat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    const FD_READ: u64 = 1 << 1;
    const FD_WRITE: u64 = 1 << 6;
    const POLL_FD_READWRITE: u64 = 1 << 27;
    let rights = match fd {
        0 => FD_READ | POLL_FD_READWRITE,
        1 | 2 => FD_WRITE | POLL_FD_READWRITE,
        _ => return Ok(BADF),
    };
    let mut stat = [0u8; 24];
    if let Some(r) = stat.get_mut(8..16) {
        r.copy_from_slice(&rights.to_le_bytes());
    }
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &stat)?;
    Ok(SUCCESS)
}

/// No preopened directories: `EBADF` for every fd, which is how wasi-libc learns there are none.
fn fd_prestat_get(mut caller: Caller<'_, CallState>, _fd: i32, _out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    Ok(BADF)
}

fn fd_prestat_dir_name(mut caller: Caller<'_, CallState>, _fd: i32, _p: i32, _l: i32) -> Res {
    charge(&mut caller, PRICE)?;
    Ok(BADF)
}

/// The iovecs at `iovs`: (pointer, length) pairs.
fn iovecs(data: &[u8], iovs: i32, count: i32) -> Res<alloc::vec::Vec<(u32, usize)>> {
    let mut list = alloc::vec::Vec::with_capacity(count as u32 as usize);
    for i in 0..count as u32 {
        let at = (iovs as u32).wrapping_add(i.wrapping_mul(8));
        list.push((
            u32_at(data, at)?,
            u32_at(data, at.wrapping_add(4))? as usize,
        ));
    }
    Ok(list)
}

fn fd_read(mut caller: Caller<'_, CallState>, fd: i32, iovs: i32, count: i32, nread: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if fd != 0 {
        return Ok(BADF);
    }
    if count as u32 > MAX_IOVS {
        return Ok(INVAL);
    }
    let (data, state) = split(&mut caller)?;
    let list = iovecs(data, iovs, count)?;
    let left = state
        .extensions
        .get::<WasiCall>()
        .map_or(0, |c| c.stdin.len().saturating_sub(c.stdin_pos));
    let want: usize = list.iter().map(|(_, l)| *l).fold(0, usize::saturating_add);
    charge(&mut caller, bytes_fuel(want.min(left)))?;
    let (data, state) = split(&mut caller)?;
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return Ok(NOTCAPABLE);
    };
    let mut done = 0usize;
    for (ptr, len) in list {
        let src = ctx.stdin.get(ctx.stdin_pos..).unwrap_or_default();
        let n = len.min(src.len());
        if n == 0 {
            break;
        }
        put(data, ptr, src.get(..n).unwrap_or_default())?;
        ctx.stdin_pos += n;
        done += n;
    }
    put(data, nread as u32, &size(done).to_le_bytes())?;
    Ok(SUCCESS)
}

fn fd_write(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    iovs: i32,
    count: i32,
    nwritten: i32,
) -> Res {
    charge(&mut caller, PRICE)?;
    if fd != 1 && fd != 2 {
        return Ok(BADF);
    }
    if count as u32 > MAX_IOVS {
        return Ok(INVAL);
    }
    let (data, _) = split(&mut caller)?;
    let list = iovecs(data, iovs, count)?;
    let total: usize = list.iter().map(|(_, l)| *l).fold(0, usize::saturating_add);
    charge(&mut caller, bytes_fuel(total))?;
    let (data, state) = split(&mut caller)?;
    if fd == 1 {
        let cap = state.limits.output_bytes;
        let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
            return Ok(NOTCAPABLE);
        };
        let len = ctx.stdout.len().saturating_add(total);
        if len > cap {
            return Err(trap(HostTrap::OutputTooLarge { len }));
        }
        for (ptr, l) in &list {
            ctx.stdout.extend_from_slice(get(data, *ptr, *l)?);
        }
    } else {
        for (ptr, l) in &list {
            stderr_write(state, get(data, *ptr, *l)?);
        }
    }
    put(data, nwritten as u32, &size(total).to_le_bytes())?;
    Ok(SUCCESS)
}

/// Longest single wait of a sleep: between waits the interrupt is checked.
const SLEEP_STEP_NANOS: u64 = 10_000_000;

fn poll_oneoff(
    mut caller: Caller<'_, CallState>,
    subs: i32,
    events: i32,
    n: i32,
    nevents: i32,
) -> Res {
    let count = n as u32;
    charge(
        &mut caller,
        PRICE + u64::from(count.min(MAX_SUBSCRIPTIONS)) * 4,
    )?;
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Ok(INVAL);
    }
    let (data, state) = split(&mut caller)?;
    let now = state.clock_now();
    let unix = state.shared.clock.unix_time();
    // (userdata, event type, error, wake time for a clock)
    let mut fired: alloc::vec::Vec<(u64, u8, u16)> = alloc::vec::Vec::new();
    let mut clocks: alloc::vec::Vec<(u64, Instant)> = alloc::vec::Vec::new();
    for i in 0..count {
        let at = (subs as u32).wrapping_add(i.wrapping_mul(48));
        let userdata = u64_at(data, at)?;
        let tag = get(data, at.wrapping_add(8), 1)?
            .first()
            .copied()
            .unwrap_or(0);
        if tag != 0 {
            // fd_read / fd_write readiness: outside the profile.
            fired.push((userdata, tag, NOTCAPABLE as u16));
            continue;
        }
        let id = u32_at(data, at.wrapping_add(16))? as i32;
        let timeout = u64_at(data, at.wrapping_add(24))?;
        let flags = get(data, at.wrapping_add(40), 1)?
            .first()
            .copied()
            .unwrap_or(0);
        let wake = if flags & 1 == 0 {
            Instant(now.0.saturating_add(timeout))
        } else if id == REALTIME {
            let from_now =
                unix.map_or(timeout.saturating_sub(now.0), |u| timeout.saturating_sub(u));
            Instant(now.0.saturating_add(from_now))
        } else {
            Instant(timeout)
        };
        if id != REALTIME && id != MONOTONIC {
            fired.push((userdata, 0, INVAL as u16));
            continue;
        }
        clocks.push((userdata, wake));
    }
    if fired.is_empty() {
        let wake = clocks.iter().map(|(_, w)| *w).min().unwrap_or(now);
        // A sleep counts against the deadline and never blocks past it.
        if wake > state.deadline_at {
            return Err(trap(HostTrap::Deadline));
        }
        loop {
            let state = caller.data();
            if state.is_interrupted() {
                return Err(trap(HostTrap::Interrupted));
            }
            let now = state.clock_now();
            if now >= wake {
                break;
            }
            let step = Instant(now.0.saturating_add(SLEEP_STEP_NANOS)).min(wake);
            state.shared.clock.sleep_until(step);
        }
        let now = caller.data().clock_now();
        fired.extend(
            clocks
                .iter()
                .filter(|(_, w)| *w <= now)
                .map(|(u, _)| (*u, 0, 0)),
        );
    }
    let (data, _) = split(&mut caller)?;
    for (i, (userdata, kind, error)) in fired.iter().enumerate() {
        let mut event = [0u8; 32];
        if let Some(u) = event.get_mut(0..8) {
            u.copy_from_slice(&userdata.to_le_bytes());
        }
        if let Some(e) = event.get_mut(8..10) {
            e.copy_from_slice(&error.to_le_bytes());
        }
        if let Some(t) = event.get_mut(10) {
            *t = *kind;
        }
        put(
            data,
            (events as u32).wrapping_add(size(i).wrapping_mul(32)),
            &event,
        )?;
    }
    put(data, nevents as u32, &size(fired.len()).to_le_bytes())?;
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
