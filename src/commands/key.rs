//! `dropbox-post key …` (placeholder: being built).

use clap::Subcommand;

use crate::exit::{CmdResult, ExitKind, Failure};

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Open a sealed file and describe it, without showing the secret.
    Check,
}

pub fn run(_cmd: KeyCommand) -> CmdResult {
    Err(Failure::msg(ExitKind::Internal, "not built yet"))
}
