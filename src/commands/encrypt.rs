//! `dropbox-post encrypt` (placeholder: being built).

use clap::Args;

use crate::exit::{CmdResult, ExitKind, Failure};

#[derive(Args, Debug)]
pub struct EncryptArgs {}

pub fn run(_args: EncryptArgs) -> CmdResult {
    Err(Failure::msg(ExitKind::Internal, "not built yet"))
}
