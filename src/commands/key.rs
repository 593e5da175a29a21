//! `dropbox-post key check|rekey`: inspect or re-seal a sealed credential file.
//!
//! Every failure to read or open the sealed file is a credential error (4).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::args::PasswordArgs;
use crate::exit::CmdResult;
use dropbox_post_core::password::{self, Purpose, Sources};
use dropbox_post_core::seal::{self, Credential, KdfParams, SealedFile};

const CHECK_HELP: &str = "\
Prints the format, the KDF parameters, the credential type and a SHA-256 fingerprint of the
token (first 8 bytes), never the token. The same token always has the same fingerprint.

Examples:
  dropbox-post key check --encrypted keys/dropbox.enc
  DROPBOX_POST_PASSWORD=\"$PW\" dropbox-post key check --encrypted keys/dropbox.enc";

const REKEY_HELP: &str = "\
The new password comes from --new-password-file, DROPBOX_POST_NEW_PASSWORD or a prompt
(asked twice); --keep-password reuses the current one. The file is replaced atomically.

Examples:
  dropbox-post key rekey --encrypted keys/legacy.enc --keep-password
  dropbox-post key rekey --encrypted keys/dropbox.enc --new-password-file new.txt";

/// Environment variable `key rekey` reads the new password from.
pub const NEW_PASSWORD_ENV: &str = "DROPBOX_POST_NEW_PASSWORD";

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Open a sealed file and describe it, without showing the secret.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Re-seal a file (v1 or legacy librec-auto) in the current format.
    #[command(after_help = REKEY_HELP)]
    Rekey(RekeyArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The sealed credential file.
    #[arg(long, value_name = "FILE")]
    pub encrypted: PathBuf,

    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The sealed credential file to rewrite in place.
    #[arg(long, value_name = "FILE")]
    pub encrypted: PathBuf,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Read the new password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "keep_password")]
    pub new_password_file: Option<PathBuf>,

    /// Keep the current password (upgrades the format only).
    #[arg(long)]
    pub keep_password: bool,

    /// Accept a new password that zxcvbn rates below 3 of 4 (easy to guess offline).
    #[arg(long)]
    pub allow_weak_password: bool,
}

pub fn run(cmd: KeyCommand) -> CmdResult {
    match cmd {
        KeyCommand::Check(args) => check(args),
        KeyCommand::Rekey(args) => rekey(args),
    }
}

fn check(args: CheckArgs) -> CmdResult {
    let sealed = SealedFile::read(&args.encrypted)?;
    let what = args.encrypted.display().to_string();
    let credential = sealed.open(&args.password.resolve(Purpose::Open, &what)?)?;
    if let seal::Format::V1(params) = sealed.format()
        && let Some(weakness) = params.weakness()
    {
        tracing::warn!(
            "{what}: {weakness}; re-seal it with the default cost: dropbox-post key rekey \
             --encrypted {what} --keep-password"
        );
    }
    println!("file:        {what}");
    println!("format:      {}", sealed.format().describe());
    println!("credential:  {}", credential.type_name());
    if let Credential::RefreshToken {
        app_key,
        app_secret,
        ..
    } = &credential
    {
        println!("app key:     {app_key}");
        let has_secret = if app_secret.is_some() {
            "yes"
        } else {
            "no (PKCE)"
        };
        println!("app secret:  {has_secret}");
    }
    println!("fingerprint: sha256:{}", credential.fingerprint());
    Ok(())
}

fn rekey(args: RekeyArgs) -> CmdResult {
    // A link is followed to the file it names, which is re-sealed in place: replacing the
    // link would leave the weak file where the link pointed.
    let linked = std::fs::symlink_metadata(&args.encrypted).is_ok_and(|m| m.is_symlink());
    let path = match linked {
        true => std::fs::canonicalize(&args.encrypted).unwrap_or_else(|_| args.encrypted.clone()),
        false => args.encrypted.clone(),
    };
    let sealed = SealedFile::read(&path)?;
    let what = match linked {
        true => format!(
            "{} (linked from {})",
            path.display(),
            args.encrypted.display()
        ),
        false => path.display().to_string(),
    };
    let old_password = args.password.resolve(Purpose::Open, &what)?;
    let credential = sealed.open(&old_password)?;
    let new_password = if args.keep_password {
        old_password
    } else {
        Sources {
            flag: None,
            env: NEW_PASSWORD_ENV,
            file: (args.new_password_file.as_deref()).map(|path| (path, "--new-password-file")),
            hint: "--new-password-file FILE, DROPBOX_POST_NEW_PASSWORD, or --keep-password",
        }
        .resolve(Purpose::NewSecret, &what)?
    };
    password::check_strength(new_password.secret(), args.allow_weak_password)?;
    seal::seal_to_file(
        &path,
        &credential,
        new_password.secret(),
        KdfParams::DEFAULT,
        true,
    )?;
    println!(
        "re-sealed {what} as {} (fingerprint sha256:{})",
        dropbox_post_core::seal::v1::FIRST_LINE,
        credential.fingerprint()
    );
    Ok(())
}
