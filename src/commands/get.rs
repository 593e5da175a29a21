//! `dropbox-post get`: download a Dropbox file or folder with
//! [`dropbox_post_core::download`], showing each failure as it comes and a summary line.

use std::path::PathBuf;

use clap::Args;

use super::credential::RemoteArgs;
use crate::exit::{CmdResult, ExitKind, Failure};
use dropbox_post_core::download::{
    self, DownloadError, Entry, Fetched, Observer, Options, Outcome,
};
use dropbox_post_core::dropbox::space;
use dropbox_post_core::redact::untrusted;

const AFTER_HELP: &str = "\
A file lands at LOCAL, or inside LOCAL when that is an existing folder. A folder's contents
land under LOCAL (created if needed). A symbolic link already below LOCAL is never written
through: each file behind it fails; nor is anything in a .git folder written (its config
and hooks run commands). Each file lands only when its size and content hash are Dropbox's;
an interrupted get leaves no partial file. Exit 6 if any file failed (each is listed).

Examples:
  dropbox-post get /results/summary.csv . --encrypted keys/dropbox.enc
  dropbox-post get /results results-copy --config study/conf/config.xml
  dropbox-post get \"/Lab Results/run-7\" run-7 --root team --encrypted keys/dropbox.enc";

/// Download a Dropbox file or folder.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct GetArgs {
    /// The Dropbox file or folder, e.g. /results.
    #[arg(value_name = "REMOTE")]
    pub remote_path: String,

    /// Where to put it locally.
    #[arg(value_name = "LOCAL")]
    pub local: PathBuf,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: GetArgs) -> CmdResult {
    let options = Options::new(&args.remote_path, args.local);
    let client = args.remote.client()?;
    let summary = super::runtime()?.block_on(async {
        let client = space::enter(client, args.remote.root).await?;
        // On Ctrl-C or SIGTERM the downloads in flight are dropped, which removes their
        // temporary files; only then does the process end.
        tokio::select! {
            done = download::download(&client, &options, &Shown) => done.map_err(failure),
            stop = dropbox_post_core::process::stop_requested() => stop.end_process(),
        }
    })?;
    let total = summary.files;
    let t = summary.totals();
    if let Some(e) = summary.stopped {
        eprintln!(
            "got {} of {total} files ({} bytes) before Dropbox refused the rest",
            t.downloaded, t.bytes
        );
        return Err(e.into());
    }
    eprintln!(
        "got {} files ({} bytes), skipped {} identical, {} failed of {total}",
        t.downloaded, t.bytes, t.identical, t.failed
    );
    if t.failed + t.failed_folders > 0 {
        let folders = match t.failed_folders {
            0 => String::new(),
            n => format!(" and {n} folders"),
        };
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{} of {total} files{folders} failed (each is listed above); run get again: \
                 identical files are skipped",
                t.failed
            ),
        ));
    }
    Ok(())
}

fn failure(error: DownloadError) -> Failure {
    match error {
        DownloadError::Api(e) => e.into(),
        e @ DownloadError::NotAFileName(_) => Failure::new(ExitKind::Usage, e),
        e => Failure::new(ExitKind::Transfer, e),
    }
}

/// Each failure on its own line as it comes; each file fetched or kept in the log (`-v`).
struct Shown;

impl Observer for Shown {
    fn done(&self, entry: &Entry) {
        let shown = untrusted(&entry.remote);
        let dest = untrusted(&entry.local.to_string_lossy());
        let why: &dyn std::fmt::Display = match &entry.outcome {
            Outcome::Fetched(Fetched::Downloaded(n)) => {
                return tracing::info!("{shown} -> {dest}: {n} bytes");
            }
            Outcome::Fetched(Fetched::Identical) => {
                return tracing::info!("{shown}: {dest} is identical, skipped");
            }
            Outcome::LeftOut(why) => why,
            Outcome::Failed(why) => why,
        };
        eprintln!("dropbox-post: failed: {shown} -> {dest}: {why}");
    }
}
