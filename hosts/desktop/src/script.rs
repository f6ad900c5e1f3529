//! [`ScriptHost`]: a folder of user scripts with a manifest, hot reload, rollback and typed calls.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use palisade::{
    Call, CallReport, Clock, CompiledModule, Digest, KvStore, Limits, LogSink, MemoryKv,
    ModuleMeta, RandomSource, Registry, Runtime, RuntimeBuilder, Tenant,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manifest::{MANIFEST_FILE, Manifest, ScriptSpec};
use crate::{OsRandom, StdClock, TracingLog};

/// Why a [`ScriptHost`] operation failed. Every message says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScriptError {
    /// A file of the script folder could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// `palisade.toml` is not valid.
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with line and column.
        reason: String,
    },
    /// A script could not be loaded: not Wasm, a contract violation, a capability not
    /// granted, an entry point that does not exist.
    Load {
        /// The script's name.
        script: String,
        /// Why.
        error: palisade::Error,
    },
    /// No script with this name is loaded.
    UnknownScript {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<String>,
    },
    /// The registry refused an operation (for example a rollback with no earlier version).
    Registry {
        /// The script's name.
        script: String,
        /// What the registry reported.
        error: palisade::Error,
    },
    /// The arguments could not be encoded.
    Encode {
        /// The script's name.
        script: String,
        /// The encoder's message.
        reason: String,
    },
    /// The script's output is not the type the caller expected.
    Decode {
        /// The script's name.
        script: String,
        /// The decoder's message.
        reason: String,
    },
    /// The call failed: a guest error, trap, fuel, deadline, memory cap, ...
    Call {
        /// The script's name.
        script: String,
        /// What the sandbox reported.
        error: palisade::Error,
        /// What the call did and cost.
        report: CallReport,
    },
}

impl ScriptError {
    /// The sandbox error behind this one, if any.
    pub fn palisade_error(&self) -> Option<&palisade::Error> {
        match self {
            Self::Load { error, .. } | Self::Call { error, .. } | Self::Registry { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, error } => write!(
                f,
                "cannot read {}: {error}; check that the file exists and is readable",
                path.display()
            ),
            Self::Manifest { path, reason } => write!(
                f,
                "{} is not a valid script manifest: {reason}; fix it (see ScriptHost's docs for the format)",
                path.display()
            ),
            Self::Load { script, error } => write!(f, "script `{script}` was not loaded: {error}"),
            Self::UnknownScript { name, known } => write!(
                f,
                "no script named `{name}`; add it to {MANIFEST_FILE} or call one of: {}",
                known.join(", ")
            ),
            Self::Registry { script, error } => write!(f, "script `{script}`: {error}"),
            Self::Encode { script, reason } => write!(
                f,
                "cannot encode the arguments for `{script}`: {reason}; pass a serde-serializable value"
            ),
            Self::Decode { script, reason } => write!(
                f,
                "the output of `{script}` is not the expected type: {reason}; check that the caller and the script agree on the types"
            ),
            Self::Call { script, error, .. } => write!(f, "script `{script}` failed: {error}"),
        }
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            Self::Load { error, .. } | Self::Call { error, .. } | Self::Registry { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }
}

/// How many versions of a script are kept for rollback (the active one included).
pub const MAX_VERSIONS: usize = 8;

/// A change to a file is trusted from its modification time and size alone once it is this old;
/// younger files are re-read every reload, since a quick rewrite can keep both.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

fn settled(s: Option<Stamp>) -> bool {
    // A missing file, or one without a modification time, has nothing more to tell.
    let Some(modified) = s.and_then(|s| s.modified) else {
        return true;
    };
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age >= SETTLE)
}

#[derive(Debug)]
struct Script {
    spec: ScriptSpec,
    entry: String,
    tenant: Tenant,
    stamp: Option<Stamp>,
    /// The digest of the file's raw content when it was last looked at, loaded or not (so a
    /// broken edit is reported once, and a rollback is not undone by an unchanged file).
    seen: Digest,
}

#[derive(Debug)]
struct State {
    manifest: Manifest,
    manifest_stamp: Option<Stamp>,
    scripts: BTreeMap<String, Script>,
}

/// What a [`ScriptHost::reload`] changed.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Scripts that now run a new version: `(name, new digest)`.
    pub updated: Vec<(String, Digest)>,
    /// Scripts added by a manifest change.
    pub added: Vec<String>,
    /// Scripts removed by a manifest change.
    pub removed: Vec<String>,
    /// Changes that could not be loaded; the previous version keeps running.
    pub failed: Vec<ScriptError>,
}

impl ReloadReport {
    /// Whether nothing changed and nothing failed.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.failed.is_empty()
    }
}

/// Builds a [`ScriptHost`].
#[must_use]
pub struct ScriptHostBuilder {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    log: Arc<dyn LogSink>,
    kv: Arc<dyn KvStore>,
    random: Arc<dyn RandomSource>,
    configure: Vec<Box<dyn FnOnce(RuntimeBuilder) -> RuntimeBuilder>>,
}

impl ScriptHostBuilder {
    /// The clock for deadlines (default [`StdClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where guest logs go (default [`TracingLog`]).
    pub fn log_sink(mut self, log: Arc<dyn LogSink>) -> Self {
        self.log = log;
        self
    }

    /// The KV store behind `kv.*` (default: in memory; use [`crate::FileKv`] to persist).
    pub fn kv_store(mut self, kv: Arc<dyn KvStore>) -> Self {
        self.kv = kv;
        self
    }

    /// The random source behind `random` (default [`OsRandom`]).
    pub fn random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Adds application capabilities: `f` gets the runtime builder, typically to call
    /// [`RuntimeBuilder::host_func`].
    pub fn configure(mut self, f: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Loads the manifest and every script.
    ///
    /// # Errors
    ///
    /// The first problem found: an unreadable or invalid manifest, a script that does not
    /// load. At start-up nothing is skipped silently; later [`ScriptHost::reload`]s keep the
    /// last good version instead.
    pub fn build(self) -> Result<ScriptHost, ScriptError> {
        let mut builder = Runtime::builder(self.clock)
            .log_sink(self.log)
            .kv_store(self.kv)
            .random(self.random);
        for f in self.configure {
            builder = f(builder);
        }
        let runtime = builder.build().map_err(|error| ScriptError::Load {
            script: String::from("<runtime>"),
            error,
        })?;
        let registry = Registry::builder()
            .keep_previous(MAX_VERSIONS - 1)
            .build(runtime);
        let manifest_path = self.dir.join(MANIFEST_FILE);
        let (manifest, manifest_stamp) = read_manifest(&manifest_path)?;
        let host = ScriptHost {
            registry,
            dir: self.dir,
            state: RwLock::new(State {
                manifest: manifest.clone(),
                manifest_stamp,
                scripts: BTreeMap::new(),
            }),
            reloading: Mutex::new(()),
        };
        for (name, spec) in &manifest.scripts {
            let script = host.load_script(&manifest, name, spec)?;
            host.write().scripts.insert(name.clone(), script);
        }
        Ok(host)
    }
}

fn read_manifest(path: &Path) -> Result<(Manifest, Option<Stamp>), ScriptError> {
    let stamp = stamp(path);
    let text = fs::read_to_string(path).map_err(|error| ScriptError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let manifest = Manifest::parse(&text).map_err(|reason| ScriptError::Manifest {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok((manifest, stamp))
}

fn read_raw(path: &Path) -> Result<(Vec<u8>, Option<Stamp>), ScriptError> {
    let file_stamp = stamp(path);
    let bytes = fs::read(path).map_err(|error| ScriptError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Ok((bytes, file_stamp))
}

/// Module bytes from a file's raw content (`.wat` text is assembled).
fn module_bytes(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, ScriptError> {
    if path.extension().is_some_and(|e| e == "wat") {
        return wat::parse_bytes(&raw)
            .map(|b| b.into_owned())
            .map_err(|e| ScriptError::Io {
                path: path.to_path_buf(),
                error: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            });
    }
    Ok(raw)
}

fn pick_entry(spec: &ScriptSpec, name: &str, module: &CompiledModule) -> String {
    if let Some(e) = &spec.entry {
        return e.clone();
    }
    if module.info().has_entry(name) {
        return name.to_owned();
    }
    match module.info().entries.as_slice() {
        [only] => only.to_string(),
        // Not unique: the caller reports the name tried as missing.
        _ => name.to_owned(),
    }
}

/// A folder of user scripts, each a Palisade guest with its own grants and limits, with hot
/// reload and rollback.
///
/// The folder holds a `palisade.toml` [`Manifest`] and the modules it names (`.wasm`, or `.wat`
/// text). Every script is a plugin of a [`Registry`] (compiled once per digest) and runs as its
/// own tenant (its name, unless the manifest says otherwise), so its KV data is its own.
///
/// - **Calls** ([`ScriptHost::call`], [`ScriptHost::call_bytes`]) run the active version in a
///   fresh sandbox, bounded by fuel, memory cap and a wall-clock **deadline** (100 ms unless
///   the manifest says otherwise). A script stuck in a loop is cut off at its deadline (late by
///   at most one fuel slice), so a call made on an application's UI thread returns in bounded
///   time. Calls share only immutable compiled code and run in parallel from any thread.
/// - **Hot reload** ([`ScriptHost::reload`], or [`ScriptHost::watch`] to poll in the
///   background): a changed file is compiled and checked without blocking calls; if it loads,
///   its digest becomes the active version and the previous one is kept for
///   [`ScriptHost::rollback`]; if it does not, the previous version keeps running and the error
///   is reported. The swap itself waits for calls in flight (each bounded by its deadline).
pub struct ScriptHost {
    registry: Registry,
    dir: PathBuf,
    state: RwLock<State>,
    reloading: Mutex<()>,
}

impl fmt::Debug for ScriptHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptHost")
            .field("dir", &self.dir)
            .field("scripts", &self.scripts())
            .finish()
    }
}

/// A compiled candidate version, not yet active.
struct Candidate {
    script: Script,
    digest: Digest,
    /// Whether registering it compiled it (so a failed promotion should evict it).
    compiled: bool,
}

impl ScriptHost {
    /// Starts building a host for the script folder `dir` (which must hold `palisade.toml`).
    pub fn builder(dir: impl Into<PathBuf>) -> ScriptHostBuilder {
        ScriptHostBuilder {
            dir: dir.into(),
            clock: Arc::new(StdClock::new()),
            log: Arc::new(TracingLog),
            kv: Arc::new(MemoryKv::new()),
            random: Arc::new(OsRandom),
            configure: Vec::new(),
        }
    }

    /// Loads the script folder `dir` with the default services.
    ///
    /// # Errors
    ///
    /// As [`ScriptHostBuilder::build`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ScriptError> {
        Self::builder(dir).build()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // State changes are whole steps under the lock, so a poisoned lock is still consistent.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The folder the scripts are loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry holding every version of every script (metrics, stats, canaries).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The names of the loaded scripts, sorted.
    pub fn scripts(&self) -> Vec<String> {
        self.read().scripts.keys().cloned().collect()
    }

    fn unknown(&self, state: &State, name: &str) -> ScriptError {
        ScriptError::UnknownScript {
            name: name.to_owned(),
            known: state.scripts.keys().cloned().collect(),
        }
    }

    /// The digest of the version of `name` that calls run now.
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`].
    pub fn active(&self, name: &str) -> Result<Digest, ScriptError> {
        let state = self.read();
        match (state.scripts.contains_key(name), self.registry.plugin(name)) {
            (true, Some(p)) => Ok(p.active),
            _ => Err(self.unknown(&state, name)),
        }
    }

    /// The versions of `name` kept for rollback, most recent first (not the active one).
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`].
    pub fn previous(&self, name: &str) -> Result<Vec<Digest>, ScriptError> {
        let state = self.read();
        match (state.scripts.contains_key(name), self.registry.plugin(name)) {
            (true, Some(p)) => Ok(p.previous),
            _ => Err(self.unknown(&state, name)),
        }
    }

    /// Makes the version of `name` that was active before the current one active again, and
    /// returns its digest. The version rolled back from is dropped. The file on disk is not
    /// touched; its next change loads as usual.
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`], or [`ScriptError::Registry`] with
    /// `NoPreviousVersion`.
    pub fn rollback(&self, name: &str) -> Result<Digest, ScriptError> {
        let state = self.write();
        if !state.scripts.contains_key(name) {
            return Err(self.unknown(&state, name));
        }
        let digest = self
            .registry
            .rollback(name)
            .map_err(|error| ScriptError::Registry {
                script: name.to_owned(),
                error,
            })?;
        tracing::info!(target: "palisade::script", script = name, %digest, "rolled back");
        Ok(digest)
    }

    /// Calls script `name` with raw bytes. The outer error is for an unknown script; the
    /// [`Call`] carries the sandbox's result and report (whose `digest` names the version
    /// that ran).
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`].
    pub fn call_bytes(&self, name: &str, input: &[u8]) -> Result<Call<Vec<u8>>, ScriptError> {
        // The read lock is held for the call so that the version, its entry point and its
        // tenant always belong together; a reload swaps them once the call (bounded by its
        // deadline) returns.
        let state = self.read();
        let script = state
            .scripts
            .get(name)
            .ok_or_else(|| self.unknown(&state, name))?;
        Ok(self
            .registry
            .call(name, &script.tenant, &script.entry, input, b""))
    }

    /// Calls script `name` with bytes and returns its output.
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`] or [`ScriptError::Call`].
    pub fn call_raw(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, ScriptError> {
        let call = self.call_bytes(name, input)?;
        call.result.map_err(|error| ScriptError::Call {
            script: name.to_owned(),
            error,
            report: call.report,
        })
    }

    /// Calls script `name` with typed arguments and a typed result, both encoded with
    /// `postcard` (what the `palisade-guest` SDK's typed helpers decode and encode).
    ///
    /// # Errors
    ///
    /// [`ScriptError::UnknownScript`], [`ScriptError::Encode`], [`ScriptError::Call`] or
    /// [`ScriptError::Decode`].
    pub fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        name: &str,
        args: &A,
    ) -> Result<R, ScriptError> {
        let input = postcard::to_allocvec(args).map_err(|e| ScriptError::Encode {
            script: name.to_owned(),
            reason: e.to_string(),
        })?;
        let output = self.call_raw(name, &input)?;
        postcard::from_bytes(&output).map_err(|e| ScriptError::Decode {
            script: name.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Registers (compiles once per digest) and checks one script from the file's raw
    /// content; nothing becomes active.
    fn candidate(
        &self,
        manifest: &Manifest,
        name: &str,
        spec: &ScriptSpec,
        raw: Vec<u8>,
        file_stamp: Option<Stamp>,
    ) -> Result<Candidate, ScriptError> {
        let load = |error: palisade::Error| ScriptError::Load {
            script: name.to_owned(),
            error,
        };
        let limits = spec.limits.or(manifest.limits).apply(Limits::default());
        let tenant = self
            .registry
            .with_runtime(|rt| {
                rt.tenant(spec.tenant.as_deref().unwrap_or(name))
                    .grant_all(spec.allow.iter().map(String::as_str))
                    .limits(limits)
                    .build()
            })
            .map_err(load)?;
        let path = self.dir.join(&spec.file);
        let seen = Digest::of(&raw);
        let bytes = module_bytes(&path, raw)?;
        let digest = Digest::of(&bytes);
        let meta = ModuleMeta {
            name: name.to_owned(),
            version: format!("{}", digest.short()),
            provenance: path.display().to_string(),
            ..ModuleMeta::default()
        };
        let registered = self.registry.register(&bytes, meta).map_err(load)?;
        let checked = (|| {
            let module = self.registry.compiled(registered.digest).ok_or_else(|| {
                palisade::Error::config("the module was evicted while loading; reload again")
            })?;
            self.registry
                .with_runtime(|rt| rt.check_grants(&module, &tenant))?;
            let entry = pick_entry(spec, name, &module);
            if !module.info().has_entry(&entry) {
                return Err(
                    palisade::Error::new(palisade::ErrorKind::NoSuchEntry { entry })
                        .with_plugin(name),
                );
            }
            Ok(entry)
        })();
        let entry = match checked {
            Ok(e) => e,
            Err(e) => {
                if registered.compiled {
                    self.registry.remove_if_unused(registered.digest);
                }
                return Err(load(e.with_plugin(name)));
            }
        };
        Ok(Candidate {
            script: Script {
                spec: spec.clone(),
                entry,
                tenant,
                stamp: file_stamp,
                seen,
            },
            digest: registered.digest,
            compiled: registered.compiled,
        })
    }

    /// Makes a candidate the active version (the caller holds the write lock).
    fn activate(&self, name: &str, c: &Candidate) -> Result<(), ScriptError> {
        self.registry
            .promote(name, c.digest, &c.script.tenant)
            .map_err(|error| {
                if c.compiled {
                    self.registry.remove_if_unused(c.digest);
                }
                ScriptError::Load {
                    script: name.to_owned(),
                    error,
                }
            })
    }

    fn load_script(
        &self,
        manifest: &Manifest,
        name: &str,
        spec: &ScriptSpec,
    ) -> Result<Script, ScriptError> {
        let (raw, file_stamp) = read_raw(&self.dir.join(&spec.file))?;
        let c = self.candidate(manifest, name, spec, raw, file_stamp)?;
        let _state = self.write();
        self.activate(name, &c)?;
        Ok(c.script)
    }

    /// Looks for changed files (the manifest and every script) and loads what changed.
    ///
    /// A script whose file changed is compiled and checked; when it loads, its new digest
    /// becomes active and the previous version is kept for [`ScriptHost::rollback`] (up to
    /// [`MAX_VERSIONS`] in all). When it does not load, the previous version keeps running and
    /// the error is in [`ReloadReport::failed`]. A file rewritten with identical bytes is not
    /// a new version. A manifest that does not parse is reported and the previous one kept.
    pub fn reload(&self) -> ReloadReport {
        let _serial = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut report = ReloadReport::default();
        let manifest_path = self.dir.join(MANIFEST_FILE);

        let (old_manifest, old_stamp) = {
            let state = self.read();
            (state.manifest.clone(), state.manifest_stamp)
        };
        let now = stamp(&manifest_path);
        let mut manifest = old_manifest.clone();
        let mut manifest_stamp = old_stamp;
        if now != old_stamp || !settled(now) {
            match read_manifest(&manifest_path) {
                Ok((m, s)) => {
                    manifest = m;
                    manifest_stamp = s;
                }
                Err(e) => {
                    // Not retried until the manifest changes again.
                    manifest_stamp = now;
                    report.failed.push(e);
                }
            }
        }

        // Read and compile without blocking calls.
        let mut candidates: Vec<(String, Result<Candidate, ScriptError>)> = Vec::new();
        let mut seen: Vec<(String, Option<Stamp>, Digest)> = Vec::new();
        for (name, spec) in &manifest.scripts {
            let existing = {
                let state = self.read();
                state
                    .scripts
                    .get(name)
                    .map(|s| (s.spec.clone(), s.stamp, s.seen))
            };
            let path = self.dir.join(&spec.file);
            let mut unchanged_setup = false;
            if let Some((old_spec, old_file_stamp, old_seen)) = existing {
                let setup_changed = old_spec != *spec || manifest.limits != old_manifest.limits;
                let file_now = stamp(&path);
                if !setup_changed && file_now == old_file_stamp && settled(file_now) {
                    continue;
                }
                if !setup_changed {
                    unchanged_setup = true;
                    // Same content as last time (a touch, or a rollback in place): nothing to do.
                    if let Ok((raw, s)) = read_raw(&path) {
                        let digest = Digest::of(&raw);
                        if digest == old_seen {
                            seen.push((name.clone(), s, digest));
                            continue;
                        }
                    }
                }
            }
            let result = read_raw(&path)
                .inspect_err(|_| {
                    if unchanged_setup {
                        seen.push((name.clone(), None, Digest::default()));
                    }
                })
                .and_then(|(raw, file_stamp)| {
                    let digest = Digest::of(&raw);
                    if unchanged_setup {
                        // Looked at now, loaded or not: a broken edit is reported once.
                        seen.push((name.clone(), file_stamp, digest));
                    }
                    self.candidate(&manifest, name, spec, raw, file_stamp)
                });
            candidates.push((name.clone(), result));
        }

        let mut state = self.write();
        state.manifest_stamp = manifest_stamp;
        for (name, s, digest) in seen {
            if let Some(script) = state.scripts.get_mut(&name) {
                script.stamp = s;
                script.seen = digest;
            }
        }
        if manifest != old_manifest {
            let gone: Vec<String> = state
                .scripts
                .keys()
                .filter(|k| !manifest.scripts.contains_key(*k))
                .cloned()
                .collect();
            for name in gone {
                state.scripts.remove(&name);
                tracing::info!(target: "palisade::script", script = %name, "removed");
                report.removed.push(name);
            }
            state.manifest = manifest;
        }
        for (name, candidate) in candidates {
            let c = match candidate {
                Ok(c) => c,
                Err(e) => {
                    report.failed.push(e);
                    continue;
                }
            };
            let before = self.registry.plugin(&name).map(|p| p.active);
            if let Err(e) = self.activate(&name, &c) {
                report.failed.push(e);
                continue;
            }
            let digest = c.digest;
            let is_new = state.scripts.insert(name.clone(), c.script).is_none();
            if is_new {
                tracing::info!(target: "palisade::script", script = %name, %digest, "added");
                report.added.push(name);
            } else if before != Some(digest) {
                tracing::info!(target: "palisade::script", script = %name, %digest, "reloaded");
                report.updated.push((name, digest));
            }
        }
        drop(state);
        for e in &report.failed {
            tracing::warn!(target: "palisade::script", "reload: {e}");
        }
        report
    }

    /// Polls the folder every `interval` on a background thread and reloads what changed,
    /// handing each non-empty [`ReloadReport`] to `on_change`. Polling stops when the returned
    /// [`Watcher`] is dropped.
    pub fn watch(
        self: &Arc<Self>,
        interval: Duration,
        on_change: impl Fn(&ReloadReport) + Send + 'static,
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let host = Arc::clone(self);
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(interval);
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let report = host.reload();
                if !report.is_empty() {
                    on_change(&report);
                }
            }
        });
        Watcher {
            stop,
            handle: Some(handle),
        }
    }
}

/// A background reload loop started by [`ScriptHost::watch`]; dropping it stops the loop.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
