//! The path functions of the preopened directory: `path_open` (reading with `files.read`,
//! creating, truncating and writing also with `files.write`) and, with `files.write`,
//! `path_create_directory`, `path_unlink_file`, `path_remove_directory` and `path_rename`
//! (`docs/WASI.md`, Files). Every path is checked by `checked_path` before the service sees it.

use alloc::string::String;
use alloc::vec::Vec;

use wasmi::Caller;

use crate::host_funcs::guest::charge;
use crate::store::CallState;

use super::PRICE;
use super::ctx::WasiCall;
use super::errno::{BADF, EXIST, INVAL, MFILE, NOTCAPABLE, NOTDIR, ROFS, SUCCESS};
use super::fd::{RIGHT_FD_READ, WRITE_RIGHTS, file_index, may_write, preopen};
use super::funcs::{Res, bytes_fuel, get, put, split};
use crate::files::{
    FileError, MAX_FILE_BYTES, MAX_OPEN_FILES, OpenFile, PREOPEN_FD, WasiFiles, checked_path,
};

/// `path_open`'s `oflags`.
const OFLAGS_CREAT: i32 = 1;
/// Opening directories (listing them) is outside the profile.
const OFLAGS_DIRECTORY: i32 = 2;
const OFLAGS_EXCL: i32 = 4;
const OFLAGS_TRUNC: i32 = 8;
/// `fdflags`' `APPEND`.
const FDFLAGS_APPEND: i32 = 1;
/// Longest path a path function reads from the guest.
const MAX_PATH_BYTES: u32 = 4096;

/// The checked path at `ptr`/`len` relative to `dirfd`, or the errno to return: `BADF` for
/// an fd that is not open, `NOTDIR` for an opened file, `INVAL` for a path over
/// `MAX_PATH_BYTES`, `NOTCAPABLE` for a path that would leave the directory.
fn dir_path(
    caller: &mut Caller<'_, CallState>,
    dirfd: i32,
    ptr: i32,
    len: i32,
) -> Res<Result<String, i32>> {
    if dirfd as u32 != PREOPEN_FD {
        return Ok(Err(if file_index(caller.data(), dirfd).is_some() {
            NOTDIR
        } else {
            BADF
        }));
    }
    if len as u32 > MAX_PATH_BYTES {
        return Ok(Err(INVAL));
    }
    let (data, _) = split(caller)?;
    Ok(checked_path(get(data, ptr as u32, len as u32 as usize)?).ok_or(NOTCAPABLE))
}

/// Opens a file of the preopened directory: its whole contents are read into the call (at most
/// `MAX_FILE_BYTES`, charged in fuel). Asking to create, truncate, append or write needs
/// `files.write` (`EROFS` without).
#[expect(clippy::too_many_arguments, reason = "the WASI signature")]
pub(super) fn path_open(
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
    let writable = oflags & (OFLAGS_CREAT | OFLAGS_EXCL | OFLAGS_TRUNC) != 0
        || fdflags & FDFLAGS_APPEND != 0
        || rights as u64 & WRITE_RIGHTS != 0;
    let rel = match dir_path(&mut caller, dirfd, path, path_len)? {
        Ok(rel) => rel,
        Err(errno) => return Ok(errno),
    };
    if writable && !may_write(caller.data()) {
        return Ok(ROFS);
    }
    if oflags & OFLAGS_DIRECTORY != 0 {
        return Ok(NOTCAPABLE);
    }
    let state = caller.data();
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
    let (contents, created) = match files.read(state.tenant.id(), &rel, MAX_FILE_BYTES) {
        Ok(_) if oflags & OFLAGS_CREAT != 0 && oflags & OFLAGS_EXCL != 0 => return Ok(EXIST),
        Ok(bytes) if bytes.len() > MAX_FILE_BYTES => return Ok(FileError::TooLarge.errno()),
        Ok(bytes) => (bytes, false),
        Err(FileError::NotFound) if oflags & OFLAGS_CREAT != 0 => (Vec::new(), true),
        Err(e) => return Ok(e.errno()),
    };
    charge(&mut caller, bytes_fuel(contents.len()))?;
    let truncate = oflags & OFLAGS_TRUNC != 0 && !contents.is_empty();
    if created || truncate {
        // Created and truncated at once, as POSIX does: a path the service will not write
        // fails here, where the guest sees it, rather than at a close it may not check.
        let state = caller.data();
        if let Err(e) = files.write(state.tenant.id(), &rel, &[]) {
            return Ok(e.errno());
        }
    }
    let file = OpenFile {
        path: rel,
        data: if truncate { Vec::new() } else { contents },
        pos: 0,
        readable: !writable || rights as u64 & RIGHT_FD_READ != 0,
        writable,
        append: fdflags & FDFLAGS_APPEND != 0,
        dirty: false,
    };
    let (data, state) = split(&mut caller)?;
    let fd = PREOPEN_FD + 1 + slot as u32;
    put(data, out as u32, &fd.to_le_bytes())?;
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return Ok(NOTCAPABLE);
    };
    match ctx.files.get_mut(slot) {
        Some(free) => *free = Some(file),
        None => ctx.files.push(Some(file)),
    }
    Ok(SUCCESS)
}

/// What the path functions below share: fuel, `files.read` (`NOTCAPABLE` without), `files.write`
/// (`EROFS` without), the checked path; then `op` with the service.
fn change(
    caller: &mut Caller<'_, CallState>,
    dirfd: i32,
    ptr: i32,
    len: i32,
    op: impl FnOnce(&dyn WasiFiles, &str, String) -> Result<(), FileError>,
) -> Res {
    charge(caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    if !may_write(caller.data()) {
        return Ok(ROFS);
    }
    let rel = match dir_path(caller, dirfd, ptr, len)? {
        Ok(rel) => rel,
        Err(errno) => return Ok(errno),
    };
    let state = caller.data();
    let Some(files) = state.shared.files.as_deref() else {
        return Ok(NOTCAPABLE);
    };
    Ok(match op(files, state.tenant.id(), rel) {
        Ok(()) => SUCCESS,
        Err(e) => e.errno(),
    })
}

pub(super) fn path_create_directory(
    mut caller: Caller<'_, CallState>,
    dirfd: i32,
    path: i32,
    len: i32,
) -> Res {
    change(&mut caller, dirfd, path, len, |files, tenant, rel| {
        files.create_dir(tenant, &rel)
    })
}

pub(super) fn path_unlink_file(
    mut caller: Caller<'_, CallState>,
    dirfd: i32,
    path: i32,
    len: i32,
) -> Res {
    change(&mut caller, dirfd, path, len, |files, tenant, rel| {
        files.remove_file(tenant, &rel)
    })
}

pub(super) fn path_remove_directory(
    mut caller: Caller<'_, CallState>,
    dirfd: i32,
    path: i32,
    len: i32,
) -> Res {
    change(&mut caller, dirfd, path, len, |files, tenant, rel| {
        files.remove_dir(tenant, &rel)
    })
}

/// Renames within the directory: both fds must be the directory, both paths are checked.
pub(super) fn path_rename(
    mut caller: Caller<'_, CallState>,
    from_fd: i32,
    from: i32,
    from_len: i32,
    to_fd: i32,
    to: i32,
    to_len: i32,
) -> Res {
    charge(&mut caller, PRICE)?;
    if !preopen(caller.data()) {
        return Ok(NOTCAPABLE);
    }
    if !may_write(caller.data()) {
        return Ok(ROFS);
    }
    let from = match dir_path(&mut caller, from_fd, from, from_len)? {
        Ok(rel) => rel,
        Err(errno) => return Ok(errno),
    };
    let to = match dir_path(&mut caller, to_fd, to, to_len)? {
        Ok(rel) => rel,
        Err(errno) => return Ok(errno),
    };
    let state = caller.data();
    let Some(files) = state.shared.files.as_deref() else {
        return Ok(NOTCAPABLE);
    };
    Ok(match files.rename(state.tenant.id(), &from, &to) {
        Ok(()) => SUCCESS,
        Err(e) => e.errno(),
    })
}
