//! The OpenAPI 3.1 description of the HTTP API, served at `GET /v1/openapi.json`. It is
//! generated (utoipa) from the handlers' annotations in [`crate::http`] and the body types in
//! [`crate::api`], so it changes with the code; `scripts/api-fuzz.sh` (schemathesis) checks the
//! running server against it.
//!
//! Integers are described with their Rust width (`non_strict_integers`: a `u32` is `u-int32`, not
//! `int32`), so the described ranges are the ranges the server accepts.
//!
//! Every operation documents its own answers; a modifier adds the ones any request can meet:
//! `400 bad_request` (a path or query the router cannot parse), `401`/`403` on authenticated
//! routes, `431 headers_too_large`, `500 internal` and `503 shutting_down`/`too_many_connections`.

use std::sync::OnceLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::api;

/// Security scheme of the admin token (`pa_…`).
pub const ADMIN: &str = "admin_token";
/// Security scheme of a tenant token (`pt_<tenant>.…`).
pub const TENANT: &str = "tenant_token";
/// Security scheme of the configured `metrics_token`.
pub const METRICS: &str = "metrics_token";

/// Bytes in or out: a request or answer body that is not JSON.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "palisade-server",
        description = "Multi-tenant HTTP service over the Palisade WebAssembly sandbox. \
            Admin routes take the admin token, tenant routes a tenant token, both as \
            `Authorization: Bearer <token>`. Every error is JSON: \
            `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}` with a stable `code` \
            (docs/SERVER.md lists them)."
    ),
    paths(
        crate::http::healthz,
        crate::http::metrics,
        crate::http::openapi_json,
        crate::http::download,
        crate::http::invoke,
        crate::http::kv_get,
        crate::http::kv_put,
        crate::http::kv_delete,
        crate::http::list_plugins,
        crate::http::get_plugin,
        crate::http::upload,
        crate::http::promote,
        crate::http::set_canary,
        crate::http::clear_canary,
        crate::http::rollback,
        crate::http::put_tenant,
        crate::http::list_tenants,
        crate::http::rotate_admin_token,
    ),
    components(schemas(
        api::ErrorBody,
        api::ErrorDetail,
        api::Health,
        api::HealthStatus,
        api::PluginList,
        api::PluginInfo,
        api::VersionRef,
        api::CanaryRef,
        api::VersionInfo,
        api::PromoteRequest,
        api::CanaryRequest,
        api::TenantRequest,
        api::TenantAnswer,
        api::TenantList,
        api::TenantInfo,
        api::TokenAnswer,
        crate::Uploaded,
        crate::store::PluginState,
        crate::tenant::TenantConfig,
        crate::tenant::TenantLimits,
        crate::log::GuestLogLevel,
        Binary,
    )),
    modifiers(&Common),
    tags(
        (name = "public", description = "No token (or the metrics token)"),
        (name = "tenant", description = "A tenant token"),
        (name = "admin", description = "The admin token"),
    )
)]
struct ApiDoc;

/// Adds the security schemes, and to every operation the error answers any request can meet.
struct Common;

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::<Schema>::Ref(
                        utoipa::openapi::Ref::from_schema_name("ErrorBody"),
                    )))
                    .build(),
            )
            .build(),
    )
}

impl Modify for Common {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                ADMIN,
                "the admin token (`pa_…`, written to DIR/admin-token)",
            ),
            (
                TENANT,
                "a tenant token (`pt_<tenant>.…`, shown once by the tenant PUT)",
            ),
            (METRICS, "the `metrics_token` of the configuration"),
        ] {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(what.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
        for (path, item) in &mut doc.paths.paths {
            // An empty input or KV value is valid: those bodies may be left out.
            if path.starts_with("/v1/plugins/") || path.starts_with("/v1/kv/") {
                for op in [&mut item.post, &mut item.put].into_iter().flatten() {
                    if let Some(body) = &mut op.request_body {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut common = vec![
                    (
                        "400",
                        "`bad_request`: the path or query could not be parsed",
                    ),
                    (
                        "431",
                        "`headers_too_large`: over 64 headers or 32 KiB of headers",
                    ),
                    ("500", "`internal`: a server fault (logged)"),
                    (
                        "503",
                        "`shutting_down` (draining) or `too_many_connections`; see `Retry-After`",
                    ),
                ];
                if authenticated {
                    common.push(("401", "`unauthorized` (no token) or `invalid_token`"));
                    common.push((
                        "403",
                        "`forbidden`: a token without the right to this route",
                    ));
                }
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
    }
}

/// The schema of [`crate::store::PluginState::canary`]: `null` or `[digest, basis_points]`.
pub fn canary_pair() -> impl Into<RefOr<Schema>> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .maximum(Some(10_000)),
                ),
        )
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some(
            "`[digest, basis_points]`: the canary and its share of request keys in 1/10,000",
        ))
        .build()
}

/// The OpenAPI document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serializing a document of strings and maps cannot fail; an empty object stands in
        // if it ever did, rather than a panic on a server path.
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}
