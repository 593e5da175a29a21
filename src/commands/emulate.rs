//! `dropbox-post emulate`: run the local Dropbox API v2 emulator until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::emulator::{self, EmulatorConfig, Faults, TlsOptions};
use crate::exit::{CmdResult, ExitKind, ResultExt};

const AFTER_HELP: &str = "\
The first line on stdout is the base URL (e.g. http://127.0.0.1:41234); point clients at it
with --endpoint URL or DROPBOX_POST_ENDPOINT=URL. State lives under --root and survives restarts.

Examples:
  dropbox-post emulate --root /tmp/dbx --token test-token
  dropbox-post emulate --root /tmp/dbx --listen 127.0.0.1:8080 --app mykey:mysecret -v
  dropbox-post emulate --root /tmp/dbx --token t --seed 7 \\
      --error-rate 0.05 --rate-limit-rate 0.05 --cut-rate 0.02
  dropbox-post emulate --root /tmp/dbx --token t --tls --ca-cert-out /tmp/dbx-ca.pem

Docs: docs/emulator.md";

#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct EmulateArgs {
    /// Directory holding the emulated Dropbox (files, metadata, sessions, OAuth grants).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// A static access token accepted forever (repeatable; also comma-separated in the
    /// environment variable). Without any, only tokens issued by oauth2/token work.
    #[arg(
        long = "token",
        value_name = "T",
        env = "DROPBOX_POST_EMULATOR_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// A registered OAuth app, `KEY` (PKCE only) or `KEY:SECRET` (repeatable).
    #[arg(long = "app", value_name = "KEY[:SECRET]")]
    pub apps: Vec<String>,

    /// Lifetime in seconds of access tokens issued by oauth2/token.
    #[arg(long, value_name = "SECS", default_value_t = 14_400)]
    pub token_lifetime: u64,

    /// Seed of the fault generator: the same seed and request order give the same faults.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Milliseconds added to every request.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,

    /// Share of API requests answered 500 or 503.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Share of API requests answered 429 (with Retry-After) or 409 too_many_write_operations.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub rate_limit_rate: f64,

    /// Share of upload requests whose connection is dropped in the middle of the body.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub cut_rate: f64,

    /// Serve HTTPS with a certificate from a CA generated at start.
    #[arg(long)]
    pub tls: bool,

    /// Where to write the CA certificate with --tls [default: ROOT/ca.pem].
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_cert_out: Option<PathBuf>,
}

impl EmulateArgs {
    fn config(self) -> EmulatorConfig {
        EmulatorConfig {
            root: self.root,
            listen: self.listen,
            tokens: self.tokens.into_iter().filter(|t| !t.is_empty()).collect(),
            apps: self
                .apps
                .iter()
                .map(|a| match a.split_once(':') {
                    Some((k, s)) => (k.to_string(), Some(s.to_string())),
                    None => (a.clone(), None),
                })
                .collect(),
            token_lifetime: Duration::from_secs(self.token_lifetime),
            faults: Faults {
                seed: self.seed,
                latency: Duration::from_millis(self.latency_ms),
                error_rate: self.error_rate,
                rate_limit_rate: self.rate_limit_rate,
                cut_rate: self.cut_rate,
            },
            tls: self.tls.then_some(TlsOptions {
                ca_cert_out: self.ca_cert_out,
            }),
        }
    }
}

pub fn run(args: EmulateArgs) -> CmdResult {
    let config = args.config();
    if config.tokens.is_empty() {
        eprintln!(
            "dropbox-post: warning: no --token given; only tokens issued through oauth2/token (--app) are accepted"
        );
    }
    let runtime = tokio::runtime::Runtime::new().exit_with(ExitKind::Internal)?;
    runtime.block_on(async {
        let running = emulator::spawn(config).await.map_err(|e| match e {
            emulator::EmulatorError::Faults(_) | emulator::EmulatorError::NoRoot => {
                crate::exit::Failure::new(ExitKind::Usage, e)
            }
            other => crate::exit::Failure::new(ExitKind::Internal, other),
        })?;
        // Watched before the URL is out: a client may stop the emulator as soon as it reads it.
        let stop = stop_requested();
        let mut out = std::io::stdout();
        writeln!(out, "{}", running.base_url()).exit_with(ExitKind::Internal)?;
        out.flush().exit_with(ExitKind::Internal)?;
        if let Some(ca) = running.ca_cert_path() {
            eprintln!("dropbox-post: CA certificate: {}", ca.display());
        }
        stop.await;
        running.shutdown().await;
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM; the handlers are installed when this is called.
fn stop_requested() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let watched = signal(SignalKind::interrupt())
            .and_then(|int| signal(SignalKind::terminate()).map(|term| (int, term)));
        async move {
            match watched {
                Ok((mut int, mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
