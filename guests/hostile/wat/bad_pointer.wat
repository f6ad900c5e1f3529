;; Hostile: passes the host a pointer/length pair outside its memory, hoping the host reads
;; beyond it (`log` from the last byte, 1 MiB long): GuestMemoryOutOfBounds.
(module
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (call $log (i32.const 2) (i32.const 65535) (i32.const 100))))
