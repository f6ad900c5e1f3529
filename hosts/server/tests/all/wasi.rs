//! A WASI program (docs/WASI.md) as a server plugin: the request body is its stdin, the
//! response body its stdout, and its exit status a guest error.

use serde_json::json;

use crate::common::*;

/// Copies stdin to stdout; exits with status 3 when the input is empty.
const WASI_CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $total i32)
    (block $eof (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 64))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $eof (i32.eqz (i32.load (i32.const 8))))
      (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
      (br $more)))
    (if (i32.eqz (local.get $total)) (then (call $exit (i32.const 3))))))"#;

#[test]
fn a_wasi_plugin_reads_the_request_on_stdin_and_answers_on_stdout() {
    let srv = Srv::start();
    assert_eq!(
        srv.upload("cat", "1", &wat::parse_str(WASI_CAT).unwrap())
            .status,
        201
    );
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/cat/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = srv.tenant("t", json!({"plugins": ["cat"]}));
    let r = srv.invoke(&token, "cat", "_start", b"hello from a request body");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"hello from a request body");
    let r = srv.invoke(&token, "cat", "_start", b"");
    assert_error(&r, 422, "guest_error");
}
