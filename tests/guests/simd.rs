//! WebAssembly SIMD on std hosts: Palisade's `simd` feature (enabled by palisade-std, desktop,
//! server and cli, and here) lets a module built with clang's `-msimd128` compile and run.

use palisade::Limits;
use palisade_guest_artifacts::C_SIMD_CHECKSUM;
use palisade_tests::{compile, host, tenant, tenant_with};

/// What `checksum` computes, in scalar Rust.
fn checksum(input: &[u8]) -> Vec<u8> {
    let sum = input
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    let weighted = input.iter().enumerate().fold(0u32, |w, (i, &b)| {
        w.wrapping_add(u32::from(b) * (i % 16 + 1) as u32)
    });
    [sum.to_le_bytes(), weighted.to_le_bytes()].concat()
}

#[test]
fn a_simd128_module_compiles_and_computes_what_the_scalar_code_does() {
    let host = host();
    let limits = Limits::builder()
        .fuel(50_000_000)
        .input_bytes(1 << 20)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "vector", &[], limits);
    let m = compile(&host, C_SIMD_CHECKSUM);
    // Lengths around the 16-byte vector width, and a megabyte.
    for len in [0usize, 1, 15, 16, 17, 33, 1000, 1 << 20] {
        let input: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let out = host
            .runtime
            .call(&m, &t, "checksum", &input)
            .result
            .unwrap();
        assert_eq!(out, checksum(&input), "{len} bytes");
    }
    // A fixed case, so the scalar reference itself is pinned: 1,000 bytes of (31 i + 7) mod 256.
    let input: Vec<u8> = (0..1000usize).map(|i| (i * 31 + 7) as u8).collect();
    let out = host
        .runtime
        .call(&m, &t, "checksum", &input)
        .result
        .unwrap();
    assert_eq!(out[..4], 127_404u32.to_le_bytes());
    assert_eq!(out[4..], 1_085_828u32.to_le_bytes());
}

#[test]
fn a_v128_module_in_wat_runs() {
    let wat = r#"(module
        (import "palisade" "output" (func $out (param i32 i32)))
        (memory (export "memory") 1)
        (func (export "palisade_alloc") (param i32) (result i32) i32.const 64)
        (func (export "run") (param i32 i32) (result i32)
            (v128.store (i32.const 0)
                (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40)))
            (call $out (i32.const 0) (i32.const 16))
            i32.const 0)
        (@custom "palisade.abi" "\01\00\00\00"))"#;
    let host = host();
    let t = tenant(&host, "vector", &[]);
    let m = compile(&host, &wat::parse_str(wat).unwrap());
    let out = host.runtime.call(&m, &t, "run", b"").result.unwrap();
    let lanes: Vec<u32> = out
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(lanes, [11, 22, 33, 44]);
}
