//! The data directory: one server per directory, private file modes, admin-token rotation.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let srv = Srv::start();
    let mut second = Command::new(env!("CARGO_BIN_EXE_palisade-server"))
        .arg("--data")
        .arg(srv.data_dir())
        .arg("--config")
        .arg(&srv.config)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that started prints `listening on`; one that was refused exits (EOF).
    let mut line = String::new();
    BufReader::new(second.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.contains("listening") {
        second.kill().unwrap();
        second.wait().unwrap();
        panic!("a second server started on the same data directory: {line}");
    }
    let out = second.wait_with_output().unwrap();
    assert!(!out.status.success(), "the second server must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lock = srv.data_dir().join("LOCK");
    assert!(
        stderr.contains("in use by another palisade-server")
            && stderr.contains(&lock.display().to_string()),
        "the error names the directory and the lock: {stderr}"
    );
    // The first server is untouched and still serves.
    let r = srv.client().request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn the_data_directory_database_and_admin_token_are_private() {
    let srv = Srv::start();
    // Something in the KV so the WAL exists.
    let t = srv.tenant("t", json!({"grants": ["kv.write"]}));
    let auth = format!("Bearer {t}");
    let r = srv
        .client()
        .request("PUT", "/v1/kv/k", &[("authorization", &auth)], b"v")
        .unwrap();
    assert_eq!(r.status, 204);
    let dir = srv.data_dir();
    assert_eq!(mode(dir), 0o700, "data directory");
    for f in [
        "palisade.db",
        "palisade.db-wal",
        "palisade.db-shm",
        "admin-token",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
}

#[test]
fn rotating_the_admin_token_invalidates_the_old_one() {
    let mut srv = Srv::start();
    let old = srv.admin.clone();
    // Only the admin may rotate.
    let t = srv.tenant("t", json!({}));
    let r = srv
        .client()
        .request(
            "POST",
            "/v1/admin/token/rotate",
            &[("authorization", &format!("Bearer {t}"))],
            b"",
        )
        .unwrap();
    assert_error(&r, 403, "forbidden");

    let r = srv.admin_req("POST", "/v1/admin/token/rotate", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let new = r.json()["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("pa_") && new != old);
    // The file holds the new token, still 0600.
    let file = srv.data_dir().join("admin-token");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new);
    assert_eq!(mode(&file), 0o600);

    assert_error(
        &srv.admin_req("GET", "/v1/admin/plugins", b""),
        403,
        "forbidden",
    );
    srv.admin = new.clone();
    assert_eq!(srv.admin_req("GET", "/v1/admin/plugins", b"").status, 200);

    // The rotation survives a restart.
    srv.kill();
    srv.spawn();
    assert_eq!(srv.admin, new);
    assert_eq!(srv.admin_req("GET", "/v1/admin/plugins", b"").status, 200);
    srv.admin = old;
    assert_error(
        &srv.admin_req("GET", "/v1/admin/plugins", b""),
        403,
        "forbidden",
    );
}
