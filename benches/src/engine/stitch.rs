//! makepad-stitch 0.1: a threaded-code interpreter in Rust that relies on sibling-call
//! optimisation (it overflows the native stack when built unoptimised).

use std::sync::{Arc, Mutex};

use makepad_stitch::{Func, Instance, Linker, Module, Store, Val};

use super::{Engine, EngineId, HostState, input_len, read_output, stub, write_input};
use crate::BenchError;

fn fail<E: std::fmt::Display>(step: &str) -> impl FnOnce(E) -> BenchError + '_ {
    move |e| BenchError::from_engine(step, e)
}

/// stitch with its default configuration. Host functions belong to a store in stitch, so each
/// instantiation defines the `palisade` imports and a linker afresh.
pub struct Stitch {
    engine: makepad_stitch::Engine,
}

/// A stitch store, instance and the host state its imports write.
pub struct StitchInstance {
    store: Store,
    instance: Instance,
    state: Arc<Mutex<HostState>>,
}

impl Stitch {
    /// A new engine.
    ///
    /// # Errors
    ///
    /// Never; a `Result` like the other engines'.
    pub fn new() -> Result<Self, BenchError> {
        Ok(Self {
            engine: makepad_stitch::Engine::new(),
        })
    }
}

fn update(state: &Mutex<HostState>, f: impl FnOnce(&mut HostState)) {
    // A poisoned lock only means another host call panicked; the state is plain data.
    let mut guard = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard);
}

fn linker(store: &mut Store, state: &Arc<Mutex<HostState>>) -> Linker {
    let mut linker = Linker::new();
    let out = state.clone();
    linker.define(
        "palisade",
        "output",
        Func::wrap(store, move |ptr: i32, len: i32| {
            update(&out, |s| s.output = Some((ptr as u32, len as u32)));
        }),
    );
    // stitch offers no public way for a host function to trap: `fail` records the failure
    // and returns; the guest's `unreachable` after the import then traps, and `call` reports
    // the recorded failure.
    let failed = state.clone();
    linker.define(
        "palisade",
        "fail",
        Func::wrap(store, move |code: i32, ptr: i32, len: i32| {
            update(&failed, |s| {
                s.failed = Some(code);
                s.output = Some((ptr as u32, len as u32));
            });
        }),
    );
    linker.define(
        "palisade",
        "log",
        Func::wrap(store, |_: i32, _: i32, _: i32| stub::LOG),
    );
    linker.define("palisade", "clock_now", Func::wrap(store, || 0i64));
    linker.define(
        "palisade",
        "random_fill",
        Func::wrap(store, |_: i32, _: i32| stub::RANDOM),
    );
    linker.define(
        "palisade",
        "kv_get",
        Func::wrap(store, |_: i32, _: i32, _: i32, _: i32| stub::NOT_FOUND),
    );
    linker.define(
        "palisade",
        "kv_set",
        Func::wrap(store, |_: i32, _: i32, _: i32, _: i32| stub::KV_SET),
    );
    linker.define(
        "palisade",
        "kv_delete",
        Func::wrap(store, |_: i32, _: i32| stub::NOT_FOUND),
    );
    linker
}

fn call_i32(store: &mut Store, func: Func, args: &[Val]) -> Result<i32, BenchError> {
    let mut results = [Val::I32(0)];
    func.call(store, args, &mut results)
        .map_err(fail("stitch call"))?;
    match results {
        [Val::I32(v)] => Ok(v),
        _ => Err(BenchError::new(
            "stitch: the function did not return an i32",
        )),
    }
}

impl Engine for Stitch {
    type Module = Module;
    type Instance = StitchInstance;

    fn id(&self) -> EngineId {
        EngineId::Stitch
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new()
    }

    fn compile(&self, prepared: &[u8]) -> Result<Module, BenchError> {
        Module::new(&self.engine, prepared).map_err(fail("stitch decode"))
    }

    fn instantiate(&self, module: &Module) -> Result<StitchInstance, BenchError> {
        let mut store = Store::new(self.engine.clone());
        let state = Arc::new(Mutex::new(HostState::default()));
        let linker = linker(&mut store, &state);
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(fail("stitch instantiate"))?;
        Ok(StitchInstance {
            store,
            instance,
            state,
        })
    }

    fn call(
        &self,
        instance: &mut StitchInstance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        let StitchInstance {
            store,
            instance,
            state,
        } = instance;
        let memory = instance
            .exported_mem("memory")
            .ok_or_else(|| BenchError::new("no `memory` export"))?;
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let alloc = instance
                .exported_func("palisade_alloc")
                .ok_or_else(|| BenchError::new("no `palisade_alloc` export"))?;
            let len = input_len(input)?;
            let ptr = call_i32(store, alloc, &[Val::I32(len)])?;
            write_input(memory.bytes_mut(store), ptr, input)?;
            (ptr, len)
        };
        let func = instance
            .exported_func(entry)
            .ok_or_else(|| BenchError::new(format!("no `{entry}` export")))?;
        let status = call_i32(store, func, &[Val::I32(ptr), Val::I32(len)]);
        let host = *state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let status = match status {
            Ok(status) => status,
            Err(_) if host.failed.is_some() => 0,
            Err(e) => return Err(e),
        };
        read_output(status, host, memory.bytes(store))
    }
}
