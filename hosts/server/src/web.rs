//! The browser pages: `/console` (operators) and `/play` (plugin authors), and the one browser
//! runtime both use (`/web/palisade-web.<hash>.wasm`, built from `hosts/web` by `build.rs`).
//! See `docs/WEB.md`.
//!
//! Every file is embedded in the binary. The pages and scripts are small and change with the
//! server: `Cache-Control: no-cache` (revalidated on every load, by `ETag`). The runtime is
//! content-hashed in its name: cached for a year as `immutable`, in brotli, gzip or identity by
//! `Accept-Encoding` (variants computed at build time), with `Vary: Accept-Encoding`.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::Encoding;

mod runtime {
    include!(concat!(env!("OUT_DIR"), "/web_runtime.rs"));
}

pub use runtime::{RUNTIME, RUNTIME_BROTLI, RUNTIME_GZIP, RUNTIME_NAME};

/// The URL path of the runtime module.
pub fn runtime_path() -> String {
    format!("/web/{RUNTIME_NAME}")
}

/// A static file: its bytes and content type.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        bytes: include_bytes!("../web/style.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "common.js",
        bytes: include_bytes!("../web/common.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "play.js",
        bytes: include_bytes!("../web/play.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "console.js",
        bytes: include_bytes!("../web/console.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "worker.js",
        bytes: include_bytes!("../web/worker.js"),
        content_type: "text/javascript; charset=utf-8",
    },
];

/// The pages, with the runtime's hashed path filled in (`%RUNTIME%`).
static PLAY: LazyLock<String> =
    LazyLock::new(|| include_str!("../web/play.html").replace("%RUNTIME%", &runtime_path()));
static CONSOLE: LazyLock<String> =
    LazyLock::new(|| include_str!("../web/console.html").replace("%RUNTIME%", &runtime_path()));

/// The ETag of the embedded files: they change only with the binary.
fn build_etag() -> String {
    format!("\"{}\"", RUNTIME_NAME.trim_end_matches(".wasm"))
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| crate::http::if_none_match(v, etag))
}

fn no_cache(headers: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let etag = build_etag();
    let mut response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // The pages load only their own scripts and talk only to this server.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /play`.
pub async fn play(headers: HeaderMap) -> Response {
    no_cache(
        &headers,
        "text/html; charset=utf-8",
        PLAY.as_bytes().to_vec(),
    )
}

/// `GET /console`.
pub async fn console(headers: HeaderMap) -> Response {
    no_cache(
        &headers,
        "text/html; charset=utf-8",
        CONSOLE.as_bytes().to_vec(),
    )
}

/// `GET /web/{file}`: the scripts, the stylesheet and the runtime.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file == RUNTIME_NAME {
        return runtime_module(&headers);
    }
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => no_cache(&headers, a.content_type, a.bytes.to_vec()),
        None => ApiError::not_found(format!("no web asset {file:?}")).into_response(),
    }
}

fn runtime_module(headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", RUNTIME_NAME.trim_end_matches(".wasm"));
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::VARY, "Accept-Encoding"),
    ];
    if not_modified(headers, &etag) {
        let mut r = (StatusCode::NOT_MODIFIED, cache).into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return r;
    }
    let encoding = crate::http::choose_encoding(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let body: &'static [u8] = match encoding {
        Encoding::Brotli => RUNTIME_BROTLI,
        Encoding::Gzip => RUNTIME_GZIP,
        Encoding::Identity => RUNTIME,
    };
    let mut response = (cache, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(enc) = encoding.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    response
}
