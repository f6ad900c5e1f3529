//! [`TracingLog`]: guest log lines as `tracing` events.

use palisade::{LogLevel, LogRecord, LogSink};

/// A [`LogSink`] that emits every guest line as a `tracing` event with target `palisade::guest`,
/// tagged with the tenant and the module's short digest.
///
/// Install any `tracing` subscriber to see them (the `palisade` CLI installs one writing to
/// stderr). The message is the guest's text through [`palisade::Escaped`]: invalid UTF-8
/// replaced, control characters, ANSI escapes and bidi overrides escaped, cut at
/// [`palisade::MAX_LOG_LINE_BYTES`]. So a guest line is always exactly one line of the text
/// format, and with a JSON formatter the `message` string holds the same escaped text (not
/// only JSON-escaped), so a viewer that decodes the JSON and prints it is safe too.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingLog;

impl LogSink for TracingLog {
    fn log(&self, record: &LogRecord<'_>) {
        let message = record.message_escaped();
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
