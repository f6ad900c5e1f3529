//! Small guests in WAT, written to temporary files.

use std::path::{Path, PathBuf};

/// Echoes its input.
pub const ECHO: &str = r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (local.get 0) (local.get 1)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Two entry points.
pub const TWO_ENTRIES: &str = r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "a") (param i32 i32) (result i32) (i32.const 0))
  (func (export "b") (param i32 i32) (result i32) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Reads a KV key: needs `kv.read`.
pub const KV_READER: &str = r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "k")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "get") (param i32 i32) (result i32)
    (drop (call $kv_get (i32.const 16) (i32.const 1) (i32.const 64) (i32.const 16)))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Imports a function this host does not provide.
pub const UNKNOWN_IMPORT: &str = r#"
(module
  (import "palisade" "teleport" (func $t (param i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i32) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Loops forever.
pub const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Grows memory until refused, then traps.
pub const GROW: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "grow") (param i32 i32) (result i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// The binary module of `wat`.
pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid WAT fixture")
}

/// Writes the binary module of `wat` to `dir/name`.
pub fn write_wasm(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wasm(wat)).expect("write fixture");
    path
}

/// `put` stores its input under key `k`; `get` outputs the value of `k` (empty if absent).
pub const KV_PUT_GET: &str = r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "k")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "put") (param i32 i32) (result i32)
    (call $kv_set (i32.const 16) (i32.const 1) (local.get 0) (local.get 1)))
  (func (export "get") (param i32 i32) (result i32)
    (local $n i32)
    (local.set $n (call $kv_get (i32.const 16) (i32.const 1) (i32.const 4096) (i32.const 1024)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (call $output (i32.const 4096) (local.get $n))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;
