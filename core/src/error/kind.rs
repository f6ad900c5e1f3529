//! [`ErrorKind`]: what went wrong, how it reads, which outcome class it is, and what to do.

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use super::{BundleError, RegistryError};

use super::{ContractViolation, Outcome, TrapKind};

/// What went wrong. New kinds may be added in minor releases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The guest trapped.
    Trap(TrapKind),
    /// The guest used its whole fuel budget.
    OutOfFuel {
        /// The budget the call had.
        budget: u64,
    },
    /// The call ran past its wall-clock deadline.
    DeadlineExceeded {
        /// The deadline the call had.
        deadline: Duration,
    },
    /// The host stopped the call through its [`Interrupt`](crate::Interrupt) (a client that
    /// went away, a shutdown).
    Interrupted,
    /// The guest's memory would have grown past its cap (at instantiation: its initial memory
    /// is larger than the cap).
    MemoryCap {
        /// The cap in bytes.
        cap_bytes: usize,
    },
    /// The guest reported a failure through the error channel.
    GuestError {
        /// The guest's error code.
        code: i32,
        /// The guest's message (invalid UTF-8 replaced).
        message: String,
    },
    /// The module imports a function of a capability the tenant was not granted.
    CapabilityDenied {
        /// The import, as `module.name`.
        import: String,
        /// The capability that would be needed.
        capability: String,
    },
    /// The module breaks the guest contract (see `docs/ABI.md`).
    ContractViolation(ContractViolation),
    /// The tenant called faster than its `calls_per_second` limit.
    RateLimited {
        /// How long until a call would be admitted.
        retry_after: Duration,
    },
    /// The input is larger than the tenant's `input_bytes` limit.
    InputTooLarge {
        /// The input length.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// The guest named an output larger than the tenant's `output_bytes` limit.
    OutputTooLarge {
        /// The length the guest named.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// The guest named an output region that does not lie inside its memory.
    OutputOutOfBounds {
        /// Start of the region.
        ptr: u32,
        /// Length of the region.
        len: u32,
        /// The memory size in bytes when the output was read.
        memory_bytes: usize,
    },
    /// The guest passed a host function a pointer/length pair outside its memory, or its
    /// allocator returned one.
    GuestMemoryOutOfBounds {
        /// Start of the region.
        ptr: u32,
        /// Length of the region.
        len: u32,
    },
    /// The module has no entry point with this name.
    NoSuchEntry {
        /// The name asked for.
        entry: String,
    },
    /// The bytes are not a valid WebAssembly module (or exceed a compile limit).
    InvalidModule {
        /// Why, as reported by the validator with feature `messages`; without it a fixed
        /// short reason (the shape of the error is the same).
        reason: String,
    },
    /// A configuration or embedding error made by the host program, not the guest.
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A host backend (for example the KV store) failed.
    Host {
        /// What failed.
        reason: String,
    },
    /// A bundle was refused: malformed, not verified, or its manifest does not describe its
    /// module ([`BundleError`]).
    Bundle(BundleError),
    /// The registry refused a rollout step ([`RegistryError`]).
    Registry(RegistryError),
}

impl ErrorKind {
    /// The outcome class of an error of this kind ([`Error::outcome`](super::Error::outcome)).
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Self::Trap(_) | Self::GuestMemoryOutOfBounds { .. } => Outcome::Trap,
            Self::OutOfFuel { .. } => Outcome::OutOfFuel,
            Self::DeadlineExceeded { .. } => Outcome::DeadlineExceeded,
            Self::Interrupted => Outcome::Interrupted,
            Self::MemoryCap { .. } => Outcome::MemoryCap,
            Self::GuestError { .. } => Outcome::GuestError,
            Self::CapabilityDenied { .. } => Outcome::CapabilityDenied,
            Self::RateLimited { .. } => Outcome::RateLimited,
            Self::ContractViolation(_)
            | Self::InputTooLarge { .. }
            | Self::NoSuchEntry { .. }
            | Self::InvalidModule { .. }
            | Self::Bundle(_)
            | Self::Registry(_) => Outcome::Rejected,
            Self::OutputTooLarge { .. } | Self::OutputOutOfBounds { .. } => Outcome::BadOutput,
            Self::Config { .. } | Self::Host { .. } => Outcome::HostError,
        }
    }

    /// What to do about an error of this kind ([`Error::advice`](super::Error::advice)).
    pub(crate) fn advice(&self) -> &'static str {
        match self {
            Self::Trap(TrapKind::StackOverflow) => {
                "the guest recursed too deeply; fix the guest's recursion"
            }
            Self::Trap(_) => "the guest is faulty; fix the guest or report it to its author",
            Self::OutOfFuel { .. } => {
                "the guest needs more work than its budget; raise the `fuel` limit if the work is legitimate"
            }
            Self::DeadlineExceeded { .. } => {
                "the guest took too long; raise the `deadline` limit if the work is legitimate"
            }
            Self::Interrupted => {
                "the host stopped the call (its client went away or the host is shutting down); retry if the result is still wanted"
            }
            Self::MemoryCap { .. } => {
                "the guest needs more memory than its cap; raise the `memory_bytes` limit if that is legitimate"
            }
            Self::GuestError { .. } => "the guest refused the input; see its message",
            Self::CapabilityDenied { .. } => {
                "grant the capability to the tenant, or use a module that does not import it"
            }
            Self::ContractViolation(_) => "rebuild the guest so that it follows docs/ABI.md",
            Self::RateLimited { .. } => "retry after the indicated delay",
            Self::InputTooLarge { .. } => "send a smaller input or raise the `input_bytes` limit",
            Self::OutputTooLarge { .. } => {
                "make the guest return less, or raise the `output_bytes` limit"
            }
            Self::OutputOutOfBounds { .. } | Self::GuestMemoryOutOfBounds { .. } => {
                "the guest passed a bad pointer; fix the guest"
            }
            Self::NoSuchEntry { .. } => {
                "call one of the module's exported entry points (`palisade inspect` lists them)"
            }
            Self::InvalidModule { .. } => {
                "supply a valid WebAssembly module (check that the file is a .wasm, not truncated)"
            }
            Self::Config { .. } => "fix the host configuration",
            Self::Host { .. } => "check the host backend; retrying later may work",
            Self::Bundle(e) => e.advice(),
            Self::Registry(e) => e.advice(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trap(kind) => write!(f, "the guest trapped: {}", kind.as_str()),
            Self::OutOfFuel { budget } => {
                write!(f, "the guest ran out of fuel (budget {budget})")
            }
            Self::DeadlineExceeded { deadline } => write!(
                f,
                "the guest exceeded its deadline of {} µs",
                deadline.as_micros()
            ),
            Self::Interrupted => f.write_str("the call was interrupted by the host"),
            Self::MemoryCap { cap_bytes } => {
                write!(f, "the guest hit its memory cap of {cap_bytes} bytes")
            }
            Self::GuestError { code, message } => {
                write!(
                    f,
                    "the guest returned error {code}: {}",
                    crate::escape::Escaped::str(message)
                )
            }
            Self::CapabilityDenied { import, capability } => write!(
                f,
                "import `{import}` needs capability `{capability}`, which is not granted"
            ),
            Self::ContractViolation(v) => write!(f, "contract violation: {v}"),
            Self::RateLimited { retry_after } => write!(
                f,
                "call rate limit exceeded; retry in {} ms",
                retry_after.as_millis()
            ),
            Self::InputTooLarge { len, cap } => {
                write!(f, "the input is {len} bytes, over the cap of {cap}")
            }
            Self::OutputTooLarge { len, cap } => {
                write!(
                    f,
                    "the guest's output is {len} bytes, over the cap of {cap}"
                )
            }
            Self::OutputOutOfBounds {
                ptr,
                len,
                memory_bytes,
            } => write!(
                f,
                "the guest's output region {ptr}+{len} lies outside its {memory_bytes}-byte memory"
            ),
            Self::GuestMemoryOutOfBounds { ptr, len } => write!(
                f,
                "the guest passed the region {ptr}+{len}, which lies outside its memory"
            ),
            Self::NoSuchEntry { entry } => {
                write!(f, "the module has no entry point `{entry}`")
            }
            Self::InvalidModule { reason } => write!(f, "invalid module: {reason}"),
            Self::Config { reason } => write!(f, "configuration error: {reason}"),
            Self::Host { reason } => write!(f, "host error: {reason}"),
            Self::Bundle(e) => fmt::Display::fmt(e, f),
            Self::Registry(e) => fmt::Display::fmt(e, f),
        }
    }
}
