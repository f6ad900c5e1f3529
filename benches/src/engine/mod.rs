//! The engines under test, behind one interface.
//!
//! Every engine runs a guest the way `docs/ABI.md` section 3 describes: a fresh store and
//! instance, `palisade_alloc(len)` and one copy of the input into guest memory, the entry point,
//! then the region named by `palisade.output` read back (bounds-checked) and copied out. The raw
//! engines get the same host imports with the same semantics as Palisade's defaults (see
//! [`HostState`]), so each engine does the same work.

mod palisade;
mod wasmi;

#[cfg(feature = "stitch")]
pub mod stitch;
#[cfg(feature = "tinywasm")]
pub mod tinywasm;
#[cfg(feature = "wasm3")]
pub mod wasm3;
#[cfg(feature = "wasmtime")]
pub mod wasmtime;

pub use self::palisade::{Palisade, StdClock};
pub use self::wasmi::{Wasmi, WasmiMode};

use crate::BenchError;

/// Names every engine configuration the benches compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineId {
    /// Palisade: the full register + invoke path (wasmi, lazy translation, fuel, limits).
    Palisade,
    /// Raw wasmi 2.0, eager translation, no fuel.
    WasmiEager,
    /// Raw wasmi 2.0, lazy translation (validated up front, translated on first call), no fuel.
    WasmiLazy,
    /// Raw wasmi 2.0, lazy translation, fuel metering on (Palisade's engine configuration).
    WasmiLazyFuel,
    /// wasmtime 48 with the Cranelift optimising compiler.
    Cranelift,
    /// wasmtime 48 with the Winch baseline compiler.
    Winch,
    /// wasmtime 48 compiling to Pulley bytecode and interpreting it.
    Pulley,
    /// wasmtime 48, best warm start: `Module::deserialize` of a precompiled Cranelift artifact +
    /// `InstancePre` with the pooling allocator.
    WasmtimeWarm,
    /// wasm3 0.9 through `wasm3x` (lazy compilation).
    Wasm3,
    /// tinywasm 0.10.
    TinyWasm,
    /// makepad-stitch 0.1.
    Stitch,
}

impl EngineId {
    /// Every engine, in report order.
    pub const ALL: [EngineId; 11] = [
        EngineId::Palisade,
        EngineId::WasmiEager,
        EngineId::WasmiLazy,
        EngineId::WasmiLazyFuel,
        EngineId::Cranelift,
        EngineId::Winch,
        EngineId::Pulley,
        EngineId::WasmtimeWarm,
        EngineId::Wasm3,
        EngineId::TinyWasm,
        EngineId::Stitch,
    ];

    /// The name used in benchmark ids and in the report.
    pub fn name(self) -> &'static str {
        match self {
            EngineId::Palisade => "palisade",
            EngineId::WasmiEager => "wasmi-eager",
            EngineId::WasmiLazy => "wasmi-lazy",
            EngineId::WasmiLazyFuel => "wasmi-lazy-fuel",
            EngineId::Cranelift => "wasmtime-cranelift",
            EngineId::Winch => "wasmtime-winch",
            EngineId::Pulley => "wasmtime-pulley",
            EngineId::WasmtimeWarm => "wasmtime-warm",
            EngineId::Wasm3 => "wasm3",
            EngineId::TinyWasm => "tinywasm",
            EngineId::Stitch => "stitch",
        }
    }

    /// The engine with this [`EngineId::name`].
    pub fn from_name(name: &str) -> Option<EngineId> {
        EngineId::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the engine runs a compiler (Cranelift or Winch) before the first call: the
    /// engines whose compile cost the crossover is about. Pulley counts: it compiles with
    /// Cranelift, then interprets the result.
    pub fn is_compiler(self) -> bool {
        matches!(
            self,
            EngineId::Cranelift | EngineId::Winch | EngineId::Pulley | EngineId::WasmtimeWarm
        )
    }

    /// A one-line description for the report.
    pub fn describe(self) -> &'static str {
        match self {
            EngineId::Palisade => {
                "Palisade: compile (validate + contract check) once, then per call a fresh store + instance, fuel in slices, deadline, memory cap, output copied out"
            }
            EngineId::WasmiEager => "raw wasmi 2.0, `CompilationMode::Eager`, no fuel",
            EngineId::WasmiLazy => {
                "raw wasmi 2.0, `CompilationMode::LazyTranslation` (validate up front, translate on first call), no fuel"
            }
            EngineId::WasmiLazyFuel => {
                "raw wasmi 2.0, `LazyTranslation` + fuel metering, Palisade's fuel costs, one `call` (no slices)"
            }
            EngineId::Cranelift => {
                "wasmtime 48.0.8, Cranelift (opt speed), on-demand allocator, `Module::new` from bytes"
            }
            EngineId::Winch => "wasmtime 48.0.8, Winch baseline compiler, on-demand allocator",
            EngineId::Pulley => {
                "wasmtime 48.0.8, Cranelift to Pulley bytecode (`pulley64`), interpreted"
            }
            EngineId::WasmtimeWarm => {
                "wasmtime 48.0.8, Cranelift artifact precompiled ahead of time (not timed), `Module::deserialize` + `InstancePre`, pooling allocator"
            }
            EngineId::Wasm3 => {
                "wasm3 0.9 (`wasm3x` 0.2.1), lazy compilation; re-parses the module per instance"
            }
            EngineId::TinyWasm => "tinywasm 0.10, default engine configuration",
            EngineId::Stitch => "makepad-stitch 0.1",
        }
    }
}

/// One WebAssembly engine, driven the same way for every engine.
///
/// The phases the benches time are built from these steps: startup is
/// [`compile`](Engine::compile) + [`invoke`](Engine::invoke); instantiate is
/// [`instantiate`](Engine::instantiate); call is [`call`](Engine::call) on a fresh instance;
/// a whole invocation is [`invoke`](Engine::invoke).
pub trait Engine: Sized {
    /// A compiled (or parsed, or deserialised) module, ready to instantiate many times.
    type Module;
    /// An instance with its store, ready for one call.
    type Instance;

    /// Which engine this is.
    fn id(&self) -> EngineId;

    /// A new engine (and host state) with the same configuration, sharing nothing with `self`.
    ///
    /// Startup benchmarks use a fresh engine per iteration, outside the timed region, because
    /// some engines (wasmi) never free a module's code while their engine lives.
    ///
    /// # Errors
    ///
    /// When the engine cannot be created.
    fn renew(&self) -> Result<Self, BenchError>;

    /// Turns wasm bytes into what this engine starts from; ahead-of-time work, never timed.
    /// Only the warm wasmtime start does anything here (it precompiles).
    ///
    /// # Errors
    ///
    /// When the module does not compile.
    fn prepare(&self, wasm: &[u8]) -> Result<Vec<u8>, BenchError> {
        Ok(wasm.to_vec())
    }

    /// Compiles (validates, translates) the prepared bytes.
    ///
    /// # Errors
    ///
    /// When the module is refused.
    fn compile(&self, prepared: &[u8]) -> Result<Self::Module, BenchError>;

    /// Whether instantiate and call can be timed apart. Palisade fuses them: every call makes
    /// its own instance and the API has no other way in.
    fn separable(&self) -> bool {
        true
    }

    /// A fresh store + instance of `module` (start function run).
    ///
    /// # Errors
    ///
    /// When instantiation fails, or the engine is not [`separable`](Engine::separable).
    fn instantiate(&self, module: &Self::Module) -> Result<Self::Instance, BenchError>;

    /// One call of `entry` on `instance` with `input`, following the ABI; returns the output.
    ///
    /// # Errors
    ///
    /// A trap, a guest error (non-zero status), or an ABI violation.
    fn call(
        &self,
        instance: &mut Self::Instance,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError>;

    /// One whole invocation: a fresh instance, the call, the instance dropped.
    ///
    /// # Errors
    ///
    /// As [`Engine::instantiate`] and [`Engine::call`].
    fn invoke(
        &self,
        module: &Self::Module,
        entry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, BenchError> {
        let mut instance = self.instantiate(module)?;
        self.call(&mut instance, entry, input)
    }

    /// Bytes to first result: compile, then one invocation.
    ///
    /// # Errors
    ///
    /// As [`Engine::compile`] and [`Engine::invoke`].
    fn startup(&self, prepared: &[u8], entry: &str, input: &[u8]) -> Result<Vec<u8>, BenchError> {
        let module = self.compile(prepared)?;
        self.invoke(&module, entry, input)
    }
}

/// `palisade` import names and the values the raw engines' stubs return: the same answers
/// Palisade's default host services give (no log sink, empty KV store, no random source).
pub(crate) mod stub {
    /// `log` returns 0 (the line is accepted and discarded, like `DiscardLog`).
    pub const LOG: i32 = 0;
    /// `random_fill` returns `HOST`: Palisade's default runtime has no random source.
    pub const RANDOM: i32 = -6;
    /// `kv_get` / `kv_delete` return `NOT_FOUND`: the store starts empty.
    pub const NOT_FOUND: i32 = -1;
    /// `kv_set` returns 0.
    pub const KV_SET: i32 = 0;
}

/// Per-call host state for the raw engines: what `palisade.output` and `palisade.fail` record.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostState {
    /// The last region named by `palisade.output`.
    pub output: Option<(u32, u32)>,
    /// The code passed to `palisade.fail`, if the guest failed.
    pub failed: Option<i32>,
}

/// Checks the allocator's answer and writes `input` at `ptr` (ABI step 2).
pub(crate) fn write_input(memory: &mut [u8], ptr: i32, input: &[u8]) -> Result<(), BenchError> {
    let start = ptr as u32 as usize;
    match memory.get_mut(start..start.saturating_add(input.len())) {
        Some(dst) if start != 0 => {
            dst.copy_from_slice(input);
            Ok(())
        }
        _ => Err(BenchError::new(format!(
            "palisade_alloc returned {ptr} for {} bytes: outside guest memory",
            input.len()
        ))),
    }
}

/// Reads the guest's answer (ABI steps 4-5): the output for status 0, an error otherwise.
pub(crate) fn read_output(
    status: i32,
    state: HostState,
    memory: &[u8],
) -> Result<Vec<u8>, BenchError> {
    let (ptr, len) = state.output.unwrap_or((0, 0));
    let region = memory.get(ptr as usize..(ptr as usize).saturating_add(len as usize));
    if let Some(code) = state.failed {
        return Err(BenchError::new(format!("guest failed with code {code}")));
    }
    match region {
        Some(bytes) if status == 0 => Ok(bytes.to_vec()),
        Some(bytes) => Err(BenchError::new(format!(
            "guest error {status}: {}",
            String::from_utf8_lossy(bytes)
        ))),
        None => Err(BenchError::new(format!(
            "output region {ptr}+{len} outside guest memory of {} bytes",
            memory.len()
        ))),
    }
}

/// Converts the input length to the ABI's `i32`.
pub(crate) fn input_len(input: &[u8]) -> Result<i32, BenchError> {
    i32::try_from(input.len()).map_err(|_| BenchError::new("input longer than 2 GiB"))
}
