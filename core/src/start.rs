//! Start functions as ordinary, resumable calls.
//!
//! wasmi runs a module's start function inside instantiation, in one go: it cannot be run in
//! fuel slices, so neither the deadline nor an [`Interrupt`](crate::Interrupt) could stop it,
//! only the whole fuel budget. Palisade therefore never lets wasmi see a start section: at
//! compile time the core removes it and exports the start function under [`START_EXPORT`]
//! instead. Every call runs that export like any entry point, after instantiation (which then
//! runs no guest code) and before `palisade_alloc`, in fuel slices with the deadline and the
//! interrupt checked between them; a [`RawStore`](crate::RawStore) runs it as an invocation
//! under its fuel budget.
//!
//! A module with a start section is also validated as written, so that the rewrite cannot make
//! an invalid module valid (a start function of the wrong type, a `ref.func` that only the
//! start section declared).
//!
//! The rewrite is top-level section surgery on the module bytes: no function body is touched,
//! and a module without a start section is compiled from its own bytes, unchanged (no copy,
//! no extra call). The registry keys modules by the digest of the ORIGINAL bytes.

use alloc::vec::Vec;

use wasmi::{Engine, Module};

use crate::binary::{HEADER, HEADER_LEN, Reader, push_u32, sections};
use crate::error::{ContractViolation, Error, ErrorKind, INVALID_MODULE, wasm_reason};

/// The export under which a module's start function is run.
///
/// wasmi runs a start function inside instantiation, in one go, where neither the deadline nor
/// an [`Interrupt`](crate::Interrupt) could stop it. Palisade therefore removes a module's start
/// section at compile time and exports the start function under this name instead; every call
/// runs it like an entry point, after instantiation and before `palisade_alloc`, in fuel
/// slices with the deadline and the interrupt checked between them. A
/// [`RawStore`](crate::RawStore) runs it as an invocation under its fuel budget. The registry
/// keys modules by the digest of the original bytes.
///
/// Guests cannot export this name
/// themselves: it starts with [`RESERVED_PREFIX`](crate::abi::RESERVED_PREFIX), reserved by
/// the ABI, and a module with a start section that already exports it is refused
/// ([`ContractViolation::ReservedExport`]), also by
/// [`Runtime::compile_raw`](crate::Runtime::compile_raw).
pub const START_EXPORT: &str = "palisade_start";

const EXPORT_SECTION: u8 = 7;
const START_SECTION: u8 = 8;
const CODE_SECTION: u8 = 10;
const EXPORT_KIND_FUNC: u8 = 0;

fn malformed() -> Error {
    // The same shape as wasmi's own refusal: these bytes would not have compiled anyway.
    Error::new(ErrorKind::InvalidModule {
        reason: alloc::string::String::from(INVALID_MODULE),
    })
}

/// If `bytes` has a start section, the module rewritten so that it has none and exports the
/// start function as [`START_EXPORT`]; `None` if it has no start section (compile `bytes`).
///
/// # Errors
///
/// [`ContractViolation::ReservedExport`] if the module has a start section and already exports
/// [`START_EXPORT`]; [`ErrorKind::InvalidModule`] if the top-level structure is malformed.
pub(crate) fn hoist(bytes: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let mut start = None;
    let mut export = None;
    for section in sections(bytes) {
        let section = section.map_err(|_| malformed())?;
        let slot = match section.id {
            START_SECTION => &mut start,
            EXPORT_SECTION => &mut export,
            _ => continue,
        };
        if slot.replace(section).is_some() {
            return Err(malformed()); // a section that may appear once appears twice
        }
    }
    let Some(start) = start else {
        return Ok(None);
    };
    let start_payload = bytes
        .get(start.payload.0..start.payload.1)
        .ok_or_else(malformed)?;
    let mut sr = Reader::new(start_payload);
    let func = sr.u32().ok_or_else(malformed)?;
    if !sr.at_end() {
        return Err(malformed());
    }

    // The export section with one more entry (or a new one, where the start section was: the
    // export section comes right before the start section in the binary format's order).
    let mut exports = Vec::new();
    let (count, entries) = match export {
        Some(e) => {
            let payload = bytes.get(e.payload.0..e.payload.1).ok_or_else(malformed)?;
            let mut er = Reader::new(payload);
            let count = er.u32().ok_or_else(malformed)?;
            let first = er.pos;
            for _ in 0..count {
                let name = er.name().ok_or_else(malformed)?;
                if name == START_EXPORT.as_bytes() {
                    return Err(ContractViolation::ReservedExport {
                        name: START_EXPORT.into(),
                    }
                    .into());
                }
                er.byte().ok_or_else(malformed)?;
                er.u32().ok_or_else(malformed)?;
            }
            if !er.at_end() {
                return Err(malformed());
            }
            let entries = payload.get(first..).ok_or_else(malformed)?;
            (count, entries)
        }
        None => (0, &[][..]),
    };
    let count = count.checked_add(1).ok_or_else(malformed)?;
    push_u32(&mut exports, count);
    exports.extend_from_slice(entries);
    push_u32(&mut exports, START_EXPORT.len() as u32);
    exports.extend_from_slice(START_EXPORT.as_bytes());
    exports.push(EXPORT_KIND_FUNC);
    push_u32(&mut exports, func);
    let exports_len = u32::try_from(exports.len()).map_err(|_| malformed())?;

    let mut out = Vec::with_capacity(bytes.len() + START_EXPORT.len() + 8);
    let copy_until = |out: &mut Vec<u8>, from: usize, to: usize| -> Result<(), Error> {
        out.extend_from_slice(bytes.get(from..to).ok_or_else(malformed)?);
        Ok(())
    };
    let new_section = |out: &mut Vec<u8>| {
        out.push(EXPORT_SECTION);
        push_u32(out, exports_len);
        out.extend_from_slice(&exports);
    };
    match export {
        Some(e) => {
            // header .. export | new export | export end .. start | start end .. end
            copy_until(&mut out, 0, e.start)?;
            new_section(&mut out);
            copy_until(&mut out, e.payload.1, start.start)?;
            copy_until(&mut out, start.payload.1, bytes.len())?;
        }
        None => {
            copy_until(&mut out, 0, start.start)?;
            new_section(&mut out);
            copy_until(&mut out, start.payload.1, bytes.len())?;
        }
    }
    Ok(Some(out))
}

/// Whether `bytes` has a code section that declares no function bodies yet is longer than
/// that count: never valid (the section's size would not match its contents), and wasmi 2.0's
/// parser divides by the count when its strict limits (`min_avg_bytes_per_function`) apply, to
/// 1,000 bytes or more after the count, which panics. Every code section is read, even one the
/// bytes end inside, as wasmi's parser streams it. Found by the `register` fuzz target.
fn empty_code_section_with_bytes(bytes: &[u8]) -> bool {
    if bytes.get(..HEADER_LEN) != Some(&HEADER[..]) {
        return false;
    }
    let mut r = Reader {
        bytes,
        pos: HEADER_LEN,
    };
    while !r.at_end() {
        let (Some(id), Some(len)) = (r.byte(), r.u32()) else {
            return false;
        };
        let len = len as usize;
        if id == CODE_SECTION {
            let end = r.pos.saturating_add(len).min(bytes.len());
            let mut payload = Reader::new(bytes.get(r.pos..end).unwrap_or_default());
            // Every code section: the parser reaches a second one before any order check.
            if payload.u32() == Some(0) && len > payload.pos {
                return true;
            }
        }
        if r.take(len).is_none() {
            return false;
        }
    }
    false
}

/// Compiles `bytes` with its start function [`hoist`]ed; the flag says whether the module has
/// one (exported as [`START_EXPORT`]).
///
/// With the `validate` feature every module is validated and `proof` is ignored. Without it
/// only bytes with a [`Prevalidated`] proof are compiled, unvalidated; the rest is refused.
///
/// # Errors
///
/// As [`hoist`]; [`ErrorKind::InvalidModule`] with wasmi's reason for bytes it refuses, or,
/// without the `validate` feature and a proof, `InvalidModule` with `NO_VALIDATOR`.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    proof: Option<Prevalidated>,
) -> Result<(Module, bool), Error> {
    #[cfg(not(feature = "validate"))]
    let Some(proof) = proof else {
        return Err(Error::new(ErrorKind::InvalidModule {
            reason: alloc::string::String::from(NO_VALIDATOR),
        }));
    };
    if empty_code_section_with_bytes(bytes) {
        return Err(Error::new(ErrorKind::InvalidModule {
            reason: alloc::string::String::from(
                "the code section declares no function bodies but is longer than that count",
            ),
        }));
    }
    match hoist(bytes) {
        Ok(Some(rewritten)) => {
            // Validate the module as written: the rewrite would hide a start function of the
            // wrong type, and its export would count as a declaration for `ref.func`. Only
            // modules with a start function pay for this second validation.
            validate_as_written(engine, bytes)?;
            parse(engine, &rewritten, proof).map(|m| (m, true))
        }
        Ok(None) => parse(engine, bytes, proof).map(|m| (m, false)),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidModule { .. }) => {
            // Let wasmi say what is wrong. Should it accept bytes whose sections could not be
            // read here, refuse them anyway: a start section might have been missed.
            validate_as_written(engine, bytes)?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The reason of `InvalidModule` for a module a build without the validator will not compile.
#[cfg(not(feature = "validate"))]
pub(crate) const NO_VALIDATOR: &str = "this build has no WebAssembly validator (the core's `validate` feature is off): it compiles only bundles signed by a trusted key whose manifest records validation for this engine configuration; pack the module with the validating packer (`BundleBuilder::validate`, e.g. pack_rule) and sign it";

/// Proof that module bytes were validated by wasmi's full validator with this build's engine
/// configuration, elsewhere: made only by the install pipeline
/// ([`Runtime::compile_bundle`](crate::Runtime::compile_bundle)) for a bundle signed by a
/// trusted key whose [`ValidationRecord`](crate::bundle::ValidationRecord) names this build's
/// fingerprint and binds the module's digest. With the `validate` feature it is not needed.
#[derive(Clone, Copy)]
pub(crate) struct Prevalidated(());

impl Prevalidated {
    /// The proof. The caller has checked the signature, the signer's trust and the record.
    #[cfg_attr(
        feature = "validate",
        expect(dead_code, reason = "the validating build never needs the proof")
    )]
    pub(crate) fn vouched_by_trusted_signer() -> Self {
        Self(())
    }
}

#[cfg(feature = "validate")]
fn invalid(e: &wasmi::Error) -> Error {
    Error::new(ErrorKind::InvalidModule {
        reason: wasm_reason(e, INVALID_MODULE),
    })
}

#[cfg(feature = "validate")]
fn parse(engine: &Engine, bytes: &[u8], _proof: Option<Prevalidated>) -> Result<Module, Error> {
    Module::new(engine, bytes).map_err(|e| invalid(&e))
}

#[cfg(not(feature = "validate"))]
fn parse(engine: &Engine, bytes: &[u8], _proof: Prevalidated) -> Result<Module, Error> {
    // SAFETY: `Module::new_unchecked` requires `bytes` to be valid WebAssembly that respects
    // the engine's `Config`; invalid bytes are undefined behaviour in wasmi's translator and
    // executor. This build cannot check that. The `Prevalidated` proof means: the bundle's
    // signature verified against a key in the host's trust store, its manifest's digest matches
    // the module bytes, and its validation record says the signer's packer validated exactly
    // these bytes (`bytes` are either them or their deterministic start-function rewrite, which
    // the packer validated too, with `compile` above) with an engine of this build's
    // configuration fingerprint (a hand-maintained description, `engine::CONFIG_DESCRIPTION`:
    // a change to the engine configuration or to wasmi must change it, or records made for the
    // old one would be accepted). The soundness of this call therefore rests on the signing key
    // and on the packer's honesty: whoever holds a trusted key can make this build run an
    // invalid module, and the sandbox no longer holds against them (docs/EMBEDDED.md).
    #[expect(
        unsafe_code,
        reason = "the pre-validated profile: validation happened on the signer's host"
    )]
    let module = unsafe { Module::new_unchecked(engine, bytes) };
    module.map_err(|e| {
        Error::new(ErrorKind::InvalidModule {
            reason: wasm_reason(&e, INVALID_MODULE),
        })
    })
}

/// Validates `bytes` as written with `engine`'s configuration, keeping nothing.
///
/// It compiles them into a scratch engine (dropped at once, so the module's code is freed:
/// an engine never frees its modules) instead of calling `Module::validate`: `Module::new`'s
/// validator is linked anyway, while `Module::validate` would link a second instantiation of
/// wasmparser's operator visitors (about 10 KiB of flash on a board, docs/EMBEDDED.md).
/// `LazyTranslation` validates every function body in `Module::new`.
#[cfg(feature = "validate")]
fn validate_as_written(engine: &Engine, bytes: &[u8]) -> Result<(), Error> {
    let scratch = Engine::new(engine.config());
    Module::new(&scratch, bytes)
        .map(drop)
        .map_err(|e| invalid(&e))
}

/// Without the validator there is nothing to run: only proven bytes reach here, and the
/// packer's `compile` validated them as written.
#[cfg(not(feature = "validate"))]
fn validate_as_written(_engine: &Engine, _bytes: &[u8]) -> Result<(), Error> {
    Ok(())
}
