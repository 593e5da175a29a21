//! `dropbox-post encrypt`: seal a cleartext Dropbox credential into a file safe to commit.
//! Flag-compatible with librec-auto's `bin/encrypt.py` (`--key`, `--encrypted`, `--password`).
//!
//! Exit codes: a missing, unreadable or invalid cleartext `--key` file and an existing output
//! without `--force` are usage errors (2): the user's own input is wrong. No password, a weak
//! or mismatched one are credential errors (4). Failing to write the output is internal (1).

use std::path::PathBuf;

use clap::Args;

use crate::exit::CmdResult;
use crate::password::{self, PasswordArgs, Purpose};
use crate::seal::{self, KdfParams, cleartext};

const AFTER_HELP: &str = "\
The cleartext FILE holds either a bare access token on one line, or a typed JSON credential:
  {\"type\":\"refresh_token\",\"app_key\":\"…\",\"app_secret\":\"…\",\"refresh_token\":\"…\"}
(app_secret is optional). Delete it, or keep it out of git, once sealed.

Examples:
  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc
  DROPBOX_POST_PASSWORD=\"$PW\" dropbox-post encrypt --key - --encrypted keys/dropbox.enc < token.txt
  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc --password-file pw.txt --force";

/// Seal a Dropbox credential with a password.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct EncryptArgs {
    /// The cleartext credential file (`-` reads stdin); surrounding whitespace is ignored.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// Where to write the sealed file (an ASCII file safe to commit).
    #[arg(long, value_name = "OUT")]
    pub encrypted: PathBuf,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Replace OUT if it already exists.
    #[arg(long)]
    pub force: bool,

    /// Accept a password that zxcvbn rates below 3 of 4 (easy to guess offline).
    #[arg(long)]
    pub allow_weak_password: bool,
}

pub fn run(args: EncryptArgs) -> CmdResult {
    seal::refuse_existing(&args.encrypted, args.force)?;
    let credential = cleartext::read_credential(&args.key)?;
    if let Some(warning) = cleartext::git_exposure_warning(&args.key) {
        tracing::warn!("{warning}");
    }
    let what = args.encrypted.display().to_string();
    let password = args.password.resolve(Purpose::NewSecret, &what)?;
    password::check_strength(&password, args.allow_weak_password)?;
    seal::seal_to_file(
        &args.encrypted,
        &credential,
        &password,
        KdfParams::DEFAULT,
        args.force,
    )?;
    println!(
        "sealed the {} credential (fingerprint {}) into {what}",
        credential.type_name(),
        credential.fingerprint()
    );
    Ok(())
}
