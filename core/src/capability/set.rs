//! Capability ids and sets of them.

use core::fmt;

use super::MAX_CAPABILITIES;

/// A capability's place in one runtime's capability table: [`CapabilityId::CORE`] first, then
/// the others in the order their first function was registered. Ids belong to the runtime that
/// made them ([`Runtime::capability`](crate::Runtime::capability)); name capabilities by their
/// names everywhere else.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapabilityId(u8);

impl CapabilityId {
    /// The always-granted [`CORE`](crate::capability::CORE) capability: first in every table.
    pub const CORE: CapabilityId = CapabilityId(0);

    /// The id at table position `index`, if a table can hold that many
    /// ([`MAX_CAPABILITIES`](crate::capability::MAX_CAPABILITIES)).
    pub(crate) fn from_index(index: usize) -> Option<Self> {
        if index < MAX_CAPABILITIES {
            u8::try_from(index).ok().map(Self)
        } else {
            None
        }
    }

    /// The position in the runtime's table, `0` for `core`.
    pub fn index(self) -> u8 {
        self.0
    }
}

/// A set of capabilities, as bits indexed by the runtime's capability table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(pub(crate) u64);

impl CapSet {
    /// The empty set: what a tenant has until something is granted.
    pub const EMPTY: CapSet = CapSet(0);

    pub(crate) fn with(self, id: CapabilityId) -> Self {
        CapSet(self.0 | (1u64 << id.0))
    }

    /// Whether capability `id` is in the set.
    pub fn contains(self, id: CapabilityId) -> bool {
        self.0 & (1u64 << id.0) != 0
    }

    /// Whether every capability of `other` is in `self`.
    pub fn contains_all(self, other: CapSet) -> bool {
        other.0 & !self.0 == 0
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapSet({:#x})", self.0)
    }
}
