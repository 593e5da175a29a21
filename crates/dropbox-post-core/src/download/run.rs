//! A whole download: look at the remote path, place its files, fetch them a few at a time,
//! and sum up what became of each.

use std::path::PathBuf;

use futures_util::StreamExt;

use super::DownloadError;
use super::fetch::{FetchError, Fetched, fetch};
use super::plan::{self, LeftOut, Placement};
use super::remote::{self, Remote};
use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use dropbox_wire::path::normalize;

/// Files in flight at once, and requests: each holds one of this many slots while it
/// downloads, a big file's ranges ([`super::fetch::RANGE`]) and other files' alike, so the
/// connections stay this few however the files are sized. At ~0.5 s a request and
/// ~12 MiB/s a connection, 16 MiB ranges fill a 100 MiB/s link from about 10 in flight
/// (bench W8); 16, as `post --jobs`.
pub(super) const PARALLEL: usize = 16;

/// What to download, and where to.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Dropbox file or folder, in Dropbox's form (`""` is the root).
    pub remote: String,
    /// Where it lands: a file's name or folder, a folder's folder.
    pub local: PathBuf,
}

impl Options {
    /// `remote` as the user typed it (`results/`, `/`).
    pub fn new(remote: &str, local: PathBuf) -> Options {
        Options {
            remote: normalize(remote),
            local,
        }
    }
}

/// What became of one file or folder of the download.
#[derive(Debug)]
pub enum Outcome {
    Fetched(Fetched),
    /// Not tried: the listing put it where nothing may be written.
    LeftOut(LeftOut),
    Failed(FetchError),
}

/// One file or folder and what became of it.
#[derive(Debug)]
pub struct Entry {
    /// The Dropbox path, as displayed.
    pub remote: String,
    /// Where it lands, as shown: below the target as the user named it.
    pub local: PathBuf,
    pub is_folder: bool,
    pub outcome: Outcome,
}

/// Hears of each file or folder as it is done (the ones left out first, then each file as
/// its download ends), to show progress or failures as they come.
pub trait Observer: Sync {
    fn done(&self, entry: &Entry);
}

/// Every file and folder that was done, in the order the [`Observer`] heard of them.
#[derive(Debug)]
pub struct Summary {
    pub entries: Vec<Entry>,
    /// Files the download was to bring, those left out included.
    pub files: usize,
    /// Dropbox refused the credential or a permission midway, which would refuse every other
    /// file too: the files not yet done were not tried.
    pub stopped: Option<ApiError>,
}

/// A [`Summary`] in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub downloaded: usize,
    pub bytes: u64,
    pub identical: usize,
    /// Files that failed or were left out.
    pub failed: usize,
    pub failed_folders: usize,
}

impl Summary {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for entry in &self.entries {
            match (&entry.outcome, entry.is_folder) {
                (Outcome::Fetched(Fetched::Downloaded(n)), _) => {
                    t.downloaded += 1;
                    t.bytes += n;
                }
                (Outcome::Fetched(Fetched::Identical), _) => t.identical += 1,
                (_, true) => t.failed_folders += 1,
                (_, false) => t.failed += 1,
            }
        }
        t
    }
}

/// Download `options.remote` to `options.local`. Dropping the future drops the downloads in
/// flight, which removes their temporary files.
pub async fn download(
    client: &DropboxClient,
    options: &Options,
    observer: &dyn Observer,
) -> Result<Summary, DownloadError> {
    let (path, local) = (options.remote.as_str(), options.local.as_path());
    let Placement {
        root,
        files,
        left_out,
    } = match remote::at(client, path, true).await? {
        Remote::File(file) => plan::single(path, file, local)?,
        Remote::Deleted => return Err(DownloadError::Deleted(path.to_string())),
        Remote::Folder(entries) => plan::tree(path, entries, local)?,
    };
    let (root, slots) = (&root, &tokio::sync::Semaphore::new(PARALLEL));
    let mut summary = Summary {
        entries: Vec::new(),
        files: files.len() + left_out.iter().filter(|l| !l.is_folder).count(),
        stopped: None,
    };
    let mut report = |entry: Entry| {
        observer.done(&entry);
        summary.entries.push(entry);
    };
    for unplaced in left_out {
        report(Entry {
            remote: unplaced.remote,
            local: root.shown(&unplaced.dest),
            is_folder: unplaced.is_folder,
            outcome: Outcome::LeftOut(unplaced.why),
        });
    }
    let mut results = futures_util::stream::iter(files)
        .map(|file| async move {
            let outcome = fetch(client, root, &file, slots).await;
            (file, outcome)
        })
        .buffer_unordered(PARALLEL);
    let mut stopped = None;
    while let Some((file, outcome)) = results.next().await {
        let outcome = match outcome {
            Ok(fetched) => Outcome::Fetched(fetched),
            // The downloads in flight are dropped with their temp files.
            Err(FetchError::Api(api)) if api.refused() => {
                stopped = Some(api);
                break;
            }
            Err(e) => Outcome::Failed(e),
        };
        report(Entry {
            remote: file.shown().to_string(),
            local: root.shown(&file.dest),
            is_folder: false,
            outcome,
        });
    }
    summary.stopped = stopped;
    Ok(summary)
}
