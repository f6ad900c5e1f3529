//! KV call scope (docs/ABI.md): a call's KV writes take effect only if the call succeeds; the
//! call reads its own writes before then.

use std::sync::Arc;

use palisade::capability::code;
use palisade::{KvStore, Limits, ManualClock, MemoryKv, Outcome, Runtime};

use crate::{compile, guest_with, tenant};

const IMPORTS: &str = r#"
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))"#;

/// Every entry works on the key "k". `get` outputs kv_get's status (4 bytes) and the bytes read;
/// the others write (or delete) and then end as their name says.
const BODY: &str = r#"
  (data (i32.const 0) "k")
  (func $get (result i32)
    (local $r i32)
    (local.set $r (call $kv_get (i32.const 0) (i32.const 1) (i32.const 36) (i32.const 64)))
    (i32.store (i32.const 32) (local.get $r))
    (call $output (i32.const 32)
      (i32.add (i32.const 4) (select (local.get $r) (i32.const 0) (i32.gt_s (local.get $r) (i32.const 0)))))
    (i32.const 0))
  (func $set (param $p i32) (param $n i32)
    (if (call $kv_set (i32.const 0) (i32.const 1) (local.get $p) (local.get $n))
      (then unreachable)))
  (func (export "get") (param i32 i32) (result i32) (call $get))
  (func (export "set_ok") (param $p i32) (param $n i32) (result i32)
    (call $set (local.get $p) (local.get $n))
    (i32.const 0))
  (func (export "set_trap") (param $p i32) (param $n i32) (result i32)
    (call $set (local.get $p) (local.get $n))
    unreachable)
  (func (export "set_fail") (param $p i32) (param $n i32) (result i32)
    (call $set (local.get $p) (local.get $n))
    (i32.const 1))
  (func (export "set_spin") (param $p i32) (param $n i32) (result i32)
    (call $set (local.get $p) (local.get $n))
    (loop $l (br $l))
    (i32.const 0))
  (func (export "set_get") (param $p i32) (param $n i32) (result i32)
    (call $set (local.get $p) (local.get $n))
    (call $get))
  (func (export "delete_get") (param i32 i32) (result i32)
    (drop (call $kv_delete (i32.const 0) (i32.const 1)))
    (call $get))
  (func (export "delete_trap") (param i32 i32) (result i32)
    (drop (call $kv_delete (i32.const 0) (i32.const 1)))
    unreachable)"#;

struct Fixture {
    runtime: Runtime,
    kv: Arc<MemoryKv>,
    module: palisade::CompiledModule,
    tenant: palisade::Tenant,
}

fn fixture(limits: Limits) -> Fixture {
    let kv = Arc::new(MemoryKv::new());
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .kv_store(kv.clone())
        .build()
        .unwrap();
    let module = compile(&runtime, &guest_with(IMPORTS, "1", BODY));
    let tenant = tenant(&runtime, "acme", &["kv.read", "kv.write"], limits);
    Fixture {
        runtime,
        kv,
        module,
        tenant,
    }
}

impl Fixture {
    fn call(&self, entry: &str, input: &[u8]) -> palisade::Call {
        self.runtime.call(&self.module, &self.tenant, entry, input)
    }

    fn stored(&self) -> Option<Vec<u8>> {
        let mut out = None;
        self.kv
            .get("acme", b"k", &mut |v| out = Some(v.to_vec()))
            .unwrap();
        out
    }
}

#[test]
fn a_call_that_traps_after_writing_leaves_nothing() {
    let f = fixture(Limits::default());
    let call = f.call("set_trap", b"lost");
    assert_eq!(call.report.outcome, Outcome::Trap);
    assert_eq!(f.stored(), None);
    assert_eq!(f.kv.used_bytes("acme"), 0);
}

#[test]
fn a_call_that_succeeds_leaves_its_writes() {
    let f = fixture(Limits::default());
    f.call("set_ok", b"kept").result.unwrap();
    assert_eq!(f.stored().as_deref(), Some(&b"kept"[..]));
    assert_eq!(f.kv.used_bytes("acme"), 1 + 4);
}

#[test]
fn a_guest_error_or_running_out_of_fuel_discards_the_writes() {
    let f = fixture(Limits::builder().fuel(100_000).build());
    assert_eq!(f.call("set_fail", b"x").report.outcome, Outcome::GuestError);
    assert_eq!(f.call("set_spin", b"x").report.outcome, Outcome::OutOfFuel);
    assert_eq!(f.stored(), None);
}

#[test]
fn a_call_reads_its_own_uncommitted_write() {
    let f = fixture(Limits::default());
    f.call("set_ok", b"old").result.unwrap();
    let out = f.call("set_get", b"new").result.unwrap();
    assert_eq!(&out[..4], 3i32.to_le_bytes());
    assert_eq!(&out[4..], b"new");
    let out = f.call("delete_get", b"").result.unwrap();
    assert_eq!(out, code::NOT_FOUND.to_le_bytes());
}

#[test]
fn a_later_call_sees_committed_writes_only() {
    let f = fixture(Limits::default());
    f.call("set_ok", b"committed").result.unwrap();
    assert!(f.call("set_trap", b"discarded").result.is_err());
    assert!(f.call("delete_trap", b"").result.is_err());
    let out = f.call("get", b"").result.unwrap();
    assert_eq!(&out[4..], b"committed");
}

#[test]
fn the_quota_counts_the_calls_own_writes() {
    let kv = Arc::new(MemoryKv::with_quota(8));
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .kv_store(kv.clone())
        .build()
        .unwrap();
    let module = compile(&runtime, &guest_with(IMPORTS, "1", BODY));
    let t = tenant(
        &runtime,
        "acme",
        &["kv.read", "kv.write"],
        Limits::default(),
    );
    // 1 + 7 bytes fit; 1 + 8 do not, and the guest sees QUOTA at the write (it traps).
    runtime
        .call(&module, &t, "set_ok", b"1234567")
        .result
        .unwrap();
    let call = runtime.call(&module, &t, "set_ok", b"12345678");
    assert_eq!(call.report.outcome, Outcome::Trap);
    assert_eq!(kv.used_bytes("acme"), 8);
}

#[test]
fn memory_kv_passes_the_conformance_suite() {
    palisade_testkit::kv::conformance(&MemoryKv::with_quota(4096));
    palisade_testkit::kv::conformance(&MemoryKv::new());
}

/// An embedder's store that implements only `get`/`set`/`delete` has no quota (`quota_bytes`
/// is `usize::MAX`): a call's writes are accepted and committed, never refused as over quota.
#[test]
fn a_store_without_a_quota_accepts_and_commits_writes() {
    #[derive(Default)]
    struct Plain(std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>);
    impl KvStore for Plain {
        fn get(
            &self,
            _tenant: &str,
            key: &[u8],
            read: &mut dyn FnMut(&[u8]),
        ) -> Result<bool, palisade::KvError> {
            let entries = self.0.lock().unwrap();
            let found = entries.iter().find(|(k, _)| k == key);
            if let Some((_, v)) = found {
                read(v);
            }
            Ok(found.is_some())
        }
        fn set(&self, _tenant: &str, key: &[u8], value: &[u8]) -> Result<(), palisade::KvError> {
            let mut entries = self.0.lock().unwrap();
            entries.retain(|(k, _)| k != key);
            entries.push((key.to_vec(), value.to_vec()));
            Ok(())
        }
        fn delete(&self, _tenant: &str, key: &[u8]) -> Result<bool, palisade::KvError> {
            let mut entries = self.0.lock().unwrap();
            let before = entries.len();
            entries.retain(|(k, _)| k != key);
            Ok(entries.len() < before)
        }
    }
    let kv = Arc::new(Plain::default());
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .kv_store(kv.clone())
        .build()
        .unwrap();
    let module = compile(&runtime, &guest_with(IMPORTS, "1", BODY));
    let tenant = tenant(
        &runtime,
        "acme",
        &["kv.read", "kv.write"],
        Limits::default(),
    );
    let call = runtime.call(&module, &tenant, "set_ok", b"value");
    assert_eq!(call.report.outcome, Outcome::Ok, "{:?}", call.result);
    assert_eq!(
        kv.0.lock().unwrap().as_slice(),
        &[(b"k".to_vec(), b"value".to_vec())]
    );
}
