//! Quickstart: compile a guest once, call it for two tenants, and watch the limits work.
//!
//! `cargo run -p palisade --example quickstart`
#![expect(clippy::expect_used, reason = "an example keeps error handling short")]

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use palisade::{Clock, Instant, Limits, Runtime};

struct StdClock(StdInstant);

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant(u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

const GUEST: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param $p i32) (param $n i32) (result i32)
    (call $output (local.get $p) (local.get $n))
    (i32.const 0))
  (func (export "spin") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
  (func (export "grow") (param i32 i32) (result i32)
    (i32.store (i32.const 0) (memory.grow (i32.const 1000)))
    (call $output (i32.const 0) (i32.const 4))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

fn main() -> Result<(), palisade::Error> {
    let runtime = Runtime::builder(Arc::new(StdClock(StdInstant::now()))).build()?;
    let wasm = wat::parse_str(GUEST).expect("the example's WAT is valid");
    let module = runtime.compile_named(&wasm, Some("quickstart"))?;
    println!("compiled {} ({} bytes)", module.digest(), module.size());

    let frugal = runtime
        .tenant("frugal")
        .limits(
            Limits::builder()
                .fuel(1_000_000)
                .memory_bytes(1 << 20)
                .build(),
        )
        .build()?;
    let patient = runtime
        .tenant("patient")
        .limits(
            Limits::builder()
                .fuel(u64::MAX / 2)
                .deadline(Duration::from_millis(50))
                .build(),
        )
        .build()?;

    for (tenant, entry, input) in [
        (&frugal, "echo", &b"hello"[..]),
        (&frugal, "spin", b""),
        (&patient, "spin", b""),
        (&frugal, "grow", b""),
    ] {
        let call = runtime.call(&module, tenant, entry, input);
        let r = &call.report;
        let result = match &call.result {
            Ok(out) => format!("output {out:?}"),
            Err(e) => e.to_string(),
        };
        println!(
            "{:>8} {:>5}: {:<18} fuel {:>9}  {:>8.2?}  mem {:>7} B  cap hits {}\n         {result}",
            tenant.id(),
            entry,
            r.outcome.as_str(),
            r.fuel_used,
            r.wall_time,
            r.memory_high_water,
            r.memory_cap_hits,
        );
    }
    Ok(())
}
