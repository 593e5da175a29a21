//! `dropbox-post init`: set a librec-auto study up for posting (the work is in `study`).

use std::path::{Path, PathBuf};

use clap::Args;

use dropbox_post_core::config::JobKind;

use super::args::kind_parser;
use crate::exit::{CmdResult, ExitKind, Failure};
use dropbox_post_core::{install, study};

const AFTER_HELP: &str = "\
What it does, each only if not done already (a second run changes nothing):
  - adds a dropbox_post.py <script> to STUDY/conf/config.xml, under <post> (created if
    missing), with every other byte of the file left as it was; its src is this install's
    librec-auto scripts folder (dropbox-post librec-auto-dir);
  - creates STUDY/keys/ with a .gitattributes saying *.enc -text (sealed files are
    line-ending sensitive);
  - adds token.txt and pw.txt (clear credentials) to STUDY/.gitignore.
Nothing is written unless everything can be: a bad config, a missing conf/, a read-only
study or config, or a symbolic link where init would write (.gitignore, keys/, conf/...:
init never writes through one) is reported with exit code 3 and left untouched. Runs at
the same time edit the config one after the other (it is locked), each keeping the
others' scripts.

Examples:
  dropbox-post init                                  # the study is the current folder
  dropbox-post init studies/ml-100k --dry-run        # show the config diff, change nothing
  dropbox-post init . --option file --path post/summary.csv --dest /results/ml-100k";

/// Set a librec-auto study up for posting: a dropbox_post.py script in its config, keys/,
/// git rules.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct InitArgs {
    /// The study folder, the one holding conf/config.xml.
    #[arg(value_name = "STUDY", default_value = ".")]
    pub study: PathBuf,

    /// What the script posts: a file, or a folder's contents.
    #[arg(long, value_parser = kind_parser(), default_value = "folder")]
    pub option: JobKind,

    /// The file or folder to post, relative to the study (librec-auto's post scripts write
    /// into post/).
    #[arg(long, value_name = "PATH", default_value = "post")]
    pub path: String,

    /// The Dropbox folder to post into [default: /STUDY-FOLDER-NAME].
    #[arg(long, value_name = "DROPBOX_FOLDER")]
    pub dest: Option<String>,

    /// The folder librec-auto runs dropbox_post.py from (the script's src) [default: this
    /// install's, as `dropbox-post librec-auto-dir` prints].
    #[arg(long, value_name = "DIR")]
    pub src: Option<String>,

    /// Print what would change (a unified diff of the config) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: InitArgs) -> CmdResult {
    let dest = match args.dest {
        Some(dest) => dest,
        None => study::default_dest(&args.study)?,
    };
    let src = match args.src {
        Some(src) => src,
        None => install::librec_auto_dir()
            .map_err(|e| Failure::new(ExitKind::Usage, e))?
            .display()
            .to_string(),
    };
    let script = study::Script::new(args.option, &args.path, &dest, &src)
        .map_err(|message| Failure::msg(ExitKind::Usage, message))?;
    let waiting = |config: &Path| {
        eprintln!("{}: another init is editing it; waiting", config.display());
    };
    let plan = study::plan(&args.study, &script, &waiting)?;
    if args.dry_run {
        print!("{}", plan.config_diff());
        for line in plan.report(true) {
            println!("{line}");
        }
        println!("dry run: nothing was changed");
        return Ok(());
    }
    plan.apply()?;
    for line in plan.report(false) {
        println!("{line}");
    }
    if !plan.changes_anything() {
        println!("nothing to change: the study is already set up");
    }
    println!("\n{}", study::next_steps(&args.study));
    Ok(())
}
