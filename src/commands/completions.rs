//! `dropbox-post completions SHELL`: a completion script generated from the clap definitions.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::exit::CmdResult;

const AFTER_HELP: &str = "\
Install (then open a new shell):
  bash:       dropbox-post completions bash \\
                > ~/.local/share/bash-completion/completions/dropbox-post
  zsh:        dropbox-post completions zsh > ~/.zfunc/_dropbox-post
              # and fpath+=(~/.zfunc) in ~/.zshrc, before compinit
  fish:       dropbox-post completions fish > ~/.config/fish/completions/dropbox-post.fish
  PowerShell: dropbox-post completions powershell >> $PROFILE";

/// Print a shell completion script.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> CmdResult {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "dropbox-post",
        &mut std::io::stdout(),
    );
    Ok(())
}
