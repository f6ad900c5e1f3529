//! [`ContractViolation`]: exactly how a module breaks the guest contract (`docs/ABI.md`).

use alloc::string::String;
use core::fmt;

/// Exactly how a module breaks the guest contract.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ContractViolation {
    /// No `palisade.abi` custom section.
    MissingAbiVersion,
    /// The `palisade.abi` section is not four bytes, or appears twice.
    MalformedAbiVersion,
    /// The declared version is not one this host accepts.
    UnsupportedAbiVersion {
        /// The version the guest declared.
        found: u32,
        /// The lowest version accepted.
        min: u32,
        /// The highest version accepted.
        max: u32,
    },
    /// A required export is missing.
    MissingExport {
        /// The export's name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An export has the wrong type.
    WrongExportType {
        /// The export's name.
        name: String,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// The module exports no entry point.
    NoEntryPoint,
    /// An export uses a reserved `palisade_` name the ABI does not define.
    ReservedExport {
        /// The export's name.
        name: String,
    },
    /// An import from a module other than `palisade`, or of something that is not a function.
    ForeignImport {
        /// The import, as `module.name`.
        import: String,
    },
    /// An import of a `palisade` function this host does not provide.
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// An import of a known function with the wrong signature.
    ImportSignature {
        /// The import's name.
        name: String,
        /// The signature the host provides.
        expected: String,
        /// The signature the module asks for.
        found: String,
    },
    /// The module is larger than the host's `max_module_bytes`.
    ModuleTooLarge {
        /// The module's size.
        len: usize,
        /// The cap.
        cap: usize,
    },
}

impl fmt::Display for ContractViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingAbiVersion => f.write_str(
                "the module declares no ABI version (no `palisade.abi` custom section); build it with the palisade-guest SDK or add the section (docs/ABI.md §1)",
            ),
            Self::MalformedAbiVersion => f.write_str(
                "the `palisade.abi` custom section must appear once and hold exactly 4 bytes (a little-endian u32)",
            ),
            Self::UnsupportedAbiVersion { found, min, max } => write!(
                f,
                "the module declares ABI version {found}, but this host accepts {min}..={max}; rebuild the guest against a supported palisade-guest SDK"
            ),
            Self::MissingExport { name, expected } => {
                write!(f, "the module does not export `{name}` ({expected})")
            }
            Self::WrongExportType {
                name,
                expected,
                found,
            } => write!(
                f,
                "export `{name}` is {found}, but must be {expected}"
            ),
            Self::NoEntryPoint => f.write_str(
                "the module exports no entry point: export a function `(i32, i32) -> i32`",
            ),
            Self::ReservedExport { name } => write!(
                f,
                "export `{name}` uses the reserved `palisade_` prefix; rename it"
            ),
            Self::ForeignImport { import } => write!(
                f,
                "import `{import}` is not a function of the `palisade` namespace; guests may import only `palisade` functions"
            ),
            Self::UnknownImport { name } => write!(
                f,
                "import `palisade.{name}` is not provided by this host; check the name against docs/ABI.md"
            ),
            Self::ImportSignature {
                name,
                expected,
                found,
            } => write!(
                f,
                "import `palisade.{name}` has type {found}, but the host provides {expected}"
            ),
            Self::ModuleTooLarge { len, cap } => write!(
                f,
                "the module is {len} bytes, over this host's limit of {cap} bytes"
            ),
        }
    }
}
