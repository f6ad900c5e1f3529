//! The bundle domain's errors: why a bundle was refused ([`BundleError`]), how a manifest
//! disagrees with its module ([`ManifestMismatch`]), and the inline name they carry
//! ([`ShortName`]), and why a build without the validator refuses one
//! ([`PrevalidationRefusal`]). Defined here, with the other domains' errors, so that `bundle` depends on
//! `error` and not the other way round.

use core::fmt;

use crate::digest::Digest;
use crate::key::PublicKey;

use super::{Error, ErrorKind};

/// Why a bundle was refused. Small and `Copy`, so a board can handle it without allocating;
/// converts into [`Error`] as [`ErrorKind::Bundle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BundleError {
    /// The bytes end before a field the header or manifest declares.
    Truncated {
        /// Bytes needed up to the end of the cut-off field.
        needed: usize,
        /// Bytes there are.
        len: usize,
    },
    /// Not the documented format.
    Malformed(&'static str),
    /// The module bytes do not hash to the manifest's digest.
    DigestMismatch {
        /// The digest the manifest names.
        expected: Digest,
        /// The digest of the module bytes.
        found: Digest,
    },
    /// The signature does not verify.
    BadSignature,
    /// The signer's key is not trusted.
    UntrustedKey(PublicKey),
    /// The policy requires a signature and there is none.
    MissingSignature,
    /// The manifest does not describe the module it carries ([`Manifest::check`](crate::Manifest::check)).
    Manifest(ManifestMismatch),
    /// A build without the core's `validate` feature (the pre-validated profile) refuses to
    /// compile this bundle: it is not signed by a trusted key, or its manifest carries no
    /// [`ValidationRecord`](crate::ValidationRecord) matching this build.
    NotPrevalidated(PrevalidationRefusal),
}

/// Why a build without a validator (the core's `validate` feature off) does not compile a
/// bundle: it compiles only modules a trusted signer says were validated for its engine
/// configuration ([`ValidationRecord`](crate::ValidationRecord)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PrevalidationRefusal {
    /// The bundle is unsigned (accepted by a permissive [`TrustStore`](crate::TrustStore), but a record nobody
    /// trusted vouches for nothing).
    Unsigned,
    /// The manifest carries no validation record (format version 1, or packed without
    /// [`BundleBuilder::validate`](crate::BundleBuilder::validate)).
    NoRecord,
    /// The record names another engine configuration than this build's
    /// ([`Runtime::config_fingerprint`](crate::Runtime::config_fingerprint)).
    OtherConfiguration {
        /// The fingerprint the record names.
        recorded: u64,
        /// This build's fingerprint.
        build: u64,
    },
    /// The record was made for another module (its binding does not match the manifest's
    /// module digest).
    OtherModule,
}

impl From<PrevalidationRefusal> for BundleError {
    fn from(r: PrevalidationRefusal) -> Self {
        Self::NotPrevalidated(r)
    }
}

/// How a manifest disagrees with its module or with the host ([`Manifest::check`](crate::Manifest::check)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ManifestMismatch {
    /// The manifest states another ABI version than the module declares.
    AbiVersion {
        /// The version the manifest states.
        manifest: u32,
        /// The version the module declares (its `palisade.abi` section).
        module: u32,
    },
    /// The manifest asks for a capability this host does not provide.
    UnknownCapability {
        /// The capability asked for.
        capability: ShortName,
    },
    /// The module imports a function of a capability the manifest does not ask for.
    UndeclaredCapability {
        /// The import (`palisade.<import>`).
        import: ShortName,
        /// Its capability.
        capability: ShortName,
    },
}

impl From<ManifestMismatch> for BundleError {
    fn from(m: ManifestMismatch) -> Self {
        Self::Manifest(m)
    }
}

/// A name of at most [`ShortName::CAPACITY`] bytes held inline, so that [`BundleError`] stays
/// `Copy` and allocation-free. A longer name keeps its first bytes (cut at a character
/// boundary) and displays with a trailing `…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortName {
    bytes: [u8; ShortName::CAPACITY],
    len: u8,
    cut: bool,
}

impl ShortName {
    /// Bytes kept.
    pub const CAPACITY: usize = 32;

    /// `name`, cut to [`ShortName::CAPACITY`] bytes at a character boundary.
    pub fn new(name: &str) -> Self {
        let mut end = name.len().min(Self::CAPACITY);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; Self::CAPACITY];
        let kept = name.as_bytes().get(..end).unwrap_or_default();
        if let Some(dst) = bytes.get_mut(..kept.len()) {
            dst.copy_from_slice(kept);
        }
        Self {
            bytes,
            len: u8::try_from(kept.len()).unwrap_or(0),
            cut: end < name.len(),
        }
    }

    /// The name (its first [`ShortName::CAPACITY`] bytes if it was cut).
    pub fn as_str(&self) -> &str {
        let kept = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(kept).unwrap_or_default()
    }

    /// Whether the name was longer than [`ShortName::CAPACITY`] bytes.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Display for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.cut { f.write_str("…") } else { Ok(()) }
    }
}

impl fmt::Debug for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)?;
        if self.cut { f.write_str("…") } else { Ok(()) }
    }
}

impl PartialEq<&str> for ShortName {
    fn eq(&self, other: &&str) -> bool {
        !self.cut && self.as_str() == *other
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ShortName {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

impl From<BundleError> for Error {
    fn from(e: BundleError) -> Self {
        Error::new(ErrorKind::Bundle(e))
    }
}

impl BundleError {
    /// What the person reading the error should do next.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => {
                "the bundle is cut short; copy or flash the whole bundle again"
            }
            Self::Malformed(_) => {
                "rebuild the bundle with `palisade pack` (format in docs/BUNDLE.md)"
            }
            Self::DigestMismatch { .. } => {
                "the module bytes were altered or swapped; rebuild the bundle from the module it should carry"
            }
            Self::BadSignature => {
                "the manifest was altered after signing or the signature is forged; do not install it, re-sign the original"
            }
            Self::UntrustedKey(_) => {
                "add the signer's public key to the host's trusted keys if you trust it, or re-sign with a trusted key"
            }
            Self::MissingSignature => {
                "sign the bundle with a trusted key (this host requires signatures)"
            }
            Self::Manifest(_) => {
                "rebuild the bundle so that its manifest describes the module it carries and asks only for capabilities this host provides"
            }
            Self::NotPrevalidated(_) => {
                "this build has no validator: pack the module with the validating packer (`BundleBuilder::validate`, e.g. pack_rule) for this build's engine configuration and sign it with a trusted key"
            }
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, len } => write!(
                f,
                "the bundle is truncated: {len} bytes, but its header and fields need at least {needed}"
            ),
            Self::Malformed(reason) => write!(f, "malformed bundle: {reason}"),
            Self::DigestMismatch { expected, found } => write!(
                f,
                "the bundle's module bytes have digest {found}, but its manifest names {expected}"
            ),
            Self::BadSignature => {
                f.write_str("the bundle's signature does not verify against its manifest")
            }
            Self::UntrustedKey(key) => write!(
                f,
                "the bundle is signed by key {key}, which this host does not trust"
            ),
            Self::MissingSignature => {
                f.write_str("the bundle is unsigned, and this host requires signed bundles")
            }
            Self::Manifest(m) => write!(f, "the manifest does not match the module: {m}"),
            Self::NotPrevalidated(r) => write!(
                f,
                "this build has no validator and compiles only pre-validated bundles: {r}"
            ),
        }
    }
}

impl fmt::Display for ManifestMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AbiVersion { manifest, module } => write!(
                f,
                "the manifest states ABI version {manifest}, the module declares {module}"
            ),
            Self::UnknownCapability { capability } => write!(
                f,
                "the manifest asks for capability `{capability}`, which this host does not provide"
            ),
            Self::UndeclaredCapability { import, capability } => write!(
                f,
                "the module imports `palisade.{import}` of capability `{capability}`, which the manifest does not ask for"
            ),
        }
    }
}

impl fmt::Display for PrevalidationRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsigned => f.write_str("the bundle is not signed by a trusted key"),
            Self::NoRecord => {
                f.write_str("the manifest records no host-side validation of the module")
            }
            Self::OtherConfiguration { recorded, build } => write!(
                f,
                "the module was validated for engine configuration {recorded:016x}, this build is {build:016x}"
            ),
            Self::OtherModule => {
                f.write_str("the manifest's validation record was made for another module")
            }
        }
    }
}
