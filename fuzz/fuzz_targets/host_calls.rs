//! Random pointer, length and argument values into every host function, from a guest whose
//! memory size is also random (1-byte custom pages, so every size is reachable). Oracles: the
//! host never panics; a call ends with a memory-bounds trap only for a region that really lies
//! outside the guest's memory, naming that region; a call whose every region lies inside memory
//! never ends with a memory-bounds trap; the host serves a good guest afterwards.
#![no_main]

use std::fmt::Write as _;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::{ErrorKind, Limits};

/// One host call with its arguments.
#[derive(Debug, Arbitrary)]
enum HostCall {
    Output(i32, i32),
    Fail(i32, i32, i32),
    Log(i32, i32, i32),
    ClockNow,
    RandomFill(i32, i32),
    KvGet(i32, i32, i32, i32),
    KvSet(i32, i32, i32, i32),
    KvDelete(i32, i32),
}

impl HostCall {
    /// The guest-memory regions (ptr, len) the call names.
    fn regions(&self) -> Vec<(i32, i32)> {
        match *self {
            Self::Output(p, l) | Self::RandomFill(p, l) | Self::KvDelete(p, l) => vec![(p, l)],
            Self::Fail(_, p, l) | Self::Log(_, p, l) => vec![(p, l)],
            Self::ClockNow => vec![],
            Self::KvGet(kp, kl, vp, vl) | Self::KvSet(kp, kl, vp, vl) => vec![(kp, kl), (vp, vl)],
        }
    }

    fn wat(&self) -> String {
        let c = |name: &str, args: &[i32], drop: bool| {
            let mut s = String::from(if drop { "(drop (call $" } else { "(call $" });
            s.push_str(name);
            for a in args {
                let _ = write!(s, " (i32.const {a})");
            }
            s.push_str(if drop { "))\n" } else { ")\n" });
            s
        };
        match *self {
            Self::Output(p, l) => c("output", &[p, l], false),
            Self::Fail(code, p, l) => c("fail", &[code, p, l], false),
            Self::Log(level, p, l) => c("log", &[level, p, l], true),
            Self::ClockNow => "(drop (call $clock_now))\n".into(),
            Self::RandomFill(p, l) => c("random_fill", &[p, l], true),
            Self::KvGet(a, b, d, e) => c("kv_get", &[a, b, d, e], true),
            Self::KvSet(a, b, d, e) => c("kv_set", &[a, b, d, e], true),
            Self::KvDelete(a, b) => c("kv_delete", &[a, b], true),
        }
    }
}

/// Small values, values at the memory's edge and wild ones, so that edges are hit often.
fn arg(u: &mut Unstructured<'_>, memory: i32) -> arbitrary::Result<i32> {
    Ok(match u.int_in_range(0..=4)? {
        0 => u.int_in_range(0..=64)?,
        1 => memory - u.int_in_range(0..=64)?,
        2 => memory + u.int_in_range(0..=64)?,
        _ => u.arbitrary()?,
    })
}

fn call(u: &mut Unstructured<'_>, memory: i32) -> arbitrary::Result<HostCall> {
    let mut a = || arg(u, memory);
    let args = [a()?, a()?, a()?, a()?];
    let which: u8 = u.arbitrary()?;
    Ok(match which % 8 {
        0 => HostCall::Output(args[0], args[1]),
        1 => HostCall::Fail(args[2], args[0], args[1]),
        2 => HostCall::Log(args[2] % 6, args[0], args[1]),
        3 => HostCall::ClockNow,
        4 => HostCall::RandomFill(args[0], args[1]),
        5 => HostCall::KvGet(args[0], args[1], args[2], args[3]),
        6 => HostCall::KvSet(args[0], args[1], args[2], args[3]),
        _ => HostCall::KvDelete(args[0], args[1]),
    })
}

fn inside(memory: u64, (ptr, len): (i32, i32)) -> bool {
    u64::from(ptr as u32) + u64::from(len as u32) <= memory
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(memory) = u.int_in_range(0i32..=70_000) else {
        return;
    };
    let mut calls = Vec::new();
    while calls.len() < 16 {
        match call(&mut u, memory) {
            Ok(c) => calls.push(c),
            Err(_) => break,
        }
    }
    let body: String = calls.iter().map(HostCall::wat).collect();
    let wat = format!(
        r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (import "palisade" "fail" (func $fail (param i32 i32 i32)))
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "palisade" "clock_now" (func $clock_now (result i64)))
  (import "palisade" "random_fill" (func $random_fill (param i32 i32) (result i32)))
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (memory (export "memory") {memory} (pagesize 1))
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "run") (param i32 i32) (result i32)
{body}    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#
    );
    let bytes = wat::parse_str(&wat).expect("the generated guest is valid WAT");
    let host = palisade_fuzz::Host::new(1);
    let module = host.runtime.compile(&bytes).expect("the generated guest compiles");
    let limits = Limits::builder()
        .fuel(10_000_000)
        .memory_bytes(1 << 20)
        .deadline(Duration::from_secs(3600))
        .build();
    let tenant = host.tenant(limits);
    let result = host.runtime.call(&module, &tenant, "run", b"").result;
    let size = memory as u64;
    if let Err(e) = &result
        && let ErrorKind::GuestMemoryOutOfBounds { ptr, len } = e.kind()
    {
        assert!(
            !inside(size, (*ptr as i32, *len as i32)),
            "a region inside memory ({ptr}+{len} of {size} bytes) was refused as out of bounds"
        );
        let named = calls
            .iter()
            .flat_map(HostCall::regions)
            .any(|(p, _)| p == *ptr as i32);
        assert!(named, "the bounds trap names a region no call passed: {ptr}+{len}");
    }
    let all_inside = calls.iter().flat_map(HostCall::regions).all(|r| inside(size, r));
    if all_inside {
        assert!(
            !matches!(
                result.as_ref().map_err(palisade::Error::kind),
                Err(ErrorKind::GuestMemoryOutOfBounds { .. })
            ),
            "every region was inside memory but the call ended out of bounds: {result:?}"
        );
    }
    host.assert_serves_good_guest();
});
