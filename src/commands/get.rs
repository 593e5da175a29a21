//! `dropbox-post get`: download a Dropbox file or folder with
//! [`dropbox_post_core::download`], showing each failure as it comes and a summary line.

use std::path::PathBuf;

use clap::Args;

use super::credential::RemoteArgs;
use crate::exit::{CmdResult, ExitKind, Failure};
use crate::render;
use dropbox_post_core::download::{self, Options};
use dropbox_post_core::dropbox::space;

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
            done = download::download(&client, &options, &render::get::Shown) => done.map_err(Failure::from),
            stop = dropbox_post_core::process::stop_requested() => stop.end_process(),
        }
    })?;
    let t = summary.totals();
    render::get::finish(&summary, &t);
    if let Some(e) = summary.stopped {
        return Err(e.into());
    }
    if t.failed + t.failed_folders > 0 {
        let folders = match t.failed_folders {
            0 => String::new(),
            n => format!(" and {n} folders"),
        };
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{} of {} files{folders} failed (each is listed above); run get again: \
                 identical files are skipped",
                t.failed, summary.files
            ),
        ));
    }
    Ok(())
}
