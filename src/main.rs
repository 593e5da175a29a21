//! The thin binary: parse arguments, run, map the failure to its exit code.

use std::process::ExitCode;

use clap::Parser;
use commands::Cli;

mod commands;
mod exit;
mod render;

fn main() -> ExitCode {
    dropbox_post_core::process::no_core_dumps();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Secrets never reach a message, and server text is cleaned where it enters one;
            // this last pass keeps the one line whole whatever slipped through.
            let line = dropbox_post_core::redact::untrusted(&failure.to_string());
            eprintln!("dropbox-post: error: {line}");
            ExitCode::from(failure.kind.code())
        }
    }
}

/// Logs go to stderr so `--json` on stdout stays machine-readable. `RUST_LOG` overrides -v.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // This workspace's crates log; their dependencies stay quiet.
    let ours = ["dropbox_post", "dropbox_post_files", "dropbox_emulator"];
    let directives: Vec<String> = ours.iter().map(|c| format!("{c}={default}")).collect();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives.join(",")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in a log file or a CI log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}
