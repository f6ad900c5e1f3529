//! Tokens (admin, tenant, metrics) and tenant administration.

// One operation of `Server`, split from `mod.rs`: it uses the imports and helpers there.
use super::*;

impl Server {
    /// Checks the admin token.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing token, 403 `forbidden` for a wrong one.
    pub fn check_admin(&self, token: Option<&str>) -> ApiResult<()> {
        let token = token.ok_or_else(missing_token)?;
        let hash = *self
            .admin_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if auth::verify(token, &hash) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token is not the admin token",
            ))
        }
    }

    /// Replaces the admin token: stores the new one's hash, rewrites `DIR/admin-token`
    /// (mode `0600`) and returns the new token, shown only this once. The old token stops
    /// working at once.
    ///
    /// # Errors
    ///
    /// 500 if the token cannot be stored (the old token then stays valid).
    pub fn rotate_admin_token(&self) -> ApiResult<String> {
        let token = auth::new_admin_token().map_err(ApiError::internal)?;
        let hash = auth::hash_token(&token);
        let path = self.config.data_dir.join("admin-token");
        // Database first: if the file write then fails, the new token was still returned to
        // the caller, who is the one who asked for it.
        self.store
            .set_meta(ADMIN_HASH_KEY, &hash)
            .map_err(ApiError::internal)?;
        *self
            .admin_hash
            .write()
            .unwrap_or_else(PoisonError::into_inner) = hash;
        if let Err(e) = crate::store::write_atomic_mode(
            &path,
            format!("{token}\n").as_bytes(),
            crate::datadir::PRIVATE_FILE_MODE,
        ) {
            tracing::error!(path = %path.display(), error = %e, "could not rewrite the admin token file");
        }
        tracing::info!(path = %path.display(), "rotated the admin token");
        Ok(token)
    }

    /// Finds the tenant a token belongs to.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing, malformed or unknown token.
    pub fn authenticate(&self, token: Option<&str>) -> ApiResult<Arc<LiveTenant>> {
        let token = token.ok_or_else(missing_token)?;
        let bad = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is not valid; ask the operator for a tenant token",
            )
        };
        let id = auth::claimed_tenant(token).ok_or_else(bad)?;
        let tenant = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        // Compare against a dummy hash for unknown ids, so timing does not reveal which exist.
        let stored = tenant.as_ref().map_or([0u8; 32], |t| t.token_hash);
        let ok = auth::verify(token, &stored);
        match tenant {
            Some(t) if ok => Ok(t),
            _ => Err(bad()),
        }
    }

    /// Checks a token for `GET /metrics`: the admin token or the configured `metrics_token`.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing token, 403 `forbidden` for another one.
    pub fn check_metrics(&self, token: Option<&str>) -> ApiResult<()> {
        let token = token.ok_or_else(missing_token)?;
        let admin_hash = *self
            .admin_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let admin = auth::verify(token, &admin_hash);
        let metrics = self
            .metrics_hash
            .as_ref()
            .is_some_and(|h| auth::verify(token, h));
        if admin || metrics {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "metrics need the admin token or the configured `metrics_token`",
            ))
        }
    }

    /// Creates or updates a tenant. Returns a new token when the tenant is new or `rotate`.
    ///
    /// # Errors
    ///
    /// 400 for a bad id or unknown capability; 500 if it cannot be stored.
    pub fn put_tenant(
        &self,
        id: &str,
        config: TenantConfig,
        rotate: bool,
    ) -> ApiResult<Option<String>> {
        if !auth::valid_id(id) {
            return Err(ApiError::bad_request(
                "bad_name",
                format!(
                    "tenant id {id:?} must be 1-64 of [a-z0-9_-], starting with a letter or digit"
                ),
            ));
        }
        for p in &config.plugins {
            if !auth::valid_id(p) {
                return Err(ApiError::bad_request(
                    "bad_name",
                    format!("plugin name {p:?} is not valid"),
                ));
            }
        }
        let existing = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        let (token, hash) = match (&existing, rotate) {
            (Some(t), false) => (None, t.token_hash),
            _ => {
                let token = auth::new_tenant_token(id).map_err(ApiError::internal)?;
                let hash = auth::hash_token(&token);
                (Some(token), hash)
            }
        };
        let live = self
            .registry
            .with_runtime(|r| LiveTenant::new(r, id, hash, config.clone()))
            .map_err(|e| ApiError::bad_request("unknown_capability", e.to_string()))?;
        self.store
            .put_tenant(&TenantRow {
                id: id.to_owned(),
                token_hash: hash,
                config,
            })
            .map_err(ApiError::internal)?;
        self.kv.set_quota(id, live.config.limits.kv_quota_bytes);
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::new(live));
        Ok(token)
    }

    /// Every tenant's id and config.
    pub fn tenants(&self) -> Vec<(String, TenantConfig)> {
        let mut v: Vec<_> = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|t| (t.id.clone(), t.config.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Serialises admin writes.
    pub async fn admin_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.admin_lock.clone().lock_owned().await
    }
}
