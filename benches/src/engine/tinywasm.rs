//! tinywasm 0.10: a small interpreter in safe Rust.

use std::cell::Cell;
use std::rc::Rc;

use tinywasm::{FuncContext, HostFunction, Imports, Module, ModuleInstance, Store};

use super::{Engine, EngineId, HostState, input_len, stub};
use crate::BenchError;

fn fail(step: &str) -> impl FnOnce(tinywasm::Error) -> BenchError + '_ {
    move |e| BenchError::from_engine(step, e)
}

/// tinywasm with its default engine configuration. Host functions belong to a store in
/// tinywasm, so each instantiation defines the `palisade` imports afresh.
pub struct TinyWasm;

/// A tinywasm store, instance and the host state its imports write.
pub struct TinyWasmInstance {
    store: Store,
    instance: ModuleInstance,
    state: Rc<Cell<HostState>>,
}

impl TinyWasm {
    /// The engine (stateless here: stores carry everything).
    ///
    /// # Errors
    ///
    /// Never; a `Result` like the other engines'.
    pub fn new() -> Result<Self, BenchError> {
        Ok(Self)
    }
}

fn imports(store: &mut Store, state: &Rc<Cell<HostState>>) -> Imports {
    let mut imports = Imports::new();
    let out = state.clone();
    imports.define(
        "palisade",
        "output",
        HostFunction::from(store, move |_: FuncContext<'_>, (ptr, len): (i32, i32)| {
            let mut s = out.get();
            s.output = Some((ptr as u32, len as u32));
            out.set(s);
            Ok(())
        }),
    );
    let failed = state.clone();
    imports.define(
        "palisade",
        "fail",
        HostFunction::from(
            store,
            move |_: FuncContext<'_>, (code, ptr, len): (i32, i32, i32)| -> tinywasm::Result<()> {
                let mut s = failed.get();
                s.failed = Some(code);
                s.output = Some((ptr as u32, len as u32));
                failed.set(s);
                Err(tinywasm::Error::Other("guest called palisade.fail".into()))
            },
        ),
    );
    imports.define(
        "palisade",
        "log",
        HostFunction::from(store, |_: FuncContext<'_>, _: (i32, i32, i32)| {
            Ok(stub::LOG)
        }),
    );
    imports.define(
        "palisade",
        "clock_now",
        HostFunction::from(store, |_: FuncContext<'_>, (): ()| Ok(0i64)),
    );
    imports.define(
        "palisade",
        "random_fill",
        HostFunction::from(store, |_: FuncContext<'_>, _: (i32, i32)| Ok(stub::RANDOM)),
    );
    imports.define(
        "palisade",
        "kv_get",
        HostFunction::from(store, |_: FuncContext<'_>, _: (i32, i32, i32, i32)| {
            Ok(stub::NOT_FOUND)
        }),
    );
    imports.define(
        "palisade",
        "kv_set",
        HostFunction::from(store, |_: FuncContext<'_>, _: (i32, i32, i32, i32)| {
            Ok(stub::KV_SET)
        }),
    );
    imports.define(
        "palisade",
        "kv_delete",
        HostFunction::from(store, |_: FuncContext<'_>, _: (i32, i32)| {
            Ok(stub::NOT_FOUND)
        }),
    );
    imports
}

impl Engine for TinyWasm {
    type Module = Module;
    type Instance = TinyWasmInstance;

    fn id(&self) -> EngineId {
        EngineId::TinyWasm
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new()
    }

    fn compile(&self, prepared: &[u8]) -> Result<Module, BenchError> {
        tinywasm::parse_bytes(prepared).map_err(|e| BenchError::from_engine("tinywasm parse", e))
    }

    fn instantiate(&self, module: &Module) -> Result<TinyWasmInstance, BenchError> {
        let mut store = Store::default();
        let state = Rc::new(Cell::new(HostState::default()));
        let imports = imports(&mut store, &state);
        let instance = ModuleInstance::instantiate(&mut store, module, Some(imports))
            .map_err(fail("tinywasm instantiate"))?;
        Ok(TinyWasmInstance {
            store,
            instance,
            state,
        })
    }

    fn call(
        &self,
        instance: &mut TinyWasmInstance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        let TinyWasmInstance {
            store,
            instance,
            state,
        } = instance;
        let memory = instance.memory("memory").map_err(fail("tinywasm memory"))?;
        let (ptr, len) = if input.is_empty() {
            (0, 0)
        } else {
            let alloc = instance
                .func::<i32, i32>(store, "palisade_alloc")
                .map_err(fail("tinywasm palisade_alloc"))?;
            let len = input_len(input)?;
            let ptr = alloc.call(store, len).map_err(fail("tinywasm alloc"))?;
            let size = memory.len(store).map_err(fail("tinywasm memory"))?;
            let start = ptr as u32 as usize;
            if start == 0 || start.saturating_add(input.len()) > size {
                return Err(BenchError::new(format!(
                    "palisade_alloc returned {ptr} for {len} bytes: outside guest memory"
                )));
            }
            memory
                .copy_from_slice(store, start, input)
                .map_err(fail("tinywasm write input"))?;
            (ptr, len)
        };
        let func = instance
            .func::<(i32, i32), i32>(store, entry)
            .map_err(fail("tinywasm entry"))?;
        let status = func.call(store, (ptr, len));
        let host = state.get();
        let status = match status {
            Ok(status) => status,
            Err(_) if host.failed.is_some() => 0,
            Err(e) => return Err(fail("tinywasm call")(e)),
        };
        let (out_ptr, out_len) = host.output.unwrap_or((0, 0));
        let bytes = memory
            .read_vec(store, out_ptr as usize, out_len as usize)
            .map_err(fail("tinywasm output region"))?;
        match (host.failed, status) {
            (Some(code), _) => Err(BenchError::new(format!("guest failed with code {code}"))),
            (None, 0) => Ok(bytes),
            (None, status) => Err(BenchError::new(format!(
                "guest error {status}: {}",
                String::from_utf8_lossy(&bytes)
            ))),
        }
    }
}
