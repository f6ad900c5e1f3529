;; Hostile: imports `kv_set` (capability `kv.write`), for a tenant that was not granted it:
;; CapabilityDenied naming `palisade.kv_set` and `kv.write`.
(module
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (data (i32.const 0) "stolen")
  (func (export "run") (param i32 i32) (result i32)
    (call $kv_set (i32.const 0) (i32.const 6) (i32.const 0) (i32.const 6))))
