//! Uploads: verify a bundle once, register its module, store the version.

// One operation of `Server`, split from `mod.rs`: it uses the imports and helpers there.
use super::rollout::smoke_of;
use super::*;

/// The result of an upload.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// Plugin name.
    pub plugin: String,
    /// Version.
    pub version: String,
    /// Module digest (hex).
    pub digest: String,
    /// Module size in bytes.
    pub size: usize,
    /// Whether this upload created the version (false: identical re-upload).
    pub created: bool,
    /// Whether the module was already compiled (a compile-cache hit).
    pub cache_hit: bool,
}

impl Server {
    /// Whether `digest` is released: some plugin's active, previous or canary version.
    pub fn is_released(&self, digest: Digest) -> bool {
        self.registry
            .plugins()
            .iter()
            .filter_map(|p| self.registry.plugin(p))
            .any(|s| {
                s.active == digest
                    || s.previous.contains(&digest)
                    || s.canary.is_some_and(|c| c.digest == digest)
            })
    }

    /// Registers a stored version's module with the core registry if it is not there (it may
    /// have been evicted from the staging area, or this is a restart). Returns whether it
    /// compiled.
    pub(super) fn ensure_registered(&self, row: &VersionRow) -> ApiResult<bool> {
        if self.registry.module(row.digest).is_some() {
            return Ok(false);
        }
        let bytes = self
            .store
            .read_module(&row.digest)
            .map_err(ApiError::internal)?;
        let mut meta = ModuleMeta::named(&row.plugin, &row.version);
        meta.provenance.clone_from(&row.meta.provenance);
        meta.capabilities.clone_from(&row.meta.capabilities);
        meta.smoke = smoke_of(row);
        let registered = self
            .registry
            .register(&bytes, meta)
            .map_err(|e| ApiError::internal(format!("re-registering {}: {e}", row.digest)))?;
        self.metrics
            .record_compile(&row.plugin, row.digest, !registered.compiled);
        Ok(registered.compiled)
    }

    /// Uploads a bundle (or, if `allow_unsigned`, a bare module with `version`) as a new
    /// version of `plugin`. Nothing is stored unless every check passes.
    ///
    /// # Errors
    ///
    /// A 4xx with its own code for every way the upload can be refused.
    pub fn upload(&self, plugin: &str, body: &[u8], version: Option<&str>) -> ApiResult<Uploaded> {
        let result = self.upload_inner(plugin, body, version);
        self.metrics.record_upload(match &result {
            Ok(_) => "ok",
            Err(e) => e.code,
        });
        result
    }

    pub(super) fn upload_inner(
        &self,
        plugin: &str,
        body: &[u8],
        version: Option<&str>,
    ) -> ApiResult<Uploaded> {
        if !auth::valid_id(plugin) {
            return Err(ApiError::bad_request(
                "bad_name",
                format!("plugin name {plugin:?} must be 1-64 of [a-z0-9_-]"),
            ));
        }
        // A bundle is parsed and verified once; the registry takes the verified bundle.
        let verified = if body.starts_with(b"\0asm") {
            None
        } else {
            let bundle =
                Bundle::new_checked(body).map_err(|e| ApiError::from_bundle(&Error::from(e)))?;
            Some(bundle.verify(&self.trust).map_err(|e| {
                let mut err = ApiError::from_bundle(&Error::from(e));
                if err.code == "untrusted_key" && self.config.trusted_keys.is_empty() {
                    err.message.push_str(
                        "; this server trusts no key yet: put the hex of the signer's .pub file (from `palisade keygen`) in `trusted_keys` in the config file and restart",
                    );
                }
                err
            })?)
        };
        let (module, meta, signer) = if let Some(bundle) = &verified {
            let m = bundle.manifest();
            if m.name() != plugin {
                return Err(ApiError::bad_request(
                    "name_mismatch",
                    format!(
                        "the bundle is for plugin `{}`, uploaded to `{plugin}`",
                        m.name()
                    ),
                ));
            }
            if version.is_some_and(|v| v != m.version()) {
                return Err(ApiError::bad_request(
                    "version_mismatch",
                    format!("the bundle is version `{}`", m.version()),
                ));
            }
            let meta = StoredMeta {
                provenance: m.provenance().to_owned(),
                capabilities: m.capabilities().map(str::to_owned).collect(),
                smoke: m
                    .smoke()
                    .map(|s| (s.entry.to_owned(), hex(s.input), hex(s.expected))),
            };
            (
                bundle.module(),
                meta,
                bundle.signer().map(|k| k.to_string()),
            )
        } else {
            if !self.config.allow_unsigned {
                return Err(ApiError::bad_request(
                    "signature_required",
                    format!(
                        "this server accepts only signed bundles (docs/BUNDLE.md): make one with `palisade pack MODULE.wasm --key palisade.key --name {plugin} --plugin-version VERSION` (the key from `palisade keygen`, the hex of its .pub in `trusted_keys`), or set `allow_unsigned = true`"
                    ),
                ));
            }
            version.filter(|v| !v.is_empty()).ok_or_else(|| {
                ApiError::bad_request(
                    "missing_version",
                    "a bare module upload needs `?version=` (a bundle carries its own)",
                )
            })?;
            (body, StoredMeta::default(), None)
        };
        let version = match (&verified, version) {
            (Some(bundle), _) => bundle.manifest().version().to_owned(),
            (None, Some(v)) => v.to_owned(),
            (None, None) => String::new(),
        };
        if version.is_empty() || version.len() > 64 || version.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "bad_version",
                "a version is 1-64 printable characters",
            ));
        }
        let digest = Digest::of(module);
        // Same (plugin, version) again: identical bytes are an idempotent success.
        let snapshot_row = self.version_row(plugin, &version)?;
        if let Some(row) = snapshot_row.as_ref().filter(|r| r.digest != digest) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "version_exists",
                format!(
                    "{plugin}@{version} already exists with digest {}; versions are immutable, upload a new version",
                    row.digest
                ),
            ));
        }
        // Compile and contract-check (or reuse the compiled module), then check that the
        // imports stay within what this server lets plugins use.
        let mut core_meta = ModuleMeta::named(plugin, &version);
        core_meta.provenance.clone_from(&meta.provenance);
        core_meta.capabilities.clone_from(&meta.capabilities);
        let registered = match &verified {
            Some(bundle) => self.registry.register_verified(bundle),
            None => self.registry.register(module, core_meta),
        }
        .map_err(|e| ApiError::from_install(&e))?;
        let compiled = self.registry.compiled(digest);
        let grant_check = match &compiled {
            Some(m) => self
                .registry
                .with_runtime(|r| r.check_grants(m, &self.gate)),
            None => Err(Error::config("the module was evicted during upload")),
        };
        if let Err(e) = grant_check {
            if registered.compiled {
                self.registry.remove_if_unused(digest);
            }
            return Err(ApiError::from_install(&e));
        }
        self.metrics
            .record_compile(plugin, digest, !registered.compiled);
        if snapshot_row.is_some() {
            return Ok(Uploaded {
                plugin: plugin.to_owned(),
                version,
                digest: digest.to_string(),
                size: module.len(),
                created: false,
                cache_hit: !registered.compiled,
            });
        }
        // Durable: files (fsynced, renamed) first, then the row; 201 only after the commit.
        let stored = self
            .store
            .put_module(&digest, module, self.config.brotli_quality)
            .and_then(|()| {
                self.store.insert_version(
                    &VersionRow {
                        plugin: plugin.to_owned(),
                        version: version.clone(),
                        digest,
                        seq: 0,
                        signer,
                        meta,
                    },
                    module.len(),
                )
            });
        if let Err(e) = stored {
            if registered.compiled {
                self.registry.remove_if_unused(digest);
            }
            return Err(ApiError::internal(e));
        }
        tracing::info!(plugin, version = %version, digest = %digest, size = module.len(), cache_hit = !registered.compiled, "uploaded");
        self.retain(plugin);
        Ok(Uploaded {
            plugin: plugin.to_owned(),
            version,
            digest: digest.to_string(),
            size: module.len(),
            created: true,
            cache_hit: !registered.compiled,
        })
    }

    pub(super) fn version_row(&self, plugin: &str, version: &str) -> ApiResult<Option<VersionRow>> {
        Ok(self
            .store
            .load()
            .map_err(ApiError::internal)?
            .versions
            .into_iter()
            .find(|v| v.plugin == plugin && v.version == version))
    }

    /// Finds a stored version of `plugin` by version string or digest.
    pub(super) fn find_version(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
    ) -> ApiResult<VersionRow> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let row = match (version, digest) {
            (Some(v), Some(d)) => {
                let row = snap
                    .versions
                    .into_iter()
                    .find(|r| r.plugin == plugin && r.version == v);
                if let Some(r) = row
                    .as_ref()
                    .filter(|r| !r.digest.to_string().eq_ignore_ascii_case(d))
                {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "version_digest_mismatch",
                        format!(
                            "`{plugin}@{v}` has digest {}, not the digest {d} named with it; name one of them, or both of the same version",
                            r.digest
                        ),
                    ));
                }
                row
            }
            (Some(v), None) => snap
                .versions
                .into_iter()
                .find(|r| r.plugin == plugin && r.version == v),
            (None, Some(d)) => {
                let d = Digest::from_hex(d).ok_or_else(|| {
                    ApiError::bad_request("bad_digest", "a digest is 64 hex digits")
                })?;
                snap.versions
                    .into_iter()
                    .find(|r| r.plugin == plugin && r.digest == d)
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "bad_request",
                    "name a `version` or a `digest`",
                ));
            }
        };
        row.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_version",
                format!("plugin `{plugin}` has no such version; upload it first"),
            )
        })
    }
}
