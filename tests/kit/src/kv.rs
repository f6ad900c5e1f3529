//! The KV conformance suite: what [`KvStore`] promises, checked against one store.

#![expect(
    clippy::unwrap_used,
    reason = "a test suite: a failed check panics with what was expected"
)]

use palisade::{KvError, KvStore};

/// The longest key a guest can use (`kv_*` refuses longer ones before the store sees them).
pub const MAX_KEY_BYTES: usize = 256;

/// Runs every check against `store`, which must be empty and give every tenant the same quota.
/// The tenants used all start with `conformance-`.
///
/// The quota checks fill a tenant to exactly its quota ([`KvStore::quota_bytes`]), so give
/// the store a small one (a few KiB); a store that reports no quota (`usize::MAX`) skips them.
///
/// # Panics
///
/// At the first check the store fails, saying what was expected.
pub fn conformance(store: &dyn KvStore) {
    absent_keys(store);
    set_get_overwrite_delete(store);
    empty_values_and_binary_keys(store);
    tenants_are_isolated(store);
    usage_counts_keys_and_values(store);
    size_limits(store);
    if store.quota_bytes("conformance-quota") != usize::MAX {
        quota(store);
    }
}

fn get(store: &dyn KvStore, tenant: &str, key: &[u8]) -> Option<Vec<u8>> {
    let mut out = None;
    let found = store
        .get(tenant, key, &mut |v| out = Some(v.to_vec()))
        .unwrap();
    assert_eq!(
        found,
        out.is_some(),
        "get's result matches whether read was called"
    );
    out
}

fn absent_keys(store: &dyn KvStore) {
    let t = "conformance-absent";
    assert_eq!(
        get(store, t, b"missing"),
        None,
        "an absent key reads as absent"
    );
    assert!(
        !store.delete(t, b"missing").unwrap(),
        "deleting an absent key returns false"
    );
    assert_eq!(
        store.used_bytes(t).unwrap(),
        0,
        "an unknown tenant uses nothing"
    );
}

fn set_get_overwrite_delete(store: &dyn KvStore) {
    let t = "conformance-basic";
    store.set(t, b"k", b"one").unwrap();
    assert_eq!(get(store, t, b"k").as_deref(), Some(&b"one"[..]));
    store.set(t, b"k", b"second").unwrap();
    assert_eq!(
        get(store, t, b"k").as_deref(),
        Some(&b"second"[..]),
        "set overwrites"
    );
    assert!(
        store.delete(t, b"k").unwrap(),
        "deleting a present key returns true"
    );
    assert_eq!(get(store, t, b"k"), None, "a deleted key is gone");
    assert!(
        !store.delete(t, b"k").unwrap(),
        "a second delete returns false"
    );
}

fn empty_values_and_binary_keys(store: &dyn KvStore) {
    let t = "conformance-bytes";
    store.set(t, b"empty", b"").unwrap();
    assert_eq!(
        get(store, t, b"empty").as_deref(),
        Some(&b""[..]),
        "an empty value is present"
    );
    let binary: &[u8] = &[0, 0xff, b'\n', 0, 0x80];
    store.set(t, binary, &[0, 1, 2]).unwrap();
    assert_eq!(get(store, t, binary).as_deref(), Some(&[0u8, 1, 2][..]));
    assert_eq!(
        get(store, t, &[0, 0xff]),
        None,
        "a key's prefix is another key"
    );
    store.set(t, b"", b"empty key").unwrap();
    assert_eq!(
        get(store, t, b"").as_deref(),
        Some(&b"empty key"[..]),
        "the empty key works"
    );
    assert!(store.delete(t, b"").unwrap());
    assert!(store.delete(t, binary).unwrap());
    assert!(
        store.delete(t, b"empty").unwrap(),
        "an empty value can be deleted"
    );
    assert_eq!(store.used_bytes(t).unwrap(), 0);
}

fn tenants_are_isolated(store: &dyn KvStore) {
    let (a, b, ab) = ("conformance-a", "conformance-b", "conformance-ab");
    store.set(a, b"k", b"a's").unwrap();
    assert_eq!(
        get(store, b, b"k"),
        None,
        "another tenant cannot read the key"
    );
    assert_eq!(
        get(store, ab, b"k"),
        None,
        "a tenant id's prefix is another tenant"
    );
    assert!(
        !store.delete(b, b"k").unwrap(),
        "another tenant cannot delete the key"
    );
    store.set(b, b"k", b"b's").unwrap();
    assert_eq!(
        get(store, a, b"k").as_deref(),
        Some(&b"a's"[..]),
        "the owner's value stays"
    );
    assert_eq!(get(store, b, b"k").as_deref(), Some(&b"b's"[..]));
    assert_eq!(store.used_bytes(ab).unwrap(), 0, "usage is per tenant");
    assert!(store.delete(a, b"k").unwrap());
    assert_eq!(
        get(store, b, b"k").as_deref(),
        Some(&b"b's"[..]),
        "a's delete leaves b's key"
    );
    assert!(store.delete(b, b"k").unwrap());
}

fn usage_counts_keys_and_values(store: &dyn KvStore) {
    let t = "conformance-usage";
    store.set(t, b"key", b"value").unwrap();
    assert_eq!(
        store.used_bytes(t).unwrap(),
        3 + 5,
        "usage is key + value bytes"
    );
    store.set(t, b"key", b"v").unwrap();
    assert_eq!(
        store.used_bytes(t).unwrap(),
        3 + 1,
        "an overwrite counts the new value only"
    );
    store.set(t, b"k2", b"").unwrap();
    assert_eq!(
        store.used_bytes(t).unwrap(),
        4 + 2,
        "an empty value counts its key"
    );
    store.delete(t, b"key").unwrap();
    store.delete(t, b"k2").unwrap();
    assert_eq!(store.used_bytes(t).unwrap(), 0, "deletes free their bytes");
}

fn size_limits(store: &dyn KvStore) {
    let t = "conformance-sizes";
    let key = [b'k'; MAX_KEY_BYTES];
    store.set(t, &key, b"v").unwrap();
    assert_eq!(
        get(store, t, &key).as_deref(),
        Some(&b"v"[..]),
        "a maximal key works"
    );
    assert!(store.delete(t, &key).unwrap());
    // A value as large as the quota allows, up to 64 KiB.
    let len = store.quota_bytes(t).saturating_sub(1).min(64 << 10);
    let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
    store.set(t, b"v", &value).unwrap();
    assert_eq!(
        get(store, t, b"v").as_deref(),
        Some(&value[..]),
        "a large value reads back whole"
    );
    assert!(store.delete(t, b"v").unwrap());
}

fn quota(store: &dyn KvStore) {
    let t = "conformance-quota";
    let quota = store.quota_bytes(t);
    assert!(
        quota >= 16,
        "the quota checks need a quota of at least 16 bytes"
    );
    // Exactly at the quota: accepted.
    let fill = vec![7u8; quota - 4];
    store.set(t, b"fill", &fill).unwrap();
    assert_eq!(
        store.used_bytes(t).unwrap(),
        quota,
        "filled to exactly the quota"
    );
    // One byte over: refused, and nothing changes.
    assert_eq!(
        store.set(t, b"x", b""),
        Err(KvError::Quota),
        "one byte over is refused"
    );
    assert_eq!(get(store, t, b"x"), None, "a refused write leaves nothing");
    let longer = vec![8u8; quota - 3];
    assert_eq!(
        store.set(t, b"fill", &longer),
        Err(KvError::Quota),
        "a growing overwrite is refused"
    );
    assert_eq!(
        get(store, t, b"fill").as_deref(),
        Some(&fill[..]),
        "the old value stays"
    );
    assert_eq!(store.used_bytes(t).unwrap(), quota);
    // Full, but an overwrite of the same size fits.
    let same = vec![9u8; quota - 4];
    store.set(t, b"fill", &same).unwrap();
    // Other tenants have their own quota.
    store.set("conformance-quota-other", b"x", b"y").unwrap();
    // A delete frees the bytes.
    assert!(store.delete(t, b"fill").unwrap());
    assert_eq!(store.used_bytes(t).unwrap(), 0);
    store.set(t, b"x", &vec![1u8; quota - 1]).unwrap();
    assert_eq!(
        store.used_bytes(t).unwrap(),
        quota,
        "the freed bytes are usable again"
    );
    assert!(store.delete(t, b"x").unwrap());
    assert!(store.delete("conformance-quota-other", b"x").unwrap());
}
