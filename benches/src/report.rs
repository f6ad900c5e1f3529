//! Turns measured phase times into the report's tables and crossover points.

/// The smallest number of invocations `n >= 1` after which engine `other` costs less in total
/// than `base`, where an engine's total for `n` invocations is
/// `startup + (n - 1) * invoke` (all in the same unit).
///
/// `None` when `other` never overtakes `base` (it is no faster per invocation and no faster to
/// start).
pub fn crossover(base_startup: f64, base_invoke: f64, other_startup: f64, other_invoke: f64) -> Option<u64> {
    if other_startup < base_startup {
        return Some(1);
    }
    if other_invoke >= base_invoke {
        return None;
    }
    // other_startup + (n-1)·other_invoke < base_startup + (n-1)·base_invoke
    let gap = (other_startup - base_startup) / (base_invoke - other_invoke);
    let n = gap.floor() + 2.0;
    if n.is_finite() && n < u64::MAX as f64 {
        Some(n as u64)
    } else {
        None
    }
}
