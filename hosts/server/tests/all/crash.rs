//! SIGKILL in the middle of uploads, 20 times: every restart finds a consistent registry, and
//! every acknowledged version is listed and loadable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::common::*;

const ROUNDS: usize = 20;

#[derive(Default)]
struct Acked {
    versions: Vec<(String, String)>,
    /// The last version whose promotion was acknowledged, and the one attempted after it.
    promoted: Option<String>,
    attempted: Option<String>,
}

#[test]
fn sigkill_during_uploads_loses_nothing_acknowledged() {
    // Every acknowledged version must stay listed: retention is kept out of the way.
    let mut srv = Srv::start_with("keep_versions = 100000\n");
    let token = srv.tenant("acme", json!({"plugins": ["p"]}));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut total = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let uploader = {
            let (addr, admin, acked, stop) =
                (srv.addr, srv.admin.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {admin}");
                let mut c = Client::new(addr);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let version = format!("{round}.{i}");
                    let module = tagged(&format!("v{version}"));
                    let path = format!("/v1/admin/plugins/p/versions?version={version}");
                    let Ok(r) = c.request("POST", &path, &[("authorization", &auth)], &module)
                    else {
                        return; // killed
                    };
                    assert!(
                        r.status == 201 || r.status == 200,
                        "{}",
                        String::from_utf8_lossy(&r.body)
                    );
                    let digest = r.json()["digest"].as_str().unwrap().to_owned();
                    acked
                        .lock()
                        .unwrap()
                        .versions
                        .push((version.clone(), digest));
                    if i % 2 == 0 {
                        acked.lock().unwrap().attempted = Some(version.clone());
                        let body = json!({"version": version}).to_string();
                        let Ok(r) = c.request(
                            "POST",
                            "/v1/admin/plugins/p/promote",
                            &[("authorization", &auth)],
                            body.as_bytes(),
                        ) else {
                            return;
                        };
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        acked.lock().unwrap().promoted = Some(version);
                    }
                }
            })
        };
        // Kill at a different point of the upload stream each round.
        std::thread::sleep(Duration::from_millis(100 + (round as u64 * 37) % 150));
        srv.kill();
        stop.store(true, Ordering::Relaxed);
        uploader.join().unwrap();
        srv.spawn();

        let a = acked.lock().unwrap();
        let listed = srv.admin_req("GET", "/v1/admin/plugins/p", b"");
        if a.versions.is_empty() {
            continue;
        }
        assert_eq!(listed.status, 200);
        let listed = listed.json();
        let versions: Vec<(String, String)> = listed["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap().to_owned(),
                    v["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for v in &a.versions {
            assert!(
                versions.contains(v),
                "round {round}: acknowledged {v:?} lost"
            );
        }
        // Consistent: every listed version (acknowledged or not) has complete bytes.
        // (With the admin token: versions never promoted are not public downloads.)
        let mut c = srv.client();
        let admin = format!("Bearer {}", srv.admin);
        for (version, digest) in &versions {
            let r = c
                .request(
                    "GET",
                    &format!("/v1/modules/{digest}"),
                    &[("authorization", &admin)],
                    b"",
                )
                .unwrap();
            assert_eq!(r.status, 200, "round {round}: {version} not downloadable");
            assert_eq!(palisade::Digest::of(&r.body).to_string(), *digest);
        }
        // The active version is the last acknowledged promotion or the one after it, and runs.
        if let Some(promoted) = &a.promoted {
            let active = listed["active"]["version"].as_str().unwrap().to_owned();
            assert!(
                active == *promoted || Some(&active) == a.attempted.as_ref(),
                "round {round}: active {active}, acknowledged {promoted}"
            );
            let r = srv.invoke(&token, "p", "echo", b"");
            assert_eq!((r.status, r.body), (200, format!("v{active}").into_bytes()));
        }
        total = a.versions.len();
    }
    eprintln!("{ROUNDS} SIGKILLs, {total} acknowledged versions, all present and loadable");
    assert!(total >= ROUNDS, "uploads kept being acknowledged ({total})");
    // Every acknowledged version is loadable: promote each and run it.
    let a = acked.lock().unwrap();
    for (version, digest) in a.versions.iter().step_by(7) {
        let r = srv.admin_json(
            "POST",
            "/v1/admin/plugins/p/promote",
            json!({"version": version}),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let r = srv.invoke(&token, "p", "echo", b"");
        assert_eq!(r.header("x-palisade-digest"), Some(digest.as_str()));
        assert_eq!(r.body, format!("v{version}").into_bytes());
    }
}
