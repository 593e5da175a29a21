//! Command-line interface: argument definitions only (clap derive). Each subcommand's
//! arguments live beside its implementation in `commands/`.

use clap::{Parser, Subcommand};

use crate::commands;

const AFTER_HELP: &str = "\
Examples:
  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc
  dropbox-post init study          # set a librec-auto study up for posting
  dropbox-post post --config study/conf/config.xml -k \"$PASSWORD\"
  dropbox-post emulate --root /tmp/dropbox
  dropbox-post demo

Exit codes: 0 ok, 1 internal, 2 usage, 3 config, 4 credential, 5 Dropbox auth, 6 transfer.
Docs: README.md and docs/ in the source repository.";

/// Publish experiment results to Dropbox without leaking the credential.
#[derive(Parser, Debug)]
#[command(name = "dropbox-post", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// More output: -v logs each file and request, -vv adds debug detail.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Seal a Dropbox credential with a password, in a file safe to commit.
    Encrypt(commands::encrypt::EncryptArgs),
    /// Inspect or re-seal a sealed credential file.
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// Upload a study's results to Dropbox as its config's post scripts say.
    Post(commands::post::PostArgs),
    /// Run a local Dropbox API v2 emulator.
    Emulate(commands::emulate::EmulateArgs),
    /// Run the whole job end to end on an embedded emulator.
    Demo(commands::demo::DemoArgs),
    /// Authorize this tool for a Dropbox app (OAuth, PKCE) and seal the refresh token.
    Auth(commands::auth::AuthArgs),
    /// Show the Dropbox account a sealed credential opens.
    Whoami(commands::browse::WhoamiArgs),
    /// List a Dropbox folder.
    Ls(commands::browse::LsArgs),
    /// Download a Dropbox file or folder, verified by content hash.
    Get(commands::get::GetArgs),
    /// Set a librec-auto study up for posting: a dropbox_post.py script in its config, keys/,
    /// git rules.
    Init(commands::init::InitArgs),
    /// Print the folder holding this install's librec-auto scripts (a config script's src).
    LibrecAutoDir,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(commands::completions::CompletionsArgs),
    /// Write the man pages into a folder.
    Man(commands::man::ManArgs),
}
