//! One post script: its walk (done by [`super::run`] before any script sends), the listing
//! of its `dest`, the plan, the engine, the hash cache saved, and the shared link.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{self, Settings};
use super::hash_cache::{self, HashCache};
use super::mirror::{self, Posted};
use super::options::PostOptions;
use super::plan;
use super::report::{Entry, Observer, Outcome, Progress, ScriptSummary, Step, reason};
use super::resume::{self, UploadJournal};
use super::walk::LocalTree;
use crate::config::{JobKind, PostJob};
use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::dropbox::space::Space;
use crate::seal::{Credential, DerivedKey};
use dropbox_wire::path::key;

/// A script's walked tree, with its hash cache and how long the walk took.
pub(super) struct Walked {
    pub tree: LocalTree,
    pub cache: HashCache,
    pub took: Duration,
}

/// What signs a credential's records in the cache folder, so that records anyone else
/// wrote are not believed.
pub(super) struct CacheKeys {
    pub journal: DerivedKey,
    pub hashes: DerivedKey,
}

impl CacheKeys {
    pub fn of(credential: &Credential) -> CacheKeys {
        CacheKeys {
            journal: resume::journal_key(credential),
            hashes: hash_cache::hash_key(credential),
        }
    }
}

/// A script and what posting it needs.
pub(super) struct Script<'a> {
    pub job: &'a PostJob,
    pub client: Arc<DropboxClient>,
    pub options: &'a PostOptions,
    pub settings: &'a Settings,
    /// Where interrupted uploads are journalled (`None`: every upload starts afresh).
    pub resume_dir: Option<&'a Path>,
    /// The script's credential's keys.
    pub keys: &'a CacheKeys,
    pub observer: &'a Arc<dyn Observer>,
}

impl Script<'_> {
    /// List, plan, send, share what `walked` found. The error is one that stopped the run.
    pub async fn post(&self, walked: Walked) -> (ScriptSummary, Option<ApiError>, Posted) {
        let (job, options) = (self.job, self.options);
        let Walked { tree, cache, took } = walked;
        let started = Instant::now();
        let listed = plan::list(&self.client, &job.dest).await;
        let cache = Arc::new(cache.verified(self.keys.hashes.clone()));
        let bytes = tree.files.iter().map(|f| f.size).sum();
        self.observer
            .script_started(job.script, tree.files.len(), bytes);
        let progress = Arc::new(Progress::new(self.observer.clone()));
        let mut keys = mirror::posted_keys(&job.dest, &tree);
        // A file script keeps its file's place whether or not it posts it this run (left
        // out by a filter, failed): another script's mirror never deletes it.
        if let (JobKind::File, Some(name)) = (job.kind, job.path.file_name()) {
            keys.insert(key(&plan::remote_path(&job.dest, &name.to_string_lossy())));
        }
        let mut posted = Posted {
            dest: job.dest.clone(),
            folder: job.kind == JobKind::Folder,
            team: options.space_of(job) == Space::Team,
            keys,
            results: mirror::holds_results(&tree),
            whole: (tree.skipped.iter())
                .map(|rel| plan::remote_path(&job.dest, rel))
                .collect(),
            listing: None,
        };
        let result = match listed {
            Ok(remote) => {
                let walked = tree.files.clone();
                let plan = plan::make_plan(tree, &job.dest, &remote, options.mode, options.force);
                let resume = match self.resume_dir {
                    Some(dir) => UploadJournal::open(dir, &job.path, self.keys.journal.clone()),
                    None => UploadJournal::disabled(),
                };
                let sent = engine::run(
                    self.client.clone(),
                    plan,
                    self.settings.clone(),
                    progress.clone(),
                    cache.clone(),
                    Arc::new(resume),
                )
                .await;
                // Only a run that writes remembers; a failure to save costs the next run time.
                if !options.dry_run
                    && let Err(e) = cache.save(&walked)
                {
                    tracing::debug!("could not save the hash cache: {e}");
                }
                posted.listing = Some(remote);
                sent
            }
            Err(e) => {
                let why = format!("cannot list the destination: {}", reason(&e));
                let failed = Outcome::Failed(why);
                progress.record(Entry::new(job.path.clone(), job.dest.clone(), 0, failed));
                // Unreachable after every retry: the next script would wait as long in vain.
                if e.is_fatal() || e.is_unreachable() {
                    Err(e)
                } else {
                    Ok(())
                }
            }
        };
        let entries = progress.finish();
        let kind = job.kind.noun();
        let mut summary = ScriptSummary::new(
            job.script,
            kind,
            job.path.clone(),
            &job.dest,
            entries,
            // The script's time includes its walk and listing: on a re-run they are most of it.
            took + started.elapsed(),
            options.dry_run,
        );
        let mut fatal = result.err();
        if options.shares(job) && !options.dry_run && fatal.is_none() && summary.counts.failed == 0
        {
            let target = share_target(job);
            match share(&self.client, &target).await {
                Ok(url) => summary.link = Some(url),
                Err((reason, stop)) => {
                    summary.add_failure(job.path.clone(), &target, Step::Share, reason);
                    fatal = stop;
                }
            }
        }
        (summary, fatal, posted)
    }
}

/// What a script's link points to: the posted file, or the destination folder.
fn share_target(job: &PostJob) -> String {
    let dest = job.dest.trim_end_matches('/');
    match job.kind {
        JobKind::File => {
            let name = job.path.file_name().unwrap_or_default().to_string_lossy();
            format!("{dest}/{name}")
        }
        JobKind::Folder => job.dest.clone(),
    }
}

/// The link's URL, or why there is none (with the error when it must stop the run).
async fn share(client: &DropboxClient, target: &str) -> Result<String, (String, Option<ApiError>)> {
    if target == "/" {
        return Err((
            "cannot share the whole Dropbox: post into a folder (dest) to share it".into(),
            None,
        ));
    }
    match client.share(target).await {
        Ok(link) => Ok(crate::redact::untrusted(&link.url)),
        Err(e) => {
            let why = format!("cannot create a shared link: {}", reason(&e));
            Err((why, e.is_fatal().then_some(e)))
        }
    }
}
