//! The script folder manifest (`palisade.toml`): which scripts exist, their grants and limits.

use std::collections::BTreeMap;
// The manifest's limit tables are the core's one limits schema.
pub use palisade::LimitsPatch;
use serde::Deserialize;

/// The manifest's file name inside a script folder.
pub const MANIFEST_FILE: &str = "palisade.toml";

/// One script in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// The module file, relative to the folder: `.wasm`, or `.wat` text.
    pub file: String,
    /// The entry point to call (default: the export named like the script, else the module's
    /// only entry point).
    pub entry: Option<String>,
    /// Capabilities granted (none by default).
    #[serde(default)]
    pub allow: Vec<String>,
    /// The tenant id the script runs as, which namespaces its KV data (default: the script's
    /// name).
    pub tenant: Option<String>,
    /// Limits for this script, over the manifest's `[limits]`.
    #[serde(default)]
    pub limits: LimitsPatch,
}

/// A parsed `palisade.toml`.
///
/// ```toml
/// [limits]              # defaults for every script
/// deadline_ms = 50
/// fuel = 2_000_000
///
/// [scripts.upper]       # the script is called by this name
/// file = "upper.wasm"   # or a .wat file
/// entry = "transform"   # optional
/// allow = ["log"]       # capabilities granted; none by default
/// limits = { memory_bytes = 1048576 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Defaults for every script.
    #[serde(default)]
    pub limits: LimitsPatch,
    /// The scripts, by name.
    #[serde(default)]
    pub scripts: BTreeMap<String, ScriptSpec>,
}

impl Manifest {
    /// Parses a manifest.
    ///
    /// # Errors
    ///
    /// The TOML error, with line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
