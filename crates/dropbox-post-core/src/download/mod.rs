//! Downloading a Dropbox file or folder: [`remote`] (what is at a Dropbox path, which `ls`
//! shows too) → [`plan`] (where each file lands below the target, and which names the local
//! system must not hold) → [`fetch`] (one file, a big one in ranges: stream, hash, verify,
//! rename into place) → [`run`] (every file, a few requests at a time, into a [`Summary`]).
//!
//! Each file streams to a temporary file beside its destination, its content hash is
//! checked against Dropbox's, and only then does it replace the destination; local files
//! with the same size and hash are kept. Below the target (LOCAL, or a single file's folder)
//! every path is reached through [`dropbox_post_files::confine`]: a symbolic link already there is
//! refused, never written through. Nothing here prints: the caller renders the [`Summary`]
//! and hears of each file as it finishes through an [`Observer`].

pub mod fetch;
pub mod plan;
pub mod remote;
pub mod run;

use std::path::PathBuf;

use crate::dropbox::error::{ApiError, short};
use dropbox_post_files::ReadError;
use dropbox_post_files::confine::Refused;

pub use fetch::{FetchError, Fetched};
pub use plan::LeftOut;
pub use run::{Entry, Observer, Options, Outcome, Summary, Totals, download};

/// Why nothing was downloaded: the remote path, or the target, cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0} was deleted on Dropbox")]
    Deleted(String),
    /// LOCAL for a single file ends in `..` or names a root: no file name to write.
    #[error("{} does not name a file; pass a file or folder name", .0.display())]
    NotAFileName(PathBuf),
    // `error`, not `source`: the message holds the cause, which a source would repeat.
    #[error("cannot open {}: {error}", .dir.display())]
    Open { dir: PathBuf, error: ReadError },
    #[error("cannot create {}: {error}", .dir.display())]
    Create { dir: PathBuf, error: std::io::Error },
    /// A name from Dropbox that would leave the target or name another file; the whole
    /// download is refused before anything is written.
    #[error(
        "Dropbox returned an unsafe {what} \"{}\"; refusing to write it (nothing was written); \
         is the endpoint really Dropbox?",
        short(.value)
    )]
    UnsafeName { what: Unsafe, value: String },
}

/// What an unsafe server-supplied name was given as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    /// A listing entry's path below the folder.
    Path,
    /// A single file's own name.
    Name,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsafe::Path => "path",
            Unsafe::Name => "name",
        })
    }
}

/// A refused path below the target, with what to do about a link.
fn refused_text(refused: &Refused) -> String {
    match refused {
        Refused::Link { .. } => format!(
            "{refused}; get writes only into the target folder, never through a link: remove \
             the link, or get into another folder"
        ),
        _ => refused.to_string(),
    }
}
