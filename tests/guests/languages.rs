//! The thermostat rule in three languages: the Rust example, the C one on `guests/c/palisade.h`
//! and the AssemblyScript one on `guests/assemblyscript/assembly/palisade.ts`, all built from
//! source by `palisade-guest-artifacts`. Each must give exactly the Rust guest's outputs, log
//! lines and kv state, so a rule can be ported from one language to another unchanged.

use palisade::{ErrorKind, MemoryKv};
use palisade_guest_artifacts::languages::hostile::AS_ABORT;
use palisade_guest_artifacts::{AS_THERMOSTAT, C_THERMOSTAT, THERMOSTAT};
use palisade_tests::{StepClock, compile, host_with, tenant};

use std::sync::Arc;
use std::time::Duration;

const HEAT: u8 = 1;
const COOL: u8 = 2;
const ALARM: u8 = 4;

const GRANTS: [&str; 3] = ["log", "kv.read", "kv.write"];

/// The three builds of the rule, by name.
const BUILDS: [(&str, &[u8]); 3] = [
    ("rust", THERMOSTAT),
    ("c", C_THERMOSTAT),
    ("assemblyscript", AS_THERMOSTAT),
];

fn input(temp: i32, setpoint: Option<i32>) -> Vec<u8> {
    let mut v = temp.to_le_bytes().to_vec();
    v.extend(setpoint.map(i32::to_le_bytes).into_iter().flatten());
    v
}

/// Readings and the flags every build must answer, in order, on one tenant (the answers depend
/// on the state the previous readings left in kv).
fn script() -> Vec<(Vec<u8>, u8)> {
    vec![
        (input(20_000, None), HEAT),
        (input(20_800, None), HEAT),
        (input(21_000, None), 0),
        (input(21_400, None), 0),
        // Just inside the ±0.5 °C band on either side: stays idle.
        (input(21_450, None), 0),
        (input(20_550, None), 0),
        (input(22_000, None), COOL),
        (input(30_000, None), COOL | ALARM),
        (input(36_000, None), COOL | ALARM),
        (input(33_000, Some(34_000)), HEAT),
        // The extremes: the hysteresis band saturates instead of overflowing.
        (input(i32::MIN, Some(i32::MIN)), ALARM),
        (input(i32::MAX, Some(i32::MAX)), ALARM),
        (input(i32::MAX, Some(i32::MIN)), COOL | ALARM),
        (input(4_999, None), HEAT | ALARM),
        (input(35_001, Some(35_001)), ALARM),
    ]
}

/// What one build did on the script: outputs, the log lines without the digest tag.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    outputs: Vec<Vec<u8>>,
    log: Vec<String>,
    kv_bytes: usize,
}

fn run_script(bytes: &[u8]) -> Run {
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::new(),
    );
    let t = tenant(&host, "house", &GRANTS);
    let m = compile(&host, bytes);
    let outputs = script()
        .into_iter()
        .map(|(inp, _)| host.runtime.call(&m, &t, "decide", &inp).result.unwrap())
        .collect();
    let log = host
        .log
        .lines()
        .iter()
        .map(|l| match l.rendered.split_once("] ") {
            Some((_, rest)) => rest.to_owned(),
            None => l.rendered.clone(),
        })
        .collect();
    Run {
        outputs,
        log,
        kv_bytes: host.kv.used_bytes("house"),
    }
}

#[test]
fn c_and_assemblyscript_thermostats_match_the_rust_one_output_for_output() {
    let expected: Vec<Vec<u8>> = script().into_iter().map(|(_, f)| vec![f]).collect();
    let rust = run_script(THERMOSTAT);
    assert_eq!(rust.outputs, expected, "the Rust thermostat");
    assert_eq!(
        rust.log,
        [
            "info: thermostat: heating on",
            "info: thermostat: idle",
            "info: thermostat: cooling on",
            "warn: thermostat: alarm",
            "warn: thermostat: alarm",
            "info: thermostat: heating on",
            "info: thermostat: idle",
            "warn: thermostat: alarm",
            "warn: thermostat: alarm",
            "info: thermostat: cooling on",
            "warn: thermostat: alarm",
            "info: thermostat: heating on",
            "warn: thermostat: alarm",
            "info: thermostat: idle",
            "warn: thermostat: alarm",
        ]
    );
    assert_eq!(rust.kv_bytes, "thermostat".len() + 9);
    for (name, bytes) in &BUILDS[1..] {
        assert_eq!(run_script(bytes), rust, "the {name} thermostat");
    }
}

#[test]
fn the_three_thermostats_share_their_kv_state_format() {
    // One tenant, the builds taking turns: each continues from the state the previous one
    // stored, so the answers are those of one thermostat.
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::new(),
    );
    let t = tenant(&host, "house", &GRANTS);
    let modules: Vec<_> = BUILDS.iter().map(|(_, b)| compile(&host, b)).collect();
    for (i, (inp, flags)) in script().into_iter().enumerate() {
        let out = host
            .runtime
            .call(&modules[i % 3], &t, "decide", &inp)
            .result
            .unwrap();
        assert_eq!(out, [flags], "reading {i} by the {} build", BUILDS[i % 3].0);
    }
}

#[test]
fn c_and_assemblyscript_thermostats_refuse_malformed_input_like_the_rust_one() {
    for (name, bytes) in BUILDS {
        let host = host_with(
            Arc::new(StepClock::new(Duration::from_micros(1))),
            MemoryKv::new(),
        );
        let t = tenant(&host, "house", &GRANTS);
        let m = compile(&host, bytes);
        for bad in [&b""[..], b"abc", b"12345", b"123456789"] {
            let call = host.runtime.call(&m, &t, "decide", bad);
            assert_eq!(
                call.result.map_err(|e| e.kind().clone()),
                Err(ErrorKind::GuestError {
                    code: 2,
                    message: "expected 4 bytes (temperature, i32 LE milli-°C) or 8 (temperature, \
                              setpoint)"
                        .into()
                }),
                "{name}, input {bad:?}"
            );
        }
        assert_eq!(host.kv.used_bytes("house"), 0, "{name}: nothing stored");
    }
}

#[test]
fn c_and_assemblyscript_thermostats_import_only_what_they_use() {
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::new(),
    );
    let imports = |bytes: &[u8]| {
        let m = compile(&host, bytes);
        let mut names: Vec<String> = m
            .info()
            .imports
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        names.sort_unstable();
        names
    };
    assert_eq!(imports(C_THERMOSTAT), ["kv_get", "kv_set", "log", "output"]);
    // `fail` is the SDK's `abort`: an AssemblyScript runtime error ends the call as a guest error.
    assert_eq!(
        imports(AS_THERMOSTAT),
        ["fail", "kv_get", "kv_set", "log", "output"]
    );
}

#[test]
fn a_thermostat_without_its_grants_is_refused_naming_the_capability() {
    for (name, bytes) in BUILDS {
        let host = host_with(
            Arc::new(StepClock::new(Duration::from_micros(1))),
            MemoryKv::new(),
        );
        let t = tenant(&host, "house", &["log", "kv.read"]);
        let m = compile(&host, bytes);
        let call = host.runtime.call(&m, &t, "decide", &input(20_000, None));
        match call.result.map_err(|e| e.kind().clone()) {
            Err(ErrorKind::CapabilityDenied { .. }) => {}
            other => panic!("{name}: expected CapabilityDenied, got {other:?}"),
        }
    }
}

#[test]
fn an_assemblyscript_abort_is_a_guest_error_naming_the_place() {
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::new(),
    );
    let t = tenant(&host, "house", &[]);
    let m = compile(&host, AS_ABORT);
    assert_eq!(
        host.runtime.call(&m, &t, "explode", b"x").result.unwrap(),
        b""
    );
    match host.runtime.call(&m, &t, "explode", b"").result {
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code: 1, message } => assert!(
                message.starts_with("abort: the input is empty at assembly/abort.ts:"),
                "{message}"
            ),
            other => panic!("expected guest error 1, got {other:?}"),
        },
        Ok(out) => panic!("the assertion should fail, got {out:?}"),
    }
    // The host then serves the next call normally.
    assert!(host.runtime.call(&m, &t, "explode", b"y").result.is_ok());
}
