//! `palisade remote`: drive a palisade-server's admin API (docs/SERVER.md) without `curl`.
//!
//! The server and the token come from flags, the environment (`PALISADE_SERVER`,
//! `PALISADE_TOKEN_FILE`), or the file `palisade remote login` writes (see [`config_path`]),
//! in that order. The config file holds the server's URL and the *path* of the token file,
//! never the token itself.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exit::{CliError, Exit};

/// Every request's time limit. Uploads and promotions (a smoke call) finish well within it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Arguments of `palisade remote`.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: RemoteCommand,
}

/// Where the server is and which token to send.
#[derive(Debug, Args)]
struct Connection {
    /// The server's base URL, `http://HOST:PORT` (default: the one saved by `remote login`).
    #[arg(long, global = true, env = "PALISADE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// A file holding the admin token, e.g. the server's `DIR/admin-token` (default: the one
    /// saved by `remote login`).
    #[arg(long, global = true, env = "PALISADE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum RemoteCommand {
    /// Check the server and token, then save them for the other `remote` commands.
    Login,
    /// Upload a bundle (or, with `--version`, a bare module) as a new version of a plugin.
    Push(PushArgs),
    /// Make a stored version the active one (the server runs its promotion gate first).
    Promote(TargetArgs),
    /// Route a fraction of the plugin's calls to a stored version, or `--clear` the canary.
    Canary(CanaryArgs),
    /// Bring back the previous active version.
    Rollback {
        /// The plugin.
        plugin: String,
    },
    /// List the plugins and what each serves.
    Plugins,
    /// List a plugin's stored versions and their rollout state.
    Versions {
        /// The plugin.
        plugin: String,
    },
    /// List the tenants, their plugins and grants.
    Tenants,
    /// Show a plugin's call metrics (counters and latency/fuel sums since the server started).
    Metrics {
        /// The plugin.
        plugin: String,
    },
}

#[derive(Debug, Args)]
struct PushArgs {
    /// The bundle (`palisade pack`), or a bare `.wasm` module with `--version`.
    file: PathBuf,
    /// The plugin (default: the bundle manifest's name).
    #[arg(long)]
    plugin: Option<String>,
    /// The version of a bare module (servers with `allow_unsigned` only).
    #[arg(long = "plugin-version", value_name = "VERSION")]
    version: Option<String>,
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// The plugin.
    plugin: String,
    /// The version (or give `--digest`).
    #[arg(required_unless_present = "digest")]
    version: Option<String>,
    /// The module digest of the version (64 hex digits).
    #[arg(long)]
    digest: Option<String>,
}

#[derive(Debug, Args)]
struct CanaryArgs {
    /// The plugin.
    plugin: String,
    /// The version to route calls to (or give `--digest`).
    #[arg(required_unless_present_any = ["digest", "clear"], conflicts_with = "clear")]
    version: Option<String>,
    /// The module digest of the version (64 hex digits).
    #[arg(long, conflicts_with = "clear")]
    digest: Option<String>,
    /// Share of request keys routed to the canary, 0..=1.
    #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
    fraction: Option<f64>,
    /// Remove the canary.
    #[arg(long)]
    clear: bool,
}

/// What `remote login` saves.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    server: String,
    token_file: PathBuf,
}

/// The config file: `$PALISADE_CONFIG`, else `$XDG_CONFIG_HOME/palisade/remote.toml`, else
/// `$HOME/.config/palisade/remote.toml`.
fn config_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = var("PALISADE_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("palisade").join("remote.toml"))
}

fn load_saved() -> Result<Option<(PathBuf, Saved)>, CliError> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::read(&path, &e)),
    };
    let saved = toml::from_str(&text).map_err(|e| {
        CliError::new(
            Exit::Usage,
            format!(
                "{} is not a valid remote config ({e}); run `palisade remote login --server URL --token-file FILE` again",
                path.display()
            ),
        )
    })?;
    Ok(Some((path, saved)))
}

/// A server connection: base URL, token, and an agent that returns every status.
struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// An answer: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Result<Value, CliError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CliError::new(
                Exit::Internal,
                format!("the server's answer is not the JSON this command expects ({e}); is --server a palisade-server?"),
            )
        })
    }
}

fn read_token(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::read(path, &e))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "the token file {} is empty; it should hold the admin token (the server writes it to DIR/admin-token)",
                path.display()
            ),
        ));
    }
    Ok(token.to_owned())
}

fn normalize_server(url: &str) -> Result<String, CliError> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("https://") {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{url}: this build speaks plain HTTP only; reach the server through a local tunnel or proxy and pass --server http://..."
            ),
        ));
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.is_empty() || rest.contains('/') {
        return Err(CliError::new(
            Exit::Usage,
            format!("`{url}` is not a server URL; pass --server http://HOST:PORT"),
        ));
    }
    Ok(format!("http://{rest}"))
}

impl Remote {
    fn new(server: &str, token: String) -> Result<Self, CliError> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Ok(Self {
            base: normalize_server(server)?,
            token,
            agent,
        })
    }

    /// From flags, the environment, then the saved config.
    fn connect(conn: &Connection) -> Result<Self, CliError> {
        let saved = if conn.server.is_none() || conn.token_file.is_none() {
            load_saved()?.map(|(_, s)| s)
        } else {
            None
        };
        let (server, token_file) = match (&conn.server, &conn.token_file, saved) {
            (Some(s), Some(t), _) => (s.clone(), t.clone()),
            (s, t, Some(saved)) => (
                s.clone().unwrap_or(saved.server),
                t.clone().unwrap_or(saved.token_file),
            ),
            _ => {
                return Err(CliError::new(
                    Exit::Usage,
                    "no server to talk to: run `palisade remote login --server URL --token-file FILE` once, or pass --server and --token-file (or set PALISADE_SERVER and PALISADE_TOKEN_FILE)",
                ));
            }
        };
        Self::new(&server, read_token(&token_file)?)
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, CliError> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let request = request.body(body).map_err(|e| {
            CliError::new(
                Exit::Usage,
                format!(
                    "cannot make a request to {}{path}: {e}; check --server",
                    self.base
                ),
            )
        })?;
        let unreachable = |e: ureq::Error| {
            CliError::new(
                Exit::Unreachable,
                format!(
                    "cannot reach the server at {} ({e}); check --server and that palisade-server is running there",
                    self.base
                ),
            )
        };
        let mut response = self.agent.run(request).map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(unreachable)?;
        Ok(Answer { status, body })
    }

    /// A request whose success is a JSON body; any other status is an error.
    fn json(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Value, CliError> {
        let answer = self.request(method, path, content_type, body)?;
        if !(200..300).contains(&answer.status) {
            return Err(self.refused(&answer));
        }
        answer.json()
    }

    /// The error for a non-2xx answer: the server's code and message, and what to do.
    fn refused(&self, answer: &Answer) -> CliError {
        let (code, message) = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                Some((
                    e.get("code")?.as_str()?.to_owned(),
                    e.get("message")?.as_str()?.to_owned(),
                ))
            })
            .unwrap_or_else(|| {
                (
                    "http".to_owned(),
                    String::from_utf8_lossy(&answer.body).trim().to_owned(),
                )
            });
        let status = answer.status;
        let (exit, hint) = match (status, code.as_str()) {
            (
                _,
                "invalid_module" | "malformed_bundle" | "manifest_mismatch" | "unsupported_abi"
                | "unknown_import" | "contract_violation" | "module_too_large",
            ) => (
                Exit::InvalidModule,
                "rebuild the module or bundle (`palisade inspect` shows what is wrong)",
            ),
            (_, "bad_signature" | "untrusted_key" | "signature_required" | "digest_mismatch") => (
                Exit::Signature,
                "sign the bundle with a key in the server's `trusted_keys` (`palisade pack --key`)",
            ),
            (_, "ungranted_import") => (
                Exit::CapabilityDenied,
                "the server's `upload_capabilities` do not include what the module imports",
            ),
            (401, _) => (
                Exit::Unauthorized,
                "check the token file: it must hold the server's current admin token (DIR/admin-token); `palisade remote login` saves another",
            ),
            (403, _) => (
                Exit::Unauthorized,
                "the token file holds no admin token of this server (a tenant or metrics token, or a rotated one): use the server's current DIR/admin-token",
            ),
            (404, "unknown_plugin") => (
                Exit::NotFound,
                "`palisade remote plugins` lists the plugins",
            ),
            (404, "unknown_version") => (
                Exit::NotFound,
                "`palisade remote versions PLUGIN` lists the stored versions",
            ),
            (404, _) => (
                Exit::NotFound,
                "is --server a palisade-server of this version?",
            ),
            (s, _) if s >= 500 => (Exit::Internal, "the server failed; its log says why"),
            _ => (Exit::Rejected, "the server refused the request"),
        };
        CliError::new(
            exit,
            format!("{} answered {status} {code}: {message}; {hint}", self.base),
        )
    }
}

/// Percent-encodes a path segment (plugin names are plain, but a typo must not change the path).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(Exit::Io, format!("cannot write to stdout: {e}")))
}

fn print_json(v: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| CliError::new(Exit::Internal, e.to_string()))?;
    print(&format!("{text}\n"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// `version (digest…)` of a `{digest, version}` object, or `-`.
fn version_ref(v: Option<&Value>) -> String {
    match v {
        Some(v) if !v.is_null() => {
            let digest = str_of(v, "digest");
            let short = digest.get(..12).unwrap_or(digest);
            format!("{} ({short})", str_of(v, "version"))
        }
        _ => "-".to_owned(),
    }
}

/// Runs `palisade remote …`.
///
/// # Errors
///
/// A [`CliError`] with the exit code of the failure (unreachable server, refused token,
/// unknown plugin, refused request).
pub fn remote(args: &RemoteArgs) -> Result<Exit, CliError> {
    if let RemoteCommand::Login = args.command {
        return login(&args.conn);
    }
    let r = Remote::connect(&args.conn)?;
    let json = args.conn.json;
    match &args.command {
        RemoteCommand::Login => Ok(Exit::Ok),
        RemoteCommand::Push(p) => push(&r, p, json),
        RemoteCommand::Promote(t) => {
            let body = serde_json::json!({"version": t.version, "digest": t.digest});
            let path = format!("/v1/admin/plugins/{}/promote", segment(&t.plugin));
            let state = r.json(
                "POST",
                &path,
                Some("application/json"),
                body.to_string().into_bytes(),
            )?;
            rollout_done(&r, &t.plugin, &state, json, "promoted")
        }
        RemoteCommand::Canary(c) => {
            let path = format!("/v1/admin/plugins/{}/canary", segment(&c.plugin));
            let state = if c.clear {
                r.json("DELETE", &path, None, Vec::new())?
            } else {
                let body = serde_json::json!({"version": c.version, "digest": c.digest, "fraction": c.fraction});
                r.json(
                    "PUT",
                    &path,
                    Some("application/json"),
                    body.to_string().into_bytes(),
                )?
            };
            let what = if c.clear {
                "canary cleared"
            } else {
                "canary set"
            };
            rollout_done(&r, &c.plugin, &state, json, what)
        }
        RemoteCommand::Rollback { plugin } => {
            let path = format!("/v1/admin/plugins/{}/rollback", segment(plugin));
            let state = r.json("POST", &path, None, Vec::new())?;
            rollout_done(&r, plugin, &state, json, "rolled back")
        }
        RemoteCommand::Plugins => plugins(&r, json),
        RemoteCommand::Versions { plugin } => {
            let info = get_plugin(&r, plugin)?;
            if json {
                return print_json(&info).map(|()| Exit::Ok);
            }
            print(&versions_text(&info)).map(|()| Exit::Ok)
        }
        RemoteCommand::Tenants => tenants(&r, json),
        RemoteCommand::Metrics { plugin } => metrics(&r, plugin, json),
    }
}

fn login(conn: &Connection) -> Result<Exit, CliError> {
    let (Some(server), Some(token_file)) = (&conn.server, &conn.token_file) else {
        return Err(CliError::new(
            Exit::Usage,
            "`remote login` needs --server URL and --token-file FILE (the server's DIR/admin-token, or a copy)",
        ));
    };
    let token_file = std::path::absolute(token_file).map_err(|e| CliError::read(token_file, &e))?;
    let r = Remote::new(server, read_token(&token_file)?)?;
    // An admin-only read: proves the server is there and the token is the admin's.
    r.json("GET", "/v1/admin/tenants", None, Vec::new())?;
    let path = config_path().ok_or_else(|| {
        CliError::new(
            Exit::Usage,
            "nowhere to save the login: set HOME, XDG_CONFIG_HOME or PALISADE_CONFIG",
        )
    })?;
    let saved = Saved {
        server: r.base.clone(),
        token_file,
    };
    let text = toml::to_string(&saved).map_err(|e| CliError::new(Exit::Internal, e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::write(dir, &e))?;
    }
    std::fs::write(&path, text).map_err(|e| CliError::write(&path, &e))?;
    print(&format!(
        "logged in to {} with the token in {}; saved to {}\n",
        saved.server,
        saved.token_file.display(),
        path.display()
    ))?;
    Ok(Exit::Ok)
}

fn push(r: &Remote, p: &PushArgs, json: bool) -> Result<Exit, CliError> {
    let bytes = std::fs::read(&p.file).map_err(|e| CliError::read(&p.file, &e))?;
    let named = if crate::bundle::is_bundle(&bytes) {
        palisade::Bundle::new_checked(&bytes)
            .ok()
            .map(|b| b.manifest().name().to_owned())
    } else {
        None
    };
    let Some(plugin) = p.plugin.clone().or(named) else {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{} is not a bundle with a name: pass --plugin NAME (and --plugin-version for a bare module)",
                p.file.display()
            ),
        ));
    };
    let mut path = format!("/v1/admin/plugins/{}/versions", segment(&plugin));
    if let Some(v) = &p.version {
        path.push_str(&format!("?version={}", segment(v)));
    }
    let up = r.json("POST", &path, Some("application/octet-stream"), bytes)?;
    if json {
        return print_json(&up).map(|()| Exit::Ok);
    }
    let created = up.get("created").and_then(Value::as_bool).unwrap_or(false);
    print(&format!(
        "{} {plugin} {} (digest {}, {} bytes){}\n",
        if created {
            "uploaded"
        } else {
            "already stored:"
        },
        str_of(&up, "version"),
        str_of(&up, "digest"),
        up.get("size").and_then(Value::as_u64).unwrap_or(0),
        if created {
            format!(
                "; `palisade remote promote {plugin} {}` makes it active",
                str_of(&up, "version")
            )
        } else {
            String::new()
        }
    ))?;
    Ok(Exit::Ok)
}

fn get_plugin(r: &Remote, plugin: &str) -> Result<Value, CliError> {
    r.json(
        "GET",
        &format!("/v1/admin/plugins/{}", segment(plugin)),
        None,
        Vec::new(),
    )
}

/// After a promote, canary or rollback: the plugin's state, with version names.
fn rollout_done(
    r: &Remote,
    plugin: &str,
    state: &Value,
    json: bool,
    what: &str,
) -> Result<Exit, CliError> {
    if json {
        return print_json(state).map(|()| Exit::Ok);
    }
    let info = get_plugin(r, plugin)?;
    print(&format!("{plugin}: {what}\n{}", state_text(&info)))?;
    Ok(Exit::Ok)
}

fn state_text(info: &Value) -> String {
    let previous: Vec<String> = info
        .get("previous")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| version_ref(Some(v))).collect())
        .unwrap_or_default();
    let canary = match info.get("canary") {
        Some(c) if !c.is_null() => format!(
            "{} at {}%",
            version_ref(Some(c)),
            c.get("fraction").and_then(Value::as_f64).unwrap_or(0.0) * 100.0
        ),
        _ => "-".to_owned(),
    };
    format!(
        "  active:   {}\n  canary:   {canary}\n  previous: {}\n",
        version_ref(info.get("active")),
        if previous.is_empty() {
            "-".to_owned()
        } else {
            previous.join(", ")
        }
    )
}

fn versions_text(info: &Value) -> String {
    let digest_of = |key: &str| {
        info.get(key)
            .and_then(|v| v.get("digest"))
            .and_then(Value::as_str)
    };
    let active = digest_of("active");
    let canary = digest_of("canary");
    let previous: Vec<&str> = info
        .get("previous")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.get("digest").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut out = format!(
        "{:<16} {:<10} {:<64}  signer\n",
        "version", "state", "digest"
    );
    for v in info
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let digest = str_of(v, "digest");
        let state = if Some(digest) == active {
            "active"
        } else if Some(digest) == canary {
            "canary"
        } else if previous.contains(&digest) {
            "previous"
        } else {
            "stored"
        };
        let signer = v
            .get("signer")
            .and_then(Value::as_str)
            .map_or("unsigned".to_owned(), |s| {
                s.get(..16).unwrap_or(s).to_owned()
            });
        out.push_str(&format!(
            "{:<16} {state:<10} {digest:<64}  {signer}\n",
            str_of(v, "version")
        ));
    }
    out
}

fn plugins(r: &Remote, json: bool) -> Result<Exit, CliError> {
    let all = r.json("GET", "/v1/admin/plugins", None, Vec::new())?;
    if json {
        return print_json(&all).map(|()| Exit::Ok);
    }
    let list = all
        .get("plugins")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return print("no plugins yet; `palisade remote push BUNDLE` uploads one\n")
            .map(|()| Exit::Ok);
    }
    let mut out = format!(
        "{:<24} {:<28} {:<28} versions\n",
        "plugin", "active", "canary"
    );
    for p in &list {
        let n = p
            .get("versions")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        out.push_str(&format!(
            "{:<24} {:<28} {:<28} {n}\n",
            str_of(p, "name"),
            version_ref(p.get("active")),
            version_ref(p.get("canary")),
        ));
    }
    print(&out).map(|()| Exit::Ok)
}

fn tenants(r: &Remote, json: bool) -> Result<Exit, CliError> {
    let all = r.json("GET", "/v1/admin/tenants", None, Vec::new())?;
    if json {
        return print_json(&all).map(|()| Exit::Ok);
    }
    let list = all
        .get("tenants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return print("no tenants yet\n").map(|()| Exit::Ok);
    }
    let join = |v: Option<&Value>| {
        let items: Vec<&str> = v
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    let mut out = format!("{:<24} {:<32} grants\n", "tenant", "plugins");
    for t in &list {
        let config = t.get("config");
        out.push_str(&format!(
            "{:<24} {:<32} {}\n",
            str_of(t, "id"),
            join(config.and_then(|c| c.get("plugins"))),
            join(config.and_then(|c| c.get("grants"))),
        ));
    }
    print(&out).map(|()| Exit::Ok)
}

/// The samples of Prometheus `text` labelled `plugin="<plugin>"`, histogram buckets left out
/// (their `_sum` and `_count` stay).
pub fn plugin_samples<'a>(text: &'a str, plugin: &str) -> Vec<&'a str> {
    let label = format!("plugin=\"{plugin}\"");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            !name.ends_with("_bucket")
        })
        .filter(|l| {
            l.split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .is_some_and(|(labels, _)| labels.split(',').any(|kv| kv == label))
        })
        .collect()
}

fn metrics(r: &Remote, plugin: &str, json: bool) -> Result<Exit, CliError> {
    // The plugin must exist: a typo is a 404, not an empty list.
    get_plugin(r, plugin)?;
    let answer = r.request("GET", "/metrics", None, Vec::new())?;
    if answer.status != 200 {
        return Err(r.refused(&answer));
    }
    let text = String::from_utf8_lossy(&answer.body);
    let samples = plugin_samples(&text, plugin);
    if json {
        let list: Vec<Value> = samples
            .iter()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(name, value)| serde_json::json!({"sample": name, "value": value.parse::<f64>().ok()}))
            .collect();
        return print_json(&serde_json::json!({"plugin": plugin, "samples": list}))
            .map(|()| Exit::Ok);
    }
    if samples.is_empty() {
        return print(&format!(
            "no metrics for {plugin} yet: no calls since the server started\n"
        ))
        .map(|()| Exit::Ok);
    }
    let mut out = String::new();
    for s in samples {
        out.push_str(s);
        out.push('\n');
    }
    print(&out).map(|()| Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_one_plugin_without_buckets() {
        let text = "# HELP x\n\
            palisade_calls_total{plugin=\"a\",tenant=\"t\",outcome=\"ok\"} 3\n\
            palisade_calls_total{plugin=\"ab\",tenant=\"t\",outcome=\"ok\"} 9\n\
            palisade_call_fuel_bucket{plugin=\"a\",le=\"10\"} 1\n\
            palisade_call_fuel_sum{plugin=\"a\"} 12\n\
            palisade_workers 2\n";
        assert_eq!(
            plugin_samples(text, "a"),
            [
                "palisade_calls_total{plugin=\"a\",tenant=\"t\",outcome=\"ok\"} 3",
                "palisade_call_fuel_sum{plugin=\"a\"} 12"
            ]
        );
    }

    #[test]
    fn server_urls_are_plain_http_base_urls() {
        assert_eq!(
            normalize_server("127.0.0.1:80/").ok().as_deref(),
            Some("http://127.0.0.1:80")
        );
        assert_eq!(
            normalize_server("http://h:1").ok().as_deref(),
            Some("http://h:1")
        );
        assert!(normalize_server("https://h").is_err());
        assert!(normalize_server("http://h/x").is_err());
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
