//! The guest contract, ABI v1 (specified in `docs/ABI.md`), and the checks that enforce it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use wasmi::{ExternType, FuncType, Module, ValType};

use crate::binary;
use crate::capability::{CapSet, CapabilityId, CapabilityTable};
use crate::error::{ContractViolation, Error, ErrorKind, concat};

#[cfg(feature = "wasi")]
pub(crate) mod preview1;

pub use crate::start::START_EXPORT;

/// The import module namespace every host function lives in.
pub const IMPORT_NAMESPACE: &str = "palisade";
/// The import module namespace of WASI preview1 (public as `WASI_NAMESPACE`).
#[cfg(feature = "wasi")]
pub(crate) const WASI_NAMESPACE: &str = "wasi_snapshot_preview1";
/// The custom section in which a guest declares its ABI version.
pub const ABI_SECTION: &str = "palisade.abi";
/// The ABI version this host implements.
pub const ABI_VERSION: u32 = 1;
/// The oldest ABI version this host accepts.
pub const MIN_ABI_VERSION: u32 = 1;
/// The guest memory export.
pub const MEMORY_EXPORT: &str = "memory";
/// The guest allocator export: `(len: i32) -> i32`.
pub const ALLOC_EXPORT: &str = "palisade_alloc";
/// Export names starting with this are reserved for the ABI.
pub const RESERVED_PREFIX: &str = "palisade_";

/// What the contract check learned about a module.
#[derive(Debug, Clone)]
pub struct ContractInfo {
    /// The declared ABI version.
    pub abi_version: u32,
    /// The capabilities the module's imports need (without `core`).
    pub required: CapSet,
    /// Every import, by name, with its capability's id.
    pub imports: Vec<(Box<str>, CapabilityId)>,
    /// The entry points, in export order.
    pub entries: Vec<Box<str>>,
    /// Whether the module has a start function. It runs at the beginning of every call, before
    /// `palisade_alloc` and the entry point, under the call's fuel, deadline and interrupt
    /// (Palisade exports it as [`START_EXPORT`] to run it so).
    pub has_start: bool,
    /// Set for a WASI guest (`docs/WASI.md`): a module that imports from
    /// `wasi_snapshot_preview1`. Its entry points take no parameters and return nothing; its
    /// input is stdin and its output stdout. `abi_version` is then 0 (WASI guests declare none).
    pub wasi: Option<WasiInfo>,
}

/// What kind of WASI guest a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasiKind {
    /// Exports `_start`, the one entry point: `main` of an ordinary program.
    Command,
    /// Exports no `_start`: every call runs `_initialize` (if exported) and then one of its
    /// exported `() -> ()` functions.
    Reactor,
}

/// What the contract check learned about a WASI guest.
#[derive(Debug, Clone)]
pub struct WasiInfo {
    /// Command or reactor.
    pub kind: WasiKind,
    /// The `wasi_snapshot_preview1` functions it imports, in import order.
    pub imports: Vec<Box<str>>,
}

impl ContractInfo {
    /// Whether `name` is an entry point.
    pub fn has_entry(&self, name: &str) -> bool {
        self.entries.iter().any(|e| &**e == name)
    }
}

/// The name of a value type as the text format writes it.
fn type_name(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "funcref",
        ValType::ExternRef => "externref",
    }
}

/// `(i32, i32) -> (i32)`. Built without `core::fmt`: it is on the compile path of every board.
pub(crate) fn describe(ty: &FuncType) -> String {
    let mut s = String::from("(");
    for (i, p) in ty.params().iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(type_name(*p));
    }
    s.push_str(") -> (");
    for (i, r) in ty.results().iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(type_name(*r));
    }
    s.push(')');
    s
}

fn describe_extern(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => concat(&["a function ", &describe(f)]),
        ExternType::Global(_) => String::from("a global"),
        ExternType::Table(_) => String::from("a table"),
        ExternType::Memory(_) => String::from("a memory"),
    }
}

fn is_func(ty: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    ty.params() == params && ty.results() == results
}

/// The declared ABI version, from the `palisade.abi` custom section of the module `bytes`.
///
/// The core reads the section from the bytes, not from a compiled [`Module`]: its engine does
/// not keep custom sections. Only the top-level structure is read; call it on bytes a
/// [`Runtime`](crate::Runtime) (or wasmi) accepted to know that the rest is valid.
///
/// # Errors
///
/// `MissingAbiVersion` (also when the top-level structure breaks before the section),
/// `MalformedAbiVersion`, or `UnsupportedAbiVersion`.
pub fn abi_version(bytes: &[u8]) -> Result<u32, ContractViolation> {
    let mut found = None;
    for data in binary::custom_sections(bytes, ABI_SECTION) {
        let Ok(data) = data else {
            break;
        };
        let bytes: [u8; 4] = data
            .try_into()
            .map_err(|_| ContractViolation::MalformedAbiVersion)?;
        if found.replace(u32::from_le_bytes(bytes)).is_some() {
            return Err(ContractViolation::MalformedAbiVersion);
        }
    }
    let version = found.ok_or(ContractViolation::MissingAbiVersion)?;
    if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&version) {
        return Err(ContractViolation::UnsupportedAbiVersion {
            found: version,
            min: MIN_ABI_VERSION,
            max: ABI_VERSION,
        });
    }
    Ok(version)
}

/// Checks a compiled module against the contract: version, exports, and that every import is a
/// `palisade` function this host provides with the right signature. `bytes`: the module as
/// written, for its custom sections. `has_start`: the module's
/// start function was hoisted into the export [`START_EXPORT`], which is the host's, not the
/// guest's (without a start function, that export is a reserved name like any other).
pub(crate) fn check(
    module: &Module,
    bytes: &[u8],
    table: &CapabilityTable,
    has_start: bool,
) -> Result<ContractInfo, Error> {
    // A module that declares `palisade.abi` is an ABI-v1 guest whatever it imports (a WASI
    // import is then foreign); one that does not and imports WASI is a WASI guest.
    #[cfg(feature = "wasi")]
    if module.imports().any(|i| i.module() == WASI_NAMESPACE)
        && binary::custom_sections(bytes, ABI_SECTION).next().is_none()
    {
        return check_wasi(module, table, has_start);
    }
    let abi_version = abi_version(bytes)?;

    let mut has_memory = false;
    let mut has_alloc = false;
    let mut entries = Vec::new();
    for export in module.exports() {
        let name = export.name();
        let ty = export.ty();
        if name == MEMORY_EXPORT {
            if !matches!(ty, ExternType::Memory(_)) {
                return Err(ContractViolation::WrongExportType {
                    name: name.into(),
                    expected: "a memory",
                    found: describe_extern(ty),
                }
                .into());
            }
            has_memory = true;
            continue;
        }
        let ExternType::Func(f) = ty else {
            continue; // globals and tables (e.g. `__heap_base`) are harmless
        };
        if has_start && name == START_EXPORT {
            continue;
        }
        if name == ALLOC_EXPORT {
            if !is_func(f, &[ValType::I32], &[ValType::I32]) {
                return Err(ContractViolation::WrongExportType {
                    name: name.into(),
                    expected: "a function (i32) -> (i32)",
                    found: describe_extern(ty),
                }
                .into());
            }
            has_alloc = true;
        } else if name.starts_with(RESERVED_PREFIX) {
            return Err(ContractViolation::ReservedExport { name: name.into() }.into());
        } else if is_func(f, &[ValType::I32, ValType::I32], &[ValType::I32]) {
            entries.push(Box::from(name));
        } else {
            return Err(ContractViolation::WrongExportType {
                name: name.into(),
                expected: "an entry point (i32, i32) -> (i32)",
                found: describe_extern(ty),
            }
            .into());
        }
    }
    if !has_memory {
        return Err(ContractViolation::MissingExport {
            name: MEMORY_EXPORT,
            expected: "a memory",
        }
        .into());
    }
    if !has_alloc {
        return Err(ContractViolation::MissingExport {
            name: ALLOC_EXPORT,
            expected: "a function (i32) -> (i32)",
        }
        .into());
    }
    if entries.is_empty() {
        return Err(ContractViolation::NoEntryPoint.into());
    }

    let (required, imports) = check_imports(module, table, |_, _| Ok(false))?;
    Ok(ContractInfo {
        abi_version,
        required,
        imports,
        entries,
        has_start,
        wasi: None,
    })
}

/// The `palisade` imports of a module, each with its capability's index.
type PalisadeImports = Vec<(Box<str>, CapabilityId)>;

/// Checks every import: a `palisade` function this host provides with the right signature,
/// or one that `other(namespace, import)` accepts. Returns the capabilities needed and the
/// `palisade` imports with theirs.
fn check_imports(
    module: &Module,
    table: &CapabilityTable,
    mut other: impl FnMut(&str, &wasmi::ImportType<'_>) -> Result<bool, Error>,
) -> Result<(CapSet, PalisadeImports), Error> {
    let mut required = CapSet::EMPTY;
    let mut imports = Vec::new();
    for import in module.imports() {
        if other(import.module(), &import)? {
            continue;
        }
        let name = import.name();
        let ExternType::Func(f) = import.ty() else {
            return Err(ContractViolation::ForeignImport {
                import: concat(&[import.module(), ".", name]),
            }
            .into());
        };
        if import.module() != IMPORT_NAMESPACE {
            return Err(ContractViolation::ForeignImport {
                import: concat(&[import.module(), ".", name]),
            }
            .into());
        }
        let Some(def) = table.import(name) else {
            return Err(ContractViolation::UnknownImport { name: name.into() }.into());
        };
        if def.ty != *f {
            return Err(ContractViolation::ImportSignature {
                name: name.into(),
                expected: describe(&def.ty),
                found: describe(f),
            }
            .into());
        }
        if def.capability != CapabilityId::CORE {
            required = required.with(def.capability);
        }
        imports.push((Box::from(name), def.capability));
    }
    Ok((required, imports))
}

/// The contract of a WASI guest (`docs/WASI.md`): a memory, `_start` (a command) or entry
/// points `() -> ()` (a reactor), and imports that are preview1 functions with their
/// specified types or `palisade` functions as for an ABI-v1 guest. No `palisade.abi` section
/// and no allocator are needed: input and output go through stdin and stdout.
#[cfg(feature = "wasi")]
fn check_wasi(
    module: &Module,
    table: &CapabilityTable,
    has_start: bool,
) -> Result<ContractInfo, Error> {
    use self::preview1 as wasi;

    let mut has_memory = false;
    let mut command = false;
    let mut entries = Vec::new();
    for export in module.exports() {
        let name = export.name();
        let ty = export.ty();
        if name == MEMORY_EXPORT {
            if !matches!(ty, ExternType::Memory(_)) {
                return Err(ContractViolation::WrongExportType {
                    name: name.into(),
                    expected: "a memory",
                    found: describe_extern(ty),
                }
                .into());
            }
            has_memory = true;
            continue;
        }
        let ExternType::Func(f) = ty else {
            continue;
        };
        if has_start && name == START_EXPORT {
            continue;
        }
        if name.starts_with(RESERVED_PREFIX) {
            return Err(ContractViolation::ReservedExport { name: name.into() }.into());
        }
        let unit = is_func(f, &[], &[]);
        if name == wasi::START || name == wasi::INITIALIZE {
            if !unit {
                return Err(ContractViolation::WrongExportType {
                    name: name.into(),
                    expected: "a function () -> ()",
                    found: describe_extern(ty),
                }
                .into());
            }
            command |= name == wasi::START;
            continue;
        }
        // Other exports of other types (`cabi_realloc`, helpers) are not entry points.
        if unit {
            entries.push(Box::from(name));
        }
    }
    if !has_memory {
        return Err(ContractViolation::MissingExport {
            name: MEMORY_EXPORT,
            expected: "a memory",
        }
        .into());
    }
    let kind = if command {
        // A command's one entry point is `_start`; its other exports are not called.
        entries = alloc::vec![Box::from(wasi::START)];
        WasiKind::Command
    } else {
        WasiKind::Reactor
    };
    if entries.is_empty() {
        return Err(ContractViolation::NoEntryPoint.into());
    }
    let mut wasi_imports = Vec::new();
    let (required, imports) = check_imports(module, table, |namespace, import| {
        if namespace != WASI_NAMESPACE {
            return Ok(false);
        }
        let name = import.name();
        let full = || concat(&[WASI_NAMESPACE, ".", name]);
        let Some(expected) = wasi::func_type(name) else {
            return Err(ContractViolation::UnknownImport { name: full() }.into());
        };
        match import.ty() {
            ExternType::Func(f) if *f == expected => {}
            ExternType::Func(f) => {
                return Err(ContractViolation::ImportSignature {
                    name: full(),
                    expected: describe(&expected),
                    found: describe(f),
                }
                .into());
            }
            _ => return Err(ContractViolation::ForeignImport { import: full() }.into()),
        }
        wasi_imports.push(Box::from(name));
        Ok(true)
    })?;
    Ok(ContractInfo {
        abi_version: 0,
        required,
        imports,
        entries,
        has_start,
        wasi: Some(WasiInfo {
            kind,
            imports: wasi_imports,
        }),
    })
}

/// Checks that `grants` cover every import, naming the first that is not covered.
pub(crate) fn check_grants(
    info: &ContractInfo,
    grants: CapSet,
    table: &CapabilityTable,
) -> Result<(), Error> {
    if grants.contains_all(info.required) {
        return Ok(());
    }
    for (name, cap) in &info.imports {
        if *cap != CapabilityId::CORE && !grants.contains(*cap) {
            return Err(ErrorKind::CapabilityDenied {
                import: concat(&[IMPORT_NAMESPACE, ".", name]),
                capability: String::from(table.capability_name(*cap)),
            }
            .into());
        }
    }
    Ok(())
}
