;; Hostile: declares 4 GiB of initial memory. Instantiation is refused by the memory cap before
;; any of it is allocated: MemoryCap.
(module
  (memory (export "memory") 65536)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32) (i32.const 0)))
