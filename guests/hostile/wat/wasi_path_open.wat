;; Hostile (WASI): opens /etc/passwd with `path_open`, from fd 3 (where wasi-libc looks for a
;; preopened root). There are no preopened directories and `path_open` is outside the profile:
;; it returns ENOTCAPABLE (76), which the guest passes to `proc_exit` → GuestError { code: 76 }.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/etc/passwd")
  (func (export "_start")
    (call $proc_exit
      (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 11) (i32.const 0)
        (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 64)))))
