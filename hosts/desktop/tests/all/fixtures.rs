//! Small guests in WAT.

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

/// Loops forever.
pub const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#;

/// Outputs a fixed text: `text` must be plain ASCII without quotes or backslashes.
pub fn constant(entry: &str, text: &str) -> String {
    format!(
        r#"
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{text}")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "{entry}") (param i32 i32) (result i32)
    (call $output (i32.const 16) (i32.const {len})) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
"#,
        len = text.len()
    )
}
