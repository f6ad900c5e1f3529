;; Hostile: names an output region the host must not read.
;; Entry `beyond_memory`: 1000 bytes from 65000 in a 65536-byte memory: OutputOutOfBounds.
;; Entry `over_cap`: 2 GiB, far over any output cap: OutputTooLarge.
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "beyond_memory") (param i32 i32) (result i32)
    (call $output (i32.const 65000) (i32.const 1000))
    (i32.const 0))
  (func (export "over_cap") (param i32 i32) (result i32)
    (call $output (i32.const 0) (i32.const 0x7FFFFFFF))
    (i32.const 0)))
