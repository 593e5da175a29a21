//! A local Dropbox API v2 emulator (`dropbox-post emulate`): the routes dropbox-post and the
//! official SDKs use for uploading, listing and downloading, with Dropbox's JSON shapes,
//! errors and write semantics, state kept on disk under a root directory, OAuth2 with
//! scopes, a personal or team account (`Dropbox-API-Path-Root`), faults on demand and
//! optional TLS. See `docs/emulator.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dropbox_emulator::EmulatorError> {
//! use dropbox_emulator::{EmulatorConfig, spawn};
//! let mut config = EmulatorConfig::new("/tmp/dropbox");
//! config.tokens.push("test-token".into());
//! let emulator = spawn(config).await?;
//! println!("{}", emulator.base_url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

pub(crate) mod args;
mod clock;
mod error;
pub mod faults;
mod jobs;
mod links;
mod list;
mod oauth;
mod paths;
mod route;
pub(crate) mod routes;
pub mod scopes;
mod server;
mod session;
mod shaping;
mod space;
mod staging;
mod store;
pub mod tls;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the emulator reads a request's argument: for the fuzz targets, which check the
/// client's header encoding against it.
pub mod decode {
    pub use crate::args::{ARG_HEADER, content_arg, rpc_arg};
    pub use crate::routes::Validate;
}

pub use faults::{Faults, FaultsError, KnownRoute, Stall};
pub use oauth::ACCOUNT_ID;
pub use scopes::{AppSpec, Scopes, StaticToken, UnknownScope};
pub use tls::{TlsError, TlsOptions};

/// Lifetime of tokens issued by `oauth2/token`, as on Dropbox (4 h).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(14_400);
/// Connections quiet this long are closed (Dropbox's front ends close idle ones too).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Uncommitted session data one token may hold: 16 GiB, room for `post --jobs 100` with
/// 148 MiB chunks, far below what fills a disk by accident.
pub const DEFAULT_MAX_STAGED_BYTES: u64 = 16 << 30;
/// Lifetime of upload sessions, as on Dropbox (7 days).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where files, metadata, sessions and OAuth grants live.
    pub root: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Static access tokens accepted forever, with their scopes.
    pub tokens: Vec<StaticToken>,
    /// Registered OAuth apps: key, optional secret, scopes.
    pub apps: Vec<AppSpec>,
    /// The account is a team member: `/` is the team's root namespace, the member's home a
    /// folder under it (see `space`).
    pub team: bool,
    pub token_lifetime: Duration,
    /// Upload sessions answer `not_found` this long after they start.
    pub session_lifetime: Duration,
    pub faults: Faults,
    pub tls: Option<TlsOptions>,
    /// A connection quiet this long (or this slow to send a request's headers) is closed.
    pub idle_timeout: Duration,
    /// Bytes one token may keep in upload sessions not yet committed.
    pub max_staged_bytes: u64,
    /// Bytes per second each TCP connection carries, in each direction (`None`: no limit).
    pub conn_rate: Option<u64>,
    /// Bytes per second all connections together carry, in each direction.
    pub link_rate: Option<u64>,
    /// Serve `POST /test/clock`, which moves the emulator's clock forward (what expires
    /// reads it: sessions, issued tokens, codes), so a test need not wait. Only on loopback.
    pub test_clock: bool,
}

impl EmulatorConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EmulatorConfig {
            root: root.into(),
            ..Self::default()
        }
    }
}

impl Default for EmulatorConfig {
    /// Everything but `root`, which `spawn` requires.
    fn default() -> Self {
        EmulatorConfig {
            root: PathBuf::new(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tokens: Vec::new(),
            apps: Vec::new(),
            team: false,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            faults: Faults::default(),
            tls: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_staged_bytes: DEFAULT_MAX_STAGED_BYTES,
            conn_rate: None,
            link_rate: None,
            test_clock: false,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    /// Tokens and app secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("root", &self.root)
            .field("listen", &self.listen)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("apps", &self.apps)
            .field("team", &self.team)
            .field("token_lifetime", &self.token_lifetime)
            .field("session_lifetime", &self.session_lifetime)
            .field("faults", &self.faults)
            .field("tls", &self.tls)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_staged_bytes", &self.max_staged_bytes)
            .field("conn_rate", &self.conn_rate)
            .field("link_rate", &self.link_rate)
            .field("test_clock", &self.test_clock)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulator needs a root directory (--root)")]
    NoRoot,
    #[error(transparent)]
    Faults(#[from] FaultsError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(
        "the test clock lets any client expire sessions and tokens: it listens on loopback only, not {0}"
    )]
    TestClockNotLoopback(SocketAddr),
}

/// The largest state file (`oauth.json`, `links.json`) the emulator reads back.
const MAX_STATE_FILE: u64 = 256 << 20;

/// The bytes of a state file [`write_json_atomically`] wrote; `None` before the first.
pub(crate) fn read_state(path: &Path) -> std::io::Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
    match dropbox_post_files::read_bounded(path, MAX_STATE_FILE) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Replaces `path` with `value` as JSON, atomically ([`dropbox_post_files::AtomicFile`]).
/// Callers hold the lock of that state.
pub(crate) fn write_json_atomically<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> std::io::Result<()> {
    use dropbox_post_files::{Existing, write_atomically};
    write_atomically(path, &serde_json::to_vec(value)?, Existing::Replace)
}

/// Deletes expired upload sessions every minute until shutdown.
async fn sweep_sessions(app: Arc<routes::App>, shutdown: CancellationToken) {
    // The first tick a minute from now: opening the sessions has just dropped expired ones.
    let minute = Duration::from_secs(60);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + minute, minute);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => app.sessions.sweep(i64::MAX),
        }
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> EmulatorError {
    move |e| EmulatorError::Io(what, e)
}

/// A running emulator; dropping it stops the server without waiting.
pub struct RunningEmulator {
    base_url: String,
    ca_cert: Option<PathBuf>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    app: Arc<routes::App>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (or `https://…` with TLS), no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The CA certificate clients must trust, with TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The fault generator's seed (random unless configured).
    pub fn seed(&self) -> u64 {
        self.app.faults.seed
    }

    /// Lets the requests `--hold` holds now go on (`emulate` calls it on SIGUSR1).
    pub fn release_holds(&self) {
        self.app.faults.release_holds();
    }

    /// Stops accepting, lets requests in flight finish, flushes state.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.app.faults.release();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Err(e) = self.app.store.sync() {
            tracing::error!("{e}");
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.app.faults.release();
    }
}

/// Opens the state under `config.root`, binds `config.listen` and serves in the background.
pub async fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    if config.root.as_os_str().is_empty() {
        return Err(EmulatorError::NoRoot);
    }
    config.faults.validate()?;
    if config.test_clock && !config.listen.ip().is_loopback() {
        return Err(EmulatorError::TestClockNotLoopback(config.listen));
    }
    let root = &config.root;
    std::fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
    let tmp = root.join("tmp");
    // Leftovers of requests cut by a crash; nothing refers to them.
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    let store = store::Store::open(root)?;
    let account = space::Account { team: config.team };
    if let Some(home) = account.member_folder() {
        // Already there after a restart (a conflict); an I/O failure is logged, and the
        // first write under it reports it again.
        let _ = store.create_folder(home, false);
    }
    let clock = Arc::new(clock::Clock::default());
    let sessions = session::Sessions::open(
        root,
        &tmp,
        config.session_lifetime,
        config.max_staged_bytes,
        clock.clone(),
    )
    .map_err(io(format!("loading sessions under {}", root.display())))?;
    let auth = oauth::Auth::new(
        root,
        &config.tokens,
        &config.apps,
        config.token_lifetime,
        clock.clone(),
    )
    .map_err(io(format!("loading {}", root.join("oauth.json").display())))?;
    let faults = faults::FaultPlan::new(config.faults.clone());
    tracing::info!("fault seed {}", faults.seed);

    let (tls, ca_cert) = match &config.tls {
        Some(opts) => {
            let ca = opts
                .ca_cert_out
                .clone()
                .unwrap_or_else(|| root.join("ca.pem"));
            (Some(tls::setup(&ca).await?), Some(ca))
        }
        None => (None, None),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("listening on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the bound address".into()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{addr}");
    let links = links::Links::open(root, &base_url)
        .map_err(io(format!("loading {}", root.join("links.json").display())))?;
    let app = Arc::new(routes::App {
        account,
        store,
        sessions,
        jobs: jobs::Jobs::default(),
        auth,
        faults,
        tmp,
        links,
        clock: config.test_clock.then_some(clock),
    });
    let shutdown = CancellationToken::new();
    tokio::spawn(sweep_sessions(app.clone(), shutdown.clone()));
    let task = tokio::spawn(server::serve(
        listener,
        routes::router(app.clone()),
        tls,
        config.idle_timeout,
        shaping::Link::new(config.conn_rate, config.link_rate),
        shutdown.clone(),
    ));
    Ok(RunningEmulator {
        base_url,
        ca_cert,
        shutdown,
        task: Some(task),
        app,
    })
}
