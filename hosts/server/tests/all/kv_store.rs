//! The tenant KV stores keep the `KvStore` contract (`palisade-testkit`'s suite), SQLite and
//! PostgreSQL alike.

use palisade_server::kv::{self, TenantKv};
use palisade_server::store::{PostgresStore, SqliteStore};

use crate::common::{Backend, fresh_database};

const QUOTA_TENANTS: [&str; 3] = [
    "conformance-quota",
    "conformance-quota-other",
    "conformance-sizes",
];

fn conformance(kv: &dyn TenantKv) {
    for tenant in QUOTA_TENANTS {
        kv.set_quota(tenant, 4096);
    }
    palisade_testkit::kv::conformance(kv);
}

fn kv_passes_the_conformance_suite(backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!(
                "palisade-server-kv-conformance-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let store = SqliteStore::open(&dir).unwrap();
            let sqlite = kv::open_sqlite(&store.db_path()).unwrap();
            conformance(&sqlite);
            // Once more on a fresh connection: usage is read back from the table.
            let reopened = kv::open_sqlite(&store.db_path()).unwrap();
            conformance(&reopened);
            drop((sqlite, reopened, store));
            let _ = std::fs::remove_dir_all(&dir);
        }
        Backend::Postgres => {
            let url = fresh_database();
            let store = PostgresStore::connect(&url, 4).unwrap();
            conformance(&store.kv());
            // Once more through a second store (another replica): usage lives in the database.
            let other = PostgresStore::connect(&url, 4).unwrap();
            conformance(&other.kv());
        }
    }
}

crate::on_both_backends!(kv_passes_the_conformance_suite);
