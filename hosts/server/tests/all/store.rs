//! The `RegistryStore` contract on both backends: rollout writes are compare-and-swap.

use palisade_server::store::{PluginState, PostgresStore, RegistryStore, SqliteStore, StoreError};

use crate::common::{Backend, fresh_database};

fn open(backend: Backend) -> (Box<dyn RegistryStore>, Option<std::path::PathBuf>) {
    match backend {
        Backend::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("palisade-server-store-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            (Box::new(SqliteStore::open(&dir).unwrap()), Some(dir))
        }
        Backend::Postgres => (
            Box::new(PostgresStore::connect(&fresh_database(), 2).unwrap()),
            None,
        ),
    }
}

fn a_stale_rollout_write_is_a_conflict_and_changes_nothing(backend: Backend) {
    let (store, dir) = open(backend);
    let empty = PluginState::default();
    let a = PluginState {
        active: Some("aa".into()),
        ..PluginState::default()
    };
    let b = PluginState {
        active: Some("bb".into()),
        previous: vec!["aa".into()],
        canary: Some(("cc".into(), 100)),
    };
    store.set_plugin_state("p", &empty, &a).unwrap();
    // A writer that read the state before `a` was stored is refused.
    let e = store.set_plugin_state("p", &empty, &b).unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    assert!(e.to_string().contains("`p`"), "{e}");
    assert_eq!(store.load().unwrap().plugins["p"], a);
    store.set_plugin_state("p", &a, &b).unwrap();
    assert_eq!(store.load().unwrap().plugins["p"], b);
    drop(store);
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

crate::on_both_backends!(a_stale_rollout_write_is_a_conflict_and_changes_nothing);
