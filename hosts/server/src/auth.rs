//! API tokens: random, shown once, stored only as SHA-256, compared in constant time.
//!
//! A tenant token reads `pt_<tenant>.<64 hex digits>`; the admin token `pa_<64 hex digits>`.
//! The tenant id in the token only selects which stored hash to compare with: it grants nothing.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a token: what is stored.
pub type TokenHash = [u8; 32];

/// Prefix of tenant tokens.
pub const TENANT_PREFIX: &str = "pt_";
/// Prefix of the admin token.
pub const ADMIN_PREFIX: &str = "pa_";

/// Hashes a token for storage or comparison.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` hashes to `stored`, in time independent of where they differ.
pub fn verify(token: &str, stored: &TokenHash) -> bool {
    hash_token(token).ct_eq(stored).into()
}

fn secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh admin token.
///
/// # Errors
///
/// If the OS has no randomness.
pub fn new_admin_token() -> Result<String, String> {
    Ok(format!("{ADMIN_PREFIX}{}", secret()?))
}

/// A fresh token for `tenant`.
///
/// # Errors
///
/// If the OS has no randomness.
pub fn new_tenant_token(tenant: &str) -> Result<String, String> {
    Ok(format!("{TENANT_PREFIX}{tenant}.{}", secret()?))
}

/// The tenant id a tenant token claims (not yet verified).
pub fn claimed_tenant(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TENANT_PREFIX)?;
    let (tenant, _) = rest.rsplit_once('.')?;
    valid_id(tenant).then_some(tenant)
}

/// Whether `id` is acceptable as a tenant or plugin name: 1–64 of `[a-z0-9_-]`, starting with
/// a letter or digit.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_against_their_own_hash() -> Result<(), String> {
        let a = new_tenant_token("acme")?;
        let b = new_tenant_token("acme")?;
        assert_ne!(a, b, "tokens are random");
        assert!(verify(&a, &hash_token(&a)));
        assert!(!verify(&b, &hash_token(&a)));
        assert_eq!(claimed_tenant(&a), Some("acme"));
        assert_eq!(claimed_tenant("pt_../etc.00"), None);
        assert!(new_admin_token()?.starts_with(ADMIN_PREFIX));
        Ok(())
    }

    #[test]
    fn ids_are_restricted() {
        assert!(valid_id("thermostat-2"));
        for bad in ["", "A", "-x", "a/b", "a.b", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
