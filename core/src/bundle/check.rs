//! [`Manifest::check`]: does a manifest describe the module it came with, as a runtime
//! compiled it? The install pipeline's last step (`crate::install`).

use crate::{CompiledModule, Runtime};

use super::{BundleError, Manifest, ManifestMismatch, ShortName};

impl Manifest<'_> {
    /// Checks that this manifest describes `module` as compiled by `runtime`: it states the
    /// module's ABI version, asks only for capabilities `runtime` provides, and asks for every
    /// capability the module's imports need (`core` needs no asking). Allocation-free: the
    /// registry, the server and a board refuse with the same [`BundleError::Manifest`].
    ///
    /// # Errors
    ///
    /// [`BundleError::Manifest`] with the first [`ManifestMismatch`] found.
    pub fn check(&self, runtime: &Runtime, module: &CompiledModule) -> Result<(), BundleError> {
        let declared = module.info().abi_version;
        if self.abi_version != declared {
            return Err(ManifestMismatch::AbiVersion {
                manifest: self.abi_version,
                module: declared,
            }
            .into());
        }
        for asked in self.capabilities() {
            if !runtime.capabilities().any(|c| c == asked) {
                return Err(ManifestMismatch::UnknownCapability {
                    capability: ShortName::new(asked),
                }
                .into());
            }
        }
        for (import, _) in &module.info().imports {
            let Some(cap) = runtime.capability_of_import(import) else {
                continue;
            };
            if cap != crate::capability::CORE && !self.capabilities().any(|c| c == cap) {
                return Err(ManifestMismatch::UndeclaredCapability {
                    import: ShortName::new(import),
                    capability: ShortName::new(cap),
                }
                .into());
            }
        }
        Ok(())
    }
}
