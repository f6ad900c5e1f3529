;; Hostile: its allocator returns a pointer at the end of the address space, hoping the host
;; writes the input outside guest memory: GuestMemoryOutOfBounds, nothing written.
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 0xFFFFFF00))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32) (i32.const 0)))
