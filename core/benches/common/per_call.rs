//! The per-call comparison shared by `benches/per_call.rs` (time, criterion) and
//! `examples/per_call_count.rs` (instructions, callgrind): one guest, one Palisade setup and
//! one raw-wasmi setup doing the same steps, so the two measure the same thing.

use std::hint::black_box;
use std::sync::Arc;

use palisade::{Clock, CompiledModule, Limits, Runtime, Tenant};
use wasmi::{Caller, Engine, Linker, Module, Store, TypedFunc};

/// A tiny echo guest that also imports log, so the linker has more than one capability.
pub const GUEST: &str = r#"(module
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

/// The input of every call.
pub const INPUT: [u8; 16] = [7; 16];

/// Palisade: a runtime on `clock`, the guest compiled once, a tenant with every capability
/// the guest may use and no rate limit in the way.
pub struct Sandboxed {
    runtime: Runtime,
    module: CompiledModule,
    tenant: Tenant,
}

impl Sandboxed {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let runtime = Runtime::builder(clock).build().unwrap();
        let module = runtime.compile(&wat::parse_str(GUEST).unwrap()).unwrap();
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
        Self {
            runtime,
            module,
            tenant,
        }
    }

    /// One call: fresh store and instance, fuel, memory cap, deadline, rate limit.
    pub fn call(&self) -> usize {
        let call = self.runtime.call_with(
            &self.module,
            &self.tenant,
            "echo",
            black_box(&INPUT),
            |out| out.len(),
        );
        call.result.unwrap()
    }
}

/// Raw wasmi, default configuration (no fuel, no limiter), doing the same steps.
pub struct Raw {
    engine: Engine,
    module: Module,
    linker: Linker<(u32, u32)>,
}

impl Raw {
    pub fn new() -> Self {
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(GUEST).unwrap()).unwrap();
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
        Self {
            engine,
            module,
            linker,
        }
    }

    /// One call: `Store::new`, instantiate, allocate, write the input, call, read the output.
    pub fn call(&self) -> (i32, usize) {
        let mut store = Store::new(&self.engine, (0u32, 0u32));
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .unwrap();
        let memory = instance.get_memory(&store, "memory").unwrap();
        let alloc: TypedFunc<i32, i32> = instance.get_typed_func(&store, "palisade_alloc").unwrap();
        let echo: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&store, "echo").unwrap();
        let input = black_box(&INPUT);
        let ptr = alloc.call(&mut store, input.len() as i32).unwrap();
        memory.write(&mut store, ptr as usize, input).unwrap();
        let status = echo.call(&mut store, (ptr, input.len() as i32)).unwrap();
        let (p, l) = *store.data();
        let out = memory
            .data(&store)
            .get(p as usize..(p + l) as usize)
            .unwrap();
        (status, out.len())
    }
}
