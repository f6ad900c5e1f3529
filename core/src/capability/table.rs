//! The capability table: every capability a runtime knows, and the import each belongs to.

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasmi::FuncType;

use super::CapabilityId;
use crate::map::SortedMap;

/// Definition of one `palisade` import: its capability and type.
#[derive(Debug, Clone)]
pub(crate) struct ImportDef {
    pub(crate) capability: CapabilityId,
    pub(crate) ty: FuncType,
}

/// Every capability a runtime knows, and which capability each import belongs to.
#[derive(Debug, Default)]
pub(crate) struct CapabilityTable {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) imports: SortedMap<Box<str>, ImportDef>,
}

impl CapabilityTable {
    pub(crate) fn import(&self, name: &str) -> Option<&ImportDef> {
        self.imports.get(name)
    }

    pub(crate) fn capability_name(&self, id: CapabilityId) -> &str {
        self.names.get(usize::from(id.index())).map_or("?", |n| n)
    }

    pub(crate) fn id_of(&self, name: &str) -> Option<CapabilityId> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .and_then(CapabilityId::from_index)
    }
}
