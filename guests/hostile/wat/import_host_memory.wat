;; Hostile: imports a memory, hoping to be handed the host's or another guest's: refused at
;; registration with ContractViolation(ForeignImport).
(module
  (import "palisade" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32) (i32.load (i32.const 0))))
