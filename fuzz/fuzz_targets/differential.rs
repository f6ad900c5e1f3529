//! Palisade against raw wasmi on the same import-free ABI module and input: wasmi configured as
//! Palisade configures it (fuel, zero translation fuel, lazy translation, custom page sizes,
//! strict limits, the default stacks), the whole budget given at once, the module driven by hand
//! (start, `palisade_alloc`, copy the input, `run`). Oracles: the same status or the same trap
//! class, and the same total fuel — Palisade's slicing, marshalling and trap mapping add nothing.
#![no_main]

use std::time::Duration;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use palisade::{ErrorKind, Limits, TrapKind};
use wasmi::{
    CompilationMode, Config, CustomFuelCosts, EnforcedLimits, Engine, Linker, Module, Store,
    StoreLimits, StoreLimitsBuilder, TrapCode, TypedFunc,
};

/// What raw wasmi did.
#[derive(Debug)]
enum Raw {
    /// `run` returned this status.
    Status(i32),
    /// A trap with this code.
    Trap(TrapCode),
    /// Instantiation failed without a trap code (limits, segments).
    Instantiation,
    /// `palisade_alloc` gave a region outside memory (or 0).
    BadAlloc,
}

fn raw_wasmi(bytes: &[u8], limits: &Limits, input: &[u8]) -> Option<(Raw, u64)> {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .fuel_cost(CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        })
        .compilation_mode(CompilationMode::LazyTranslation)
        .wasm_custom_page_sizes(true)
        .enforced_limits(EnforcedLimits::strict());
    let engine = Engine::new(&config);
    let module = Module::new(&engine, bytes).ok()?;
    let store_limits: StoreLimits = StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .table_elements(limits.table_elements)
        .build();
    let mut store = Store::new(&engine, store_limits);
    store.limiter(|l| l);
    store.set_fuel(limits.fuel).ok()?;
    let linker = Linker::<StoreLimits>::new(&engine);
    let left = |store: &Store<StoreLimits>| limits.fuel - store.get_fuel().unwrap_or(0);
    let trap = |e: wasmi::Error| e.as_trap_code().map_or(Raw::Instantiation, Raw::Trap);
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let used = left(&store);
            return Some((trap(e), used));
        }
    };
    let memory = instance.get_memory(&store, "memory")?;
    let (ptr, len) = if input.is_empty() {
        (0, 0)
    } else {
        let alloc: TypedFunc<i32, i32> = instance.get_typed_func(&store, "palisade_alloc").ok()?;
        let ptr = match alloc.call(&mut store, input.len() as i32) {
            Ok(ptr) => ptr as u32 as usize,
            Err(e) => {
                let used = left(&store);
                return Some((trap(e), used));
            }
        };
        match memory.data_mut(&mut store).get_mut(ptr..ptr.saturating_add(input.len())) {
            Some(dst) if ptr != 0 => dst.copy_from_slice(input),
            _ => {
                let used = left(&store);
                return Some((Raw::BadAlloc, used));
            }
        }
        (ptr as i32, input.len() as i32)
    };
    let run: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&store, "run").ok()?;
    let raw = match run.call(&mut store, (ptr, len)) {
        Ok(status) => Raw::Status(status),
        Err(e) => trap(e),
    };
    let used = left(&store);
    Some((raw, used))
}

fn same_trap(kind: TrapKind, code: TrapCode) -> bool {
    matches!(
        (kind, code),
        (TrapKind::Unreachable, TrapCode::UnreachableCodeReached)
            | (TrapKind::MemoryOutOfBounds, TrapCode::MemoryOutOfBounds)
            | (TrapKind::TableOutOfBounds, TrapCode::TableOutOfBounds)
            | (TrapKind::IndirectCallToNull, TrapCode::IndirectCallToNull)
            | (TrapKind::IntegerDivisionByZero, TrapCode::IntegerDivisionByZero)
            | (TrapKind::IntegerOverflow, TrapCode::IntegerOverflow)
            | (TrapKind::BadConversionToInteger, TrapCode::BadConversionToInteger)
            | (TrapKind::StackOverflow, TrapCode::StackOverflow)
            | (TrapKind::BadSignature, TrapCode::BadSignature)
    )
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(bytes) = palisade_fuzz::abi_module(&mut u, false) else {
        return;
    };
    let Ok(mut limits) = palisade_fuzz::limits(&mut u) else {
        return;
    };
    let input: Vec<u8> = u.arbitrary().unwrap_or_default();
    limits.deadline = Duration::from_secs(1);
    let host = palisade_fuzz::Host::new(0);
    let Some(module) = palisade_fuzz::compile_or_typed_refusal(&host.runtime, &bytes) else {
        return;
    };
    let Some((raw, raw_fuel)) = raw_wasmi(&bytes, &limits, &input) else {
        panic!("Palisade compiled a module that raw wasmi could not set up");
    };
    let tenant = host.tenant(limits);
    let call = host.runtime.call(&module, &tenant, "run", &input);
    let agree = match (&call.result, &raw) {
        (Ok(out), Raw::Status(0)) => out.is_empty(),
        (Err(e), raw) => match (e.kind(), raw) {
            (ErrorKind::GuestError { code, .. }, Raw::Status(s)) => code == s,
            (ErrorKind::OutOfFuel { .. }, Raw::Trap(TrapCode::OutOfFuel)) => true,
            (ErrorKind::Trap(kind), Raw::Trap(code)) => same_trap(*kind, *code),
            (ErrorKind::Trap(_), Raw::Instantiation) => true,
            // A refused growth followed by `unreachable` is reported as the memory cap.
            (ErrorKind::MemoryCap { .. }, Raw::Trap(TrapCode::UnreachableCodeReached))
            | (ErrorKind::MemoryCap { .. }, Raw::Instantiation) => true,
            (ErrorKind::GuestMemoryOutOfBounds { .. }, Raw::BadAlloc) => true,
            _ => false,
        },
        _ => false,
    };
    assert!(agree, "Palisade {:?} but raw wasmi {raw:?}", call.result);
    // Fuel agrees whenever both ran to the same end (an out-of-fuel end may differ by the
    // instruction that did not fit, which neither engine charges).
    if !matches!(raw, Raw::Trap(TrapCode::OutOfFuel)) {
        assert_eq!(
            call.report.fuel_used, raw_fuel,
            "Palisade charged {} fuel, raw wasmi {raw_fuel}",
            call.report.fuel_used
        );
    }
});
