//! `dropbox-post post`: publish a study's results as its config's dropbox post scripts say,
//! or one script given on the command line the way librec-auto passes it.
//!
//! Order of work: every script is validated (config, filters) and every sealed credential
//! opened before the first byte goes out; then each script is walked, compared with a
//! listing of its `dest`, and sent by the engine; last, if asked and nothing failed, each
//! folder script's `dest` is mirrored (`--delete`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use clap::builder::BoolishValueParser;
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::commands::credential::{self, exit_kind};
use crate::config::{self, JobKind, PostJob};
use crate::dropbox::bwlimit::{self, Bandwidth};
use crate::dropbox::client::DropboxClient;
use crate::dropbox::endpoint::{ENDPOINT_ENV, Endpoints};
use crate::dropbox::error::{ApiError, Reason};
use crate::dropbox::space::{self, Space};
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use crate::password::{PasswordArgs, Purpose};
use crate::seal::{self, Credential};
use crate::upload::engine::{self, Settings};
use crate::upload::filter::{self, Filter, Pattern};
use crate::upload::hash_cache::{self, HashCache};
use crate::upload::mirror::{self, Posted};
use crate::upload::plan::{self, Mode};
use crate::upload::report::{Mirror, Outcome, Progress, RunSummary, ScriptSummary, describe};
use crate::upload::resume::Resume;
use crate::upload::walk::{self, LocalTree};

const AFTER_HELP: &str = "\
Examples:
  dropbox-post post --config study/conf/config.xml -k \"$PASSWORD\"
  dropbox-post post --config conf/config.xml --dry-run --json
  DROPBOX_POST_PASSWORD=... dropbox-post post --config conf/config.xml --jobs 32 --mode update
  # the form librec-auto's bin/dropbox_post.py forwards (paths relative to the study dir):
  dropbox-post post config.xml --option=file --encrypted_key=keys/x.enc --path=post/r.csv --dest=/results
  # into a Dropbox team's shared space (a team folder), not the member's own folder:
  dropbox-post post --config conf/config.xml --root team

  # leave out checkpoints and data/, cap the upload at 10 MiB/s, mirror (delete extras):
  dropbox-post post --config conf/config.xml --exclude '*.ckpt' --exclude data/ --bwlimit 10M --delete

A file lands as DEST/<its name>; a folder's contents land under DEST/. Files whose size and
Dropbox content hash already match are skipped. Every committed file is checked against the
hash of what was read. A big file cut off by a killed run continues where Dropbox's copy
ends on the next post. Filters: --exclude, --include, the script's exclude/include params
and FOLDER/.dropboxignore (gitignore syntax); a file is posted only if none leaves it out.
Exit 6 if any file failed (each is listed with the reason).";

/// Upload a study's results to Dropbox as its config's post scripts say.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct PostArgs {
    /// The study config, STUDY/conf/config.xml.
    #[arg(long, value_name = "FILE", conflicts_with = "config_arg")]
    pub config: Option<PathBuf>,

    /// The study config as a positional argument (librec-auto's form). With --option, only
    /// its location matters: the script comes from the command line.
    #[arg(value_name = "CONFIG")]
    pub config_arg: Option<PathBuf>,

    /// The study directory that relative paths resolve against (default: the folder above
    /// conf/; with --option, the current directory).
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,

    /// librec-auto form: what to post, `file`, `folder` or `no` (do nothing).
    #[arg(long, value_name = "file|folder|no")]
    pub option: Option<String>,

    /// librec-auto form: the sealed credential file.
    #[arg(long = "encrypted_key", value_name = "FILE", requires = "option")]
    pub encrypted_key: Option<String>,

    /// librec-auto form: the file or folder to post.
    #[arg(long, value_name = "PATH", requires = "option")]
    pub path: Option<String>,

    /// librec-auto form: the Dropbox folder to post into, e.g. /results.
    #[arg(long, value_name = "DROPBOX_FOLDER", requires = "option")]
    pub dest: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Files in flight at once. Uploads only stage data (commits are batched), so many
    /// small files gain from more; memory is bounded separately.
    #[arg(long, value_name = "N", default_value_t = engine::DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// What to do when a different file is already at the destination.
    #[arg(long, value_enum, default_value_t = Mode::Overwrite)]
    pub mode: Mode,

    /// Upload every file, even those Dropbox already holds with the same content.
    #[arg(long)]
    pub force: bool,

    /// Hash every local file again instead of trusting the hashes remembered for files
    /// unchanged since the last post (same size, inode, mtime and ctime). The cache is
    /// kept in $DROPBOX_POST_CACHE_DIR, else $XDG_CACHE_HOME/dropbox-post or
    /// ~/.cache/dropbox-post; deleting it is always safe.
    #[arg(long)]
    pub no_hash_cache: bool,

    /// Show what would be uploaded and do nothing: opens the credential, lists DEST on
    /// Dropbox (read-only) and hashes local files to tell unchanged ones; writes nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// After each script, create (or reuse) a Dropbox shared link to what it posted: the
    /// file, or for a folder the destination folder. Printed as `link: URL` (stderr) and in
    /// the --json summary. A script's `<param name="share">true</param>` does the same.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = BoolishValueParser::new())]
    pub share: bool,

    /// Post a path outside the study directory, and follow symlinks that lead out of a
    /// posted folder. Without it such a script is refused and such links are reported, not
    /// followed: a config may come from someone else. A script's
    /// `<param name="allow_outside">true</param>` does the same, except when it shares.
    #[arg(long)]
    pub allow_outside: bool,
    /// Leave out files and folders matching GLOB, in gitignore syntax, case ignored
    /// (`*.ckpt`, `data/`, `/scratch`); a folder left out is not entered. Repeatable; adds to
    /// the script's `exclude` params and FOLDER/.dropboxignore.
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub exclude: Vec<String>,

    /// Post only files matching GLOB or inside a folder matching it (`*.csv`, `results`).
    /// Repeatable; adds to the script's `include` params. Excludes win over includes.
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub include: Vec<String>,

    /// Mirror: once every file of the run is sent and none failed, delete the files and
    /// empty folders under each folder script's DEST that have no local counterpart and are
    /// not excluded (never anything outside DEST). Refused when anything failed. With
    /// --dry-run, lists what would go. A script's `<param name="delete">true</param>` does
    /// the same for that script.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = BoolishValueParser::new())]
    pub delete: bool,

    /// Start every upload afresh. By default a big file whose upload an interrupted run
    /// left unfinished continues where Dropbox's copy ends (journalled beside the hash
    /// cache, for up to 7 days).
    #[arg(long)]
    pub no_resume: bool,

    /// Cap the upload rate, for all transfers together: e.g. 10M (MiB/s), 512K (KiB/s), 1G;
    /// a bare number is KiB/s; 0 or off for none.
    #[arg(long, value_name = "RATE", value_parser = rate)]
    pub bwlimit: Option<u64>,

    /// Print a machine-readable summary on stdout (per script and totals, with failures).
    #[arg(long)]
    pub json: bool,

    /// Dropbox API base URL for every host (e.g. the emulator's http://127.0.0.1:PORT).
    #[arg(long, env = ENDPOINT_ENV, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Where each dest is: `home` (the account's own space) or `team` (a Dropbox team's
    /// shared space, e.g. dest /Lab Results for a team folder). For the scripts without a
    /// `<param name="root">`; default home.
    #[arg(long, value_name = "home|team")]
    pub root: Option<Space>,

    /// MiB per upload request for large files; a multiple of 4, at most 148. Memory use is
    /// about three times this, whatever the file sizes.
    #[arg(long, value_name = "MiB", default_value_t = 8, value_parser = chunk_mib)]
    pub chunk_size: usize,
}

fn glob(s: &str) -> Result<String, String> {
    filter::check_glob(s).map(|()| s.to_string())
}

/// Bytes per second, 0 for no limit.
fn rate(s: &str) -> Result<u64, String> {
    bwlimit::parse_rate(s).map(Option::unwrap_or_default)
}

fn chunk_mib(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 && n % 4 == 0 && n <= 148 => Ok(n),
        _ => Err("must be a multiple of 4 between 4 and 148".into()),
    }
}

pub fn run(args: PostArgs) -> CmdResult {
    let jobs = jobs_of(&args)?;
    if jobs.is_empty() {
        eprintln!("dropbox-post: the script has option No; nothing to post");
        return Ok(());
    }
    let endpoints = Endpoints::from_option(args.endpoint.as_deref()).exit_with(ExitKind::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .exit_with(ExitKind::Internal)?;
    runtime.block_on(post(&args, jobs, endpoints))
}

/// The validated jobs, each allowed to read what it names (see [`may_leave`]).
fn jobs_of(args: &PostArgs) -> CmdResult<Vec<PostJob>> {
    let jobs = configured_jobs(args)?;
    if let Some(job) = jobs.iter().find(|job| job.outside && !may_leave(args, job)) {
        let config = args.config.as_ref().or(args.config_arg.as_ref());
        let script = match (job.line, config) {
            (0, _) | (_, None) => "--path".to_string(),
            (line, Some(config)) => {
                format!("{}:{line}: post script {}", config.display(), job.script)
            }
        };
        let share = if job.share || args.share {
            "; it shares, so only --allow-outside allows it"
        } else {
            ", or <param name=\"allow_outside\">true</param> in the script"
        };
        return Err(Failure::msg(
            ExitKind::Config,
            format!(
                "{script}: {} is outside the study directory; a config can name any file you \
                 can read, so posting it needs --allow-outside{share}",
                job.path.display()
            ),
        ));
    }
    Ok(jobs)
}

/// May `job` read outside its study directory (its `path`, symlinks out of its folder)?
/// The user's flag, or the script's own param when it does not share: a config alone can
/// never publish a link to a file from elsewhere.
fn may_leave(args: &PostArgs, job: &PostJob) -> bool {
    args.allow_outside || (job.allow_outside && !(job.share || args.share))
}

/// The jobs as the config (or the librec-auto form) gives them.
fn configured_jobs(args: &PostArgs) -> CmdResult<Vec<PostJob>> {
    let config = args.config.as_ref().or(args.config_arg.as_ref());
    if let Some(option) = &args.option {
        let study_dir = match &args.target {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().exit_with(ExitKind::Internal)?,
        };
        let arg = |v: &Option<String>| v.clone().unwrap_or_default();
        let job = config::job_from_args(
            &study_dir,
            option,
            &arg(&args.encrypted_key),
            &arg(&args.path),
            &arg(&args.dest),
        )?;
        return Ok(job.into_iter().collect());
    }
    let Some(config) = config else {
        return Err(Failure::msg(
            ExitKind::Usage,
            "no study config: give --config STUDY/conf/config.xml (or --option/--encrypted_key/--path/--dest)",
        ));
    };
    Ok(config::load(config, args.target.as_deref())?.jobs)
}

async fn post(args: &PostArgs, jobs: Vec<PostJob>, endpoints: Endpoints) -> CmdResult {
    let filters = filters(args, &jobs)?;
    // Asked before the walks start, so that a slow answer at a prompt leaves no stale walk.
    let what = jobs[0].encrypted_key.display().to_string();
    let password = args.password.resolve(Purpose::Open, &what)?;
    // Walking needs no credential: the trees are walked while the key is opened (the
    // default KDF takes a few hundred milliseconds; a re-run's walk about as long).
    let cache_dir = hash_cache::default_dir().filter(|_| !args.no_hash_cache);
    let walks: Vec<_> = (jobs.iter().zip(&filters))
        .map(|(job, filter)| {
            let (kind, local, cache_dir) = (job.kind, job.path.clone(), cache_dir.clone());
            let leave = may_leave(args, job);
            let filter = filter.clone();
            tokio::task::spawn_blocking(move || {
                let tree = match kind {
                    JobKind::File => walk::walk_file(&local, &filter),
                    JobKind::Folder => walk::walk_folder(&local, &filter, leave),
                };
                let cache =
                    cache_dir.map_or_else(HashCache::disabled, |dir| HashCache::open(&dir, &local));
                (tree, cache)
            })
        })
        .collect();
    let bandwidth = args.bwlimit.filter(|&r| r > 0).map(Bandwidth::new);
    let clients = open_clients(&jobs, args.root, &password, &endpoints, &bandwidth).await?;
    let settings = Settings {
        jobs: usize::from(args.jobs),
        chunk_size: args.chunk_size * 1024 * 1024,
        dry_run: args.dry_run,
        ..Settings::default()
    };
    let verbose = tracing::enabled!(tracing::Level::INFO);
    let started = Instant::now();
    let mut summaries = Vec::new();
    let mut posted = Vec::new();
    let mut stopped: Option<ApiError> = None;
    for (job, walk) in jobs.iter().zip(walks) {
        let client = clients[&client_key(job, args.root)].clone();
        let (summary, fatal, keys) = post_job(args, job, walk, client, &settings, verbose).await;
        if !args.json {
            if args.dry_run {
                for entry in summary.plan.iter().flatten() {
                    println!("{}", describe(entry));
                }
            }
            eprintln!("{}", summary.line());
            if let Some(link) = &summary.link {
                eprintln!("link: {link}");
            }
        }
        summaries.push(summary);
        posted.push(keys);
        if fatal.is_some() {
            stopped = fatal;
            break;
        }
    }
    if stopped.is_none() {
        stopped = mirror_all(
            args,
            &jobs,
            &filters,
            &clients,
            &posted,
            &mut summaries,
            verbose,
        )
        .await;
    }
    let run = RunSummary::new(
        summaries,
        args.dry_run,
        started.elapsed(),
        stopped.as_ref().map(ToString::to_string),
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&run).exit_with(ExitKind::Internal)?
        );
    } else if jobs.len() > 1 {
        eprintln!("{}", run.line());
    }
    if let Some(error) = stopped {
        return Err(Failure::new(exit_kind(&error), error));
    }
    if run.totals.failed > 0 {
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{} of {} files failed (each is listed above with the reason); fix them and post again: unchanged files are skipped",
                run.totals.failed,
                run.totals.failed + run.totals.uploaded + run.totals.skipped
            ),
        ));
    }
    Ok(())
}

/// Each script's filter: its own params, then the command line's patterns, and a folder's
/// `.dropboxignore`. A mistake in any is a config error before anything is sent.
fn filters(args: &PostArgs, jobs: &[PostJob]) -> CmdResult<Vec<Arc<Filter>>> {
    let config = (args.config.as_ref().or(args.config_arg.as_ref()))
        .map_or("config".into(), |c| c.display().to_string());
    let patterns = |script: &[config::ConfigGlob], flags: &[String], flag: &str| {
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
    jobs.iter()
        .map(|job| {
            let excludes = patterns(&job.excludes, &args.exclude, "--exclude");
            let includes = patterns(&job.includes, &args.include, "--include");
            let root = (job.kind == JobKind::Folder).then_some(job.path.as_path());
            let filter = Filter::new(&excludes, &includes, root).map_err(|e| {
                Failure::msg(ExitKind::Config, format!("post script {}: {e}", job.script))
            })?;
            Ok(Arc::new(filter))
        })
        .collect()
}

/// `--delete` (or a script's `delete` param): mirror each such folder script's `dest`,
/// unless anything in the run failed. The error is one that stopped the run.
async fn mirror_all(
    args: &PostArgs,
    jobs: &[PostJob],
    filters: &[Arc<Filter>],
    clients: &HashMap<(PathBuf, Space), Arc<DropboxClient>>,
    posted: &[Posted],
    summaries: &mut [ScriptSummary],
    verbose: bool,
) -> Option<ApiError> {
    let failed: usize = summaries.iter().map(|s| s.counts.failed).sum();
    let refused = (failed > 0).then(|| {
        format!("{failed} file(s) of this run failed; mirroring waits for a run where all are sent")
    });
    let wanted = |job: &PostJob| (args.delete || job.delete) && job.kind == JobKind::Folder;
    for (i, job) in jobs.iter().enumerate().filter(|(_, job)| wanted(job)) {
        let deletions = match refused {
            None => mirror::deletions(i, posted, &filters[i]),
            Some(_) => mirror::Deletions::default(),
        };
        let client = &clients[&client_key(job, args.root)];
        let (deleted, failures) =
            match mirror::run(client, &job.dest, deletions, args.dry_run).await {
                Ok(done) => done,
                Err(e) if e.is_fatal() => return Some(e),
                Err(e) => (Vec::new(), vec![(job.dest.clone(), format!("mirror: {e}"))]),
            };
        let refused = refused.clone();
        summaries[i].set_mirror(Mirror { refused, deleted }, failures);
        if !args.json {
            summaries[i].print_mirror(verbose);
        }
    }
    None
}

/// One script: walk, list, plan, send. The error is one that stopped the run.
async fn post_job(
    args: &PostArgs,
    job: &PostJob,
    walk: JoinHandle<(LocalTree, HashCache)>,
    client: Arc<DropboxClient>,
    settings: &Settings,
    verbose: bool,
) -> (ScriptSummary, Option<ApiError>, Posted) {
    let label = format!("script {}", job.script);
    let kind = match job.kind {
        JobKind::File => "file",
        JobKind::Folder => "folder",
    };
    // The local walk and the remote listing overlap: each costs about as much on a re-run.
    let (walked, listed) = tokio::join!(walk, list_dest(&client, &job.dest));
    let (tree, cache) = walked.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let cache = Arc::new(cache);
    let progress = Arc::new(Progress::new(
        &label,
        tree.files.len(),
        tree.files.iter().map(|f| f.size).sum(),
        !args.json,
        verbose,
        args.bwlimit.filter(|&r| r > 0),
    ));
    let mut posted = Posted {
        dest: job.dest.clone(),
        folder: job.kind == JobKind::Folder,
        keys: mirror::posted_keys(&job.dest, &tree),
        listing: None,
    };
    let result = match listed {
        Ok(remote) => {
            let walked = tree.files.clone();
            let plan = plan::make_plan(tree, &job.dest, &remote, args.mode, args.force);
            let resume = match hash_cache::default_dir() {
                Some(dir) if !args.no_resume && !args.dry_run => Resume::open(&dir, &job.path),
                _ => Resume::disabled(),
            };
            let sent = engine::run(
                client.clone(),
                plan,
                settings.clone(),
                progress.clone(),
                cache.clone(),
                Arc::new(resume),
            )
            .await;
            // Only a run that writes remembers; a failure to save costs the next run time.
            if !args.dry_run
                && let Err(e) = cache.save(&walked)
            {
                tracing::debug!("could not save the hash cache: {e}");
            }
            posted.listing = Some(remote);
            sent
        }
        Err(e) => {
            progress.record(crate::upload::report::Entry {
                path: job.path.clone(),
                remote: job.dest.clone(),
                bytes: 0,
                resumed: 0,
                outcome: Outcome::Failed(format!("cannot list the destination: {e}")),
            });
            if e.is_fatal() { Err(e) } else { Ok(()) }
        }
    };
    let (entries, elapsed) = progress.finish();
    let mut summary = ScriptSummary::new(
        job.script,
        kind,
        job.path.clone(),
        &job.dest,
        entries,
        elapsed,
        args.dry_run,
    );
    let mut fatal = result.err();
    if (args.share || job.share) && !args.dry_run && fatal.is_none() && summary.counts.failed == 0 {
        let target = share_target(job);
        match share(&client, &target).await {
            Ok(url) => summary.link = Some(url),
            Err((reason, stop)) => {
                summary.add_failure(job.path.clone(), &target, reason);
                fatal = stop;
            }
        }
    }
    (summary, fatal, posted)
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
            let reason = format!("cannot create a shared link: {e}");
            Err((reason, e.is_fatal().then_some(e)))
        }
    }
}

/// Everything under `dest`, keyed by lower-case path; a missing `dest` is empty.
async fn list_dest(
    client: &DropboxClient,
    dest: &str,
) -> Result<HashMap<String, crate::dropbox::types::Metadata>, ApiError> {
    let path = if dest == "/" { "" } else { dest };
    match client.list_folder_recursive(path).await {
        Ok(listing) => Ok(plan::index(listing)),
        Err(e) if e.reason() == Some(Reason::NotFound) => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

/// A job's credential and the space its dest is in (its own `root`, else `--root`).
fn client_key(job: &PostJob, default: Option<Space>) -> (PathBuf, Space) {
    let space = job.root.or(default).unwrap_or_default();
    (job.encrypted_key.clone(), space)
}

/// One client per credential and space, before anything is sent: each sealed credential
/// is opened once (one password for all), each team space's root read once.
async fn open_clients(
    jobs: &[PostJob],
    default: Option<Space>,
    password: &SecretString,
    endpoints: &Endpoints,
    bandwidth: &Option<Arc<Bandwidth>>,
) -> CmdResult<HashMap<(PathBuf, Space), Arc<DropboxClient>>> {
    let mut opened: HashMap<PathBuf, Credential> = HashMap::new();
    let mut clients = HashMap::new();
    for job in jobs {
        let key = client_key(job, default);
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
        let client =
            credential::client_of(credential, endpoints.clone())?.with_bandwidth(bandwidth.clone());
        let client = space::enter(client, key.1)
            .await
            .map_err(credential::failure)?;
        clients.insert(key, Arc::new(client));
    }
    Ok(clients)
}
