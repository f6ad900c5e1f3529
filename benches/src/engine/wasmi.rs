//! Raw wasmi 2.0, the interpreter Palisade is built on, with no Palisade layer on top.

use wasmi::{
    Caller, CompilationMode, Config, CustomFuelCosts, Error, Instance, Linker, Memory, Module,
    Store, TypedFunc,
};

use super::{Engine, EngineId, HostState, input_len, read_output, stub, write_input};
use crate::BenchError;

/// How raw wasmi is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmiMode {
    /// Translate every function in `Module::new`; no fuel.
    Eager,
    /// Validate in `Module::new`, translate each function on its first call; no fuel.
    Lazy,
    /// [`WasmiMode::Lazy`] with fuel metering, priced as Palisade prices it.
    LazyFuel,
}

/// Raw wasmi: an engine and a linker with the `palisade` host imports.
pub struct Wasmi {
    mode: WasmiMode,
    engine: wasmi::Engine,
    linker: Linker<HostState>,
}

/// A wasmi store and instance.
pub struct WasmiInstance {
    store: Store<HostState>,
    instance: Instance,
}

impl Wasmi {
    /// Fuel handed to each store when metering is on: more than any workload needs.
    pub const FUEL: u64 = 1_000_000_000_000;

    /// An engine in `mode`.
    ///
    /// # Errors
    ///
    /// When a host function does not register.
    pub fn new(mode: WasmiMode) -> Result<Self, BenchError> {
        let mut config = Config::default();
        // Palisade's guests may use 1-byte pages (the thermostat does); Palisade enables them.
        config.wasm_custom_page_sizes(true);
        match mode {
            WasmiMode::Eager => {
                config.compilation_mode(CompilationMode::Eager);
            }
            WasmiMode::Lazy => {
                config.compilation_mode(CompilationMode::LazyTranslation);
            }
            WasmiMode::LazyFuel => {
                config
                    .compilation_mode(CompilationMode::LazyTranslation)
                    .consume_fuel(true)
                    .fuel_cost(CustomFuelCosts {
                        bytes_copied_per_fuel: 64,
                        fuel_per_bytes_translated: 0,
                        fuel_per_bytes_validated: 0,
                    });
            }
        }
        let engine = wasmi::Engine::new(&config);
        let linker = linker(&engine).map_err(|e| BenchError::from_engine("wasmi linker", e))?;
        Ok(Self {
            mode,
            engine,
            linker,
        })
    }
}

fn linker(engine: &wasmi::Engine) -> Result<Linker<HostState>, wasmi::Error> {
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
             -> Result<(), Error> {
                let state = caller.data_mut();
                state.failed = Some(code);
                state.output = Some((ptr as u32, len as u32));
                Err(Error::new("guest called palisade.fail"))
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

fn fail(step: &str) -> impl FnOnce(wasmi::Error) -> BenchError + '_ {
    move |e| BenchError::from_engine(step, e)
}

impl Engine for Wasmi {
    type Module = Module;
    type Instance = WasmiInstance;

    fn id(&self) -> EngineId {
        match self.mode {
            WasmiMode::Eager => EngineId::WasmiEager,
            WasmiMode::Lazy => EngineId::WasmiLazy,
            WasmiMode::LazyFuel => EngineId::WasmiLazyFuel,
        }
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new(self.mode)
    }

    fn compile(&self, prepared: &[u8]) -> Result<Module, BenchError> {
        Module::new(&self.engine, prepared).map_err(fail("wasmi compile"))
    }

    fn instantiate(&self, module: &Module) -> Result<WasmiInstance, BenchError> {
        let mut store = Store::new(&self.engine, HostState::default());
        if self.mode == WasmiMode::LazyFuel {
            store.set_fuel(Self::FUEL).map_err(fail("wasmi fuel"))?;
        }
        let instance = self
            .linker
            .instantiate_and_start(&mut store, module)
            .map_err(fail("wasmi instantiate"))?;
        Ok(WasmiInstance { store, instance })
    }

    fn call(
        &self,
        instance: &mut WasmiInstance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        let WasmiInstance { store, instance } = instance;
        let memory: Memory = instance
            .get_memory(&*store, "memory")
            .ok_or_else(|| BenchError::new("no `memory` export"))?;
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let alloc: TypedFunc<i32, i32> = instance
                .get_typed_func(&*store, "palisade_alloc")
                .map_err(fail("wasmi palisade_alloc"))?;
            let len = input_len(input)?;
            let ptr = alloc.call(&mut *store, len).map_err(fail("wasmi alloc"))?;
            write_input(memory.data_mut(&mut *store), ptr, input)?;
            (ptr, len)
        };
        let func: TypedFunc<(i32, i32), i32> = instance
            .get_typed_func(&*store, entry)
            .map_err(fail("wasmi entry"))?;
        let status = func.call(&mut *store, (ptr, len));
        let state = *store.data();
        let status = match status {
            Ok(status) => status,
            Err(_) if state.failed.is_some() => 0,
            Err(e) => return Err(fail("wasmi call")(e)),
        };
        read_output(status, state, memory.data(&*store))
    }
}
