//! The command line: the top-level arguments, one module per subcommand (its arguments,
//! turned into plain options once, and its `run`), and [`run`], which dispatches.

pub mod args;
pub mod auth;
pub mod browse;
pub mod completions;
pub mod credential;
pub mod demo;
pub mod emulate;
pub mod encrypt;
pub mod get;
pub mod init;
pub mod key;
pub mod librec_auto_dir;
pub mod man;
pub mod post;

use clap::{Parser, Subcommand};

use crate::exit::{CmdResult, ExitKind, ResultExt};

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
    Encrypt(encrypt::EncryptArgs),
    /// Inspect or re-seal a sealed credential file.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Upload a study's results to Dropbox as its config's post scripts say.
    Post(post::PostArgs),
    /// Run a local Dropbox API v2 emulator.
    Emulate(emulate::EmulateArgs),
    /// Run the whole job end to end on an embedded emulator.
    Demo(demo::DemoArgs),
    /// Authorize this tool for a Dropbox app (OAuth, PKCE) and seal the refresh token.
    Auth(auth::AuthArgs),
    /// Show the Dropbox account a sealed credential opens.
    Whoami(browse::WhoamiArgs),
    /// List a Dropbox folder.
    Ls(browse::LsArgs),
    /// Download a Dropbox file or folder, verified by content hash.
    Get(get::GetArgs),
    /// Set a librec-auto study up for posting: a dropbox_post.py script in its config, keys/,
    /// git rules.
    Init(init::InitArgs),
    /// Print the folder holding this install's librec-auto scripts (a config script's src).
    LibrecAutoDir,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Write the man pages into a folder.
    Man(man::ManArgs),
}

pub fn run(command: Command) -> CmdResult {
    match command {
        Command::Encrypt(args) => encrypt::run(args),
        Command::Key(cmd) => key::run(cmd),
        Command::Post(args) => post::run(args),
        Command::Emulate(args) => emulate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Auth(args) => auth::run(args),
        Command::Whoami(args) => browse::whoami(args),
        Command::Ls(args) => browse::ls(args),
        Command::Get(args) => get::run(args),
        Command::Init(args) => init::run(args),
        Command::LibrecAutoDir => librec_auto_dir::run(),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// The one async runtime a command blocks on for its network or server work.
pub fn runtime() -> CmdResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .exit_with(ExitKind::Internal)
}
