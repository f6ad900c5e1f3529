//! Calls through the registry: routed to a plugin's version, run in its engine generation,
//! and counted in the (plugin, tenant) metrics.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use crate::digest::Digest;
use crate::error::Outcome;
use crate::interrupt::Interrupt;
use crate::metrics::Metrics;
use crate::{Call, CallReport, Step, Tenant};

use super::generation::Resolved;
use super::{Registry, unknown_plugin};

impl Registry {
    /// Calls `entry` of the version of `plugin` that `request_key` routes to, for `tenant`,
    /// and records the report in the (plugin, tenant) metrics. `report.digest` names the
    /// version that ran. Use a stable key per user or session so a canary sees the same users.
    pub fn call(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
    ) -> Call<Vec<u8>> {
        self.call_with(plugin, tenant, entry, input, request_key, <[u8]>::to_vec)
    }

    /// [`Registry::call`] that the host can stop from another thread through `interrupt`
    /// (see [`Runtime::call_interruptible`](crate::Runtime::call_interruptible)); an interrupted call is recorded in the metrics
    /// as [`Outcome::Interrupted`].
    pub fn call_interruptible(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        interrupt: &Interrupt,
    ) -> Call<Vec<u8>> {
        self.call_inner(
            plugin,
            tenant,
            entry,
            input,
            request_key,
            Some(interrupt),
            <[u8]>::to_vec,
        )
    }

    /// [`Registry::call`], handing the output to `read` in place.
    pub fn call_with<R>(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        self.call_inner(plugin, tenant, entry, input, request_key, None, read)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one private step of the public call methods, which own all of these"
    )]
    fn call_inner<R>(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        interrupt: Option<&Interrupt>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        let Some(resolved) = self.route_module(plugin, request_key) else {
            return unknown_plugin_call(plugin, tenant);
        };
        let mut call = resolved.generation.runtime.call_inner(
            &resolved.module,
            tenant,
            entry,
            input,
            crate::call::CallHooks {
                interrupt,
                extensions: None,
            },
            read,
        );
        call.result = call.result.map_err(|e| e.with_plugin(plugin));
        self.record(plugin, tenant.id(), &call.report);
        // The generation (and with a retired one, its engine) is dropped here, unlocked.
        drop(resolved);
        call
    }

    /// [`Registry::call_interruptible`] run one fuel slice at a time: routes `request_key` to
    /// a version of `plugin` and starts the call ([`Runtime::start_call`](crate::Runtime::start_call)); step it with
    /// [`PendingCall::step`](crate::PendingCall::step). The registry does not see the call
    /// end: hand its report to [`Registry::record`] to count it in the (plugin, tenant)
    /// metrics as [`Registry::call`] does.
    pub fn start_call(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: Vec<u8>,
        request_key: &[u8],
        interrupt: Option<Interrupt>,
    ) -> Step {
        let Some(resolved) = self.route_module(plugin, request_key) else {
            return Step::Done(unknown_plugin_call(plugin, tenant));
        };
        let step = resolved.generation.runtime.start_call(
            &resolved.module,
            tenant,
            entry,
            input,
            interrupt,
        );
        // The generation (and with a retired one, its engine) is dropped here, unlocked: the
        // pending call holds the engine it needs.
        drop(resolved);
        match step {
            Step::Pending(call) => Step::Pending(call.with_plugin(plugin)),
            Step::Done(mut call) => {
                call.result = call.result.map_err(|e| e.with_plugin(plugin));
                Step::Done(call)
            }
        }
    }

    /// Counts a call's report in the metrics of (`plugin`, `tenant`), as [`Registry::call`]
    /// does for its own calls; for calls run with [`Registry::start_call`]. Nothing is
    /// recorded for a plugin the registry does not know.
    pub fn record(&self, plugin: &str, tenant: &str, report: &CallReport) {
        let mut state = self.state.lock();
        if let Some(p) = state.plugins.get_mut(plugin) {
            match p.metrics.get_mut(tenant) {
                Some(m) => m.record(report),
                None => {
                    let mut m = Box::new(Metrics::new());
                    m.record(report);
                    p.metrics.insert(tenant.into(), m);
                }
            }
        }
    }

    /// The module `request_key` routes to for `plugin`, with its engine generation.
    fn route_module(&self, plugin: &str, request_key: &[u8]) -> Option<Resolved> {
        let state = self.state.lock();
        state
            .plugins
            .get(plugin)
            .and_then(|p| p.route(request_key))
            .and_then(|d| state.modules.get(&self.key(d)))
            .map(|e| Resolved {
                generation: state.generation.clone(),
                module: e.module.clone(),
            })
    }

    /// A copy of the metrics of (`plugin`, `tenant`), if that pair has made a call.
    pub fn metrics(&self, plugin: &str, tenant: &str) -> Option<Metrics> {
        let state = self.state.lock();
        state
            .plugins
            .get(plugin)
            .and_then(|p| p.metrics.get(tenant))
            .map(|m| (**m).clone())
    }

    /// Visits the metrics of every (plugin, tenant) pair, in name order: for exporters.
    /// `visit` runs under the registry lock: it must not call the registry.
    pub fn for_each_metrics(&self, mut visit: impl FnMut(&str, &str, &Metrics)) {
        let state = self.state.lock();
        for (plugin, p) in &state.plugins {
            for (tenant, m) in &p.metrics {
                visit(plugin, tenant, m);
            }
        }
    }
}

/// The call a request for an unknown plugin (or one with no active version) ends as.
fn unknown_plugin_call<R>(plugin: &str, tenant: &Tenant) -> Call<R> {
    Call {
        report: CallReport {
            outcome: Outcome::Rejected,
            fuel_used: 0,
            wall_time: Duration::ZERO,
            memory_high_water: 0,
            memory_cap_hits: 0,
            digest: Digest::default(),
            log_bytes: 0,
            log_dropped: 0,
        },
        result: Err(unknown_plugin(plugin).with_tenant(tenant.id())),
    }
}
