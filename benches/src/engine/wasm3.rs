//! wasm3 0.9 through `wasm3x`: a C interpreter with lazy per-function compilation.

use wasm3x::{Caller, Instance, Linker, Module, Store, TypedFunc};

use super::{Engine, EngineId, HostState, input_len, read_output, stub, write_input};
use crate::BenchError;

fn fail(step: &str) -> impl FnOnce(wasm3x::Error) -> BenchError + '_ {
    move |e| BenchError::from_engine(step, e)
}

/// wasm3 with its default configuration (lazy compilation, 1 MiB value stack per store).
///
/// wasm3 parses a module again for each instance (`wasm3x` keeps the bytes), and compiles each
/// function on first use in that instance: its instantiate and call phases carry that cost.
pub struct Wasm3 {
    engine: wasm3x::Engine,
    linker: Linker<HostState>,
}

/// A wasm3 store (runtime) and instance.
pub struct Wasm3Instance {
    store: Store<HostState>,
    instance: Instance,
}

impl Wasm3 {
    /// An engine with the default configuration.
    ///
    /// # Errors
    ///
    /// When a host function does not register.
    pub fn new() -> Result<Self, BenchError> {
        let engine = wasm3x::Engine::default();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "palisade",
                "output",
                |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
                    caller.data_mut().output = Some((ptr as u32, len as u32));
                },
            )
            .and_then(|l| {
                l.func_wrap(
                    "palisade",
                    "fail",
                    |mut caller: Caller<'_, HostState>,
                     code: i32,
                     ptr: i32,
                     len: i32|
                     -> wasm3x::Result<()> {
                        let state = caller.data_mut();
                        state.failed = Some(code);
                        state.output = Some((ptr as u32, len as u32));
                        Err(wasm3x::Error::new("guest called palisade.fail"))
                    },
                )
            })
            .and_then(|l| l.func_wrap("palisade", "log", |_: i32, _: i32, _: i32| stub::LOG))
            .and_then(|l| l.func_wrap("palisade", "clock_now", || 0i64))
            .and_then(|l| l.func_wrap("palisade", "random_fill", |_: i32, _: i32| stub::RANDOM))
            .and_then(|l| {
                l.func_wrap("palisade", "kv_get", |_: i32, _: i32, _: i32, _: i32| {
                    stub::NOT_FOUND
                })
            })
            .and_then(|l| {
                l.func_wrap("palisade", "kv_set", |_: i32, _: i32, _: i32, _: i32| {
                    stub::KV_SET
                })
            })
            .and_then(|l| l.func_wrap("palisade", "kv_delete", |_: i32, _: i32| stub::NOT_FOUND))
            .map_err(fail("wasm3 linker"))?;
        Ok(Self { engine, linker })
    }
}

impl Engine for Wasm3 {
    type Module = Module;
    type Instance = Wasm3Instance;

    fn id(&self) -> EngineId {
        EngineId::Wasm3
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new()
    }

    fn compile(&self, prepared: &[u8]) -> Result<Module, BenchError> {
        Module::new(&self.engine, prepared).map_err(fail("wasm3 parse"))
    }

    fn instantiate(&self, module: &Module) -> Result<Wasm3Instance, BenchError> {
        let mut store = Store::new(&self.engine, HostState::default());
        let instance = self
            .linker
            .instantiate_and_start(&mut store, module)
            .map_err(fail("wasm3 instantiate"))?;
        Ok(Wasm3Instance { store, instance })
    }

    fn call(
        &self,
        instance: &mut Wasm3Instance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        let Wasm3Instance { store, instance } = instance;
        let memory = instance
            .get_memory(&*store)
            .ok_or_else(|| BenchError::new("no memory"))?;
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let alloc: TypedFunc<i32, i32> = instance
                .get_typed_func(&*store, "palisade_alloc")
                .map_err(fail("wasm3 palisade_alloc"))?;
            let len = input_len(input)?;
            let ptr = alloc.call(store, len).map_err(fail("wasm3 alloc"))?;
            write_input(memory.data_mut(store), ptr, input)?;
            (ptr, len)
        };
        let func: TypedFunc<(i32, i32), i32> = instance
            .get_typed_func(&*store, entry)
            .map_err(fail("wasm3 entry"))?;
        let status = func.call(store, (ptr, len));
        let state = *store.data();
        let status = match status {
            Ok(status) => status,
            Err(_) if state.failed.is_some() => 0,
            Err(e) => return Err(fail("wasm3 call")(e)),
        };
        read_output(status, state, memory.data(store))
    }
}
