//! The script folder manifest (`palisade.toml`): which scripts exist, their grants and limits.

use std::collections::BTreeMap;
use std::time::Duration;

use palisade::Limits;
use serde::Deserialize;

/// The manifest's file name inside a script folder.
pub const MANIFEST_FILE: &str = "palisade.toml";

/// Limits as written in a manifest; every field is optional and falls back to the level above
/// (script → `[limits]` → [`Limits::default`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Fuel between two deadline checks.
    pub fuel_slice: Option<u64>,
    /// Linear memory cap in bytes.
    pub memory_bytes: Option<usize>,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Input cap in bytes.
    pub input_bytes: Option<usize>,
    /// Output cap in bytes.
    pub output_bytes: Option<usize>,
    /// Log bytes per call.
    pub log_bytes: Option<usize>,
    /// Largest KV value in bytes.
    pub kv_value_bytes: Option<usize>,
    /// KV bytes one call may write.
    pub kv_write_bytes: Option<usize>,
    /// Calls per second, `0` for unlimited.
    pub calls_per_second: Option<u32>,
    /// Burst size.
    pub burst: Option<u32>,
}

impl LimitsSpec {
    /// `self` where set, else `base`.
    pub fn or(self, base: LimitsSpec) -> LimitsSpec {
        LimitsSpec {
            fuel: self.fuel.or(base.fuel),
            fuel_slice: self.fuel_slice.or(base.fuel_slice),
            memory_bytes: self.memory_bytes.or(base.memory_bytes),
            deadline_ms: self.deadline_ms.or(base.deadline_ms),
            input_bytes: self.input_bytes.or(base.input_bytes),
            output_bytes: self.output_bytes.or(base.output_bytes),
            log_bytes: self.log_bytes.or(base.log_bytes),
            kv_value_bytes: self.kv_value_bytes.or(base.kv_value_bytes),
            kv_write_bytes: self.kv_write_bytes.or(base.kv_write_bytes),
            calls_per_second: self.calls_per_second.or(base.calls_per_second),
            burst: self.burst.or(base.burst),
        }
    }

    /// The limits, starting from `base` for every field not set.
    pub fn apply(self, base: Limits) -> Limits {
        let mut b = Limits::builder()
            .fuel(self.fuel.unwrap_or(base.fuel))
            .fuel_slice(self.fuel_slice.unwrap_or(base.fuel_slice))
            .memory_bytes(self.memory_bytes.unwrap_or(base.memory_bytes))
            .input_bytes(self.input_bytes.unwrap_or(base.input_bytes))
            .output_bytes(self.output_bytes.unwrap_or(base.output_bytes))
            .log_bytes(self.log_bytes.unwrap_or(base.log_bytes))
            .kv_value_bytes(self.kv_value_bytes.unwrap_or(base.kv_value_bytes))
            .kv_write_bytes(self.kv_write_bytes.unwrap_or(base.kv_write_bytes))
            .calls_per_second(self.calls_per_second.unwrap_or(base.calls_per_second))
            .burst(self.burst.unwrap_or(base.burst))
            .table_elements(base.table_elements);
        b = b.deadline(
            self.deadline_ms
                .map_or(base.deadline, Duration::from_millis),
        );
        b.build()
    }
}

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
    pub limits: LimitsSpec,
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
    pub limits: LimitsSpec,
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
