//! Unit tests of [`SortedMap`]: it behaves as the `BTreeMap`s it replaced.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::SortedMap;

#[test]
fn behaves_like_a_btree_map() {
    let mut m: SortedMap<Box<str>, u32> = SortedMap::new();
    assert!(m.is_empty());
    assert_eq!(m.insert("b".into(), 2), None);
    assert_eq!(m.insert("a".into(), 1), None);
    assert_eq!(m.insert("c".into(), 3), None);
    assert_eq!(m.insert("b".into(), 20), Some(2));
    assert_eq!(m.get("b"), Some(&20));
    assert_eq!(m.get("z"), None);
    let keys: Vec<&str> = m.iter().map(|(k, _)| &**k).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(m.remove("a"), Some(1));
    assert_eq!(m.remove("a"), None);
    if let Some(v) = m.get_mut("c") {
        *v += 1;
    }
    assert_eq!(m.values().copied().collect::<Vec<_>>(), [20, 4]);
}

#[test]
fn get_or_insert_with_builds_the_key_only_when_absent() {
    let mut m: SortedMap<Box<str>, Vec<u8>> = SortedMap::new();
    m.get_or_insert_with("t", |k| k.into(), Vec::new).push(1);
    let mut built = false;
    m.get_or_insert_with(
        "t",
        |k| {
            built = true;
            k.into()
        },
        Vec::new,
    )
    .push(2);
    assert!(!built);
    assert_eq!(m.get("t").map(Vec::as_slice), Some(&[1, 2][..]));
    m.extend([(Box::from("a"), Vec::new())]);
    assert_eq!(m.iter().next().map(|(k, _)| &**k), Some("a"));
}
