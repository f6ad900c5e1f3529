//! Call rate, log caps and metrics.

use std::time::Duration;

use palisade::{ErrorKind, Limits, Metrics, Outcome};

use crate::{ECHO, compile, guest, guest_with, host, kind_of, tenant};

#[test]
fn calls_over_the_rate_are_refused_with_a_retry_delay() {
    let h = host();
    let module = compile(&h.runtime, &guest(ECHO));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().calls_per_second(2).burst(2).build(),
    );
    assert!(h.runtime.call(&module, &t, "echo", b"1").result.is_ok());
    assert!(h.runtime.call(&module, &t, "echo", b"2").result.is_ok());
    let call = h.runtime.call(&module, &t, "echo", b"3");
    assert_eq!(
        kind_of(&call),
        ErrorKind::RateLimited {
            retry_after: Duration::from_millis(500)
        }
    );
    assert_eq!(call.report.outcome, Outcome::RateLimited);
    h.clock.advance(Duration::from_millis(500));
    assert!(h.runtime.call(&module, &t, "echo", b"4").result.is_ok());
    // Another tenant has its own bucket.
    let other = tenant(&h.runtime, "other", &[], Limits::default());
    assert!(h.runtime.call(&module, &other, "echo", b"5").result.is_ok());
}

struct Lines(std::sync::Mutex<Vec<String>>);

impl palisade::LogSink for Lines {
    fn log(&self, record: &palisade::LogRecord<'_>) {
        self.0.lock().unwrap().push(record.to_string());
    }
}

#[test]
fn log_lines_are_tagged_and_capped_per_call() {
    let lines = std::sync::Arc::new(Lines(std::sync::Mutex::new(Vec::new())));
    let runtime = palisade::Runtime::builder(std::sync::Arc::new(palisade::ManualClock::new()))
        .log_sink(lines.clone())
        .build()
        .unwrap();
    let wasm = guest_with(
        r#"(import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))"#,
        "1",
        r#"(data (i32.const 0) "0123456789")
           (func (export "flood") (param i32 i32) (result i32)
             (local $i i32)
             (loop $l
               (drop (call $log (i32.const 2) (i32.const 0) (i32.const 10)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
             (i32.const 0))"#,
    );
    let module = compile(&runtime, &wasm);
    let t = tenant(
        &runtime,
        "acme",
        &["log"],
        Limits::builder().log_bytes(35).build(),
    );
    let call = runtime.call(&module, &t, "flood", b"");
    assert!(call.result.is_ok());
    assert_eq!(call.report.log_bytes, 30);
    assert_eq!(call.report.log_dropped, 97);
    let lines = lines.0.lock().unwrap();
    assert_eq!(lines.len(), 3);
    let short = module.digest().short().to_string();
    assert_eq!(lines[0], format!("[acme {short}] info: 0123456789"));
}

#[test]
fn metrics_count_outcomes_and_quantiles() {
    let h = host();
    let module = compile(
        &h.runtime,
        &guest(
            r#"(func (export "ok") (param i32 i32) (result i32) (i32.const 0))
               (func (export "bad") (param i32 i32) (result i32) (i32.const 3))"#,
        ),
    );
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    let mut metrics = Metrics::new();
    for i in 0..10 {
        let entry = if i % 5 == 0 { "bad" } else { "ok" };
        metrics.record(&h.runtime.call(&module, &t, entry, b"").report);
    }
    assert_eq!(metrics.calls(Outcome::Ok), 8);
    assert_eq!(metrics.calls(Outcome::GuestError), 2);
    assert_eq!(metrics.total_calls(), 10);
    assert_eq!(metrics.fuel.count(), 10);
    assert!(metrics.fuel.quantile(0.5) > 0);
    assert!(metrics.fuel.quantile(0.99) >= metrics.fuel.quantile(0.5));
}
