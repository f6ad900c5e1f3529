//! The [`Runtime`] and its builder: host services, capabilities, engine, and compilation.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmi::{Engine, IntoFunc, Linker, Store};

use crate::abi;
use crate::capability::{CapSet, CapabilityId, CapabilityTable, ImportDef};
use crate::digest::Digest;
use crate::engine::{self, generation};
use crate::error::{ContractViolation, Error};
use crate::host::{Clock, DiscardLog, Instant, LogSink, NoRandom, RandomSource};
use crate::host_funcs::HostFuncs;
use crate::limits::{Limits, StackLimits};
use crate::map::SortedMap;
use crate::module::{CompiledModule, ModuleInner};
use crate::start;
use crate::store::{CallState, Shared};
use crate::tenant::{Tenant, TenantBuilder};
use crate::{KvStore, MemoryKv};

/// Builds a [`Runtime`]: host services and capabilities.
#[must_use]
pub struct RuntimeBuilder {
    clock: Arc<dyn Clock>,
    log: Arc<dyn LogSink>,
    kv: Arc<dyn KvStore>,
    random: Arc<dyn RandomSource>,
    funcs: HostFuncs,
    max_module_bytes: usize,
    stack: StackLimits,
    /// The WASI files service, and whether it is offered for writing.
    #[cfg(feature = "wasi")]
    files: Option<(Arc<dyn crate::wasi::WasiFiles>, bool)>,
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

    /// Serves `files` to WASI guests as a read-only preopened directory, and adds capability
    /// [`files.read`](crate::wasi::FILES_READ) to the runtime: only tenants granted it see the
    /// directory (`docs/WASI.md`).
    #[cfg(feature = "wasi")]
    pub fn wasi_files(self, files: Arc<dyn crate::wasi::WasiFiles>) -> Self {
        self.with_files(files, false)
    }

    /// Serves `files` to WASI guests as a preopened directory they may also write, and adds
    /// capabilities [`files.read`](crate::wasi::FILES_READ) and
    /// [`files.write`](crate::wasi::FILES_WRITE): a tenant granted only `files.read` reads, one
    /// granted both may also create, write, rename and remove (within the quotas of
    /// `docs/WASI.md`); `files.write` alone shows nothing. The service's write methods
    /// ([`WasiFiles::write`](crate::wasi::WasiFiles::write) and the others) must be implemented.
    #[cfg(feature = "wasi")]
    pub fn wasi_files_writable(self, files: Arc<dyn crate::wasi::WasiFiles>) -> Self {
        self.with_files(files, true)
    }

    #[cfg(feature = "wasi")]
    fn with_files(mut self, files: Arc<dyn crate::wasi::WasiFiles>, writable: bool) -> Self {
        if self.funcs.error.is_some() {
            return self;
        }
        let mut caps = alloc::vec![crate::wasi::FILES_READ];
        if writable {
            caps.push(crate::wasi::FILES_WRITE);
        }
        for cap in caps {
            if let Err(e) = self.funcs.capability(cap) {
                self.funcs.fail(e);
                return self;
            }
        }
        self.files = Some((files, writable));
        self
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
        if self.funcs.error.is_some() {
            return self;
        }
        if capability.is_empty() || capability == crate::capability::CORE {
            self.funcs.fail(Error::config(alloc::format!(
                "host function `{name}` needs a capability name other than `core`"
            )));
            return self;
        }
        if self.funcs.defines(name) {
            self.funcs.fail(Error::config(alloc::format!(
                "host function `palisade.{name}` is defined twice"
            )));
            return self;
        }
        self.funcs.add(capability, name, func);
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// A [`ErrorKind::Config`](crate::ErrorKind::Config) error for a bad [`RuntimeBuilder::host_func`] registration.
    pub fn build(self) -> Result<Runtime, Error> {
        if let Some(e) = self.funcs.error {
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
                names: self.funcs.names,
                imports: SortedMap::new(),
            },
            installers: self.funcs.installers,
            max_module_bytes: self.max_module_bytes,
            stack: self.stack,
            #[cfg(feature = "wasi")]
            files_writable: self.files.as_ref().is_some_and(|(_, w)| *w),
            #[cfg(feature = "wasi")]
            files: self.files.map(|(f, _)| f),
        };
        let (engine, linker) = generation(&shared)?;
        let mut shared = Arc::new(shared);
        let placeholder = Tenant::new_unchecked("", CapSet::EMPTY, Limits::default());
        let mut store = Store::new(
            &engine,
            CallState::new(shared.clone(), placeholder, Digest::default(), Instant(0)),
        );
        let types: Vec<_> = self
            .funcs
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

/// The sandbox: one wasmi engine, the host functions, and the host services every call shares.
///
/// Compile modules once with [`Runtime::compile`]; call them any number of times, from any
/// tenant, with [`Runtime::call`]. Every call gets a fresh store and instance.
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
}

impl Runtime {
    /// Default largest module: 8 MiB.
    pub const DEFAULT_MAX_MODULE_BYTES: usize = 8 << 20;

    /// Starts building a runtime around `clock`, which deadlines and rate limits use.
    pub fn builder(clock: Arc<dyn Clock>) -> RuntimeBuilder {
        RuntimeBuilder {
            clock,
            log: Arc::new(DiscardLog),
            kv: Arc::new(MemoryKv::new()),
            random: Arc::new(NoRandom),
            funcs: HostFuncs::with_builtins(),
            max_module_bytes: Self::DEFAULT_MAX_MODULE_BYTES,
            stack: StackLimits::new(),
            #[cfg(feature = "wasi")]
            files: None,
        }
    }

    /// The wasmi engine (for [`Runtime::compile_raw`], which compiles with the same configuration).
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
    /// with the same fingerprint, so compile caches key on it. A bundle's
    /// [`ValidationRecord`](crate::bundle::ValidationRecord) names the fingerprint its module
    /// was validated with; the core's `validate` feature does not change it.
    pub fn config_fingerprint(&self) -> u64 {
        engine::fingerprint()
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

    /// The id of capability `name` in this runtime's table, if it knows it: what
    /// [`CapSet::contains`] takes, e.g. to ask whether a tenant's grants include it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use palisade::{ManualClock, Runtime};
    /// let runtime = Runtime::builder(Arc::new(ManualClock::new())).build()?;
    /// let tenant = runtime.tenant("acme").grant("log").build()?;
    /// let log = runtime.capability("log").expect("a built-in");
    /// assert!(tenant.grants().contains(log));
    /// assert!(!tenant.grants().contains(runtime.capability("kv.read").expect("a built-in")));
    /// # Ok::<(), palisade::Error>(())
    /// ```
    pub fn capability(&self, name: &str) -> Option<CapabilityId> {
        self.shared.table.id_of(name)
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
            table: &self.shared.table,
            id: id.into(),
            grants: CapSet::EMPTY,
            limits: Limits::default(),
            args: Vec::new(),
            env: Vec::new(),
            error: None,
        }
    }

    /// Validates, compiles and contract-checks a module.
    ///
    /// Without the core's `validate` feature (the pre-validated profile) this refuses every
    /// module with [`ErrorKind::InvalidModule`](crate::ErrorKind::InvalidModule): such a build
    /// compiles only verified bundles ([`Runtime::compile_bundle`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ContractViolation`](crate::ErrorKind::ContractViolation) (including `ModuleTooLarge`) or
    /// [`ErrorKind::InvalidModule`](crate::ErrorKind::InvalidModule).
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
        self.compile_proven(bytes, name, digest, None)
    }

    /// [`Runtime::compile_digested`] with a proof of validation elsewhere, which a build
    /// without the `validate` feature needs (`crate::install`).
    pub(crate) fn compile_proven(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        digest: Option<Digest>,
        proof: Option<start::Prevalidated>,
    ) -> Result<CompiledModule, Error> {
        self.compile_inner(bytes, name, digest, proof)
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
        proof: Option<start::Prevalidated>,
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
        let (module, has_start) = start::compile(&self.engine, bytes, proof)?;
        let info = abi::check(&module, bytes, &self.shared.table, has_start)?;
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
    /// [`ErrorKind::CapabilityDenied`](crate::ErrorKind::CapabilityDenied) naming the first import not covered.
    pub fn check_grants(&self, module: &CompiledModule, tenant: &Tenant) -> Result<(), Error> {
        abi::check_grants(&module.0.info, tenant.grants(), &self.shared.table)
            .map_err(|e| e.with_tenant(tenant.id()))
    }
}
