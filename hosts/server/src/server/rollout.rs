//! Rollout: promote, canary, rollback (each gated, then persisted), and the plugin listing.

// One operation of `Server`, split from `mod.rs`: it uses the imports and helpers there.
use super::*;

impl Server {
    /// Stores `plugin`'s registry state if the stored one is still `expected`. If another
    /// replica changed it meanwhile (`409 conflict`) or the write fails, the registry is put
    /// back to what is stored, so this replica never serves an unacknowledged change.
    pub(super) fn persist_state(
        &self,
        plugin: &str,
        expected: &PluginState,
    ) -> ApiResult<PluginState> {
        let state = self
            .registry
            .plugin(plugin)
            .map(|s| state_of(&s))
            .unwrap_or_default();
        if let Err(e) = self.store.set_plugin_state(plugin, expected, &state) {
            if let Err(again) = self.sync_plugin(plugin) {
                tracing::error!(plugin, error = %again.message, "could not restore the stored rollout state after a failed write");
            }
            return Err(match e {
                StoreError::Conflict { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
                }
                other => ApiError::internal(other),
            });
        }
        Ok(state)
    }

    /// Promotes a stored version to active after the gate (grants, smoke call).
    ///
    /// # Errors
    ///
    /// 404 for an unknown version; 422 `smoke_failed`/`ungranted_import` if the gate refuses.
    pub fn promote(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
    ) -> ApiResult<PluginState> {
        let row = self.find_version(plugin, version, digest)?;
        self.check_trusted(&row)?;
        let expected = self.sync_plugin(plugin)?;
        self.ensure_registered(&row)?;
        // The smoke test of THIS (plugin, version), not of whichever upload of the same bytes
        // registered the module first.
        let smoke = smoke_of(&row);
        self.gated(|t| {
            self.registry
                .promote_with_smoke(plugin, row.digest, t, smoke.as_ref())
        })?;
        tracing::info!(plugin, version = %row.version, digest = %row.digest, "promoted");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Routes `fraction` (0..=1) of `plugin`'s request keys to a stored version.
    ///
    /// # Errors
    ///
    /// 400 for a bad fraction; 404/409/422 as for promote.
    pub fn set_canary(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
        fraction: f64,
    ) -> ApiResult<PluginState> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(ApiError::bad_request(
                "bad_fraction",
                "`fraction` is between 0 and 1",
            ));
        }
        let row = self.find_version(plugin, version, digest)?;
        self.check_trusted(&row)?;
        let expected = self.sync_plugin(plugin)?;
        self.ensure_registered(&row)?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "fraction is checked to be in 0..=1, so the product is in 0..=10000"
        )]
        let bp = (fraction * f64::from(palisade::BASIS_POINTS)).round() as u16;
        let smoke = smoke_of(&row);
        self.gated(|t| {
            self.registry
                .set_canary_with_smoke(plugin, row.digest, bp, t, smoke.as_ref())
        })?;
        tracing::info!(plugin, version = %row.version, digest = %row.digest, basis_points = bp, "canary set");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Removes `plugin`'s canary.
    ///
    /// # Errors
    ///
    /// 404 for an unknown plugin.
    pub fn clear_canary(&self, plugin: &str) -> ApiResult<PluginState> {
        let expected = self.sync_plugin(plugin)?;
        self.registry
            .clear_canary(plugin)
            .map_err(|e| ApiError::from_rollout(&e))?;
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Brings back the previous active version.
    ///
    /// # Errors
    ///
    /// 404 for an unknown plugin, 409 `no_previous_version`.
    pub fn rollback(&self, plugin: &str) -> ApiResult<PluginState> {
        let expected = self.sync_plugin(plugin)?;
        let digest = self
            .registry
            .rollback(plugin)
            .map_err(|e| ApiError::from_rollout(&e))?;
        tracing::info!(plugin, digest = %digest, "rolled back");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Every plugin (or only `only`) with its stored versions and rollout state.
    ///
    /// # Errors
    ///
    /// 404 `unknown_plugin` if `only` names no stored plugin; 500 if the database fails.
    pub fn list_plugins(&self, only: Option<&str>) -> ApiResult<PluginList> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let mut names: Vec<&str> = snap.versions.iter().map(|v| v.plugin.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let versions: Vec<_> = snap
                .versions
                .iter()
                .filter(|v| v.plugin == name)
                .map(|v| VersionInfo {
                    version: v.version.clone(),
                    digest: v.digest.to_string(),
                    seq: v.seq,
                    signer: v.signer.clone(),
                    capabilities: v.meta.capabilities.clone(),
                })
                .collect();
            let state = snap.plugins.get(name).cloned().unwrap_or_default();
            let version_of = |hex: &str| {
                snap.versions
                    .iter()
                    .find(|v| v.plugin == name && v.digest.to_string() == hex)
                    .map(|v| v.version.clone())
            };
            let version_ref = |d: &String| VersionRef {
                digest: d.clone(),
                version: version_of(d),
            };
            out.push(PluginInfo {
                name: name.to_owned(),
                active: state.active.as_ref().map(version_ref),
                previous: state.previous.iter().map(version_ref).collect(),
                canary: state.canary.as_ref().map(|(d, bp)| CanaryRef {
                    digest: d.clone(),
                    version: version_of(d),
                    fraction: f64::from(*bp) / f64::from(palisade::BASIS_POINTS),
                }),
                versions,
            });
        }
        if let Some(plugin) = only.filter(|_| out.is_empty()) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_plugin",
                format!("no plugin `{plugin}` on this server: upload a version first"),
            ));
        }
        Ok(PluginList { plugins: out })
    }
}

/// The smoke test stored with a version.
pub(super) fn smoke_of(row: &VersionRow) -> Option<Smoke> {
    row.meta
        .smoke
        .as_ref()
        .and_then(|(entry, input, expected)| {
            Some(Smoke {
                entry: entry.clone(),
                input: unhex(input)?,
                expected: unhex(expected)?,
            })
        })
}

pub(super) fn state_of(s: &PluginStatus) -> PluginState {
    PluginState {
        active: Some(s.active.to_string()),
        previous: s.previous.iter().map(ToString::to_string).collect(),
        canary: s.canary.map(|c| (c.digest.to_string(), c.basis_points)),
    }
}
