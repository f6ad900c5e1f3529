//! The per-call extension slot: typed values an embedder (or a profile such as WASI) keeps for
//! one call, reachable from every host function through [`CallState::extensions`].
//!
//! [`CallState::extensions`]: crate::CallState::extensions

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::{Any, TypeId};
use core::fmt;

/// A small map from type to value, one value per type: the per-call state of an embedder.
///
/// Seed it before a call with [`Runtime::call_with_extensions`](crate::Runtime::call_with_extensions),
/// read and change it from host functions through [`CallState::extensions`](crate::CallState::extensions) /
/// [`CallState::extensions_mut`](crate::CallState::extensions_mut), and take it back after the
/// call: it replaces thread-locals for "which plugin is this call running" or "what did the guest
/// yield". It lives exactly as long as the call's store; nothing in it outlives the call unless
/// the embedder takes it back. Lookups are a linear scan: the map is meant for a handful of
/// entries, and an empty map does not allocate.
#[derive(Default)]
pub struct Extensions {
    entries: Vec<Box<dyn Any + Send>>,
}

impl Extensions {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn position<T: Any>(&self) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| (**e).type_id() == TypeId::of::<T>())
    }

    /// Stores `value`, returning the value of the same type it replaces.
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        let old = self.remove::<T>();
        self.entries.push(Box::new(value));
        old
    }

    /// The value of type `T`, if there is one.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.entries.iter().find_map(|e| e.downcast_ref::<T>())
    }

    /// The value of type `T` for changing, if there is one.
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.entries.iter_mut().find_map(|e| e.downcast_mut::<T>())
    }

    /// Takes the value of type `T` out, if there is one.
    pub fn remove<T: Any>(&mut self) -> Option<T> {
        let i = self.position::<T>()?;
        let boxed = self.entries.swap_remove(i);
        boxed.downcast::<T>().ok().map(|b| *b)
    }

    /// How many values the map holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.entries.len())
            .finish()
    }
}
