;; Hostile: unbounded recursion. wasmi's call-depth limit stops it: Trap(StackOverflow).
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func $down (param $n i32) (result i32)
    (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "run") (param i32 i32) (result i32)
    (drop (call $down (i32.const 0)))
    (i32.const 0)))
