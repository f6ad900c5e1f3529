//! The fd functions: stdio (fd 0 = the input, 1 = the output, 2 = the log), the preopened
//! directory (fd 3) and the files opened in it (`docs/WASI.md`, Files).

use alloc::vec::Vec;

use wasmi::Caller;

use crate::host_funcs::guest::{charge, trap};
use crate::store::CallState;
use crate::trap::HostTrap;

use super::ctx::{StdoutSink, WasiCall, granted, stderr_write, write_back};
use super::errno::{BADF, DQUOT, FBIG, INVAL, NOTCAPABLE, SPIPE, SUCCESS};
use super::funcs::{Res, bytes_fuel, get, put, size, split, u32_at};
use super::{MAX_IOVS, PRICE};
use crate::files::{
    FILES_READ, FILES_WRITE, MAX_FILE_BYTES, MAX_WRITE_BYTES, OpenFile, PREOPEN_FD, PREOPEN_NAME,
};

pub(super) const FILETYPE_DIRECTORY: u8 = 3;
pub(super) const FILETYPE_REGULAR: u8 = 4;
pub(super) const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_SEEK: u64 = 1 << 2;
const RIGHT_FD_TELL: u64 = 1 << 5;
pub(super) const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_FD_ALLOCATE: u64 = 1 << 8;
const RIGHT_PATH_CREATE_DIRECTORY: u64 = 1 << 9;
const RIGHT_PATH_CREATE_FILE: u64 = 1 << 10;
const RIGHT_PATH_OPEN: u64 = 1 << 13;
const RIGHT_PATH_RENAME_SOURCE: u64 = 1 << 16;
const RIGHT_PATH_RENAME_TARGET: u64 = 1 << 17;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const RIGHT_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
const RIGHT_PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
const RIGHT_PATH_UNLINK_FILE: u64 = 1 << 26;
/// What every opened file allows: seeking, its size.
const FILE_RIGHTS: u64 = RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_FILESTAT_GET;
/// Rights that only writing needs: asking for any of them needs `files.write`.
pub(super) const WRITE_RIGHTS: u64 =
    RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE;
/// What the directory allows a tenant with `files.write` on top of `path_open`.
const DIR_WRITE_RIGHTS: u64 = RIGHT_PATH_CREATE_DIRECTORY
    | RIGHT_PATH_CREATE_FILE
    | RIGHT_PATH_RENAME_SOURCE
    | RIGHT_PATH_RENAME_TARGET
    | RIGHT_PATH_REMOVE_DIRECTORY
    | RIGHT_PATH_UNLINK_FILE;

/// Whether the calling tenant sees the preopened directory.
pub(super) fn preopen(state: &CallState) -> bool {
    state.shared.files.is_some() && granted(state, FILES_READ)
}

/// Whether the calling tenant may also write in it: a writable service and `files.write`.
pub(super) fn may_write(state: &CallState) -> bool {
    preopen(state) && state.shared.files_writable && granted(state, FILES_WRITE)
}

/// The open file behind `fd`: its index in the call's file table.
pub(super) fn file_index(state: &CallState, fd: i32) -> Option<usize> {
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

/// `fdstat` of fds 0-2 (a stream, filetype `unknown`, not a terminal), of the directory and
/// of an opened file, with the rights it really has.
pub(super) fn fd_fdstat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    const POLL_FD_READWRITE: u64 = 1 << 27;
    let state = caller.data();
    let (filetype, rights, inheriting) = match fd {
        0 => (0, RIGHT_FD_READ | POLL_FD_READWRITE, 0),
        1 | 2 => (0, RIGHT_FD_WRITE | POLL_FD_READWRITE, 0),
        _ if fd as u32 == PREOPEN_FD && preopen(state) => {
            let (dir, file) = if may_write(state) {
                (DIR_WRITE_RIGHTS, RIGHT_FD_WRITE)
            } else {
                (0, 0)
            };
            let inherit = FILE_RIGHTS | RIGHT_FD_READ | file;
            (FILETYPE_DIRECTORY, RIGHT_PATH_OPEN | dir, inherit)
        }
        _ => match state
            .extensions
            .get::<WasiCall>()
            .and_then(|c| c.files.get(file_index(state, fd)?)?.as_ref())
        {
            Some(f) => {
                let read = if f.readable { RIGHT_FD_READ } else { 0 };
                let write = if f.writable { RIGHT_FD_WRITE } else { 0 };
                (FILETYPE_REGULAR, FILE_RIGHTS | read | write, 0)
            }
            None => return Ok(BADF),
        },
    };
    let mut stat = [0u8; 24];
    stat[0] = filetype;
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    stat[16..24].copy_from_slice(&inheriting.to_le_bytes());
    let (data, _) = split(&mut caller)?;
    put(data, out as u32, &stat)?;
    Ok(SUCCESS)
}

/// The preopened directory (fd 3) for a tenant granted `files.read` on a runtime with a files
/// service; otherwise `EBADF` for every fd, which is how wasi-libc learns there are none.
pub(super) fn fd_prestat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
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

pub(super) fn fd_prestat_dir_name(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    ptr: i32,
    len: i32,
) -> Res {
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

/// Closes an opened file; one the guest wrote is handed back to the service first (its errno,
/// if that fails: the file is closed either way).
pub(super) fn fd_close(mut caller: Caller<'_, CallState>, fd: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data_mut();
    let Some(i) = file_index(state, fd) else {
        // stdio and the preopened directory stay open.
        return Ok(if (0..=PREOPEN_FD as i32).contains(&fd) {
            NOTCAPABLE
        } else {
            BADF
        });
    };
    let file = state
        .extensions
        .get_mut::<WasiCall>()
        .and_then(|c| c.files.get_mut(i)?.take());
    match file.map(|f| write_back(state, &f)) {
        Some(Err(e)) => Ok(e.errno()),
        _ => Ok(SUCCESS),
    }
}

pub(super) fn fd_seek(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    offset: i64,
    whence: i32,
    out: i32,
) -> Res {
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

pub(super) fn fd_tell(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
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
pub(super) fn fd_filestat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data_mut();
    let (filetype, len) = if let Some(file) = file_mut(state, fd) {
        (FILETYPE_REGULAR, file.data.len() as u64)
    } else if fd as u32 == PREOPEN_FD {
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
fn iovecs(data: &[u8], iovs: i32, count: i32) -> Res<Vec<(u32, usize)>> {
    let mut list = Vec::with_capacity(count as u32 as usize);
    for i in 0..count as u32 {
        let at = (iovs as u32).wrapping_add(i.wrapping_mul(8));
        list.push((
            u32_at(data, at)?,
            u32_at(data, at.wrapping_add(4))? as usize,
        ));
    }
    Ok(list)
}

pub(super) fn fd_read(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    iovs: i32,
    count: i32,
    nread: i32,
) -> Res {
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
        Some(f) if !f.readable => None,
        Some(f) => Some(
            f.data
                .len()
                .saturating_sub(usize::try_from(f.pos).unwrap_or(usize::MAX)),
        ),
        None => Some(ctx.stdin.len().saturating_sub(ctx.stdin_pos)),
    };
    let Some(available) = state.extensions.get::<WasiCall>().map_or(Some(0), left) else {
        // Opened for writing only.
        return Ok(BADF);
    };
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

pub(super) fn fd_write(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    iovs: i32,
    count: i32,
    nwritten: i32,
) -> Res {
    charge(&mut caller, PRICE)?;
    let file = file_index(caller.data(), fd);
    if fd != 1 && fd != 2 && file.is_none() {
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
    // Every region is checked before a byte moves to a file or the sink: all or nothing.
    let check = |data: &[u8]| {
        list.iter()
            .try_for_each(|(p, l)| get(data, *p, *l).map(drop))
    };
    if let Some(i) = file {
        check(data)?;
        let errno = write_file(state, data, i, &list, total);
        if errno != SUCCESS {
            return Ok(errno);
        }
    } else if fd == 1 {
        let cap = state.limits.output_bytes;
        let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
            return Ok(NOTCAPABLE);
        };
        let len = ctx.stdout_len.saturating_add(total);
        if len > cap {
            return Err(trap(HostTrap::OutputTooLarge { len }));
        }
        check(data)?;
        ctx.stdout_len = len;
        if let Some(sink) = state.extensions.get_mut::<StdoutSink>() {
            for (ptr, l) in &list {
                sink.write(get(data, *ptr, *l)?);
            }
        } else if let Some(ctx) = state.extensions.get_mut::<WasiCall>() {
            for (ptr, l) in &list {
                ctx.stdout.extend_from_slice(get(data, *ptr, *l)?);
            }
        }
    } else {
        for (ptr, l) in &list {
            stderr_write(state, get(data, *ptr, *l)?);
        }
    }
    put(data, nwritten as u32, &size(total).to_le_bytes())?;
    Ok(SUCCESS)
}

/// Writes the iovecs' bytes (all inside `data`, `total` in all) into the call's copy of open
/// file `i`, at its position (at its end with `APPEND`), under the call's write quota and the
/// file size limit.
fn write_file(
    state: &mut CallState,
    data: &[u8],
    i: usize,
    list: &[(u32, usize)],
    total: usize,
) -> i32 {
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return NOTCAPABLE;
    };
    let written = ctx.file_written.saturating_add(total);
    let Some(f) = ctx.files.get_mut(i).and_then(Option::as_mut) else {
        return BADF;
    };
    if !f.writable {
        return BADF;
    }
    if written > MAX_WRITE_BYTES {
        return DQUOT;
    }
    let at = if f.append {
        f.data.len()
    } else {
        usize::try_from(f.pos).unwrap_or(usize::MAX)
    };
    let end = at.saturating_add(total);
    if end > MAX_FILE_BYTES {
        return FBIG;
    }
    if f.data.len() < end {
        f.data.resize(end, 0);
    }
    let mut to = at;
    for (ptr, l) in list {
        let src = data.get(super::funcs::range(*ptr, *l)).unwrap_or_default();
        if let Some(dst) = f.data.get_mut(to..to + src.len()) {
            dst.copy_from_slice(src);
        }
        to += src.len();
    }
    f.pos = end as u64;
    f.dirty = true;
    ctx.file_written = written;
    SUCCESS
}
