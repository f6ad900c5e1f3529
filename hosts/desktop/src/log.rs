//! [`TracingLog`]: guest log lines as `tracing` events.

use palisade::{LogLevel, LogRecord, LogSink};

/// A [`LogSink`] that emits every guest line as a `tracing` event with target `palisade::guest`,
/// tagged with the tenant and the module's short digest.
///
/// Install any `tracing` subscriber to see them (the `palisade` CLI installs one writing to
/// stderr). Invalid UTF-8 in a line is replaced, never rejected.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingLog;

impl LogSink for TracingLog {
    fn log(&self, record: &LogRecord<'_>) {
        let message = String::from_utf8_lossy(record.message);
        let digest = record.digest.short().to_string();
        let tenant = record.tenant;
        match record.level {
            LogLevel::Error => {
                tracing::error!(target: "palisade::guest", tenant, digest, "{message}");
            }
            LogLevel::Warn => {
                tracing::warn!(target: "palisade::guest", tenant, digest, "{message}");
            }
            LogLevel::Info => {
                tracing::info!(target: "palisade::guest", tenant, digest, "{message}");
            }
            LogLevel::Debug => {
                tracing::debug!(target: "palisade::guest", tenant, digest, "{message}");
            }
            LogLevel::Trace => {
                tracing::trace!(target: "palisade::guest", tenant, digest, "{message}");
            }
        }
    }
}
