//! The one error type of Palisade, its kinds, and the outcome classes used by reports and metrics.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::bundle::BundleError;
use crate::registry::RegistryError;

/// An error from Palisade: what happened, to which plugin and tenant, and what to do about it.
///
/// Guest outcomes (a trap, running out of fuel, a deadline, the memory cap, a guest error) are
/// data, distinguished by [`Error::kind`] and classified by [`Error::outcome`]; host and
/// configuration errors are kinds of their own. The error is one pointer wide so that
/// `Result<T, Error>` stays cheap on the per-call path.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    plugin: Option<Box<str>>,
    tenant: Option<Box<str>>,
}

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

/// A trap: the guest failed in a way WebAssembly defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TrapKind {
    /// `unreachable` was executed (Rust guests: a panic or abort).
    Unreachable,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A table access outside the table.
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    IndirectCallToNull,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow (for example `i32::MIN / -1`).
    IntegerOverflow,
    /// A float that cannot be converted to an integer.
    BadConversionToInteger,
    /// The call stack grew too deep (runaway recursion).
    StackOverflow,
    /// `call_indirect` with a mismatched signature.
    BadSignature,
    /// Any other trap.
    Other,
}

impl TrapKind {
    /// A short, stable name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::MemoryOutOfBounds => "memory out of bounds",
            Self::TableOutOfBounds => "table out of bounds",
            Self::IndirectCallToNull => "indirect call to null",
            Self::IntegerDivisionByZero => "integer division by zero",
            Self::IntegerOverflow => "integer overflow",
            Self::BadConversionToInteger => "bad conversion to integer",
            Self::StackOverflow => "stack overflow",
            Self::BadSignature => "bad signature",
            Self::Other => "other trap",
        }
    }
}

/// Exactly how a module breaks the guest contract.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ContractViolation {
    /// No `palisade.abi` custom section.
    MissingAbiVersion,
    /// The `palisade.abi` section is not four bytes, or appears twice.
    MalformedAbiVersion,
    /// The declared version is not one this host accepts.
    UnsupportedAbiVersion {
        /// The version the guest declared.
        found: u32,
        /// The lowest version accepted.
        min: u32,
        /// The highest version accepted.
        max: u32,
    },
    /// A required export is missing.
    MissingExport {
        /// The export's name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An export has the wrong type.
    WrongExportType {
        /// The export's name.
        name: String,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// The module exports no entry point.
    NoEntryPoint,
    /// An export uses a reserved `palisade_` name the ABI does not define.
    ReservedExport {
        /// The export's name.
        name: String,
    },
    /// An import from a module other than `palisade`, or of something that is not a function.
    ForeignImport {
        /// The import, as `module.name`.
        import: String,
    },
    /// An import of a `palisade` function this host does not provide.
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// An import of a known function with the wrong signature.
    ImportSignature {
        /// The import's name.
        name: String,
        /// The signature the host provides.
        expected: String,
        /// The signature the module asks for.
        found: String,
    },
    /// The module is larger than the host's `max_module_bytes`.
    ModuleTooLarge {
        /// The module's size.
        len: usize,
        /// The cap.
        cap: usize,
    },
}

impl fmt::Display for ContractViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingAbiVersion => f.write_str(
                "the module declares no ABI version (no `palisade.abi` custom section); build it with the palisade-guest SDK or add the section (docs/ABI.md §1)",
            ),
            Self::MalformedAbiVersion => f.write_str(
                "the `palisade.abi` custom section must appear once and hold exactly 4 bytes (a little-endian u32)",
            ),
            Self::UnsupportedAbiVersion { found, min, max } => write!(
                f,
                "the module declares ABI version {found}, but this host accepts {min}..={max}; rebuild the guest against a supported palisade-guest SDK"
            ),
            Self::MissingExport { name, expected } => {
                write!(f, "the module does not export `{name}` ({expected})")
            }
            Self::WrongExportType {
                name,
                expected,
                found,
            } => write!(
                f,
                "export `{name}` is {found}, but must be {expected}"
            ),
            Self::NoEntryPoint => f.write_str(
                "the module exports no entry point: export a function `(i32, i32) -> i32`",
            ),
            Self::ReservedExport { name } => write!(
                f,
                "export `{name}` uses the reserved `palisade_` prefix; rename it"
            ),
            Self::ForeignImport { import } => write!(
                f,
                "import `{import}` is not a function of the `palisade` namespace; guests may import only `palisade` functions"
            ),
            Self::UnknownImport { name } => write!(
                f,
                "import `palisade.{name}` is not provided by this host; check the name against docs/ABI.md"
            ),
            Self::ImportSignature {
                name,
                expected,
                found,
            } => write!(
                f,
                "import `palisade.{name}` has type {found}, but the host provides {expected}"
            ),
            Self::ModuleTooLarge { len, cap } => write!(
                f,
                "the module is {len} bytes, over this host's limit of {cap} bytes"
            ),
        }
    }
}

/// The class of a call's outcome: what reports show and metrics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Outcome {
    /// The guest returned success.
    Ok,
    /// The guest reported an error through the error channel.
    GuestError,
    /// The guest trapped.
    Trap,
    /// The fuel budget ran out.
    OutOfFuel,
    /// The wall-clock deadline passed.
    DeadlineExceeded,
    /// The memory cap stopped the guest.
    MemoryCap,
    /// A capability the tenant lacks was needed.
    CapabilityDenied,
    /// The tenant's call rate was exceeded.
    RateLimited,
    /// The call was refused before running: bad input, unknown entry, contract violation.
    Rejected,
    /// The guest's output was too large or outside its memory.
    BadOutput,
    /// The host failed (configuration or backend).
    HostError,
    /// The host stopped the call through its [`Interrupt`](crate::Interrupt).
    Interrupted,
}

impl Outcome {
    /// How many outcome classes there are (the length of [`Outcome::ALL`]).
    pub const COUNT: usize = 12;

    /// Every outcome class, in a stable order (the index of each is [`Outcome::index`]).
    pub const ALL: [Outcome; Self::COUNT] = [
        Self::Ok,
        Self::GuestError,
        Self::Trap,
        Self::OutOfFuel,
        Self::DeadlineExceeded,
        Self::MemoryCap,
        Self::CapabilityDenied,
        Self::RateLimited,
        Self::Rejected,
        Self::BadOutput,
        Self::HostError,
        Self::Interrupted,
    ];

    /// The position of this class in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short, stable, snake_case name (used as a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::GuestError => "guest_error",
            Self::Trap => "trap",
            Self::OutOfFuel => "out_of_fuel",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::MemoryCap => "memory_cap",
            Self::CapabilityDenied => "capability_denied",
            Self::RateLimited => "rate_limited",
            Self::Rejected => "rejected",
            Self::BadOutput => "bad_output",
            Self::HostError => "host_error",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// Creates an error of the given kind, with no plugin or tenant attached yet.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                plugin: None,
                tenant: None,
            }),
        }
    }

    /// Shorthand for a [`ErrorKind::Config`] error.
    pub fn config(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config {
            reason: reason.into(),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The outcome class of this error.
    pub fn outcome(&self) -> Outcome {
        match self.kind() {
            ErrorKind::Trap(_) | ErrorKind::GuestMemoryOutOfBounds { .. } => Outcome::Trap,
            ErrorKind::OutOfFuel { .. } => Outcome::OutOfFuel,
            ErrorKind::DeadlineExceeded { .. } => Outcome::DeadlineExceeded,
            ErrorKind::Interrupted => Outcome::Interrupted,
            ErrorKind::MemoryCap { .. } => Outcome::MemoryCap,
            ErrorKind::GuestError { .. } => Outcome::GuestError,
            ErrorKind::CapabilityDenied { .. } => Outcome::CapabilityDenied,
            ErrorKind::RateLimited { .. } => Outcome::RateLimited,
            ErrorKind::ContractViolation(_)
            | ErrorKind::InputTooLarge { .. }
            | ErrorKind::NoSuchEntry { .. }
            | ErrorKind::InvalidModule { .. }
            | ErrorKind::Bundle(_)
            | ErrorKind::Registry(_) => Outcome::Rejected,
            ErrorKind::OutputTooLarge { .. } | ErrorKind::OutputOutOfBounds { .. } => {
                Outcome::BadOutput
            }
            ErrorKind::Config { .. } | ErrorKind::Host { .. } => Outcome::HostError,
        }
    }

    /// The plugin the error concerns, if known.
    pub fn plugin(&self) -> Option<&str> {
        self.inner.plugin.as_deref()
    }

    /// The tenant the error concerns, if known.
    pub fn tenant(&self) -> Option<&str> {
        self.inner.tenant.as_deref()
    }

    /// Attaches the plugin name (kept if one is already attached).
    #[must_use]
    pub fn with_plugin(mut self, plugin: &str) -> Self {
        if self.inner.plugin.is_none() {
            self.inner.plugin = Some(plugin.into());
        }
        self
    }

    /// Attaches the tenant id (kept if one is already attached).
    #[must_use]
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        if self.inner.tenant.is_none() {
            self.inner.tenant = Some(tenant.into());
        }
        self
    }

    /// What the person reading the error should do next.
    pub fn advice(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Trap(TrapKind::StackOverflow) => {
                "the guest recursed too deeply; fix the guest's recursion"
            }
            ErrorKind::Trap(_) => "the guest is faulty; fix the guest or report it to its author",
            ErrorKind::OutOfFuel { .. } => {
                "the guest needs more work than its budget; raise the `fuel` limit if the work is legitimate"
            }
            ErrorKind::DeadlineExceeded { .. } => {
                "the guest took too long; raise the `deadline` limit if the work is legitimate"
            }
            ErrorKind::Interrupted => {
                "the host stopped the call (its client went away or the host is shutting down); retry if the result is still wanted"
            }
            ErrorKind::MemoryCap { .. } => {
                "the guest needs more memory than its cap; raise the `memory_bytes` limit if that is legitimate"
            }
            ErrorKind::GuestError { .. } => "the guest refused the input; see its message",
            ErrorKind::CapabilityDenied { .. } => {
                "grant the capability to the tenant, or use a module that does not import it"
            }
            ErrorKind::ContractViolation(_) => "rebuild the guest so that it follows docs/ABI.md",
            ErrorKind::RateLimited { .. } => "retry after the indicated delay",
            ErrorKind::InputTooLarge { .. } => {
                "send a smaller input or raise the `input_bytes` limit"
            }
            ErrorKind::OutputTooLarge { .. } => {
                "make the guest return less, or raise the `output_bytes` limit"
            }
            ErrorKind::OutputOutOfBounds { .. } | ErrorKind::GuestMemoryOutOfBounds { .. } => {
                "the guest passed a bad pointer; fix the guest"
            }
            ErrorKind::NoSuchEntry { .. } => {
                "call one of the module's exported entry points (`palisade inspect` lists them)"
            }
            ErrorKind::InvalidModule { .. } => {
                "supply a valid WebAssembly module (check that the file is a .wasm, not truncated)"
            }
            ErrorKind::Config { .. } => "fix the host configuration",
            ErrorKind::Host { .. } => "check the host backend; retrying later may work",
            ErrorKind::Bundle(e) => e.advice(),
            ErrorKind::Registry(e) => e.advice(),
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)?;
        match (&self.inner.plugin, &self.inner.tenant) {
            (Some(p), Some(t)) => write!(f, " (plugin `{p}`, tenant `{t}`)")?,
            (Some(p), None) => write!(f, " (plugin `{p}`)")?,
            (None, Some(t)) => write!(f, " (tenant `{t}`)")?,
            (None, None) => {}
        }
        write!(f, "; {}", self.advice())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("plugin", &self.inner.plugin)
            .field("tenant", &self.inner.tenant)
            .finish()
    }
}

impl core::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Self::new(ErrorKind::Registry(e))
    }
}

impl From<ContractViolation> for Error {
    fn from(v: ContractViolation) -> Self {
        Self::new(ErrorKind::ContractViolation(v))
    }
}

/// The reason of [`ErrorKind::InvalidModule`] without feature `messages`.
pub(crate) const INVALID_MODULE: &str = "the bytes are not a valid WebAssembly module or exceed a compile limit (the validator's reason needs palisade feature `messages`)";

/// Joins `parts` into one string without `core::fmt` (which costs flash on a board).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// The reason to store for an error of wasmi: its message with feature `messages`, else `short`.
///
/// wasmi's and wasmparser's `Display` impls (and the formatting machinery behind them) are
/// tens of KiB of flash that a board without a console never shows.
#[cfg(feature = "messages")]
pub(crate) fn wasm_reason(e: &impl fmt::Display, _short: &'static str) -> String {
    alloc::string::ToString::to_string(e)
}

/// The reason to store for an error of wasmi: its message with feature `messages`, else `short`.
///
/// wasmi's and wasmparser's `Display` impls (and the formatting machinery behind them) are
/// tens of KiB of flash that a board without a console never shows.
#[cfg(not(feature = "messages"))]
pub(crate) fn wasm_reason<E>(_e: &E, short: &'static str) -> String {
    String::from(short)
}
