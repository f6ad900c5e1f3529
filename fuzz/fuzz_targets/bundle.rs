//! Arbitrary bytes into the bundle parser and verifier, and arbitrary corruptions of a good
//! signed bundle. Oracles: never panics; the allocation-free path (parse + verify, what a board
//! runs on untrusted flash) never allocates; a bundle that verifies has a trusted signer and a
//! module whose SHA-256 is the manifest's digest; a corrupted bundle never verifies unless the
//! corruption left the signed manifest and the module unchanged.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use palisade::bundle::public_key;
use palisade::{Bundle, BundleBuilder, Digest, TrustStore};

/// Counts allocations so the oracle can see the allocation-free path allocate.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SECRET: [u8; 32] = [0x42; 32];

struct Fixture {
    trust: TrustStore,
    good: Vec<u8>,
    module: Vec<u8>,
    manifest: Vec<u8>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let module = palisade_fuzz::with_abi_section(palisade_fuzz::ECHO_WASM.clone());
    let builder = BundleBuilder::new("echo", "1.0.0", &module)
        .capability("log")
        .smoke("echo", b"hi", b"hi");
    let good = builder.sign(&SECRET).expect("the fixture bundle signs");
    let manifest = builder.manifest().expect("the fixture manifest encodes");
    let mut trust = TrustStore::require_signatures();
    trust.add_key(&public_key(&SECRET)).expect("the fixture key is valid");
    let module = module.clone();
    Fixture {
        trust,
        good,
        module,
        manifest,
    }
});

/// Parses and verifies `bytes` on the allocation-free path; returns whether it verified.
fn parse_and_verify(bytes: &[u8], trust: &TrustStore) -> bool {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let parsed = Bundle::new_checked(bytes);
    let prefix = Bundle::new_checked_prefix(bytes);
    let verified = parsed.as_ref().map(|b| b.verify(trust));
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocated, 0, "parsing and verifying a bundle allocated {allocated} times");
    if let (Ok(whole), Ok(prefix)) = (&parsed, &prefix) {
        assert_eq!(whole.len(), prefix.len(), "the whole and prefix parses disagree on length");
    }
    match (parsed, verified) {
        (Ok(bundle), Ok(Ok(_))) => {
            let signer = bundle.signer().expect("a verified bundle under a signatures-required policy has a signer");
            assert!(trust.is_trusted(&signer), "a bundle verified with an untrusted signer");
            assert_eq!(
                Digest::of(bundle.module()),
                bundle.manifest().digest(),
                "a bundle verified although its module does not match the manifest's digest"
            );
            true
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Arbitrary bytes.
        parse_and_verify(rest, &fixture.trust);
        return;
    }
    // Corruptions of the good bundle: (offset, xor) pairs, and maybe a truncation.
    let mut bytes = fixture.good.clone();
    for pair in rest.chunks_exact(3) {
        let offset = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % bytes.len();
        bytes[offset] ^= pair[2];
    }
    if rest.len() % 3 == 1 {
        bytes.truncate(usize::from(rest[rest.len() - 1]) * bytes.len() / 256);
    }
    if parse_and_verify(&bytes, &fixture.trust) {
        let bundle = Bundle::new_checked(&bytes).expect("verified above");
        assert_eq!(
            bundle.manifest().as_bytes(),
            &fixture.manifest[..],
            "a corrupted manifest still verified"
        );
        assert_eq!(bundle.module(), &fixture.module[..], "a corrupted module still verified");
    }
});
