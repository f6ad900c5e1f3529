//! The capability table: every capability a runtime knows, and the import each belongs to.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmi::{FuncType, Linker};

use crate::map::SortedMap;
use crate::store::CallState;

/// Links one host function into a linker (run once per engine generation).
pub(crate) type Installer =
    Arc<dyn Fn(&mut Linker<CallState>) -> Result<(), wasmi::errors::LinkerError> + Send + Sync>;

/// Definition of one `palisade` import: its capability and type.
#[derive(Debug, Clone)]
pub(crate) struct ImportDef {
    pub(crate) capability: u8,
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

    pub(crate) fn capability_name(&self, index: u8) -> &str {
        self.names.get(usize::from(index)).map_or("?", |n| n)
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .and_then(|i| u8::try_from(i).ok())
    }
}
