;; Hostile (WASI): recurses 500 frames deep and calls `proc_exit(7)` from the bottom. The exit
;; unwinds the whole stack and ends the call → GuestError { code: 7 }, message = stderr's tail.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; one iovec: "deep\n" at 64
  (data (i32.const 0) "\40\00\00\00\05\00\00\00")
  (data (i32.const 64) "deep\n")
  (func $down (param $n i32)
    (if (i32.eqz (local.get $n))
      (then
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $proc_exit (i32.const 7))))
    (call $down (i32.sub (local.get $n) (i32.const 1))))
  (func (export "_start")
    (call $down (i32.const 500))))
