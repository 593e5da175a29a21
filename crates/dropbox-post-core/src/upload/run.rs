//! One `post` run: every script of a config, each through `job`, then the mirror
//! deletions, then the summary.
//!
//! Order of work: every script is validated ([`Run::prepare`]: where it may read, its
//! filters) and, while every sealed credential is opened, walked; nothing goes out before
//! every walk is in, so that a mistake any walk finds (an ignore file that cannot be read)
//! stops the run before its first byte, and so do files of two scripts that would be one on
//! Dropbox. Then each script is compared with a listing of its `dest` and sent by the
//! engine; last, if asked and nothing failed, each folder script's `dest` is mirrored
//! (`--delete`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::engine::Settings;
use super::filter::{Filter, FilterError, Pattern};
use super::hash_cache::{self, HashCache};
use super::job::{self, CacheKeys, Walked};
use super::mirror::CANNOT_DELETE;
use super::mirror::{self, Deletions, Posted, Refused};
use super::options::PostOptions;
use super::plan::{self, Landing};
use super::report::{Mirror, Observer, RunSummary, ScriptSummary};
use super::walk;
use crate::config::{ConfigGlob, JobKind, Origin, PostJob};
use crate::dropbox::bwlimit::Bandwidth;
use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::dropbox::space::{self, Space};
use crate::password::Password;
use crate::seal::{self, Credential, SealError};

/// Why a run did not begin sending.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// A script cannot be posted as it is (it reads outside its study, a filter is
    /// broken): the message names the script and the remedy.
    #[error("{0}")]
    Script(String),
    #[error(transparent)]
    Credential(#[from] SealError),
    #[error("cannot set up the HTTP client: {0}")]
    Client(ApiError),
    /// Dropbox refused or could not be reached before anything was sent (a team space).
    #[error(transparent)]
    Dropbox(#[from] ApiError),
}

/// Scripts checked for everything that needs neither a password nor Dropbox.
pub struct Run {
    jobs: Vec<PostJob>,
    /// The `dest` of each script of the config switched off (option No): kept by mirrors.
    disabled: Vec<String>,
    filters: Vec<Arc<Filter>>,
    options: PostOptions,
}

impl Run {
    /// Refuses a script that reads outside its study directory without leave, and builds
    /// each script's filter: a mistake in any is a config error before anything is sent.
    /// `disabled`: the normalised `dest` of every script switched off.
    pub fn prepare(
        jobs: Vec<PostJob>,
        disabled: Vec<String>,
        options: PostOptions,
    ) -> Result<Run, PostError> {
        // A command line without a config names the user's own path, as `cp` would; a
        // config (and librec-auto's form, which passes a config's params) may be anyone's.
        let from_config = options.config.is_some();
        if let Some(job) = jobs
            .iter()
            .find(|job| from_config && job.outside && !options.may_leave(job))
        {
            return Err(outside(job, &options));
        }
        let filters = jobs
            .iter()
            .map(|job| filter(job, &options))
            .collect::<Result<_, _>>()?;
        Ok(Run {
            jobs,
            disabled,
            filters,
            options,
        })
    }

    /// Posts every script with the credentials `password` opens, telling `observer` as it
    /// goes. A failure before anything is sent (a credential, a walk) is the error; what
    /// happened after is in [`Finished`].
    pub async fn post(
        self,
        password: &Password,
        observer: Arc<dyn Observer>,
    ) -> Result<Finished, PostError> {
        let Run {
            jobs,
            disabled,
            filters,
            options,
        } = self;
        // Walking needs no credential: the trees are walked while the keys are opened (the
        // default KDF takes a few hundred milliseconds; a re-run's walk about as long).
        let cache_dir = hash_cache::default_dir();
        let walks: Vec<_> = (jobs.iter().zip(&filters))
            .map(|(job, filter)| {
                let (kind, local) = (job.kind, job.path.clone());
                let cache_dir = cache_dir.clone().filter(|_| options.hash_cache);
                let leave = options.may_leave(job);
                let filter = filter.clone();
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    let tree = match kind {
                        JobKind::File => walk::walk_file(&local, &filter),
                        JobKind::Folder => walk::walk_folder(&local, &filter, leave),
                    };
                    let cache = cache_dir
                        .map_or_else(HashCache::disabled, |dir| HashCache::open(&dir, &local));
                    (tree, cache, started.elapsed())
                })
            })
            .collect();
        let (clients, cache_keys) = open_clients(&jobs, &options, password).await?;
        let mut walked = Vec::new();
        for (job, walk) in jobs.iter().zip(walks) {
            let (tree, cache, took) =
                (walk.await).unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            let tree = tree.map_err(|e| filter_error(job, &options, e))?;
            walked.push(Walked { tree, cache, took });
        }
        refuse_clashes(&jobs, &options, &mut walked);
        let settings = Settings {
            transfers: options.transfers,
            chunk_size: options.chunk_size,
            dry_run: options.dry_run,
            ..Settings::default()
        };
        let resume_dir = cache_dir.filter(|_| options.resume && !options.dry_run);
        let started = Instant::now();
        let mut summaries = Vec::new();
        let mut posted = Vec::new();
        let mut stopped: Option<ApiError> = None;
        for (job, walked) in jobs.iter().zip(walked) {
            let script = job::Script {
                job,
                client: clients[&client_key(job, &options)].clone(),
                options: &options,
                settings: &settings,
                resume_dir: resume_dir.as_deref(),
                keys: &cache_keys[&job.encrypted_key],
                observer: &observer,
            };
            let (summary, fatal, keys) = script.post(walked).await;
            observer.script_done(&summary);
            summaries.push(summary);
            posted.push(keys);
            if fatal.is_some() {
                stopped = fatal;
                break;
            }
        }
        if stopped.is_none() {
            let mirror = Mirrors {
                jobs: &jobs,
                disabled: &disabled,
                filters: &filters,
                clients: &clients,
                options: &options,
                observer: &*observer,
            };
            stopped = mirror.run(&posted, &mut summaries).await;
        }
        let summary = RunSummary::new(
            summaries,
            options.dry_run,
            started.elapsed(),
            stopped.as_ref().map(ToString::to_string),
        );
        let scripts = jobs.len();
        Ok(Finished {
            summary,
            stopped,
            scripts,
        })
    }
}

/// What a run did once it began sending.
pub struct Finished {
    pub summary: RunSummary,
    /// The failure that stopped the run early (in `summary.error` as text).
    pub stopped: Option<ApiError>,
    /// The scripts the run was to post; those after a failure that stopped it have no
    /// summary.
    pub scripts: usize,
}

/// Where a script comes from, for messages: `CONFIG:LINE: post script N`, or the command line.
fn script_name(job: &PostJob, options: &PostOptions) -> String {
    match (job.origin, &options.config) {
        (_, None) => "--path".into(),
        (Origin::Args, Some(config)) => {
            format!("{} (librec-auto's form): --path", config.display())
        }
        (Origin::Config { line }, Some(config)) => {
            format!("{}:{line}: post script {}", config.display(), job.script)
        }
    }
}

/// The refusal of a script that reads outside its study directory without leave.
fn outside(job: &PostJob, options: &PostOptions) -> PostError {
    let script = script_name(job, options);
    let leave = if options.shares(job) {
        " (the script shares what it posts, so its allow_outside param is not enough)"
    } else {
        ", or <param name=\"allow_outside\">true</param> in the script"
    };
    let path = std::fs::canonicalize(&job.path).unwrap_or_else(|_| job.path.clone());
    PostError::Script(format!(
        "{script}: {} is outside the study directory; a config can name any file you \
         can read, so posting it needs --allow-outside{leave}",
        path.display()
    ))
}

/// A script's filter: its own params, then the command line's patterns, and a folder's
/// `.dropboxignore`, over its path in its study.
fn filter(job: &PostJob, options: &PostOptions) -> Result<Arc<Filter>, PostError> {
    let config = options.config_name();
    let patterns = |script: &[ConfigGlob], flags: &[String], flag: &str| {
        let from_config = script.iter().map(|g| Pattern {
            glob: g.glob.clone(),
            origin: format!("{config} line {}", g.line),
        });
        let from_flags = flags.iter().map(|g| Pattern {
            glob: g.clone(),
            origin: flag.to_string(),
        });
        from_config.chain(from_flags).collect::<Vec<_>>()
    };
    let excludes = patterns(&job.excludes, &options.exclude, "--exclude");
    let includes = patterns(&job.includes, &options.include, "--include");
    let is_dir = job.kind == JobKind::Folder;
    let filter = Filter::for_job(&excludes, &includes, &job.path, is_dir, &job.study_dir);
    Ok(Arc::new(filter.map_err(|e| filter_error(job, options, e))?))
}

/// A pattern or an ignore file of `job` that cannot be used: a config error.
fn filter_error(job: &PostJob, options: &PostOptions, e: FilterError) -> PostError {
    PostError::Script(format!("{}: {e}", script_name(job, options)))
}

/// Takes out of the walked trees what two files (of one script or two) would be one file on
/// Dropbox; only scripts into the same Dropbox (credential and space) can clash.
fn refuse_clashes(jobs: &[PostJob], options: &PostOptions, walked: &mut [Walked]) {
    let mut spaces = HashMap::new();
    let mut landings: Vec<Landing> = (jobs.iter().zip(walked))
        .map(|(job, walked)| {
            let next = spaces.len();
            let space = *spaces.entry(client_key(job, options)).or_insert(next);
            Landing {
                script: job.script,
                space,
                dest: &job.dest,
                tree: &mut walked.tree,
            }
        })
        .collect();
    plan::refuse_clashes(&mut landings);
}

type Clients = HashMap<(PathBuf, Space), Arc<DropboxClient>>;

/// A job's credential and the space its dest is in.
fn client_key(job: &PostJob, options: &PostOptions) -> (PathBuf, Space) {
    (job.encrypted_key.clone(), options.space_of(job))
}

/// One client per credential and space, before anything is sent: each sealed credential
/// is opened once (one password for all), each team space's root read once. Also each
/// credential's keys of the cache folder, by sealed file.
async fn open_clients(
    jobs: &[PostJob],
    options: &PostOptions,
    password: &Password,
) -> Result<(Clients, HashMap<PathBuf, CacheKeys>), PostError> {
    let bandwidth = options.bwlimit.map(Bandwidth::new);
    let mut opened: HashMap<PathBuf, Credential> = HashMap::new();
    let mut clients = HashMap::new();
    for job in jobs {
        let key = client_key(job, options);
        if clients.contains_key(&key) {
            continue;
        }
        let credential = match opened.get(&key.0) {
            Some(c) => c.clone(),
            None => {
                let c = seal::open_file(&key.0, password)?;
                opened.insert(key.0.clone(), c.clone());
                c
            }
        };
        let client = DropboxClient::new(options.endpoints.clone(), credential.into())
            .map_err(PostError::Client)?
            .with_bandwidth(bandwidth.clone());
        let client = space::enter(client, key.1).await?;
        clients.insert(key, Arc::new(client));
    }
    let keys = (opened.iter())
        .map(|(path, credential)| (path.clone(), CacheKeys::of(credential)))
        .collect();
    Ok((clients, keys))
}

/// `--delete` (or a script's `delete` param) over a run's scripts.
struct Mirrors<'a> {
    jobs: &'a [PostJob],
    disabled: &'a [String],
    filters: &'a [Arc<Filter>],
    clients: &'a Clients,
    options: &'a PostOptions,
    observer: &'a dyn Observer,
}

impl Mirrors<'_> {
    /// Mirrors each such folder script's `dest`, unless anything in the run failed or a
    /// safety net holds ([`mirror::deletions`], `--max-delete` over all of them). The
    /// error is one that stopped the run.
    async fn run(&self, posted: &[Posted], summaries: &mut [ScriptSummary]) -> Option<ApiError> {
        let options = self.options;
        let failed: usize = summaries.iter().map(|s| s.counts.failed).sum();
        let wanted = |job: &PostJob| (options.delete || job.delete) && job.kind == JobKind::Folder;
        let plan = |i: usize| match failed {
            0 => mirror::deletions(i, posted, self.disabled, &self.filters[i], options.mirror),
            n => Err(Refused::Failed(n)),
        };
        // Every mirror is planned before any deletes: the limit is on the run's deletions.
        let mut plans: Vec<(usize, Result<Deletions, Refused>)> = (self.jobs.iter().enumerate())
            .filter(|(_, job)| wanted(job))
            .map(|(i, _)| (i, plan(i)))
            .collect();
        let total = (plans.iter().filter_map(|(_, p)| p.as_ref().ok())).map(|d| d.all.len());
        if let Some(why) = mirror::over_limit(total.sum(), options.mirror.max_delete) {
            for (_, plan) in plans.iter_mut().filter(|(_, p)| p.is_ok()) {
                *plan = Err(why.clone());
            }
        }
        for (i, plan) in plans {
            let job = &self.jobs[i];
            let client = &self.clients[&client_key(job, options)];
            let mut mirror = Mirror::default();
            let mut failed = Vec::new();
            match plan {
                Err(why) => mirror.refused = Some(why.to_string()),
                Ok(deletions) => {
                    mirror.ignored.clone_from(&deletions.hostile);
                    match mirror::run(client, deletions, options.dry_run).await {
                        Ok(done) => {
                            (mirror.deleted, mirror.kept) = (done.deleted, done.kept);
                            failed = done.failed;
                        }
                        Err(e) if e.is_fatal() => return Some(e),
                        Err(e) => failed.push((job.dest.clone(), format!("{CANNOT_DELETE}: {e}"))),
                    }
                }
            }
            summaries[i].set_mirror(mirror, failed);
            self.observer.mirror_done(&summaries[i]);
        }
        None
    }
}
