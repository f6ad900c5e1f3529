//! Raw execution: modules that do NOT follow the guest contract (the spec suite, tools); the
//! rules are documented on [`RawStore`].

use alloc::vec::Vec;

use wasmi::{
    Extern, ExternRef, Func, Global, Instance, Linker, Memory, MemoryType, Module, Mutability, Ref,
    RefType, Store, Table, TableType, Val,
};

use crate::Runtime;
use crate::error::{ContractViolation, Error, ErrorKind, wasm_reason};
use crate::limits::Limits;
use crate::limits::MemoryMeter;
use crate::start::{self, START_EXPORT};
use crate::trap;

/// Most instances, tables and memories one raw store may create.
pub const RAW_STORE_MAX_INSTANCES: usize = 1_000;

/// A module compiled by [`Runtime::compile_raw`]: validated and compiled with the runtime's
/// engine configuration, but not checked against the guest contract.
#[derive(Clone)]
pub struct RawModule {
    module: Module,
    /// Its start function was hoisted into the export [`START_EXPORT`].
    has_start: bool,
}

impl RawModule {
    /// The wasmi module, for introspection. A start function shows as the export
    /// [`START_EXPORT`].
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Whether the module has a start function, which [`RawStore::instantiate`] runs.
    pub fn has_start(&self) -> bool {
        self.has_start
    }
}

impl core::fmt::Debug for RawModule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawModule").finish_non_exhaustive()
    }
}

/// An instance in a [`RawStore`]. A `Copy` handle, valid only with the store that created it.
#[derive(Debug, Clone, Copy)]
pub struct RawInstance(Instance);

/// The store data of a raw store: the memory/table caps and what they refused.
#[derive(Debug)]
pub(crate) struct RawState {
    fuel: u64,
    meter: MemoryMeter,
}

/// A store for raw modules — modules that do NOT follow the guest contract, for conformance
/// testing (the WebAssembly spec suite) and tools: instances that live as long as the store,
/// linked by name.
///
/// [`Runtime::compile_raw`] compiles with exactly the engine configuration of
/// [`Runtime::compile`] — fuel metering, lazy translation, custom page sizes, wasmi's strict
/// limits, the runtime's module size cap — but skips the ABI check. A [`RawStore`] instantiates
/// raw modules, links them to each other by name (and, optionally, to the spec suite's
/// `spectest` module), and invokes any export with any values.
///
/// What it keeps from a normal call: every instantiation and every invocation runs under a fuel
/// budget ([`Limits::fuel`]) and the memory and table caps ([`Limits::memory_bytes`],
/// [`Limits::table_elements`]); errors are the same typed [`ErrorKind`]s. A start function is
/// run the way calls run it (see [`START_EXPORT`]): hoisted out of instantiation into an
/// ordinary invocation of its own, with its own fuel budget.
///
/// What it drops, on purpose: the ABI contract (exports, imports, version), capabilities (a raw
/// store links no `palisade` host function), per-call isolation (a store and its instances live
/// as long as the [`RawStore`], as the spec suite needs), and the wall-clock deadline (fuel
/// alone bounds a raw call). Never use it to run untrusted tenants' code: use [`Runtime::call`].
pub struct RawStore {
    store: Store<RawState>,
    linker: Linker<RawState>,
    limits: Limits,
}

impl core::fmt::Debug for RawStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Validates and compiles a module with this runtime's engine configuration WITHOUT checking
    /// the guest contract. For conformance tests and tools; see [`RawStore`].
    ///
    /// # Errors
    ///
    /// [`ContractViolation::ModuleTooLarge`] over the runtime's module size cap,
    /// [`ErrorKind::InvalidModule`] for bytes wasmi refuses (including its strict limits),
    /// [`ContractViolation::ReservedExport`] for a module with a start function that exports
    /// [`START_EXPORT`] itself.
    pub fn compile_raw(&self, bytes: &[u8]) -> Result<RawModule, Error> {
        let cap = self.max_module_bytes();
        if bytes.len() > cap {
            return Err(ContractViolation::ModuleTooLarge {
                len: bytes.len(),
                cap,
            }
            .into());
        }
        let (module, has_start) = start::compile(self.engine(), bytes, None)?;
        Ok(RawModule { module, has_start })
    }

    /// A new, empty raw store on this runtime's engine, whose instantiations and invocations
    /// run under `limits` (fuel, memory and table caps; no deadline).
    pub fn raw_store(&self, limits: Limits) -> RawStore {
        let mut store = Store::new(
            self.engine(),
            RawState {
                fuel: limits.fuel,
                meter: MemoryMeter::new(&limits, RAW_STORE_MAX_INSTANCES),
            },
        );
        store.limiter(|s| &mut s.meter);
        let mut linker = Linker::new(self.engine());
        linker.allow_shadowing(true);
        RawStore {
            store,
            linker,
            limits,
        }
    }
}

impl RawStore {
    /// Defines the `spectest` module the WebAssembly spec suite imports: `print*` functions
    /// (which do nothing), `global_i32` (666), `global_i64` (666), `global_f32` (666.6),
    /// `global_f64` (666.6), `table` (10..20 funcref), `memory` (1..2 pages).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if a definition fails (it does not, on a new store).
    pub fn define_spectest(&mut self) -> Result<(), Error> {
        let store = &mut self.store;
        let mut items: Vec<(&str, Extern)> = Vec::new();
        items.push(("print", Func::wrap(&mut *store, || {}).into()));
        items.push(("print_i32", Func::wrap(&mut *store, |_: i32| {}).into()));
        items.push(("print_i64", Func::wrap(&mut *store, |_: i64| {}).into()));
        items.push(("print_f32", Func::wrap(&mut *store, |_: f32| {}).into()));
        items.push(("print_f64", Func::wrap(&mut *store, |_: f64| {}).into()));
        items.push((
            "print_i32_f32",
            Func::wrap(&mut *store, |_: i32, _: f32| {}).into(),
        ));
        items.push((
            "print_f64_f64",
            Func::wrap(&mut *store, |_: f64, _: f64| {}).into(),
        ));
        let globals = [
            ("global_i32", Val::I32(666)),
            ("global_i64", Val::I64(666)),
            ("global_f32", Val::F32(666.6f32.into())),
            ("global_f64", Val::F64(666.6f64.into())),
        ];
        for (name, value) in globals {
            items.push((
                name,
                Global::new(&mut *store, value, Mutability::Const).into(),
            ));
        }
        let table = Table::new(
            &mut *store,
            TableType::new(RefType::Func, 10, Some(20)),
            Ref::Func(wasmi::Nullable::Null),
        )
        .map_err(|e| map_error(store, &e))?;
        items.push(("table", table.into()));
        let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))
            .map_err(|e| map_error(store, &e))?;
        items.push(("memory", memory.into()));
        for (name, item) in items {
            self.linker.define("spectest", name, item).map_err(|e| {
                Error::config(wasm_reason(&e, "spectest item could not be defined"))
            })?;
        }
        Ok(())
    }

    /// Instantiates `module`, resolving its imports from registered instances (and
    /// `spectest`), and runs its start function, like [`RawStore::invoke`], under the fuel
    /// budget.
    ///
    /// # Errors
    ///
    /// A trap or [`ErrorKind::OutOfFuel`] from the start function, [`ErrorKind::MemoryCap`] for
    /// memory over the cap, [`ErrorKind::Host`] when an import cannot be resolved.
    pub fn instantiate(&mut self, module: &RawModule) -> Result<RawInstance, Error> {
        self.refuel()?;
        // Runs no guest code: raw modules have no start section (crate::start).
        let instance = self
            .linker
            .instantiate_and_start(&mut self.store, &module.module)
            .map(RawInstance)
            .map_err(|e| map_error(&self.store, &e))?;
        if module.has_start {
            self.invoke(instance, START_EXPORT, &[])?;
        }
        Ok(instance)
    }

    /// Makes `instance`'s exports importable as module `name` by later instantiations.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if the instance belongs to another store.
    pub fn register(&mut self, name: &str, instance: RawInstance) -> Result<(), Error> {
        self.linker
            .instance(&mut self.store, name, instance.0)
            .map(drop)
            .map_err(|e| Error::config(wasm_reason(&e, "the instance could not be registered")))
    }

    /// Calls export `name` of `instance` with `args`; returns its results.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NoSuchEntry`] if there is no such exported function, a trap,
    /// [`ErrorKind::OutOfFuel`], or [`ErrorKind::Host`] for arguments of the wrong type.
    pub fn invoke(
        &mut self,
        instance: RawInstance,
        name: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, Error> {
        let func = instance
            .0
            .get_func(&self.store, name)
            .ok_or_else(|| Error::new(ErrorKind::NoSuchEntry { entry: name.into() }))?;
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        self.refuel()?;
        func.call(&mut self.store, args, &mut results)
            .map_err(|e| map_error(&self.store, &e))?;
        Ok(results)
    }

    /// The value of global export `name` of `instance`, if there is one.
    pub fn get_global(&self, instance: RawInstance, name: &str) -> Option<Val> {
        instance
            .0
            .get_global(&self.store, name)
            .map(|g| g.get(&self.store))
    }

    /// A non-null `externref` carrying `value` (the spec suite's `ref.extern N`).
    pub fn extern_ref(&mut self, value: u32) -> Val {
        Val::ExternRef(wasmi::Nullable::Val(ExternRef::new(&mut self.store, value)))
    }

    /// The value an `externref` made by [`RawStore::extern_ref`] carries; `None` for null or
    /// for any other value.
    pub fn extern_ref_value(&self, val: &Val) -> Option<u32> {
        match val {
            Val::ExternRef(wasmi::Nullable::Val(r)) => {
                r.data(&self.store).downcast_ref::<u32>().copied()
            }
            _ => None,
        }
    }

    /// Memory growths the cap refused so far.
    pub fn memory_cap_hits(&self) -> u32 {
        self.store.data().meter.cap_hits
    }

    fn refuel(&mut self) -> Result<(), Error> {
        self.store
            .set_fuel(self.limits.fuel)
            .map_err(|e| Error::config(wasm_reason(&e, "the store refused the fuel budget")))
    }
}

fn map_error(store: &Store<RawState>, e: &wasmi::Error) -> Error {
    if let Some(code) = e.as_trap_code() {
        if code == wasmi::TrapCode::OutOfFuel {
            return ErrorKind::OutOfFuel {
                budget: store.data().fuel,
            }
            .into();
        }
        return ErrorKind::Trap(trap::trap_kind(code)).into();
    }
    if store.data().meter.cap_hits > 0 {
        return ErrorKind::MemoryCap {
            cap_bytes: store.data().meter.cap,
        }
        .into();
    }
    if let Some(kind) = trap::instantiation_trap(e) {
        return ErrorKind::Trap(kind).into();
    }
    ErrorKind::Host {
        reason: wasm_reason(e, "instantiation or the call failed in wasmi"),
    }
    .into()
}
