//! Engine comparison: Palisade against raw wasmi, wasmtime (Cranelift, Winch, Pulley, warm
//! start), wasm3, tinywasm and stitch, on the same guests with the same inputs.
//!
//! Benchmark ids are `<phase>-<workload>/<engine>` (and `total-<workload>/<engine>/<n>`):
//!
//! | phase | what is timed |
//! |---|---|
//! | `startup` | bytes → first result: compile + instantiate + one call (fresh engine, built untimed) |
//! | `instantiate` | compiled module → store + instance, and dropping them |
//! | `call` | one call on a fresh instance (instantiation not timed) |
//! | `invoke` | one whole invocation: fresh store + instance + call + drop — the cost of each call after the first |
//! | `total` | compile once + `n` invocations (thermostat only: it checks the model `startup + (n-1)·invoke`) |
//!
//! Before timing anything, every engine's output for every workload is checked against the
//! expected output; a mismatch fails the run. An engine that cannot run a workload at all (an
//! unsupported proposal) is reported as skipped, with the reason, and the run goes on.
//!
//! `cargo test --benches` runs each benchmark once (criterion's test mode); `cargo bench` times.

use std::cell::Cell;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion};
use palisade_benches::{
    BenchError, Engine, EngineId, Palisade, Wasmi, WasmiMode, Workload, workloads,
};

/// Invocation counts timed directly for the workloads in [`DIRECT_TOTALS`].
const TOTAL_N: [u64; 5] = [1, 10, 100, 1_000, 10_000];

/// Workloads whose `total` is timed directly, to check the linear model the report uses.
const DIRECT_TOTALS: [&str; 1] = ["thermostat"];

/// Engine + workload pairs that abort the whole process (a panic that cannot unwind inside the
/// engine), so they cannot be tried and skipped: `(engine, workload, why)`.
const KNOWN_CRASHES: [(EngineId, &str, &str); 1] = [(
    EngineId::Stitch,
    "coremark",
    "makepad-stitch 0.1 panics in its compiler (compile.rs:187, index out of bounds) on this module and aborts the process",
)];

/// Counts failures inside timed routines, where `?` cannot reach; checked after each benchmark.
struct Failures(Cell<u64>, Cell<Option<BenchError>>);

impl Failures {
    fn new() -> Self {
        Self(Cell::new(0), Cell::new(None))
    }

    fn note<T>(&self, result: Result<T, BenchError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.set(self.0.get() + 1);
                self.1.set(Some(e));
                None
            }
        }
    }

    fn check(&self, what: &str) -> Result<(), BenchError> {
        match self.1.take() {
            None => Ok(()),
            Some(e) => Err(e.context(&format!(
                "{what}: {} failed iteration(s), the last",
                self.0.replace(0)
            ))),
        }
    }
}

fn run_engine<E: Engine>(
    c: &mut Criterion,
    engine: &E,
    workloads: &mut [Workload],
) -> Result<(), BenchError> {
    let name = engine.id().name();
    for w in workloads.iter_mut() {
        if let Some((_, _, why)) = KNOWN_CRASHES
            .iter()
            .find(|(e, name, _)| *e == engine.id() && *name == w.name)
        {
            println!("SKIP {name} on {}: {why}", w.name);
            continue;
        }
        let prepared = match engine.prepare(&w.wasm) {
            Ok(p) => p,
            Err(e) => {
                println!("SKIP {name} on {}: {e}", w.name);
                continue;
            }
        };
        let module = match engine.compile(&prepared) {
            Ok(m) => m,
            Err(e) => {
                println!("SKIP {name} on {}: {e}", w.name);
                continue;
            }
        };
        // The answer must be right before its speed means anything. Palisade must run every
        // guest; another engine may lack a proposal a guest uses (1-byte pages), and is skipped.
        let out = match engine.invoke(&module, w.entry, &w.input) {
            Ok(out) => out,
            Err(e) if engine.id() == EngineId::Palisade => {
                return Err(e.context(&format!("{name} on {}", w.name)));
            }
            Err(e) => {
                println!("SKIP {name} on {}: {e}", w.name);
                continue;
            }
        };
        // A workload with no independent answer takes the first engine's (Palisade's), and
        // every later engine must agree with it.
        let expected = w.expected.get_or_insert_with(|| out.clone());
        if &out != expected {
            return Err(BenchError::new(format!(
                "{name} on {}: output {out:02x?} differs from the expected {expected:02x?}",
                w.name
            )));
        }
        let w = &*w;
        let bench_id = |phase: &str| format!("{phase}-{}", w.name);
        let failures = Failures::new();

        c.benchmark_group(bench_id("startup"))
            .bench_function(name, |b| {
                b.iter_batched(
                    || failures.note(engine.renew()),
                    |fresh| {
                        let out = fresh
                            .as_ref()
                            .map(|e| failures.note(e.startup(&prepared, w.entry, &w.input)));
                        // The engine is dropped after timing, with the output.
                        (fresh, out)
                    },
                    BatchSize::PerIteration,
                );
            });
        failures.check(&format!("startup {name} {}", w.name))?;

        if engine.separable() {
            c.benchmark_group(bench_id("instantiate"))
                .bench_function(name, |b| {
                    b.iter(|| failures.note(engine.instantiate(&module)).is_some());
                });
            failures.check(&format!("instantiate {name} {}", w.name))?;

            c.benchmark_group(bench_id("call"))
                .bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let Some(mut instance) = failures.note(engine.instantiate(&module))
                            else {
                                continue;
                            };
                            let start = Instant::now();
                            let out = engine.call(&mut instance, w.entry, black_box(&w.input));
                            timed += start.elapsed();
                            black_box(failures.note(out));
                        }
                        timed
                    });
                });
            failures.check(&format!("call {name} {}", w.name))?;
        }

        c.benchmark_group(bench_id("invoke"))
            .bench_function(name, |b| {
                b.iter(|| failures.note(engine.invoke(&module, w.entry, black_box(&w.input))));
            });
        failures.check(&format!("invoke {name} {}", w.name))?;

        if DIRECT_TOTALS.contains(&w.name) {
            let mut group = c.benchmark_group(bench_id("total"));
            for n in TOTAL_N {
                group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                    b.iter_batched(
                        || failures.note(engine.renew()),
                        |fresh| {
                            if let Some(e) = &fresh
                                && let Some(m) = failures.note(e.compile(&prepared))
                            {
                                for _ in 0..n {
                                    black_box(failures.note(e.invoke(&m, w.entry, &w.input)));
                                }
                            }
                            fresh
                        },
                        BatchSize::PerIteration,
                    );
                });
            }
            group.finish();
            failures.check(&format!("total {name} {}", w.name))?;
        }
    }
    Ok(())
}

fn run(c: &mut Criterion) -> Result<(), BenchError> {
    let mut workloads = workloads()?;
    run_engine(c, &Palisade::new()?, &mut workloads)?;
    run_engine(c, &Wasmi::new(WasmiMode::Eager)?, &mut workloads)?;
    run_engine(c, &Wasmi::new(WasmiMode::Lazy)?, &mut workloads)?;
    run_engine(c, &Wasmi::new(WasmiMode::LazyFuel)?, &mut workloads)?;
    #[cfg(feature = "wasmtime")]
    {
        use palisade_benches::{Wasmtime, WasmtimeStrategy, WasmtimeWarm};
        run_engine(
            c,
            &Wasmtime::new(WasmtimeStrategy::Cranelift)?,
            &mut workloads,
        )?;
        run_engine(c, &Wasmtime::new(WasmtimeStrategy::Winch)?, &mut workloads)?;
        run_engine(c, &Wasmtime::new(WasmtimeStrategy::Pulley)?, &mut workloads)?;
        run_engine(c, &WasmtimeWarm::new()?, &mut workloads)?;
    }
    #[cfg(feature = "wasm3")]
    run_engine(c, &palisade_benches::Wasm3::new()?, &mut workloads)?;
    #[cfg(feature = "tinywasm")]
    run_engine(c, &palisade_benches::TinyWasm::new()?, &mut workloads)?;
    #[cfg(feature = "stitch")]
    run_engine(c, &palisade_benches::Stitch::new()?, &mut workloads)?;
    Ok(())
}

fn main() -> ExitCode {
    // Short by default: the machine is shared. `benches/regenerate.sh` passes longer times.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
        .configure_from_args();
    match run(&mut c) {
        Ok(()) => {
            c.final_summary();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("engine benchmarks failed: {e}");
            ExitCode::FAILURE
        }
    }
}
