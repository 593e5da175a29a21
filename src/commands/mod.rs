//! One module per subcommand: its arguments and its `run`.

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

use crate::cli::Command;
use crate::exit::CmdResult;

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
