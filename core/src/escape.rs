//! [`Escaped`]: guest text made safe for a text log, without allocating.
//!
//! Text that comes from a guest (its log lines, its error messages) is data. Written verbatim,
//! a newline in it starts a line that looks like the host's, an ANSI escape sequence repaints or
//! clears the operator's terminal, and a bidi override makes a line read differently from how
//! it is stored. Every host sink that writes text formats guest text through [`Escaped`].

use core::fmt::{self, Write as _};

/// The longest guest message, in bytes, that one log line carries: 1 KiB. The rest is cut and
/// replaced by a visible `…[N bytes cut]` marker. This bounds each *line*; the per-call total is
/// [`Limits::log_bytes`](crate::Limits::log_bytes).
pub const MAX_LOG_LINE_BYTES: usize = 1024;

/// The longest cut marker, `…[N bytes cut]` with a 20-digit `N`, in bytes.
const MAX_MARKER_BYTES: usize = "…[".len() + 20 + " bytes cut]".len();

/// Guest bytes as one line of safe text: a [`Display`](fmt::Display) adapter that escapes while
/// it writes, so it needs no allocation (it runs on boards too).
///
/// | input | written as |
/// |---|---|
/// | invalid UTF-8 | `U+FFFD` (one per invalid sequence, as [`String::from_utf8_lossy`](alloc::string::String::from_utf8_lossy)) |
/// | `\` | `\\`, so a guest cannot forge an escape either |
/// | newline, carriage return, tab | `\n`, `\r`, `\t` (two characters) |
/// | other C0 controls, ESC (ANSI sequences), DEL | `\x1b` style |
/// | C1 controls (U+0080–U+009F), line and paragraph separators (U+2028, U+2029), bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069) | `\u{85}` style |
/// | anything else | itself |
///
/// Only the first [`max_bytes`](Self::max_bytes) bytes of the input are written (default
/// [`MAX_LOG_LINE_BYTES`]; never splitting a character), followed by `…[N bytes cut]` when some
/// were cut. The output is at most [`Escaped::max_output_len`] bytes.
///
/// ```
/// use palisade::Escaped;
/// let line = Escaped::new(b"ok\n[admin 00000000] error: forged\x1b[2J").to_string();
/// assert_eq!(line, r"ok\n[admin 00000000] error: forged\x1b[2J");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    max_bytes: usize,
}

impl<'a> Escaped<'a> {
    /// Escapes `bytes`, cut at [`MAX_LOG_LINE_BYTES`].
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            max_bytes: MAX_LOG_LINE_BYTES,
        }
    }

    /// Escapes `text` (a guest string already decoded), cut at [`MAX_LOG_LINE_BYTES`].
    pub const fn str(text: &'a str) -> Self {
        Self::new(text.as_bytes())
    }

    /// Cuts the input at `max_bytes` instead (a board with a small log buffer uses less).
    pub const fn max_bytes(self, max_bytes: usize) -> Self {
        Self {
            bytes: self.bytes,
            max_bytes,
        }
    }

    /// The most bytes an [`Escaped`] cut at `max_bytes` writes: 4 per input byte (`\x1b` for
    /// one byte is the widest escape) plus the cut marker. A fixed buffer this large always
    /// holds the whole line.
    pub const fn max_output_len(max_bytes: usize) -> usize {
        max_bytes.saturating_mul(4).saturating_add(MAX_MARKER_BYTES)
    }

    /// The input bytes that are written, and how many are cut.
    fn split(&self) -> (&'a [u8], usize) {
        if self.bytes.len() <= self.max_bytes {
            return (self.bytes, 0);
        }
        let mut keep = self.max_bytes;
        // Back off to a character boundary (at most 3 bytes): a split character would
        // otherwise show as U+FFFD although the guest wrote valid UTF-8.
        let floor = self.max_bytes.saturating_sub(3);
        while keep > floor && self.bytes.get(keep).is_some_and(|b| b & 0xC0 == 0x80) {
            keep -= 1;
        }
        let (kept, cut) = self.bytes.split_at(keep);
        (kept, cut.len())
    }
}

/// How a character is written: `None` if as itself.
fn escape(c: char, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
    Some(match c {
        '\\' => f.write_str("\\\\"),
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        '\0'..='\x1f' | '\x7f' => write!(f, "\\x{:02x}", u32::from(c)),
        '\u{80}'..='\u{9f}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => write!(f, "\\u{{{:x}}}", u32::from(c)),
        _ => return None,
    })
}

/// Writes valid text, copying runs of safe characters in one `write_str` each.
fn write_valid(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut safe_from = 0;
    for (i, c) in text.char_indices() {
        // Probe with a formatter-free check first so safe runs are copied in one piece.
        if !needs_escape(c) {
            continue;
        }
        f.write_str(text.get(safe_from..i).unwrap_or_default())?;
        if let Some(r) = escape(c, f) {
            r?;
        }
        safe_from = i + c.len_utf8();
    }
    f.write_str(text.get(safe_from..).unwrap_or_default())
}

/// Whether [`escape`] rewrites `c`.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\\' | '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kept, cut) = self.split();
        for chunk in kept.utf8_chunks() {
            write_valid(chunk.valid(), f)?;
            if !chunk.invalid().is_empty() {
                f.write_char('\u{FFFD}')?;
            }
        }
        if cut > 0 {
            write!(f, "…[{cut} bytes cut]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
