//! What a `post` run is asked to do besides its scripts: [`PostOptions`], read by the run
//! and by each script's job alike.

use std::path::PathBuf;

use super::engine::{self, ChunkSize, Settings};
use super::mirror;
use super::plan::Mode;
use crate::config::PostJob;
use crate::dropbox::endpoint::Endpoints;
use crate::dropbox::space::Space;

/// What a run is asked to do besides its scripts, as plain values (`post`'s flags).
#[derive(Debug, Clone)]
pub struct PostOptions {
    /// The config the scripts come from, to name in messages (`None`: the command-line form).
    pub config: Option<PathBuf>,
    pub endpoints: Endpoints,
    /// The space of the scripts without a `root` param (`None`: home).
    pub root: Option<Space>,
    /// Files in flight at once.
    pub transfers: usize,
    /// Bytes per upload request of a big file.
    pub chunk_size: ChunkSize,
    pub mode: Mode,
    /// Send every file, even those Dropbox holds with the same content.
    pub force: bool,
    /// Trust remembered hashes of files unchanged since the last post.
    pub hash_cache: bool,
    /// Continue uploads an interrupted run left unfinished.
    pub resume: bool,
    pub dry_run: bool,
    /// Share what every script posted (besides the scripts that say so themselves).
    pub share: bool,
    /// Let every script read outside its study directory.
    pub allow_outside: bool,
    /// Patterns added to every script's own.
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    /// Mirror every folder script's `dest`.
    pub delete: bool,
    /// What a mirror may do beyond the defaults (`--allow-root-mirror`, …).
    pub mirror: mirror::Leave,
    /// Upload bytes per second, for all transfers together.
    pub bwlimit: Option<u64>,
}

impl Default for PostOptions {
    fn default() -> Self {
        PostOptions {
            config: None,
            endpoints: Endpoints::dropbox(),
            root: None,
            transfers: usize::from(engine::DEFAULT_TRANSFERS),
            chunk_size: Settings::default().chunk_size,
            mode: Mode::default(),
            force: false,
            hash_cache: true,
            resume: true,
            dry_run: false,
            share: false,
            allow_outside: false,
            exclude: Vec::new(),
            include: Vec::new(),
            delete: false,
            mirror: mirror::Leave::default(),
            bwlimit: None,
        }
    }
}

impl PostOptions {
    /// May `job` read outside its study directory (its `path`, symlinks out of its
    /// folder)? The user's flag, or the script's own param when it does not share: a
    /// config alone can never publish a link to a file from elsewhere.
    pub(super) fn may_leave(&self, job: &PostJob) -> bool {
        self.allow_outside || (job.allow_outside && !self.shares(job))
    }

    /// The space `job`'s dest is in: its own `root`, else `--root`, else home.
    pub(super) fn space_of(&self, job: &PostJob) -> Space {
        job.root.or(self.root).unwrap_or_default()
    }

    pub(super) fn shares(&self, job: &PostJob) -> bool {
        self.share || job.share
    }

    pub(super) fn config_name(&self) -> String {
        self.config
            .as_ref()
            .map_or("config".into(), |c| c.display().to_string())
    }
}
