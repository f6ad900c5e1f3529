//! The HTTP API (axum). Every error is JSON with a stable `code`; see `docs/SERVER.md`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use palisade::{Digest, ErrorKind, Outcome};
use serde::{Deserialize, Serialize};

use crate::api::{
    CanaryRequest, ErrorBody, Health, HealthStatus, PluginInfo, PluginList, PromoteRequest,
    TenantAnswer, TenantInfo, TenantList, TenantRequest, TokenAnswer,
};
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::openapi::Binary;
use crate::server::Server;
use crate::store::Encoding;
use crate::tenant::TenantConfig;

type App = State<Arc<Server>>;

/// Response header: the call's outcome class.
pub const OUTCOME_HEADER: &str = "x-palisade-outcome";
/// Response header: fuel used.
pub const FUEL_HEADER: &str = "x-palisade-fuel";
/// Response header: wall time of the call in microseconds.
pub const TIME_HEADER: &str = "x-palisade-time-us";
/// Response header: the largest linear memory the call reached, in bytes.
pub const MEMORY_HEADER: &str = "x-palisade-memory";
/// Response header: digest of the module that ran.
pub const DIGEST_HEADER: &str = "x-palisade-digest";
/// Request header: the routing key for canaries (default: the tenant id).
pub const KEY_HEADER: &str = "x-palisade-key";

/// The router with every route.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/play", get(crate::web::play))
        .route("/console", get(crate::web::console))
        .route("/web/{file}", get(crate::web::asset))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/modules/{digest}", get(download))
        .route("/v1/plugins/{plugin}/{entry}", post(invoke))
        .route("/v1/kv/{key}", get(kv_get).put(kv_put).delete(kv_delete))
        .route("/v1/admin/plugins", get(list_plugins))
        .route("/v1/admin/plugins/{plugin}", get(get_plugin))
        .route("/v1/admin/plugins/{plugin}/versions", post(upload))
        .route("/v1/admin/plugins/{plugin}/promote", post(promote))
        .route(
            "/v1/admin/plugins/{plugin}/canary",
            put(set_canary).delete(clear_canary),
        )
        .route("/v1/admin/plugins/{plugin}/rollback", post(rollback))
        .route("/v1/admin/token/rotate", post(rotate_admin_token))
        .route("/v1/admin/tenants", get(list_tenants))
        .route("/v1/admin/tenants/{tenant}", put(put_tenant))
        .fallback(|| async { ApiError::not_found("no such route; see docs/SERVER.md") })
        // Bodies are read with our own caps (JSON errors), never axum's default.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(crate::rejection::limit_headers))
        .layer(axum::middleware::map_response(
            crate::rejection::json_errors,
        ))
        .with_state(server)
}

fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer)
}

async fn read_body(body: Body, cap: usize, what: &str) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, cap).await.map_err(|e| {
        if crate::listen::is_body_timeout(&e) {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the {what} did not arrive within this server's body read timeout"),
            );
        }
        let inner = e.into_inner();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*inner);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the {what} is over this server's cap of {cap} bytes"),
                );
            }
            source = err.source();
        }
        // Not over the cap: the body ended early (the client closed the connection before
        // sending the `Content-Length` it declared) or was malformed.
        ApiError::bad_request(
            "truncated_body",
            format!("the {what} ended before its declared length or was malformed ({inner}); send it again"),
        )
    })
}

/// The request's `Content-Length`, if it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

fn json_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("bad_json", format!("the JSON body is invalid: {e}")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

/// An admin route's proof of authority: extracting it checks the admin token (401 without
/// one, 403 for a wrong one) before the handler reads any body.
pub(crate) struct Admin;

impl FromRequestParts<Arc<Server>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Server>) -> ApiResult<Self> {
        s.check_admin(token(&parts.headers))?;
        Ok(Self)
    }
}

/// A JSON answer with `status`: every JSON body the API answers with goes through here.
fn json(status: StatusCode, value: impl Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

/// An admin write: serialised with every other one by the admin lock, run off the reactor,
/// and answered as JSON with the status `f` chose.
async fn admin_write<T: Serialize + Send + 'static>(
    s: Arc<Server>,
    f: impl FnOnce(&Server) -> ApiResult<(StatusCode, T)> + Send + 'static,
) -> ApiResult<Response> {
    let _guard = s.admin_lock().await;
    blocking(move || f(&s).map(|(status, value)| json(status, value))).await
}

/// `200 {"status": "ok" | "busy", "workers", "busy_workers"}`, or `503 draining`. `busy`
/// (every worker running a call) stays `200`: the replica is alive and admits calls into its
/// queue, and taking busy replicas out of a load balancer would only move the load.
#[utoipa::path(get, path = "/healthz", tag = "public",
    responses(
        (status = 200, description = "Serving: `ok`, or `busy` when every worker runs a call", body = Health),
        (status = 503, description = "`draining`: shutting down", body = Health),
    ))]
pub(crate) async fn healthz(State(s): App) -> Response {
    let workers = s.config().workers;
    // Parked calls count in flight too; a worker runs one call at a time.
    let busy_workers = s.in_flight().min(workers);
    let (code, status) = if s.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Draining)
    } else if busy_workers >= workers {
        (StatusCode::OK, HealthStatus::Busy)
    } else {
        (StatusCode::OK, HealthStatus::Ok)
    };
    let health = Health {
        status,
        workers,
        busy_workers,
    };
    json(code, health)
}

/// This API's OpenAPI 3.1 description, generated from the code ([`crate::openapi`]).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "public",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "public",
    security(("admin_token" = []), ("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(s): App, headers: HeaderMap) -> ApiResult<Response> {
    s.check_metrics(token(&headers))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.render_metrics(),
    )
        .into_response())
}

/// Whether an `If-None-Match` value matches `etag` (RFC 9110 §13.1.2: weak comparison, so
/// `W/"x"` matches `"x"`; a list matches if any member does; `*` matches any current
/// representation).
pub fn if_none_match(value: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_owned();
    let etag = opaque(etag);
    value
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || opaque(t) == etag)
}

/// Picks the best stored encoding the client accepts: br, then gzip, then identity.
pub fn choose_encoding(accept: &str) -> Encoding {
    let mut best = Encoding::Identity;
    let mut br = false;
    let mut gz = false;
    for part in accept.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        match name.as_str() {
            "br" => br = true,
            "gzip" | "x-gzip" => gz = true,
            "*" => {
                br = true;
                gz = true;
            }
            _ => {}
        }
    }
    if gz {
        best = Encoding::Gzip;
    }
    if br {
        best = Encoding::Brotli;
    }
    best
}

#[utoipa::path(get, path = "/v1/modules/{digest}", tag = "public",
    params(
        ("digest" = String, Path, description = "The module's SHA-256 digest, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$"),
        ("if-none-match" = Option<String>, Header, description = "ETags; a match answers `304`"),
        ("accept-encoding" = Option<String>, Header, description = "`br`, `gzip` or identity"),
    ),
    security((), ("tenant_token" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The module bytes (`ETag`, immutable cache headers)", content_type = "application/wasm", body = Binary),
        (status = 304, description = "Not modified: `If-None-Match` matched"),
        (status = 400, description = "`bad_digest`: not 64 hex digits", body = ErrorBody),
        (status = 401, description = "`unauthorized` (tokens required here) or `invalid_token`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such module, or not released and no token", body = ErrorBody),
    ))]
pub(crate) async fn download(
    State(s): App,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // With a token: any version (a tenant's or the admin's). Without one, if
    // `public_downloads`: only released versions (some plugin's active, previous or canary),
    // because digests are published (`x-palisade-digest`, the admin API) and are no secret.
    let authorized = match token(&headers) {
        Some(t) => {
            if s.check_admin(Some(t)).is_err() {
                s.authenticate(Some(t))?;
            }
            true
        }
        None if s.config().public_downloads => false,
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "downloads need a token on this server: send `Authorization: Bearer <token>`",
            ));
        }
    };
    let digest = Digest::from_hex(&digest)
        .ok_or_else(|| ApiError::bad_request("bad_digest", "a digest is 64 hex digits"))?;
    if !authorized && !s.is_released(digest) {
        // The same answer as for an unknown digest: no oracle for what is staged.
        return Err(ApiError::not_found(format!(
            "no released module with digest {digest}; a version never promoted downloads only with a token"
        )));
    }
    let etag = format!("\"{digest}\"");
    let known = {
        let s = s.clone();
        blocking(move || s.store().has_module(&digest).map_err(ApiError::internal)).await?
    };
    if !known {
        return Err(ApiError::not_found(format!(
            "no module with digest {digest}"
        )));
    }
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_owned(),
        ),
        (header::VARY, "Accept-Encoding".to_owned()),
    ];
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| if_none_match(v, &etag));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let encoding = choose_encoding(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let bytes = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || s.store().read_module_encoded(&digest, encoding))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| {
                ApiError::internal(format!("module {digest} is registered but unreadable: {e}"))
            })?
    };
    let mut response = (cache, bytes).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    if let Some(enc) = encoding.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    Ok(response)
}

fn call_error(e: &palisade::Error) -> ApiError {
    let (status, code) = match e.outcome() {
        Outcome::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        Outcome::CapabilityDenied => (StatusCode::FORBIDDEN, "capability_denied"),
        Outcome::HostError => (StatusCode::INTERNAL_SERVER_ERROR, "host_error"),
        // Only a shutdown's interrupt is ever answered (a client that went away reads no
        // answer): the call may succeed elsewhere.
        Outcome::Interrupted => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "interrupted",
                e.to_string(),
            )
            .retry_after(std::time::Duration::from_secs(1));
        }
        Outcome::Rejected => match e.kind() {
            ErrorKind::Registry(palisade::RegistryError::UnknownPlugin { .. }) => {
                (StatusCode::NOT_FOUND, "unknown_plugin")
            }
            ErrorKind::NoSuchEntry { .. } => (StatusCode::NOT_FOUND, "no_such_entry"),
            ErrorKind::InputTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "input_too_large"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        },
        other => (StatusCode::UNPROCESSABLE_ENTITY, other.as_str()),
    };
    let mut err = ApiError::new(status, code, e.to_string());
    if let ErrorKind::RateLimited { retry_after } = e.kind() {
        err = err.retry_after(*retry_after);
    }
    err
}

#[utoipa::path(post, path = "/v1/plugins/{plugin}/{entry}", tag = "tenant",
    params(
        ("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        ("entry" = String, Path, description = "The entry point (an export of the module)", example = "echo"),
        ("x-palisade-key" = Option<String>, Header, description = "Canary routing key (default: the tenant id)"),
    ),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The input bytes"),
    security(("tenant_token" = [])),
    responses(
        (status = 200, description = "The output bytes", content_type = "application/octet-stream", body = Binary,
            headers(
                ("x-palisade-outcome" = String, description = "The call's outcome class"),
                ("x-palisade-fuel" = String, description = "Fuel used"),
                ("x-palisade-time-us" = String, description = "Wall time in microseconds"),
                ("x-palisade-digest" = String, description = "Digest of the module that ran"),
            )),
        (status = 400, description = "`truncated_body`: the body ended early", body = ErrorBody),
        (status = 403, description = "`plugin_not_granted`, `capability_denied`", body = ErrorBody),
        (status = 404, description = "`unknown_plugin`, `no_such_entry`", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`, `input_too_large`", body = ErrorBody),
        (status = 422, description = "The guest failed: `guest_error`, `trap`, `out_of_fuel`, `deadline_exceeded`, `memory_cap`, `bad_output`, `rejected`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `tenant_busy`, `server_busy`; see `Retry-After`", body = ErrorBody),
        (status = 500, description = "`host_error`, `internal`", body = ErrorBody),
        (status = 503, description = "`interrupted` (shutdown), `shutting_down`", body = ErrorBody),
    ))]
pub(crate) async fn invoke(
    State(s): App,
    Path((plugin, entry)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let tenant = s.authenticate(token(&headers))?;
    // Admission (grant, declared length, rate, concurrency slots) comes before the body is
    // read: a refused or queued call costs no buffer, and a stalled body holds one of the
    // tenant's own slots, not the server's memory.
    let server_cap = s.config().max_input_bytes;
    let declared = content_length(&headers);
    if let Some(n) = declared.filter(|n| *n > server_cap) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the input is {n} bytes, over this server's cap of {server_cap} bytes"),
        ));
    }
    let admitted = s.admit(tenant, &plugin, declared).await?;
    let cap = admitted.input_cap(server_cap);
    let input = read_body(request.into_body(), cap, "input")
        .await
        .map_err(|e| {
            if e.code == "payload_too_large" && cap < server_cap {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "input_too_large",
                    format!("the input is over this tenant's cap of {cap} bytes"),
                )
            } else {
                e
            }
        })?;
    let key = headers.get(KEY_HEADER).map(|v| v.as_bytes().to_vec());
    let done = s.run(admitted, &entry, input.to_vec(), key).await?;
    let r = done.report;
    let mut response = match done.result {
        Ok(output) => (StatusCode::OK, output).into_response(),
        Err(e) => call_error(&e).into_response(),
    };
    let h = response.headers_mut();
    for (name, value) in [
        (OUTCOME_HEADER, r.outcome.as_str().to_owned()),
        (FUEL_HEADER, r.fuel_used.to_string()),
        (TIME_HEADER, r.wall_time.as_micros().to_string()),
        (MEMORY_HEADER, r.memory_high_water.to_string()),
        (DIGEST_HEADER, r.digest.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Ok(response)
}

/// Authenticates a `/v1/kv` request: the tenant needs `grant` (`kv.read` or `kv.write`), the
/// same capability a guest needs for the same access, and every request takes a token from
/// the tenant's rate bucket.
fn kv_tenant(
    s: &Server,
    headers: &HeaderMap,
    grant: &str,
) -> ApiResult<Arc<crate::tenant::LiveTenant>> {
    let tenant = s.authenticate(token(headers))?;
    if !tenant.config.grants.iter().any(|g| g == grant) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "capability_denied",
            format!(
                "tenant `{}` lacks the `{grant}` grant this KV request needs; ask the operator to grant it",
                tenant.id
            ),
        ));
    }
    s.check_rate(&tenant)?;
    Ok(tenant)
}

fn kv_failed(e: palisade::KvError) -> ApiError {
    match e {
        palisade::KvError::Quota => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "kv_quota",
            "this tenant's KV namespace is full",
        ),
        palisade::KvError::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the value is too large",
        ),
        palisade::KvError::Backend => ApiError::internal("the KV backend failed"),
    }
}

#[utoipa::path(get, path = "/v1/kv/{key}", tag = "tenant", params(("key" = String, Path, description = "The key (UTF-8)")),
    security(("tenant_token" = [])),
    responses(
        (status = 200, description = "The value", content_type = "application/octet-stream", body = Binary),
        (status = 403, description = "`capability_denied`: no `kv.read` grant", body = ErrorBody),
        (status = 404, description = "`not_found`: no such key", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
pub(crate) async fn kv_get(
    State(s): App,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = kv_tenant(&s, &headers, "kv.read")?.id.clone();
    blocking(move || {
        let mut out = None;
        let found = palisade::KvStore::get(s.kv(), &tenant, key.as_bytes(), &mut |v| {
            out = Some(v.to_vec());
        })
        .map_err(kv_failed)?;
        match (found, out) {
            (true, Some(v)) => Ok((StatusCode::OK, v).into_response()),
            _ => Err(ApiError::not_found(format!(
                "no key {key:?} in this tenant's namespace"
            ))),
        }
    })
    .await
}

#[utoipa::path(put, path = "/v1/kv/{key}", tag = "tenant", params(("key" = String, Path, description = "The key (UTF-8)")),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The value"),
    security(("tenant_token" = [])),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "`truncated_body`", body = ErrorBody),
        (status = 403, description = "`capability_denied`: no `kv.write` grant", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over the tenant's `kv_value_bytes`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
        (status = 507, description = "`kv_quota`: the namespace is full", body = ErrorBody),
    ))]
pub(crate) async fn kv_put(
    State(s): App,
    Path(key): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let tenant = kv_tenant(&s, &headers, "kv.write")?;
    let cap = tenant.config.limits.kv_value_bytes;
    let value = read_body(request.into_body(), cap, "value").await?;
    let id = tenant.id.clone();
    blocking(move || {
        palisade::KvStore::set(s.kv(), &id, key.as_bytes(), &value).map_err(kv_failed)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

#[utoipa::path(delete, path = "/v1/kv/{key}", tag = "tenant", params(("key" = String, Path, description = "The key (UTF-8)")),
    security(("tenant_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`capability_denied`: no `kv.write` grant", body = ErrorBody),
        (status = 404, description = "`not_found`: no such key", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
pub(crate) async fn kv_delete(
    State(s): App,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = kv_tenant(&s, &headers, "kv.write")?.id.clone();
    blocking(move || {
        if palisade::KvStore::delete(s.kv(), &tenant, key.as_bytes()).map_err(kv_failed)? {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(ApiError::not_found(format!(
                "no key {key:?} in this tenant's namespace"
            )))
        }
    })
    .await
}

#[utoipa::path(get, path = "/v1/admin/plugins", tag = "admin",
    security(("admin_token" = [])),
    responses((status = 200, description = "Every plugin: versions, active, previous, canary", body = PluginList)))]
pub(crate) async fn list_plugins(State(s): App, _: Admin) -> ApiResult<Response> {
    blocking(move || s.list_plugins(None).map(|v| json(StatusCode::OK, v))).await
}

#[utoipa::path(get, path = "/v1/admin/plugins/{plugin}", tag = "admin", params(("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The plugin", body = PluginInfo),
        (status = 404, description = "`unknown_plugin`", body = ErrorBody),
    ))]
pub(crate) async fn get_plugin(
    State(s): App,
    Path(plugin): Path<String>,
    _: Admin,
) -> ApiResult<Response> {
    blocking(move || {
        let one: PluginInfo = s
            .list_plugins(Some(&plugin))?
            .plugins
            .pop()
            .unwrap_or_default();
        Ok(json(StatusCode::OK, one))
    })
    .await
}

#[utoipa::path(post, path = "/v1/admin/plugins/{plugin}/versions", tag = "admin",
    params(
        ("plugin" = String, Path, description = "The plugin (must match the bundle's name)", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        ("version" = Option<String>, Query, description = "The version of a bare module (`allow_unsigned` only)"),
    ),
    request_body(description = "A bundle (docs/BUNDLE.md), or a bare module with `?version=` if `allow_unsigned`",
        content((Binary = "application/octet-stream"), (Binary = "application/wasm"))),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Stored", body = crate::Uploaded),
        (status = 200, description = "An identical re-upload", body = crate::Uploaded),
        (status = 400, description = "`invalid_module`, `malformed_bundle`, `bad_signature`, `signature_required`, `digest_mismatch`, naming errors, `truncated_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`, `untrusted_key`", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 409, description = "`version_exists` with other bytes", body = ErrorBody),
        (status = 413, description = "`payload_too_large`, `module_too_large`", body = ErrorBody),
        (status = 422, description = "`manifest_mismatch`, `unsupported_abi`, `ungranted_import`, `unknown_import`, `contract_violation`", body = ErrorBody),
    ))]
pub(crate) async fn upload(
    State(s): App,
    Path(plugin): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    _: Admin,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let cap = s.config().max_upload_bytes;
    if content_length(&headers).is_some_and(|n| n > cap) {
        s.metrics().record_upload("payload_too_large");
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the upload is over this server's cap of {cap} bytes"),
        ));
    }
    let body = match read_body(request.into_body(), cap, "upload").await {
        Ok(b) => b,
        Err(e) => {
            s.metrics().record_upload(e.code);
            return Err(e);
        }
    };
    let version = query.get("version").cloned();
    admin_write(s, move |s| {
        let up = s.upload(&plugin, &body, version.as_deref())?;
        let status = if up.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, up))
    })
    .await
}

#[utoipa::path(post, path = "/v1/admin/plugins/{plugin}/promote", tag = "admin", params(("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    request_body(content = PromoteRequest, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The plugin's new rollout state", body = crate::store::PluginState),
        (status = 400, description = "`bad_json`, `bad_digest`, `truncated_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`, `untrusted_key`", body = ErrorBody),
        (status = 404, description = "`unknown_plugin`, `unknown_version`", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 409, description = "`version_digest_mismatch`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`smoke_failed`, `ungranted_import`: the promotion gate refused", body = ErrorBody),
    ))]
pub(crate) async fn promote(
    State(s): App,
    Path(plugin): Path<String>,
    _: Admin,
    request: Request,
) -> ApiResult<Response> {
    let t: PromoteRequest = json_body(&read_body(request.into_body(), 4096, "request").await?)?;
    admin_write(s, move |s| {
        let state = s.promote(&plugin, t.version.as_deref(), t.digest.as_deref())?;
        Ok((StatusCode::OK, state))
    })
    .await
}

#[utoipa::path(put, path = "/v1/admin/plugins/{plugin}/canary", tag = "admin", params(("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    request_body(content = CanaryRequest, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The plugin's new rollout state", body = crate::store::PluginState),
        (status = 400, description = "`bad_json`, `bad_fraction`, `bad_digest`, `truncated_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`, `untrusted_key`", body = ErrorBody),
        (status = 404, description = "`unknown_plugin`, `unknown_version`", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 409, description = "`version_digest_mismatch`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`smoke_failed`, `ungranted_import`: the promotion gate refused", body = ErrorBody),
    ))]
pub(crate) async fn set_canary(
    State(s): App,
    Path(plugin): Path<String>,
    _: Admin,
    request: Request,
) -> ApiResult<Response> {
    let t: CanaryRequest = json_body(&read_body(request.into_body(), 4096, "request").await?)?;
    let fraction = t
        .fraction
        .ok_or_else(|| ApiError::bad_request("bad_fraction", "`fraction` is required"))?;
    admin_write(s, move |s| {
        let state = s.set_canary(&plugin, t.version.as_deref(), t.digest.as_deref(), fraction)?;
        Ok((StatusCode::OK, state))
    })
    .await
}

#[utoipa::path(delete, path = "/v1/admin/plugins/{plugin}/canary", tag = "admin", params(("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The plugin's new rollout state", body = crate::store::PluginState),
        (status = 404, description = "`unknown_plugin`", body = ErrorBody),
    ))]
pub(crate) async fn clear_canary(
    State(s): App,
    Path(plugin): Path<String>,
    _: Admin,
) -> ApiResult<Response> {
    admin_write(s, move |s| Ok((StatusCode::OK, s.clear_canary(&plugin)?))).await
}

#[utoipa::path(post, path = "/v1/admin/plugins/{plugin}/rollback", tag = "admin", params(("plugin" = String, Path, description = "The plugin", example = "echo", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The plugin's new rollout state", body = crate::store::PluginState),
        (status = 404, description = "`unknown_plugin`", body = ErrorBody),
        (status = 409, description = "`no_previous_version`", body = ErrorBody),
    ))]
pub(crate) async fn rollback(
    State(s): App,
    Path(plugin): Path<String>,
    _: Admin,
) -> ApiResult<Response> {
    admin_write(s, move |s| Ok((StatusCode::OK, s.rollback(&plugin)?))).await
}

#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant id", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    request_body(content = TenantRequest, content_type = "application/json"),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created, or its token rotated: the token, shown once", body = TenantAnswer),
        (status = 200, description = "Updated (`token` is null)", body = TenantAnswer),
        (status = 400, description = "`bad_json`, `bad_limit`, `unknown_capability`, `truncated_body`", body = ErrorBody),
        (status = 408, description = "`body_timeout`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
    ))]
pub(crate) async fn put_tenant(
    State(s): App,
    Path(tenant): Path<String>,
    _: Admin,
    request: Request,
) -> ApiResult<Response> {
    let body: serde_json::Value =
        json_body(&read_body(request.into_body(), 64 << 10, "request").await?)?;
    admin_write(s, move |s| {
        let current = s
            .tenants()
            .into_iter()
            .find(|(id, _)| *id == tenant)
            .map(|(_, c)| c);
        let (config, rotate) = merge_tenant(current.as_ref(), body)?;
        config
            .limits
            .validate(s.config())
            .map_err(|(field, message)| {
                ApiError::bad_request("bad_limit", format!("`limits.{field}`: {message}"))
            })?;
        let token = s.put_tenant(&tenant, config, rotate)?;
        let status = if token.is_some() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, TenantAnswer { tenant, token }))
    })
    .await
}

/// The config a `PUT /v1/admin/tenants/{id}` body makes: fields it names replace the current
/// ones, fields it leaves out (top-level and inside `limits`) keep their current values, or
/// the defaults for a new tenant. Returns the config and `rotate_token`.
fn merge_tenant(
    current: Option<&TenantConfig>,
    body: serde_json::Value,
) -> ApiResult<(TenantConfig, bool)> {
    let serde_json::Value::Object(mut body) = body else {
        return Err(ApiError::bad_request(
            "bad_json",
            "the body is a JSON object: {\"grants\": [...], \"plugins\": [...], \"limits\": {...}}",
        ));
    };
    // `null` leaves a field as it is, like leaving it out (the schema's fields are nullable).
    body.retain(|_, v| !v.is_null());
    let rotate = match body.remove("rotate_token") {
        None => false,
        Some(serde_json::Value::Bool(b)) => b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_json",
                "`rotate_token` is true or false",
            ));
        }
    };
    let mut merged = serde_json::to_value(current.cloned().unwrap_or_default())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for (key, value) in body {
        match (merged.get_mut(&key), value) {
            (Some(serde_json::Value::Object(old)), serde_json::Value::Object(new))
                if key == "limits" =>
            {
                old.extend(new);
            }
            (_, value) => {
                if let serde_json::Value::Object(m) = &mut merged {
                    m.insert(key, value);
                }
            }
        }
    }
    let config = serde_json::from_value(merged)
        .map_err(|e| ApiError::bad_request("bad_json", format!("the JSON body is invalid: {e}")))?;
    Ok((config, rotate))
}

#[utoipa::path(post, path = "/v1/admin/token/rotate", tag = "admin",
    security(("admin_token" = [])),
    responses((status = 200, description = "The new admin token, shown once; the old one stops working", body = TokenAnswer)))]
pub(crate) async fn rotate_admin_token(State(s): App, _: Admin) -> ApiResult<Response> {
    admin_write(s, |s| {
        let token = s.rotate_admin_token()?;
        Ok((StatusCode::OK, TokenAnswer { token }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin",
    security(("admin_token" = [])),
    responses((status = 200, description = "Every tenant and its configuration", body = TenantList)))]
pub(crate) async fn list_tenants(State(s): App, _: Admin) -> ApiResult<Response> {
    let tenants = s
        .tenants()
        .into_iter()
        .map(|(id, config)| TenantInfo { id, config })
        .collect();
    Ok(json(StatusCode::OK, TenantList { tenants }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_prefers_br_then_gzip_and_honours_q0() {
        assert_eq!(choose_encoding("gzip, br"), Encoding::Brotli);
        assert_eq!(choose_encoding("gzip"), Encoding::Gzip);
        assert_eq!(choose_encoding("br;q=0, gzip;q=0.5"), Encoding::Gzip);
        assert_eq!(choose_encoding(""), Encoding::Identity);
        assert_eq!(choose_encoding("identity"), Encoding::Identity);
        assert_eq!(choose_encoding("*"), Encoding::Brotli);
    }

    #[test]
    fn if_none_match_compares_weakly_over_lists_and_star() {
        let etag = "\"abc\"";
        assert!(if_none_match("\"abc\"", etag));
        assert!(if_none_match("W/\"abc\"", etag));
        assert!(if_none_match("\"x\", W/\"abc\"", etag));
        assert!(if_none_match("*", etag));
        assert!(!if_none_match("\"abcd\"", etag));
        assert!(!if_none_match("W/\"x\"", etag));
        assert!(!if_none_match("", etag));
    }
}
