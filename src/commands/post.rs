//! `dropbox-post post`: publish a study's results as its config's dropbox post scripts say,
//! or one script given on the command line the way librec-auto passes it. The arguments
//! become the scripts and [`PostOptions`] here; the run itself is [`dropbox_post_core::upload::run`].

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use clap::builder::BoolishValueParser;

use super::args::{EndpointArgs, PasswordArgs, mode_parser};
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use crate::render::{self, post::PostView};
use dropbox_post_core::config::{self, PostJob};
use dropbox_post_core::dropbox::bwlimit;
use dropbox_post_core::dropbox::endpoint::ENDPOINT_ENV;
use dropbox_post_core::dropbox::space::Space;
use dropbox_post_core::password::Purpose;
use dropbox_post_core::patterns;
use dropbox_post_core::upload::engine::{self, ChunkSize};
use dropbox_post_core::upload::mirror::{self, Leave};
use dropbox_post_core::upload::options::PostOptions;
use dropbox_post_core::upload::plan::Mode;
use dropbox_post_core::upload::run::{Finished, Run};
use dropbox_wire::content_hash::BLOCK_SIZE;

const AFTER_HELP: &str = "\
Examples:
  dropbox-post post --config study/conf/config.xml -k \"$PASSWORD\"
  dropbox-post post --config conf/config.xml --dry-run --json
  DROPBOX_POST_PASSWORD=... dropbox-post post --config conf/config.xml --jobs 32 --mode update
  # the form librec-auto's bin/dropbox_post.py forwards (paths relative to the study dir):
  dropbox-post post config.xml --option=file --encrypted_key=keys/x.enc \\
      --path=post/r.csv --dest=/results
  # into a Dropbox team's shared space (a team folder), not the member's own folder:
  dropbox-post post --config conf/config.xml --root team

  # leave out checkpoints and data/, cap the upload at 10 MiB/s, mirror (delete extras):
  dropbox-post post --config conf/config.xml --exclude '*.ckpt' --exclude data/ \\
      --bwlimit 10M --delete

A file lands as DEST/<its name>; a folder's contents land under DEST/. Files whose size and
Dropbox content hash already match are skipped. Every committed file is checked against the
hash of what was read. A big file cut off by a killed run continues where Dropbox's copy
ends on the next post. Filters: --exclude, --include, the script's exclude/include params
and the .dropboxignore files of a posted folder (gitignore syntax; case and Unicode
normalisation ignored; UTF-8, or UTF-16 with a BOM); a file is posted only if none leaves it
out. Excludes also hold for the script's own path and for where a symlink leads.
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
    /// conf/; with --option, the current directory). Refused in librec-auto's form (CONFIG
    /// --option …), as is --endpoint there: librec-auto passes a config's params as flags.
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
    #[arg(long, value_name = "N", default_value_t = engine::DEFAULT_TRANSFERS, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// What to do when a different file is already at the destination.
    #[arg(long, value_parser = mode_parser(), default_value = "overwrite")]
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

    /// librec-auto form of the script's `allow_outside` param (librec-auto passes every
    /// param as --NAME=VALUE); like the param, it does not cover a script that shares.
    #[arg(long = "allow_outside", value_name = "BOOL", hide = true, requires = "option", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = BoolishValueParser::new())]
    pub allow_outside_param: bool,

    /// Leave out files and folders matching GLOB, in gitignore syntax, case ignored
    /// (`*.ckpt`, `data/`, `/scratch`), relative to the posted folder and to the study
    /// directory: `keys/` also keeps out a script's path keys/token.txt and a symlink into
    /// keys/. A folder left out is not entered. Repeatable; adds to the script's `exclude`
    /// params and the .dropboxignore files.
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub exclude: Vec<String>,

    /// Post only files matching GLOB or inside a folder matching it (`*.csv`, `results`).
    /// Repeatable; adds to the script's `include` params. Excludes win over includes.
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    pub include: Vec<String>,

    /// Mirror: once every file of the run is sent and none failed, delete the files and
    /// folders under each folder script's DEST that have no local counterpart and are not
    /// excluded; never anything outside DEST, posted by another script, or under the dest
    /// of a script switched off (option No). Only what DEST held when it was listed goes:
    /// a file replaced since, or a folder written into, is kept and reported (not a
    /// failure). Refused when anything failed. With --dry-run, lists what would go. A script's
    /// `<param name="delete">true</param>` does the same for that script.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = BoolishValueParser::new())]
    pub delete: bool,

    /// With --delete: the most files and folders the run may delete, all scripts together
    /// (a folder and each thing in it count one each); `off` for no limit. A run that
    /// would delete more deletes nothing, says how many it would, and exits 6. The default
    /// covers a routine clean-up and stays few enough to restore by hand from Dropbox's
    /// deleted files. In librec-auto's form (--option …) it may lower the limit only.
    #[arg(long, value_name = "N|off", default_value_t = mirror::DEFAULT_MAX_DELETE, value_parser = max_delete)]
    pub max_delete: usize,

    /// With --delete: let a script whose DEST is / mirror the whole Dropbox (with --root
    /// team, every team folder and the member folder), or, with --root team, a DEST at the
    /// top (a whole team folder, the member folder). Refused without it; a config cannot
    /// give this.
    #[arg(long)]
    pub allow_root_mirror: bool,

    /// With --delete: let a script from whose folder nothing was posted but empty files and
    /// dot-files such as .gitkeep (results not made, or a disk that is not mounted) mirror
    /// its DEST, i.e. delete everything else there. Refused without it; a config cannot
    /// give this.
    #[arg(long)]
    pub allow_empty_mirror: bool,

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

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Where each dest is: `home` (the account's own space) or `team` (a Dropbox team's
    /// shared space, e.g. dest /Lab Results for a team folder). For the scripts without a
    /// `<param name="root">`; default home.
    #[arg(long, value_name = "home|team")]
    pub root: Option<Space>,

    // The help quotes the engine's limits, so it cannot drift from them.
    #[arg(long, value_name = "MiB", default_value_t = ChunkSize::default(), value_parser = chunk_mib, help = chunk_help())]
    pub chunk_size: ChunkSize,
}

fn glob(s: &str) -> Result<String, String> {
    patterns::check_glob(s).map(|()| s.to_string())
}

/// A number, or `off` for no limit.
fn max_delete(s: &str) -> Result<usize, String> {
    match s {
        "off" => Ok(usize::MAX),
        _ => s
            .parse()
            .map_err(|_| "must be a number of files and folders, or off".into()),
    }
}

/// Bytes per second, 0 for no limit.
fn rate(s: &str) -> Result<u64, bwlimit::BadRate> {
    bwlimit::parse_rate(s).map(Option::unwrap_or_default)
}

/// `--chunk-size`'s help, from the engine's own numbers.
fn chunk_help() -> String {
    format!(
        "MiB per upload request for large files; a multiple of {}, at most {}. File data in \
         memory is capped at {} MiB (or one chunk, if larger), whatever --jobs and the file \
         sizes",
        BLOCK_SIZE >> 20,
        ChunkSize::MAX_MIB,
        engine::BUFFER_BUDGET >> 20
    )
}

/// The chunk size's one check is the engine's ([`ChunkSize::from_mib`]).
fn chunk_mib(s: &str) -> Result<ChunkSize, String> {
    let mib = s.parse::<usize>().unwrap_or(0);
    ChunkSize::from_mib(mib)
}

pub fn run(args: PostArgs) -> CmdResult {
    args.refuse_config_given()?;
    let (jobs, disabled) = args.jobs()?;
    let Some(first) = jobs.first() else {
        eprintln!("dropbox-post: the script has option No; nothing to post");
        return Ok(());
    };
    let what = first.encrypted_key.display().to_string();
    let options = args.options()?;
    let view = Arc::new(PostView::new(args.json, verbose(), options.bwlimit));
    let run = Run::prepare(jobs, disabled, options)?;
    // Asked before the walks start, so that a slow answer at a prompt leaves no stale walk.
    let password = args.password.resolve(Purpose::Open, &what)?;
    let finished = super::runtime()?.block_on(run.post(&password, view))?;
    conclude(finished, args.json)
}

/// `-v` shows every file's line.
pub fn verbose() -> bool {
    tracing::enabled!(tracing::Level::INFO)
}

/// The end of a run: its summary (or total line), then its exit: the failure that stopped
/// it, else failed files or refused mirrors.
pub fn conclude(finished: Finished, json: bool) -> CmdResult {
    render::post::finish(&finished.summary, json, finished.scripts > 1)?;
    if let Some(error) = finished.stopped {
        return Err(error.into());
    }
    let run = finished.summary;
    let totals = &run.totals;
    if totals.failed > 0 {
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{} of {} files failed (each is listed above with the reason); fix them and post again: unchanged files are skipped",
                totals.failed,
                totals.failed + totals.uploaded + totals.skipped
            ),
        ));
    }
    let refused = (run.scripts.iter())
        .filter(|s| s.refused_mirror().is_some())
        .count();
    if refused > 0 {
        return Err(Failure::msg(
            ExitKind::Transfer,
            format!(
                "{refused} mirror(s) refused, deleting nothing (each is listed above with the reason and what allows it)"
            ),
        ));
    }
    Ok(())
}

impl PostArgs {
    fn config(&self) -> Option<&PathBuf> {
        self.config.as_ref().or(self.config_arg.as_ref())
    }

    /// Everything but the scripts, as plain options.
    fn options(&self) -> CmdResult<PostOptions> {
        Ok(PostOptions {
            config: self.config().cloned(),
            endpoints: self.endpoint.endpoints()?,
            root: self.root,
            transfers: usize::from(self.jobs),
            chunk_size: self.chunk_size,
            mode: self.mode,
            force: self.force,
            hash_cache: !self.no_hash_cache,
            resume: !self.no_resume,
            dry_run: self.dry_run,
            share: self.share,
            allow_outside: self.allow_outside,
            exclude: self.exclude.clone(),
            include: self.include.clone(),
            delete: self.delete,
            mirror: self.leave()?,
            bwlimit: self.bwlimit.filter(|&rate| rate > 0),
        })
    }

    /// librec-auto runs a post script as `post CONFIG --option=… ` with each of the
    /// script's params as a flag, so there a config could give any flag: none may send the
    /// credential to another server or move the study boundary (what the outside and share
    /// rules measure from). The endpoint then comes from the environment only, and the
    /// study is the directory librec-auto runs the script in.
    fn refuse_config_given(&self) -> CmdResult<()> {
        if self.option.is_none() || self.config_arg.is_none() {
            return Ok(());
        }
        let refuse = |flag: &str, instead: &str| {
            Err(Failure::msg(
                ExitKind::Usage,
                format!(
                    "{flag} in librec-auto's form (post CONFIG --option …): librec-auto passes \
                     a config's params as flags, and a config may not set this; {instead}"
                ),
            ))
        };
        let from_env = std::env::var(ENDPOINT_ENV).ok();
        if self.endpoint.endpoint.is_some() && self.endpoint.endpoint != from_env {
            return refuse(
                "--endpoint",
                &format!("set {ENDPOINT_ENV} in the environment librec-auto runs in"),
            );
        }
        if self.target.is_some() {
            return refuse(
                "--target",
                "run librec-auto from the study, or post --config CONFIG --target DIR yourself",
            );
        }
        Ok(())
    }

    /// What the user allows a mirror. librec-auto passes each of a config's params as a
    /// flag (`--NAME=VALUE`, which the two `--allow-…-mirror` switches refuse): in that form
    /// `--max-delete` may lower the limit, never raise it.
    fn leave(&self) -> CmdResult<Leave> {
        if self.option.is_some() && self.max_delete > mirror::DEFAULT_MAX_DELETE {
            return Err(Failure::msg(
                ExitKind::Usage,
                format!(
                    "--max-delete above {} in librec-auto's form (--option …): librec-auto \
                     passes a config's params as flags, and a config may not raise the \
                     limit; post with --config CONFIG --max-delete N from the command line",
                    mirror::DEFAULT_MAX_DELETE
                ),
            ));
        }
        Ok(Leave {
            root: self.allow_root_mirror,
            empty: self.allow_empty_mirror,
            max_delete: self.max_delete,
        })
    }

    /// The scripts as the config (or the librec-auto form) gives them, and the `dest` of
    /// each one switched off.
    fn jobs(&self) -> CmdResult<(Vec<PostJob>, Vec<String>)> {
        if let Some(option) = &self.option {
            let study_dir = match &self.target {
                Some(dir) => dir.clone(),
                None => std::env::current_dir().exit_with(ExitKind::Internal)?,
            };
            let arg = |v: &Option<String>| v.clone().unwrap_or_default();
            let job = config::job_from_args(
                &study_dir,
                option,
                &arg(&self.encrypted_key),
                &arg(&self.path),
                &arg(&self.dest),
            )?;
            let with_param = |job| PostJob {
                allow_outside: self.allow_outside_param,
                ..job
            };
            return Ok((job.into_iter().map(with_param).collect(), Vec::new()));
        }
        let Some(config) = self.config() else {
            return Err(Failure::msg(
                ExitKind::Usage,
                "no study config: give --config STUDY/conf/config.xml (or --option/--encrypted_key/--path/--dest)",
            ));
        };
        let study = config::load(config, self.target.as_deref(), &mut render::note)?;
        Ok((study.jobs, study.disabled_dests))
    }
}
