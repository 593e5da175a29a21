//! `dropbox-post encrypt`: seal a cleartext Dropbox credential into a file safe to commit.
//! Flag-compatible with librec-auto's `bin/encrypt.py` (`--key`, `--encrypted`, `--password`).
//!
//! Exit codes: a missing, unreadable or invalid cleartext `--key` file and an existing output
//! without `--force` are usage errors (2): the user's own input is wrong. No password, a weak
//! or mismatched one are credential errors (4). Failing to write the output is internal (1).

use std::path::PathBuf;

use clap::Args;

use crate::commands::credential::SealOutArgs;
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use dropbox_post_core::seal::{self, KdfParams, cleartext};

const AFTER_HELP: &str = "\
The cleartext FILE holds either a bare access token on one line, or a typed JSON credential:
  {\"type\":\"refresh_token\",\"app_key\":\"…\",\"app_secret\":\"…\",\"refresh_token\":\"…\"}
(app_secret is optional). Delete it, or keep it out of git, once sealed.

Examples:
  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc
  DROPBOX_POST_PASSWORD=\"$PW\" dropbox-post encrypt --key - \\
      --encrypted keys/dropbox.enc < token.txt
  dropbox-post encrypt --key token.txt --encrypted keys/dropbox.enc \\
      --password-file pw.txt --force

The default Argon2id cost (64 MiB, 3 passes) takes about 0.4 s to open on a 2-core machine;
lower it with --kdf-memory-kib only for machines that cannot spare 64 MiB.";

/// Seal a Dropbox credential with a password.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct EncryptArgs {
    /// The cleartext credential file (`-` reads stdin); surrounding whitespace is ignored.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    #[command(flatten)]
    pub out: SealOutArgs,

    /// Argon2id memory in KiB. Every guess an attacker makes costs this much memory, and so
    /// does every open (the default is 64 MiB; at most 262144 = 256 MiB).
    #[arg(long, value_name = "KiB", default_value_t = KdfParams::DEFAULT.m_kib,
          value_parser = clap::value_parser!(u32).range(8..=i64::from(KdfParams::MAX_M_KIB)))]
    pub kdf_memory_kib: u32,

    /// Argon2id passes over that memory (at most 8).
    #[arg(long, value_name = "N", default_value_t = KdfParams::DEFAULT.t,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(KdfParams::MAX_T)))]
    pub kdf_passes: u32,

    /// Accept --kdf-memory-kib/--kdf-passes below OWASP's Argon2id minimum (47104 KiB with 1
    /// pass, 19456 with 2, 12288 with 3, 9216 with 4, 7168 with 5+): for throwaway test
    /// credentials only, as every offline guess then costs almost nothing.
    #[arg(long)]
    pub allow_weak_kdf: bool,
}

pub fn run(args: EncryptArgs) -> CmdResult {
    let params = KdfParams {
        m_kib: args.kdf_memory_kib,
        t: args.kdf_passes,
        ..KdfParams::DEFAULT
    }
    // The flags' ranges are the caps every open enforces, so this only guards the invariant.
    .checked()
    .exit_with(ExitKind::Internal)?;
    if let Some(weakness) = params.weakness()
        && !args.allow_weak_kdf
    {
        return Err(Failure::msg(
            ExitKind::Usage,
            format!("{weakness}; raise --kdf-memory-kib or --kdf-passes, or pass --allow-weak-kdf"),
        ));
    }
    let out = &args.out;
    seal::refuse_existing(&out.encrypted, out.force)?;
    let credential = cleartext::read_credential(&args.key)?;
    if let Some(warning) = cleartext::git_exposure_warning(&args.key) {
        tracing::warn!("{warning}");
    }
    let what = out.encrypted.display().to_string();
    let password = out.prepare()?;
    seal::seal_to_file(&out.encrypted, &credential, &password, params, out.force)?;
    println!(
        "sealed the {} credential (fingerprint sha256:{}) into {what}",
        credential.type_name(),
        credential.fingerprint()
    );
    Ok(())
}
