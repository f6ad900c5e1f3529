//! Opening the server: the store, the admin token, restoring tenants and the live plugin set,
//! and the replica reconciler that applies other replicas' changes.

// One operation of `Server`, split from `mod.rs`: it uses the imports and helpers there.
use super::rollout::state_of;
use super::*;

impl Server {
    /// Opens the data directory, creating it and an admin token on first start, and restores
    /// tenants and the live plugin set (each module compiled once).
    ///
    /// # Errors
    ///
    /// A message for the operator: unreadable directory, corrupt database, bad config.
    pub fn open(config: Config) -> Result<Arc<Self>, String> {
        config.validate()?;
        let background_stop = Arc::new(AtomicBool::new(false));
        let (store, kv, checkpointer, dir_lock) =
            Self::open_store(&config, &background_stop).map_err(|e| e.to_string())?;
        let admin_hash = Self::admin_hash(&*store, &config.data_dir)?;
        let clock = Arc::new(YieldingClock::new(StdClock::new()));
        let gate_kv = Arc::new(GateKv::new(kv.clone()));
        let runtime = Runtime::builder(clock.clone())
            .log_sink(Arc::new(TracingLog))
            .kv_store(gate_kv.clone())
            .random(Arc::new(OsRandom))
            .max_module_bytes(config.max_upload_bytes)
            .build()
            .map_err(|e| e.to_string())?;
        let gate = runtime
            .tenant(GATE_TENANT)
            .grant_all(config.upload_capabilities.iter().map(String::as_str))
            .build()
            .map_err(|e| format!("`upload_capabilities`: {e}"))?;
        let mut trust = TrustStore::new(if config.allow_unsigned {
            SignaturePolicy::Optional
        } else {
            SignaturePolicy::Required
        });
        for k in &config.trusted_keys {
            trust
                .add_key(&parse_key(k)?)
                .map_err(|e| format!("`trusted_keys`: {e}"))?;
        }
        let registry = Registry::new(runtime);
        let pool = WorkerPool::with_foreground_slices(config.workers, config.foreground_slices)
            .map_err(|e| format!("worker threads: {e}"))?;
        let metrics_hash = config.metrics_token.as_deref().map(auth::hash_token);
        let server = Self {
            global: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            store,
            kv,
            gate_kv,
            registry,
            trust,
            gate,
            clock,
            tenants: RwLock::new(HashMap::new()),
            admin_hash: RwLock::new(admin_hash),
            metrics_hash,
            pool,
            metrics: ServerMetrics::default(),
            admin_lock: Arc::new(tokio::sync::Mutex::new(())),
            draining: AtomicBool::new(false),
            in_flight: Arc::new(AtomicUsize::new(0)),
            running: std::sync::Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
            in_use: Arc::new(std::sync::Mutex::new(HashMap::new())),
            background_stop,
            checkpointer: std::sync::Mutex::new(checkpointer),
            _dir_lock: dir_lock,
        };
        if server.config.trusted_keys.is_empty() && !server.config.allow_unsigned {
            tracing::warn!(
                "no `trusted_keys` and `allow_unsigned = false`: every upload is refused. Run `palisade keygen`, put the hex of palisade.key.pub in `trusted_keys` (config file), restart, and upload bundles made with `palisade pack MODULE --key palisade.key`"
            );
        }
        let snapshot = server.store.load().map_err(|e| e.to_string())?;
        server.restore(&snapshot)?;
        let server = Arc::new(server);
        server.start_reconciler()?;
        Ok(server)
    }

    /// The configured backend: SQLite in the data directory (with its WAL checkpointer), or
    /// PostgreSQL (the data directory then holds only the lock and the admin token file).
    #[expect(
        clippy::type_complexity,
        reason = "a private constructor's parts, named at the one call site"
    )]
    pub(super) fn open_store(
        config: &Config,
        stop: &Arc<AtomicBool>,
    ) -> Result<
        (
            Arc<dyn RegistryStore>,
            Arc<dyn TenantKv>,
            Option<std::thread::JoinHandle<()>>,
            Option<std::fs::File>,
        ),
        StoreError,
    > {
        match &config.database {
            Some(url) => {
                crate::datadir::create_private_dir(&config.data_dir)?;
                let lock = crate::datadir::lock(&config.data_dir)?;
                // Every worker may hold one connection for KV, plus a few for admin work.
                let pg = PostgresStore::connect(url, config.workers + 4)?;
                tracing::info!(database = %crate::store::redact(url), "using PostgreSQL");
                let kv: Arc<dyn TenantKv> = Arc::new(pg.kv());
                Ok((Arc::new(pg), kv, None, Some(lock)))
            }
            None => {
                let sqlite = SqliteStore::open(&config.data_dir)?;
                let db_path = sqlite.db_path();
                let kv: Arc<dyn TenantKv> = Arc::new(kv::open_sqlite(&db_path)?);
                let checkpointer = crate::store::spawn_checkpointer(&db_path, stop.clone())?;
                Ok((Arc::new(sqlite), kv, Some(checkpointer), None))
            }
        }
    }

    /// With a shared database, starts the thread that applies other replicas' changes:
    /// woken by the store's change notifications, and every `reconcile_ms` in any case.
    pub(super) fn start_reconciler(self: &Arc<Self>) -> Result<(), String> {
        if self.config.database.is_none() {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        self.store
            .subscribe(Box::new(move || {
                // Full means a reconcile is already due: it will see this change too.
                let _ = tx.try_send(());
            }))
            .map_err(|e| e.to_string())?;
        let weak = Arc::downgrade(self);
        let every = self.config.reconcile();
        let stop = self.background_stop.clone();
        std::thread::Builder::new()
            .name("palisade-reconcile".into())
            .spawn(move || {
                loop {
                    if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) =
                        rx.recv_timeout(every)
                    {
                        std::thread::sleep(every);
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(server) = weak.upgrade() else { break };
                    if let Err(e) = server.reconcile() {
                        tracing::warn!(error = %e.message, "could not apply the shared state; retrying at the next change or in reconcile_ms");
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the reconcile thread: {e}"))
    }

    /// Applies the stored state where this replica's differs: each plugin's rollout state
    /// (compiling a version only if this replica has not compiled its digest), tenants, and
    /// the admin token hash. Takes the admin lock, so it never interleaves with this
    /// replica's own admin writes.
    ///
    /// # Errors
    ///
    /// If the store cannot be read or a version cannot be loaded; what was applied stays.
    pub fn reconcile(&self) -> ApiResult<()> {
        let _guard = self.admin_lock.blocking_lock();
        let snap = self.store.load().map_err(ApiError::internal)?;
        for (plugin, stored) in &snap.plugins {
            let current = self
                .registry
                .plugin(plugin)
                .map(|s| state_of(&s))
                .unwrap_or_default();
            if *stored != current {
                self.apply_state(&snap, plugin, stored)?;
                tracing::info!(plugin = %plugin, active = ?stored.active, canary = ?stored.canary, "applied another replica's rollout change");
            }
        }
        for row in &snap.tenants {
            let same = self
                .tenants
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&row.id)
                .is_some_and(|t| t.token_hash == row.token_hash && t.config == row.config);
            if !same {
                let live = self
                    .registry
                    .with_runtime(|r| {
                        LiveTenant::new(r, &row.id, row.token_hash, row.config.clone())
                    })
                    .map_err(|e| ApiError::internal(format!("tenant {}: {e}", row.id)))?;
                self.kv.set_quota(&row.id, row.config.limits.kv_quota_bytes);
                self.tenants
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(row.id.clone(), Arc::new(live));
            }
        }
        if let Some(hash) = self
            .store
            .meta(ADMIN_HASH_KEY)
            .map_err(ApiError::internal)?
            .and_then(|h| TokenHash::try_from(h).ok())
        {
            *self
                .admin_hash
                .write()
                .unwrap_or_else(PoisonError::into_inner) = hash;
        }
        Ok(())
    }

    /// Makes the registry hold exactly `stored` for `plugin` (no gate: it passed where it
    /// was made). A stored state with no active version changes nothing.
    pub(super) fn apply_state(
        &self,
        snap: &Snapshot,
        plugin: &str,
        stored: &PluginState,
    ) -> ApiResult<()> {
        let Some(active_hex) = &stored.active else {
            return Ok(());
        };
        let row_of = |hex: &str| {
            snap.versions
                .iter()
                .find(|v| v.plugin == plugin && v.digest.to_string() == hex)
                .or_else(|| snap.versions.iter().find(|v| v.digest.to_string() == hex))
                .ok_or_else(|| {
                    ApiError::internal(format!("plugin {plugin}: version {hex} has no stored row"))
                })
        };
        let digest_of = |hex: &str| -> ApiResult<Digest> {
            let row = row_of(hex)?;
            self.ensure_registered(row)?;
            Ok(row.digest)
        };
        let active = digest_of(active_hex)?;
        let previous = stored
            .previous
            .iter()
            .map(|h| digest_of(h))
            .collect::<ApiResult<Vec<_>>>()?;
        let canary = match &stored.canary {
            Some((hex, bp)) => Some(palisade::Canary {
                digest: digest_of(hex)?,
                basis_points: *bp,
            }),
            None => None,
        };
        self.registry
            .restore_plugin(plugin, active, &previous, canary)
            .map_err(|e| ApiError::internal(format!("plugin {plugin}: {e}")))
    }

    /// Brings `plugin`'s registry state up to the stored one (another replica may have
    /// changed it) and returns the stored state: the `expected` of the next write.
    pub(super) fn sync_plugin(&self, plugin: &str) -> ApiResult<PluginState> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let stored = snap.plugins.get(plugin).cloned().unwrap_or_default();
        let current = self
            .registry
            .plugin(plugin)
            .map(|s| state_of(&s))
            .unwrap_or_default();
        if stored != current {
            self.apply_state(&snap, plugin, &stored)?;
        }
        Ok(stored)
    }

    /// Retention for `plugin` ([`RegistryStore::prune`] with `keep_versions` and the
    /// versions running calls here). A failure is logged: the change that triggered it
    /// has succeeded, and the next one retries.
    pub(super) fn retain(&self, plugin: &str) {
        let protect: Vec<Digest> = self
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        match self
            .store
            .prune(plugin, self.config.keep_versions, &protect)
        {
            Ok(deleted) if deleted.is_empty() => {}
            Ok(deleted) => {
                tracing::info!(plugin, deleted = ?deleted, keep_versions = self.config.keep_versions, "retention deleted old versions");
            }
            Err(e) => tracing::error!(plugin, error = %e, "retention failed"),
        }
    }

    pub(super) fn admin_hash(store: &dyn RegistryStore, dir: &Path) -> Result<TokenHash, String> {
        if let Some(h) = store.meta(ADMIN_HASH_KEY).map_err(|e| e.to_string())? {
            return h
                .try_into()
                .map_err(|_| "stored admin token hash is not 32 bytes".to_owned());
        }
        let token = auth::new_admin_token()?;
        let path = dir.join("admin-token");
        crate::store::write_atomic_mode(
            &path,
            format!("{token}\n").as_bytes(),
            crate::datadir::PRIVATE_FILE_MODE,
        )
        .map_err(|e| e.to_string())?;
        let hash = auth::hash_token(&token);
        store
            .set_meta(ADMIN_HASH_KEY, &hash)
            .map_err(|e| e.to_string())?;
        tracing::info!(path = %path.display(), "created the admin token");
        Ok(hash)
    }

    pub(super) fn restore(&self, snap: &Snapshot) -> Result<(), String> {
        {
            let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
            for row in &snap.tenants {
                let live = self
                    .registry
                    .with_runtime(|r| {
                        LiveTenant::new(r, &row.id, row.token_hash, row.config.clone())
                    })
                    .map_err(|e| format!("tenant {}: {e}", row.id))?;
                self.kv.set_quota(&row.id, row.config.limits.kv_quota_bytes);
                tenants.insert(row.id.clone(), Arc::new(live));
            }
        }
        let started = StdInstant::now();
        let mut compiled = 0usize;
        for (plugin, state) in &snap.plugins {
            // One plugin that cannot be restored (a smoke call that now fails, a missing
            // file) must not keep the others down: log it loudly and go on. Its stored state
            // is untouched until an admin changes it.
            match self.restore_plugin(snap, plugin, state) {
                Ok(n) => compiled += n,
                Err(e) => tracing::error!(plugin = %plugin, error = %e, "could not restore plugin"),
            }
        }
        tracing::info!(
            plugins = snap.plugins.len(),
            versions = snap.versions.len(),
            tenants = snap.tenants.len(),
            compiled,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "restored state"
        );
        Ok(())
    }

    /// Restores one plugin's acknowledged rollout state WITHOUT re-running the gate (it
    /// passed when the operator promoted; a smoke test that depends on time or state must not
    /// take a version down at a restart). Versions whose signer is no longer trusted are
    /// dropped: an active one falls back to the most recent still-trusted previous version.
    /// A state that changed is written back, so the admin API shows what serves.
    pub(super) fn restore_plugin(
        &self,
        snap: &Snapshot,
        plugin: &str,
        state: &PluginState,
    ) -> Result<usize, String> {
        let find = |hex: &str| {
            snap.versions
                .iter()
                .find(|v| v.plugin == plugin && v.digest.to_string() == hex)
                .or_else(|| snap.versions.iter().find(|v| v.digest.to_string() == hex))
                .ok_or_else(|| format!("version {hex} has no stored row"))
        };
        let revoked = |hex: &str| -> Result<bool, String> {
            let row = find(hex)?;
            match self.untrusted(row) {
                Some(why) => {
                    tracing::error!(plugin, version = %row.version, digest = %row.digest, reason = %why, "version no longer trusted: it will not serve");
                    Ok(true)
                }
                None => Ok(false),
            }
        };
        let mut live = state.clone();
        let mut previous = Vec::new();
        for hex in &state.previous {
            if !revoked(hex)? {
                previous.push(hex.clone());
            }
        }
        live.previous = previous;
        if let Some(hex) = &state.active
            && revoked(hex)?
        {
            live.active = (!live.previous.is_empty()).then(|| live.previous.remove(0));
            match &live.active {
                Some(to) => {
                    tracing::error!(plugin, from = %hex, to = %to, "active version revoked: falling back to the most recent trusted previous version");
                }
                None => {
                    tracing::error!(plugin, from = %hex, "active version revoked and no trusted previous version: the plugin no longer serves");
                }
            }
        }
        // A canary equal to the active version (left by a rollback before that was fixed) is
        // dropped: it would route nothing anywhere new.
        if let Some((hex, _)) = &state.canary
            && (revoked(hex)? || live.active.as_deref() == Some(hex.as_str()))
        {
            live.canary = None;
        }
        let mut compiled = 0;
        // Oldest first, so that the registry rebuilds the same rollback history.
        let mut order: Vec<&str> = live.previous.iter().rev().map(String::as_str).collect();
        order.extend(live.active.as_deref());
        for hex in order {
            let row = find(hex)?;
            compiled += usize::from(self.ensure_registered(row).map_err(|e| e.message)?);
            self.registry
                .restore_active(plugin, row.digest)
                .map_err(|e| e.to_string())?;
        }
        if let Some((hex, bp)) = &live.canary {
            let row = find(hex)?;
            compiled += usize::from(self.ensure_registered(row).map_err(|e| e.message)?);
            self.registry
                .restore_canary(plugin, row.digest, *bp)
                .map_err(|e| e.to_string())?;
        }
        if live != *state {
            self.persist_state(plugin, state).map_err(|e| e.message)?;
        }
        Ok(compiled)
    }

    /// Why `row` may no longer serve or be promoted, if it may not: its signer was removed
    /// from `trusted_keys`, or it is unsigned and `allow_unsigned` is off.
    pub(super) fn untrusted(&self, row: &VersionRow) -> Option<String> {
        match &row.signer {
            Some(signer) => {
                let trusted = self
                    .config
                    .trusted_keys
                    .iter()
                    .filter_map(|k| parse_key(k).ok())
                    .any(|k| k.to_string().eq_ignore_ascii_case(signer));
                (!trusted).then(|| {
                    format!(
                        "{}@{} is signed by key {signer}, which is not in `trusted_keys`; upload a version signed by a trusted key",
                        row.plugin, row.version
                    )
                })
            }
            None => (!self.config.allow_unsigned).then(|| {
                format!(
                    "{}@{} is unsigned and `allow_unsigned` is off; upload a signed bundle",
                    row.plugin, row.version
                )
            }),
        }
    }

    pub(super) fn check_trusted(&self, row: &VersionRow) -> ApiResult<()> {
        match self.untrusted(row) {
            Some(why) => Err(ApiError::new(StatusCode::FORBIDDEN, "untrusted_key", why)),
            None => Ok(()),
        }
    }

    /// Runs `f` (a gated promotion) as a fresh smoke tenant holding every upload capability,
    /// whose KV namespace is empty and discarded afterwards.
    pub(super) fn gated(
        &self,
        f: impl FnOnce(&palisade::Tenant) -> Result<(), Error>,
    ) -> ApiResult<()> {
        let space = self.gate_kv.scratch_space();
        let tenant = self
            .registry
            .with_runtime(|r| {
                r.tenant(space.tenant_id())
                    .grant_all(self.config.upload_capabilities.iter().map(String::as_str))
                    .build()
            })
            .map_err(|e| ApiError::internal(format!("smoke tenant: {e}")))?;
        f(&tenant).map_err(|e| ApiError::from_rollout(&e))
    }
}
