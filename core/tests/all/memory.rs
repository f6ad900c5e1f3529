//! The memory cap: refused growth is counted; initial memory over the cap is refused.

use palisade::{ErrorKind, Limits, Metrics, Outcome};

use crate::{assert_serves_good_guest, compile, guest, guest_with, host, kind_of, tenant};

const GROW: &str = r#"(func (export "grow") (param i32 i32) (result i32)
    (i32.store (i32.const 0) (memory.grow (i32.const 10)))
    (i32.store (i32.const 4) (memory.grow (i32.const 1)))
    (call $output (i32.const 0) (i32.const 8))
    (i32.const 0))"#;

#[test]
fn memory_grow_past_the_cap_fails_and_is_counted() {
    let h = host();
    let module = compile(&h.runtime, &guest(GROW));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().memory_bytes(2 * 65536).build(),
    );
    let call = h.runtime.call(&module, &t, "grow", b"");
    let out = call.result.unwrap();
    // The 10-page growth is refused (-1); the 1-page growth fits (old size 1).
    assert_eq!(out[..4], (-1i32).to_le_bytes());
    assert_eq!(out[4..], 1i32.to_le_bytes());
    assert_eq!(call.report.memory_cap_hits, 1);
    assert_eq!(call.report.memory_high_water, 2 * 65536);

    let mut metrics = Metrics::new();
    metrics.record(&call.report);
    assert_eq!(metrics.memory_cap_hits, 1);
    assert_eq!(metrics.calls(Outcome::Ok), 1);
}

#[test]
fn initial_memory_over_the_cap_is_refused() {
    let h = host();
    let module = compile(&h.runtime, &guest_with("", "1000", crate::ECHO));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().memory_bytes(1 << 20).build(),
    );
    let call = h.runtime.call(&module, &t, "echo", b"");
    assert_eq!(kind_of(&call), ErrorKind::MemoryCap { cap_bytes: 1 << 20 });
    assert_eq!(call.report.outcome, Outcome::MemoryCap);
    assert_eq!(call.report.memory_cap_hits, 1);
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn custom_page_sizes_let_a_guest_live_in_a_few_kib() {
    let h = host();
    // 4 KiB of memory with 1-byte pages: what makes a 64 KiB microcontroller viable.
    let wasm = guest_with(
        "",
        "4096 (pagesize 1)",
        r#"(func (export "run") (param $p i32) (param $n i32) (result i32)
             (call $output (local.get $p) (local.get $n))
             (i32.const 0))"#,
    );
    let module = compile(&h.runtime, &wasm);
    let t = tenant(
        &h.runtime,
        "board",
        &[],
        Limits::builder().memory_bytes(8 << 10).build(),
    );
    let call = h.runtime.call(&module, &t, "run", b"21.5C");
    assert_eq!(call.result.unwrap(), b"21.5C");
    assert_eq!(call.report.memory_high_water, 4096);
}
