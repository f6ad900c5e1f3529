//! [`TrapKind`] and [`Outcome`]: the allocation-free classes that reports and metrics use.

use core::fmt;

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
