//! Reading a bundle: the allocation-free parser ([`Bundle::new_checked`]), the manifest's
//! fields, and verification ([`Bundle::verify`] → [`VerifiedBundle`]).

use core::fmt;

use ed25519_dalek::Signature;

use crate::digest::Digest;

use super::{
    BUNDLE_MAGIC, BundleError, FLAG_SIGNED, FORMAT_VERSION, FORMAT_VERSION_VALIDATED,
    MANIFEST_MAGIC, PublicKey, SignaturePolicy, TrustStore,
};

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

    fn u64(&mut self) -> Result<u64, BundleError> {
        Ok(u64::from_le_bytes(*self.array::<8>()?))
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

/// The manifest's record that the packer validated the module with the full validator before
/// signing (`BundleBuilder::validate`): the validating engine's configuration fingerprint
/// ([`Runtime::config_fingerprint`](crate::Runtime::config_fingerprint)) and a binding of that
/// fingerprint to the module digest. The validating build ignores it; a build without the
/// core's `validate` feature compiles only bundles signed by a trusted key whose record matches
/// its own fingerprint and the manifest's digest (`docs/EMBEDDED.md`, the pre-validated profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationRecord {
    fingerprint: u64,
    binding: Digest,
}

impl ValidationRecord {
    /// Length of the record in the manifest: kind (1) + fingerprint (8) + binding (32).
    pub const LEN: usize = 41;
    /// The record kind byte: validated by wasmi's validator with the named configuration.
    pub const KIND_VALIDATED: u8 = 1;

    /// The record for `module_digest` validated with the configuration `fingerprint`. Only the
    /// packer should write one, after validating (`BundleBuilder::validate`): the record is a
    /// claim, and a trusted signature over it is what a build without a validator relies on.
    #[cfg(feature = "validate")]
    pub(crate) fn new(fingerprint: u64, module_digest: &Digest) -> Self {
        Self {
            fingerprint,
            binding: Self::bind(fingerprint, module_digest),
        }
    }

    /// SHA-256 over `PLSV`, the fingerprint (u64 LE) and the module digest.
    fn bind(fingerprint: u64, module_digest: &Digest) -> Digest {
        let mut input = [0u8; 44];
        let (magic, rest) = input.split_at_mut(4);
        let (fp, digest) = rest.split_at_mut(8);
        magic.copy_from_slice(b"PLSV");
        fp.copy_from_slice(&fingerprint.to_le_bytes());
        digest.copy_from_slice(module_digest.as_bytes());
        Digest::of(&input)
    }

    /// The fingerprint of the engine configuration the module was validated with.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The binding: SHA-256 of `PLSV`, the fingerprint and the module digest.
    pub fn binding(&self) -> Digest {
        self.binding
    }

    /// Whether the record was made for the module with digest `module_digest` (whatever the
    /// configuration it names).
    pub fn binds(&self, module_digest: &Digest) -> bool {
        self.binding == Self::bind(self.fingerprint, module_digest)
    }

    /// The record as the manifest stores it.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let (kind, rest) = out.split_at_mut(1);
        let (fp, binding) = rest.split_at_mut(8);
        kind.copy_from_slice(&[Self::KIND_VALIDATED]);
        fp.copy_from_slice(&self.fingerprint.to_le_bytes());
        binding.copy_from_slice(self.binding.as_bytes());
        out
    }
}

/// A parsed, borrowed view of a manifest. Every field was validated by
/// [`Manifest::new_checked`]; the accessors do not fail.
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) abi_version: u32,
    pub(super) digest: Digest,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    pub(super) provenance: &'a str,
    pub(super) capability_count: u8,
    pub(super) capabilities: &'a [u8],
    pub(super) smoke: Option<SmokeView<'a>>,
    pub(super) validation: Option<ValidationRecord>,
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
        // Format version 2: the manifest may end with a validation record.
        let validation = if r.pos == bytes.len() {
            None
        } else {
            if r.u8()? != ValidationRecord::KIND_VALIDATED {
                return Err(BundleError::Malformed(
                    "unknown validation record kind after the manifest's smoke test",
                ));
            }
            Some(ValidationRecord {
                fingerprint: r.u64()?,
                binding: Digest(*r.array::<32>()?),
            })
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
            validation,
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

    /// The record of the packer's validation, if the manifest has one (format version 2).
    pub fn validation(&self) -> Option<ValidationRecord> {
        self.validation
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
        let version = r.u8()?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_VALIDATED {
            return Err(BundleError::Malformed(
                "unsupported bundle format version (this host reads versions 1 and 2)",
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
        if manifest.validation.is_some() != (version == FORMAT_VERSION_VALIDATED) {
            return Err(BundleError::Malformed(
                "a version 2 bundle's manifest, and only it, ends with a validation record",
            ));
        }
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
        self.signer.map(|(k, _)| PublicKey::from(*k))
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
            None if trust.policy() == SignaturePolicy::Required => {
                return Err(BundleError::MissingSignature);
            }
            None => {}
            Some((key, signature)) => {
                let verifying = trust
                    .keys
                    .iter()
                    .find(|k| k.as_bytes() == key)
                    .ok_or(BundleError::UntrustedKey(PublicKey::from(*key)))?;
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
