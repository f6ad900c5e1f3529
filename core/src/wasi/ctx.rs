//! A WASI guest's per-call state (kept in the call's extension slot) and how a call runs one.

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasmi::{Instance, Store, TypedFunc};

use crate::abi::WasiKind;
use crate::capability::LOG;
use crate::drive::drive;
use crate::error::{ContractViolation, Error, ErrorKind};
use crate::escape::{Escaped, MAX_LOG_LINE_BYTES};
use crate::host::{LogLevel, LogRecord};
use crate::start::START_EXPORT;
use crate::store::CallState;

use super::{INITIALIZE, OpenFile, STDERR_TAIL_BYTES};

/// Where a WASI guest's stdout goes while the guest runs, instead of into the call's output.
///
/// Seed one into the call's extension slot
/// ([`Runtime::call_with_extensions`](crate::Runtime::call_with_extensions)) and every
/// `fd_write` to fd 1 is handed to it at once, in order: a terminal sees a program's output
/// as it is written, and what a program wrote before it failed is not lost. The output cap
/// ([`Limits::output_bytes`](crate::Limits::output_bytes)) still bounds everything streamed
/// (the write that would pass it ends the call with `OutputTooLarge` and is not handed on);
/// the call's output is then empty. The sink runs inside the host function: it must not block
/// for long, as the deadline is not checked while it runs.
///
/// ```
/// use palisade::{Extensions, wasi::StdoutSink};
/// let mut ext = Extensions::new();
/// ext.insert(StdoutSink::new(|bytes: &[u8]| {
///     let _ = bytes; // e.g. `std::io::stdout().write_all(bytes)`
/// }));
/// ```
pub struct StdoutSink(Box<SinkFn>);

/// What a [`StdoutSink`] calls with each write.
type SinkFn = dyn FnMut(&[u8]) + Send;

impl StdoutSink {
    /// A sink that hands each write to `write`.
    pub fn new(write: impl FnMut(&[u8]) + Send + 'static) -> Self {
        Self(Box::new(write))
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        (self.0)(bytes);
    }
}

impl core::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StdoutSink")
    }
}

/// What one call of a WASI guest keeps: stdin, stdout, stderr's partial line and tail, and the
/// exit status. Lives in [`CallState::extensions`] for exactly one call.
pub(crate) struct WasiCall {
    /// The call's input (a copy: the store outlives no borrow).
    pub(crate) stdin: Vec<u8>,
    /// How much of `stdin` the guest has read.
    pub(crate) stdin_pos: usize,
    /// Everything written to fd 1: the call's output (empty when streamed to a [`StdoutSink`]).
    pub(crate) stdout: Vec<u8>,
    /// Bytes written to fd 1 in all, streamed or kept: what the output cap bounds.
    pub(crate) stdout_len: usize,
    /// Bytes written to files in this call (bounded by `MAX_WRITE_BYTES`).
    pub(crate) file_written: usize,
    /// The stderr line not yet ended by a newline.
    line: Vec<u8>,
    /// The last [`STDERR_TAIL_BYTES`] bytes of stderr.
    tail: Vec<u8>,
    /// The status `proc_exit` was called with.
    pub(crate) exit: Option<i32>,
    /// Files opened in the preopened directory: fd `PREOPEN_FD + 1 + i` is `files[i]`.
    pub(crate) files: Vec<Option<OpenFile>>,
}

impl WasiCall {
    pub(crate) fn new(input: &[u8]) -> Self {
        Self {
            stdin: input.to_vec(),
            stdin_pos: 0,
            stdout: Vec::new(),
            stdout_len: 0,
            file_written: 0,
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
        .id_of(capability)
        .is_some_and(|i| state.tenant.grants().contains(i))
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
        extensions: &state.extensions,
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
/// functions returned or the guest called `proc_exit(0)`; otherwise `result`'s error. Files the
/// guest wrote and left open are written back only when the call succeeds.
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
    let Some(ctx) = ctx else {
        return Ok(Vec::new());
    };
    for file in ctx.files.iter().flatten() {
        if let Err(e) = write_back(state, file) {
            return Err(Error::new(ErrorKind::Host {
                reason: alloc::format!(
                    "the WASI file `{}` that tenant `{}` left open could not be written back: {e:?}",
                    Escaped::new(file.path.as_bytes()),
                    state.tenant.id()
                ),
            }));
        }
    }
    Ok(ctx.stdout)
}

/// Hands a file the guest wrote back to the host's files service (a file not written since it
/// was opened is left alone).
pub(crate) fn write_back(state: &CallState, file: &OpenFile) -> Result<(), super::FileError> {
    if !file.dirty {
        return Ok(());
    }
    match &state.shared.files {
        Some(files) => files.write(state.tenant.id(), &file.path, &file.data),
        None => Err(super::FileError::ReadOnly),
    }
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
