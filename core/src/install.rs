//! The one install pipeline for bundles: parsed → verified against a trust store
//! ([`Bundle::verify`](crate::Bundle::verify), which yields a [`VerifiedBundle`]) → compiled and
//! contract-checked → [`Manifest::check`](crate::Manifest::check)ed against the module.
//!
//! The registry ([`Registry::register_verified`](crate::Registry::register_verified)), the
//! server's upload and a board's flash slot (`palisade_mcu::BundleSlot::load`) all go through
//! [`Runtime::compile_bundle`], so a bundle one of them refuses, each of them refuses, with the
//! same [`BundleError`](crate::BundleError).
//!
//! Without the core's `validate` feature (the pre-validated profile, `docs/EMBEDDED.md`) this is
//! also the only way a module is compiled at all, and only for a bundle signed by a trusted key
//! whose manifest records the packer's validation for this build ([`prevalidated`]).

use crate::bundle::VerifiedBundle;
use crate::error::Error;
use crate::start::Prevalidated;
use crate::{CompiledModule, Runtime};

impl Runtime {
    /// Compiles a verified bundle's module (labelled with the manifest's plugin name; the
    /// digest the signature covers is not computed again) and checks the manifest against it
    /// ([`Manifest::check`](crate::Manifest::check)).
    ///
    /// Without the core's `validate` feature, the module is compiled unvalidated, and only if
    /// the bundle is signed by a trusted key and its manifest carries a
    /// [`ValidationRecord`](crate::bundle::ValidationRecord) for this build's
    /// [`Runtime::config_fingerprint`] and the module's digest; with it, the module is always
    /// validated and the record is not looked at.
    ///
    /// # Errors
    ///
    /// Those of [`Runtime::compile`], or [`ErrorKind::Bundle`](crate::ErrorKind::Bundle) with
    /// [`BundleError::Manifest`](crate::BundleError::Manifest), or, without the `validate`
    /// feature, [`BundleError::NotPrevalidated`](crate::BundleError::NotPrevalidated); labelled
    /// with the plugin name.
    pub fn compile_bundle(&self, bundle: &VerifiedBundle<'_>) -> Result<CompiledModule, Error> {
        let manifest = bundle.manifest();
        let name = manifest.name();
        let proof = prevalidated(bundle).map_err(|e| Error::from(e).with_plugin(name))?;
        let module =
            self.compile_proven(bundle.module(), Some(name), Some(manifest.digest()), proof)?;
        manifest
            .check(self, &module)
            .map_err(|e| Error::from(e).with_plugin(name))?;
        Ok(module)
    }
}

/// The validating build needs no proof.
#[cfg(feature = "validate")]
fn prevalidated(_bundle: &VerifiedBundle<'_>) -> Result<Option<Prevalidated>, crate::BundleError> {
    Ok(None)
}

/// Whether a build without the validator may compile `bundle`'s module unvalidated: it is
/// signed (so [`Bundle::verify`](crate::Bundle::verify) checked that the signer is trusted and
/// the signature covers the manifest, whose digest the module bytes match), and its manifest's
/// validation record names this build's engine configuration and binds that digest.
#[cfg(not(feature = "validate"))]
fn prevalidated(bundle: &VerifiedBundle<'_>) -> Result<Option<Prevalidated>, crate::BundleError> {
    use crate::error::PrevalidationRefusal;

    if bundle.signer().is_none() {
        return Err(PrevalidationRefusal::Unsigned.into());
    }
    let manifest = bundle.manifest();
    let record = manifest
        .validation()
        .ok_or(PrevalidationRefusal::NoRecord)?;
    let build = crate::engine::fingerprint();
    if record.fingerprint() != build {
        return Err(PrevalidationRefusal::OtherConfiguration {
            recorded: record.fingerprint(),
            build,
        }
        .into());
    }
    if !record.binds(&manifest.digest()) {
        return Err(PrevalidationRefusal::OtherModule.into());
    }
    Ok(Some(Prevalidated::vouched_by_trusted_signer()))
}
