;; The plugin api-fuzz.sh uploads and promotes before fuzzing, so that tenant calls reach a
;; guest: `echo` answers its input.
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (local.get 0) (local.get 1)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
