//! Calls run one fuel slice at a time: [`PendingCall`], for hosts that schedule calls
//! themselves (a server that serves tenants round-robin, a board's main loop).
//!
//! [`Runtime::start_call`] admits the call and instantiates the module without running guest
//! code; each [`PendingCall::step`] then runs at most one fuel slice of guest code (start
//! function, `palisade_alloc`, entry point, in that order) and returns the call either still
//! [`Step::Pending`] — its whole state kept, to be stepped again later, on any thread — or
//! [`Step::Done`] with the same [`Call`] that [`Runtime::call`] would have returned.
//!
//! Every step begins with the checks [`Runtime::call`] makes between slices: the interrupt,
//! the deadline and the fuel budget. The deadline is wall time from admission, so time a call
//! spends parked between steps counts against it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use wasmi::{
    Instance, Memory, Store, TypedFunc, TypedResumableCall, TypedResumableCallOutOfFuel,
    WasmParams, WasmResults,
};

use crate::abi::{ALLOC_EXPORT, MEMORY_EXPORT};
use crate::call::{Call, CallReport};
use crate::digest::Digest;
use crate::drive::{refuel, set_fuel};
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

/// What [`PendingCall::step`] (and [`Runtime::start_call`]) returns.
#[derive(Debug)]
pub enum Step {
    /// The call used its fuel slice and can go on: step it again, now or after serving others.
    Pending(PendingCall),
    /// The call ended: its report, and its output or what went wrong.
    Done(Call<Vec<u8>>),
}

/// A call in progress: its store, instance and resumable guest state, between fuel slices.
///
/// It owns everything it needs (it is `Send` and `'static`), so a host can queue it and step
/// it on any thread. Dropping it abandons the call: no KV write of it takes effect.
pub struct PendingCall(Box<Inner>);

impl core::fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingCall")
            .field("tenant", &self.0.tenant.id())
            .field("digest", &self.0.module.digest())
            .field("entry", &self.0.entry)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Store<CallState>,
    module: CompiledModule,
    tenant: Tenant,
    entry: String,
    input: Vec<u8>,
    start: Instant,
    instance: Instance,
    memory: Memory,
    plugin: Option<String>,
    phase: Phase,
}

/// Where the call stands. `None` in a variant: that function has not been entered yet.
enum Phase {
    Start(Option<TypedResumableCallOutOfFuel<()>>),
    Alloc(Option<TypedResumableCallOutOfFuel<i32>>),
    Entry(Option<TypedResumableCallOutOfFuel<i32>>, (u32, u32)),
    /// A WASI guest (`crate::wasi`): its functions in order (start, `_initialize`, entry),
    /// the index of the one running or next, and its parked state.
    #[cfg(feature = "wasi")]
    Wasi {
        funcs: Vec<TypedFunc<(), ()>>,
        next: usize,
        parked: Option<TypedResumableCallOutOfFuel<()>>,
    },
}

/// A guest function after it ran until it returned or its slice ended.
enum Ran<R> {
    Finished(R),
    Parked(TypedResumableCallOutOfFuel<R>),
}

impl Runtime {
    /// Starts a call of `entry` of `module` for `tenant` with `input`, to be run one fuel
    /// slice at a time with [`PendingCall::step`]. Admission (grants, entry, input size, rate)
    /// and instantiation happen here; no guest code runs yet. A refused call is
    /// [`Step::Done`] at once. With `interrupt`, the call ends with
    /// [`ErrorKind::Interrupted`] at its next step once it is raised.
    ///
    /// Stepping a call to the end gives the same outcome, output, fuel and KV effects as
    /// [`Runtime::call`] (or [`Runtime::call_interruptible`]).
    pub fn start_call(
        &self,
        module: &CompiledModule,
        tenant: &Tenant,
        entry: &str,
        input: Vec<u8>,
        interrupt: Option<Interrupt>,
    ) -> Step {
        let start = self.shared.clock.now();
        let limits = *tenant.limits();
        let mut state = CallState::new(
            self.shared.clone(),
            tenant.clone(),
            module.digest(),
            start.saturating_add(limits.deadline),
        );
        state.interrupt = interrupt;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.meter);
        let prepared = self
            .admit(module, tenant, entry, &input, start)
            .and_then(|()| self.instantiate(&mut store, module));
        #[cfg(feature = "wasi")]
        let prepared = prepared.and_then(|(instance, memory)| {
            let Some(wasi) = &module.0.info.wasi else {
                return Ok((instance, memory, Phase::Start(None)));
            };
            let funcs = crate::wasi::call_functions(
                &store,
                &instance,
                module.0.info.has_start,
                wasi.kind,
                entry,
            )?;
            crate::wasi::begin(store.data_mut(), &input);
            Ok((
                instance,
                memory,
                Phase::Wasi {
                    funcs,
                    next: 0,
                    parked: None,
                },
            ))
        });
        #[cfg(not(feature = "wasi"))]
        let prepared = prepared.map(|(instance, memory)| (instance, memory, Phase::Start(None)));
        match prepared {
            Ok((instance, memory, phase)) => Step::Pending(PendingCall(Box::new(Inner {
                store,
                module: module.clone(),
                tenant: tenant.clone(),
                entry: entry.into(),
                input,
                start,
                instance,
                memory,
                plugin: None,
                phase,
            }))),
            Err(e) => Step::Done(finish(store, module, tenant, start, None, Err(e))),
        }
    }

    /// Instantiates `module` in `store` (no guest code runs: compiled modules have no start
    /// section) with the call's first fuel slice in place.
    fn instantiate(
        &self,
        store: &mut Store<CallState>,
        module: &CompiledModule,
    ) -> Result<(Instance, Memory), Error> {
        let limits = store.data().limits;
        if store.data().is_interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        let slice = limits.fuel.min(limits.fuel_slice);
        store.data_mut().fuel_reserve = limits.fuel - slice;
        set_fuel(store, slice)?;
        let instance = self
            .linker
            .instantiate_and_start(&mut *store, &module.0.module)
            .map_err(|e| map_error(store, &e))?;
        let memory = instance
            .get_memory(&*store, MEMORY_EXPORT)
            .ok_or_else(|| missing(MEMORY_EXPORT))?;
        store.data_mut().memory = Some(memory);
        Ok((instance, memory))
    }
}

impl PendingCall {
    /// Runs the call for at most one fuel slice (after the interrupt, deadline and budget
    /// checks), and returns it still pending or done.
    pub fn step(mut self) -> Step {
        match self.0.advance() {
            Ok(None) => Step::Pending(self),
            Ok(Some(output)) => Step::Done(self.0.done(Ok(output))),
            Err(e) => Step::Done(self.0.done(Err(e))),
        }
    }

    /// Whether the next [`step`](Self::step) will end the call at its first check, without
    /// running guest code: its interrupt is raised or its deadline has passed. (A call out
    /// of fuel budget ends there too, but that shows only once the slice's fuel is asked
    /// for.)
    ///
    /// Ending a call frees its instance and returns its stack to the engine, under locks
    /// that other calls take: a host that runs guest slices at a low operating-system
    /// priority runs such a step at its normal one.
    pub fn expired(&self) -> bool {
        let state = self.0.store.data();
        state.is_interrupted() || state.clock_now() >= state.deadline_at
    }

    /// The calling tenant.
    pub fn tenant(&self) -> &Tenant {
        &self.0.tenant
    }

    /// Names `plugin` in the call's error, instead of the module's own name (a registry
    /// routes a plugin to a module another plugin may have registered first).
    #[must_use]
    pub fn with_plugin(mut self, plugin: &str) -> Self {
        self.0.plugin = Some(plugin.into());
        self
    }

    /// When the call was admitted: its deadline counts from here.
    pub fn started_at(&self) -> Instant {
        self.0.start
    }

    /// The digest of the module the call runs (a host keeps that version while the call is
    /// in flight).
    pub fn digest(&self) -> Digest {
        self.0.module.digest()
    }

    /// The call's extension slot, as [`Runtime::call_with_extensions`] seeds it: insert the
    /// host's values for this call before its first step, and host functions
    /// ([`CallState::extensions`](crate::CallState::extensions)) and the log sink
    /// ([`LogRecord::extensions`](crate::LogRecord::extensions)) see them at every step. It
    /// already holds what a profile keeps there (a WASI call's stdio): add to it, do not
    /// replace it.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.0.store.data_mut().extensions
    }
}

impl Inner {
    /// One slice: resumes the parked function (or enters the next one), and goes on with the
    /// following functions while the slice's fuel lasts. `Ok(None)`: the slice ended.
    fn advance(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let store = &mut self.store;
        loop {
            match &mut self.phase {
                Phase::Start(parked) => {
                    let ran = match parked.take() {
                        Some(out) => resume(store, out)?,
                        None if self.module.0.info.has_start => {
                            // The start function, hoisted into an export (crate::start).
                            let f: TypedFunc<(), ()> = self
                                .instance
                                .get_typed_func(&*store, START_EXPORT)
                                .map_err(|_| missing(START_EXPORT))?;
                            enter(store, &f, ())?
                        }
                        None => Ran::Finished(()),
                    };
                    match ran {
                        Ran::Parked(out) => {
                            self.phase = Phase::Start(Some(out));
                            return Ok(None);
                        }
                        Ran::Finished(()) => self.phase = Phase::Alloc(None),
                    }
                }
                Phase::Alloc(parked) => {
                    let len = u32::try_from(self.input.len()).map_err(|_| {
                        Error::new(ErrorKind::InputTooLarge {
                            len: self.input.len(),
                            cap: store.data().limits.input_bytes,
                        })
                    })?;
                    let ran = match parked.take() {
                        Some(out) => resume(store, out)?,
                        None if self.input.is_empty() => {
                            self.phase = Phase::Entry(None, (0, 0));
                            continue;
                        }
                        None => {
                            let f: TypedFunc<i32, i32> = self
                                .instance
                                .get_typed_func(&*store, ALLOC_EXPORT)
                                .map_err(|_| missing(ALLOC_EXPORT))?;
                            enter(store, &f, len as i32)?
                        }
                    };
                    match ran {
                        Ran::Parked(out) => {
                            self.phase = Phase::Alloc(Some(out));
                            return Ok(None);
                        }
                        Ran::Finished(ptr) => {
                            let ptr = ptr as u32;
                            let dst = self.memory.data_mut(&mut *store).get_mut(
                                ptr as usize..(ptr as usize).saturating_add(self.input.len()),
                            );
                            match dst {
                                Some(dst) if ptr != 0 => dst.copy_from_slice(&self.input),
                                _ => {
                                    return Err(
                                        ErrorKind::GuestMemoryOutOfBounds { ptr, len }.into()
                                    );
                                }
                            }
                            self.phase = Phase::Entry(None, (ptr, len));
                        }
                    }
                }
                #[cfg(feature = "wasi")]
                Phase::Wasi {
                    funcs,
                    next,
                    parked,
                } => {
                    let ran = match parked.take() {
                        Some(out) => resume(store, out)?,
                        None => match funcs.get(*next) {
                            Some(f) => enter(store, f, ())?,
                            // Every function returned: the output is stdout (`done`).
                            None => return Ok(Some(Vec::new())),
                        },
                    };
                    match ran {
                        Ran::Parked(out) => {
                            *parked = Some(out);
                            return Ok(None);
                        }
                        Ran::Finished(()) => *next += 1,
                    }
                }
                Phase::Entry(parked, (in_ptr, in_len)) => {
                    let ran = match parked.take() {
                        Some(out) => resume(store, out)?,
                        None => {
                            let f: TypedFunc<(i32, i32), i32> = self
                                .instance
                                .get_typed_func(&*store, &self.entry)
                                .map_err(|_| {
                                    Error::new(ErrorKind::NoSuchEntry {
                                        entry: self.entry.clone(),
                                    })
                                })?;
                            enter(store, &f, (*in_ptr as i32, *in_len as i32))?
                        }
                    };
                    return match ran {
                        Ran::Parked(out) => {
                            *parked = Some(out);
                            Ok(None)
                        }
                        Ran::Finished(status) => self.output(status).map(Some),
                    };
                }
            }
        }
    }

    /// The output (or the guest's error) once the entry point returned `status`.
    fn output(&self, status: i32) -> Result<Vec<u8>, Error> {
        let (ptr, len) = self.store.data().output.unwrap_or((0, 0));
        let data = self.memory.data(&self.store);
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
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(ErrorKind::OutputOutOfBounds {
                ptr,
                len,
                memory_bytes: data.len(),
            }
            .into()),
        }
    }

    fn done(self: Box<Self>, result: Result<Vec<u8>, Error>) -> Call<Vec<u8>> {
        #[cfg_attr(
            not(feature = "wasi"),
            expect(unused_mut, reason = "only the WASI ending writes to the store")
        )]
        let Self {
            mut store,
            module,
            tenant,
            start,
            plugin,
            phase,
            ..
        } = *self;
        // A WASI guest's output is its stdout, and `proc_exit(0)` is success (crate::wasi).
        #[cfg(feature = "wasi")]
        let result = match phase {
            Phase::Wasi { .. } => crate::wasi::end(store.data_mut(), result.map(drop)),
            _ => result,
        };
        #[cfg(not(feature = "wasi"))]
        let _ = phase;
        finish(store, &module, &tenant, start, plugin.as_deref(), result)
    }
}

/// Ends a call as [`Runtime::call`] does: commits its KV writes if it succeeded, fills the
/// report, and names the tenant and plugin in the error.
fn finish(
    store: Store<CallState>,
    module: &CompiledModule,
    tenant: &Tenant,
    start: Instant,
    plugin: Option<&str>,
    result: Result<Vec<u8>, Error>,
) -> Call<Vec<u8>> {
    let fuel_left = store.get_fuel().unwrap_or(0);
    let state = store.data();
    let limits = state.limits;
    // KV call scope (docs/ABI.md): a call's writes take effect only if it succeeded.
    let result = match result {
        Ok(out) if !state.kv_writes.is_empty() => state
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
    let fuel_used = match &result {
        Err(e) if matches!(e.kind(), ErrorKind::OutOfFuel { .. }) => limits.fuel,
        _ => limits
            .fuel
            .saturating_sub(fuel_left.saturating_add(state.fuel_reserve)),
    };
    let result = result.map_err(|e| {
        let e = e.with_tenant(tenant.id());
        match plugin.or(module.name()) {
            Some(name) => e.with_plugin(name),
            None => e,
        }
    });
    let report = CallReport {
        outcome: match &result {
            Ok(_) => Outcome::Ok,
            Err(e) => e.outcome(),
        },
        fuel_used,
        wall_time: state.shared.clock.now().saturating_since(start),
        memory_high_water: state.meter.high_water,
        memory_cap_hits: state.meter.cap_hits,
        digest: module.digest(),
        log_bytes: state.log_bytes,
        log_dropped: state.log_dropped,
    };
    Call { report, result }
}

fn missing(name: &'static str) -> Error {
    Error::from(ContractViolation::MissingExport {
        name,
        expected: "(checked at compile time)",
    })
}

/// Enters `func` with the fuel in the store; it runs until it returns or the fuel runs out.
fn enter<P: WasmParams, R: WasmResults>(
    store: &mut Store<CallState>,
    func: &TypedFunc<P, R>,
    params: P,
) -> Result<Ran<R>, Error> {
    let call = func
        .call_resumable(&mut *store, params)
        .map_err(|e| map_error(store, &e))?;
    settle(store, call)
}

/// Hands a parked function its next slice (or ends the call on its interrupt, deadline or
/// budget) and resumes it.
fn resume<R: WasmResults>(
    store: &mut Store<CallState>,
    out: TypedResumableCallOutOfFuel<R>,
) -> Result<Ran<R>, Error> {
    refuel(store, out.required_fuel())?;
    let call = out.resume(&mut *store).map_err(|e| map_error(store, &e))?;
    settle(store, call)
}

fn settle<R>(store: &Store<CallState>, call: TypedResumableCall<R>) -> Result<Ran<R>, Error> {
    match call {
        TypedResumableCall::Finished(results) => Ok(Ran::Finished(results)),
        TypedResumableCall::HostTrap(trap) => Err(map_error(store, trap.host_error())),
        TypedResumableCall::OutOfFuel(out) => Ok(Ran::Parked(out)),
    }
}
