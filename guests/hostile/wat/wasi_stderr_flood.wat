;; Hostile (WASI): writes 100-byte lines to stderr forever. stderr is the guest log: lines past
;; the per-call log budget are dropped (and counted), and the price of each write ends the
;; flood → OutOfFuel.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one iovec: 100 bytes from address 64
  (data (i32.const 0) "\40\00\00\00\64\00\00\00")
  (data (i32.const 64) "flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flo\n")
  (func (export "_start")
    (loop $flood
      (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $flood))))
