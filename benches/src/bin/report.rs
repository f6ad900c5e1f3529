//! `bench-report`: reads criterion's results for the `engines` bench and writes
//! `docs/BENCHMARKS.md` and the plot of total cost against N.
//!
//! ```text
//! bench-report --criterion <dir> --log <bench output> --out docs/BENCHMARKS.md \
//!              --plot docs/benchmarks-total.png --command "<how it was run>" --settings "<...>"
//! ```
//!
//! `benches/regenerate.sh` runs the benches and then this, with the right arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use palisade_benches::report::{self, Key, N_VALUES, Results, RunInfo, WorkloadInfo};
use palisade_benches::{BenchError, EngineId, workloads};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// Where the plot's font comes from (Debian package `fonts-dejavu-core`).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

struct Args {
    criterion: PathBuf,
    log: Option<PathBuf>,
    out: PathBuf,
    plot: PathBuf,
    command: String,
    settings: String,
}

fn parse_args() -> Result<Args, BenchError> {
    let mut args = Args {
        criterion: PathBuf::from("target/criterion"),
        log: None,
        out: PathBuf::from("docs/BENCHMARKS.md"),
        plot: PathBuf::from("docs/benchmarks-total.png"),
        command: "benches/regenerate.sh".into(),
        settings: "criterion defaults".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| BenchError::new(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--criterion" => args.criterion = value.into(),
            "--log" => args.log = Some(value.into()),
            "--out" => args.out = value.into(),
            "--plot" => args.plot = value.into(),
            "--command" => args.command = value,
            "--settings" => args.settings = value,
            _ => return Err(BenchError::new(format!("unknown argument {flag}"))),
        }
    }
    Ok(args)
}

fn read_json(path: &Path) -> Result<serde_json::Value, BenchError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BenchError::from_engine(&path.display().to_string(), e))?;
    serde_json::from_str(&text).map_err(|e| BenchError::from_engine(&path.display().to_string(), e))
}

/// Every `new/benchmark.json` under `dir`, with its `new/estimates.json` median.
fn collect(dir: &Path, results: &mut Results) -> Result<(), BenchError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BenchError::from_engine(&dir.display().to_string(), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let bench = path.join("new").join("benchmark.json");
        if bench.is_file() {
            let meta = read_json(&bench)?;
            let est = read_json(&path.join("new").join("estimates.json"))?;
            let text = |field: &str| meta.get(field).and_then(serde_json::Value::as_str);
            let group = text("group_id").unwrap_or_default();
            let function = text("function_id").unwrap_or_default();
            let value = text("value_str");
            let median = est
                .get("median")
                .and_then(|m| m.get("point_estimate"))
                .and_then(serde_json::Value::as_f64);
            if let (Some(key), Some(median)) = (Key::parse(group, function, value), median) {
                results.times.insert(key, median);
            }
        } else {
            collect(&path, results)?;
        }
    }
    Ok(())
}

/// `SKIP <engine> on <workload>: <reason>` lines printed by the bench.
fn skips(log: &Path) -> Result<Vec<(EngineId, String, String)>, BenchError> {
    let text = std::fs::read_to_string(log)
        .map_err(|e| BenchError::from_engine(&log.display().to_string(), e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("SKIP ") else {
            continue;
        };
        let Some((engine, rest)) = rest.split_once(" on ") else {
            continue;
        };
        let Some((workload, reason)) = rest.split_once(": ") else {
            continue;
        };
        if let Some(engine) = EngineId::from_name(engine) {
            let entry = (engine, workload.to_string(), reason.to_string());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into());
    format!("{cpu}, {cores} cores available, load average {load} when the report was written")
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "an unknown date".into(), |s| s.trim().to_string())
}

fn color(engine: EngineId) -> RGBColor {
    match engine {
        EngineId::Palisade => RGBColor(220, 20, 60),
        EngineId::WasmiEager => RGBColor(255, 140, 0),
        EngineId::WasmiLazy => RGBColor(200, 170, 0),
        EngineId::WasmiLazyFuel => RGBColor(150, 110, 40),
        EngineId::Cranelift => RGBColor(30, 90, 200),
        EngineId::Winch => RGBColor(0, 160, 200),
        EngineId::Pulley => RGBColor(120, 80, 200),
        EngineId::WasmtimeWarm => RGBColor(20, 20, 120),
        EngineId::Wasm3 => RGBColor(40, 150, 60),
        EngineId::TinyWasm => RGBColor(130, 130, 130),
        EngineId::Stitch => RGBColor(200, 80, 160),
    }
}

fn draw_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::from_engine("plot", e)
}

/// One panel per workload: total cost (log) against N (log), one line per engine.
fn plot(results: &Results, workloads: &[String], path: &Path) -> Result<(), BenchError> {
    let font = std::fs::read(FONT).map_err(|e| {
        BenchError::from_engine(
            &format!("{FONT} (install it with `apt-get install -y fonts-dejavu-core`)"),
            e,
        )
    })?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| BenchError::new("the plot font does not parse"))?;

    let engines = results.engines();
    let cols = 2usize;
    let rows = workloads.len().div_ceil(cols).max(1);
    let height = u32::try_from(rows * 420 + 60).unwrap_or(2000);
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (title, body) = root.split_vertically(50);
    title
        .titled(
            "Total cost of N invocations from wasm bytes (startup + (N-1) x per call), log-log",
            ("sans-serif", 24),
        )
        .map_err(draw_err)?;
    let panels = body.split_evenly((rows, cols));
    let xs: Vec<f64> = (0..=40).map(|i| 10f64.powf(f64::from(i) / 10.0)).collect();
    for (w, panel) in workloads.iter().zip(panels.iter()) {
        let lines: Vec<(EngineId, Vec<(f64, f64)>)> = engines
            .iter()
            .filter_map(|e| {
                let startup = results.get("startup", w, *e)?;
                let invoke = results.get("invoke", w, *e)?;
                let pts = xs
                    .iter()
                    .map(|&x| (x, report::total(startup, invoke, x.round() as u64) / 1e3))
                    .collect();
                Some((*e, pts))
            })
            .collect();
        let (lo, hi) = lines
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lines.is_empty() || lo <= 0.0 {
            continue;
        }
        let mut chart = ChartBuilder::on(panel)
            .caption(w, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (1f64..10_000f64).log_scale(),
                (lo * 0.7..hi * 1.4).log_scale(),
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("invocations N")
            .y_desc("total (µs)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| {
                if *y >= 1.0 {
                    format!("{y:.0}")
                } else {
                    format!("{y:.2}")
                }
            })
            .draw()
            .map_err(draw_err)?;
        for (e, pts) in lines {
            let c = color(e);
            let width = if e == EngineId::Palisade { 4 } else { 2 };
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(width)))
                .map_err(draw_err)?
                .label(e.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            let marks: Vec<(f64, f64)> = N_VALUES
                .iter()
                .filter_map(|&n| Some((n as f64, results.total(w, e, n)? / 1e3)))
                .collect();
            chart
                .draw_series(marks.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

fn run() -> Result<(), BenchError> {
    let args = parse_args()?;
    let mut results = Results::default();
    collect(&args.criterion, &mut results)?;
    if results.times.is_empty() {
        return Err(BenchError::new(format!(
            "no results for the engines bench under {}: run the benches first",
            args.criterion.display()
        )));
    }
    if let Some(log) = &args.log {
        results.skips = skips(log)?;
    }
    let infos: Vec<WorkloadInfo> = workloads()?
        .into_iter()
        .map(|w| WorkloadInfo {
            name: w.name.into(),
            description: w.description.into(),
            module_bytes: w.wasm.len(),
            input_bytes: w.input.len(),
        })
        .collect();
    // Only workloads measured in this run are plotted.
    let measured: BTreeMap<&str, ()> = results
        .times
        .keys()
        .map(|k| (k.workload.as_str(), ()))
        .collect();
    let plotted: Vec<String> = infos
        .iter()
        .filter(|w| measured.contains_key(w.name.as_str()))
        .map(|w| w.name.clone())
        .collect();
    plot(&results, &plotted, &args.plot)?;
    let plot_name = args
        .plot
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let run = RunInfo {
        command: args.command,
        machine: machine(),
        date: today(),
        settings: args.settings,
        plot: plot_name,
    };
    let md = report::render(&results, &infos, &run);
    std::fs::write(&args.out, md)
        .map_err(|e| BenchError::from_engine(&args.out.display().to_string(), e))?;
    println!(
        "wrote {} and {} from {} measurements",
        args.out.display(),
        args.plot.display(),
        results.times.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
