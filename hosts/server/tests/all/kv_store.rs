//! The SQLite tenant KV store keeps the `KvStore` contract (`palisade-testkit`'s suite).

use palisade_server::kv;
use palisade_server::store::SqliteStore;

#[test]
fn sqlite_kv_passes_the_conformance_suite() {
    let dir = std::env::temp_dir().join(format!(
        "palisade-server-kv-conformance-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(&dir).unwrap();
    let sqlite = kv::open_sqlite(&store.db_path()).unwrap();
    for tenant in [
        "conformance-quota",
        "conformance-quota-other",
        "conformance-sizes",
    ] {
        sqlite.set_quota(tenant, 4096);
    }
    palisade_testkit::kv::conformance(&sqlite);
    // Once more on a fresh connection: usage is read back from the table.
    let reopened = kv::open_sqlite(&store.db_path()).unwrap();
    palisade_testkit::kv::conformance(&reopened);
    drop((sqlite, reopened, store));
    let _ = std::fs::remove_dir_all(&dir);
}
