;; Hostile (WASI): `_start` never returns. It runs in fuel slices like every entry point →
;; OutOfFuel, or DeadlineExceeded with ample fuel.
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $spin (br $spin))))
