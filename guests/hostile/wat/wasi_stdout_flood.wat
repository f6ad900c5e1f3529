;; Hostile (WASI): writes 60,000 bytes to stdout forever. stdout is the call's output, and the
;; output cap applies to it: the write that would pass it ends the call → OutputTooLarge.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; one iovec: 60,000 bytes from address 1024
  (data (i32.const 0) "\00\04\00\00\60\ea\00\00")
  (func (export "_start")
    (loop $flood
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $flood))))
