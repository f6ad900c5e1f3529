//! Calls: admission, the fresh store and instance, the fuel-slice driver, and what a call reports.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use wasmi::{Engine, Linker, Store, TypedFunc};

use crate::abi::{self, ALLOC_EXPORT, MEMORY_EXPORT};
use crate::digest::Digest;
use crate::drive::{drive, set_fuel};
use crate::error::{ContractViolation, Error, ErrorKind, Outcome};
use crate::extensions::Extensions;
use crate::host::Instant;
use crate::interrupt::Interrupt;
use crate::module::CompiledModule;
use crate::runtime::Runtime;
use crate::start::START_EXPORT;
use crate::store::CallState;
use crate::tenant::Tenant;
use crate::trap::map_error;

impl Runtime {
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
        let hooks = CallHooks {
            interrupt: Some(interrupt),
            extensions: None,
        };
        self.call_inner(module, tenant, entry, input, hooks, <[u8]>::to_vec)
    }

    /// [`Runtime::call`] with the per-call extension slot seeded from `extensions`: host
    /// functions reach the values through [`CallState::extensions`], and when the call ends
    /// (whatever its outcome) `extensions` holds what the call left there. This is how an
    /// embedder keeps per-call state (the plugin being run, what the guest handed back) without
    /// thread-locals.
    pub fn call_with_extensions(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        extensions: &mut Extensions,
    ) -> Call<Vec<u8>> {
        let hooks = CallHooks {
            interrupt: None,
            extensions: Some(extensions),
        };
        self.call_inner(module, tenant, entry, input, hooks, <[u8]>::to_vec)
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
        self.call_inner(module, tenant, entry, input, CallHooks::default(), read)
    }

    /// [`Runtime::call_with`], optionally interruptible.
    pub(crate) fn call_inner<R>(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        hooks: CallHooks<'_>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        let CallHooks {
            interrupt,
            extensions,
        } = hooks;
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
                let mut call = CallSpec {
                    entry,
                    input,
                    start,
                    interrupt,
                    extensions,
                };
                self.run(module, tenant, &mut call, &mut report, read)
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

    pub(crate) fn admit(
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
        call: &mut CallSpec<'_>,
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
        if let Some(ext) = call.extensions.as_deref_mut() {
            state.extensions = core::mem::take(ext);
        }
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
        if let Some(ext) = call.extensions.as_deref_mut() {
            *ext = core::mem::take(&mut store.data_mut().extensions);
        }
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

        #[cfg(feature = "wasi")]
        if let Some(wasi) = &module.0.info.wasi {
            let has_start = module.0.info.has_start;
            return crate::wasi::run(store, &instance, has_start, wasi.kind, entry, input, read);
        }

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

/// What the host hands a call besides its input: an interrupt, and the extension slot's values.
#[derive(Default)]
pub(crate) struct CallHooks<'a> {
    pub(crate) interrupt: Option<&'a Interrupt>,
    pub(crate) extensions: Option<&'a mut Extensions>,
}

/// What one call runs: the entry point, its input, when it was admitted, its interrupt, and
/// the embedder's extension slot (moved into the call's state and back out).
struct CallSpec<'a> {
    entry: &'a str,
    input: &'a [u8],
    start: Instant,
    interrupt: Option<&'a Interrupt>,
    extensions: Option<&'a mut Extensions>,
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
