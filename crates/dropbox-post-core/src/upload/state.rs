//! What the files of one engine run share: the client, the caches, the byte budget, where
//! outcomes go, and the first error that stops the run.

use std::sync::{Arc, Mutex};

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;

use super::buffers::Budget;
use super::hash_cache::HashCache;
use super::plan::PlannedFile;
use super::reader::ReadError;
use super::report::{Entry, Outcome, Progress, STOPPED, reason};
use super::resume::UploadJournal;
use super::settings::Settings;

/// Why one file was not sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum FileError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("not sent: {STOPPED}")]
    Stopped,
}

pub(super) struct RunState {
    pub client: Arc<DropboxClient>,
    pub cache: Arc<HashCache>,
    pub journal: Arc<UploadJournal>,
    pub settings: Settings,
    pub progress: Arc<Progress>,
    pub budget: Arc<Budget>,
    /// Pieces of big files in flight, across all files (`--jobs`): streamed from disk, they
    /// hold little memory, but each is a connection.
    pub pieces: Arc<tokio::sync::Semaphore>,
    /// The first error that makes further work pointless; set once, stops the run.
    fatal: Mutex<Option<ApiError>>,
}

impl RunState {
    pub fn new(
        client: Arc<DropboxClient>,
        cache: Arc<HashCache>,
        journal: Arc<UploadJournal>,
        settings: Settings,
        progress: Arc<Progress>,
    ) -> RunState {
        RunState {
            client,
            cache,
            journal,
            budget: Budget::new(settings.buffer_budget),
            pieces: Arc::new(tokio::sync::Semaphore::new(settings.transfers)),
            settings,
            progress,
            fatal: Mutex::new(None),
        }
    }

    pub fn stopped(&self) -> bool {
        self.fatal.lock().expect("fatal lock poisoned").is_some()
    }

    pub fn stop(&self, error: ApiError) {
        let mut fatal = self.fatal.lock().expect("fatal lock poisoned");
        if fatal.is_none() {
            *fatal = Some(error);
        }
    }

    /// The error that stopped the run, if any.
    pub fn take_fatal(&self) -> Option<ApiError> {
        self.fatal.lock().expect("fatal lock poisoned").take()
    }

    pub fn record(&self, file: &PlannedFile, outcome: Outcome) {
        self.record_resumed(file, outcome, 0);
    }

    /// `resumed`: bytes of the file an earlier run had sent.
    pub fn record_resumed(&self, file: &PlannedFile, outcome: Outcome, resumed: u64) {
        if matches!(outcome, Outcome::Uploaded | Outcome::Skipped) {
            self.journal.forget(file);
        }
        self.progress.record(Entry {
            path: file.local.path.clone(),
            remote: file.remote.clone(),
            bytes: file.local.size,
            resumed,
            outcome,
        });
    }

    /// Every file of a request that failed as a whole; a fatal error stops the run.
    pub fn fail_all<'a>(&self, files: impl IntoIterator<Item = &'a PlannedFile>, error: ApiError) {
        for file in files {
            self.record(file, Outcome::Failed(reason(&error)));
        }
        if error.is_fatal() {
            self.stop(error);
        }
    }

    pub fn fail(&self, file: &PlannedFile, error: FileError) {
        if let FileError::Api(e) = &error
            && e.is_fatal()
        {
            self.record(file, Outcome::Failed(reason(e)));
            // Keep the typed error for the exit code and the last line.
            if let FileError::Api(e) = error {
                self.stop(e);
            }
            return;
        }
        self.record(file, Outcome::Failed(error.to_string()));
    }
}
