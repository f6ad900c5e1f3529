//! Bundles: a signed manifest plus the module bytes, in one compact binary (`docs/BUNDLE.md`).
//!
//! The reading side is allocation-free: [`Bundle::new_checked`] parses a borrowed view of a
//! `&[u8]` (a download, or a flash partition on a board), and [`Bundle::verify`] checks the
//! module digest (SHA-256) and the ed25519 signature against a [`TrustStore`] without copying.
//! A bundle that passed [`Bundle::verify`] is a [`VerifiedBundle`]: the only input of the
//! install pipeline ([`Runtime::compile_bundle`](crate::Runtime::compile_bundle): compile, then
//! [`Manifest::check`] against the module), which the registry, the server and the board share.
//! Errors are a small `Copy` enum, [`BundleError`], that converts into [`Error`] as
//! [`ErrorKind::Bundle`]; no refusal formats or allocates.
//!
//! The packing side ([`BundleBuilder`]) allocates the output and is used by the CLI, the
//! server and board test tooling. Signing code is only linked into programs that call it.
//!
//! ```
//! use palisade::{Bundle, BundleBuilder, PublicKey, TrustStore};
//!
//! # fn main() -> Result<(), palisade::Error> {
//! let secret = [7u8; 32]; // in real life: 32 random bytes, kept secret
//! let module = b"\0asm\x01\0\0\0"; // any module bytes
//! let bytes = BundleBuilder::new("thermostat", "1.2.0", module)
//!     .provenance("ci run 4411")
//!     .capability("log")
//!     .sign(&secret)?;
//!
//! let mut trust = TrustStore::require_signatures();
//! trust.add_key(&PublicKey::from_secret(&secret))?;
//! let bundle = Bundle::new_checked(&bytes)?;
//! let verified = bundle.verify(&trust)?;
//! assert_eq!(verified.manifest().name(), "thermostat");
//! assert_eq!(verified.module(), module);
//! # Ok(()) }
//! ```
//!
//! The module is split by concern: `wire` reads the format ([`Bundle`], [`Manifest`],
//! [`VerifiedBundle`]), `check` holds [`Manifest::check`], `trust` the keys and the policy
//! ([`PublicKey`], [`TrustStore`]), and `pack` writes bundles ([`BundleBuilder`], [`assemble`]).
//!
//! [`Error`]: crate::Error
//! [`ErrorKind::Bundle`]: crate::ErrorKind::Bundle
//! [`Bundle`]: crate::Bundle
//! [`Bundle::new_checked`]: crate::Bundle::new_checked
//! [`Bundle::verify`]: crate::Bundle::verify
//! [`BundleBuilder`]: crate::BundleBuilder
//! [`BundleError`]: crate::BundleError
//! [`Manifest`]: crate::Manifest
//! [`Manifest::check`]: crate::Manifest::check
//! [`PublicKey`]: crate::PublicKey
//! [`TrustStore`]: crate::TrustStore
//! [`VerifiedBundle`]: crate::VerifiedBundle

mod check;
pub(crate) mod pack;
pub(crate) mod trust;
pub(crate) mod wire;

// The types are public at the crate root only (`palisade::Bundle`); this module's public
// items are the format's constants and functions.
pub(crate) use crate::error::{BundleError, ManifestMismatch, ShortName};
pub(crate) use crate::key::PublicKey;
pub use pack::{assemble, sign_manifest};
pub use trust::public_key;
pub(crate) use trust::{SignaturePolicy, TrustStore};
pub use wire::SmokeView;
pub(crate) use wire::{Bundle, Manifest, ValidationRecord, VerifiedBundle};

/// The first four bytes of every bundle.
pub const BUNDLE_MAGIC: [u8; 4] = *b"PLSB";
/// The first four bytes of every manifest (what the signature covers starts with them).
pub const MANIFEST_MAGIC: [u8; 4] = *b"PLSM";
/// The bundle format version this crate reads and writes for a manifest without a
/// [`ValidationRecord`].
pub const FORMAT_VERSION: u8 = 1;
/// The bundle format version of a bundle whose manifest ends with a [`ValidationRecord`]
/// (`docs/BUNDLE.md`). Both versions are read; a bundle without a record is still written as
/// version 1, so hosts that only know version 1 keep reading it.
pub const FORMAT_VERSION_VALIDATED: u8 = 2;
/// Length of the fixed bundle header.
pub const HEADER_LEN: usize = 12;
/// Length of the signature block of a signed bundle: public key (32) + signature (64).
pub const SIGNATURE_BLOCK_LEN: usize = 96;
/// Largest manifest (its length is a `u16`).
pub const MAX_MANIFEST_LEN: usize = u16::MAX as usize;

const FLAG_SIGNED: u8 = 1;
