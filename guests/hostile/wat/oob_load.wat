;; Hostile: loads far outside its linear memory, hoping to read host memory:
;; Trap(MemoryOutOfBounds).
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (i32.load (i32.const 0xFFFFFFF0))))
