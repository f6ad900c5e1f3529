//! Writing bundles: [`BundleBuilder`] (manifest, module, optional signature) and
//! [`assemble`]. Only programs that pack or sign bundles link this code.

use alloc::vec::Vec;

use ed25519_dalek::{Signer as _, SigningKey};

use crate::abi::ABI_VERSION;
use crate::digest::Digest;
use crate::error::Error;

use super::{
    BUNDLE_MAGIC, FLAG_SIGNED, FORMAT_VERSION, FORMAT_VERSION_VALIDATED, HEADER_LEN,
    MANIFEST_MAGIC, MAX_MANIFEST_LEN, Manifest, PublicKey, SIGNATURE_BLOCK_LEN, SmokeView,
    ValidationRecord, public_key,
};

/// The ed25519 signature of `manifest` with `secret`: the detached signature of a bundle.
pub fn sign_manifest(manifest: &[u8], secret: &[u8; 32]) -> [u8; 64] {
    SigningKey::from_bytes(secret).sign(manifest).to_bytes()
}

/// Packs a bundle: manifest fields, module bytes, and optionally a signature.
#[derive(Debug, Clone)]
#[must_use]
pub struct BundleBuilder<'a> {
    name: &'a str,
    version: &'a str,
    provenance: &'a str,
    abi_version: u32,
    capabilities: Vec<&'a str>,
    smoke: Option<SmokeView<'a>>,
    module: &'a [u8],
    validation: Option<ValidationRecord>,
}

impl<'a> BundleBuilder<'a> {
    /// A bundle of `module` as version `version` of plugin `name`, declaring ABI
    /// [`ABI_VERSION`], no capabilities, empty provenance and no smoke test.
    pub fn new(name: &'a str, version: &'a str, module: &'a [u8]) -> Self {
        Self {
            name,
            version,
            provenance: "",
            abi_version: ABI_VERSION,
            capabilities: Vec::new(),
            smoke: None,
            module,
            validation: None,
        }
    }

    /// Where the module came from (free-form, at most 65535 bytes).
    pub fn provenance(mut self, provenance: &'a str) -> Self {
        self.provenance = provenance;
        self
    }

    /// The ABI version the manifest states (default [`ABI_VERSION`]); must match the module.
    pub fn abi_version(mut self, version: u32) -> Self {
        self.abi_version = version;
        self
    }

    /// Asks for a capability (every capability the module imports from must be listed).
    pub fn capability(mut self, name: &'a str) -> Self {
        self.capabilities.push(name);
        self
    }

    /// A smoke test run before the version is promoted: `entry(input)` must return `expected`.
    pub fn smoke(mut self, entry: &'a str, input: &'a [u8], expected: &'a [u8]) -> Self {
        self.smoke = Some(SmokeView {
            entry,
            input,
            expected,
        });
        self
    }

    /// Validates the module with the full validator (wasmi's, with the core's engine
    /// configuration, the start function checked as written and as Palisade rewrites it) and
    /// only then records it in the manifest ([`ValidationRecord`]: this build's
    /// [`Runtime::config_fingerprint`](crate::Runtime::config_fingerprint) bound to the module
    /// digest; the bundle becomes format version 2). A build without the core's `validate`
    /// feature compiles only such bundles, and only signed by a key it trusts: sign the result.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`](crate::ErrorKind::InvalidModule) (or a
    /// [`ContractViolation::ReservedExport`](crate::ContractViolation::ReservedExport)) for a
    /// module the validator refuses; nothing is recorded then.
    #[cfg(feature = "validate")]
    pub fn validate(mut self) -> Result<Self, Error> {
        let engine = crate::engine::scratch_engine();
        crate::start::compile(&engine, self.module, None)?;
        self.validation = Some(ValidationRecord::new(
            crate::engine::fingerprint(),
            &Digest::of(self.module),
        ));
        Ok(self)
    }

    /// The manifest bytes (what a signature covers), for signing elsewhere (an HSM, a
    /// signing service) and then [`assemble`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if a field is too long for the format or a name is empty.
    pub fn manifest(&self) -> Result<Vec<u8>, Error> {
        fn put_u8_str(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), Error> {
            let n = u8::try_from(s.len()).map_err(|_| {
                Error::config(alloc::format!("the {what} is longer than 255 bytes"))
            })?;
            out.push(n);
            out.extend_from_slice(s.as_bytes());
            Ok(())
        }
        fn put_u16_bytes(out: &mut Vec<u8>, b: &[u8], what: &str) -> Result<(), Error> {
            let n = u16::try_from(b.len()).map_err(|_| {
                Error::config(alloc::format!("the {what} is longer than 65535 bytes"))
            })?;
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(b);
            Ok(())
        }
        if self.name.is_empty() {
            return Err(Error::config("a bundle needs a plugin name"));
        }
        let mut out = Vec::with_capacity(64 + self.name.len() + self.provenance.len());
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&self.abi_version.to_le_bytes());
        out.extend_from_slice(Digest::of(self.module).as_bytes());
        put_u8_str(&mut out, self.name, "plugin name")?;
        put_u8_str(&mut out, self.version, "version")?;
        put_u16_bytes(&mut out, self.provenance.as_bytes(), "provenance")?;
        let count = u8::try_from(self.capabilities.len())
            .map_err(|_| Error::config("a bundle asks for at most 255 capabilities"))?;
        out.push(count);
        for cap in &self.capabilities {
            if cap.is_empty() {
                return Err(Error::config("a capability name must not be empty"));
            }
            put_u8_str(&mut out, cap, "capability name")?;
        }
        match &self.smoke {
            None => out.push(0),
            Some(smoke) => {
                out.push(1);
                put_u8_str(&mut out, smoke.entry, "smoke entry name")?;
                put_u16_bytes(&mut out, smoke.input, "smoke input")?;
                put_u16_bytes(&mut out, smoke.expected, "smoke expected output")?;
            }
        }
        if let Some(record) = &self.validation {
            out.extend_from_slice(&record.to_bytes());
        }
        if out.len() > MAX_MANIFEST_LEN {
            return Err(Error::config("the manifest is longer than 65535 bytes"));
        }
        Ok(out)
    }

    /// The bundle without a signature.
    ///
    /// # Errors
    ///
    /// As [`BundleBuilder::manifest`], or if the module is larger than 4 GiB.
    pub fn build_unsigned(&self) -> Result<Vec<u8>, Error> {
        assemble(&self.manifest()?, None, self.module)
    }

    /// The bundle, signed with the ed25519 secret key (seed) `secret`.
    ///
    /// # Errors
    ///
    /// As [`BundleBuilder::build_unsigned`].
    pub fn sign(&self, secret: &[u8; 32]) -> Result<Vec<u8>, Error> {
        let manifest = self.manifest()?;
        let signature = sign_manifest(&manifest, secret);
        assemble(
            &manifest,
            Some((&public_key(secret), &signature)),
            self.module,
        )
    }
}

/// Assembles a bundle from a manifest, an optional `(public key, signature)` over it, and
/// the module bytes. No check is made that they belong together: [`Bundle::verify`](super::Bundle::verify) does that.
/// The format version is 2 if the manifest ends with a [`ValidationRecord`], else 1.
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) if the manifest is longer than 65535 bytes or the module than 4 GiB.
pub fn assemble(
    manifest: &[u8],
    signature: Option<(&PublicKey, &[u8; 64])>,
    module: &[u8],
) -> Result<Vec<u8>, Error> {
    let manifest_len = u16::try_from(manifest.len())
        .map_err(|_| Error::config("the manifest is longer than 65535 bytes"))?;
    let module_len = u32::try_from(module.len())
        .map_err(|_| Error::config("the module is larger than 4 GiB"))?;
    let sig_len = if signature.is_some() {
        SIGNATURE_BLOCK_LEN
    } else {
        0
    };
    let mut out = Vec::with_capacity(HEADER_LEN + manifest.len() + sig_len + module.len());
    out.extend_from_slice(&BUNDLE_MAGIC);
    let validated = Manifest::new_checked(manifest).is_ok_and(|m| m.validation().is_some());
    out.push(if validated {
        FORMAT_VERSION_VALIDATED
    } else {
        FORMAT_VERSION
    });
    out.push(if signature.is_some() { FLAG_SIGNED } else { 0 });
    out.extend_from_slice(&manifest_len.to_le_bytes());
    out.extend_from_slice(&module_len.to_le_bytes());
    out.extend_from_slice(manifest);
    if let Some((key, sig)) = signature {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(sig);
    }
    out.extend_from_slice(module);
    Ok(out)
}
