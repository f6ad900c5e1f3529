;; Hostile (WASI): sleeps 10 s through `poll_oneoff` (one relative monotonic-clock
;; subscription). A sleep counts against the deadline and never blocks past it: the call ends
;; at once → DeadlineExceeded.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; subscription at 0: userdata 0, tag 0 (clock), clock id 1 (monotonic) at 16,
    ;; timeout at 24, precision 0, flags 0 (relative)
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 10000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
