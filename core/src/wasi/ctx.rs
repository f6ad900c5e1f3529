//! A WASI guest's per-call state (kept in the call's extension slot) and how a call runs one.

use alloc::vec::Vec;

use wasmi::{Instance, Store, TypedFunc};

use crate::abi::WasiKind;
use crate::call::drive;
use crate::capability::LOG;
use crate::error::{ContractViolation, Error, ErrorKind};
use crate::escape::MAX_LOG_LINE_BYTES;
use crate::host::{LogLevel, LogRecord};
use crate::start::START_EXPORT;
use crate::store::CallState;

use super::{INITIALIZE, STDERR_TAIL_BYTES};

/// What one call of a WASI guest keeps: stdin, stdout, stderr's partial line and tail, and the
/// exit status. Lives in [`CallState::extensions`] for exactly one call.
pub(crate) struct WasiCall {
    /// The call's input (a copy: the store outlives no borrow).
    pub(crate) stdin: Vec<u8>,
    /// How much of `stdin` the guest has read.
    pub(crate) stdin_pos: usize,
    /// Everything written to fd 1: the call's output.
    pub(crate) stdout: Vec<u8>,
    /// The stderr line not yet ended by a newline.
    line: Vec<u8>,
    /// The last [`STDERR_TAIL_BYTES`] bytes of stderr.
    tail: Vec<u8>,
    /// The status `proc_exit` was called with.
    pub(crate) exit: Option<i32>,
    /// Files opened in the preopened directory: fd `PREOPEN_FD + 1 + i` is `files[i]`.
    pub(crate) files: Vec<Option<super::OpenFile>>,
}

impl WasiCall {
    pub(crate) fn new(input: &[u8]) -> Self {
        Self {
            stdin: input.to_vec(),
            stdin_pos: 0,
            stdout: Vec::new(),
            line: Vec::new(),
            tail: Vec::new(),
            exit: None,
            files: Vec::new(),
        }
    }

    /// stderr's last bytes, lossily as text: the message of a failing exit.
    pub(crate) fn tail_text(&self) -> alloc::string::String {
        alloc::string::String::from_utf8_lossy(&self.tail).into_owned()
    }
}

/// Whether the calling tenant was granted `capability`.
pub(crate) fn granted(state: &CallState, capability: &str) -> bool {
    state
        .shared
        .table
        .index_of(capability)
        .is_some_and(|i| state.tenant.grants().contains_index(i))
}

/// Sends one stderr line to the log: with capability `log`, under the log cap (a line over
/// it is dropped and counted, like a `palisade.log` line that returns `QUOTA`).
fn log_line(state: &mut CallState, line: &[u8]) {
    if !granted(state, LOG) {
        return;
    }
    if state.log_bytes.saturating_add(line.len()) > state.limits.log_bytes {
        state.log_dropped = state.log_dropped.saturating_add(1);
        return;
    }
    state.shared.log.log(&LogRecord {
        tenant: state.tenant.id(),
        digest: &state.digest,
        level: LogLevel::Warn,
        message: line,
    });
    state.log_bytes += line.len();
}

/// Bytes written to fd 2: kept as the tail, and logged line by line (a line longer than
/// [`MAX_LOG_LINE_BYTES`] is logged in pieces).
pub(crate) fn stderr_write(state: &mut CallState, bytes: &[u8]) {
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return;
    };
    let keep = bytes.len().min(STDERR_TAIL_BYTES);
    let excess = (ctx.tail.len() + keep).saturating_sub(STDERR_TAIL_BYTES);
    ctx.tail.drain(..excess.min(ctx.tail.len()));
    ctx.tail
        .extend_from_slice(bytes.get(bytes.len() - keep..).unwrap_or_default());
    let mut line = core::mem::take(&mut ctx.line);
    for piece in bytes.split_inclusive(|b| *b == b'\n') {
        let (content, ends) = match piece.split_last() {
            Some((b'\n', content)) => (content, true),
            _ => (piece, false),
        };
        for chunk in content.chunks(MAX_LOG_LINE_BYTES) {
            let room = MAX_LOG_LINE_BYTES.saturating_sub(line.len());
            let (now, later) = chunk.split_at(chunk.len().min(room));
            line.extend_from_slice(now);
            if line.len() == MAX_LOG_LINE_BYTES {
                log_line(state, &line);
                line.clear();
            }
            line.extend_from_slice(later);
        }
        if ends {
            log_line(state, &line);
            line.clear();
        }
    }
    if let Some(ctx) = state.extensions.get_mut::<WasiCall>() {
        ctx.line = line;
    }
}

/// Logs stderr's unfinished line, if any (at the end of the call or at `proc_exit`).
pub(crate) fn stderr_flush(state: &mut CallState) {
    let Some(ctx) = state.extensions.get_mut::<WasiCall>() else {
        return;
    };
    let line = core::mem::take(&mut ctx.line);
    if !line.is_empty() {
        log_line(state, &line);
    }
}

/// Runs one call of a WASI guest in its fresh instance: the hoisted start function (if any),
/// `_initialize` (a reactor's, if exported), then `entry` — each in fuel slices under the
/// deadline like every entry point. The output is what the guest wrote to fd 1.
pub(crate) fn run<R>(
    store: &mut Store<CallState>,
    instance: &Instance,
    has_start: bool,
    kind: WasiKind,
    entry: &str,
    input: &[u8],
    read: impl FnOnce(&[u8]) -> R,
) -> Result<R, Error> {
    begin(store.data_mut(), input);
    let result = run_functions(store, instance, has_start, kind, entry);
    end(store.data_mut(), result).map(|stdout| read(&stdout))
}

/// Sets up a WASI call's state (stdin = `input`) in the call's extension slot, before any of
/// its guest code runs.
pub(crate) fn begin(state: &mut CallState, input: &[u8]) {
    state.extensions.insert(WasiCall::new(input));
}

/// Ends a WASI call whose functions ended with `result`: logs stderr's unfinished line, takes
/// the call's state out of the extension slot, and returns its stdout — the output — when the
/// functions returned or the guest called `proc_exit(0)`; otherwise `result`'s error.
pub(crate) fn end(state: &mut CallState, result: Result<(), Error>) -> Result<Vec<u8>, Error> {
    stderr_flush(state);
    let ctx = state.extensions.remove::<WasiCall>();
    let exit = ctx.as_ref().and_then(|c| c.exit);
    match result {
        Ok(()) => {}
        // `proc_exit(0)`: success with the output so far.
        Err(_) if exit == Some(0) => {}
        Err(e) => return Err(e),
    }
    Ok(ctx.map(|c| c.stdout).unwrap_or_default())
}

/// The WASI functions a call runs, in order: the hoisted start function (if the module had
/// one), `_initialize` (a reactor's, if exported), then the entry point.
pub(crate) fn call_functions(
    store: &Store<CallState>,
    instance: &Instance,
    has_start: bool,
    kind: WasiKind,
    entry: &str,
) -> Result<Vec<TypedFunc<(), ()>>, Error> {
    let func = |name: &str| -> Result<TypedFunc<(), ()>, Error> {
        instance
            .get_typed_func(store, name)
            .map_err(|_| Error::new(ErrorKind::NoSuchEntry { entry: name.into() }))
    };
    let mut funcs = Vec::with_capacity(3);
    if has_start {
        funcs.push(func(START_EXPORT).map_err(|_| {
            Error::from(ContractViolation::MissingExport {
                name: START_EXPORT,
                expected: "(checked at compile time)",
            })
        })?);
    }
    if kind == WasiKind::Reactor
        && let Ok(init) = func(INITIALIZE)
    {
        funcs.push(init);
    }
    funcs.push(func(entry)?);
    Ok(funcs)
}

fn run_functions(
    store: &mut Store<CallState>,
    instance: &Instance,
    has_start: bool,
    kind: WasiKind,
    entry: &str,
) -> Result<(), Error> {
    for f in call_functions(store, instance, has_start, kind, entry)? {
        drive(store, &f, ())?;
    }
    Ok(())
}
