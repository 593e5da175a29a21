//! `dropbox-post demo` (placeholder: being built).

use clap::Args;

use crate::exit::{CmdResult, ExitKind, Failure};

#[derive(Args, Debug)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> CmdResult {
    Err(Failure::msg(ExitKind::Internal, "not built yet"))
}
