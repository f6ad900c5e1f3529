//! Guest log lines to defmt.

use palisade::{LogLevel, LogRecord, LogSink};

/// A [`LogSink`] that sends guest log lines to defmt, at the guest's level, tagged with the
/// tenant and the module's short digest. The message is printed as a byte string (no
/// formatting on the board: defmt encodes, the host decodes).
#[derive(Debug, Default, Clone, Copy)]
pub struct DefmtLog;

impl LogSink for DefmtLog {
    fn log(&self, record: &LogRecord<'_>) {
        let tenant = record.tenant;
        let digest = record.digest.short().0;
        let message = record.message;
        match record.level {
            LogLevel::Error => {
                defmt::error!("[{=str} {=[u8;4]:x}] {=[u8]:a}", tenant, digest, message)
            }
            LogLevel::Warn => {
                defmt::warn!("[{=str} {=[u8;4]:x}] {=[u8]:a}", tenant, digest, message)
            }
            LogLevel::Info => {
                defmt::info!("[{=str} {=[u8;4]:x}] {=[u8]:a}", tenant, digest, message)
            }
            LogLevel::Debug => {
                defmt::debug!("[{=str} {=[u8;4]:x}] {=[u8]:a}", tenant, digest, message)
            }
            LogLevel::Trace => {
                defmt::trace!("[{=str} {=[u8;4]:x}] {=[u8]:a}", tenant, digest, message)
            }
        }
    }
}
