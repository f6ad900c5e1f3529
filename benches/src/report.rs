//! Turns measured phase times into `docs/BENCHMARKS.md`: tables per phase, the total cost for
//! N invocations, the crossover points and the targets.
//!
//! Pure functions on numbers: the `bench-report` binary reads criterion's files, calls
//! [`render`], and draws the plot.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::EngineId;

/// The invocation counts the report tabulates.
pub const N_VALUES: [u64; 5] = [1, 10, 100, 1_000, 10_000];

/// The phases measured for every engine and workload, in report order.
pub const PHASES: [&str; 4] = ["startup", "instantiate", "call", "invoke"];

/// One measured benchmark: `<phase>-<workload>/<engine>[/<n>]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// `startup`, `instantiate`, `call`, `invoke` or `total`.
    pub phase: String,
    /// The workload name.
    pub workload: String,
    /// The engine.
    pub engine: EngineId,
    /// For `total`: the number of invocations.
    pub n: Option<u64>,
}

impl Key {
    /// Parses criterion's group id (`<phase>-<workload>`), function id (the engine) and value
    /// (`n`, for `total`). `None` for a benchmark this crate did not write.
    pub fn parse(group: &str, function: &str, value: Option<&str>) -> Option<Key> {
        let (phase, workload) = group.split_once('-')?;
        let engine = EngineId::from_name(function)?;
        let n = match value {
            Some(v) => Some(v.parse().ok()?),
            None => None,
        };
        Some(Key {
            phase: phase.into(),
            workload: workload.into(),
            engine,
            n,
        })
    }
}

/// Everything measured in one run: times in nanoseconds, and the engines that could not run a
/// workload, with the reason.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Median time per iteration, in nanoseconds.
    pub times: BTreeMap<Key, f64>,
    /// `(engine, workload, reason)` for each pair the benches skipped.
    pub skips: Vec<(EngineId, String, String)>,
}

impl Results {
    /// The median time of `phase` for `engine` on `workload`, in nanoseconds.
    pub fn get(&self, phase: &str, workload: &str, engine: EngineId) -> Option<f64> {
        self.times
            .get(&Key {
                phase: phase.into(),
                workload: workload.into(),
                engine,
                n: None,
            })
            .copied()
    }

    /// The directly measured total for `n` invocations, if it was measured.
    pub fn measured_total(&self, workload: &str, engine: EngineId, n: u64) -> Option<f64> {
        self.times
            .get(&Key {
                phase: "total".into(),
                workload: workload.into(),
                engine,
                n: Some(n),
            })
            .copied()
    }

    /// The modelled total cost of `n` invocations, starting from bytes:
    /// `startup + (n - 1) * invoke`.
    pub fn total(&self, workload: &str, engine: EngineId, n: u64) -> Option<f64> {
        let startup = self.get("startup", workload, engine)?;
        let invoke = self.get("invoke", workload, engine)?;
        Some(total(startup, invoke, n))
    }

    /// The engines that have a measurement, in report order.
    pub fn engines(&self) -> Vec<EngineId> {
        let present: BTreeSet<EngineId> = self.times.keys().map(|k| k.engine).collect();
        EngineId::ALL
            .into_iter()
            .filter(|e| present.contains(e))
            .collect()
    }

    /// The crossover of `engine` against Palisade on `workload` (see [`crossover`]).
    pub fn crossover(&self, workload: &str, engine: EngineId) -> Option<Crossover> {
        let p = EngineId::Palisade;
        Some(crossover(
            self.get("startup", workload, p)?,
            self.get("invoke", workload, p)?,
            self.get("startup", workload, engine)?,
            self.get("invoke", workload, engine)?,
        ))
    }
}

/// `startup + (n - 1) * invoke`: the total cost of `n` invocations from bytes.
pub fn total(startup: f64, invoke: f64, n: u64) -> f64 {
    startup + (n.saturating_sub(1) as f64) * invoke
}

/// When another engine's total cost falls below Palisade's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossover {
    /// It costs less from the first invocation on (it even starts faster).
    Always,
    /// It costs less from this many invocations on.
    After(u64),
    /// It never costs less: it is no faster per invocation.
    Never,
}

/// The smallest number of invocations `n >= 1` after which `other` costs less in total than
/// `base`, where an engine's total for `n` invocations is `startup + (n - 1) * invoke`.
pub fn crossover(
    base_startup: f64,
    base_invoke: f64,
    other_startup: f64,
    other_invoke: f64,
) -> Crossover {
    if other_startup < base_startup {
        return Crossover::Always;
    }
    if other_invoke >= base_invoke {
        return Crossover::Never;
    }
    // other_startup + (n-1)·other_invoke < base_startup + (n-1)·base_invoke
    //   ⇔ n - 1 > (other_startup - base_startup) / (base_invoke - other_invoke)
    let gap = (other_startup - base_startup) / (base_invoke - other_invoke);
    let n = gap.floor() + 2.0;
    if n.is_finite() && n < 1e18 {
        Crossover::After(n as u64)
    } else {
        Crossover::Never
    }
}

/// A nanosecond figure in a readable unit with three significant digits.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

fn format_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Crossover {
    /// How the crossover table prints it.
    pub fn describe(self) -> String {
        match self {
            Crossover::Always => "1 (starts faster)".into(),
            Crossover::After(n) => format_count(n),
            Crossover::Never => "never".into(),
        }
    }
}

/// One target of the issue, with the ratio measured in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is compared.
    pub name: String,
    /// The measured value (a ratio, or a number of calls for a crossover).
    pub value: Option<f64>,
    /// The bound the value must meet.
    pub bound: f64,
    /// `true` when the value must be at least the bound, `false` when at most.
    pub at_least: bool,
}

impl Target {
    /// Whether the measured value meets the bound (`None` when it was not measured).
    pub fn met(&self) -> Option<bool> {
        let v = self.value?;
        Some(if self.at_least {
            v >= self.bound
        } else {
            v <= self.bound
        })
    }
}

/// Names of the workloads the targets refer to.
pub mod names {
    /// The tiny, short-lived guest.
    pub const TINY: &str = "thermostat";
    /// The CoreMark guest.
    pub const COREMARK: &str = "coremark";
    /// Guests whose cost is execution, not setup: used for the execution and fuel ratios.
    pub const EXECUTION: [&str; 3] = ["fib", "coremark", "sha256-64k"];
}

fn ratio(results: &Results, phase: &str, workload: &str, a: EngineId, b: EngineId) -> Option<f64> {
    Some(results.get(phase, workload, a)? / results.get(phase, workload, b)?)
}

/// The targets from the issue, each with the value measured in this run.
pub fn targets(results: &Results) -> Vec<Target> {
    use EngineId::{Cranelift, Palisade, WasmiLazy, WasmiLazyFuel, WasmtimeWarm};
    let mut out = Vec::new();
    for w in [names::TINY, names::COREMARK] {
        out.push(Target {
            name: format!("Cranelift startup / Palisade startup, {w}"),
            value: ratio(results, "startup", w, Cranelift, Palisade),
            bound: 100.0,
            at_least: true,
        });
    }
    out.push(Target {
        name: format!(
            "Palisade per call / raw wasmi (lazy, no fuel) per call, {}, fresh instance each call",
            names::TINY
        ),
        value: ratio(results, "invoke", names::TINY, Palisade, WasmiLazy),
        bound: 1.25,
        at_least: false,
    });
    out.push(Target {
        name: format!(
            "Palisade per call / wasmtime pooled InstancePre per call, {}",
            names::TINY
        ),
        value: ratio(results, "invoke", names::TINY, Palisade, WasmtimeWarm),
        bound: 1.5,
        at_least: false,
    });
    for w in names::EXECUTION {
        out.push(Target {
            name: format!("Palisade execution / raw wasmi execution, both with fuel, {w}"),
            value: ratio(results, "invoke", w, Palisade, WasmiLazyFuel),
            bound: 1.10,
            at_least: false,
        });
    }
    for w in names::EXECUTION {
        out.push(Target {
            name: format!("raw wasmi fuel on / fuel off, {w}"),
            value: ratio(results, "invoke", w, WasmiLazyFuel, WasmiLazy),
            bound: 1.15,
            at_least: false,
        });
    }
    out.push(Target {
        name: format!("{} crossover against Cranelift (calls)", names::TINY),
        value: results.crossover(names::TINY, Cranelift).map(|c| match c {
            Crossover::Always => 1.0,
            Crossover::After(n) => n as f64,
            Crossover::Never => f64::INFINITY,
        }),
        bound: 10_000.0,
        at_least: true,
    });
    out
}

/// A workload as the report describes it.
#[derive(Debug, Clone)]
pub struct WorkloadInfo {
    /// The name used in benchmark ids.
    pub name: String,
    /// What the guest does.
    pub description: String,
    /// Module size in bytes.
    pub module_bytes: usize,
    /// Input size in bytes.
    pub input_bytes: usize,
}

/// What the report says about the run itself.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The command that regenerates the report.
    pub command: String,
    /// The machine: CPU, cores, load.
    pub machine: String,
    /// When the run finished.
    pub date: String,
    /// Criterion settings used.
    pub settings: String,
    /// File name of the plot, relative to the report.
    pub plot: String,
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), format_ns)
}

fn cell_vs(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{} (×{:.2})", format_ns(v), v / b),
        (v, _) => cell(v),
    }
}

fn header(out: &mut String, first: &str, columns: &[String]) {
    let _ = writeln!(out, "| {first} | {} |", columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
}

/// Renders the whole report as Markdown.
pub fn render(results: &Results, workloads: &[WorkloadInfo], run: &RunInfo) -> String {
    let engines = results.engines();
    let wnames: Vec<String> = workloads
        .iter()
        .filter(|w| {
            engines
                .iter()
                .any(|e| results.get("invoke", &w.name, *e).is_some())
        })
        .map(|w| w.name.clone())
        .collect();
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "# Benchmarks: Palisade against other WebAssembly engines\n"
    );
    let _ = writeln!(
        o,
        "Generated by `{}` on {}. Do not edit by hand: rerun the command.\n",
        run.command, run.date
    );
    let _ = writeln!(
        o,
        "> **Machine caveat.** {}. These are 2 noisy cores shared with other engineers' builds \
         and tests, and measurement times were kept short ({}): treat differences under about \
         20 % as noise, and compare ratios measured in the same run rather than absolute times.\n",
        run.machine, run.settings
    );

    let _ = writeln!(o, "## Summary: the targets\n");
    let _ = writeln!(
        o,
        "| target | bound | measured | met |\n|---|---:|---:|:---:|"
    );
    for t in targets(results) {
        let bound = format!("{} {}", if t.at_least { "≥" } else { "≤" }, t.bound);
        let value = match t.value {
            Some(v) if v.is_infinite() => "never".into(),
            Some(v) if v >= 100.0 => format!("{v:.0}"),
            Some(v) => format!("{v:.2}"),
            None => "not measured".into(),
        };
        let met = match t.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(o, "| {} | {bound} | {value} | {met} |", t.name);
    }

    let _ = writeln!(
        o,
        "\n## Crossover: calls after which each engine overtakes Palisade\n"
    );
    let _ = writeln!(
        o,
        "The smallest N for which `startup + (N-1) × per-call` of the engine is below Palisade's \
         (both from wasm bytes, fresh instance per call). \"never\" means the engine is not faster \
         per call; \"1\" means it even starts faster. Compilers are in bold.\n"
    );
    let others: Vec<EngineId> = engines
        .iter()
        .copied()
        .filter(|e| *e != EngineId::Palisade)
        .collect();
    let cols: Vec<String> = others
        .iter()
        .map(|e| {
            if e.is_compiler() {
                format!("**{}**", e.name())
            } else {
                e.name().into()
            }
        })
        .collect();
    header(o, "workload", &cols);
    for w in &wnames {
        let cells: Vec<String> = others
            .iter()
            .map(|e| {
                results
                    .crossover(w, *e)
                    .map_or_else(|| "—".into(), Crossover::describe)
            })
            .collect();
        let _ = writeln!(o, "| {w} | {} |", cells.join(" | "));
    }

    let _ = writeln!(o, "\n## Total cost of N invocations from bytes\n");
    let _ = writeln!(
        o,
        "`startup + (N-1) × invoke`, from the startup and invoke tables below; the cheapest \
         engine for each N is in bold. The plot shows the same numbers: ![total cost against N]({})\n",
        run.plot
    );
    let ncols: Vec<String> = N_VALUES
        .iter()
        .map(|n| format!("N = {}", format_count(*n)))
        .collect();
    for w in &wnames {
        let _ = writeln!(o, "### {w}\n");
        header(o, "engine", &ncols);
        let best: Vec<Option<EngineId>> = N_VALUES
            .iter()
            .map(|&n| {
                engines
                    .iter()
                    .filter_map(|e| results.total(w, *e, n).map(|t| (*e, t)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(e, _)| e)
            })
            .collect();
        for e in &engines {
            let cells: Vec<String> = N_VALUES
                .iter()
                .zip(&best)
                .map(|(&n, b)| {
                    let c = cell(results.total(w, *e, n));
                    if *b == Some(*e) {
                        format!("**{c}**")
                    } else {
                        c
                    }
                })
                .collect();
            let _ = writeln!(o, "| {} | {} |", e.name(), cells.join(" | "));
        }
        let _ = writeln!(o);
    }

    let measured: Vec<&String> = wnames
        .iter()
        .filter(|w| {
            engines
                .iter()
                .any(|e| results.measured_total(w, *e, 1).is_some())
        })
        .collect();
    for w in measured {
        let _ = writeln!(o, "### {w}: totals measured directly (checks the model)\n");
        let _ = writeln!(
            o,
            "Each cell: measured time for compile + N invocations in one loop, and in brackets \
             measured / modelled.\n"
        );
        header(o, "engine", &ncols);
        for e in &engines {
            let cells: Vec<String> = N_VALUES
                .iter()
                .map(
                    |&n| match (results.measured_total(w, *e, n), results.total(w, *e, n)) {
                        (Some(m), Some(t)) => format!("{} ({:.2})", format_ns(m), m / t),
                        (m, _) => cell(m),
                    },
                )
                .collect();
            let _ = writeln!(o, "| {} | {} |", e.name(), cells.join(" | "));
        }
        let _ = writeln!(o);
    }

    let titles = [
        (
            "startup",
            "Startup: wasm bytes → first result",
            "Compile + instantiate + one call, with a fresh engine each time (created untimed). \
             In brackets: relative to Palisade.",
        ),
        (
            "instantiate",
            "Instantiate only",
            "Compiled module → new store + instance (start function run), and dropping them. \
             Palisade creates its instance inside every call and has no separate step.",
        ),
        (
            "call",
            "Call only",
            "One call on a fresh instance: allocate, copy the input in, run, read the output \
             out; instantiation is not timed (each iteration is timed on its own, which adds \
             ~20–40 ns of timer overhead to every engine alike).",
        ),
        (
            "invoke",
            "Per call: fresh instance + call",
            "What every call after the first costs when each call gets a fresh instance (the \
             sandbox model). In brackets: relative to Palisade.",
        ),
    ];
    for (phase, title, text) in titles {
        let _ = writeln!(o, "## {title}\n\n{text}\n");
        header(o, "engine", &wnames);
        for e in &engines {
            let cells: Vec<String> = wnames
                .iter()
                .map(|w| {
                    let v = results.get(phase, w, *e);
                    if phase == "startup" || phase == "invoke" {
                        cell_vs(v, results.get(phase, w, EngineId::Palisade))
                    } else {
                        cell(v)
                    }
                })
                .collect();
            let _ = writeln!(o, "| {} | {} |", e.name(), cells.join(" | "));
        }
        let _ = writeln!(o);
    }

    if !results.skips.is_empty() {
        let _ = writeln!(o, "## Engines that could not run a workload\n");
        let _ = writeln!(o, "| engine | workload | reason |\n|---|---|---|");
        for (e, w, reason) in &results.skips {
            let reason = reason.replace('|', "\\|").replace('\n', " ");
            let _ = writeln!(o, "| {} | {w} | {reason} |", e.name());
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## Workloads\n");
    let _ = writeln!(
        o,
        "| workload | module | input | what it does |\n|---|---:|---:|---|"
    );
    for w in workloads {
        let _ = writeln!(
            o,
            "| {} | {} B | {} B | {} |",
            w.name,
            format_count(w.module_bytes as u64),
            format_count(w.input_bytes as u64),
            w.description
        );
    }

    let _ = writeln!(o, "\n## Engines\n");
    let _ = writeln!(o, "| engine | configuration |\n|---|---|");
    for e in EngineId::ALL {
        let _ = writeln!(o, "| {} | {} |", e.name(), e.describe());
    }

    let _ = writeln!(o, "\n## Methodology\n");
    let _ = writeln!(o, "{}", METHODOLOGY.trim());
    out
}

const METHODOLOGY: &str = r#"
- **Same work for every engine.** Every engine runs each guest as `docs/ABI.md` §3 says: a fresh
  store and instance, `palisade_alloc(len)` and one copy of the input into guest memory, the
  entry point, then the region named by `palisade.output` bounds-checked and copied out. The raw
  engines get the `palisade` imports a guest may use with the answers Palisade's default host
  services give: `output` records the region, `fail` ends the call, `log` accepts and discards,
  `kv_get`/`kv_delete` find nothing and `kv_set` succeeds (Palisade runs with a KV store that
  keeps nothing, so the thermostat does the same work on every call and every engine),
  `random_fill` answers `HOST`, `clock_now` 0. Before anything is timed, each engine's output
  for each workload is compared with the expected output; a mismatch fails the run.
- **Palisade** is the full path a host uses: `Registry::register` (SHA-256 digest, validate,
  compile, contract check) and `Registry::promote` (grants gate) once, then `Registry::call` per
  call — routing by request key, capability and rate checks, a fresh store + instance, fuel in slices of 100,000 with a deadline check between slices, the memory limiter,
  the output copied out, and the per-(plugin, tenant) metrics updated. Its tenant has the
  default limits except fuel (10¹²), deadline (60 s) and no rate limit.
- **Phases.** *startup*: bytes → first result, with a fresh engine per iteration built outside
  the timed region (wasmi never frees compiled code while its engine lives, and wasmtime's
  code memory would pile up too). *instantiate*: compiled module → store + instance (+ drop).
  *call*: one call on a fresh instance, instantiation untimed. *invoke*: fresh instance + call
  + drop, the cost of every call after the first in the sandbox model.
- **Totals and crossover** are modelled as `startup + (N-1) × invoke`, since measuring 10,000
  invocations of every engine on every guest directly would take hours here. For the thermostat
  the totals are also measured directly (compile once + N invocations in one timed loop), and the
  table shows measured / modelled.
- **wasmtime compiles on one thread**: it is built without its `parallel-compilation` feature
  (the machine has 2 cores shared with other work), so its compile times are single-threaded.
- **wasmtime-warm** starts from a Cranelift artifact produced by `Engine::precompile_module`
  ahead of time (not timed: it is a build step), so its "startup" is deserialise +
  `instantiate_pre` + first call. It is the best case for a compiler whose artifacts can be
  prepared and trusted in advance.
- **Statistics.** criterion 0.8, the median of the samples is reported. Times are per
  iteration; criterion picks the iteration counts.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_finds_the_first_cheaper_call_count() {
        // Palisade: starts in 10, 5 per call. Other: starts in 1_000, 1 per call.
        // Totals: P(n) = 10 + 5(n-1), O(n) = 1000 + (n-1). O < P ⇔ n - 1 > 247.5 ⇔ n ≥ 249.
        assert_eq!(crossover(10.0, 5.0, 1_000.0, 1.0), Crossover::After(249));
        assert!(total(1_000.0, 1.0, 249) < total(10.0, 5.0, 249));
        assert!(total(1_000.0, 1.0, 248) >= total(10.0, 5.0, 248));
    }

    #[test]
    fn crossover_handles_engines_that_never_or_always_win() {
        assert_eq!(crossover(10.0, 5.0, 1_000.0, 5.0), Crossover::Never);
        assert_eq!(crossover(10.0, 5.0, 1_000.0, 6.0), Crossover::Never);
        assert_eq!(crossover(10.0, 5.0, 9.0, 6.0), Crossover::Always);
    }

    #[test]
    fn keys_parse_criterion_ids() {
        let k = Key::parse("startup-sha256-1k", "wasmtime-cranelift", None);
        assert_eq!(
            k,
            Some(Key {
                phase: "startup".into(),
                workload: "sha256-1k".into(),
                engine: EngineId::Cranelift,
                n: None,
            })
        );
        let t = Key::parse("total-thermostat", "palisade", Some("1000"));
        assert_eq!(t.and_then(|k| k.n), Some(1000));
        assert_eq!(Key::parse("startup-fib", "no-such-engine", None), None);
    }

    #[test]
    fn targets_compare_the_right_ratios() {
        let mut r = Results::default();
        let mut put = |phase: &str, w: &str, e: EngineId, v: f64| {
            r.times.insert(
                Key {
                    phase: phase.into(),
                    workload: w.into(),
                    engine: e,
                    n: None,
                },
                v,
            );
        };
        put("startup", "thermostat", EngineId::Palisade, 20_000.0);
        put("startup", "thermostat", EngineId::Cranelift, 4_000_000.0);
        put("invoke", "thermostat", EngineId::Palisade, 1_200.0);
        put("invoke", "thermostat", EngineId::Cranelift, 1_000.0);
        put("invoke", "thermostat", EngineId::WasmiLazy, 1_000.0);
        let t = targets(&r);
        let startup = t
            .iter()
            .find(|t| t.name.contains("startup") && t.name.contains("thermostat"));
        assert_eq!(startup.and_then(|t| t.value), Some(200.0));
        assert_eq!(startup.and_then(Target::met), Some(true));
        let per_call = t.iter().find(|t| t.name.contains("raw wasmi (lazy"));
        assert_eq!(per_call.and_then(|t| t.value), Some(1.2));
        // (4e6 - 2e4) / (1200 - 1000) = 19_900: at n = 19_901 the totals are equal, so
        // Cranelift is cheaper from n = 19_902 on.
        let cross = t.iter().find(|t| t.name.contains("crossover"));
        assert_eq!(cross.and_then(|t| t.value), Some(19_902.0));
        assert_eq!(
            t.iter()
                .find(|t| t.name.contains("coremark"))
                .and_then(Target::met),
            None
        );
    }

    #[test]
    fn durations_print_in_readable_units() {
        assert_eq!(format_ns(812.0), "812 ns");
        assert_eq!(format_ns(1_234.0), "1.23 µs");
        assert_eq!(format_ns(45_600_000.0), "45.6 ms");
        assert_eq!(format_count(10_000), "10,000");
    }
}
