//! `dropbox-post emulate` (placeholder: being built).

use clap::Args;

use crate::exit::{CmdResult, ExitKind, Failure};

#[derive(Args, Debug)]
pub struct EmulateArgs {}

pub fn run(_args: EmulateArgs) -> CmdResult {
    Err(Failure::msg(ExitKind::Internal, "not built yet"))
}
