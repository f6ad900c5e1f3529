//! The guests the benches run, each with one input that every engine gets.

use palisade_guest_artifacts as artifacts;
use sha2::{Digest as _, Sha256};

use crate::BenchError;

/// One guest and the single input every engine runs it with.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name, used in benchmark ids.
    pub name: &'static str,
    /// What the guest does, for the report.
    pub description: &'static str,
    /// The module.
    pub wasm: Vec<u8>,
    /// The entry point to call.
    pub entry: &'static str,
    /// The input bytes.
    pub input: Vec<u8>,
    /// The output every engine must return, when known independently of any engine.
    pub expected: Option<Vec<u8>>,
}

impl Workload {
    /// The module size in bytes.
    pub fn size(&self) -> usize {
        self.wasm.len()
    }
}

/// The input of [`FIB_WAT`]: `fib(20)`, about 22,000 recursive calls.
pub const FIB_N: u32 = 20;

/// Recursive Fibonacci, written to the guest ABI by hand: input a `u32` LE `n`, output
/// `fib(n)` as a `u64` LE.
pub const FIB_WAT: &str = r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "palisade_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $len)) (i32.const 65536))
      (then (return (i32.const 0))))
    (global.set $bump (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (func $fib (param $n i32) (result i64)
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else (i64.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.ne (local.get $len) (i32.const 4))
      (then (return (i32.const 2))))
    (i64.store (i32.const 16) (call $fib (i32.load (local.get $ptr))))
    (call $output (i32.const 16) (i32.const 8))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

fn fib(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

/// The fib workload (WAT, so it needs no guest toolchain).
///
/// # Errors
///
/// When the WAT does not parse (a bug in this crate).
pub fn fib_workload() -> Result<Workload, BenchError> {
    Ok(Workload {
        name: "fib",
        description: "recursive fib(20) in hand-written WAT: calls and integer arithmetic, no memory traffic",
        wasm: wat::parse_str(FIB_WAT).map_err(|e| BenchError::from_engine("fib wat", e))?,
        entry: "run",
        input: FIB_N.to_le_bytes().to_vec(),
        expected: Some(fib(FIB_N).to_le_bytes().to_vec()),
    })
}

/// Temperature 19 °C, setpoint 21 °C: the thermostat switches heating on (and logs it).
const THERMOSTAT_INPUT: [i32; 2] = [19_000, 21_000];

/// A deterministic, non-repeating input of `len` bytes for the SHA-256 guest.
fn sha_input(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn sha256(name: &'static str, description: &'static str, len: usize) -> Workload {
    let input = sha_input(len);
    Workload {
        name,
        description,
        wasm: artifacts::SHA256.to_vec(),
        entry: "digest",
        expected: Some(Sha256::digest(&input).to_vec()),
        input,
    }
}

/// Every workload, in report order.
///
/// # Errors
///
/// When a module cannot be produced.
pub fn workloads() -> Result<Vec<Workload>, BenchError> {
    Ok(vec![
        Workload {
            name: "thermostat",
            description: "the thermostat rule (Rust, `guests/examples/thermostat`): 8 bytes in, 1 byte out, one `kv_get`, one `log`, one `kv_set`; 4 KiB memory of 1-byte pages",
            wasm: artifacts::THERMOSTAT.to_vec(),
            entry: "decide",
            input: THERMOSTAT_INPUT
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            // Heating on; no alarm (19 °C is in range and there is no previous reading).
            expected: Some(vec![1]),
        },
        fib_workload()?,
        sha256(
            "sha256-1k",
            "SHA-256 (Rust `sha2`, `guests/examples/sha256`) of 1 KiB",
            1 << 10,
        ),
        sha256(
            "sha256-64k",
            "SHA-256 (Rust `sha2`, `guests/examples/sha256`) of 64 KiB",
            64 << 10,
        ),
        Workload {
            name: "coremark",
            description: "one iteration of the CoreMark 1.0 list, matrix and state kernels (Rust `coremark` crate, `guests/examples/coremark`), performance-run seeds",
            wasm: artifacts::COREMARK.to_vec(),
            entry: "run",
            input: 1u32.to_le_bytes().to_vec(),
            // crclist, crcmatrix, crcstate, crcfinal of EEMBC's performance run, 1 iteration
            // (with one iteration, `iterate` makes crcfinal equal to crclist).
            expected: Some(
                [0xe714u16, 0x1fd7, 0x8e3a, 0xe714]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
        },
        Workload {
            name: "large",
            description: "a generated 1.1 MB module of 2,500 functions (`palisade-guest-artifacts`), calling one: compile cost dominates",
            wasm: artifacts::LARGE.to_vec(),
            entry: "run",
            input: 1_234u32.to_le_bytes().to_vec(),
            // Only the engines can say what function 1234 computes: the bench checks that every
            // engine agrees with Palisade.
            expected: None,
        },
    ])
}
