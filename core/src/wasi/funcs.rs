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
use super::errno::{BADF, FBIG, INVAL, IO, ISDIR, MFILE, NOENT, NOTCAPABLE, NOTDIR, ROFS, SUCCESS};
use super::files::{
    FILES_READ, FileError, MAX_FILE_BYTES, MAX_OPEN_FILES, OpenFile, PREOPEN_FD, PREOPEN_NAME,
    checked_path,
};
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
        .func_wrap(NAMESPACE, "random_get", random_get)?
        .func_wrap(NAMESPACE, "path_open", path_open)?
        .func_wrap(NAMESPACE, "fd_close", fd_close)?
        .func_wrap(NAMESPACE, "fd_seek", fd_seek)?
        .func_wrap(NAMESPACE, "fd_tell", fd_tell)?
        .func_wrap(NAMESPACE, "fd_filestat_get", fd_filestat_get)?;
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
    let (filetype, rights, inheriting) = match fd {
        0 => (0, FD_READ | POLL_FD_READWRITE, 0),
        1 | 2 => (0, FD_WRITE | POLL_FD_READWRITE, 0),
        _ if fd as u32 == PREOPEN_FD && preopen(caller.data()) => {
            (FILETYPE_DIRECTORY, PATH_OPEN, FILE_RIGHTS)
        }
        _ if file_index(caller.data(), fd).is_some() => (FILETYPE_REGULAR, FILE_RIGHTS, 0),
        _ => return Ok(BADF),
    };
    let mut stat = [0u8; 24];
    stat[0] = filetype;
    if let Some(r) = stat.get_mut(8..16) {
        r.copy_from_slice(&rights.to_le_bytes());
    }
    if let Some(r) = stat.get_mut(16..24) {
        r.copy_from_slice(&inheriting.to_le_bytes());
    }
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &stat)?;
    Ok(SUCCESS)
}

/// The preopened directory (fd 3) for a tenant granted `files.read` on a runtime with a files
/// service; otherwise `EBADF` for every fd, which is how wasi-libc learns there are none.
fn fd_prestat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if fd as u32 != PREOPEN_FD || !preopen(caller.data()) {
        return Ok(BADF);
    }
    // `prestat`: tag 0 (a directory), then the name's length.
    let mut stat = [0u8; 8];
    stat[4..8].copy_from_slice(&size(PREOPEN_NAME.len()).to_le_bytes());
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &stat)?;
    Ok(SUCCESS)
}

fn fd_prestat_dir_name(mut caller: Caller<'_, CallState>, fd: i32, ptr: i32, len: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if fd as u32 != PREOPEN_FD || !preopen(caller.data()) {
        return Ok(BADF);
    }
    let name = PREOPEN_NAME.as_bytes();
    let Some(name) = name.get(..(len as u32 as usize).min(name.len())) else {
        return Ok(INVAL);
    };
    let (data, _) = split(&mut caller)?;
    put(data, ptr as u32, name)?;
    Ok(SUCCESS)
}

const FILETYPE_DIRECTORY: u8 = 3;
const FILETYPE_REGULAR: u8 = 4;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_SEEK: u64 = 1 << 2;
const RIGHT_FD_TELL: u64 = 1 << 5;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_FD_ALLOCATE: u64 = 1 << 8;
const PATH_OPEN: u64 = 1 << 13;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const RIGHT_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
/// What an opened file allows: reading, seeking, its size.
const FILE_RIGHTS: u64 = RIGHT_FD_READ | RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_FILESTAT_GET;
/// Rights that only writing needs: asking for any of them is refused (`EROFS`).
const WRITE_RIGHTS: u64 = RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE;
/// `path_open`'s `oflags` that create or change a file: `CREAT`, `EXCL`, `TRUNC`.
const OFLAGS_WRITE: i32 = 1 | 4 | 8;
/// `oflags`' `DIRECTORY`: opening directories (listing them) is outside the profile.
const OFLAGS_DIRECTORY: i32 = 2;
/// `fdflags`' `APPEND`.
const FDFLAGS_APPEND: i32 = 1;
/// Longest path `path_open` reads from the guest.
const MAX_PATH_BYTES: u32 = 4096;
/// `ESPIPE`: stdio cannot seek.
const SPIPE: i32 = 70;

/// Whether the calling tenant sees the preopened directory.
fn preopen(state: &CallState) -> bool {
    state.shared.files.is_some() && granted(state, FILES_READ)
}

/// The open file behind `fd`: its index in the call's file table.
fn file_index(state: &CallState, fd: i32) -> Option<usize> {
    let i = (fd as u32).checked_sub(PREOPEN_FD + 1)? as usize;
    let ctx = state.extensions.get::<WasiCall>()?;
    matches!(ctx.files.get(i), Some(Some(_))).then_some(i)
}

fn file_mut(state: &mut CallState, fd: i32) -> Option<&mut OpenFile> {
    let i = file_index(state, fd)?;
    state
        .extensions
        .get_mut::<WasiCall>()?
        .files
        .get_mut(i)?
        .as_mut()
}

/// Opens a file of the preopened directory, read-only: its whole contents are read into the
/// call (at most `MAX_FILE_BYTES`, charged in fuel).
#[expect(clippy::too_many_arguments, reason = "the WASI signature")]
fn path_open(
    mut caller: Caller<'_, CallState>,
    dirfd: i32,
    _dirflags: i32,
    path: i32,
    path_len: i32,
    oflags: i32,
    rights: i64,
    _inheriting: i64,
    fdflags: i32,
    out: i32,
) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    if dirfd as u32 != PREOPEN_FD {
        return Ok(if file_index(caller.data(), dirfd).is_some() {
            NOTDIR
        } else {
            BADF
        });
    }
    if oflags & OFLAGS_WRITE != 0
        || fdflags & FDFLAGS_APPEND != 0
        || rights as u64 & WRITE_RIGHTS != 0
    {
        return Ok(ROFS);
    }
    if oflags & OFLAGS_DIRECTORY != 0 {
        return Ok(NOTCAPABLE);
    }
    if path_len as u32 > MAX_PATH_BYTES {
        return Ok(INVAL);
    }
    let (data, state) = split(&mut caller)?;
    let Some(rel) = checked_path(get(data, path as u32, path_len as u32 as usize)?) else {
        return Ok(NOTCAPABLE);
    };
    let slot = match state.extensions.get::<WasiCall>() {
        Some(ctx) => ctx
            .files
            .iter()
            .position(Option::is_none)
            .unwrap_or(ctx.files.len()),
        None => return Ok(NOTCAPABLE),
    };
    if slot >= MAX_OPEN_FILES {
        return Ok(MFILE);
    }
    let Some(files) = state.shared.files.clone() else {
        return Ok(NOTCAPABLE);
    };
    let contents = match files.read(state.tenant.id(), &rel, MAX_FILE_BYTES) {
        Ok(bytes) if bytes.len() > MAX_FILE_BYTES => return Ok(FBIG),
        Ok(bytes) => bytes,
        Err(FileError::NotFound) => return Ok(NOENT),
        Err(FileError::IsDirectory) => return Ok(ISDIR),
        Err(FileError::TooLarge) => return Ok(FBIG),
        Err(FileError::Denied) => return Ok(NOTCAPABLE),
        Err(FileError::Io) => return Ok(IO),
    };
    charge(&mut caller, bytes_fuel(contents.len()))?;
    let (data, state) = split(&mut caller)?;
    let fd = PREOPEN_FD + 1 + slot as u32;
    put(data, out as u32, &fd.to_le_bytes())?;
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return Ok(NOTCAPABLE);
    };
    let file = Some(OpenFile {
        data: contents,
        pos: 0,
    });
    match ctx.files.get_mut(slot) {
        Some(free) => *free = file,
        None => ctx.files.push(file),
    }
    Ok(SUCCESS)
}

fn fd_close(mut caller: Caller<'_, CallState>, fd: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data_mut();
    match file_index(state, fd) {
        Some(i) => {
            if let Some(slot) = state
                .extensions
                .get_mut::<WasiCall>()
                .and_then(|c| c.files.get_mut(i))
            {
                *slot = None;
            }
            Ok(SUCCESS)
        }
        // stdio and the preopened directory stay open.
        None if (0..=PREOPEN_FD as i32).contains(&fd) => Ok(NOTCAPABLE),
        None => Ok(BADF),
    }
}

fn fd_seek(mut caller: Caller<'_, CallState>, fd: i32, offset: i64, whence: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data_mut();
    let Some(file) = file_mut(state, fd) else {
        return Ok(if (0..3).contains(&fd) { SPIPE } else { BADF });
    };
    let base = match whence {
        0 => 0i128,
        1 => i128::from(file.pos),
        2 => file.data.len() as i128,
        _ => return Ok(INVAL),
    };
    let Ok(pos) = u64::try_from(base + i128::from(offset)) else {
        return Ok(INVAL);
    };
    file.pos = pos;
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &pos.to_le_bytes())?;
    Ok(SUCCESS)
}

fn fd_tell(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let Some(pos) = file_mut(caller.data_mut(), fd).map(|f| f.pos) else {
        return Ok(if (0..3).contains(&fd) { SPIPE } else { BADF });
    };
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &pos.to_le_bytes())?;
    Ok(SUCCESS)
}

/// An opened file's `filestat`: regular file, one link, its size; the directory's: a directory.
fn fd_filestat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data_mut();
    let (filetype, len) = if let Some(file) = file_mut(state, fd) {
        (FILETYPE_REGULAR, file.data.len() as u64)
    } else if fd as u32 == PREOPEN_FD && preopen(state) {
        (FILETYPE_DIRECTORY, 0)
    } else {
        return Ok(if (0..3).contains(&fd) {
            NOTCAPABLE
        } else {
            BADF
        });
    };
    let mut stat = [0u8; 64];
    stat[16] = filetype;
    stat[24..32].copy_from_slice(&1u64.to_le_bytes());
    stat[32..40].copy_from_slice(&len.to_le_bytes());
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &stat)?;
    Ok(SUCCESS)
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
    let file = file_index(caller.data(), fd);
    if fd != 0 && file.is_none() {
        return Ok(BADF);
    }
    if count as u32 > MAX_IOVS {
        return Ok(INVAL);
    }
    let (data, state) = split(&mut caller)?;
    let list = iovecs(data, iovs, count)?;
    // The bytes left to read: stdin (the call's input) or the opened file.
    let left = |ctx: &WasiCall| match file.and_then(|i| ctx.files.get(i)?.as_ref()) {
        Some(f) => f
            .data
            .len()
            .saturating_sub(usize::try_from(f.pos).unwrap_or(usize::MAX)),
        None => ctx.stdin.len().saturating_sub(ctx.stdin_pos),
    };
    let available = state.extensions.get::<WasiCall>().map_or(0, left);
    let want: usize = list.iter().map(|(_, l)| *l).fold(0, usize::saturating_add);
    charge(&mut caller, bytes_fuel(want.min(available)))?;
    let (data, state) = split(&mut caller)?;
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return Ok(NOTCAPABLE);
    };
    let mut done = 0usize;
    for (ptr, len) in list {
        let (src, pos) = match file.and_then(|i| ctx.files.get_mut(i)?.as_mut()) {
            Some(f) => {
                let at = usize::try_from(f.pos).unwrap_or(usize::MAX);
                (f.data.get(at..).unwrap_or_default(), &mut f.pos)
            }
            None => (
                ctx.stdin.get(ctx.stdin_pos..).unwrap_or_default(),
                &mut 0u64,
            ),
        };
        let n = len.min(src.len());
        if n == 0 {
            break;
        }
        put(data, ptr, src.get(..n).unwrap_or_default())?;
        *pos += n as u64;
        if file.is_none() {
            ctx.stdin_pos += n;
        }
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
