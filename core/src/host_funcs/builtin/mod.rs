//! The built-in capabilities, each registered through the same path as an embedder's.

use crate::host_funcs::HostFuncs;

mod clock;
mod core;
mod kv;
mod log;
mod random;

/// Registers every built-in capability, `core` first (its id is
/// [`CapabilityId::CORE`](crate::CapabilityId::CORE)).
pub(crate) fn register(funcs: &mut HostFuncs) {
    core::register(funcs);
    log::register(funcs);
    clock::register(funcs);
    random::register(funcs);
    kv::register(funcs);
}
