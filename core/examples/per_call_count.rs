//! N calls of the per-call bench's tiny guest, through Palisade or through raw wasmi, for a
//! stable instruction count under callgrind (the criterion bench measures time; this counts).
//!
//! `valgrind --tool=callgrind target/release/examples/per_call_count palisade 2000`; run with two
//! values of N and divide the difference by the difference in N to cancel the setup cost.
#![expect(clippy::unwrap_used, reason = "measurement harness")]

use std::hint::black_box;
use std::sync::Arc;

use palisade::{Clock, Instant, Limits, Runtime};
use wasmi::{Caller, Engine, Linker, Module, Store, TypedFunc};

/// The same guest as `benches/per_call.rs`.
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

/// A clock that advances by one nanosecond per reading: deterministic under callgrind.
struct TickClock(std::sync::atomic::AtomicU64);

impl Clock for TickClock {
    fn now(&self) -> Instant {
        Instant(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap();
    let n: u32 = args.next().unwrap().parse().unwrap();
    let wasm = wat::parse_str(GUEST).unwrap();
    let input = [7u8; 16];
    if which == "palisade" {
        let runtime = Runtime::builder(Arc::new(TickClock(0.into())))
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
        for _ in 0..n {
            let call =
                runtime.call_with(&module, &tenant, "echo", black_box(&input), |out| out.len());
            black_box(call.result.unwrap());
        }
    } else {
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
        for _ in 0..n {
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
            black_box((status, out.len()));
        }
    }
}
