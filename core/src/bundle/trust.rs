//! Whom a host trusts: [`SignaturePolicy`] and [`TrustStore`] (of [`PublicKey`]s).

use alloc::vec::Vec;

use ed25519_dalek::VerifyingKey;

use crate::error::Error;
use crate::key::PublicKey;

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
        let verifying = VerifyingKey::from_bytes(key.as_bytes())
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
        self.keys.iter().any(|k| k.as_bytes() == key.as_bytes())
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
