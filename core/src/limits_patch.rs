//! [`LimitsPatch`]: the one limits schema hosts read from configuration files and APIs.

use core::time::Duration;

use crate::Limits;

/// Limits as a host's configuration writes them: every field optional, applied over a base
/// [`Limits`] with [`LimitsPatch::apply`] and layered with [`LimitsPatch::or`] (e.g. script →
/// `[limits]` → [`Limits::default`]).
///
/// With the `serde` feature it (de)serializes with these field names — the deadline as
/// `deadline_ms`, whole milliseconds — and rejects unknown fields, so a misspelt limit is an
/// error rather than silently the default. `table_elements` is not configurable here: hosts
/// keep [`Limits::DEFAULT_TABLE_ELEMENTS`] or the base's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct LimitsPatch {
    /// Fuel per call.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fuel: Option<u64>,
    /// Fuel between two deadline checks.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fuel_slice: Option<u64>,
    /// Linear memory cap in bytes.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub memory_bytes: Option<usize>,
    /// Wall-clock deadline per call, in milliseconds.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub deadline_ms: Option<u64>,
    /// Input cap in bytes.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub input_bytes: Option<usize>,
    /// Output cap in bytes.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub output_bytes: Option<usize>,
    /// Log bytes per call.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub log_bytes: Option<usize>,
    /// Largest KV value in bytes.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub kv_value_bytes: Option<usize>,
    /// KV bytes one call may write.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub kv_write_bytes: Option<usize>,
    /// Calls per second, `0` for unlimited.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub calls_per_second: Option<u32>,
    /// Burst size.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub burst: Option<u32>,
}

impl LimitsPatch {
    /// `self` where set, else `base`.
    #[must_use]
    pub fn or(self, base: LimitsPatch) -> LimitsPatch {
        LimitsPatch {
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

    /// The limits, starting from `base` for every field not set. Values go through
    /// [`Limits::builder`], so its floors apply (e.g. a burst of at least 1).
    #[must_use]
    pub fn apply(self, base: Limits) -> Limits {
        Limits::builder()
            .fuel(self.fuel.unwrap_or(base.fuel))
            .fuel_slice(self.fuel_slice.unwrap_or(base.fuel_slice))
            .memory_bytes(self.memory_bytes.unwrap_or(base.memory_bytes))
            .deadline(
                self.deadline_ms
                    .map_or(base.deadline, Duration::from_millis),
            )
            .input_bytes(self.input_bytes.unwrap_or(base.input_bytes))
            .output_bytes(self.output_bytes.unwrap_or(base.output_bytes))
            .log_bytes(self.log_bytes.unwrap_or(base.log_bytes))
            .kv_value_bytes(self.kv_value_bytes.unwrap_or(base.kv_value_bytes))
            .kv_write_bytes(self.kv_write_bytes.unwrap_or(base.kv_write_bytes))
            .calls_per_second(self.calls_per_second.unwrap_or(base.calls_per_second))
            .burst(self.burst.unwrap_or(base.burst))
            .table_elements(base.table_elements)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_overrides_only_what_it_sets_and_layers_with_or() {
        let script = LimitsPatch {
            fuel: Some(7),
            ..LimitsPatch::default()
        };
        let folder = LimitsPatch {
            fuel: Some(1),
            deadline_ms: Some(50),
            ..LimitsPatch::default()
        };
        let limits = script.or(folder).apply(Limits::default());
        assert_eq!(limits.fuel, 7);
        assert_eq!(limits.deadline, Duration::from_millis(50));
        assert_eq!(limits.memory_bytes, Limits::DEFAULT_MEMORY_BYTES);
        assert_eq!(
            LimitsPatch::default().apply(Limits::default()),
            Limits::default()
        );
    }
}
