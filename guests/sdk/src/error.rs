//! The error channel: guest errors, capability errors, `palisade.fail` and panics.

use alloc::borrow::Cow;
use core::fmt;
use core::panic::Location;

use crate::sys;

/// Guest error codes this SDK uses. A guest may use any other non-zero code for its own errors.
pub mod code {
    /// A generic failure (also what code `0` is turned into: `0` means success).
    pub const FAILED: i32 = 1;
    /// The input could not be decoded (for example by [`export_postcard!`](crate::export_postcard)).
    pub const BAD_INPUT: i32 = 2;
    /// The output could not be encoded.
    pub const BAD_OUTPUT: i32 = 3;
    /// The guest panicked.
    pub const PANIC: i32 = 101;
}

/// A failure the guest reports to the host: a non-zero code and a message.
///
/// Returning `Err(GuestError)` from an entry point names the message with `palisade.output` and
/// returns the code as the call's status; the host sees `ErrorKind::GuestError { code, message }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestError {
    code: i32,
    message: Cow<'static, str>,
}

impl GuestError {
    /// An error with `code` (a `0` becomes [`code::FAILED`]) and `message`.
    pub fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: if code == 0 { code::FAILED } else { code },
            message: message.into(),
        }
    }

    /// An error with [`code::BAD_INPUT`].
    pub fn bad_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::BAD_INPUT, message)
    }

    /// The code the host will see (never `0`).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The message the host will see.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Names the message as the output region and returns the status for the host. The message
    /// is leaked: the instance is dropped after the call, so nothing is lost.
    pub(crate) fn report(self) -> i32 {
        let message: &'static [u8] = match self.message {
            Cow::Borrowed(s) => s.as_bytes(),
            Cow::Owned(s) => s.into_bytes().leak(),
        };
        let (ptr, len) = sys::raw(message);
        // SAFETY: the region is a live, leaked allocation (or static data).
        unsafe { sys::output(ptr, len) };
        self.code
    }
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest error {}: {}", self.code, self.message)
    }
}

/// What a capability function returned instead of success (docs/ABI.md §4, error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapError {
    /// `-1`: the key does not exist.
    NotFound,
    /// `-2`: a key, value or buffer is over its limit.
    TooLarge,
    /// `-3`: a per-call or per-tenant budget is spent.
    Quota,
    /// `-4`: an argument is out of range (unknown pin, channel, level).
    Invalid,
    /// `-5`: the resource exists but this guest may not use it.
    Denied,
    /// `-6`: the host backend failed; retrying later may work.
    Host,
    /// A code this SDK does not know (from a newer host).
    Other(i32),
}

impl CapError {
    /// Decodes a negative status; `None` for `0` and positive values.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            c if c >= 0 => return None,
            -1 => Self::NotFound,
            -2 => Self::TooLarge,
            -3 => Self::Quota,
            -4 => Self::Invalid,
            -5 => Self::Denied,
            -6 => Self::Host,
            c => Self::Other(c),
        })
    }

    /// The ABI code.
    pub fn code(self) -> i32 {
        match self {
            Self::NotFound => -1,
            Self::TooLarge => -2,
            Self::Quota => -3,
            Self::Invalid => -4,
            Self::Denied => -5,
            Self::Host => -6,
            Self::Other(c) => c,
        }
    }

    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::TooLarge => "too large",
            Self::Quota => "quota exceeded",
            Self::Invalid => "invalid argument",
            Self::Denied => "denied",
            Self::Host => "host failure",
            Self::Other(_) => "unknown capability error",
        }
    }

    /// `Ok(status)` for a non-negative status, the error otherwise.
    pub(crate) fn check(status: i32) -> Result<i32, Self> {
        match Self::from_code(status) {
            None => Ok(status),
            Some(e) => Err(e),
        }
    }
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.code())
    }
}

/// A capability error becomes a guest error with the same (negative) code, so `?` works in
/// entry points.
impl From<CapError> for GuestError {
    fn from(e: CapError) -> Self {
        GuestError::new(e.code(), e.as_str())
    }
}

/// Ends the call at once with a guest error carrying `code` and `message` (`palisade.fail`),
/// from anywhere in the call stack.
pub fn fail(code: i32, message: &str) -> ! {
    let (ptr, len) = sys::raw(message.as_bytes());
    // SAFETY: the region is a live borrow; `fail` does not return under a conforming host.
    unsafe { sys::fail(code, ptr, len) };
    // A conforming host never returns from `fail`: trap rather than continue.
    core::arch::wasm32::unreachable()
}

/// A fixed buffer, so that reporting a panic needs no allocation and no `core::fmt`.
struct Buf {
    bytes: [u8; 256],
    len: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) {
        for &b in s {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    fn push_u32(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or_default());
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // A cut inside a multi-byte character: keep the valid prefix.
            Err(e) => core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

/// Ends the call with [`code::PANIC`] and `panicked at <file>:<line>: <message>`. For panic hooks
/// of guests that link `std` (`std::panic::set_hook(Box::new(|i| fail_panic(i.payload_as_str(),
/// i.location())))`).
pub fn fail_panic(message: Option<&str>, location: Option<&Location<'_>>) -> ! {
    let mut buf = Buf {
        bytes: [0; 256],
        len: 0,
    };
    buf.push(b"panicked");
    if let Some(loc) = location {
        buf.push(b" at ");
        buf.push(loc.file().as_bytes());
        buf.push(b":");
        buf.push_u32(loc.line());
    }
    if let Some(m) = message {
        buf.push(b": ");
        buf.push(m.as_bytes());
    }
    fail(code::PANIC, buf.as_str())
}

/// Ends the call for a panic (what [`panic_handler!`](crate::panic_handler) calls).
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail_panic(info.message().as_str(), info.location())
}
