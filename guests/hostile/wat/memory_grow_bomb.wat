;; Hostile: grows memory 16 pages (1 MiB) at a time until refused, then aborts the way a Rust
;; guest does when an allocation fails (unreachable). The memory cap refuses the growth:
;; MemoryCap.
(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
