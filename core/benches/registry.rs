//! Registry and trust costs: registering a large guest (digest + compile + contract check +
//! promotion gate), and verifying a signed bundle (parse + SHA-256 + ed25519).
//!
//! The large guest is a generated WAT module of about 1 MB (the real guests are built
//! elsewhere; this one has the same shape: many functions, a valid ABI v1 surface).
#![expect(clippy::expect_used, reason = "a bench fails loudly on setup errors")]

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use palisade::{
    Bundle, BundleBuilder, ManualClock, ModuleMeta, Registry, Runtime, TrustStore, bundle,
};

const SECRET: [u8; 32] = [0x42; 32];

/// A valid ABI v1 guest with `functions` internal functions of straight-line arithmetic.
fn large_guest(functions: usize) -> Vec<u8> {
    let mut wat = String::from(
        r#"(module
          (import "palisade" "output" (func $output (param i32 i32)))
          (memory (export "memory") 1)
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "echo") (param i32 i32) (result i32)
            (call $output (local.get 0) (local.get 1)) (i32.const 0))
        "#,
    );
    for f in 0..functions {
        let _ = write!(wat, "(func $f{f} (param i32) (result i32) (local.get 0)");
        for k in 0..100u32 {
            let _ = write!(
                wat,
                " (i32.const {}) (i32.add) (i32.const {}) (i32.xor)",
                f as u32 * 7919 + k * 104_729,
                k * 31 + 1_000_003
            );
        }
        wat.push_str(")\n");
    }
    wat.push_str(r#"(@custom "palisade.abi" "\01\00\00\00"))"#);
    wat::parse_str(&wat).expect("valid WAT")
}

fn runtime() -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .build()
        .expect("runtime")
}

fn bench_register(c: &mut Criterion) {
    let wasm = large_guest(1_000);
    let mut group = c.benchmark_group("registry");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(wasm.len() as u64));
    let name = format!("register_and_promote_{}KiB", wasm.len() / 1024);
    group.bench_function(&name, |b| {
        b.iter_batched(
            || {
                let rt = runtime();
                let tenant = rt.tenant("bench").build().expect("tenant");
                (Registry::new(rt), tenant)
            },
            |(registry, tenant)| {
                let r = registry
                    .register(black_box(&wasm), ModuleMeta::named("big", "1"))
                    .expect("register");
                registry.promote("big", r.digest, &tenant).expect("promote");
                (registry, tenant)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn bench_verify(c: &mut Criterion) {
    let big = large_guest(1_000);
    let small = wat::parse_str(
        r#"(module
          (import "palisade" "output" (func $output (param i32 i32)))
          (memory (export "memory") 1)
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "echo") (param i32 i32) (result i32)
            (call $output (local.get 0) (local.get 1)) (i32.const 0))
          (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .expect("valid WAT");
    let mut trust = TrustStore::require_signatures();
    trust
        .add_key(&bundle::public_key(&SECRET))
        .expect("valid key");
    let mut group = c.benchmark_group("bundle");
    group.sample_size(20);
    for (label, module) in [("small", &small), ("1MB", &big)] {
        let bytes = BundleBuilder::new("bench", "1", module)
            .provenance("bench")
            .sign(&SECRET)
            .expect("bundle");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("verify_{label}_{}B", bytes.len()), |b| {
            b.iter(|| {
                let bundle = Bundle::new_checked(black_box(&bytes)).expect("parses");
                bundle.verify(&trust).expect("verifies");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_register, bench_verify);
criterion_main!(benches);
