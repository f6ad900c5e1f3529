//! # palisade-guest
//!
//! Write [Palisade](../../docs/ABI.md) guests in Rust. This crate implements the guest side of
//! ABI v1 for `wasm32-unknown-unknown`:
//!
//! | ABI item | here |
//! |---|---|
//! | `palisade.abi` custom section (version 1) | emitted by this crate: nothing to do |
//! | `palisade_alloc` export | exported by this crate; allocates from the global allocator |
//! | entry points `(in_ptr, in_len) -> status` | [`export!`] (bytes) and [`export_postcard!`] (typed) |
//! | `palisade.output` + non-zero status | returning `Err(`[`GuestError`]`)` from an entry point |
//! | `palisade.fail` | [`fail`], and the panic handler of [`panic_handler!`] |
//! | capabilities `log`, `clock`, `random`, `kv.read`, `kv.write` | [`log`], [`clock`], [`random`], [`kv`] |
//! | board capabilities `gpio`, `sensor` | [`gpio`], [`sensor`] |
//!
//! A guest imports only the host functions it calls: the linker drops the others, so a guest
//! that never touches [`kv`] needs no `kv.*` grant.
//!
//! ```ignore
//! #![no_std]
//! extern crate alloc;
//! use alloc::vec::Vec;
//! use palisade_guest::{GuestError, BumpHeap};
//!
//! #[global_allocator]
//! static HEAP: BumpHeap = BumpHeap::new();
//! palisade_guest::panic_handler!();
//!
//! /// Upper-cases its input.
//! fn shout(input: &[u8]) -> Result<Vec<u8>, GuestError> {
//!     Ok(input.to_ascii_uppercase())
//! }
//! palisade_guest::export!(shout);
//! ```
//!
//! ## Memory
//!
//! Every call runs in a fresh instance that is dropped afterwards, so nothing needs freeing:
//! [`BumpHeap`] (grows linear memory in 64 KiB pages) and [`StaticHeap`] (a fixed arena, for
//! guests linked with custom page sizes and a few KiB of memory) are both bump allocators.
//! Nothing survives between calls: not the heap, not statics. Every guest declares a
//! `#[global_allocator]` (`palisade_alloc` allocates the input from it); a guest that links `std`
//! may keep std's default allocator.
//!
//! ## Panics
//!
//! A `#![no_std]` guest invokes [`panic_handler!`] once; a panic then ends the call with the
//! guest error [`code::PANIC`] and a message naming the panic's location. A guest that links
//! `std` calls [`fail_panic`] from a panic hook instead (see the `coremark` example).
#![no_std]

extern crate alloc;

mod entry;
mod error;
mod heap;
pub mod sys;

pub mod clock;
pub mod gpio;
pub mod kv;
pub mod log;
pub mod random;
pub mod sensor;

pub use entry::{EntryResult, Output};
pub use error::{CapError, GuestError, code, fail, fail_panic, report_panic};
pub use heap::{BumpHeap, StaticHeap};

/// The ABI version this SDK implements.
pub const ABI_VERSION: u32 = 1;

/// The `palisade.abi` custom section: the ABI version as a little-endian `u32` (docs/ABI.md §1).
#[used]
#[unsafe(link_section = "palisade.abi")]
static PALISADE_ABI: [u8; 4] = ABI_VERSION.to_le_bytes();

/// The allocator export the host calls to place the input (docs/ABI.md §2): returns a pointer to
/// `len` writable bytes, or `0` on failure.
#[unsafe(no_mangle)]
pub extern "C" fn palisade_alloc(len: i32) -> i32 {
    let len = len as u32 as usize;
    if len == 0 {
        return 0;
    }
    match core::alloc::Layout::from_size_align(len, 8) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc::alloc::alloc(layout) as usize as i32 },
        Err(_) => 0,
    }
}

/// Defines the `#[panic_handler]` of a `#![no_std]` guest: a panic ends the call with the guest
/// error [`code::PANIC`] and the message `panicked at <file>:<line>: <message>` (the message only
/// when it is a plain string: formatting is not pulled in).
///
/// Invoke it once, at the crate root. Guests that link `std` already have a panic handler: they
/// call [`fail_panic`] from a panic hook instead.
#[macro_export]
macro_rules! panic_handler {
    () => {
        #[panic_handler]
        fn __palisade_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::report_panic(info)
        }
    };
}

#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "postcard")]
    pub use crate::entry::typed;
    pub use crate::entry::{finish, input};
}
