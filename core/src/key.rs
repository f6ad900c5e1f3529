//! Signing keys: [`PublicKey`], who signed a bundle or whom a host trusts.
//!
//! Below `error` in the module graph (a refused bundle names its signer's key), so parsing
//! fails with its own small [`InvalidKey`], which converts into [`Error`](crate::Error).

use core::fmt;

use ed25519_dalek::SigningKey;

use crate::digest::Digest;

/// An ed25519 public key: who signed a bundle, or whom a host trusts. Displays and parses
/// ([`core::str::FromStr`]) as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key with these 32 bytes. Whether they are a valid ed25519 point is checked where
    /// the key is used ([`TrustStore::add_key`](crate::TrustStore::add_key)).
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
    /// [`InvalidKey`] if `hex` is not 64 hex digits; it converts into an
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error.
    pub fn from_hex(hex: &str) -> Result<Self, InvalidKey> {
        Digest::from_hex(hex.trim())
            .map(|d| Self(d.0))
            .ok_or(InvalidKey)
    }
}

impl From<[u8; 32]> for PublicKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl core::str::FromStr for PublicKey {
    type Err = InvalidKey;

    fn from_str(s: &str) -> Result<Self, InvalidKey> {
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

/// A public key that is not 64 hex digits ([`PublicKey::from_hex`]); converts into an
/// [`ErrorKind::Config`](crate::ErrorKind::Config) error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

impl fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a public key is 64 hex digits (32 bytes)")
    }
}

impl core::error::Error for InvalidKey {}
