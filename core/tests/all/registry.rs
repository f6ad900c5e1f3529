//! The registry: compile once per digest, gated promotion, canary routing, rollback, version
//! eviction, metrics, and memory that stays bounded under churn.
#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on setup errors and index buffers they built"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

use crate::versioned_guest;
use palisade::{
    Digest, ErrorKind, Limits, ManualClock, ModuleMeta, Outcome, Registry, RegistryError, Runtime,
    Tenant,
};

/// Counts the bytes the *current thread* holds, so that other tests running in parallel in
/// this binary do not disturb the churn test's measurement.
struct ThreadCounting;

thread_local! {
    static NET_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    let _ = NET_BYTES.try_with(|n| n.set(n.get() + delta));
}

// SAFETY: every method forwards to `System` unchanged and only adds bookkeeping.
#[expect(
    unsafe_code,
    reason = "a counting global allocator needs `unsafe impl GlobalAlloc`"
)]
unsafe impl GlobalAlloc for ThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: ThreadCounting = ThreadCounting;

pub(crate) fn net_bytes() -> i64 {
    NET_BYTES.with(Cell::get)
}

fn setup(registry: impl FnOnce(Runtime) -> Registry) -> (Registry, Tenant) {
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .build()
        .expect("runtime");
    let tenant = runtime
        .tenant("acme")
        .limits(
            Limits::builder()
                .fuel(1_000_000)
                .calls_per_second(0)
                .build(),
        )
        .build()
        .expect("tenant");
    (registry(runtime), tenant)
}

fn register(registry: &Registry, tag: &str) -> Digest {
    registry
        .register(&versioned_guest(tag, false), ModuleMeta::named("p", tag))
        .expect("register")
        .digest
}

fn call_version(registry: &Registry, tenant: &Tenant, key: &[u8]) -> (Vec<u8>, Digest) {
    let call = registry.call("p", tenant, "version", b"", key);
    (call.result.expect("call succeeds"), call.report.digest)
}

#[test]
fn duplicate_registration_compiles_once() {
    let (registry, tenant) = setup(Registry::new);
    let wasm = versioned_guest("v1", false);
    let first = registry
        .register(&wasm, ModuleMeta::named("p", "1"))
        .expect("register");
    let second = registry
        .register(&wasm, ModuleMeta::named("p", "1-again"))
        .expect("register again");
    assert!(first.compiled);
    assert!(!second.compiled);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.digest, Digest::of(&wasm));
    assert_eq!(registry.stats().compiles, 1);
    assert_eq!(registry.stats().live_modules, 1);

    // The first registration's metadata is kept, with what the registry measured.
    let info = registry.module(first.digest).expect("registered");
    assert_eq!(info.meta.version, "1");
    assert_eq!(info.size, wasm.len());
    assert_eq!(info.abi_version, 1);

    registry
        .promote("p", first.digest, &tenant)
        .expect("promote");
    assert_eq!(call_version(&registry, &tenant, b"k").0, b"v1");
    // Registering again after promotion still does not compile.
    registry
        .register(&wasm, ModuleMeta::default())
        .expect("register a third time");
    assert_eq!(registry.stats().compiles, 1);
}

#[test]
fn failed_smoke_call_keeps_the_old_version_active() {
    let (registry, tenant) = setup(Registry::new);
    let good = registry
        .register(
            &versioned_guest("good", false),
            ModuleMeta::named("p", "1").with_smoke("version", b"", b"good"),
        )
        .expect("register")
        .digest;
    registry
        .promote("p", good, &tenant)
        .expect("smoke call passes");

    // A version whose smoke entry traps.
    let trapping = registry
        .register(
            &versioned_guest("t", false),
            ModuleMeta::named("p", "2").with_smoke("boom", b"x", b"x"),
        )
        .expect("register")
        .digest;
    let err = registry
        .promote("p", trapping, &tenant)
        .expect_err("the smoke call traps");
    match err.kind() {
        ErrorKind::Registry(RegistryError::SmokeFailed { reason }) => {
            assert!(reason.contains("unreachable"), "{reason}")
        }
        other => panic!("expected SmokeFailed, got {other:?}"),
    }
    assert_eq!(err.plugin(), Some("p"));

    // A version whose smoke output differs from the expected output.
    let wrong = registry
        .register(
            &versioned_guest("bad", false),
            ModuleMeta::named("p", "3").with_smoke("version", b"", b"good"),
        )
        .expect("register")
        .digest;
    let err = registry
        .promote("p", wrong, &tenant)
        .expect_err("the smoke output differs");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::SmokeFailed { .. })
        ),
        "{err}"
    );

    // A version the tenant's grants do not cover (it imports `log`, which is not granted).
    let needs_log = registry
        .register(&versioned_guest("log", true), ModuleMeta::named("p", "4"))
        .expect("register")
        .digest;
    let err = registry
        .promote("p", needs_log, &tenant)
        .expect_err("log is not granted");
    assert!(
        matches!(err.kind(), ErrorKind::CapabilityDenied { .. }),
        "{err}"
    );

    // The good version is untouched, and serves.
    let status = registry.plugin("p").expect("plugin exists");
    assert_eq!(status.active, good);
    assert!(status.previous.is_empty());
    let (out, digest) = call_version(&registry, &tenant, b"k");
    assert_eq!((out.as_slice(), digest), (&b"good"[..], good));
}

#[test]
fn canary_gets_its_fraction_and_each_key_sticks_to_one_version() {
    let (registry, tenant) = setup(Registry::new);
    let stable = register(&registry, "stable");
    let canary = register(&registry, "canary");
    registry.promote("p", stable, &tenant).expect("promote");
    registry
        .set_canary("p", canary, 1_000, &tenant)
        .expect("10 % canary");

    let mut to_canary = 0;
    for i in 0..10_000 {
        let key = format!("user-{i}");
        let first = registry.route("p", key.as_bytes()).expect("route");
        assert!(first == stable || first == canary);
        for _ in 0..3 {
            assert_eq!(registry.route("p", key.as_bytes()).expect("route"), first);
        }
        if first == canary {
            to_canary += 1;
        }
    }
    assert!(
        (800..=1_200).contains(&to_canary),
        "10 % ± 2 % of 10 000 keys, got {to_canary}"
    );

    // Real calls run the routed version, and say so in their report.
    for i in 0..200 {
        let key = format!("user-{i}");
        let routed = registry.route("p", key.as_bytes()).expect("route");
        let (out, ran) = call_version(&registry, &tenant, key.as_bytes());
        assert_eq!(ran, routed);
        let expected: &[u8] = if routed == canary {
            b"canary"
        } else {
            b"stable"
        };
        assert_eq!(out, expected);
    }

    // Clearing the canary sends every key to the active version again.
    let cleared = registry.clear_canary("p").expect("plugin exists");
    assert_eq!(cleared.map(|c| c.digest), Some(canary));
    for i in 0..100 {
        let key = format!("user-{i}");
        assert_eq!(registry.route("p", key.as_bytes()).expect("route"), stable);
    }
}

#[test]
fn canary_share_over_100_percent_is_refused() {
    let (registry, tenant) = setup(Registry::new);
    let a = register(&registry, "a");
    let b = register(&registry, "b");
    registry.promote("p", a, &tenant).expect("promote");
    let err = registry
        .set_canary("p", b, 10_001, &tenant)
        .expect_err("over 10 000 basis points");
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    let err = registry
        .set_canary("nope", b, 10, &tenant)
        .expect_err("no such plugin");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::UnknownPlugin { .. })
        ),
        "{err}"
    );
    assert_eq!(registry.plugin("p").expect("plugin").canary, None);
}

#[test]
fn rollback_restores_the_previous_digest_and_the_next_call_runs_it() {
    let (registry, tenant) = setup(Registry::new);
    let v1 = register(&registry, "v1");
    let v2 = register(&registry, "v2");
    registry.promote("p", v1, &tenant).expect("promote v1");
    registry.promote("p", v2, &tenant).expect("promote v2");
    assert_eq!(call_version(&registry, &tenant, b"k"), (b"v2".to_vec(), v2));

    assert_eq!(registry.rollback("p").expect("rollback"), v1);
    assert_eq!(registry.plugin("p").expect("plugin").active, v1);
    assert_eq!(call_version(&registry, &tenant, b"k"), (b"v1".to_vec(), v1));
    // The version rolled back from left the plugin and, unused, the registry.
    assert_eq!(registry.module(v2), None);

    let err = registry.rollback("p").expect_err("nothing older");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::NoPreviousVersion { .. })
        ),
        "{err}"
    );
    // Still serving.
    assert_eq!(call_version(&registry, &tenant, b"k"), (b"v1".to_vec(), v1));
}

#[test]
fn more_than_n_previous_versions_evict_the_oldest() {
    let keep = 3;
    let (registry, tenant) = setup(|rt| Registry::builder().keep_previous(keep).build(rt));
    let versions: Vec<Digest> = (0..keep + 2)
        .map(|i| register(&registry, &format!("v{i}")))
        .collect();
    for d in &versions {
        registry.promote("p", *d, &tenant).expect("promote");
    }
    // Active v4, previous v3 v2 v1 (N = 3); v0 fell off and was evicted.
    let status = registry.plugin("p").expect("plugin");
    let [v0, v1, v2, v3, v4] = versions[..] else {
        unreachable!("five versions")
    };
    assert_eq!(status.active, v4);
    assert_eq!(status.previous, vec![v3, v2, v1]);
    assert_eq!(registry.module(v0), None);
    assert!(registry.compiled(v0).is_none());
    assert_eq!(registry.stats().evictions, 1);
    let err = registry
        .promote("p", v0, &tenant)
        .expect_err("evicted modules cannot be promoted");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::UnknownModule { .. })
        ),
        "{err}"
    );

    // Every kept version is still loadable: roll back through all of them.
    for expected in [v3, v2, v1] {
        assert_eq!(registry.rollback("p").expect("rollback"), expected);
        assert_eq!(call_version(&registry, &tenant, b"k").1, expected);
    }
}

#[test]
fn unknown_plugin_is_refused_and_the_registry_keeps_serving() {
    let (registry, tenant) = setup(Registry::new);
    let v1 = register(&registry, "v1");
    registry.promote("p", v1, &tenant).expect("promote");
    let call = registry.call("missing", &tenant, "version", b"", b"k");
    let err = call.result.expect_err("no such plugin");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(RegistryError::UnknownPlugin { .. })
        ),
        "{err}"
    );
    assert_eq!(call.report.outcome, Outcome::Rejected);
    assert!(err.to_string().contains("install a version"), "{err}");
    assert_eq!(call_version(&registry, &tenant, b"k").1, v1);
}

#[test]
fn metrics_are_kept_per_plugin_and_tenant() {
    let (registry, acme) = setup(Registry::new);
    let globex = registry
        .with_runtime(|rt| rt.tenant("globex").build())
        .expect("tenant");
    let v1 = register(&registry, "v1");
    registry.promote("p", v1, &acme).expect("promote");
    for _ in 0..3 {
        call_version(&registry, &acme, b"k");
    }
    let trap = registry.call("p", &globex, "boom", b"", b"k");
    assert!(trap.result.is_err());

    let m = registry.metrics("p", "acme").expect("acme called");
    assert_eq!(m.calls(Outcome::Ok), 3);
    assert_eq!(m.total_calls(), 3);
    let m = registry.metrics("p", "globex").expect("globex called");
    assert_eq!(m.calls(Outcome::Trap), 1);
    let mut seen = Vec::new();
    registry.for_each_metrics(|p, t, m| seen.push((p.to_owned(), t.to_owned(), m.total_calls())));
    assert_eq!(
        seen,
        vec![
            ("p".into(), "acme".into(), 3),
            ("p".into(), "globex".into(), 1)
        ]
    );
}

#[test]
fn staged_modules_beyond_the_cap_are_evicted_oldest_first() {
    let (registry, _tenant) = setup(|rt| Registry::builder().max_staged(2).build(rt));
    let a = register(&registry, "a");
    let b = register(&registry, "b");
    let c = register(&registry, "c");
    assert_eq!(registry.module(a), None);
    assert!(registry.module(b).is_some());
    assert!(registry.module(c).is_some());
    assert_eq!(registry.stats().live_modules, 2);
}

#[test]
fn a_new_generation_recompiles_the_live_set_and_keeps_serving() {
    let (registry, tenant) = setup(Registry::new);
    let v1 = register(&registry, "v1");
    let v2 = register(&registry, "v2");
    registry.promote("p", v1, &tenant).expect("promote");
    registry
        .set_canary("p", v2, 5_000, &tenant)
        .expect("canary");
    registry.rotate_generation().expect("rotate");
    let stats = registry.stats();
    assert_eq!(stats.generation, 1);
    assert_eq!(stats.recompiles, 2);
    assert_eq!(stats.generations_alive, 1, "nothing holds the old engine");
    let mut seen = HashSet::new();
    for i in 0..64 {
        let key = format!("k{i}");
        seen.insert(call_version(&registry, &tenant, key.as_bytes()).1);
    }
    assert_eq!(seen, HashSet::from([v1, v2]));
}

/// Registers, promotes and so evicts `n` distinct modules; returns the thread's net heap
/// bytes after each step.
fn churn(registry: &Registry, tenant: &Tenant, n: usize) -> Vec<i64> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let wasm = versioned_guest(&format!("churn-{i:06}"), false);
        let d = registry
            .register(&wasm, ModuleMeta::default())
            .expect("register")
            .digest;
        drop(wasm);
        registry.promote("churn", d, tenant).expect("promote");
        samples.push(net_bytes());
    }
    samples
}

#[test]
fn memory_stays_bounded_under_churn() {
    const N: usize = 3_000;
    const WARM: usize = 500;
    let (registry, tenant) = setup(Registry::new);
    let samples = churn(&registry, &tenant, N);
    let stats = registry.stats();
    // Thousands of modules went through; only the active one and 3 previous are live.
    assert_eq!(stats.compiles, N as u64);
    assert_eq!(stats.evictions, (N - 4) as u64);
    assert_eq!(stats.live_modules, 4);
    assert!(stats.generation >= 40, "generations: {}", stats.generation);
    assert_eq!(stats.generations_alive, 1);
    let warm = samples[WARM..].iter().copied().max().expect("samples");
    let early = samples[WARM..WARM + 200]
        .iter()
        .copied()
        .max()
        .expect("samples");
    let late = samples[N - 200..].iter().copied().max().expect("samples");
    // The heap after 3 000 modules is no larger than after 500 (plus noise): bounded.
    assert!(
        late <= early + 64 * 1024,
        "heap grew from {early} to {late} bytes (max {warm})"
    );

    // The control: without generations the same churn grows the heap with every module,
    // which shows that the measurement above can see growth.
    let (unbounded, tenant) = setup(|rt| {
        Registry::builder()
            .rotate_after_evicted_modules(usize::MAX)
            .rotate_after_evicted_bytes(usize::MAX)
            .build(rt)
    });
    let base = net_bytes();
    let samples = churn(&unbounded, &tenant, 1_000);
    let grown = samples.last().copied().expect("samples") - base;
    assert_eq!(unbounded.stats().generation, 0);
    assert!(
        grown > 512 * 1024,
        "without rotation the heap should grow by over 512 bytes per module, grew {grown}"
    );
}

#[test]
fn a_registry_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Registry>();
    let (registry, tenant) = setup(Registry::new);
    let v1 = register(&registry, "v1");
    registry.promote("p", v1, &tenant).expect("promote");
    let registry = Arc::new(registry);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let registry = Arc::clone(&registry);
            let tenant = tenant.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let key = format!("{t}-{i}");
                    let call = registry.call("p", &tenant, "echo", key.as_bytes(), b"k");
                    assert_eq!(call.result.expect("call"), key.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(
        registry.metrics("p", "acme").map(|m| m.calls(Outcome::Ok)),
        Some(200)
    );
}
