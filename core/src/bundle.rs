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

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::abi::ABI_VERSION;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind};
use crate::{CompiledModule, Runtime};

/// The first four bytes of every bundle.
pub const BUNDLE_MAGIC: [u8; 4] = *b"PLSB";
/// The first four bytes of every manifest (what the signature covers starts with them).
pub const MANIFEST_MAGIC: [u8; 4] = *b"PLSM";
/// The bundle format version this crate reads and writes.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the fixed bundle header.
pub const HEADER_LEN: usize = 12;
/// Length of the signature block of a signed bundle: public key (32) + signature (64).
pub const SIGNATURE_BLOCK_LEN: usize = 96;
/// Largest manifest (its length is a `u16`).
pub const MAX_MANIFEST_LEN: usize = u16::MAX as usize;

const FLAG_SIGNED: u8 = 1;

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
    /// The manifest does not describe the module it carries ([`Manifest::check`]).
    Manifest(ManifestMismatch),
}

/// How a manifest disagrees with its module or with the host ([`Manifest::check`]).
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

/// A little cursor over a byte slice that reports truncation relative to a base offset.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole bundle, so truncation errors count whole-bundle bytes.
    base: usize,
    /// Length of the whole bundle.
    total: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let end = self.pos.saturating_add(n);
        let out = self.buf.get(self.pos..end).ok_or(BundleError::Truncated {
            needed: self.base.saturating_add(end),
            len: self.total,
        })?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], BundleError> {
        let bytes = self.take(N)?;
        bytes
            .try_into()
            .map_err(|_| BundleError::Malformed("internal length error"))
    }

    fn u8(&mut self) -> Result<u8, BundleError> {
        let [b] = *self.array::<1>()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, BundleError> {
        Ok(u16::from_le_bytes(*self.array::<2>()?))
    }

    fn u32(&mut self) -> Result<u32, BundleError> {
        Ok(u32::from_le_bytes(*self.array::<4>()?))
    }

    fn str_u8(&mut self, what: &'static str) -> Result<&'a str, BundleError> {
        let n = usize::from(self.u8()?);
        core::str::from_utf8(self.take(n)?).map_err(|_| BundleError::Malformed(what))
    }

    fn str_u16(&mut self, what: &'static str) -> Result<&'a str, BundleError> {
        let n = usize::from(self.u16()?);
        core::str::from_utf8(self.take(n)?).map_err(|_| BundleError::Malformed(what))
    }

    fn bytes_u16(&mut self) -> Result<&'a [u8], BundleError> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// The smoke test a manifest asks for: call `entry` with `input`, expect `expected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmokeView<'a> {
    /// The entry point to call.
    pub entry: &'a str,
    /// The input.
    pub input: &'a [u8],
    /// The exact output expected.
    pub expected: &'a [u8],
}

/// A parsed, borrowed view of a manifest. Every field was validated by
/// [`Manifest::new_checked`]; the accessors do not fail.
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    bytes: &'a [u8],
    abi_version: u32,
    digest: Digest,
    name: &'a str,
    version: &'a str,
    provenance: &'a str,
    capability_count: u8,
    capabilities: &'a [u8],
    smoke: Option<SmokeView<'a>>,
}

impl<'a> Manifest<'a> {
    /// Parses and validates a manifest (the bytes a signature covers).
    ///
    /// # Errors
    ///
    /// [`BundleError::Truncated`] or [`BundleError::Malformed`].
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, BundleError> {
        Self::parse(bytes, 0, bytes.len())
    }

    fn parse(bytes: &'a [u8], base: usize, total: usize) -> Result<Self, BundleError> {
        let mut r = Reader {
            buf: bytes,
            pos: 0,
            base,
            total,
        };
        if *r.array::<4>()? != MANIFEST_MAGIC {
            return Err(BundleError::Malformed(
                "the manifest does not start with `PLSM`",
            ));
        }
        let abi_version = r.u32()?;
        let digest = Digest(*r.array::<32>()?);
        let name = r.str_u8("the plugin name is not UTF-8")?;
        if name.is_empty() {
            return Err(BundleError::Malformed("the plugin name is empty"));
        }
        let version = r.str_u8("the version is not UTF-8")?;
        let provenance = r.str_u16("the provenance is not UTF-8")?;
        let capability_count = r.u8()?;
        let caps_start = r.pos;
        for _ in 0..capability_count {
            let cap = r.str_u8("a capability name is not UTF-8")?;
            if cap.is_empty() {
                return Err(BundleError::Malformed("a capability name is empty"));
            }
        }
        let capabilities = bytes.get(caps_start..r.pos).unwrap_or_default();
        let smoke = match r.u8()? {
            0 => None,
            1 => Some(SmokeView {
                entry: r.str_u8("the smoke entry name is not UTF-8")?,
                input: r.bytes_u16()?,
                expected: r.bytes_u16()?,
            }),
            _ => return Err(BundleError::Malformed("the smoke flag is neither 0 nor 1")),
        };
        if r.pos != bytes.len() {
            return Err(BundleError::Malformed(
                "bytes follow the manifest's last field",
            ));
        }
        Ok(Self {
            bytes,
            abi_version,
            digest,
            name,
            version,
            provenance,
            capability_count,
            capabilities,
            smoke,
        })
    }

    /// The raw manifest bytes (what the signature covers).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The ABI version the module declares.
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }

    /// The SHA-256 digest of the module bytes.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The plugin name (never empty).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The plugin version, free-form (for example semver).
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// Where the module came from (free-form: a CI run, a commit, a builder).
    pub fn provenance(&self) -> &'a str {
        self.provenance
    }

    /// The capabilities the module asks for.
    pub fn capabilities(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.capabilities;
        (0..self.capability_count).map_while(move |_| {
            let (&len, tail) = rest.split_first()?;
            let (name, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            core::str::from_utf8(name).ok()
        })
    }

    /// The smoke test, if the manifest has one.
    pub fn smoke(&self) -> Option<SmokeView<'a>> {
        self.smoke
    }
}

/// A parsed, borrowed view of a bundle: header, manifest, optional signature, module bytes.
#[derive(Debug, Clone, Copy)]
pub struct Bundle<'a> {
    manifest: Manifest<'a>,
    signer: Option<(&'a [u8; 32], &'a [u8; 64])>,
    module: &'a [u8],
    len: usize,
}

impl<'a> Bundle<'a> {
    /// Parses a bundle that fills `bytes` exactly. Structure only: call [`Bundle::verify`]
    /// before trusting it.
    ///
    /// # Errors
    ///
    /// [`BundleError::Truncated`] if the bytes end early, [`BundleError::Malformed`] for
    /// anything else out of format (including bytes after the module).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let bundle = Self::new_checked_prefix(bytes)?;
        if bundle.len != bytes.len() {
            return Err(BundleError::Malformed("bytes follow the module"));
        }
        Ok(bundle)
    }

    /// Parses a bundle at the start of `bytes` and ignores what follows it: for a flash
    /// partition, whose erased tail follows the bundle. [`Bundle::len`] says where it ends.
    ///
    /// # Errors
    ///
    /// As [`Bundle::new_checked`], except that trailing bytes are allowed.
    pub fn new_checked_prefix(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let total = bytes.len();
        let mut r = Reader {
            buf: bytes,
            pos: 0,
            base: 0,
            total,
        };
        if *r.array::<4>()? != BUNDLE_MAGIC {
            return Err(BundleError::Malformed(
                "not a Palisade bundle (it does not start with `PLSB`)",
            ));
        }
        if r.u8()? != FORMAT_VERSION {
            return Err(BundleError::Malformed(
                "unsupported bundle format version (this host reads version 1)",
            ));
        }
        let flags = r.u8()?;
        if flags & !FLAG_SIGNED != 0 {
            return Err(BundleError::Malformed("unknown flag bits are set"));
        }
        let manifest_len = usize::from(r.u16()?);
        let module_len = usize::try_from(r.u32()?)
            .map_err(|_| BundleError::Malformed("the module length does not fit this host"))?;
        let manifest_start = r.pos;
        let manifest_bytes = r.take(manifest_len)?;
        let signer = if flags & FLAG_SIGNED != 0 {
            Some((r.array::<32>()?, r.array::<64>()?))
        } else {
            None
        };
        let module = r.take(module_len)?;
        let manifest = Manifest::parse(manifest_bytes, manifest_start, total)?;
        Ok(Self {
            manifest,
            signer,
            module,
            len: r.pos,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest<'a> {
        &self.manifest
    }

    /// The module bytes.
    pub fn module(&self) -> &'a [u8] {
        self.module
    }

    /// The signer's public key, if the bundle is signed.
    pub fn signer(&self) -> Option<PublicKey> {
        self.signer.map(|(k, _)| PublicKey(*k))
    }

    /// The bundle's length in bytes (header to the end of the module).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a bundle has at least a header. Present for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks the bundle against `trust`: a signature if present (or required by the
    /// policy) must come from a trusted key and verify over the manifest, and the module
    /// bytes must hash to the manifest's digest. Allocation-free. The [`VerifiedBundle`] it
    /// returns is what the install pipeline takes, so no host can skip this step.
    ///
    /// # Errors
    ///
    /// [`BundleError::MissingSignature`], [`BundleError::UntrustedKey`],
    /// [`BundleError::BadSignature`] or [`BundleError::DigestMismatch`], checked in that order.
    pub fn verify(&self, trust: &TrustStore) -> Result<VerifiedBundle<'a>, BundleError> {
        match self.signer {
            None if trust.policy == SignaturePolicy::Required => {
                return Err(BundleError::MissingSignature);
            }
            None => {}
            Some((key, signature)) => {
                let verifying = trust
                    .keys
                    .iter()
                    .find(|k| k.as_bytes() == key)
                    .ok_or(BundleError::UntrustedKey(PublicKey(*key)))?;
                verifying
                    .verify_strict(self.manifest.as_bytes(), &Signature::from_bytes(signature))
                    .map_err(|_| BundleError::BadSignature)?;
            }
        }
        let found = Digest::of(self.module);
        if found != self.manifest.digest {
            return Err(BundleError::DigestMismatch {
                expected: self.manifest.digest,
                found,
            });
        }
        Ok(VerifiedBundle { bundle: *self })
    }
}

/// A bundle that passed [`Bundle::verify`]: its signature (if any, or as the policy
/// requires) comes from a trusted key, and its module bytes hash to the manifest's digest.
/// Only [`Bundle::verify`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedBundle<'a> {
    bundle: Bundle<'a>,
}

impl<'a> VerifiedBundle<'a> {
    /// The bundle.
    pub fn bundle(&self) -> &Bundle<'a> {
        &self.bundle
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest<'a> {
        &self.bundle.manifest
    }

    /// The module bytes.
    pub fn module(&self) -> &'a [u8] {
        self.bundle.module
    }

    /// The signer's public key, if the bundle is signed.
    pub fn signer(&self) -> Option<PublicKey> {
        self.bundle.signer()
    }
}

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

/// An ed25519 public key: who signed a bundle, or whom a host trusts. Displays and parses
/// ([`core::str::FromStr`]) as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key with these 32 bytes. Whether they are a valid ed25519 point is checked where
    /// the key is used ([`TrustStore::add_key`]).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The public key of a 32-byte ed25519 secret key (seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret).verifying_key().to_bytes())
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (either case), as [`PublicKey`]'s `Display` writes them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if `hex` is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        Digest::from_hex(hex.trim())
            .map(|d| Self(d.0))
            .ok_or_else(|| Error::config("a public key is 64 hex digits (32 bytes)"))
    }
}

impl From<[u8; 32]> for PublicKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl core::str::FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_hex(s)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PublicKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]:x}", self.0);
    }
}

/// Whether a host accepts unsigned bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePolicy {
    /// Every bundle must be signed by a trusted key.
    Required,
    /// Unsigned bundles are accepted. A bundle that *is* signed must still be signed by a
    /// trusted key and verify: a signature is never ignored.
    Optional,
}

/// The public keys a host trusts to sign bundles, and its [`SignaturePolicy`].
#[derive(Debug, Clone)]
pub struct TrustStore {
    keys: Vec<VerifyingKey>,
    policy: SignaturePolicy,
}

impl TrustStore {
    /// An empty store with the given policy.
    pub fn new(policy: SignaturePolicy) -> Self {
        Self {
            keys: Vec::new(),
            policy,
        }
    }

    /// An empty store that requires signatures.
    pub fn require_signatures() -> Self {
        Self::new(SignaturePolicy::Required)
    }

    /// An empty store that accepts unsigned bundles (for development).
    pub fn signatures_optional() -> Self {
        Self::new(SignaturePolicy::Optional)
    }

    /// Trusts the ed25519 public key `key`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if the bytes are not a valid ed25519 public key.
    pub fn add_key(&mut self, key: &PublicKey) -> Result<(), Error> {
        let verifying = VerifyingKey::from_bytes(&key.0)
            .map_err(|_| Error::config("the trusted key is not a valid ed25519 public key"))?;
        if !self.is_trusted(key) {
            self.keys.push(verifying);
        }
        Ok(())
    }

    /// Whether `key` is trusted.
    pub fn is_trusted(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| *k.as_bytes() == key.0)
    }

    /// The policy.
    pub fn policy(&self) -> SignaturePolicy {
        self.policy
    }
}

/// The ed25519 public key of a 32-byte secret key (seed): [`PublicKey::from_secret`].
pub fn public_key(secret: &[u8; 32]) -> PublicKey {
    PublicKey::from_secret(secret)
}

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

    /// The manifest bytes (what a signature covers), for signing elsewhere (an HSM, a
    /// signing service) and then [`assemble`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if a field is too long for the format or a name is empty.
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
/// the module bytes. No check is made that they belong together: [`Bundle::verify`] does that.
///
/// # Errors
///
/// [`ErrorKind::Config`] if the manifest is longer than 65535 bytes or the module than 4 GiB.
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
    out.push(FORMAT_VERSION);
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

impl fmt::Display for Manifest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (abi {}, digest {})",
            self.name,
            self.version,
            self.abi_version,
            self.digest.short()
        )
    }
}
