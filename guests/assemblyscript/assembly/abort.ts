// abort.ts: an AssemblyScript guest that fails an assertion, the AssemblyScript form of a Rust
// panic. Built with `--use abort=assembly/palisade/palisadeAbort`, the runtime's `abort` is the
// SDK's, which ends the call with guest error 1 (FAILED) and a message naming the place,
// instead of importing `env.abort` (which Palisade would refuse at registration).
export { palisade_alloc } from "./palisade";

/** Fails `assert` when the input is empty, else succeeds with an empty output. */
export function explode(ptr: usize, len: usize): i32 {
  assert(len > 0, "the input is empty");
  return 0;
}
