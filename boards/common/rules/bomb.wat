;; Hostile: grows its memory 4 KiB at a time until refused, then asks for 1 GiB at once.
;; Every growth past the cap must be refused; it then returns normally (LEDs untouched).
(module
  (memory (export "memory") 1024 (pagesize 1))
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "tick") (param i32 i32) (result i32)
    (block $refused
      (loop $grow
        (br_if $refused (i32.eq (memory.grow (i32.const 4096)) (i32.const -1)))
        (br $grow)))
    (drop (memory.grow (i32.const 0x40000000)))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))
