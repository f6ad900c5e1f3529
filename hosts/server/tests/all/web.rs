//! The browser pages and runtime (docs/WEB.md): the runtime module is served content-hashed,
//! immutable and precompressed; the pages are `no-cache` and name it. The pages themselves are
//! tested in Chromium by `hosts/web/e2e/run.sh`.

use std::io::Read as _;

use sha2::{Digest as _, Sha256};

use crate::common::*;

#[test]
fn the_runtime_is_content_hashed_immutable_and_identical_under_every_encoding() {
    let srv = Srv::start();
    let mut c = srv.client();
    let name = palisade_server::web::RUNTIME_NAME;
    let hash: String = Sha256::digest(palisade_server::web::RUNTIME)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(name, format!("palisade-web.{hash}.wasm"));

    // Each page names the runtime and is revalidated on every load.
    for page in ["/play", "/console"] {
        let r = c.request("GET", page, &[], b"").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        let html = String::from_utf8(r.body).unwrap();
        assert!(html.contains(&format!("/web/{name}")), "{page}");
    }

    let path = format!("/web/{name}");
    let get = |c: &mut Client, enc: &str| {
        let r = c
            .request("GET", &path, &[("accept-encoding", enc)], b"")
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some("application/wasm"));
        r
    };
    let br = get(&mut c, "gzip, br");
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
    assert_eq!(plain.body, palisade_server::web::RUNTIME);
    assert_eq!(from_br, plain.body);
    assert_eq!(from_gz, plain.body);
    assert!(&plain.body[..4] == b"\0asm");

    let etag = plain.header("etag").unwrap().to_owned();
    let r = c
        .request("GET", &path, &[("if-none-match", &etag)], b"")
        .unwrap();
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = c.request("GET", "/web/nope.js", &[], b"").unwrap();
    assert_error(&r, 404, "not_found");
}

#[test]
fn a_call_reports_its_memory_high_water_mark() {
    let srv = Srv::start();
    assert_eq!(srv.upload("echo", "1", &echo()).status, 201);
    let promoted = srv.admin_json(
        "POST",
        "/v1/admin/plugins/echo/promote",
        serde_json::json!({"version": "1"}),
    );
    assert_eq!(promoted.status, 200);
    let token = srv.tenant("t", serde_json::json!({"plugins": ["echo"]}));
    let r = srv.invoke(&token, "echo", "echo", b"hi");
    assert_eq!(r.status, 200);
    // One 64 KiB page, as the module declares.
    assert_eq!(r.header("x-palisade-memory"), Some("65536"));
}
