//! The example guests, built from source by `palisade-guest-artifacts`, behave as their docs say
//! when run through Palisade.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation fails the test"
)]

mod languages;
mod simd;

use palisade::{ErrorKind, Limits};
use palisade_guest_artifacts::{COREMARK, LARGE, SDK_TOUR, SHA256, TEXT_TRANSFORM, THERMOSTAT};
use palisade_tests::{compile, error_kind, host, tenant, tenant_with};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

const HEAT: u8 = 1;
const COOL: u8 = 2;
const ALARM: u8 = 4;

fn reading(temp: i32) -> Vec<u8> {
    temp.to_le_bytes().to_vec()
}

#[test]
fn thermostat_applies_hysteresis_and_alarms_with_state_in_kv() {
    let host = host();
    let t = tenant(&host, "house", &["log", "kv.read", "kv.write"]);
    let m = compile(&host, THERMOSTAT);
    let decide = |input: Vec<u8>| host.runtime.call(&m, &t, "decide", &input).result.unwrap();

    assert_eq!(decide(reading(20_000)), [HEAT], "below 20.5 °C: heat");
    assert_eq!(
        decide(reading(20_800)),
        [HEAT],
        "in the band, still heating"
    );
    assert_eq!(decide(reading(21_000)), [0], "setpoint reached: idle");
    assert_eq!(decide(reading(21_400)), [0], "in the band: idle");
    assert_eq!(decide(reading(22_000)), [COOL], "above 21.5 °C: cool");
    assert_eq!(
        decide(reading(30_000)),
        [COOL | ALARM],
        "a jump of 8 °C: alarm"
    );
    assert_eq!(
        decide(reading(36_000)),
        [COOL | ALARM],
        "above 35 °C: alarm"
    );
    let mut with_setpoint = reading(33_000);
    with_setpoint.extend_from_slice(&34_000i32.to_le_bytes());
    assert_eq!(decide(with_setpoint), [HEAT], "setpoint 34 °C: heat");

    // Its state lives in the tenant's kv: another tenant starts afresh.
    let other = tenant(&host, "barn", &["log", "kv.read", "kv.write"]);
    let out = host.runtime.call(&m, &other, "decide", &reading(21_000));
    assert_eq!(out.result.unwrap(), [0]);
    assert_eq!(host.kv.used_bytes("barn"), "thermostat".len() + 9);

    let messages: Vec<String> = host
        .log
        .lines()
        .iter()
        .map(|l| String::from_utf8_lossy(&l.message).into_owned())
        .collect();
    assert!(
        messages.iter().any(|m| m == "thermostat: heating on"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "thermostat: alarm"),
        "{messages:?}"
    );
}

#[test]
fn thermostat_refuses_malformed_input() {
    let host = host();
    let t = tenant(&host, "house", &["log", "kv.read", "kv.write"]);
    let m = compile(&host, THERMOSTAT);
    match error_kind(host.runtime.call(&m, &t, "decide", b"abc")) {
        ErrorKind::GuestError { code: 2, message } => assert!(message.contains("4 bytes")),
        other => panic!("expected BAD_INPUT, got {other:?}"),
    }
}

#[test]
fn thermostat_imports_only_log_and_kv() {
    let host = host();
    let m = compile(&host, THERMOSTAT);
    let mut imports: Vec<&str> = m.info().imports.iter().map(|(n, _)| &**n).collect();
    imports.sort_unstable();
    assert_eq!(imports, ["kv_get", "kv_set", "log", "output"]);
}

#[test]
fn text_transform_builds_a_table_of_contents() {
    let host = host();
    let t = tenant(&host, "desk", &[]);
    let m = compile(&host, TEXT_TRANSFORM);
    let md = "# Palisade\n\nA sandbox.\n\n## Why an interpreter?\n\ntext\n\n```\n# not a heading\n```\n### Deep-dive: fuel\n";
    let out = host
        .runtime
        .call(&m, &t, "toc", md.as_bytes())
        .result
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "- [Palisade](#palisade)\n  - [Why an interpreter?](#why-an-interpreter)\n    - [Deep-dive: fuel](#deep-dive-fuel)\n"
    );
    let kind = error_kind(host.runtime.call(&m, &t, "toc", &[0xff, 0xfe]));
    assert!(
        matches!(kind, ErrorKind::GuestError { code: 2, .. }),
        "{kind:?}"
    );
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stats {
    words: u32,
    lines: u32,
    headings: u32,
    sections: Vec<Section>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Section {
    level: u8,
    title: String,
    words: u32,
}

#[test]
fn text_transform_counts_words_over_postcard() {
    let host = host();
    let t = tenant(&host, "desk", &[]);
    let m = compile(&host, TEXT_TRANSFORM);
    let md = String::from("intro words here\n# One\nalpha beta\n## Two\ngamma - delta epsilon\n");
    let input = postcard::to_allocvec(&md).unwrap();
    let out = host.runtime.call(&m, &t, "stats", &input).result.unwrap();
    let stats: Stats = postcard::from_bytes(&out).unwrap();
    assert_eq!(
        stats,
        Stats {
            words: 3 + 1 + 2 + 1 + 3,
            lines: 5,
            headings: 2,
            sections: vec![
                Section {
                    level: 0,
                    title: String::new(),
                    words: 3
                },
                Section {
                    level: 1,
                    title: "One".into(),
                    words: 2
                },
                Section {
                    level: 2,
                    title: "Two".into(),
                    words: 3
                },
            ],
        }
    );
    // Not postcard: the SDK refuses it with BAD_INPUT (2).
    let kind = error_kind(host.runtime.call(&m, &t, "stats", &[0xff; 3]));
    assert!(
        matches!(kind, ErrorKind::GuestError { code: 2, .. }),
        "{kind:?}"
    );
}

#[test]
fn sha256_matches_the_sha2_crate_at_1_kib_and_64_kib() {
    let host = host();
    let limits = Limits::builder()
        .fuel(100_000_000)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "bench", &[], limits);
    let m = compile(&host, SHA256);
    for len in [0usize, 1024, 64 << 10] {
        let input: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let out = host.runtime.call(&m, &t, "digest", &input).result.unwrap();
        assert_eq!(out, sha2::Sha256::digest(&input).as_slice(), "{len} bytes");
    }
    let hex = host.runtime.call(&m, &t, "hex", b"abc").result.unwrap();
    assert_eq!(
        hex,
        b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn coremark_reproduces_the_reference_crcs() {
    let host = host();
    let limits = Limits::builder()
        .fuel(200_000_000)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "bench", &[], limits);
    let m = compile(&host, COREMARK);
    let call = host.runtime.call(&m, &t, "run", &1u32.to_le_bytes());
    let out = call.result.unwrap();
    let crc = |i: usize| u16::from_le_bytes([out[2 * i], out[2 * i + 1]]);
    // EEMBC's known CRCs for the 2K performance run (seeds 0, 0, 0x66).
    assert_eq!(crc(0), 0xe714, "crclist");
    assert_eq!(crc(1), 0x1fd7, "crcmatrix");
    assert_eq!(crc(2), 0x8e3a, "crcstate");
    assert!(call.report.fuel_used > 100_000, "{:?}", call.report);
}

#[test]
fn large_module_compiles_and_runs_any_of_its_functions() {
    let host = host();
    let t = tenant(&host, "bench", &[]);
    let m = compile(&host, LARGE);
    assert!(m.size() >= 1_000_000);
    let run = |i: u32| {
        host.runtime
            .call(&m, &t, "run", &i.to_le_bytes())
            .result
            .unwrap()
    };
    let (a, b) = (run(0), run(2_499));
    assert_eq!(a.len(), 4);
    assert_ne!(a, b, "different functions compute different values");
    assert_eq!(run(2_499), b, "deterministic");
}

/// A host whose `random` capability draws from a seeded generator.
fn host_with_random() -> palisade_tests::Host {
    use std::sync::Arc;
    let log = Arc::new(palisade_tests::RecordingLog::default());
    let kv = Arc::new(palisade::MemoryKv::new());
    let runtime = palisade::Runtime::builder(Arc::new(palisade_tests::StepClock::new(
        std::time::Duration::from_micros(1),
    )))
    .log_sink(log.clone())
    .kv_store(kv.clone())
    .random(Arc::new(palisade::SeededRandom::new(7)))
    .build()
    .unwrap();
    palisade_tests::Host { runtime, log, kv }
}

#[test]
fn sdk_wrappers_reach_clock_random_and_kv() {
    let host = host_with_random();
    let grants = ["clock", "random", "kv.read", "kv.write"];
    let t = tenant(&host, "tour", &grants);
    let m = compile(&host, SDK_TOUR);

    let out = host.runtime.call(&m, &t, "clock", b"").result.unwrap();
    let a = u64::from_le_bytes(out[..8].try_into().unwrap());
    let b = u64::from_le_bytes(out[8..].try_into().unwrap());
    assert!(b > a, "the step clock moves on every reading: {a} then {b}");

    // 10,000 bytes: three `random_fill` calls of at most 4096 bytes each.
    let out = host
        .runtime
        .call(&m, &t, "random", &10_000u32.to_le_bytes())
        .result
        .unwrap();
    assert_eq!(out.len(), 10_000);
    assert!(out[4096..].iter().any(|&b| b != 0), "every chunk is filled");

    let out = host
        .runtime
        .call(&m, &t, "kv_roundtrip", b"k")
        .result
        .unwrap();
    assert_eq!(out, b"1");
    assert_eq!(
        host.kv.used_bytes("tour"),
        0,
        "the round trip deletes its key"
    );

    let input = postcard::to_allocvec(&(u32::MAX, 2u32)).unwrap();
    let out = host.runtime.call(&m, &t, "add", &input).result.unwrap();
    assert_eq!(
        postcard::from_bytes::<u64>(&out).unwrap(),
        u64::from(u32::MAX) + 2
    );
}

#[test]
fn sdk_reports_a_missing_random_source_as_a_capability_error() {
    // The default runtime has no random source: `random_fill` returns HOST (-6), which the SDK
    // turns into a guest error with that code.
    let host = host();
    let t = tenant(&host, "tour", &["clock", "random", "kv.read", "kv.write"]);
    let m = compile(&host, SDK_TOUR);
    let kind = error_kind(host.runtime.call(&m, &t, "random", &16u32.to_le_bytes()));
    assert_eq!(
        kind,
        ErrorKind::GuestError {
            code: -6,
            message: "host failure".into()
        }
    );
}
