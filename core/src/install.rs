//! The one install pipeline for bundles: parsed → verified against a trust store
//! ([`Bundle::verify`](crate::Bundle::verify), which yields a [`VerifiedBundle`]) → compiled and
//! contract-checked → [`Manifest::check`](crate::Manifest::check)ed against the module.
//!
//! The registry ([`Registry::register_verified`](crate::Registry::register_verified)), the
//! server's upload and a board's flash slot (`palisade_mcu::BundleSlot::load`) all go through
//! [`Runtime::compile_bundle`], so a bundle one of them refuses, each of them refuses, with the
//! same [`BundleError`](crate::BundleError).

use crate::bundle::VerifiedBundle;
use crate::error::Error;
use crate::{CompiledModule, Runtime};

impl Runtime {
    /// Compiles a verified bundle's module (labelled with the manifest's plugin name; the
    /// digest the signature covers is not computed again) and checks the manifest against it
    /// ([`Manifest::check`](crate::Manifest::check)).
    ///
    /// # Errors
    ///
    /// Those of [`Runtime::compile`], or [`ErrorKind::Bundle`](crate::ErrorKind::Bundle) with
    /// [`BundleError::Manifest`](crate::BundleError::Manifest); labelled with the plugin name.
    pub fn compile_bundle(&self, bundle: &VerifiedBundle<'_>) -> Result<CompiledModule, Error> {
        let manifest = bundle.manifest();
        let name = manifest.name();
        let module = self.compile_digested(bundle.module(), Some(name), Some(manifest.digest()))?;
        manifest
            .check(self, &module)
            .map_err(|e| Error::from(e).with_plugin(name))?;
        Ok(module)
    }
}
