//! The built-in capabilities, each registered through the same path as an embedder's.

use crate::runtime::RuntimeBuilder;

mod clock;
mod core;
mod kv;
mod log;
mod random;

/// Registers every built-in capability, `core` first (its index is [`super::CORE_INDEX`]).
pub(crate) fn register(builder: RuntimeBuilder) -> RuntimeBuilder {
    let builder = core::register(builder);
    let builder = log::register(builder);
    let builder = clock::register(builder);
    let builder = random::register(builder);
    kv::register(builder)
}
