// palisade.ts: the Palisade guest SDK for AssemblyScript (guest ABI v1, docs/ABI.md).
//
// What it gives a guest:
// - the `palisade` imports (docs/ABI.md §4) as `@external` declarations,
// - `palisade_alloc`, the allocator export the host writes the input through (re-export it from
//   your entry file: `export { palisade_alloc } from "./palisade"`),
// - `LogLevel`, the capability error codes `E_*` and the guest error codes,
// - `palisadeAbort`, the `abort` for `asc --use abort=assembly/palisade/palisadeAbort`, so a
//   failed assertion or an out-of-bounds array access ends the call with a guest error instead
//   of importing `env.abort` (which Palisade refuses).
//
// The `palisade.abi` section is added by the transform `palisade-abi.js` (asc cannot emit
// custom sections from source). Build with the runtime `stub` (a bump allocator that never
// frees: right for Palisade, where every call runs in a fresh instance):
//
//   asc assembly/thermostat.ts --runtime stub --use abort=assembly/palisade/palisadeAbort \
//       --transform ./palisade-abi.js -O3z -o thermostat.wasm

/** Log levels: the `level` argument of `log`. */
export enum LogLevel {
  Error = 0,
  Warn = 1,
  Info = 2,
  Debug = 3,
  Trace = 4,
}

/** The key does not exist. */
export const E_NOT_FOUND: i32 = -1;
/** A key, value or buffer is over its limit. */
export const E_TOO_LARGE: i32 = -2;
/** A per-call or per-tenant budget is spent. */
export const E_QUOTA: i32 = -3;
/** An argument is out of range. */
export const E_INVALID: i32 = -4;
/** The resource exists but this guest may not use it. */
export const E_DENIED: i32 = -5;
/** The host backend failed; retrying later may work. */
export const E_HOST: i32 = -6;

/** Guest error: a generic failure. */
export const FAILED: i32 = 1;
/** Guest error: the input could not be decoded. */
export const BAD_INPUT: i32 = 2;
/** Guest error: the output could not be encoded. */
export const BAD_OUTPUT: i32 = 3;

// Capability `core` (always granted).
/** Names the output (or error message) region. */
@external("palisade", "output")
export declare function output(ptr: usize, len: usize): void;
/** Ends the call with guest error `code` and the message at `ptr`; never returns. */
@external("palisade", "fail")
export declare function fail(code: i32, ptr: usize, len: usize): void;

// Capability `log`.
/** Writes a log line: 0, E_QUOTA (dropped) or E_INVALID (unknown level). */
@external("palisade", "log")
export declare function log(level: i32, ptr: usize, len: usize): i32;
// Capability `clock`.
/** Monotonic nanoseconds since a host-chosen origin. */
@external("palisade", "clock_now")
export declare function clock_now(): i64;
// Capability `random`.
/** Fills `len` bytes (at most 4096): 0, E_TOO_LARGE, E_HOST. */
@external("palisade", "random_fill")
export declare function random_fill(ptr: usize, len: usize): i32;
// Capability `kv.read`.
/** The value's full length (min(len, cap) bytes written), or E_NOT_FOUND. */
@external("palisade", "kv_get")
export declare function kv_get(key: usize, key_len: usize, val: usize, val_cap: usize): i32;
// Capability `kv.write`.
/** Stores a value: 0, E_TOO_LARGE, E_QUOTA. */
@external("palisade", "kv_set")
export declare function kv_set(key: usize, key_len: usize, val: usize, val_len: usize): i32;
/** Deletes a key: 0 or E_NOT_FOUND. */
@external("palisade", "kv_delete")
export declare function kv_delete(key: usize, key_len: usize): i32;

/** The allocator export: a pointer to `len` writable bytes (the stub runtime's bump heap). */
export function palisade_alloc(len: i32): usize {
  return heap.alloc(<usize>len);
}

/** A string as UTF-8 bytes (no terminator). */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false);
}

/** Logs `message` at `level`; returns the status of `log`. */
export function logStr(level: LogLevel, message: string): i32 {
  const bytes = utf8(message);
  return log(level, changetype<usize>(bytes), bytes.byteLength);
}

/** Names `bytes` as the output. */
export function outputBytes(bytes: ArrayBuffer): void {
  output(changetype<usize>(bytes), bytes.byteLength);
}

/** Names `message` as the error message and returns `code`: `return error(BAD_INPUT, "...")`. */
export function error(code: i32, message: string): i32 {
  outputBytes(utf8(message));
  return code;
}

/** A short description of a capability error code. */
export function capErrorStr(code: i32): string {
  switch (code) {
    case E_NOT_FOUND: return "not found";
    case E_TOO_LARGE: return "too large";
    case E_QUOTA: return "quota exceeded";
    case E_INVALID: return "invalid argument";
    case E_DENIED: return "denied";
    case E_HOST: return "host failure";
    default: return "unknown capability error";
  }
}

/** `abort` for `--use abort=...`: ends the call with guest error 1 naming the place. */
export function palisadeAbort(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  let text = "abort";
  if (message !== null) text += ": " + message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = utf8(text);
  fail(FAILED, changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}
