//! `dropbox-post post` (placeholder: being built).

use clap::Args;

use crate::exit::{CmdResult, ExitKind, Failure};

#[derive(Args, Debug)]
pub struct PostArgs {}

pub fn run(_args: PostArgs) -> CmdResult {
    Err(Failure::msg(ExitKind::Internal, "not built yet"))
}
