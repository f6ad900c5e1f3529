//! `wasm-smith` modules adapted to the ABI (importing any host function), run under random
//! limits with a clock that steps on every read. Oracles (`palisade_fuzz::assert_call_within_limits`):
//! fuel used ≤ budget; memory high-water ≤ cap; output and log within their caps; no more fuel
//! slices ran than the deadline was checked, plus one; no host error; and the host serves a good
//! guest afterwards.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use palisade::Outcome;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(bytes) = palisade_fuzz::abi_module(&mut u, true) else {
        return;
    };
    let Ok(limits) = palisade_fuzz::limits(&mut u) else {
        return;
    };
    let Ok(step) = u.int_in_range(1u64..=200_000) else {
        return;
    };
    let input: Vec<u8> = u.arbitrary().unwrap_or_default();
    let host = palisade_fuzz::Host::new(step);
    let Some(module) = palisade_fuzz::compile_or_typed_refusal(&host.runtime, &bytes) else {
        return;
    };
    let tenant = host.tenant(limits);
    let before = host.clock.reads();
    let call = host.runtime.call(&module, &tenant, "run", &input);
    let reads = host.clock.reads() - before;
    palisade_fuzz::assert_call_within_limits(&call, &limits, reads);
    assert_ne!(
        call.report.outcome,
        Outcome::HostError,
        "a guest produced a host error: {:?}",
        call.result
    );
    host.assert_serves_good_guest();
});
