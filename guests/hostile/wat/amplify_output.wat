;; Hostile: a tiny input asks for a huge output (16 MiB of memory grown and named as output),
;; amplifying host work and memory: refused with OutputTooLarge under the output cap (the
;; memory cap bounds the growth itself).
(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (drop (memory.grow (i32.const 256)))
    (call $output (i32.const 0) (i32.mul (memory.size) (i32.const 65536)))
    (i32.const 0)))
