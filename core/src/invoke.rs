//! Execution: the [`Runtime`], compiled modules, tenants, and one fresh instance per call.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use wasmi::{
    CompilationMode, Config, CustomFuelCosts, EnforcedLimits, Engine, FuncType, IntoFunc, Linker,
    Memory, Module, Store, TypedFunc, TypedResumableCall, WasmParams, WasmResults,
};
use wasmi_core::LimiterError;

use crate::abi::{self, ALLOC_EXPORT, ContractInfo, IMPORT_NAMESPACE, MEMORY_EXPORT};
use crate::capability::{self, BUILTIN_NAMES, CORE, CapSet, HostTrap, MAX_CAPABILITIES};
use crate::digest::Digest;
use crate::error::{ContractViolation, Error, ErrorKind, Outcome, wasm_reason};
use crate::host::{Clock, DiscardLog, Instant, LogSink, NoRandom, RandomSource};
use crate::interrupt::Interrupt;
use crate::limits::{Limits, StackLimits, TokenBucket};
use crate::start::{self, START_EXPORT};
use crate::{KvStore, KvWrites, MemoryKv};

type Installer =
    Arc<dyn Fn(&mut Linker<CallState>) -> Result<(), wasmi::errors::LinkerError> + Send + Sync>;

/// Definition of one `palisade` import: its capability and type.
#[derive(Debug, Clone)]
pub(crate) struct ImportDef {
    pub(crate) capability: u8,
    pub(crate) ty: FuncType,
}

/// Every capability a runtime knows, and which capability each import belongs to.
#[derive(Debug, Default)]
pub(crate) struct CapabilityTable {
    names: Vec<Box<str>>,
    imports: BTreeMap<Box<str>, ImportDef>,
}

impl CapabilityTable {
    pub(crate) fn import(&self, name: &str) -> Option<&ImportDef> {
        self.imports.get(name)
    }

    pub(crate) fn capability_name(&self, index: u8) -> &str {
        self.names.get(usize::from(index)).map_or("?", |n| n)
    }

    fn index_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .and_then(|i| u8::try_from(i).ok())
    }
}

/// What every call of a runtime shares: host services and the capability table.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) log: Arc<dyn LogSink>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) random: Arc<dyn RandomSource>,
    table: CapabilityTable,
    installers: Vec<Installer>,
    max_module_bytes: usize,
    stack: StackLimits,
}

/// The per-call state a store carries; host functions reach it through `Caller::data`.
///
/// Created fresh for every call and dropped with the instance.
pub struct CallState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tenant: Tenant,
    pub(crate) digest: Digest,
    pub(crate) limits: Limits,
    pub(crate) deadline_at: Instant,
    pub(crate) interrupt: Option<Interrupt>,
    pub(crate) fuel_reserve: u64,
    pub(crate) meter: MemoryMeter,
    pub(crate) memory: Option<Memory>,
    pub(crate) output: Option<(u32, u32)>,
    pub(crate) log_bytes: usize,
    pub(crate) log_dropped: u32,
    pub(crate) kv_written: usize,
    /// This call's KV writes, committed when it succeeds (`Runtime::run`).
    pub(crate) kv_writes: KvWrites,
}

impl CallState {
    /// The calling tenant's id.
    pub fn tenant(&self) -> &str {
        self.tenant.id()
    }

    /// The digest of the module being run.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The limits of this call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The host clock's current time.
    pub fn clock_now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Whether the host has interrupted this call ([`Runtime::call_interruptible`]); a host
    /// function that waits for something should stop waiting when it is.
    pub fn is_interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(Interrupt::is_interrupted)
    }
}

/// Caps linear memory and tables, and records the high-water mark and refused growths.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MemoryMeter {
    pub(crate) cap: usize,
    table_cap: usize,
    /// Instances, tables and memories a store may create (1 instance per call; more for raw
    /// stores that link spec modules together).
    max_items: usize,
    pub(crate) high_water: usize,
    pub(crate) cap_hits: u32,
}

impl MemoryMeter {
    pub(crate) fn new(limits: &Limits, max_items: usize) -> Self {
        Self {
            cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            max_items,
            high_water: 0,
            cap_hits: 0,
        }
    }
}

impl wasmi::ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.cap {
            self.cap_hits = self.cap_hits.saturating_add(1);
            return Ok(false);
        }
        self.high_water = self.high_water.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= self.table_cap)
    }

    fn instances(&self) -> usize {
        self.max_items
    }

    fn tables(&self) -> usize {
        self.max_items.max(4)
    }

    fn memories(&self) -> usize {
        self.max_items
    }
}

/// Builds a [`Runtime`]: host services and capabilities.
#[must_use]
pub struct RuntimeBuilder {
    clock: Arc<dyn Clock>,
    log: Arc<dyn LogSink>,
    kv: Arc<dyn KvStore>,
    random: Arc<dyn RandomSource>,
    names: Vec<Box<str>>,
    imports: Vec<(Box<str>, u8, TypeOf)>,
    installers: Vec<Installer>,
    max_module_bytes: usize,
    stack: StackLimits,
    error: Option<Error>,
}

/// Learns a host function's type by wrapping it in a scratch store.
type TypeOf = Box<dyn Fn(&mut Store<CallState>) -> FuncType + Send + Sync>;

fn type_of<Params, Results>(
    func: impl IntoFunc<CallState, Params, Results> + Clone + 'static,
) -> TypeOf {
    Box::new(move |store| wasmi::Func::wrap(&mut *store, func.clone()).ty(&*store))
}

impl RuntimeBuilder {
    /// Logs go to `sink` (default: discarded).
    pub fn log_sink(mut self, sink: Arc<dyn LogSink>) -> Self {
        self.log = sink;
        self
    }

    /// KV operations go to `kv` (default: a fresh [`MemoryKv`]).
    pub fn kv_store(mut self, kv: Arc<dyn KvStore>) -> Self {
        self.kv = kv;
        self
    }

    /// `random_fill` draws from `random` (default: none, the call returns `HOST`).
    pub fn random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Largest module accepted by [`Runtime::compile`] (default
    /// [`Runtime::DEFAULT_MAX_MODULE_BYTES`]). Translation is not metered: this bounds it.
    pub fn max_module_bytes(mut self, bytes: usize) -> Self {
        self.max_module_bytes = bytes;
        self
    }

    /// Limits of the interpreter's stacks for every call (default [`StackLimits::new`], wasmi's
    /// defaults; a board uses [`StackLimits::small_footprint`]). Limits with `initial_bytes`
    /// above `max_bytes` or a recursion depth of 0 are reported by [`RuntimeBuilder::build`].
    pub fn stack_limits(mut self, limits: StackLimits) -> Self {
        self.stack = limits;
        self
    }

    fn capability_index(&mut self, capability: &str) -> Result<u8, Error> {
        if let Some(i) = self.names.iter().position(|n| &**n == capability) {
            return u8::try_from(i).map_err(|_| Error::config("too many capabilities"));
        }
        if self.names.len() >= MAX_CAPABILITIES {
            return Err(Error::config(alloc::format!(
                "cannot add capability `{capability}`: a runtime holds at most {MAX_CAPABILITIES}"
            )));
        }
        self.names.push(capability.into());
        u8::try_from(self.names.len() - 1).map_err(|_| Error::config("too many capabilities"))
    }

    /// Adds host function `palisade.<name>` to `capability` (created if new).
    ///
    /// The function receives a `Caller<CallState>`; it must never panic, should start with
    /// [`charge`](crate::charge) and must reach guest memory only through
    /// [`guest_bytes`](crate::guest_bytes) / [`guest_bytes_mut`](crate::guest_bytes_mut).
    /// Errors are reported by [`RuntimeBuilder::build`].
    pub fn host_func<Params, Results>(
        mut self,
        capability: &str,
        name: &str,
        func: impl IntoFunc<CallState, Params, Results> + Clone + 'static,
    ) -> Self {
        if self.error.is_some() {
            return self;
        }
        if capability.is_empty() || capability == "core" {
            self.error = Some(Error::config(alloc::format!(
                "host function `{name}` needs a capability name other than `core`"
            )));
            return self;
        }
        if self.imports.iter().any(|(n, _, _)| &**n == name) {
            self.error = Some(Error::config(alloc::format!(
                "host function `palisade.{name}` is defined twice"
            )));
            return self;
        }
        match self.capability_index(capability) {
            Ok(index) => self
                .imports
                .push((name.into(), index, type_of(func.clone()))),
            Err(e) => {
                self.error = Some(e);
                return self;
            }
        }
        let name: Box<str> = name.into();
        self.installers.push(Arc::new(move |linker| {
            linker
                .func_wrap(IMPORT_NAMESPACE, &name, func.clone())
                .map(|_| ())
        }));
        self
    }

    fn builtin<Params, Results>(
        mut self,
        capability: u8,
        name: &'static str,
        func: impl IntoFunc<CallState, Params, Results> + Clone + 'static,
    ) -> Self {
        self.imports
            .push((name.into(), capability, type_of(func.clone())));
        self.installers.push(Arc::new(move |linker| {
            linker
                .func_wrap(IMPORT_NAMESPACE, name, func.clone())
                .map(|_| ())
        }));
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// A [`ErrorKind::Config`] error for a bad [`RuntimeBuilder::host_func`] registration.
    pub fn build(self) -> Result<Runtime, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.stack.is_valid() {
            return Err(Error::config(
                "stack limits need initial_bytes <= max_bytes and max_recursion_depth >= 1",
            ));
        }
        let shared = Shared {
            clock: self.clock,
            log: self.log,
            kv: self.kv,
            random: self.random,
            table: CapabilityTable {
                names: self.names,
                imports: BTreeMap::new(),
            },
            installers: self.installers,
            max_module_bytes: self.max_module_bytes,
            stack: self.stack,
        };
        let (engine, linker) = generation(&shared)?;
        let mut shared = Arc::new(shared);
        let placeholder = Tenant::new_unchecked("", CapSet::EMPTY, Limits::default());
        let mut store = Store::new(
            &engine,
            CallState::new(shared.clone(), placeholder, Digest::default(), Instant(0)),
        );
        let types: Vec<_> = self
            .imports
            .into_iter()
            .map(|(name, capability, ty_of)| {
                let ty = ty_of(&mut store);
                (name, ImportDef { capability, ty })
            })
            .collect();
        drop(store);
        let table = &mut Arc::get_mut(&mut shared)
            .ok_or_else(|| Error::config("runtime state is shared during build"))?
            .table;
        table.imports.extend(types);
        Ok(Runtime {
            shared,
            engine,
            linker,
        })
    }
}

/// The engine configuration. `stack` must be valid ([`StackLimits::is_valid`]): wasmi panics
/// otherwise, and [`RuntimeBuilder::build`] checks it first.
fn engine_config(stack: &StackLimits) -> Config {
    let mut config = Config::default();
    config
        .set_max_recursion_depth(stack.max_recursion_depth)
        .set_max_cached_stacks(stack.cached_stacks);
    // Order the setters so that neither sees min > max (wasmi panics then): from the defaults
    // (1,000 / 1,000,000), a maximum of at least 1,000 can be set first.
    if stack.max_bytes >= StackLimits::DEFAULT_INITIAL_BYTES {
        config
            .set_max_stack_height(stack.max_bytes)
            .set_min_stack_height(stack.initial_bytes);
    } else {
        config
            .set_min_stack_height(stack.initial_bytes)
            .set_max_stack_height(stack.max_bytes);
    }
    config
        .consume_fuel(true)
        // Translation fuel is charged to whichever call translates first and is not
        // resumable: price it at zero so that slices of any size resume (DESIGN.md).
        .fuel_cost(CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        })
        .compilation_mode(CompilationMode::LazyTranslation)
        .wasm_custom_page_sizes(true)
        .enforced_limits(EnforcedLimits::strict());
    config
}

/// Identifies the engine configuration above; part of compile-cache keys.
const CONFIG_DESCRIPTION: &str =
    "wasmi-2.0.0;fuel;copy64/translate0/validate0;lazy-translation;custom-page-sizes;strict-limits";

fn generation(shared: &Shared) -> Result<(Engine, Linker<CallState>), Error> {
    let engine = Engine::new(&engine_config(&shared.stack));
    let mut linker = Linker::new(&engine);
    for install in &shared.installers {
        install(&mut linker)
            .map_err(|e| Error::config(wasm_reason(&e, "a host function could not be linked")))?;
    }
    Ok((engine, linker))
}

/// The sandbox: one wasmi engine, the host functions, and the host services every call shares.
///
/// Compile modules once with [`Runtime::compile`]; call them any number of times, from any
/// tenant, with [`Runtime::call`]. Every call gets a fresh store and instance.
pub struct Runtime {
    shared: Arc<Shared>,
    engine: Engine,
    linker: Linker<CallState>,
}

impl Runtime {
    /// Default largest module: 8 MiB.
    pub const DEFAULT_MAX_MODULE_BYTES: usize = 8 << 20;

    /// Starts building a runtime around `clock`, which deadlines and rate limits use.
    pub fn builder(clock: Arc<dyn Clock>) -> RuntimeBuilder {
        let names = BUILTIN_NAMES.iter().map(|&n| Box::from(n)).collect();
        RuntimeBuilder {
            clock,
            log: Arc::new(DiscardLog),
            kv: Arc::new(MemoryKv::new()),
            random: Arc::new(NoRandom),
            names,
            imports: Vec::new(),
            installers: Vec::new(),
            max_module_bytes: Self::DEFAULT_MAX_MODULE_BYTES,
            stack: StackLimits::new(),
            error: None,
        }
        .builtin(CORE, "output", capability::output)
        .builtin(CORE, "fail", capability::fail)
        .builtin(capability::LOG, "log", capability::log)
        .builtin(capability::CLOCK, "clock_now", capability::clock_now)
        .builtin(capability::RANDOM, "random_fill", capability::random_fill)
        .builtin(capability::KV_READ, "kv_get", capability::kv_get)
        .builtin(capability::KV_WRITE, "kv_set", capability::kv_set)
        .builtin(capability::KV_WRITE, "kv_delete", capability::kv_delete)
    }

    /// The wasmi engine (for [`crate::raw`], which compiles with the same configuration).
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The module size cap of [`Runtime::compile`].
    pub(crate) fn max_module_bytes(&self) -> usize {
        self.shared.max_module_bytes
    }

    /// The current time on the runtime's [`Clock`] (registration times, deadlines).
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// A fingerprint of the engine configuration: compiled code is only valid for an engine
    /// with the same fingerprint, so compile caches key on it.
    pub fn config_fingerprint(&self) -> u64 {
        // FNV-1a: stable across builds and platforms.
        CONFIG_DESCRIPTION
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }

    /// A runtime with the same host services and capabilities but a new, empty engine.
    ///
    /// wasmi never frees a module's compiled code while its engine lives: a long-running
    /// registry moves its live modules to a new generation and drops the old one.
    ///
    /// # Errors
    ///
    /// Only if a host function fails to register, which [`RuntimeBuilder::build`] already ruled out.
    pub fn new_generation(&self) -> Result<Runtime, Error> {
        let (engine, linker) = generation(&self.shared)?;
        Ok(Runtime {
            shared: self.shared.clone(),
            engine,
            linker,
        })
    }

    /// The names of every capability this runtime knows, `core` first.
    pub fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.shared.table.names.iter().map(|n| &**n)
    }

    /// The capability of import `palisade.<name>`, if this runtime provides it.
    pub fn capability_of_import(&self, name: &str) -> Option<&str> {
        self.shared
            .table
            .import(name)
            .map(|d| self.shared.table.capability_name(d.capability))
    }

    /// Starts describing a tenant: an id, capabilities granted (none by default) and limits.
    pub fn tenant(&self, id: &str) -> TenantBuilder<'_> {
        TenantBuilder {
            runtime: self,
            id: id.into(),
            grants: CapSet::EMPTY,
            limits: Limits::default(),
            error: None,
        }
    }

    /// Validates, compiles and contract-checks a module.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ContractViolation`] (including `ModuleTooLarge`) or
    /// [`ErrorKind::InvalidModule`].
    pub fn compile(&self, bytes: &[u8]) -> Result<CompiledModule, Error> {
        self.compile_named(bytes, None)
    }

    /// [`Runtime::compile`], labelling the module with a plugin name that its errors carry.
    ///
    /// # Errors
    ///
    /// As [`Runtime::compile`], labelled with the name.
    pub fn compile_named(&self, bytes: &[u8], name: Option<&str>) -> Result<CompiledModule, Error> {
        self.compile_digested(bytes, name, None)
    }

    /// [`Runtime::compile_named`] for a caller (the registry) that already hashed the bytes.
    pub(crate) fn compile_digested(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<CompiledModule, Error> {
        self.compile_inner(bytes, name, digest)
            .map_err(|e| match name {
                Some(n) => e.with_plugin(n),
                None => e,
            })
    }

    fn compile_inner(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<CompiledModule, Error> {
        if bytes.len() > self.shared.max_module_bytes {
            return Err(ContractViolation::ModuleTooLarge {
                len: bytes.len(),
                cap: self.shared.max_module_bytes,
            }
            .into());
        }
        // The digest names the module the author shipped, not its rewrite (crate::start).
        let digest = digest.unwrap_or_else(|| Digest::of(bytes));
        let (module, has_start) = start::compile(&self.engine, bytes)?;
        let info = abi::check(&module, &self.shared.table, has_start)?;
        Ok(CompiledModule(Arc::new(ModuleInner {
            name: name.map(Box::from),
            module,
            digest,
            info,
            size: bytes.len(),
        })))
    }

    /// Checks that `tenant` may run `module`: every import's capability is granted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapabilityDenied`] naming the first import not covered.
    pub fn check_grants(&self, module: &CompiledModule, tenant: &Tenant) -> Result<(), Error> {
        abi::check_grants(&module.0.info, tenant.grants(), &self.shared.table)
            .map_err(|e| e.with_tenant(tenant.id()))
    }

    /// Calls `entry` of `module` for `tenant` with `input`, and copies the output out.
    pub fn call(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
    ) -> Call<Vec<u8>> {
        self.call_with(module, tenant, entry, input, <[u8]>::to_vec)
    }

    /// [`Runtime::call`] that the host can stop from another thread: once `interrupt` is
    /// raised, the call ends with [`ErrorKind::Interrupted`] at its next fuel-slice boundary
    /// (or before any guest code runs, if it was raised before). See [`Interrupt`].
    pub fn call_interruptible(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        interrupt: &Interrupt,
    ) -> Call<Vec<u8>> {
        self.call_inner(
            module,
            tenant,
            entry,
            input,
            Some(interrupt),
            <[u8]>::to_vec,
        )
    }

    /// Calls `entry` of `module` for `tenant` with `input`, handing the output to `read` in
    /// place (before the instance is dropped), so no copy is made unless `read` makes one.
    pub fn call_with<R>(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        self.call_inner(module, tenant, entry, input, None, read)
    }

    /// [`Runtime::call_with`], optionally interruptible.
    pub(crate) fn call_inner<R>(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        interrupt: Option<&Interrupt>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        let start = self.shared.clock.now();
        let mut report = CallReport {
            outcome: Outcome::Ok,
            fuel_used: 0,
            wall_time: Duration::ZERO,
            memory_high_water: 0,
            memory_cap_hits: 0,
            digest: module.digest(),
            log_bytes: 0,
            log_dropped: 0,
        };
        let result = self
            .admit(module, tenant, entry, input, start)
            .and_then(|()| {
                let call = CallSpec {
                    entry,
                    input,
                    start,
                    interrupt,
                };
                self.run(module, tenant, &call, &mut report, read)
            });
        report.wall_time = self.shared.clock.now().saturating_since(start);
        let result = result.map_err(|e| {
            let e = e.with_tenant(tenant.id());
            match module.name() {
                Some(name) => e.with_plugin(name),
                None => e,
            }
        });
        report.outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(e) => e.outcome(),
        };
        Call { report, result }
    }

    fn admit(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        now: Instant,
    ) -> Result<(), Error> {
        if !Engine::same(module.0.module.engine(), &self.engine) {
            return Err(Error::config(
                "the module was compiled by another runtime (or engine generation); compile it with this one",
            ));
        }
        abi::check_grants(&module.0.info, tenant.grants(), &self.shared.table)?;
        if !module.0.info.has_entry(entry) {
            return Err(ErrorKind::NoSuchEntry {
                entry: entry.into(),
            }
            .into());
        }
        let limits = tenant.limits();
        if input.len() > limits.input_bytes {
            return Err(ErrorKind::InputTooLarge {
                len: input.len(),
                cap: limits.input_bytes,
            }
            .into());
        }
        tenant
            .0
            .bucket
            .lock()
            .try_acquire(now, limits.calls_per_second, limits.burst)
            .map_err(|retry_after| ErrorKind::RateLimited { retry_after }.into())
    }

    fn run<R>(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        call: &CallSpec<'_>,
        report: &mut CallReport,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let limits = *tenant.limits();
        let mut state = CallState::new(
            self.shared.clone(),
            tenant.clone(),
            module.digest(),
            call.start.saturating_add(limits.deadline),
        );
        state.interrupt = call.interrupt.cloned();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.meter);
        let result = Self::run_in(
            &self.linker,
            &mut store,
            module,
            call.entry,
            call.input,
            read,
        );
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        // KV call scope (docs/ABI.md): a call's writes take effect only if it succeeded.
        let result = match result {
            Ok(out) if !state.kv_writes.is_empty() => self
                .shared
                .kv
                .commit(tenant.id(), &state.kv_writes)
                .map(|()| out)
                .map_err(|e| {
                    Error::new(ErrorKind::Host {
                        reason: alloc::format!("the call's KV writes were not committed: {e}"),
                    })
                }),
            other => other,
        };
        report.fuel_used = match &result {
            // What is left is less than the next instruction costs: the budget is spent. (The
            // remainder depends on nothing the guest or the slice size can change.)
            Err(e) if matches!(e.kind(), ErrorKind::OutOfFuel { .. }) => limits.fuel,
            _ => limits
                .fuel
                .saturating_sub(fuel_left.saturating_add(state.fuel_reserve)),
        };
        report.memory_high_water = state.meter.high_water;
        report.memory_cap_hits = state.meter.cap_hits;
        report.log_bytes = state.log_bytes;
        report.log_dropped = state.log_dropped;
        result
    }

    fn run_in<R>(
        linker: &Linker<CallState>,
        store: &mut Store<CallState>,
        module: &CompiledModule,
        entry: &str,
        input: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let limits = store.data().limits;
        if store.data().is_interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        // The first slice; `refuel` hands out the rest between deadline and interrupt checks.
        let slice = limits.fuel.min(limits.fuel_slice);
        store.data_mut().fuel_reserve = limits.fuel - slice;
        set_fuel(store, slice)?;
        // Runs no guest code: compiled modules have no start section (crate::start).
        let instance = linker
            .instantiate_and_start(&mut *store, &module.0.module)
            .map_err(|e| map_error(store, &e))?;

        let missing = |name: &'static str| {
            Error::from(ContractViolation::MissingExport {
                name,
                expected: "(checked at compile time)",
            })
        };
        let memory = instance
            .get_memory(&*store, MEMORY_EXPORT)
            .ok_or_else(|| missing(MEMORY_EXPORT))?;
        store.data_mut().memory = Some(memory);

        if module.0.info.has_start {
            // The start function, hoisted into an export: a call like any other, in slices.
            let start: TypedFunc<(), ()> = instance
                .get_typed_func(&*store, START_EXPORT)
                .map_err(|_| missing(START_EXPORT))?;
            drive(store, &start, ())?;
        }

        let (in_ptr, in_len) = if input.is_empty() {
            (0u32, 0u32)
        } else {
            let alloc: TypedFunc<i32, i32> = instance
                .get_typed_func(&*store, ALLOC_EXPORT)
                .map_err(|_| missing(ALLOC_EXPORT))?;
            let len = u32::try_from(input.len()).map_err(|_| {
                Error::new(ErrorKind::InputTooLarge {
                    len: input.len(),
                    cap: limits.input_bytes,
                })
            })?;
            let ptr = drive(store, &alloc, len as i32)? as u32;
            let dst = memory
                .data_mut(&mut *store)
                .get_mut(ptr as usize..(ptr as usize).saturating_add(input.len()));
            match dst {
                Some(dst) if ptr != 0 => dst.copy_from_slice(input),
                _ => return Err(ErrorKind::GuestMemoryOutOfBounds { ptr, len }.into()),
            }
            (ptr, len)
        };

        let func: TypedFunc<(i32, i32), i32> =
            instance.get_typed_func(&*store, entry).map_err(|_| {
                Error::new(ErrorKind::NoSuchEntry {
                    entry: entry.into(),
                })
            })?;
        let status = drive(store, &func, (in_ptr as i32, in_len as i32))?;

        let (ptr, len) = store.data().output.unwrap_or((0, 0));
        let data = memory.data(&*store);
        let region = data.get(ptr as usize..(ptr as usize).saturating_add(len as usize));
        if status != 0 {
            let message = region.map_or_else(
                || String::from("<error message outside guest memory>"),
                |m| String::from_utf8_lossy(m).into_owned(),
            );
            return Err(ErrorKind::GuestError {
                code: status,
                message,
            }
            .into());
        }
        match region {
            Some(bytes) => Ok(read(bytes)),
            None => Err(ErrorKind::OutputOutOfBounds {
                ptr,
                len,
                memory_bytes: data.len(),
            }
            .into()),
        }
    }
}

fn set_fuel(store: &mut Store<CallState>, fuel: u64) -> Result<(), Error> {
    store
        .set_fuel(fuel)
        .map_err(|e| Error::config(wasm_reason(&e, "the store refused the fuel budget")))
}

/// Runs `func` to completion in fuel slices, checking the deadline between slices.
fn drive<P: WasmParams, R: WasmResults>(
    store: &mut Store<CallState>,
    func: &TypedFunc<P, R>,
    params: P,
) -> Result<R, Error> {
    let mut call = func
        .call_resumable(&mut *store, params)
        .map_err(|e| map_error(store, &e))?;
    loop {
        match call {
            TypedResumableCall::Finished(results) => return Ok(results),
            TypedResumableCall::HostTrap(trap) => return Err(map_error(store, trap.host_error())),
            TypedResumableCall::OutOfFuel(out) => {
                refuel(store, out.required_fuel())?;
                call = out.resume(&mut *store).map_err(|e| map_error(store, &e))?;
            }
        }
    }
}

/// Hands the guest its next fuel slice, or ends the call on its interrupt, deadline or budget.
fn refuel(store: &mut Store<CallState>, required: u64) -> Result<(), Error> {
    let state = store.data();
    let limits = state.limits;
    if state.is_interrupted() {
        return Err(ErrorKind::Interrupted.into());
    }
    if state.clock_now() >= state.deadline_at {
        return Err(ErrorKind::DeadlineExceeded {
            deadline: limits.deadline,
        }
        .into());
    }
    let left = store.get_fuel().unwrap_or(0);
    let need = required.saturating_sub(left);
    let reserve = store.data().fuel_reserve;
    if reserve < need {
        return Err(ErrorKind::OutOfFuel {
            budget: limits.fuel,
        }
        .into());
    }
    let give = limits.fuel_slice.max(need).min(reserve);
    store.data_mut().fuel_reserve = reserve - give;
    set_fuel(store, left + give)
}

fn map_error(store: &Store<CallState>, e: &wasmi::Error) -> Error {
    let state = store.data();
    if let Some(code) = e.as_trap_code() {
        if code == wasmi::TrapCode::OutOfFuel {
            return ErrorKind::OutOfFuel {
                budget: state.limits.fuel,
            }
            .into();
        }
        // A guest whose memory growth the cap refused and which then aborts (what a Rust guest
        // does when an allocation fails) was stopped by the memory cap, not by a bug of its own.
        if code == wasmi::TrapCode::UnreachableCodeReached && state.meter.cap_hits > 0 {
            return ErrorKind::MemoryCap {
                cap_bytes: state.limits.memory_bytes,
            }
            .into();
        }
        return ErrorKind::Trap(capability::trap_kind(code)).into();
    }
    if let Some(trap) = e.downcast_ref::<HostTrap>() {
        let owned = match trap {
            HostTrap::OutOfFuel => HostTrap::OutOfFuel,
            HostTrap::Deadline => HostTrap::Deadline,
            HostTrap::Interrupted => HostTrap::Interrupted,
            HostTrap::MemoryOutOfBounds { ptr, len } => HostTrap::MemoryOutOfBounds {
                ptr: *ptr,
                len: *len,
            },
            HostTrap::OutputTooLarge { len } => HostTrap::OutputTooLarge { len: *len },
            HostTrap::GuestFail { code, message } => HostTrap::GuestFail {
                code: *code,
                message: message.clone(),
            },
        };
        return owned.into_kind(state).into();
    }
    if state.meter.cap_hits > 0 {
        return ErrorKind::MemoryCap {
            cap_bytes: state.limits.memory_bytes,
        }
        .into();
    }
    // The guest's own element or data segment does not fit: its fault, not the host's.
    if let Some(kind) = capability::instantiation_trap(e) {
        return ErrorKind::Trap(kind).into();
    }
    ErrorKind::Host {
        reason: wasm_reason(e, "instantiation or the call failed in wasmi"),
    }
    .into()
}

impl CallState {
    fn new(shared: Arc<Shared>, tenant: Tenant, digest: Digest, deadline_at: Instant) -> Self {
        let limits = *tenant.limits();
        Self {
            shared,
            digest,
            deadline_at,
            interrupt: None,
            // The whole budget is in reserve until fuel is handed to the store: a call that
            // ends before any guest code runs reports 0 fuel used.
            fuel_reserve: limits.fuel,
            meter: MemoryMeter::new(&limits, 1),
            memory: None,
            output: None,
            log_bytes: 0,
            log_dropped: 0,
            kv_written: 0,
            kv_writes: KvWrites::default(),
            limits,
            tenant,
        }
    }
}

/// What one call runs: the entry point, its input, when it was admitted, and its interrupt.
struct CallSpec<'a> {
    entry: &'a str,
    input: &'a [u8],
    start: Instant,
    interrupt: Option<&'a Interrupt>,
}

struct ModuleInner {
    name: Option<Box<str>>,
    module: Module,
    digest: Digest,
    info: ContractInfo,
    size: usize,
}

/// A module compiled by a [`Runtime`] and checked against the contract. Cheap to clone; shared
/// by every call and tenant (it is immutable: instances are created per call).
#[derive(Clone)]
pub struct CompiledModule(Arc<ModuleInner>);

impl CompiledModule {
    /// The SHA-256 digest of the module's bytes.
    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    /// The plugin name errors are labelled with, if the module was compiled with one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// What the contract check learned: ABI version, imports, entry points.
    pub fn info(&self) -> &ContractInfo {
        &self.0.info
    }

    /// The size of the module's bytes.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// The wasmi module, for embedders that need introspection.
    pub fn module(&self) -> &Module {
        &self.0.module
    }
}

impl core::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("digest", &self.0.digest)
            .field("size", &self.0.size)
            .field("info", &self.0.info)
            .finish()
    }
}

struct TenantInner {
    id: Box<str>,
    grants: CapSet,
    limits: Limits,
    bucket: spin::Mutex<TokenBucket>,
}

/// A tenant: who is calling, which capabilities it was granted, and its limits.
///
/// Cheap to clone; clones share the call-rate bucket.
#[derive(Clone)]
pub struct Tenant(Arc<TenantInner>);

impl Tenant {
    fn new_unchecked(id: &str, grants: CapSet, limits: Limits) -> Self {
        Tenant(Arc::new(TenantInner {
            id: id.into(),
            grants,
            limits,
            bucket: spin::Mutex::new(TokenBucket::new()),
        }))
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The capabilities granted.
    pub fn grants(&self) -> CapSet {
        self.0.grants
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }
}

impl core::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.0.id)
            .field("grants", &self.0.grants)
            .field("limits", &self.0.limits)
            .finish()
    }
}

/// Builds a [`Tenant`] against a runtime's capability table.
#[must_use]
pub struct TenantBuilder<'r> {
    runtime: &'r Runtime,
    id: Box<str>,
    grants: CapSet,
    limits: Limits,
    error: Option<Error>,
}

impl TenantBuilder<'_> {
    /// Grants a capability by name (`log`, `kv.read`, an embedder's `app.document`, ...).
    /// An unknown name is reported by [`TenantBuilder::build`].
    pub fn grant(mut self, capability: &str) -> Self {
        match self.runtime.shared.table.index_of(capability) {
            Some(i) => self.grants = self.grants.with(i),
            None => {
                if self.error.is_none() {
                    let known: Vec<&str> = self.runtime.capabilities().collect();
                    self.error = Some(Error::config(alloc::format!(
                        "unknown capability `{capability}`; this runtime knows: {}",
                        known.join(", ")
                    )));
                }
            }
        }
        self
    }

    /// Grants each capability of `names`.
    pub fn grant_all<'n>(mut self, names: impl IntoIterator<Item = &'n str>) -> Self {
        for n in names {
            self = self.grant(n);
        }
        self
    }

    /// Sets the limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The tenant.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an unknown capability or an empty id.
    pub fn build(self) -> Result<Tenant, Error> {
        if let Some(e) = self.error {
            return Err(e.with_tenant(&self.id));
        }
        if self.id.is_empty() {
            return Err(Error::config("a tenant id must not be empty"));
        }
        Ok(Tenant::new_unchecked(&self.id, self.grants, self.limits))
    }
}

/// What a call did: its outcome and what it cost. Every call produces one, successful or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallReport {
    /// The outcome class.
    pub outcome: Outcome,
    /// Fuel consumed (guest instructions and host-call prices).
    pub fuel_used: u64,
    /// Wall time on the host clock, admission to return.
    pub wall_time: Duration,
    /// Largest linear memory size in bytes reached during the call.
    pub memory_high_water: usize,
    /// Memory growths the cap refused.
    pub memory_cap_hits: u32,
    /// The digest of the module that ran.
    pub digest: Digest,
    /// Log bytes written.
    pub log_bytes: usize,
    /// Log lines dropped over the log cap.
    pub log_dropped: u32,
}

/// The result of one call: the report, and the output or the error.
#[derive(Debug)]
pub struct Call<R = Vec<u8>> {
    /// What the call did and cost.
    pub report: CallReport,
    /// The output (as `read` returned it), or what went wrong.
    pub result: Result<R, Error>,
}

impl<R> Call<R> {
    /// The output, dropping the report.
    ///
    /// # Errors
    ///
    /// The call's error.
    pub fn into_result(self) -> Result<R, Error> {
        self.result
    }
}
