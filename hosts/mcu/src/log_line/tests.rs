//! The board's escaped log line.

use alloc::format;

use palisade::{Digest, Extensions, LogLevel, LogRecord};

use super::{LOG_LINE_BYTES, LogLine};

fn line(message: &[u8]) -> LogLine {
    let digest = Digest::of(b"m");
    LogLine::new(&LogRecord {
        tenant: "board",
        digest: &digest,
        level: LogLevel::Info,
        message,
        extensions: &Extensions::new(),
    })
}

#[test]
fn a_forged_line_and_ansi_escapes_become_one_escaped_line() {
    let l = line(b"ok\n[admin 00000000] error: forged line\x1b[2J");
    assert_eq!(
        l.as_str(),
        r"ok\n[admin 00000000] error: forged line\x1b[2J"
    );
}

#[test]
fn the_worst_case_fits_and_is_cut_with_a_marker() {
    let worst = [0x1bu8; 4 * LOG_LINE_BYTES];
    let l = line(&worst);
    let want = format!(
        "{}…[{} bytes cut]",
        r"\x1b".repeat(LOG_LINE_BYTES),
        3 * LOG_LINE_BYTES
    );
    assert_eq!(l.as_str(), want);
}
