//! The pre-validated profile: `BundleBuilder::validate` records the packer's validation in the
//! signed manifest, and a build without the core's `validate` feature compiles a module only
//! from a bundle signed by a trusted key whose record matches this build and this module.
//!
//! The validating build checks that the packer writes the record only after validating, and
//! that `tests/data/prevalidated.bundle` is exactly what the packer writes; the build without
//! the validator (`cargo test -p palisade --no-default-features --test all prevalidated`) runs
//! that bundle and refuses every other.
#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests fail loudly on setup errors and index buffers they built"
)]

use std::sync::Arc;

use palisade::bundle::{self, HEADER_LEN};
use palisade::{
    Bundle, BundleBuilder, BundleError, Digest, ErrorKind, Limits, ManualClock, Runtime, Tenant,
    TrustStore,
};

/// The key that signed `tests/data/prevalidated.bundle`.
const SECRET: [u8; 32] = [0x5a; 32];
/// Packed for a build without `simd` (the fingerprint names the configuration); a workspace
/// build that unifies `simd` in checks the packer's record without it.
#[cfg(not(feature = "simd"))]
const FIXTURE: &[u8] = include_bytes!("../data/prevalidated.bundle");

/// A guest with a start function (hoisted at compile time, so the unvalidated path runs the
/// rewrite too) that stores "pre" in memory, and an entry `greet` that outputs it.
fn module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "palisade" "output" (func $output (param i32 i32)))
          (memory (export "memory") 1)
          (func $init (i32.store8 (i32.const 16) (i32.const 112))
                      (i32.store8 (i32.const 17) (i32.const 114))
                      (i32.store8 (i32.const 18) (i32.const 101)))
          (start $init)
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "greet") (param i32 i32) (result i32)
            (call $output (i32.const 16) (i32.const 3)) (i32.const 0))
          (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .expect("test WAT")
}

fn builder(wasm: &[u8]) -> BundleBuilder<'_> {
    BundleBuilder::new("greeter", "1.0.0", wasm).provenance("prevalidated.rs")
}

fn runtime() -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .build()
        .expect("runtime")
}

fn tenant(runtime: &Runtime) -> Tenant {
    runtime
        .tenant("acme")
        .limits(Limits::default())
        .build()
        .expect("tenant")
}

fn trust() -> TrustStore {
    let mut trust = TrustStore::require_signatures();
    trust
        .add_key(&bundle::public_key(&SECRET))
        .expect("valid key");
    trust
}

/// A manifest of `wasm` ending with a hand-made record: kind 1, `fingerprint`, and the binding
/// of `fingerprint` to `bound` (what only a signer can make a build without validator accept).
fn manifest_with_record(wasm: &[u8], fingerprint: u64, bound: &Digest) -> Vec<u8> {
    let mut manifest = builder(wasm).manifest().expect("manifest");
    let mut input = b"PLSV".to_vec();
    input.extend_from_slice(&fingerprint.to_le_bytes());
    input.extend_from_slice(bound.as_bytes());
    manifest.push(1);
    manifest.extend_from_slice(&fingerprint.to_le_bytes());
    manifest.extend_from_slice(Digest::of(&input).as_bytes());
    manifest
}

fn signed_bundle(manifest: &[u8], wasm: &[u8]) -> Vec<u8> {
    let signature = bundle::sign_manifest(manifest, &SECRET);
    bundle::assemble(
        manifest,
        Some((&bundle::public_key(&SECRET), &signature)),
        wasm,
    )
    .expect("bundle")
}

#[test]
fn old_bundles_without_a_record_stay_version_1_and_hand_made_records_are_version_2() {
    let wasm = module();
    let plain = builder(&wasm).sign(&SECRET).expect("bundle");
    assert_eq!(plain[4], 1, "a bundle without a record is format version 1");
    let parsed = Bundle::new_checked(&plain).expect("parses");
    assert_eq!(parsed.manifest().validation(), None);

    let manifest = manifest_with_record(&wasm, 7, &Digest::of(&wasm));
    let recorded = signed_bundle(&manifest, &wasm);
    assert_eq!(recorded[4], 2, "a bundle with a record is format version 2");
    let record = Bundle::new_checked(&recorded)
        .expect("parses")
        .manifest()
        .validation()
        .expect("record");
    assert_eq!(record.fingerprint(), 7);
    assert!(record.binds(&Digest::of(&wasm)));
    assert!(!record.binds(&Digest::of(b"another module")));

    // The header's version must agree with the manifest: a version 1 header on a manifest
    // with a record (or the reverse) is malformed.
    let mut relabelled = recorded.clone();
    relabelled[4] = 1;
    assert!(matches!(
        Bundle::new_checked(&relabelled),
        Err(BundleError::Malformed(_))
    ));
    let mut relabelled = plain.clone();
    relabelled[4] = 2;
    assert!(matches!(
        Bundle::new_checked(&relabelled),
        Err(BundleError::Malformed(_))
    ));
    // An unknown record kind is malformed, not ignored.
    let mut unknown = manifest.clone();
    let kind_at = unknown.len() - palisade::ValidationRecord::LEN;
    unknown[kind_at] = 9;
    assert!(matches!(
        palisade::Manifest::new_checked(&unknown),
        Err(BundleError::Malformed(_))
    ));
    assert!(HEADER_LEN < recorded.len());
}

#[cfg(feature = "validate")]
mod packer {
    use super::*;

    #[cfg(not(feature = "simd"))]
    const FIXTURE_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/prevalidated.bundle"
    );

    #[test]
    fn validate_records_the_validating_configuration_after_validating() {
        let wasm = module();
        let bytes = builder(&wasm)
            .validate()
            .expect("a valid module")
            .sign(&SECRET)
            .expect("bundle");
        assert_eq!(bytes[4], 2);
        let parsed = Bundle::new_checked(&bytes).expect("parses");
        let record = parsed.manifest().validation().expect("a record");
        let runtime = runtime();
        assert_eq!(record.fingerprint(), runtime.config_fingerprint());
        assert!(record.binds(&Digest::of(&wasm)));
        // The validating build compiles it as any bundle (and validates it again).
        let verified = parsed.verify(&trust()).expect("verifies");
        let module = runtime.compile_bundle(&verified).expect("compiles");
        let call = runtime.call(&module, &tenant(&runtime), "greet", b"");
        assert_eq!(call.result.expect("call"), b"pre");
    }

    #[test]
    fn validate_refuses_an_invalid_module_and_records_nothing() {
        // Type error: `i32.add` of one operand. Also a start function of the wrong type,
        // which only the validation of the module as written catches.
        for wat in [
            r#"(module (func (export "f") (result i32) (i32.add (i32.const 1))))"#,
            r#"(module (func $s (param i32)) (start $s))"#,
        ] {
            let wasm = wat::parse_str(wat).expect("test WAT");
            let err = builder(&wasm).validate().expect_err("invalid");
            assert!(
                matches!(err.kind(), ErrorKind::InvalidModule { .. }),
                "{err}"
            );
        }
    }

    /// The fixture the build without validator runs is exactly what the packer writes (ed25519
    /// signatures are deterministic). `PALISADE_BLESS=1` rewrites it after a format change.
    #[cfg(not(feature = "simd"))]
    #[test]
    fn the_prevalidated_fixture_is_what_the_packer_writes() {
        let wasm = module();
        let bytes = builder(&wasm)
            .validate()
            .expect("valid")
            .sign(&SECRET)
            .expect("bundle");
        if std::env::var_os("PALISADE_BLESS").is_some() {
            std::fs::write(FIXTURE_PATH, &bytes).expect("write the fixture");
        }
        assert!(
            bytes == FIXTURE,
            "{FIXTURE_PATH} is stale: rerun with PALISADE_BLESS=1"
        );
    }
}

#[cfg(not(feature = "validate"))]
mod without_validator {
    use super::*;
    use palisade::PrevalidationRefusal;

    /// Verifies `bytes` against `trust` and compiles them; the error kind if either fails.
    fn install(runtime: &Runtime, bytes: &[u8], trust: &TrustStore) -> Result<(), ErrorKind> {
        let bundle = Bundle::new_checked(bytes).map_err(ErrorKind::Bundle)?;
        let verified = bundle.verify(trust).map_err(ErrorKind::Bundle)?;
        runtime
            .compile_bundle(&verified)
            .map(drop)
            .map_err(|e| e.kind().clone())
    }

    fn refusal(result: Result<(), ErrorKind>) -> PrevalidationRefusal {
        match result {
            Err(ErrorKind::Bundle(BundleError::NotPrevalidated(r))) => r,
            other => panic!("expected NotPrevalidated, got {other:?}"),
        }
    }

    // These tests run only where the core really has no validator.
    const _: () = assert!(!palisade::VALIDATE);

    #[cfg(not(feature = "simd"))]
    #[test]
    fn a_validated_signed_bundle_compiles_and_runs() {
        let runtime = runtime();
        let bundle = Bundle::new_checked(FIXTURE).expect("parses");
        assert_eq!(bundle.module(), module(), "the fixture carries module()");
        let verified = bundle.verify(&trust()).expect("verifies");
        let module = runtime
            .compile_bundle(&verified)
            .expect("compiles unvalidated");
        let call = runtime.call(&module, &tenant(&runtime), "greet", b"");
        assert_eq!(call.result.expect("the start function ran"), b"pre");
    }

    #[test]
    fn raw_bytes_are_refused_with_advice() {
        let runtime = runtime();
        for err in [
            runtime.compile(&module()).map(drop).expect_err("refused"),
            runtime
                .compile_raw(&module())
                .map(drop)
                .expect_err("refused"),
        ] {
            let ErrorKind::InvalidModule { reason } = err.kind() else {
                panic!("expected InvalidModule, got {err}");
            };
            assert!(reason.contains("no WebAssembly validator"), "{reason}");
            assert!(reason.contains("BundleBuilder::validate"), "{reason}");
        }
    }

    #[cfg(not(feature = "simd"))]
    #[test]
    fn the_same_module_unsigned_is_refused_even_with_its_record() {
        let runtime = runtime();
        let fixture = Bundle::new_checked(FIXTURE).expect("parses");
        let unsigned = bundle::assemble(fixture.manifest().as_bytes(), None, fixture.module())
            .expect("bundle");
        let permissive = TrustStore::signatures_optional();
        assert_eq!(
            refusal(install(&runtime, &unsigned, &permissive)),
            PrevalidationRefusal::Unsigned
        );
        // Required signatures refuse it before any record is looked at.
        assert_eq!(
            install(&runtime, &unsigned, &trust()),
            Err(ErrorKind::Bundle(BundleError::MissingSignature))
        );
    }

    #[test]
    fn a_signed_bundle_without_a_record_is_refused() {
        let runtime = runtime();
        let wasm = module();
        let bytes = builder(&wasm).sign(&SECRET).expect("bundle");
        let err = install(&runtime, &bytes, &trust());
        assert_eq!(refusal(err.clone()), PrevalidationRefusal::NoRecord);
        let ErrorKind::Bundle(e) = err.expect_err("refused") else {
            unreachable!()
        };
        assert!(e.advice().contains("validating packer"), "{}", e.advice());
    }

    #[test]
    fn a_record_for_another_configuration_is_refused() {
        let runtime = runtime();
        let wasm = module();
        let build = runtime.config_fingerprint();
        let other = build ^ 1;
        let manifest = manifest_with_record(&wasm, other, &Digest::of(&wasm));
        let bytes = signed_bundle(&manifest, &wasm);
        assert_eq!(
            refusal(install(&runtime, &bytes, &trust())),
            PrevalidationRefusal::OtherConfiguration {
                recorded: other,
                build
            }
        );
    }

    #[test]
    fn a_record_made_for_another_module_is_refused() {
        let runtime = runtime();
        let wasm = module();
        let build = runtime.config_fingerprint();
        // A record bound to another module's digest, copied into this module's manifest.
        let manifest = manifest_with_record(&wasm, build, &Digest::of(b"another module"));
        let bytes = signed_bundle(&manifest, &wasm);
        assert_eq!(
            refusal(install(&runtime, &bytes, &trust())),
            PrevalidationRefusal::OtherModule
        );
        // The same record, correctly bound, is accepted: only the binding differed.
        let manifest = manifest_with_record(&wasm, build, &Digest::of(&wasm));
        let bytes = signed_bundle(&manifest, &wasm);
        assert_eq!(install(&runtime, &bytes, &trust()), Ok(()));
    }

    #[test]
    fn a_record_signed_by_an_untrusted_key_is_refused() {
        let runtime = runtime();
        let wasm = module();
        let manifest =
            manifest_with_record(&wasm, runtime.config_fingerprint(), &Digest::of(&wasm));
        let bytes = signed_bundle(&manifest, &wasm);
        let mut other = TrustStore::signatures_optional();
        other
            .add_key(&bundle::public_key(&[0x33; 32]))
            .expect("key");
        assert!(matches!(
            install(&runtime, &bytes, &other),
            Err(ErrorKind::Bundle(BundleError::UntrustedKey(_)))
        ));
    }
}
