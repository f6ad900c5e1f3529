//! The one HTTP error type: a status, a stable machine-readable `code`, and a message that says
//! what to do. Rendered as `{"error": {"code": "...", "message": "..."}}`. The mapping of the
//! core's errors to statuses and codes lives here, in one place (`from_bundle`, `from_install`,
//! `from_registration`, `from_rollout`).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palisade::{BundleError, ContractViolation, ErrorKind, RegistryError};

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, snake_case code clients can match on (listed in `docs/SERVER.md`).
    pub code: &'static str,
    /// What happened and what to do.
    pub message: String,
    /// For 429/503: when to retry.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After`.
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`: the server failed; the message is for the operator's logs too.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        let message = message.to_string();
        tracing::error!(%message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Maps a core error met while registering a module to a 4xx with its own code.
    pub fn from_registration(e: &palisade::Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::InvalidModule { .. } => (StatusCode::BAD_REQUEST, "invalid_module"),
            ErrorKind::ContractViolation(ContractViolation::ModuleTooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "module_too_large")
            }
            ErrorKind::ContractViolation(
                ContractViolation::UnsupportedAbiVersion { .. }
                | ContractViolation::MissingAbiVersion
                | ContractViolation::MalformedAbiVersion,
            ) => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_abi"),
            ErrorKind::ContractViolation(
                ContractViolation::UnknownImport { .. } | ContractViolation::ForeignImport { .. },
            ) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_import"),
            ErrorKind::ContractViolation(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "contract_violation")
            }
            ErrorKind::CapabilityDenied { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "ungranted_import")
            }
            ErrorKind::Config { .. } | ErrorKind::Host { .. } => {
                return Self::internal(e.to_string());
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "smoke_call_failed"),
        };
        Self::new(status, code, e.to_string())
    }

    /// Maps a bundle error (parsing, verification, manifest check) to its 4xx.
    pub fn from_bundle(e: &palisade::Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::Bundle(BundleError::BadSignature) => {
                (StatusCode::BAD_REQUEST, "bad_signature")
            }
            ErrorKind::Bundle(BundleError::UntrustedKey(_)) => {
                (StatusCode::FORBIDDEN, "untrusted_key")
            }
            ErrorKind::Bundle(BundleError::MissingSignature) => {
                (StatusCode::BAD_REQUEST, "signature_required")
            }
            ErrorKind::Bundle(BundleError::DigestMismatch { .. }) => {
                (StatusCode::BAD_REQUEST, "digest_mismatch")
            }
            ErrorKind::Bundle(BundleError::Manifest(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "manifest_mismatch")
            }
            _ => (StatusCode::BAD_REQUEST, "malformed_bundle"),
        };
        Self::new(status, code, e.to_string())
    }

    /// Maps an error of the install pipeline (bundle checks, then registration) to its 4xx.
    pub fn from_install(e: &palisade::Error) -> Self {
        match e.kind() {
            ErrorKind::Bundle(_) => Self::from_bundle(e),
            _ => Self::from_registration(e),
        }
    }

    /// Maps a promote/canary/rollback error.
    pub fn from_rollout(e: &palisade::Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::Registry(RegistryError::UnknownPlugin { .. }) => {
                (StatusCode::NOT_FOUND, "unknown_plugin")
            }
            ErrorKind::Registry(RegistryError::UnknownModule { .. }) => {
                (StatusCode::NOT_FOUND, "unknown_version")
            }
            ErrorKind::Registry(RegistryError::NoPreviousVersion { .. }) => {
                (StatusCode::CONFLICT, "no_previous_version")
            }
            ErrorKind::Registry(RegistryError::SmokeFailed { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "smoke_failed")
            }
            ErrorKind::CapabilityDenied { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "ungranted_import")
            }
            ErrorKind::Config { .. } => (StatusCode::CONFLICT, "conflict"),
            _ => return Self::internal(e.to_string()),
        };
        Self::new(status, code, e.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;
