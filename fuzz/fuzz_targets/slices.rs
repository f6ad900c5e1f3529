//! The same module and input run with the whole budget as one fuel slice and with a random
//! slice size. Oracle: identical outcome, output or error, total fuel and memory high-water —
//! slicing (how the deadline is enforced) must never change what a guest computes or costs.
#![no_main]

use std::time::Duration;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use palisade::Limits;
use palisade_fuzz::{Host, Observed};

fn run(bytes: &[u8], limits: Limits, input: &[u8]) -> Option<Observed> {
    // A clock that never moves: the deadline cannot trip, so only slicing differs.
    let host = Host::new(0);
    let module = palisade_fuzz::compile_or_typed_refusal(&host.runtime, bytes)?;
    let tenant = host.tenant(limits);
    Some(host.runtime.call(&module, &tenant, "run", input).into())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(bytes) = palisade_fuzz::abi_module(&mut u, true) else {
        return;
    };
    let Ok(mut limits) = palisade_fuzz::limits(&mut u) else {
        return;
    };
    let Ok(slice) = u.int_in_range(1..=limits.fuel.max(1)) else {
        return;
    };
    let input: Vec<u8> = u.arbitrary().unwrap_or_default();
    limits.deadline = Duration::from_secs(1);
    let one = Limits {
        fuel_slice: limits.fuel.max(1),
        ..limits
    };
    let many = Limits {
        fuel_slice: slice,
        ..limits
    };
    let (Some(a), Some(b)) = (run(&bytes, one, &input), run(&bytes, many, &input)) else {
        return;
    };
    assert_eq!(a, b, "one slice of {} and slices of {slice} disagree", one.fuel_slice);
});
