//! [`LogLine`]: a guest log message escaped into a fixed buffer on the stack, for sinks that
//! cannot allocate (defmt prints a `{=str}` verbatim, so it must be escaped before).

use core::fmt::Write as _;

use palisade::{Escaped, LogRecord};

/// The longest guest message, in bytes, that one board log line carries: 128. The rest is cut
/// with a visible `…[N bytes cut]` marker. Smaller than the core's
/// [`MAX_LOG_LINE_BYTES`](palisade::MAX_LOG_LINE_BYTES) so that the buffer stays small.
pub const LOG_LINE_BYTES: usize = 128;

/// The buffer a [`LogLine`] takes on the stack: the worst-case escaped length of
/// [`LOG_LINE_BYTES`] (547 bytes).
pub const LOG_LINE_CAPACITY: usize = Escaped::max_output_len(LOG_LINE_BYTES);

/// A guest message escaped by [`Escaped`] (control characters, ANSI escapes, bidi overrides,
/// invalid UTF-8) and cut at [`LOG_LINE_BYTES`], held in a fixed buffer: no allocation.
#[derive(Debug, Clone)]
pub struct LogLine(heapless::String<LOG_LINE_CAPACITY>);

impl LogLine {
    /// Escapes `record`'s message.
    pub fn new(record: &LogRecord<'_>) -> Self {
        let mut text = heapless::String::new();
        // Cannot fail: the capacity is the escaped worst case of the cut message.
        let _ = write!(
            text,
            "{}",
            Escaped::new(record.message).max_bytes(LOG_LINE_BYTES)
        );
        Self(text)
    }

    /// The escaped text: one line, safe to print verbatim.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests;
