;; Hostile: writes 100-byte log lines forever, ignoring QUOTA. The per-call log budget drops the
;; lines past it; the price of each call (fuel) ends the flood: OutOfFuel.
(module
  (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (data (i32.const 0) "flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood")
  (func (export "run") (param i32 i32) (result i32)
    (loop $spam
      (drop (call $log (i32.const 2) (i32.const 0) (i32.const 100)))
      (br $spam))
    (i32.const 0)))
