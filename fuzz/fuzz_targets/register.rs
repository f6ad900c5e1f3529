//! Arbitrary bytes and `wasm-smith` modules (any shape, with or without the `palisade.abi`
//! section) through compilation and the contract check. Oracles: never panics; every refusal is
//! a typed error with a message and advice; a module that compiles passes the grant check for a
//! tenant with every capability; a tenant with none is admitted exactly when the module needs
//! no capability, and otherwise refused with `CapabilityDenied`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::{CapSet, ErrorKind, Limits};

fuzz_target!(|data: &[u8]| {
    let host = palisade_fuzz::Host::new(1);
    let mut u = Unstructured::new(data);
    let Ok(mode) = u8::arbitrary(&mut u) else {
        return;
    };
    let bytes = match mode % 3 {
        0 => u.take_rest().to_vec(),
        1 => {
            let Ok(config) = wasm_smith::Config::arbitrary(&mut u) else {
                return;
            };
            let Ok(module) = wasm_smith::Module::new(config, &mut u) else {
                return;
            };
            palisade_fuzz::with_abi_section(module.to_bytes())
        }
        _ => match palisade_fuzz::abi_module(&mut u, true) {
            Ok(bytes) => bytes,
            Err(_) => return,
        },
    };
    let Some(module) = palisade_fuzz::compile_or_typed_refusal(&host.runtime, &bytes) else {
        return;
    };
    let all = host.tenant(Limits::default());
    if let Err(e) = host.runtime.check_grants(&module, &all) {
        panic!("a tenant with every capability was refused: {e}");
    }
    let none = host.runtime.tenant("none").build().expect("a tenant with no grants builds");
    let needs_none = module.info().required == CapSet::EMPTY;
    match host.runtime.check_grants(&module, &none) {
        Ok(()) => assert!(needs_none, "a tenant without grants was admitted to a module that needs some"),
        Err(e) => {
            assert!(!needs_none, "a module that needs no capability was refused: {e}");
            assert!(
                matches!(e.kind(), ErrorKind::CapabilityDenied { .. }),
                "a grant refusal that is not CapabilityDenied: {e:?}"
            );
        }
    }
});
