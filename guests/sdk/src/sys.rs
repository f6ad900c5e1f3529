//! The raw `palisade` imports of ABI v1 (docs/ABI.md §4). Prefer the safe wrappers in the
//! capability modules; these exist for guests that need exact control.
//!
//! Pointers and lengths are `i32` values the host reads as `u32`.

#[link(wasm_import_module = "palisade")]
unsafe extern "C" {
    /// Names the output (or error message) region. Capability `core`.
    pub fn output(ptr: i32, len: i32);
    /// Ends the call with a guest error; does not return. Capability `core`.
    pub fn fail(code: i32, ptr: i32, len: i32);
    /// Writes a log line. Capability `log`.
    pub fn log(level: i32, ptr: i32, len: i32) -> i32;
    /// Monotonic nanoseconds. Capability `clock`.
    pub fn clock_now() -> i64;
    /// Fills a buffer with random bytes. Capability `random`.
    pub fn random_fill(ptr: i32, len: i32) -> i32;
    /// Reads a value into a buffer; returns its full length. Capability `kv.read`.
    pub fn kv_get(key_ptr: i32, key_len: i32, val_ptr: i32, val_cap: i32) -> i32;
    /// Stores a value. Capability `kv.write`.
    pub fn kv_set(key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32) -> i32;
    /// Deletes a key. Capability `kv.write`.
    pub fn kv_delete(key_ptr: i32, key_len: i32) -> i32;
    /// Drives a pin. Capability `gpio` (boards).
    pub fn gpio_write(pin: i32, level: i32) -> i32;
    /// Reads a pin. Capability `gpio` (boards).
    pub fn gpio_read(pin: i32) -> i32;
    /// Reads a sensor channel into an `i32` at `out_ptr`. Capability `sensor` (boards).
    pub fn sensor_read(channel: i32, out_ptr: i32) -> i32;
}

/// A slice as the ABI's `(ptr, len)` pair.
pub(crate) fn raw(bytes: &[u8]) -> (i32, i32) {
    (bytes.as_ptr() as usize as i32, bytes.len() as i32)
}

/// A mutable slice as the ABI's `(ptr, len)` pair.
pub(crate) fn raw_mut(bytes: &mut [u8]) -> (i32, i32) {
    (bytes.as_mut_ptr() as usize as i32, bytes.len() as i32)
}
