//! Engine generations: wasmi never frees compiled code while its engine lives, so past the
//! eviction thresholds the registry recompiles the live modules into a new engine and drops
//! the old one once the calls in flight that hold it return.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::Error;
use crate::{CompiledModule, Runtime};

use super::{Registry, RegistryBuilder, State};

/// One engine and everything compiled into it.
pub(super) struct Generation {
    pub(super) runtime: Runtime,
    pub(super) number: u64,
}

impl State {
    /// Starts a new engine generation holding the live modules, if enough code was evicted.
    pub(super) fn maybe_rotate(&mut self, config: &RegistryBuilder) {
        if self.evicted_modules >= config.rotate_after_evicted_modules
            || self.evicted_bytes >= config.rotate_after_evicted_bytes
        {
            // On failure (it needs a host function that no longer registers, which build
            // ruled out) the current generation simply stays.
            let _ = self.rotate();
        }
    }

    pub(super) fn rotate(&mut self) -> Result<(), Error> {
        let runtime = self.generation.runtime.new_generation()?;
        let mut fresh = Vec::with_capacity(self.modules.len());
        for (key, e) in &self.modules {
            let name = Some(e.info.meta.name.as_str()).filter(|n| !n.is_empty());
            fresh.push((
                *key,
                runtime.compile_digested(e.source.bytes(), name, Some(key.digest))?,
            ));
        }
        self.stats.recompiles += fresh.len() as u64;
        for (key, module) in fresh {
            if let Some(e) = self.modules.get_mut(&key) {
                e.module = module;
            }
        }
        let number = self.generation.number + 1;
        let old = core::mem::replace(
            &mut self.generation,
            Arc::new(Generation { runtime, number }),
        );
        self.retired.retain(|w| w.strong_count() > 0);
        self.retired.push(Arc::downgrade(&old));
        self.evicted_modules = 0;
        self.evicted_bytes = 0;
        Ok(())
    }
}

/// What a call needs, taken under the lock and used outside it.
pub(super) struct Resolved {
    pub(super) generation: Arc<Generation>,
    pub(super) module: CompiledModule,
}

impl Registry {
    /// Runs `f` with the current generation's runtime (to build tenants, or inspect
    /// capabilities). The registry is not locked while `f` runs.
    pub fn with_runtime<R>(&self, f: impl FnOnce(&Runtime) -> R) -> R {
        let generation = self.state.lock().generation.clone();
        f(&generation.runtime)
    }

    /// Starts a new engine generation now, recompiling the live modules (normally automatic).
    ///
    /// # Errors
    ///
    /// Only if a live module fails to recompile; the current generation then stays.
    pub fn rotate_generation(&self) -> Result<(), Error> {
        self.state.lock().rotate()
    }
}
