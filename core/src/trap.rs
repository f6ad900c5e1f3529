//! Mapping wasmi's failures to Palisade's errors.

use wasmi::Store;

use alloc::string::String;
use core::fmt;

use crate::error::{Error, ErrorKind, TrapKind, wasm_reason};
use crate::store::CallState;

/// The [`Error`] a wasmi failure of a call amounts to, given the call's state.
pub(crate) fn map_error(store: &Store<CallState>, e: &wasmi::Error) -> Error {
    let state = store.data();
    if let Some(code) = e.as_trap_code() {
        if code == wasmi::TrapCode::OutOfFuel {
            return ErrorKind::OutOfFuel {
                budget: state.limits.fuel,
            }
            .into();
        }
        // A guest whose memory growth the cap refused and which then aborts (what a Rust guest
        // does when an allocation fails) was stopped by the memory cap, not by a bug of its own.
        if code == wasmi::TrapCode::UnreachableCodeReached && state.meter.cap_hits > 0 {
            return ErrorKind::MemoryCap {
                cap_bytes: state.limits.memory_bytes,
            }
            .into();
        }
        return ErrorKind::Trap(trap_kind(code)).into();
    }
    if let Some(trap) = e.downcast_ref::<HostTrap>() {
        let owned = match trap {
            HostTrap::OutOfFuel => HostTrap::OutOfFuel,
            HostTrap::Deadline => HostTrap::Deadline,
            HostTrap::Interrupted => HostTrap::Interrupted,
            HostTrap::MemoryOutOfBounds { ptr, len } => HostTrap::MemoryOutOfBounds {
                ptr: *ptr,
                len: *len,
            },
            HostTrap::OutputTooLarge { len } => HostTrap::OutputTooLarge { len: *len },
            HostTrap::GuestFail { code, message } => HostTrap::GuestFail {
                code: *code,
                message: message.clone(),
            },
        };
        return owned.into_kind(state).into();
    }
    if state.meter.cap_hits > 0 {
        return ErrorKind::MemoryCap {
            cap_bytes: state.limits.memory_bytes,
        }
        .into();
    }
    // The guest's own element or data segment does not fit: its fault, not the host's.
    if let Some(kind) = instantiation_trap(e) {
        return ErrorKind::Trap(kind).into();
    }
    ErrorKind::Host {
        reason: wasm_reason(e, "instantiation or the call failed in wasmi"),
    }
    .into()
}

/// Why a host function stopped the guest. Travels through wasmi as a host error.
pub(crate) enum HostTrap {
    OutOfFuel,
    Deadline,
    Interrupted,
    MemoryOutOfBounds { ptr: u32, len: u32 },
    OutputTooLarge { len: usize },
    GuestFail { code: i32, message: String },
}

// By hand, not derived: a derived impl writes the guest's message with `str`'s `Debug`, whose
// escaping links Unicode tables into every firmware (wasmi's `HostError` needs `Debug`).
impl fmt::Debug for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfFuel => f.write_str("OutOfFuel"),
            Self::Deadline => f.write_str("Deadline"),
            Self::Interrupted => f.write_str("Interrupted"),
            Self::MemoryOutOfBounds { ptr, len } => {
                write!(f, "MemoryOutOfBounds {{ ptr: {ptr}, len: {len} }}")
            }
            Self::OutputTooLarge { len } => write!(f, "OutputTooLarge {{ len: {len} }}"),
            Self::GuestFail { code, message } => {
                write!(f, "GuestFail {{ code: {code}, message: {message} }}")
            }
        }
    }
}

impl fmt::Display for HostTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl wasmi::errors::HostError for HostTrap {}

impl HostTrap {
    pub(crate) fn into_kind(self, state: &CallState) -> ErrorKind {
        match self {
            Self::OutOfFuel => ErrorKind::OutOfFuel {
                budget: state.limits.fuel,
            },
            Self::Deadline => ErrorKind::DeadlineExceeded {
                deadline: state.limits.deadline,
            },
            Self::Interrupted => ErrorKind::Interrupted,
            Self::MemoryOutOfBounds { ptr, len } => ErrorKind::GuestMemoryOutOfBounds { ptr, len },
            Self::OutputTooLarge { len } => ErrorKind::OutputTooLarge {
                len,
                cap: state.limits.output_bytes,
            },
            Self::GuestFail { code, message } => ErrorKind::GuestError { code, message },
        }
    }
}

/// Maps a wasmi trap code to Palisade's.
pub(crate) fn trap_kind(code: wasmi::TrapCode) -> TrapKind {
    use wasmi::TrapCode as T;
    match code {
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        T::TableOutOfBounds => TrapKind::TableOutOfBounds,
        T::IndirectCallToNull => TrapKind::IndirectCallToNull,
        T::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        T::IntegerOverflow => TrapKind::IntegerOverflow,
        T::BadConversionToInteger => TrapKind::BadConversionToInteger,
        T::StackOverflow => TrapKind::StackOverflow,
        T::BadSignature => TrapKind::BadSignature,
        _ => TrapKind::Other,
    }
}

/// The trap a failed instantiation amounts to when the guest's own segments caused it (an
/// element or data segment that does not fit): wasmi reports those as instantiation, table or
/// memory errors rather than trap codes.
pub(crate) fn instantiation_trap(e: &wasmi::Error) -> Option<TrapKind> {
    use wasmi::errors::{ErrorKind as K, InstantiationError, MemoryError, TableError};
    match e.kind() {
        K::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. })
        | K::Table(
            TableError::InitOutOfBounds
            | TableError::SetOutOfBounds
            | TableError::FillOutOfBounds
            | TableError::CopyOutOfBounds,
        ) => Some(TrapKind::TableOutOfBounds),
        K::Memory(MemoryError::OutOfBoundsAccess) => Some(TrapKind::MemoryOutOfBounds),
        _ => None,
    }
}
