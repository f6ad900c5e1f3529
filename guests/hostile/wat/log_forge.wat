;; Hostile: tries to forge host log lines and to drive the operator's terminal.
;; `run` logs (info) a line with a newline followed by text shaped like a host line of another
;; tenant, then a line with ANSI escapes (clear screen, red) and a bidi override; returns 0.
;; `fail` ends the call with a guest error whose message carries the same forged line.
;; Every text sink escapes guest text: each guest line stays exactly one line, with `\n` and
;; `\x1b` written as visible escapes, and the tenant and digest tags come from the host.
(module
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "palisade" "fail" (func $fail (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  ;; 38 bytes: "ok\n[admin 00000000] error: forged line"
  (data (i32.const 0) "ok\n[admin 00000000] error: forged line")
  ;; 26 bytes: ESC[2J ESC[31m "cleared" U+202E "txt.exe"
  (data (i32.const 64) "\1b[2J\1b[31mcleared\e2\80\aetxt.exe")
  (func (export "run") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 38)))
    (drop (call $log (i32.const 2) (i32.const 64) (i32.const 26)))
    (i32.const 0))
  (func (export "fail") (param i32 i32) (result i32)
    (call $fail (i32.const 7) (i32.const 0) (i32.const 38))
    (i32.const 0)))
