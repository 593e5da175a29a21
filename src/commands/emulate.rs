//! `dropbox-post emulate`: run the local Dropbox API v2 emulator until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use dropbox_emulator::{
    self, AppSpec, EmulatorConfig, Faults, StaticToken, TlsOptions, UnknownScope,
};
use dropbox_wire::rate::{BadRate, parse_rate};

const AFTER_HELP: &str = "\
The first line on stdout is the base URL (e.g. http://127.0.0.1:41234); point clients at it
with --endpoint URL or DROPBOX_POST_ENDPOINT=URL. State lives under --root and survives restarts.

For tests on this machine only: oauth2/authorize approves every request at once (there is
no sign-in), so anyone who can reach the port can get a token for a registered --app and
read or change everything under --root. Keep --listen on 127.0.0.1 (the default).

Scopes: a --token or --app without `=SCOPES` has those of an app with file, sharing and
account permissions (account_info.read files.content.read files.content.write
files.metadata.read files.metadata.write sharing.read sharing.write). With `=SCOPES`
(space-separated), a token has exactly those and an app those plus account_info.read;
a route whose scope a token lacks answers 401 missing_scope.

Examples:
  dropbox-post emulate --root /tmp/dbx --token test-token
  dropbox-post emulate --root /tmp/dbx --token \"read-only=files.metadata.read files.content.read\"
  dropbox-post emulate --root /tmp/dbx --team --token t     # a team member, shared team root
  dropbox-post emulate --root /tmp/dbx --listen 127.0.0.1:8080 --app mykey:mysecret -v
  dropbox-post emulate --root /tmp/dbx --token t --seed 7 \\
      --error-rate 0.05 --rate-limit-rate 0.05 --cut-rate 0.02
  dropbox-post emulate --root /tmp/dbx --token t --tls --ca-cert-out /tmp/dbx-ca.pem
  dropbox-post emulate --root /tmp/dbx --token t \\
      --latency-ms 500 --conn-rate 12M --link-rate 100M   # about as fast as Dropbox

Docs: docs/emulator.md";

#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct EmulateArgs {
    /// Directory holding the emulated Dropbox (files, metadata, sessions, OAuth grants).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// Address to listen on; port 0 picks a free port (printed on stdout). Anyone who can
    /// reach it can authorize an app and get a token: keep it on 127.0.0.1.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// A static access token accepted forever, `T` or `T=SCOPES` (repeatable; also
    /// comma-separated in the environment variable). Without any, only tokens issued by
    /// oauth2/token work.
    #[arg(
        long = "token",
        value_name = "T[=SCOPES]",
        env = "DROPBOX_POST_EMULATOR_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// A registered OAuth app, `KEY` (PKCE only) or `KEY:SECRET`, and optionally
    /// `=SCOPES`, the permissions ticked for it (repeatable).
    #[arg(long = "app", value_name = "KEY[:SECRET][=SCOPES]")]
    pub apps: Vec<String>,

    /// Emulate a member of a Dropbox team: `/` of --root is the team's shared root, the
    /// member's home is its folder "Emma Ulator"; Dropbox-API-Path-Root selects which.
    #[arg(long)]
    pub team: bool,

    /// Lifetime in seconds of access tokens issued by oauth2/token.
    #[arg(long, value_name = "SECS", default_value_t = 14_400)]
    pub token_lifetime: u64,

    /// Lifetime in seconds of upload sessions; after it they answer not_found, as Dropbox's
    /// do after 7 days. A short one tests what a client does with an expired session.
    #[arg(long, value_name = "SECS", default_value_t = 7 * 24 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_lifetime: u64,

    /// Seed of the fault generator: the same seed and request order give the same faults.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Milliseconds added to every request.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,

    /// Cap each TCP connection's rate, each direction separately, as Dropbox's per-connection
    /// throughput: e.g. 12M (MiB/s), 512K (KiB/s); a bare number is KiB/s; 0 or off for none.
    #[arg(long, value_name = "RATE", value_parser = rate)]
    pub conn_rate: Option<u64>,

    /// Cap all connections together, each direction separately, as the link's capacity:
    /// e.g. 100M (MiB/s); same spelling as --conn-rate.
    #[arg(long, value_name = "RATE", value_parser = rate)]
    pub link_rate: Option<u64>,

    /// Share of API requests answered 500 or 503.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Share of API requests answered 429 (with Retry-After) or 409 too_many_write_operations.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub rate_limit_rate: f64,

    /// Share of upload requests whose connection is dropped in the middle of the body.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub cut_rate: f64,

    /// Hold the Nth request (from 1) to ROUTE unanswered until the emulator stops, e.g.
    /// files/upload_session/append_v2:3, so a test can kill its client at that point
    /// (repeatable).
    #[arg(long = "stall", value_name = "ROUTE:N")]
    pub stalls: Vec<dropbox_emulator::Stall>,

    /// Hold the Nth request (from 1) to ROUTE until the emulator gets SIGUSR1, then serve
    /// it, e.g. files/delete_batch:1, so a test can act in the middle of a client's run
    /// (repeatable; one SIGUSR1 releases every request held at the time).
    #[arg(long = "hold", value_name = "ROUTE:N")]
    pub holds: Vec<dropbox_emulator::Stall>,
    /// Serve the Nth request (from 1) to ROUTE, then drop its connection unanswered, as when
    /// an answer is lost on the way back, e.g. files/upload_session/append_batch:1, so a test
    /// can see a client retry what already happened (repeatable).
    #[arg(long = "lose-answer", value_name = "ROUTE:N")]
    pub lost_answers: Vec<dropbox_emulator::Stall>,
    /// Serve the Nth request (from 1) to ROUTE, but drop its connection half-way through the
    /// answer's body, e.g. files/download:2, so a test can see a client go on from the bytes
    /// it got (repeatable).
    #[arg(long = "cut-answer", value_name = "ROUTE:N")]
    pub cut_answers: Vec<dropbox_emulator::Stall>,
    /// Store the Nth commit (from 1: files/upload, upload_session/finish and each entry of
    /// finish_batch_v2 count) with one byte flipped, reporting the hash of what was stored,
    /// as a Dropbox that damaged the file would, so a test can see a client find a commit
    /// wrong (repeatable).
    #[arg(long = "corrupt-commit", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub corrupt_commits: Vec<u64>,

    /// Answer ROUTE as Dropbox answers one it does not have (400 "Unknown API function"),
    /// e.g. files/upload_session/append_batch, so a test can see a client fall back
    /// (repeatable).
    #[arg(long = "unknown-route", value_name = "ROUTE")]
    pub unknown_routes: Vec<dropbox_emulator::KnownRoute>,

    /// Serve HTTPS with a certificate from a CA generated at start.
    #[arg(long)]
    pub tls: bool,

    /// Close a connection that moves no byte for this many seconds while none of its
    /// requests is being answered, or takes longer than this to send a request's headers.
    #[arg(long, value_name = "SECS", default_value_t = dropbox_emulator::DEFAULT_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// MiB of uncommitted upload-session data one token may hold; beyond it uploads are
    /// refused (insufficient_space) until sessions are committed or abandoned ones expire.
    #[arg(long, value_name = "MiB", default_value_t = dropbox_emulator::DEFAULT_MAX_STAGED_BYTES >> 20)]
    pub max_staged_mib: u64,

    /// Where to write the CA certificate with --tls [default: ROOT/ca.pem].
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_cert_out: Option<PathBuf>,

    /// For tests: serve POST /test/clock {"advance_secs": N}, which moves the emulator's
    /// clock forward, so upload sessions, issued tokens and authorization codes expire
    /// without waiting. Any client that reaches the port can then expire them: off unless
    /// given, and refused unless --listen is a loopback address.
    #[arg(long)]
    pub test_clock: bool,
}

impl EmulateArgs {
    fn config(self) -> CmdResult<EmulatorConfig> {
        let tokens = self
            .tokens
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<StaticToken>().map_err(|e| usage("--token", e)))
            .collect::<CmdResult<_>>()?;
        let apps = self
            .apps
            .iter()
            .map(|a| a.parse::<AppSpec>().map_err(|e| usage("--app", e)))
            .collect::<CmdResult<_>>()?;
        Ok(EmulatorConfig {
            root: self.root,
            listen: self.listen,
            tokens,
            apps,
            team: self.team,
            token_lifetime: Duration::from_secs(self.token_lifetime),
            session_lifetime: Duration::from_secs(self.session_lifetime),
            faults: Faults {
                seed: self.seed,
                latency: Duration::from_millis(self.latency_ms),
                error_rate: self.error_rate,
                rate_limit_rate: self.rate_limit_rate,
                cut_rate: self.cut_rate,
                stalls: self.stalls,
                holds: self.holds,
                lost_answers: self.lost_answers,
                cut_answers: self.cut_answers,
                corrupt_commits: self.corrupt_commits,
                unknown_routes: self.unknown_routes,
            },
            tls: self.tls.then_some(TlsOptions {
                ca_cert_out: self.ca_cert_out,
            }),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_staged_bytes: self.max_staged_mib.saturating_mul(1 << 20),
            conn_rate: self.conn_rate.filter(|&r| r > 0),
            link_rate: self.link_rate.filter(|&r| r > 0),
            test_clock: self.test_clock,
        })
    }
}

/// Bytes per second, as `post --bwlimit` spells them; 0 for no limit.
fn rate(s: &str) -> Result<u64, BadRate> {
    parse_rate(s).map(Option::unwrap_or_default)
}

/// A bad scope list; the message names the flag, never the token or secret.
fn usage(flag: &str, e: UnknownScope) -> Failure {
    Failure::msg(ExitKind::Usage, format!("{flag}: {e}"))
}

pub fn run(args: EmulateArgs) -> CmdResult {
    let config = args.config()?;
    if config.tokens.is_empty() {
        eprintln!(
            "dropbox-post: warning: no --token given; only tokens issued through oauth2/token (--app) are accepted"
        );
    }
    super::runtime()?.block_on(async {
        let running = dropbox_emulator::spawn(config).await.map_err(|e| match e {
            dropbox_emulator::EmulatorError::Faults(_)
            | dropbox_emulator::EmulatorError::NoRoot
            | dropbox_emulator::EmulatorError::TestClockNotLoopback(_) => {
                Failure::new(ExitKind::Usage, e)
            }
            other => Failure::new(ExitKind::Internal, other),
        })?;
        // Watched before the URL is out: a client may stop the emulator (or release what it
        // holds) as soon as it reads it.
        let stop = dropbox_post_core::process::stop_requested();
        let mut release = ReleaseSignal::watch();
        let mut out = std::io::stdout();
        writeln!(out, "{}", running.base_url()).exit_with(ExitKind::Internal)?;
        out.flush().exit_with(ExitKind::Internal)?;
        if let Some(ca) = running.ca_cert_path() {
            eprintln!("dropbox-post: CA certificate: {}", ca.display());
        }
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                () = release.next() => running.release_holds(),
            }
        }
        running.shutdown().await;
        Ok(())
    })
}

/// SIGUSR1, each time it comes: what releases the requests `--hold` holds. Never on other
/// systems, nor when it cannot be watched; the handler is installed by `watch`.
struct ReleaseSignal {
    #[cfg(unix)]
    usr1: Option<tokio::signal::unix::Signal>,
}

impl ReleaseSignal {
    fn watch() -> ReleaseSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let usr1 = signal(SignalKind::user_defined1())
                .map_err(|e| tracing::warn!("cannot watch SIGUSR1 (--hold): {e}"))
                .ok();
            ReleaseSignal { usr1 }
        }
        #[cfg(not(unix))]
        ReleaseSignal {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(usr1) = &mut self.usr1
            && usr1.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}
