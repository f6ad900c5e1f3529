//! Compiled modules: a wasmi module checked against the contract, shared by every call.

use alloc::boxed::Box;
use alloc::sync::Arc;

use wasmi::Module;

use crate::abi::ContractInfo;
use crate::digest::Digest;

/// What a [`CompiledModule`] shares between its clones.
pub(crate) struct ModuleInner {
    pub(crate) name: Option<Box<str>>,
    pub(crate) module: Module,
    pub(crate) digest: Digest,
    pub(crate) info: ContractInfo,
    pub(crate) size: usize,
}

/// A module compiled by a [`Runtime`](crate::Runtime) and checked against the contract. Cheap to clone; shared
/// by every call and tenant (it is immutable: instances are created per call).
#[derive(Clone)]
pub struct CompiledModule(pub(crate) Arc<ModuleInner>);

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
