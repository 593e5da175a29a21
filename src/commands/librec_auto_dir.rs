//! `dropbox-post librec-auto-dir`: where this install's librec-auto scripts are.

use crate::exit::{CmdResult, ExitKind, ResultExt};
use dropbox_post_core::install;

pub fn run() -> CmdResult {
    let dir = install::librec_auto_dir().exit_with(ExitKind::Internal)?;
    println!("{}", dir.display());
    Ok(())
}
