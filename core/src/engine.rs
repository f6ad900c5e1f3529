//! The wasmi engine configuration every runtime uses, its fingerprint, and engine generations.

use wasmi::{CompilationMode, Config, CustomFuelCosts, EnforcedLimits, Engine, Linker};

use crate::error::{Error, wasm_reason};
use crate::limits::StackLimits;
use crate::store::{CallState, Shared};

/// The engine configuration. `stack` must be valid ([`StackLimits::is_valid`]): wasmi panics
/// otherwise, and [`RuntimeBuilder::build`] checks it first.
fn engine_config(stack: &StackLimits) -> Config {
    let mut config = Config::default();
    config
        .set_max_recursion_depth(stack.max_recursion_depth)
        .set_max_cached_stacks(stack.cached_stacks);
    // Order the setters so that neither sees min > max (wasmi panics then): from the defaults
    // (1,000 / 1,000,000), a maximum of at least 1,000 can be set first.
    if stack.max_bytes >= StackLimits::DEFAULT_INITIAL_BYTES {
        config
            .set_max_stack_height(stack.max_bytes)
            .set_min_stack_height(stack.initial_bytes);
    } else {
        config
            .set_min_stack_height(stack.initial_bytes)
            .set_max_stack_height(stack.max_bytes);
    }
    config
        .consume_fuel(true)
        // Translation fuel is charged to whichever call translates first and is not
        // resumable: price it at zero so that slices of any size resume (DESIGN.md).
        .fuel_cost(CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        })
        .compilation_mode(CompilationMode::LazyTranslation)
        // The core reads the one custom section it needs (`palisade.abi`) from the bytes
        // (crate::binary); wasmi would keep every custom section (a guest's `name`,
        // `producers`, ...) on the heap for as long as the module is loaded.
        .ignore_custom_sections(true)
        .enforced_limits(EnforcedLimits::strict());
    // The setter exists only with wasmi's validator; without it the parser reads custom page
    // sizes unasked, so both builds accept the same modules (and share the fingerprint).
    #[cfg(feature = "validate")]
    config.wasm_custom_page_sizes(true);
    config
}

/// An engine with the default stack limits, for validating a module and dropping the result
/// (`BundleBuilder::validate`): an engine never frees its modules.
#[cfg(feature = "validate")]
pub(crate) fn scratch_engine() -> Engine {
    Engine::new(&engine_config(&StackLimits::default()))
}

/// Identifies the engine configuration above; part of compile-cache keys and of bundles'
/// validation records. With the `simd` feature wasmi accepts the `simd` and `relaxed-simd`
/// proposals (its `Config::default`). The `validate` feature does not change it: a build
/// without the validator accepts the modules a validating build with the same description
/// validated, and nothing else is safe to give it (`BundleBuilder::validate`). Maintained by
/// hand: whoever changes `engine_config` or the wasmi version changes this string too, since a
/// build without the validator trusts records that name it.
#[cfg(not(feature = "simd"))]
const CONFIG_DESCRIPTION: &str =
    "wasmi-2.0.0;fuel;copy64/translate0/validate0;lazy-translation;custom-page-sizes;strict-limits";
#[cfg(feature = "simd")]
const CONFIG_DESCRIPTION: &str = "wasmi-2.0.0;fuel;copy64/translate0/validate0;lazy-translation;custom-page-sizes;strict-limits;simd";

pub(crate) fn generation(shared: &Shared) -> Result<(Engine, Linker<CallState>), Error> {
    let engine = Engine::new(&engine_config(&shared.stack));
    let mut linker = Linker::new(&engine);
    for install in &shared.installers {
        install(&mut linker)
            .map_err(|e| Error::config(wasm_reason(&e, "a host function could not be linked")))?;
    }
    #[cfg(feature = "wasi")]
    crate::wasi::install(&mut linker)
        .map_err(|e| Error::config(wasm_reason(&e, "a WASI function could not be linked")))?;
    Ok((engine, linker))
}

/// A fingerprint of [`CONFIG_DESCRIPTION`]; see [`crate::Runtime::config_fingerprint`].
pub(crate) fn fingerprint() -> u64 {
    // FNV-1a: stable across builds and platforms.
    CONFIG_DESCRIPTION
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}
