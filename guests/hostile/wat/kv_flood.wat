;; Hostile: writes 1000-byte values under fresh keys until the host refuses, then reports the
;; refusal with `palisade.fail`: GuestError with code QUOTA (-3). The per-call write budget
;; (`kv_write_bytes`) and the store's per-tenant quota bound what it stores.
(module
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "fail" (func $fail (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (data (i32.const 16) "kv flood refused")
  (func (export "run") (param i32 i32) (result i32)
    (local $i i32)
    (local $status i32)
    (loop $write
      ;; key = "key:" ++ i (4 bytes LE) at 0..8
      (i32.store (i32.const 0) (i32.const 0x3A79656B))
      (i32.store (i32.const 4) (local.get $i))
      (local.set $status
        (call $kv_set (i32.const 0) (i32.const 8) (i32.const 2048) (i32.const 1000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $write (i32.eqz (local.get $status))))
    (call $fail (local.get $status) (i32.const 16) (i32.const 16))
    (i32.const 0)))
