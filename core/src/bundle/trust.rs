//! Whom a host trusts: [`PublicKey`], [`SignaturePolicy`] and [`TrustStore`].

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::digest::Digest;
use crate::error::Error;

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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `hex` is not 64 hex digits.
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
    pub(super) keys: Vec<VerifyingKey>,
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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if the bytes are not a valid ed25519 public key.
    pub fn add_key(&mut self, key: &PublicKey) -> Result<(), Error> {
        let verifying = VerifyingKey::from_bytes(&key.0)
            .map_err(|_| Error::config("the trusted key is not a valid ed25519 public key"))?;
        if !self.is_trusted(key) {
            // One key at a time, exactly: a first `push` would reserve four (a 192-byte
            // `VerifyingKey` each), 576 bytes of a board's heap never used.
            self.keys.reserve_exact(1);
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
