//! Admission and invocation: a call is admitted before its input is read, then run on the
//! worker pool, holding its slots, its interrupt and its module version until it finishes.

use std::sync::atomic::{AtomicU64, Ordering};

// One operation of `Server`, split from `mod.rs`: it uses the imports and helpers there.
use super::*;
use crate::log::CallLog;
use crate::pool::foreground_section;

/// What an invocation returned: the report and the output or error.
pub struct Invocation {
    /// The core's report.
    pub report: CallReport,
    /// Output bytes or the guest/host error.
    pub result: Result<Vec<u8>, Error>,
}

impl Server {
    /// Takes one token from the tenant's rate bucket (`calls_per_second`, `burst`): plugin
    /// calls and `/v1/kv` requests share it.
    ///
    /// # Errors
    ///
    /// 429 `rate_limited` with `Retry-After` when the bucket is empty.
    pub fn check_rate(&self, tenant: &LiveTenant) -> ApiResult<()> {
        let limits = &tenant.config.limits;
        let now = self.clock.now();
        let acquired = tenant
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_acquire(now, limits.calls_per_second, limits.burst);
        if let Err(after) = acquired {
            self.metrics.record_refused(&tenant.id, "rate_limited");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "tenant `{}` is over its rate of {} calls/s",
                    tenant.id, limits.calls_per_second
                ),
            )
            .retry_after(after));
        }
        Ok(())
    }

    /// Admits and runs one call on the worker pool ([`Server::admit`], then
    /// [`Server::run`]).
    ///
    /// # Errors
    ///
    /// As [`Server::admit`] and [`Server::run`].
    pub async fn invoke(
        self: &Arc<Self>,
        tenant: Arc<LiveTenant>,
        plugin: &str,
        entry: &str,
        input: Vec<u8>,
        key: Option<Vec<u8>>,
    ) -> ApiResult<Invocation> {
        let admitted = self.admit(tenant, plugin, Some(input.len())).await?;
        self.run(admitted, entry, input, key).await
    }

    /// Admits a call before its input is read: drain, plugin grant, the declared input
    /// length against the tenant's cap, the rate bucket, the tenant's concurrency slot and a
    /// global slot (waited for up to `queue_timeout_ms`). A refused call costs the server no
    /// buffering; an admitted one holds its slots until [`Server::run`] finishes (or the
    /// [`Admitted`] is dropped).
    ///
    /// # Errors
    ///
    /// 403 `plugin_not_granted`, 413 `input_too_large`, 429 (`rate_limited`, `tenant_busy`,
    /// `server_busy`) with `Retry-After`, 503 `shutting_down`.
    pub async fn admit(
        &self,
        tenant: Arc<LiveTenant>,
        plugin: &str,
        input_len: Option<usize>,
    ) -> ApiResult<Admitted> {
        if self.is_draining() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down; retry on another replica",
            )
            .retry_after(std::time::Duration::from_secs(1)));
        }
        if !tenant.may_invoke(plugin) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "plugin_not_granted",
                format!(
                    "tenant `{}` may not invoke plugin `{plugin}`; ask the operator to grant it",
                    tenant.id
                ),
            ));
        }
        let limits = &tenant.config.limits;
        if let Some(len) = input_len {
            check_input_len(&tenant, len)?;
        }
        self.check_rate(&tenant)?;
        let Ok(tenant_slot) = tenant.slots.clone().try_acquire_owned() else {
            self.metrics.record_refused(&tenant.id, "tenant_busy");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "tenant_busy",
                format!(
                    "tenant `{}` already has {} calls in flight",
                    tenant.id, limits.max_concurrency
                ),
            )
            .retry_after(std::time::Duration::from_secs(1)));
        };
        let global = tokio::time::timeout(
            self.config.queue_timeout(),
            self.global.clone().acquire_owned(),
        )
        .await;
        let Ok(Ok(global_slot)) = global else {
            self.metrics.record_refused(&tenant.id, "server_busy");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "server_busy",
                "the server is at its global concurrency cap",
            )
            .retry_after(std::time::Duration::from_secs(1)));
        };
        Ok(Admitted {
            tenant,
            plugin: plugin.to_owned(),
            slots: (tenant_slot, global_slot),
        })
    }

    /// Runs an admitted call on the worker pool.
    ///
    /// # Errors
    ///
    /// 413 `input_too_large` if `input` is over the tenant's cap (a body sent without a
    /// length); 503 `shutting_down` if the pool has stopped.
    pub async fn run(
        self: &Arc<Self>,
        admitted: Admitted,
        entry: &str,
        input: Vec<u8>,
        key: Option<Vec<u8>>,
    ) -> ApiResult<Invocation> {
        check_input_len(&admitted.tenant, input.len())?;
        let Admitted {
            tenant,
            plugin,
            slots: (tenant_slot, global_slot),
        } = admitted;
        let interrupt = Interrupt::new();
        let registered = Running::register(self, interrupt.clone());
        // The request future is dropped when the client goes away (hyper drops the handler
        // of a closed connection): the call then stops at its next fuel slice instead of
        // holding a worker until its deadline, or for good with an unbounded deadline.
        let _client_gone = InterruptOnDrop(interrupt.clone());
        let server = self.clone();
        let entry = entry.to_owned();
        let weight = tenant.config.limits.weight;
        let pool_tenant = tenant.id.clone();
        // The call, run one fuel slice per job slice: `Start` until the first slice, then
        // the pending call between slices.
        let mut pending: Option<PendingCall> = None;
        let mut input = Some(input);
        let log_dropped = Arc::new(AtomicU64::new(0));
        let mut job = Some((tenant_slot, global_slot, registered));
        let mut held: Option<InUse> = None;
        let mut counted: Option<InFlight> = None;
        let ran = self
            .pool
            .run_sliced(&pool_tenant, weight, move || {
                if counted.is_none() {
                    counted = Some(InFlight::new(server.in_flight.clone()));
                }
                if LAST_YIELD.get().is_none() {
                    LAST_YIELD.set(Some(StdInstant::now()));
                }
                let step = match pending.take() {
                    // A step that ends the call (past its deadline, interrupted) frees the
                    // instance and returns the interpreter's stack: locks other calls need.
                    Some(call) if call.expired() => {
                        let _fg = foreground_section();
                        call.step()
                    }
                    Some(call) => call.step(),
                    None => {
                        // The start takes the registry's lock, and the first slice enters the
                        // guest's functions (the engine lends each one a stack under its
                        // lock): at normal priority, even on a background worker (the pool's
                        // priority ceiling). Later slices only resume the parked function.
                        let _fg = foreground_section();
                        let key = key.as_deref().unwrap_or(tenant.id.as_bytes());
                        match server.registry.start_call(
                            &plugin,
                            &tenant.core,
                            &entry,
                            input.take().unwrap_or_default(),
                            key,
                            Some(interrupt.clone()),
                        ) {
                            // The first slice runs at once, like every later one.
                            Step::Pending(mut call) => {
                                held = Some(InUse::hold(&server.in_use, call.digest()));
                                call.extensions_mut().insert(CallLog::new(
                                    &plugin,
                                    tenant.log_gate.clone(),
                                    log_dropped.clone(),
                                ));
                                call.step()
                            }
                            done => done,
                        }
                    }
                };
                let call = match step {
                    Step::Pending(call) => {
                        pending = Some(call);
                        return None;
                    }
                    Step::Done(call) => call,
                };
                // Recording the call, logging it and releasing its slots all take locks.
                let _fg = foreground_section();
                LAST_YIELD.set(None);
                server.registry.record(&plugin, &tenant.id, &call.report);
                server
                    .metrics
                    .record_log_dropped(&tenant.id, log_dropped.load(Ordering::Relaxed));
                server
                    .metrics
                    .record_call(&plugin, &tenant.id, &call.report);
                let r = &call.report;
                tracing::info!(
                    tenant = %tenant.id,
                    plugin = %plugin,
                    digest = %r.digest.short(),
                    outcome = %r.outcome,
                    fuel = r.fuel_used,
                    latency_us = u64::try_from(r.wall_time.as_micros()).unwrap_or(u64::MAX),
                    memory = r.memory_high_water,
                    "call"
                );
                // Slots and the running entry are released before the answer is sent.
                drop(job.take());
                drop(counted.take());
                drop(held.take());
                Some(Invocation {
                    report: call.report,
                    result: call.result,
                })
            })
            .await;
        ran.ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the worker pool has stopped",
            )
        })
    }
}

/// A running call's hold on its module's digest: retention keeps the version meanwhile.
struct InUse {
    map: Arc<std::sync::Mutex<HashMap<Digest, usize>>>,
    digest: Digest,
}

impl InUse {
    pub(super) fn hold(
        map: &Arc<std::sync::Mutex<HashMap<Digest, usize>>>,
        digest: Digest,
    ) -> Self {
        *map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(digest)
            .or_insert(0) += 1;
        Self {
            map: map.clone(),
            digest,
        }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.digest) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.digest);
            }
        }
    }
}

/// A call that passed admission: it holds its tenant and global slots until run or dropped.
pub struct Admitted {
    tenant: Arc<LiveTenant>,
    plugin: String,
    slots: (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
}

impl Admitted {
    /// The tenant's own input cap, at most the server's `max_input_bytes`: what the body
    /// may be read up to.
    pub fn input_cap(&self, server_cap: usize) -> usize {
        self.tenant.config.limits.input_bytes.min(server_cap)
    }
}

pub(super) fn check_input_len(tenant: &LiveTenant, len: usize) -> ApiResult<()> {
    let cap = tenant.config.limits.input_bytes;
    if len > cap {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input_too_large",
            format!("the input is {len} bytes, over this tenant's cap of {cap}"),
        ));
    }
    Ok(())
}

/// Raises a call's interrupt when dropped: held by the request future, so a client that goes
/// away stops its call. Raising it after the call finished does nothing.
struct InterruptOnDrop(Interrupt);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.interrupt();
    }
}

/// A call's entry in [`Server::running`], removed when dropped (the call finished, or its
/// job was dropped unrun).
struct Running {
    server: Arc<Server>,
    id: u64,
}

impl Running {
    pub(super) fn register(server: &Arc<Server>, interrupt: Interrupt) -> Self {
        let id = server.next_call.fetch_add(1, Ordering::Relaxed);
        server
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, interrupt);
        Self {
            server: server.clone(),
            id,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Counts a call from its first slice on a worker until it has finished (parked calls too).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(super) fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
