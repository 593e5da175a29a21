//! `get`: each failure on its own line as it comes, each file in the log (`-v`), and the
//! summary line.

use dropbox_post_core::download::{Entry, Fetched, Observer, Outcome, Summary, Totals};
use dropbox_post_core::redact::untrusted;

/// The summary line: what was fetched, or how far the run got before Dropbox refused it.
pub fn finish(summary: &Summary, t: &Totals) {
    let total = summary.files;
    if summary.stopped.is_some() {
        eprintln!(
            "got {} of {total} files ({} bytes) before Dropbox refused the rest",
            t.downloaded, t.bytes
        );
    } else {
        eprintln!(
            "got {} files ({} bytes), skipped {} identical, {} failed of {total}",
            t.downloaded, t.bytes, t.identical, t.failed
        );
    }
}

/// Each failure on its own line as it comes; each file fetched or kept in the log (`-v`).
pub struct Shown;

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
