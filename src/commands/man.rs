//! `dropbox-post man DIR`: man pages generated from the clap definitions, one per command.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::Cli;
use crate::exit::{CmdResult, ExitKind, ResultExt};

const AFTER_HELP: &str = "\
Writes dropbox-post.1 and one page per subcommand (dropbox-post-post.1,
dropbox-post-key-check.1…).

Examples:
  dropbox-post man ~/.local/share/man/man1 && man dropbox-post-init
  dropbox-post man /tmp/man && man -l /tmp/man/dropbox-post.1";

/// Write the man pages into a folder.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct ManArgs {
    /// The folder to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: ManArgs) -> CmdResult {
    std::fs::create_dir_all(&args.dir)
        .exit_with(ExitKind::Internal)
        .map_err(|f| f.context(format!("cannot create {}", args.dir.display())))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Builds the subcommands' display names: dropbox-post-key-check.
    cmd.build();
    for path in write_pages(cmd, &args.dir)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// The page of `cmd` and of each visible subcommand under it, depth first.
fn write_pages(cmd: clap::Command, dir: &Path) -> CmdResult<Vec<PathBuf>> {
    let mut written = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.extend(write_pages(sub.clone(), dir)?);
    }
    let page = clap_mangen::Man::new(cmd);
    let path = dir.join(page.get_filename());
    let mut roff = Vec::new();
    page.render(&mut roff)
        .and_then(|()| std::fs::write(&path, keep_layout(&String::from_utf8_lossy(&roff))))
        .exit_with(ExitKind::Internal)
        .map_err(|f| f.context(format!("cannot write {}", path.display())))?;
    written.insert(0, path);
    Ok(written)
}

/// clap_mangen fills the after-help text into paragraphs, but ours is laid out by hand
/// (examples, lists), and a long example line would not fit a filled line: that section is
/// set in no-fill mode.
fn keep_layout(page: &str) -> String {
    let mut out = String::with_capacity(page.len() + 8);
    let mut in_extra = false;
    for line in page.split_inclusive('\n') {
        if in_extra && line.starts_with(".SH ") {
            out.push_str(".fi\n");
            in_extra = false;
        }
        out.push_str(line);
        if line.trim_end() == ".SH EXTRA" {
            out.push_str(".nf\n");
            in_extra = true;
        }
    }
    if in_extra {
        out.push_str(".fi\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_after_help_section_keeps_its_lines() {
        let page = ".TH x 1\n.SH EXTRA\nExamples:\n  x \\-\\-y\n.SH VERSION\nv1\n";
        assert_eq!(
            super::keep_layout(page),
            ".TH x 1\n.SH EXTRA\n.nf\nExamples:\n  x \\-\\-y\n.fi\n.SH VERSION\nv1\n"
        );
        assert_eq!(
            super::keep_layout(".SH EXTRA\na\n"),
            ".SH EXTRA\n.nf\na\n.fi\n"
        );
    }
}
