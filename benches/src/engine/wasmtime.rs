//! wasmtime 48: Cranelift, Winch and Pulley from bytes, and the best warm start (a precompiled
//! artifact deserialised into an `InstancePre`, instantiated with the pooling allocator).

use wasmtime::{
    Caller, Config, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, Store, Strategy, TypedFunc,
};

use super::{Engine, EngineId, HostState, input_len, read_output, stub, write_input};
use crate::BenchError;

/// Which wasmtime code generator compiles the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmtimeStrategy {
    /// Cranelift, the optimising compiler (wasmtime's default).
    Cranelift,
    /// Winch, the single-pass baseline compiler.
    Winch,
    /// Cranelift targeting Pulley, wasmtime's portable bytecode interpreter.
    Pulley,
}

fn fail(step: &str) -> impl FnOnce(wasmtime::Error) -> BenchError + '_ {
    move |e| BenchError::from_engine(step, e)
}

fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>, wasmtime::Error> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            "palisade",
            "output",
            |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
                caller.data_mut().output = Some((ptr as u32, len as u32));
            },
        )?
        .func_wrap(
            "palisade",
            "fail",
            |mut caller: Caller<'_, HostState>,
             code: i32,
             ptr: i32,
             len: i32|
             -> wasmtime::Result<()> {
                let state = caller.data_mut();
                state.failed = Some(code);
                state.output = Some((ptr as u32, len as u32));
                Err(wasmtime::Error::msg("guest called palisade.fail"))
            },
        )?
        .func_wrap("palisade", "log", |_: i32, _: i32, _: i32| stub::LOG)?
        .func_wrap("palisade", "clock_now", || 0i64)?
        .func_wrap("palisade", "random_fill", |_: i32, _: i32| stub::RANDOM)?
        .func_wrap("palisade", "kv_get", |_: i32, _: i32, _: i32, _: i32| {
            stub::NOT_FOUND
        })?
        .func_wrap("palisade", "kv_set", |_: i32, _: i32, _: i32, _: i32| {
            stub::KV_SET
        })?
        .func_wrap("palisade", "kv_delete", |_: i32, _: i32| stub::NOT_FOUND)?;
    Ok(linker)
}

/// A wasmtime store and instance.
pub struct WasmtimeInstance {
    store: Store<HostState>,
    instance: wasmtime::Instance,
}

fn call(instance: &mut WasmtimeInstance, entry: &str, input: &[u8]) -> Result<Vec<u8>, BenchError> {
    let WasmtimeInstance { store, instance } = instance;
    let memory: Memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| BenchError::new("no `memory` export"))?;
    let (ptr, len) = if input.is_empty() {
        (0, 0)
    } else {
        let alloc: TypedFunc<i32, i32> = instance
            .get_typed_func(&mut *store, "palisade_alloc")
            .map_err(fail("wasmtime palisade_alloc"))?;
        let len = input_len(input)?;
        let ptr = alloc
            .call(&mut *store, len)
            .map_err(fail("wasmtime alloc"))?;
        write_input(memory.data_mut(&mut *store), ptr, input)?;
        (ptr, len)
    };
    let func: TypedFunc<(i32, i32), i32> = instance
        .get_typed_func(&mut *store, entry)
        .map_err(fail("wasmtime entry"))?;
    let status = func.call(&mut *store, (ptr, len));
    let state = *store.data();
    let status = match status {
        Ok(status) => status,
        Err(_) if state.failed.is_some() => 0,
        Err(e) => return Err(fail("wasmtime call")(e)),
    };
    read_output(status, state, memory.data(&*store))
}

fn base_config() -> Config {
    let mut config = Config::new();
    // Palisade's guests may use 1-byte pages (the thermostat does).
    config.wasm_custom_page_sizes(true);
    config
}

/// wasmtime compiling from bytes with one strategy, default (on-demand) instance allocation.
pub struct Wasmtime {
    strategy: WasmtimeStrategy,
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
}

impl Wasmtime {
    /// An engine with `strategy`.
    ///
    /// # Errors
    ///
    /// When wasmtime refuses the configuration on this machine.
    pub fn new(strategy: WasmtimeStrategy) -> Result<Self, BenchError> {
        let mut config = base_config();
        match strategy {
            WasmtimeStrategy::Cranelift => {
                config.strategy(Strategy::Cranelift);
            }
            WasmtimeStrategy::Winch => {
                config.strategy(Strategy::Winch);
            }
            WasmtimeStrategy::Pulley => {
                config
                    .strategy(Strategy::Cranelift)
                    .target("pulley64")
                    .map_err(fail("wasmtime pulley target"))?;
            }
        }
        let engine = wasmtime::Engine::new(&config).map_err(fail("wasmtime engine"))?;
        let linker = linker(&engine).map_err(fail("wasmtime linker"))?;
        Ok(Self {
            strategy,
            engine,
            linker,
        })
    }
}

impl Engine for Wasmtime {
    type Module = Module;
    type Instance = WasmtimeInstance;

    fn id(&self) -> EngineId {
        match self.strategy {
            WasmtimeStrategy::Cranelift => EngineId::Cranelift,
            WasmtimeStrategy::Winch => EngineId::Winch,
            WasmtimeStrategy::Pulley => EngineId::Pulley,
        }
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new(self.strategy)
    }

    fn compile(&self, prepared: &[u8]) -> Result<Module, BenchError> {
        Module::new(&self.engine, prepared).map_err(fail("wasmtime compile"))
    }

    fn instantiate(&self, module: &Module) -> Result<WasmtimeInstance, BenchError> {
        let mut store = Store::new(&self.engine, HostState::default());
        let instance = self
            .linker
            .instantiate(&mut store, module)
            .map_err(fail("wasmtime instantiate"))?;
        Ok(WasmtimeInstance { store, instance })
    }

    fn call(
        &self,
        instance: &mut WasmtimeInstance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        call(instance, entry, input)
    }
}

/// wasmtime's best warm start: Cranelift code compiled ahead of time
/// ([`Engine::prepare`], not timed), loaded with `Module::deserialize`, linked once into an
/// `InstancePre`, and instantiated from a pooling allocator.
pub struct WasmtimeWarm {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
}

impl WasmtimeWarm {
    /// Most instances alive at once in the pool (the benches keep one or two).
    pub const POOL_INSTANCES: u32 = 16;

    /// An engine with the pooling allocator.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot reserve the pool on this machine.
    pub fn new() -> Result<Self, BenchError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(Self::POOL_INSTANCES)
            .total_memories(Self::POOL_INSTANCES)
            .total_tables(Self::POOL_INSTANCES)
            .max_memory_size(256 << 20);
        let mut config = base_config();
        config
            .strategy(Strategy::Cranelift)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).map_err(fail("wasmtime engine"))?;
        let linker = linker(&engine).map_err(fail("wasmtime linker"))?;
        Ok(Self { engine, linker })
    }
}

impl Engine for WasmtimeWarm {
    type Module = InstancePre<HostState>;
    type Instance = WasmtimeInstance;

    fn id(&self) -> EngineId {
        EngineId::WasmtimeWarm
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new()
    }

    fn prepare(&self, wasm: &[u8]) -> Result<Vec<u8>, BenchError> {
        self.engine
            .precompile_module(wasm)
            .map_err(fail("wasmtime precompile"))
    }

    #[expect(
        unsafe_code,
        reason = "Module::deserialize is unsafe because it trusts its input; the input is what \
                  `prepare` produced with `precompile_module` in this process, for an engine \
                  with this same configuration"
    )]
    fn compile(&self, prepared: &[u8]) -> Result<InstancePre<HostState>, BenchError> {
        // SAFETY: `prepared` comes from `Engine::precompile_module` (see `prepare`) on an engine
        // with an identical configuration; wasmtime checks compatibility and refuses otherwise.
        let module = unsafe { Module::deserialize(&self.engine, prepared) }
            .map_err(fail("wasmtime deserialize"))?;
        self.linker
            .instantiate_pre(&module)
            .map_err(fail("wasmtime instantiate_pre"))
    }

    fn instantiate(&self, pre: &InstancePre<HostState>) -> Result<WasmtimeInstance, BenchError> {
        let mut store = Store::new(&self.engine, HostState::default());
        let instance = pre
            .instantiate(&mut store)
            .map_err(fail("wasmtime instantiate"))?;
        Ok(WasmtimeInstance { store, instance })
    }

    fn call(
        &self,
        instance: &mut WasmtimeInstance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        call(instance, entry, input)
    }
}
