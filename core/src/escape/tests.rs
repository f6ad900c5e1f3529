//! Unit tests of [`Escaped`]: each class of character, and the cut.

use alloc::string::{String, ToString as _};
use alloc::vec;

use super::{Escaped, MAX_LOG_LINE_BYTES, MAX_MARKER_BYTES};

fn esc(bytes: &[u8]) -> String {
    Escaped::new(bytes).to_string()
}

#[test]
fn plain_text_and_unicode_are_written_as_they_are() {
    assert_eq!(
        esc(b"temperature 21.5 C, mode=heat"),
        "temperature 21.5 C, mode=heat"
    );
    assert_eq!(esc("grüße 🌡 日本".as_bytes()), "grüße 🌡 日本");
    assert_eq!(esc(b""), "");
}

#[test]
fn newline_carriage_return_and_tab_become_two_characters() {
    assert_eq!(
        esc(b"ok\n[admin 00000000] error: forged line"),
        r"ok\n[admin 00000000] error: forged line"
    );
    assert_eq!(esc(b"a\rb\tc"), r"a\rb\tc");
}

#[test]
fn backslash_is_doubled_so_an_escape_cannot_be_forged() {
    // A guest writing the two characters `\n` must not look like one escaped newline.
    assert_eq!(esc(br"a\nb"), r"a\\nb");
    assert_ne!(esc(br"a\nb"), esc(b"a\nb"));
}

#[test]
fn other_c0_controls_escape_and_del_are_hex_escaped() {
    assert_eq!(esc(b"\x1b[2J\x1b[31mred"), r"\x1b[2J\x1b[31mred");
    assert_eq!(
        esc(b"\0\x07\x08\x0b\x0c\x1f\x7f"),
        r"\x00\x07\x08\x0b\x0c\x1f\x7f"
    );
}

#[test]
fn c1_controls_and_line_separators_are_unicode_escaped() {
    // U+009B is the one-character CSI: an ANSI sequence without ESC.
    assert_eq!(esc("\u{9b}2J".as_bytes()), r"\u{9b}2J");
    assert_eq!(esc("\u{80}\u{85}\u{9f}".as_bytes()), r"\u{80}\u{85}\u{9f}");
    assert_eq!(
        esc("a\u{2028}b\u{2029}c".as_bytes()),
        r"a\u{2028}b\u{2029}c"
    );
    // U+00A0 (no-break space) is printable and stays.
    assert_eq!(esc("\u{a0}".as_bytes()), "\u{a0}");
}

#[test]
fn bidi_overrides_and_isolates_are_unicode_escaped() {
    for (c, want) in [
        ('\u{202a}', r"\u{202a}"),
        ('\u{202b}', r"\u{202b}"),
        ('\u{202c}', r"\u{202c}"),
        ('\u{202d}', r"\u{202d}"),
        ('\u{202e}', r"\u{202e}"),
        ('\u{2066}', r"\u{2066}"),
        ('\u{2067}', r"\u{2067}"),
        ('\u{2068}', r"\u{2068}"),
        ('\u{2069}', r"\u{2069}"),
    ] {
        let mut s = String::from("x");
        s.push(c);
        s.push('y');
        assert_eq!(esc(s.as_bytes()), alloc::format!("x{want}y"));
    }
    // Neighbours are ordinary characters.
    assert_eq!(
        esc("\u{2027}\u{202f}\u{2065}\u{206a}".as_bytes()),
        "\u{2027}\u{202f}\u{2065}\u{206a}"
    );
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    assert_eq!(esc(b"a\xffb\xc3"), "a\u{FFFD}b\u{FFFD}");
    assert_eq!(esc(b"\xf0\x9f\x8c"), "\u{FFFD}");
}

#[test]
fn no_output_contains_a_control_character() {
    let all: alloc::vec::Vec<u8> = (0..=255u8).collect();
    let out = esc(&all);
    assert!(
        !out.chars()
            .any(|c| c.is_control() || ('\u{2028}'..='\u{202e}').contains(&c)),
        "{out:?}"
    );
    assert!(!out.contains('\n'));
}

#[test]
fn a_long_message_is_cut_at_the_bound_with_a_visible_marker() {
    let long = vec![b'a'; MAX_LOG_LINE_BYTES + 500];
    let out = esc(&long);
    let mut want = "a".repeat(MAX_LOG_LINE_BYTES);
    want.push_str("…[500 bytes cut]");
    assert_eq!(out, want);
    // Exactly at the bound nothing is cut.
    assert_eq!(
        esc(&vec![b'a'; MAX_LOG_LINE_BYTES]),
        "a".repeat(MAX_LOG_LINE_BYTES)
    );
}

#[test]
fn the_cut_never_splits_a_character() {
    // "é" is two bytes; with a bound of 3 the second "é" would be split.
    let out = Escaped::new("aéé".as_bytes()).max_bytes(4).to_string();
    assert_eq!(out, "aé…[2 bytes cut]");
    let out = Escaped::new("🌡🌡".as_bytes()).max_bytes(6).to_string();
    assert_eq!(out, "🌡…[4 bytes cut]");
}

#[test]
fn output_never_exceeds_the_documented_bound() {
    let worst = vec![0x1bu8; MAX_LOG_LINE_BYTES * 3];
    let out = esc(&worst);
    assert!(
        out.len() <= Escaped::max_output_len(MAX_LOG_LINE_BYTES),
        "{}",
        out.len()
    );
    assert!(out.ends_with("…[2048 bytes cut]"), "{out}");
    assert!(MAX_MARKER_BYTES >= "…[18446744073709551615 bytes cut]".len());
}

#[test]
fn a_log_record_displays_as_one_line_tagged_by_the_host() {
    let digest = crate::Digest::of(b"module");
    let record = crate::LogRecord {
        tenant: "acme",
        digest: &digest,
        level: crate::LogLevel::Info,
        message: b"ok\n[admin 00000000] error: forged line\x1b[2J",
        extensions: &crate::Extensions::new(),
    };
    let line = record.to_string();
    assert_eq!(
        line,
        alloc::format!(
            r"[acme {}] info: ok\n[admin 00000000] error: forged line\x1b[2J",
            digest.short()
        )
    );
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn a_guest_error_message_is_escaped_in_the_error_text() {
    let e = crate::Error::new(crate::ErrorKind::GuestError {
        code: 7,
        message: String::from("bad\n[admin 00000000] error: forged\x1b[2J"),
    });
    let text = e.to_string();
    assert!(
        text.contains(r"bad\n[admin 00000000] error: forged\x1b[2J"),
        "{text}"
    );
    assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
}
