;; Hostile: imports a WASI function to reach the file system or network. Only `palisade`
;; functions exist: refused at registration with ContractViolation(ForeignImport).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (@custom "palisade.abi" "\01\00\00\00")
  (func (export "run") (param i32 i32) (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))))
