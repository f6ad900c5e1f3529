//! Palisade itself: `Registry::register` + `promote` once, `Registry::call` per invocation.

use std::sync::Arc;
use std::time::Duration;

use palisade::{KvError, KvStore, Limits, ModuleMeta, Registry, Runtime, Tenant};

use super::{Engine, EngineId};
use crate::BenchError;

/// The std host kit's clock, re-exported: what a desktop or server host uses.
pub use palisade_std::StdClock;

/// A KV store that keeps nothing: every read finds nothing, every write succeeds. The raw
/// engines' `kv_*` stubs answer the same, so a guest that keeps state (the thermostat) does the
/// same work on every call and on every engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullKv;

impl KvStore for NullKv {
    fn get(
        &self,
        _tenant: &str,
        _key: &[u8],
        _read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError> {
        Ok(false)
    }

    fn set(&self, _tenant: &str, _key: &[u8], _value: &[u8]) -> Result<(), KvError> {
        Ok(())
    }

    fn delete(&self, _tenant: &str, _key: &[u8]) -> Result<bool, KvError> {
        Ok(false)
    }
}

/// Palisade's full path: a registry over a runtime with its built-in capabilities, one tenant
/// granted all of them; "compile" is `register` + `promote` (hash, validate, contract check,
/// grant gate), each call is `Registry::call` (routing, capability and rate checks, a fresh
/// store + instance, fuel slices, deadline, memory cap, output copy, metrics).
///
/// The tenant's limits are Palisade's defaults except where a benchmark would trip them: fuel
/// (`10¹²`), deadline (60 s) and the call rate (unlimited). The fuel slice stays at its default,
/// so the cost of deadline checks between slices is measured.
pub struct Palisade {
    registry: Registry,
    tenant: Tenant,
}

impl Palisade {
    /// Fuel per call: enough for every workload, so no call runs out.
    pub const FUEL: u64 = 1_000_000_000_000;

    /// A runtime and a tenant granted every built-in capability.
    ///
    /// # Errors
    ///
    /// When the runtime or the tenant cannot be built.
    pub fn new() -> Result<Self, BenchError> {
        let runtime = Runtime::builder(Arc::new(StdClock::new()))
            .kv_store(Arc::new(NullKv))
            .build()
            .map_err(|e| BenchError::from_engine("palisade runtime", e))?;
        let names: Vec<String> = runtime.capabilities().map(String::from).collect();
        let limits = Limits::builder()
            .fuel(Self::FUEL)
            .deadline(Duration::from_secs(60))
            .calls_per_second(0)
            .build();
        let tenant = runtime
            .tenant("bench")
            .grant_all(names.iter().map(String::as_str).filter(|n| *n != "core"))
            .limits(limits)
            .build()
            .map_err(|e| BenchError::from_engine("palisade tenant", e))?;
        Ok(Self {
            registry: Registry::new(runtime),
            tenant,
        })
    }
}

impl Engine for Palisade {
    /// The plugin name the module was promoted under.
    type Module = String;
    type Instance = ();

    fn id(&self) -> EngineId {
        EngineId::Palisade
    }

    fn renew(&self) -> Result<Self, BenchError> {
        Self::new()
    }

    fn compile(&self, prepared: &[u8]) -> Result<String, BenchError> {
        let registered = self
            .registry
            .register(prepared, ModuleMeta::named("bench", "1"))
            .map_err(|e| BenchError::from_engine("palisade register", e))?;
        let plugin = registered.digest.short().to_string();
        self.registry
            .promote(&plugin, registered.digest, &self.tenant)
            .map_err(|e| BenchError::from_engine("palisade promote", e))?;
        Ok(plugin)
    }

    fn separable(&self) -> bool {
        false
    }

    fn instantiate(&self, _module: &String) -> Result<(), BenchError> {
        Err(BenchError::new(
            "palisade makes a fresh instance inside every call: instantiate is not separable",
        ))
    }

    fn call(&self, _instance: &mut (), _entry: &str, _input: &[u8]) -> Result<Vec<u8>, BenchError> {
        Err(BenchError::new(
            "palisade makes a fresh instance inside every call: use invoke",
        ))
    }

    fn invoke(&self, module: &String, entry: &str, input: &[u8]) -> Result<Vec<u8>, BenchError> {
        self.registry
            .call(module, &self.tenant, entry, input, b"bench")
            .into_result()
            .map_err(|e| BenchError::from_engine("palisade call", e))
    }
}
