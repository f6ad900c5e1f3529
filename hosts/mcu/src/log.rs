//! Guest log lines to defmt.

use palisade::{LogLevel, LogRecord, LogSink};

use crate::LogLine;

/// A [`LogSink`] that sends guest log lines to defmt, at the guest's level, tagged with the
/// tenant and the module's short digest.
///
/// defmt prints a `{=str}` verbatim on the host, so the message is escaped on the board first,
/// into a [`LogLine`] on the stack ([`LOG_LINE_CAPACITY`](crate::LOG_LINE_CAPACITY) bytes, no
/// allocation): newlines, ANSI escapes and bidi overrides are written as visible escapes and
/// the message is cut at [`LOG_LINE_BYTES`](crate::LOG_LINE_BYTES). A guest line is one line.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefmtLog;

impl LogSink for DefmtLog {
    fn log(&self, record: &LogRecord<'_>) {
        let tenant = record.tenant;
        let digest = record.digest.short().0;
        let line = LogLine::new(record);
        let message = line.as_str();
        match record.level {
            LogLevel::Error => {
                defmt::error!("[{=str} {=[u8;4]:x}] {=str}", tenant, digest, message)
            }
            LogLevel::Warn => {
                defmt::warn!("[{=str} {=[u8;4]:x}] {=str}", tenant, digest, message)
            }
            LogLevel::Info => {
                defmt::info!("[{=str} {=[u8;4]:x}] {=str}", tenant, digest, message)
            }
            LogLevel::Debug => {
                defmt::debug!("[{=str} {=[u8;4]:x}] {=str}", tenant, digest, message)
            }
            LogLevel::Trace => {
                defmt::trace!("[{=str} {=[u8;4]:x}] {=str}", tenant, digest, message)
            }
        }
    }
}
