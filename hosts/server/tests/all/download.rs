//! Content-addressed downloads: identical bytes under br, gzip and identity, immutable caching.

use std::io::Read as _;

use crate::common::*;

#[test]
fn downloads_are_identical_under_every_encoding_and_immutable() {
    let srv = Srv::start();
    let module = tagged(&"thermostat rule ".repeat(200));
    let r = srv.upload("big", "1", &module);
    assert_eq!(r.status, 201);
    let digest = r.json()["digest"].as_str().unwrap().to_owned();
    // Public downloads serve released versions only.
    let promoted = srv.admin_json(
        "POST",
        "/v1/admin/plugins/big/promote",
        serde_json::json!({"version": "1"}),
    );
    assert_eq!(promoted.status, 200);
    let path = format!("/v1/modules/{digest}");
    let mut c = srv.client();

    let get = |c: &mut Client, enc: &str| {
        let r = c
            .request("GET", &path, &[("accept-encoding", enc)], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("content-type"), Some("application/wasm"));
        assert!(
            r.header("vary")
                .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding"))
        );
        r
    };

    let br = get(&mut c, "gzip, deflate, br");
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut from_br = Vec::new();
    brotli::Decompressor::new(br.body.as_slice(), 4096)
        .read_to_end(&mut from_br)
        .unwrap();

    let gz = get(&mut c, "gzip");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut from_gz = Vec::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_end(&mut from_gz)
        .unwrap();

    let plain = get(&mut c, "identity");
    assert_eq!(plain.header("content-encoding"), None);

    assert_eq!(plain.body, module);
    assert_eq!(from_br, module);
    assert_eq!(from_gz, module);
    assert!(br.body.len() < module.len() / 4 && gz.body.len() < module.len() / 4);

    // The precompressed variants were computed once, at upload, and sit on disk.
    let files = srv.module_files();
    for ext in ["wasm", "br", "gz"] {
        assert!(files.contains(&format!("{digest}.{ext}")), "{files:?}");
    }

    // Revalidation is free, unknown and malformed digests are JSON errors.
    let etag = format!("\"{digest}\"");
    let r = c
        .request("GET", &path, &[("if-none-match", &etag)], b"")
        .unwrap();
    assert_eq!((r.status, r.body.len()), (304, 0));
    let unknown = format!("/v1/modules/{}", "ab".repeat(32));
    assert_error(
        &c.request("GET", &unknown, &[], b"").unwrap(),
        404,
        "not_found",
    );
    assert_error(
        &c.request("GET", "/v1/modules/xyz", &[], b"").unwrap(),
        400,
        "bad_digest",
    );
}
