//! Per-call cost: Palisade (fresh store + instance + call of a tiny guest, with fuel, memory cap,
//! deadline, rate limit and capabilities) against raw wasmi (Store::new + instantiate + call of
//! the same module, same input, same output handling), measured in the same run.
//!
//! `cargo bench -p palisade --bench per_call`
#![expect(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::{Clock, Instant, Limits, Runtime};
use wasmi::{Caller, Engine, Linker, Module, Store, TypedFunc};

/// A tiny echo guest that also imports log and kv, so the linker has the full capability set.
const GUEST: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "palisade_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "echo") (param $p i32) (param $n i32) (result i32)
    (call $output (local.get $p) (local.get $n))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

// Not `palisade_std::StdClock`: a dev-dependency on `palisade-std` would turn on the core's
// `std` and `messages` features for the core's own tests too (Cargo unifies them), and those
// tests check the build without `messages`. Five lines of clock are the cheaper price.
/// A monotonic clock over [`std::time::Instant`].
struct StdClock(StdInstant);

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant(u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

fn per_call(c: &mut Criterion) {
    let wasm = wat::parse_str(GUEST).unwrap();
    let input = [7u8; 16];
    let mut group = c.benchmark_group("per_call");
    group.measurement_time(Duration::from_secs(3));

    let runtime = Runtime::builder(Arc::new(StdClock(StdInstant::now())))
        .build()
        .unwrap();
    let module = runtime.compile(&wasm).unwrap();
    let tenant = runtime
        .tenant("bench")
        .grant_all(["log", "clock", "kv.read", "kv.write"])
        .limits(
            Limits::builder()
                .calls_per_second(u32::MAX)
                .burst(u32::MAX)
                .build(),
        )
        .build()
        .unwrap();
    group.bench_function("palisade", |b| {
        b.iter(|| {
            let call =
                runtime.call_with(&module, &tenant, "echo", black_box(&input), |out| out.len());
            black_box(call.result.unwrap())
        });
    });

    // Raw wasmi, default configuration (no fuel, no limiter), doing the same steps.
    let engine = Engine::default();
    let raw = Module::new(&engine, &wasm).unwrap();
    let mut linker = <Linker<(u32, u32)>>::new(&engine);
    linker
        .func_wrap(
            "palisade",
            "output",
            |mut caller: Caller<'_, (u32, u32)>, ptr: i32, len: i32| {
                *caller.data_mut() = (ptr as u32, len as u32);
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "palisade",
            "log",
            |_: Caller<'_, (u32, u32)>, _: i32, _: i32, _: i32| 0i32,
        )
        .unwrap();
    group.bench_function("raw_wasmi", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, (0u32, 0u32));
            let instance = linker.instantiate_and_start(&mut store, &raw).unwrap();
            let memory = instance.get_memory(&store, "memory").unwrap();
            let alloc: TypedFunc<i32, i32> =
                instance.get_typed_func(&store, "palisade_alloc").unwrap();
            let echo: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&store, "echo").unwrap();
            let input = black_box(&input);
            let ptr = alloc.call(&mut store, input.len() as i32).unwrap();
            memory.write(&mut store, ptr as usize, input).unwrap();
            let status = echo.call(&mut store, (ptr, input.len() as i32)).unwrap();
            let (p, l) = *store.data();
            let out = memory
                .data(&store)
                .get(p as usize..(p + l) as usize)
                .unwrap();
            black_box((status, out.len()))
        });
    });
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
