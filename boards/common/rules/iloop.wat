;; Hostile: spins forever. Each tick must be cut (fuel or deadline) and the loop keep its period.
(module
  (import "palisade" "gpio_write" (func $gpio_write (param i32 i32) (result i32)))
  (memory (export "memory") 256 256 (pagesize 1))
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 128))
  (func (export "tick") (param i32 i32) (result i32)
    (loop $spin (br $spin))
    ;; never reached: the LEDs must stay off
    (drop (call $gpio_write (i32.const 0) (i32.const 1)))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
