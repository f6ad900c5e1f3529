;; Hostile: an infinite loop. Stopped by the fuel budget (OutOfFuel) or, with a large budget,
;; by the wall-clock deadline checked between fuel slices (DeadlineExceeded).
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (loop $spin (br $spin))
    (i32.const 0)))
