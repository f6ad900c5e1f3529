;; Hostile: a start function that never returns, so instantiation itself never finishes. The
;; host runs the start function like an entry point, in fuel slices under the call's fuel
;; budget and deadline: OutOfFuel, or DeadlineExceeded with a large budget.
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func $start (loop $spin (br $spin)))
  (start $start)
  (func (export "run") (param i32 i32) (result i32) (i32.const 0)))
