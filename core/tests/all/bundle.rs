//! Bundles and trust: packing, allocation-free parsing, and every way a bundle is refused
//! with its own error while nothing is registered and the host keeps serving.
#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on setup errors and index buffers they built"
)]

use std::sync::Arc;

use crate::versioned_guest;
use palisade::bundle::{self, SIGNATURE_BLOCK_LEN};
use palisade::{
    Bundle, BundleBuilder, BundleError, Digest, ErrorKind, Limits, ManifestMismatch, ManualClock,
    Registry, RegistryError, Runtime, Tenant, TrustStore,
};

const SECRET: [u8; 32] = [0x11; 32];
const OTHER_SECRET: [u8; 32] = [0x22; 32];

fn trust() -> TrustStore {
    let mut trust = TrustStore::require_signatures();
    trust
        .add_key(&bundle::public_key(&SECRET))
        .expect("valid key");
    trust
}

fn setup() -> (Registry, Tenant) {
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .build()
        .expect("runtime");
    let tenant = runtime
        .tenant("acme")
        .grant("log")
        .limits(Limits::builder().calls_per_second(0).build())
        .build()
        .expect("tenant");
    (Registry::new(runtime), tenant)
}

fn signed(tag: &str) -> (Vec<u8>, Vec<u8>) {
    let wasm = versioned_guest(tag, false);
    let bytes = BundleBuilder::new("thermo", tag, &wasm)
        .provenance("ci #42")
        .smoke("echo", b"ping", b"ping")
        .sign(&SECRET)
        .expect("bundle");
    (bytes, wasm)
}

/// Nothing was registered, and a good bundle still installs and serves afterwards.
fn assert_untouched_and_serving(registry: &Registry, tenant: &Tenant) {
    assert!(registry.modules().is_empty(), "nothing may be registered");
    assert_eq!(registry.stats().compiles, 0, "nothing may be compiled");
    assert_eq!(registry.plugin("thermo"), None);
    let (good, wasm) = signed("good");
    let digest = registry
        .install(&good, &trust(), tenant)
        .expect("the host keeps serving");
    assert_eq!(digest, Digest::of(&wasm));
    let call = registry.call("thermo", tenant, "version", b"", b"k");
    assert_eq!(call.result.expect("call"), b"good");
}

#[test]
fn a_signed_bundle_round_trips_and_installs() {
    let wasm = versioned_guest("v1", true);
    let bytes = BundleBuilder::new("thermo", "1.2.0", &wasm)
        .provenance("ci run 4411")
        .capability("log")
        .smoke("version", b"", b"v1")
        .sign(&SECRET)
        .expect("bundle");
    let parsed = Bundle::new_checked(&bytes).expect("parses");
    let m = parsed.manifest();
    assert_eq!(m.name(), "thermo");
    assert_eq!(m.version(), "1.2.0");
    assert_eq!(m.provenance(), "ci run 4411");
    assert_eq!(m.abi_version(), 1);
    assert_eq!(m.digest(), Digest::of(&wasm));
    assert_eq!(m.capabilities().collect::<Vec<_>>(), ["log"]);
    let smoke = m.smoke().expect("smoke test");
    assert_eq!((smoke.entry, smoke.expected), ("version", &b"v1"[..]));
    assert_eq!(parsed.module(), wasm.as_slice());
    assert_eq!(parsed.signer(), Some(bundle::public_key(&SECRET)));
    assert_eq!(parsed.len(), bytes.len());
    parsed.verify(&trust()).expect("verifies");

    let (registry, tenant) = setup();
    let digest = registry
        .install(&bytes, &trust(), &tenant)
        .expect("installs");
    let info = registry.module(digest).expect("registered");
    assert_eq!(info.meta.name, "thermo");
    assert_eq!(info.meta.version, "1.2.0");
    assert_eq!(info.meta.provenance, "ci run 4411");
    assert_eq!(info.meta.capabilities, ["log"]);
    assert_eq!(registry.plugin("thermo").expect("plugin").active, digest);
    let call = registry.call("thermo", &tenant, "version", b"", b"k");
    assert_eq!(call.result.expect("call"), b"v1");
    assert_eq!(call.report.digest, digest);
}

#[test]
fn a_forged_signature_is_refused() {
    let (registry, tenant) = setup();
    let (mut bytes, _) = signed("v1");
    // Flip a bit of the signature itself.
    let sig_start = Bundle::new_checked(&bytes).expect("parses").len()
        - Bundle::new_checked(&bytes).expect("parses").module().len()
        - 64;
    bytes[sig_start] ^= 1;
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("forged");
    assert_eq!(err.kind(), &ErrorKind::Bundle(BundleError::BadSignature));

    // A manifest altered after signing (the version string) is refused the same way.
    let (mut bytes, _) = signed("v1");
    let pos = bytes
        .windows(2)
        .position(|w| w == b"v1")
        .expect("version in manifest");
    bytes[pos + 1] = b'9';
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("tampered");
    assert_eq!(err.kind(), &ErrorKind::Bundle(BundleError::BadSignature));
    assert!(err.to_string().contains("do not install it"), "{err}");
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn module_bytes_that_do_not_match_the_digest_are_refused() {
    let (registry, tenant) = setup();
    // A genuinely signed manifest for `v1`, carrying the bytes of another module.
    let good = versioned_guest("v1", false);
    let evil = versioned_guest("v2", false);
    let manifest = BundleBuilder::new("thermo", "1", &good)
        .manifest()
        .expect("manifest");
    let sig = bundle::sign_manifest(&manifest, &SECRET);
    let bytes = bundle::assemble(&manifest, Some((&bundle::public_key(&SECRET), &sig)), &evil)
        .expect("assemble");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("swapped module");
    assert_eq!(
        err.kind(),
        &ErrorKind::Bundle(BundleError::DigestMismatch {
            expected: Digest::of(&good),
            found: Digest::of(&evil),
        })
    );
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn a_bundle_signed_by_an_untrusted_key_is_refused() {
    let (registry, tenant) = setup();
    let wasm = versioned_guest("v1", false);
    let bytes = BundleBuilder::new("thermo", "1", &wasm)
        .sign(&OTHER_SECRET)
        .expect("bundle");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("untrusted");
    assert_eq!(
        err.kind(),
        &ErrorKind::Bundle(BundleError::UntrustedKey(bundle::public_key(&OTHER_SECRET)))
    );
    // Even where signatures are optional, a signature is never ignored.
    let mut optional = TrustStore::signatures_optional();
    optional
        .add_key(&bundle::public_key(&SECRET))
        .expect("valid key");
    let err = registry
        .install(&bytes, &optional, &tenant)
        .expect_err("untrusted");
    assert!(
        matches!(err.kind(), ErrorKind::Bundle(BundleError::UntrustedKey(_))),
        "{err}"
    );
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn every_truncation_of_a_bundle_is_refused_as_truncated() {
    let (bytes, _) = signed("v1");
    for cut in 0..bytes.len() {
        match Bundle::new_checked(&bytes[..cut]) {
            Err(BundleError::Truncated { needed, len }) => {
                assert_eq!(len, cut);
                assert!(needed > cut, "cut {cut}: needed {needed}");
            }
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
    }
    let (registry, tenant) = setup();
    let half = &bytes[..bytes.len() / 2];
    let err = registry
        .install(half, &trust(), &tenant)
        .expect_err("truncated");
    assert!(
        matches!(err.kind(), ErrorKind::Bundle(BundleError::Truncated { len, .. }) if *len == half.len()),
        "{err}"
    );
    assert!(
        err.to_string().contains("copy or flash the whole bundle"),
        "{err}"
    );
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn an_unsigned_bundle_needs_a_policy_that_allows_it() {
    let (registry, tenant) = setup();
    let wasm = versioned_guest("v1", false);
    let bytes = BundleBuilder::new("thermo", "1", &wasm)
        .build_unsigned()
        .expect("bundle");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("signatures required");
    assert_eq!(
        err.kind(),
        &ErrorKind::Bundle(BundleError::MissingSignature)
    );
    assert!(registry.modules().is_empty());
    let digest = registry
        .install(&bytes, &TrustStore::signatures_optional(), &tenant)
        .expect("allowed");
    assert_eq!(digest, Digest::of(&wasm));
}

#[test]
fn a_manifest_that_misdescribes_its_module_is_refused() {
    let (registry, tenant) = setup();
    // The module imports `log`, but the manifest does not ask for it.
    let wasm = versioned_guest("v1", true);
    let bytes = BundleBuilder::new("thermo", "1", &wasm)
        .sign(&SECRET)
        .expect("bundle");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("capability not declared");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Bundle(BundleError::Manifest(ManifestMismatch::UndeclaredCapability { import, capability }))
                if *import == "log" && *capability == "log"
        ) && err.to_string().contains("palisade.log"),
        "{err}"
    );
    // The manifest states another ABI version.
    let wasm = versioned_guest("v1", false);
    let bytes = BundleBuilder::new("thermo", "1", &wasm)
        .abi_version(7)
        .sign(&SECRET)
        .expect("bundle");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("abi mismatch");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Bundle(BundleError::Manifest(ManifestMismatch::AbiVersion {
                manifest: 7,
                module: 1
            }))
        ),
        "{err}"
    );
    // It asks for a capability this host does not have.
    let bytes = BundleBuilder::new("thermo", "1", &wasm)
        .capability("teleport")
        .sign(&SECRET)
        .expect("bundle");
    let err = registry
        .install(&bytes, &trust(), &tenant)
        .expect_err("unknown capability");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Bundle(BundleError::Manifest(ManifestMismatch::UnknownCapability { capability }))
                if *capability == "teleport"
        ),
        "{err}"
    );
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn a_bundle_whose_smoke_test_fails_leaves_the_active_version() {
    let (registry, tenant) = setup();
    let (v1, _) = signed("v1");
    let active = registry.install(&v1, &trust(), &tenant).expect("v1");
    let wasm = versioned_guest("v2", false);
    let bad = BundleBuilder::new("thermo", "2", &wasm)
        .smoke("version", b"", b"something else")
        .sign(&SECRET)
        .expect("bundle");
    let err = registry
        .install(&bad, &trust(), &tenant)
        .expect_err("smoke fails");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::SmokeFailed { .. })
        ),
        "{err}"
    );
    assert_eq!(registry.plugin("thermo").expect("plugin").active, active);
    // The refused module does not linger.
    assert_eq!(registry.module(Digest::of(&wasm)), None);
    let call = registry.call("thermo", &tenant, "version", b"", b"k");
    assert_eq!(call.result.expect("call"), b"v1");
}

#[test]
fn malformed_bundles_are_refused_with_a_reason() {
    let (bytes, _) = signed("v1");
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        Bundle::new_checked(&bad_magic),
        Err(BundleError::Malformed(_))
    ));
    let mut bad_version = bytes.clone();
    bad_version[4] = 9;
    assert!(matches!(
        Bundle::new_checked(&bad_version),
        Err(BundleError::Malformed(_))
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Bundle::new_checked(&trailing),
        Err(BundleError::Malformed(_))
    ));
    let (registry, tenant) = setup();
    let err = registry
        .install(&bad_magic, &trust(), &tenant)
        .expect_err("malformed");
    assert!(
        matches!(err.kind(), ErrorKind::Bundle(BundleError::Malformed(_))),
        "{err}"
    );
    assert_untouched_and_serving(&registry, &tenant);
}

#[test]
fn a_bundle_in_a_flash_partition_is_read_in_place() {
    let (bytes, wasm) = signed("v1");
    // An erased flash partition: the bundle, then 0xFF to the end.
    let mut partition = bytes.clone();
    partition.resize(bytes.len() + 4096, 0xFF);
    let partition: &'static [u8] = Box::leak(partition.into_boxed_slice());
    let parsed = Bundle::new_checked_prefix(partition).expect("parses");
    assert_eq!(parsed.len(), bytes.len());
    // The module is borrowed from the partition, not copied.
    assert!(std::ptr::eq(
        parsed.module().as_ptr(),
        partition[bytes.len() - wasm.len()..].as_ptr()
    ));
    let (registry, tenant) = setup();
    let registered = registry
        .register_bundle_static(partition, &trust())
        .expect("registers");
    registry
        .promote("thermo", registered.digest, &tenant)
        .expect("promotes");
    let call = registry.call("thermo", &tenant, "echo", b"hi", b"k");
    assert_eq!(call.result.expect("call"), b"hi");
    assert_eq!(SIGNATURE_BLOCK_LEN, 96);
}
