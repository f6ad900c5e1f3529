//! The JSON bodies of the HTTP API that have no type elsewhere, typed so that the handlers and
//! the OpenAPI description ([`crate::openapi`]) cannot disagree. The rest are
//! [`crate::Uploaded`], [`crate::store::PluginState`] and [`crate::tenant::TenantConfig`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::tenant::{TenantConfig, TenantLimits};

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The `error` object of an [`ErrorBody`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code (the table in `docs/SERVER.md`), e.g. `unknown_plugin`.
    #[schema(example = "unknown_plugin")]
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `busy` (every worker runs a call; still `200`) or `draining` (`503`).
    pub status: HealthStatus,
    /// Guest worker threads.
    pub workers: usize,
    /// Workers running a call.
    pub busy_workers: usize,
}

/// The `status` of [`Health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Serving, with a free worker.
    Ok,
    /// Serving, every worker busy.
    Busy,
    /// Shutting down.
    Draining,
}

/// Every plugin: `GET /v1/admin/plugins`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PluginList {
    /// The plugins with at least one stored version, by name.
    pub plugins: Vec<PluginInfo>,
}

/// One plugin: `GET /v1/admin/plugins/{plugin}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// The version serving traffic, if any.
    pub active: Option<VersionRef>,
    /// Previously active versions, most recent first (`rollback` brings back the first).
    pub previous: Vec<VersionRef>,
    /// The canary, if one is set.
    pub canary: Option<CanaryRef>,
    /// Every stored version, oldest first.
    pub versions: Vec<VersionInfo>,
}

/// A version named by digest, with its version string when it is stored for this plugin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionRef {
    /// Module digest (64 hex digits).
    pub digest: String,
    /// The version string.
    pub version: Option<String>,
}

/// A plugin's canary.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CanaryRef {
    /// Module digest (64 hex digits).
    pub digest: String,
    /// The version string.
    pub version: Option<String>,
    /// Share of request keys routed to the canary, 0..=1.
    pub fraction: f64,
}

/// A stored version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    /// The version string.
    pub version: String,
    /// Module digest (64 hex digits).
    pub digest: String,
    /// Upload order, increasing.
    pub seq: i64,
    /// The signer's ed25519 public key (hex), if signed.
    pub signer: Option<String>,
    /// Capabilities the manifest declares.
    pub capabilities: Vec<String>,
}

/// `POST /v1/admin/plugins/{plugin}/promote`: name the version, its digest, or both (then they
/// must name the same version).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The version string.
    pub version: Option<String>,
    /// The module digest (64 hex digits).
    pub digest: Option<String>,
}

/// `PUT /v1/admin/plugins/{plugin}/canary`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// The version string.
    pub version: Option<String>,
    /// The module digest (64 hex digits).
    pub digest: Option<String>,
    /// Share of request keys routed to the canary, 0..=1 (required: else `400 bad_fraction`).
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub fraction: Option<f64>,
}

/// `PUT /v1/admin/tenants/{tenant}`: every field optional; named fields replace the stored
/// ones (inside `limits` too), others keep their values (defaults for a new tenant).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// Capabilities granted (`log`, `clock`, `random`, `kv.read`, `kv.write`).
    pub grants: Option<Vec<String>>,
    /// Plugins the tenant may invoke.
    pub plugins: Option<Vec<String>>,
    /// Limits to change (only the named fields).
    pub limits: Option<TenantLimits>,
    /// Issue a new token (the old one stops working).
    pub rotate_token: Option<bool>,
}

/// The answer to `PUT /v1/admin/tenants/{tenant}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantAnswer {
    /// The tenant id.
    pub tenant: String,
    /// The new token (`201`, when created or rotated), shown once; `null` otherwise.
    pub token: Option<String>,
}

/// `GET /v1/admin/tenants`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    /// Every tenant, by id.
    pub tenants: Vec<TenantInfo>,
}

/// One tenant of a [`TenantList`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantInfo {
    /// The tenant id.
    pub id: String,
    /// Its configuration.
    pub config: TenantConfig,
}

/// A new token, shown once: `POST /v1/admin/token/rotate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenAnswer {
    /// The new admin token (`pa_…`).
    pub token: String,
}
