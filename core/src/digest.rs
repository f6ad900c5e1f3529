//! Content digests: every module is known by the SHA-256 of its bytes.

use core::fmt;

use sha2::{Digest as _, Sha256};

/// The SHA-256 digest of a module's bytes: its identity in reports, logs and the registry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 4 bytes as 8 lower-case hex digits, for log tags.
    pub fn short(&self) -> ShortDigest {
        let mut s = [0u8; 4];
        s.copy_from_slice(self.0.get(..4).unwrap_or(&[0; 4]));
        ShortDigest(s)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (&[hi, lo], _) = pair.split_first_chunk::<2>()?;
            *o = (hex_val(hi)? << 4) | hex_val(lo)?;
        }
        Some(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

#[cfg(feature = "defmt")]
impl defmt::Format for Digest {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]:x}", self.0);
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(")?;
        write_hex(f, &self.0)?;
        write!(f, ")")
    }
}

/// The first 4 bytes of a [`Digest`], displayed as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ShortDigest(pub [u8; 4]);

impl fmt::Display for ShortDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
