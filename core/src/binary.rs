//! The little of the WebAssembly binary format the core reads itself, without wasmparser: the
//! module header, top-level sections and custom sections by name. Used by the start-function
//! rewrite ([`crate::start`]) and to find the `palisade.abi` section ([`crate::abi`]), which the
//! core reads from the bytes so that wasmi need not keep a module's custom sections (the engine
//! is configured with `ignore_custom_sections`: a guest's `name` or `producers` section would
//! otherwise stay on the heap for as long as the module is loaded).
//!
//! Every read is bounds-checked and nothing here panics, whatever the bytes.

use alloc::vec::Vec;

pub(crate) const HEADER_LEN: usize = 8;
/// `\0asm`, version 1.
pub(crate) const HEADER: [u8; HEADER_LEN] = *b"\0asm\x01\0\0\0";
pub(crate) const CUSTOM_SECTION: u8 = 0;

/// A reader of the module bytes that never panics: every read is bounds-checked.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// An unsigned LEB128 `u32` as the binary format allows it: at most 5 bytes, no bits past
    /// bit 31 (non-minimal encodings are valid).
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let mut result: u32 = 0;
        for i in 0..5u32 {
            let b = self.byte()?;
            if i == 4 && b & 0xF0 != 0 {
                return None;
            }
            result |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Some(result);
            }
        }
        None
    }

    pub(crate) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// A name: its LEB128 length, then its bytes (not checked for UTF-8).
    pub(crate) fn name(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// Appends `v` as a minimal unsigned LEB128.
pub(crate) fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Where one top-level section lies in the module bytes.
#[derive(Clone, Copy)]
pub(crate) struct Section {
    pub(crate) id: u8,
    /// Start of the section (its id byte).
    pub(crate) start: usize,
    /// The payload, as a range of the module bytes.
    pub(crate) payload: (usize, usize),
}

/// The module's header or a section's header or length is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The top-level sections of a module in order, after its header. Yields one `Err` at the
/// first malformed header or section and stops there.
pub(crate) struct Sections<'a> {
    r: Reader<'a>,
    /// The header was wrong: the first item is that error.
    bad_header: bool,
    done: bool,
}

pub(crate) fn sections(bytes: &[u8]) -> Sections<'_> {
    let bad_header = bytes.get(..HEADER_LEN) != Some(&HEADER[..]);
    Sections {
        r: Reader {
            bytes,
            pos: HEADER_LEN.min(bytes.len()),
        },
        bad_header,
        done: false,
    }
}

impl Iterator for Sections<'_> {
    type Item = Result<Section, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bad_header {
            self.bad_header = false;
            self.done = true;
            return Some(Err(Malformed));
        }
        if self.done || self.r.at_end() {
            return None;
        }
        let start = self.r.pos;
        let section = self.r.byte().and_then(|id| {
            let len = self.r.u32()? as usize;
            let from = self.r.pos;
            self.r.take(len)?;
            Some(Section {
                id,
                start,
                payload: (from, from + len),
            })
        });
        if section.is_none() {
            self.done = true;
        }
        Some(section.ok_or(Malformed))
    }
}

/// The contents (after the name) of every custom section called `name`, in order. A malformed
/// section, or a custom section whose name runs past its end, is an error.
pub(crate) fn custom_sections<'a>(
    bytes: &'a [u8],
    name: &'a str,
) -> impl Iterator<Item = Result<&'a [u8], Malformed>> + 'a {
    sections(bytes).filter_map(move |s| {
        let s = match s {
            Ok(s) if s.id == CUSTOM_SECTION => s,
            Ok(_) => return None,
            Err(e) => return Some(Err(e)),
        };
        let Some(payload) = bytes.get(s.payload.0..s.payload.1) else {
            return Some(Err(Malformed));
        };
        let mut r = Reader::new(payload);
        match r.name() {
            Some(n) if n == name.as_bytes() => Some(payload.get(r.pos..).ok_or(Malformed)),
            Some(_) => None,
            None => Some(Err(Malformed)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(sections: &[(u8, &[u8])]) -> Vec<u8> {
        let mut m = HEADER.to_vec();
        for (id, payload) in sections {
            m.push(*id);
            push_u32(&mut m, payload.len() as u32);
            m.extend_from_slice(payload);
        }
        m
    }

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        push_u32(&mut p, name.len() as u32);
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn custom_sections_by_name_in_order_among_others() {
        let abi = custom("palisade.abi", &[1, 0, 0, 0]);
        let other = custom("name", b"xyz");
        let again = custom("palisade.abi", &[2]);
        let m = module(&[(1, &[0]), (0, &abi), (0, &other), (0, &again)]);
        let found: Vec<_> = custom_sections(&m, "palisade.abi").collect();
        assert_eq!(found, [Ok(&[1u8, 0, 0, 0][..]), Ok(&[2u8][..])]);
        assert_eq!(custom_sections(&m, "absent").count(), 0);
    }

    #[test]
    #[expect(clippy::indexing_slicing, reason = "the test cuts the module it built")]
    fn malformed_structure_is_an_error_never_a_panic() {
        // A bad header.
        assert_eq!(
            custom_sections(b"\0asm\x02\0\0\0", "x").collect::<Vec<_>>(),
            [Err(Malformed)]
        );
        assert_eq!(sections(b"").collect::<Vec<_>>().len(), 1);
        // A section longer than the bytes: one error, then the iterator ends.
        let mut m = module(&[(0, &custom("a", b""))]);
        m.extend_from_slice(&[0, 9, 1]);
        let found: Vec<_> = custom_sections(&m, "a").collect();
        assert_eq!(found, [Ok(&[][..]), Err(Malformed)]);
        // A custom section whose name runs past its payload.
        let m = module(&[(0, &[5, b'a'])]);
        assert_eq!(
            custom_sections(&m, "a").collect::<Vec<_>>(),
            [Err(Malformed)]
        );
        // A length of more than 32 bits.
        let mut m = HEADER.to_vec();
        m.extend_from_slice(&[0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(sections(&m).collect::<Vec<_>>().len(), 1);
        // Every truncation of a valid module ends in at most one error.
        let full = module(&[(0, &custom("palisade.abi", &[1, 0, 0, 0])), (1, &[0])]);
        for end in 0..full.len() {
            let items: Vec<_> = sections(&full[..end]).collect();
            assert!(items.iter().filter(|s| s.is_err()).count() <= 1, "at {end}");
        }
    }
}
