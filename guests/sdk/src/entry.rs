//! Entry points: ordinary Rust functions over bytes or typed values, exported with the ABI's
//! `(in_ptr, in_len) -> status` shape by [`export!`](crate::export) and
//! [`export_postcard!`](crate::export_postcard).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::GuestError;
use crate::sys;

/// A value an entry point can return as its output.
pub trait Output {
    /// The bytes, which must stay valid until the call ends (owned buffers are leaked: the
    /// instance is dropped after the call).
    fn into_bytes(self) -> &'static [u8];
}

impl Output for Vec<u8> {
    fn into_bytes(self) -> &'static [u8] {
        self.leak()
    }
}

impl Output for String {
    fn into_bytes(self) -> &'static [u8] {
        self.into_bytes().leak()
    }
}

impl Output for &'static [u8] {
    fn into_bytes(self) -> &'static [u8] {
        self
    }
}

impl Output for &'static str {
    fn into_bytes(self) -> &'static [u8] {
        self.as_bytes()
    }
}

impl<const N: usize> Output for [u8; N] {
    fn into_bytes(self) -> &'static [u8] {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(self))
    }
}

impl Output for () {
    fn into_bytes(self) -> &'static [u8] {
        &[]
    }
}

/// What an entry point may return: an [`Output`], or `Result<impl Output, impl Into<GuestError>>`.
pub trait EntryResult {
    /// Reports the result to the host and returns the call's status.
    fn finish(self) -> i32;
}

fn emit(bytes: &'static [u8]) -> i32 {
    if !bytes.is_empty() {
        let (ptr, len) = sys::raw(bytes);
        // SAFETY: the region is static or leaked, valid until the instance is dropped.
        unsafe { sys::output(ptr, len) };
    }
    0
}

impl<O: Output, E: Into<GuestError>> EntryResult for Result<O, E> {
    fn finish(self) -> i32 {
        match self {
            Ok(out) => emit(out.into_bytes()),
            Err(e) => e.into().report(),
        }
    }
}

macro_rules! plain_output {
    ($($t:ty),*) => {$(
        impl EntryResult for $t {
            fn finish(self) -> i32 {
                emit(Output::into_bytes(self))
            }
        }
    )*};
}
plain_output!(Vec<u8>, String, &'static [u8], &'static str, ());

/// The input the host placed at `(ptr, len)`.
///
/// # Safety
///
/// `(ptr, len)` must be what the host passed to an entry point: `(0, 0)` or a region it wrote
/// after [`palisade_alloc`](crate::palisade_alloc) returned it (never freed during the call).
pub unsafe fn input(ptr: i32, len: i32) -> &'static [u8] {
    let len = len as u32 as usize;
    if len == 0 || ptr == 0 {
        return &[];
    }
    // SAFETY: per the function's contract.
    unsafe { core::slice::from_raw_parts(ptr as u32 as usize as *const u8, len) }
}

/// Reports an entry point's result.
pub fn finish(result: impl EntryResult) -> i32 {
    result.finish()
}

/// Decodes `input` with postcard, runs `f`, encodes its output with postcard.
#[cfg(feature = "postcard")]
pub fn typed<I, O, E>(
    f: impl FnOnce(I) -> Result<O, E>,
    input: &'static [u8],
) -> Result<Vec<u8>, GuestError>
where
    I: serde::Deserialize<'static>,
    O: serde::Serialize,
    E: Into<GuestError>,
{
    let value: I = postcard::from_bytes(input).map_err(|_| {
        GuestError::bad_input("the input is not the postcard encoding the entry point expects")
    })?;
    let out = f(value).map_err(Into::into)?;
    postcard::to_allocvec(&out)
        .map_err(|_| GuestError::new(crate::code::BAD_OUTPUT, "the output could not be encoded"))
}

/// Exports Rust functions over bytes as entry points.
///
/// Each function takes `&[u8]` (the input; `&'static` for the call's duration) and returns an
/// [`Output`] (`Vec<u8>`, `String`, `&'static [u8]`, `&'static str`, `()`) or a
/// `Result<impl Output, impl Into<GuestError>>`. The export is named after the function, or as
/// given with `as "name"`.
///
/// ```ignore
/// fn digest(input: &[u8]) -> Vec<u8> { /* ... */ }
/// fn check(input: &[u8]) -> Result<(), GuestError> { /* ... */ }
/// palisade_guest::export!(digest, check as "validate");
/// ```
#[macro_export]
macro_rules! export {
    ($($func:ident $(as $name:literal)?),+ $(,)?) => {$(
        $crate::export!(@one $func, $crate::export!(@name $func $($name)?));
    )+};
    (@name $func:ident) => { stringify!($func) };
    (@name $func:ident $name:literal) => { $name };
    (@one $func:ident, $name:expr) => {
        const _: () = {
            #[unsafe(export_name = $name)]
            extern "C" fn __palisade_entry(ptr: i32, len: i32) -> i32 {
                // SAFETY: the host calls entry points with the input it wrote (docs/ABI.md §3).
                let input = unsafe { $crate::__private::input(ptr, len) };
                $crate::__private::finish($func(input))
            }
        };
    };
}

/// Exports Rust functions over typed values as entry points: the input is decoded and the
/// output encoded with [postcard](https://docs.rs/postcard) (serde), the encoding the host's
/// typed helpers use.
///
/// Each function takes a `T: Deserialize` and returns `Result<U: Serialize, impl Into<GuestError>>`.
/// An input that does not decode ends the call with [`code::BAD_INPUT`](crate::code::BAD_INPUT).
///
/// ```ignore
/// #[derive(serde::Deserialize)] struct Req { a: u32, b: u32 }
/// fn add(r: Req) -> Result<u32, GuestError> { Ok(r.a + r.b) }
/// palisade_guest::export_postcard!(add);
/// ```
#[cfg(feature = "postcard")]
#[macro_export]
macro_rules! export_postcard {
    ($($func:ident $(as $name:literal)?),+ $(,)?) => {$(
        $crate::export_postcard!(@one $func, $crate::export!(@name $func $($name)?));
    )+};
    (@one $func:ident, $name:expr) => {
        const _: () = {
            #[unsafe(export_name = $name)]
            extern "C" fn __palisade_entry(ptr: i32, len: i32) -> i32 {
                // SAFETY: the host calls entry points with the input it wrote (docs/ABI.md §3).
                let input = unsafe { $crate::__private::input(ptr, len) };
                $crate::__private::finish($crate::__private::typed($func, input))
            }
        };
    };
}
