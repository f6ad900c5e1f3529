//! Server metrics: [`palisade::Metrics`] per (plugin, tenant, digest), plus admission and
//! registry counters, rendered in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use palisade::{CallReport, Digest, Histogram, Metrics, Outcome};

#[derive(Default)]
struct Inner {
    calls: BTreeMap<(String, String, Digest), Metrics>,
    /// (tenant, reason) -> requests refused before running.
    refused: BTreeMap<(String, &'static str), u64>,
    /// (plugin, digest) -> registrations that found the module already compiled.
    cache_hits: BTreeMap<(String, Digest), u64>,
    /// (plugin, digest) -> compilations.
    compiles: BTreeMap<(String, Digest), u64>,
    /// upload result code -> count.
    uploads: BTreeMap<&'static str, u64>,
    /// tenant -> guest log lines dropped by the tenant's log rate limit.
    log_dropped: BTreeMap<String, u64>,
}

/// All server metrics, behind one lock held only for a counter update or a render.
#[derive(Default)]
pub struct ServerMetrics {
    inner: Mutex<Inner>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0u64;
    for (upper, count) in h.buckets() {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{upper}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum());
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
}

impl ServerMetrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one call that ran (or was refused by the core).
    pub fn record_call(&self, plugin: &str, tenant: &str, report: &CallReport) {
        self.lock()
            .calls
            .entry((plugin.to_owned(), tenant.to_owned(), report.digest))
            .or_default()
            .record(report);
    }

    /// Records a request refused by admission (`rate_limited`, `tenant_busy`, `server_busy`).
    pub fn record_refused(&self, tenant: &str, reason: &'static str) {
        *self
            .lock()
            .refused
            .entry((tenant.to_owned(), reason))
            .or_default() += 1;
    }

    /// Records `n` guest log lines of `tenant` dropped by its log rate limit (nothing for 0).
    pub fn record_log_dropped(&self, tenant: &str, n: u64) {
        if n > 0 {
            *self
                .lock()
                .log_dropped
                .entry(tenant.to_owned())
                .or_default() += n;
        }
    }

    /// Records a registration: `hit` if the compiled module was already cached.
    pub fn record_compile(&self, plugin: &str, digest: Digest, hit: bool) {
        let mut inner = self.lock();
        let map = if hit {
            &mut inner.cache_hits
        } else {
            &mut inner.compiles
        };
        *map.entry((plugin.to_owned(), digest)).or_default() += 1;
    }

    /// Records an upload's result (`ok` or an error code).
    pub fn record_upload(&self, code: &'static str) {
        *self.lock().uploads.entry(code).or_default() += 1;
    }

    /// A copy of the call metrics of one (plugin, tenant, digest).
    pub fn calls(&self, plugin: &str, tenant: &str, digest: Digest) -> Option<Metrics> {
        self.lock()
            .calls
            .get(&(plugin.to_owned(), tenant.to_owned(), digest))
            .cloned()
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self, in_flight: usize, workers: usize) -> String {
        let inner = self.lock();
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP palisade_calls_total Guest calls by outcome.\n# TYPE palisade_calls_total counter\n");
        for ((plugin, tenant, digest), m) in &inner.calls {
            for outcome in Outcome::ALL {
                let n = m.calls(outcome);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "palisade_calls_total{{plugin=\"{}\",tenant=\"{}\",digest=\"{digest}\",outcome=\"{outcome}\"}} {n}",
                        esc(plugin),
                        esc(tenant)
                    );
                }
            }
        }
        out.push_str("# HELP palisade_call_latency_microseconds Wall time per call.\n# TYPE palisade_call_latency_microseconds histogram\n");
        for ((plugin, tenant, digest), m) in &inner.calls {
            let labels = format!(
                "plugin=\"{}\",tenant=\"{}\",digest=\"{digest}\"",
                esc(plugin),
                esc(tenant)
            );
            histogram(
                &mut out,
                "palisade_call_latency_microseconds",
                &labels,
                &m.latency_us,
            );
        }
        out.push_str(
            "# HELP palisade_call_fuel Fuel used per call.\n# TYPE palisade_call_fuel histogram\n",
        );
        for ((plugin, tenant, digest), m) in &inner.calls {
            let labels = format!(
                "plugin=\"{}\",tenant=\"{}\",digest=\"{digest}\"",
                esc(plugin),
                esc(tenant)
            );
            histogram(&mut out, "palisade_call_fuel", &labels, &m.fuel);
        }
        for (name, help, get) in [
            (
                "palisade_deadline_trips_total",
                "Calls stopped by their deadline.",
                (|m: &Metrics| m.deadline_trips) as fn(&Metrics) -> u64,
            ),
            (
                "palisade_memory_cap_hits_total",
                "Calls during which the memory cap refused a growth.",
                |m: &Metrics| m.memory_cap_hits,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((plugin, tenant, digest), m) in &inner.calls {
                let _ = writeln!(
                    out,
                    "{name}{{plugin=\"{}\",tenant=\"{}\",digest=\"{digest}\"}} {}",
                    esc(plugin),
                    esc(tenant),
                    get(m)
                );
            }
        }
        out.push_str("# HELP palisade_refused_total Requests refused before running, by reason.\n# TYPE palisade_refused_total counter\n");
        for ((tenant, reason), n) in &inner.refused {
            let _ = writeln!(
                out,
                "palisade_refused_total{{tenant=\"{}\",reason=\"{reason}\"}} {n}",
                esc(tenant)
            );
        }
        for (name, help, map) in [
            (
                "palisade_compile_cache_hits_total",
                "Registrations whose module was already compiled.",
                &inner.cache_hits,
            ),
            (
                "palisade_compiles_total",
                "Module compilations.",
                &inner.compiles,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((plugin, digest), n) in map {
                let _ = writeln!(
                    out,
                    "{name}{{plugin=\"{}\",digest=\"{digest}\"}} {n}",
                    esc(plugin)
                );
            }
        }
        out.push_str("# HELP palisade_guest_log_dropped_total Guest log lines dropped by the tenant's log rate limit.\n# TYPE palisade_guest_log_dropped_total counter\n");
        for (tenant, n) in &inner.log_dropped {
            let _ = writeln!(
                out,
                "palisade_guest_log_dropped_total{{tenant=\"{}\"}} {n}",
                esc(tenant)
            );
        }
        out.push_str("# HELP palisade_uploads_total Uploads by result code.\n# TYPE palisade_uploads_total counter\n");
        for (code, n) in &inner.uploads {
            let _ = writeln!(out, "palisade_uploads_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP palisade_in_flight Calls admitted and not yet answered.\n# TYPE palisade_in_flight gauge\npalisade_in_flight {in_flight}"
        );
        let _ = writeln!(
            out,
            "# HELP palisade_workers Guest worker threads.\n# TYPE palisade_workers gauge\npalisade_workers {workers}"
        );
        out
    }
}
