//! `dropbox-post auth`: the OAuth 2 authorization-code flow with PKCE and offline access,
//! without a redirect: the user opens the printed URL, approves the app, and pastes the
//! code. The refresh token goes straight into a sealed file; it never touches disk in clear.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::args::EndpointArgs;
use super::credential::SealOutArgs;
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use dropbox_post_core::dropbox::auth::{Pkce, exchange_code};
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::endpoint::Endpoints;
use dropbox_post_core::dropbox::space;
use dropbox_post_core::seal::{self, Credential, KdfParams};
use dropbox_post_files::read_bounded;

/// The app secret, for apps that use one; never taken from argv.
pub const APP_SECRET_ENV: &str = "DROPBOX_POST_APP_SECRET";

const AFTER_HELP: &str = "\
Prints an authorization URL on stderr: open it, approve the app, and paste the code it shows
(one line on stdin). The refresh token Dropbox returns is sealed straight into OUT with a new
password; it is never written anywhere in clear. Needs no app secret (PKCE); an app secret,
if given, comes from --app-secret-file or DROPBOX_POST_APP_SECRET, never from the command line.

Examples:
  dropbox-post auth --app-key abc123xyz --encrypted keys/dropbox.enc
  DROPBOX_POST_PASSWORD=\"$PW\" dropbox-post auth --app-key abc123xyz \\
      --encrypted keys/dropbox.enc --force
  dropbox-post auth --app-key abc123xyz --app-secret-file ~/.dropbox-secret \\
      --encrypted keys/dropbox.enc

See docs/auth.md for creating the app and what to do when Dropbox revokes the token.";

/// Authorize this tool for a Dropbox app and seal the refresh token.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct AuthArgs {
    /// The app key from the Dropbox App Console.
    #[arg(long, value_name = "KEY")]
    pub app_key: String,

    /// A file holding the app secret (only for apps that need one; PKCE apps do not).
    #[arg(long, value_name = "FILE")]
    pub app_secret_file: Option<PathBuf>,

    #[command(flatten)]
    pub out: SealOutArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

pub fn run(args: AuthArgs) -> CmdResult {
    let app_key = args.app_key.trim().to_string();
    if app_key.is_empty() {
        return Err(Failure::msg(ExitKind::Usage, "--app-key is empty"));
    }
    let endpoints = args.endpoint.endpoints()?;
    // Everything that can fail locally fails before the user is sent to the browser.
    let out = &args.out;
    let password = out.prepare()?;
    let app_secret = app_secret(args.app_secret_file.as_ref())?;

    let pkce = Pkce::generate();
    let url = pkce.authorize_url(&endpoints, &app_key);
    eprintln!(
        "1. Open this URL in a browser and sign in to Dropbox:\n\n   {url}\n\n\
         2. Click \"Allow\" (you may have to sign in first).\n\
         3. Copy the authorization code Dropbox shows and paste it here."
    );
    let code = read_code()?;

    let runtime = super::runtime()?;
    // A redirected token request would resend the code and verifier (or secret) elsewhere.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .exit_with(ExitKind::Internal)?;
    let refresh_token = runtime.block_on(exchange_code(
        &http,
        &endpoints.token_url(),
        &app_key,
        app_secret.as_ref(),
        code.as_str(),
        &pkce,
    ))?;
    let credential = Credential::RefreshToken {
        app_key,
        app_secret,
        refresh_token,
    };
    seal::seal_to_file(
        &out.encrypted,
        &credential,
        &password,
        KdfParams::DEFAULT,
        out.force,
    )?;
    let account = runtime.block_on(account_of(&credential, endpoints));
    println!(
        "sealed the {} credential (fingerprint sha256:{}){} into {}",
        credential.type_name(),
        credential.fingerprint(),
        account.map(|a| format!(" for {}", a)).unwrap_or_default(),
        out.encrypted.display()
    );
    Ok(())
}

/// Who approved the app, to show it; the credential is already sealed, so only warn.
async fn account_of(credential: &Credential, endpoints: Endpoints) -> Option<String> {
    let client = DropboxClient::new(endpoints, credential.clone().into()).ok()?;
    match space::current_account(&client).await {
        Ok(a) => Some(dropbox_post_core::redact::untrusted(&format!(
            "{} <{}>",
            a.name.display_name, a.email
        ))),
        Err(e) => {
            tracing::warn!("sealed, but could not read the account: {e}");
            None
        }
    }
}

/// An app secret is a few dozen characters.
const MAX_APP_SECRET_FILE: u64 = 64 * 1024;

fn app_secret(file: Option<&PathBuf>) -> CmdResult<Option<SecretString>> {
    let text = match file {
        Some(path) => {
            let fail = |e: &dyn std::fmt::Display| {
                Failure::msg(
                    ExitKind::Usage,
                    format!(
                        "cannot read the app secret file {} ({e}); check the path given to \
                         --app-secret-file",
                        path.display()
                    ),
                )
            };
            let bytes = read_bounded(path, MAX_APP_SECRET_FILE).map_err(|e| fail(&e))?;
            Zeroizing::new(
                std::str::from_utf8(&bytes)
                    .map_err(|_| fail(&"it is not UTF-8 text"))?
                    .to_owned(),
            )
        }
        None => match std::env::var(APP_SECRET_ENV) {
            Ok(value) => Zeroizing::new(value),
            Err(_) => return Ok(None),
        },
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Failure::msg(
            ExitKind::Usage,
            "the app secret is empty; drop --app-secret-file/DROPBOX_POST_APP_SECRET for a PKCE app",
        ));
    }
    Ok(Some(SecretString::from(secret)))
}

/// Dropbox's codes are some 43 characters: a longer line is not one (and `< /dev/zero`
/// must not be read until memory runs out).
const MAX_CODE_LINE: u64 = 4 << 10;

/// One line from stdin: the authorization code.
fn read_code() -> CmdResult<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Authorization code: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = Zeroizing::new(Vec::new());
    stdin
        .lock()
        .take(MAX_CODE_LINE + 1)
        .read_until(b'\n', &mut line)
        .exit_with(ExitKind::Usage)?;
    if line.len() as u64 > MAX_CODE_LINE {
        return Err(Failure::msg(
            ExitKind::Usage,
            format!(
                "the authorization code on stdin is longer than {} KiB, so it is not one; paste \
                 the code Dropbox shows (one line)",
                MAX_CODE_LINE >> 10
            ),
        ));
    }
    let code = Zeroizing::new(String::from_utf8_lossy(&line).trim().to_string());
    if code.is_empty() {
        return Err(Failure::msg(
            ExitKind::Usage,
            "no authorization code on stdin; run `dropbox-post auth` again and paste the code Dropbox shows",
        ));
    }
    Ok(code)
}
