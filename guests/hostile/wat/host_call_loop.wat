;; Hostile: a busy loop that keeps calling a cheap host function (`palisade.output`, which every
;; guest may import). Host functions charge fuel for themselves, so this still runs out.
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (loop $spin
      (call $output (i32.const 0) (i32.const 0))
      (br $spin))
    (i32.const 0)))
