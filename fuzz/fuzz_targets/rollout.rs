//! A state machine over the registry: register (bytes or bundles: trusted, untrusted, unsigned),
//! promote, canary, clear, rollback, evict, route, call and generation rotation, in any order.
//! Oracles after every step: a plugin has exactly one active version, which is registered; its
//! canary is never the active version; it keeps at most `keep_previous` previous versions; a
//! route goes to the active version or the canary; a call runs the version it was routed to;
//! a promotion makes the digest active and keeps the replaced one first for rollback; a failed
//! promotion changes nothing; a rollback restores the most recent previous version; an evicted
//! module is used by no plugin; nothing unsigned or untrusted registers when signatures are
//! required; the compiled set stays bounded by what plugins use plus the staging allowance.
#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use palisade::bundle::public_key;
use palisade::{BundleBuilder, Digest, Limits, ModuleMeta, Registry, TrustStore};

const VARIANTS: usize = 4;
const PLUGINS: [&str; 2] = ["alpha", "beta"];
const TRUSTED: [u8; 32] = [1; 32];
const UNTRUSTED: [u8; 32] = [2; 32];

#[derive(Debug, Arbitrary)]
enum Op {
    Register { variant: u8, smoke_passes: bool },
    RegisterBundle { variant: u8, signer: u8 },
    Promote { plugin: u8, variant: u8 },
    Canary { plugin: u8, variant: u8, basis_points: u16 },
    ClearCanary { plugin: u8 },
    Rollback { plugin: u8 },
    Evict { variant: u8 },
    Call { plugin: u8, key: u8 },
    Rotate,
}

/// Variant `i` outputs `out<i>` from its entry point `run`.
fn variant(i: usize) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out{i}")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i32)
    (call $output (i32.const 16) (i32.const 4))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#
    );
    wat::parse_str(&wat).expect("the variant is valid WAT")
}

/// The variants, their digests, their bundles (signed by the trusted key, by an untrusted key,
/// unsigned) and the trust store, made once: WAT parsing and Ed25519 signing for every input
/// cost more than the registry operations under test. Signing is deterministic, so the bundles
/// are the bytes a per-input build would make.
struct Fixture {
    modules: Vec<Vec<u8>>,
    digests: Vec<Digest>,
    bundles: Vec<[Vec<u8>; 3]>,
    trust: TrustStore,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let modules: Vec<Vec<u8>> = (0..VARIANTS).map(variant).collect();
    let digests = modules.iter().map(|m| Digest::of(m)).collect();
    let bundles = modules
        .iter()
        .map(|m| {
            let builder = BundleBuilder::new("any", "1", m);
            [
                builder.sign(&TRUSTED).expect("signs"),
                builder.sign(&UNTRUSTED).expect("signs"),
                builder.build_unsigned().expect("builds"),
            ]
        })
        .collect();
    let mut trust = TrustStore::require_signatures();
    trust.add_key(&public_key(&TRUSTED)).expect("a valid key");
    Fixture {
        modules,
        digests,
        bundles,
        trust,
    }
});

fn check_invariants(registry: &Registry, keep_previous: usize, max_staged: usize) {
    let mut used = HashSet::new();
    for plugin in PLUGINS {
        let Some(status) = registry.plugin(plugin) else {
            continue;
        };
        assert!(
            registry.module(status.active).is_some(),
            "{plugin}: the active version {} is not registered",
            status.active
        );
        if let Some(canary) = status.canary {
            assert_ne!(canary.digest, status.active, "{plugin}: the canary is the active version");
            assert!(canary.basis_points <= 10_000, "{plugin}: canary share over 100 %");
            used.insert(canary.digest);
        }
        assert!(
            status.previous.len() <= keep_previous,
            "{plugin}: {} previous versions kept, at most {keep_previous} allowed",
            status.previous.len()
        );
        used.insert(status.active);
        used.extend(status.previous.iter().copied());
        for key in 0u8..8 {
            let routed = registry.route(plugin, &[key]).expect("a plugin with an active version routes");
            let to_canary = status.canary.is_some_and(|c| c.digest == routed);
            assert!(routed == status.active || to_canary, "{plugin}: routed to {routed}, neither active nor canary");
        }
    }
    let live = registry.stats().live_modules;
    assert!(
        live <= used.len() + max_staged,
        "{live} modules compiled, but plugins use {} and staging allows {max_staged}",
        used.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(keep_previous), Ok(max_staged)) = (u.int_in_range(0..=3usize), u.int_in_range(0..=3usize)) else {
        return;
    };
    let host = palisade_fuzz::Host::new(1);
    let tenant = host.tenant(Limits::default());
    let runtime = host.runtime;
    let registry = Registry::builder()
        .keep_previous(keep_previous)
        .max_staged(max_staged)
        .rotate_after_evicted_modules(2)
        .build(runtime);
    let Fixture {
        modules,
        digests,
        bundles,
        trust,
    } = &*FIXTURE;

    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let pick = |v: u8| usize::from(v) % VARIANTS;
        let plugin = |p: u8| PLUGINS[usize::from(p) % PLUGINS.len()];
        match op {
            Op::Register { variant, smoke_passes } => {
                let i = pick(variant);
                let expected = if smoke_passes { format!("out{i}") } else { "wrong".into() };
                let meta = ModuleMeta::named("any", "1").with_smoke("run", b"", expected.as_bytes());
                let registered = registry.register(&modules[i], meta).expect("a valid module registers");
                assert_eq!(registered.digest, digests[i], "registered under another digest");
            }
            Op::RegisterBundle { variant, signer } => {
                let signer = usize::from(signer) % 3;
                let (bytes, trusted) = (&bundles[pick(variant)][signer], signer == 0);
                let result = registry.register_bundle(bytes, trust);
                assert_eq!(result.is_ok(), trusted, "bundle registration with signer {signer}: {result:?}");
            }
            Op::Promote { plugin: p, variant } => {
                let (p, i) = (plugin(p), pick(variant));
                let before = registry.plugin(p);
                match registry.promote(p, digests[i], &tenant) {
                    Ok(()) => {
                        let after = registry.plugin(p).expect("a promoted plugin exists");
                        assert_eq!(after.active, digests[i], "{p}: promotion did not make it active");
                        if let Some(before) = before
                            && before.active != digests[i]
                            && keep_previous > 0
                        {
                            assert_eq!(after.previous.first(), Some(&before.active), "{p}: the replaced version is not first for rollback");
                        }
                    }
                    Err(_) => assert_eq!(registry.plugin(p), before, "{p}: a failed promotion changed the plugin"),
                }
            }
            Op::Canary { plugin: p, variant, basis_points } => {
                let (p, i) = (plugin(p), pick(variant));
                let before = registry.plugin(p);
                if registry.set_canary(p, digests[i], basis_points % 10_500, &tenant).is_err() {
                    assert_eq!(registry.plugin(p), before, "{p}: a refused canary changed the plugin");
                }
            }
            Op::ClearCanary { plugin: p } => {
                let _ = registry.clear_canary(plugin(p));
            }
            Op::Rollback { plugin: p } => {
                let p = plugin(p);
                let before = registry.plugin(p);
                match registry.rollback(p) {
                    Ok(digest) => {
                        let before = before.expect("rollback of a plugin that did not exist");
                        assert_eq!(Some(&digest), before.previous.first(), "{p}: rolled back to something else");
                        let after = registry.plugin(p).expect("the plugin still exists");
                        assert_eq!(after.active, digest, "{p}: the rolled-back version is not active");
                        assert_eq!(after.previous[..], before.previous[1..], "{p}: the previous list changed otherwise");
                    }
                    Err(_) => assert_eq!(registry.plugin(p), before, "{p}: a failed rollback changed the plugin"),
                }
            }
            Op::Evict { variant } => {
                let digest = digests[pick(variant)];
                if registry.remove_if_unused(digest) {
                    for p in PLUGINS {
                        if let Some(s) = registry.plugin(p) {
                            let uses = s.active == digest
                                || s.previous.contains(&digest)
                                || s.canary.is_some_and(|c| c.digest == digest);
                            assert!(!uses, "{p}: evicted {digest}, which the plugin still uses");
                        }
                    }
                }
            }
            Op::Call { plugin: p, key } => {
                let p = plugin(p);
                if let Ok(routed) = registry.route(p, &[key]) {
                    let call = registry.call(p, &tenant, "run", b"", &[key]);
                    let i = digests.iter().position(|d| *d == routed).expect("a known digest");
                    assert_eq!(call.report.digest, routed, "{p}: the call ran another version than routed");
                    assert_eq!(call.result.ok(), Some(format!("out{i}").into_bytes()), "{p}: the routed version's output");
                }
            }
            Op::Rotate => registry.rotate_generation().expect("rotation succeeds"),
        }
        // The registry keeps at least one staged module, so a registration can be promoted.
        check_invariants(&registry, keep_previous, max_staged.max(1));
    }
});
