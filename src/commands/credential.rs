//! From a sealed credential to a Dropbox client: shared by every command that talks to
//! Dropbox. Either credential type works; a refresh token is exchanged on first use.

use std::path::{Path, PathBuf};

use clap::Args;
use secrecy::SecretString;

use crate::config;
use crate::dropbox::auth::{RefreshGrant, TokenSource};
use crate::dropbox::client::DropboxClient;
use crate::dropbox::endpoint::{ENDPOINT_ENV, Endpoints};
use crate::dropbox::error::ApiError;
use crate::dropbox::space::Space;
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use crate::password::{PasswordArgs, Purpose};
use crate::seal::{self, Credential};

/// Where a new sealed credential goes and the password that seals it (`encrypt`, `auth`).
#[derive(Args, Debug)]
pub struct SealOutArgs {
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

impl SealOutArgs {
    /// Refuse an existing OUT (without --force), then get and strength-check the password.
    pub fn prepare(&self) -> CmdResult<SecretString> {
        seal::refuse_existing(&self.encrypted, self.force)?;
        let what = self.encrypted.display().to_string();
        let password = self.password.resolve(Purpose::NewSecret, &what)?;
        crate::password::check_strength(&password, self.allow_weak_password)?;
        Ok(password)
    }
}

/// Where the browsing commands (`whoami`, `ls`, `get`) find the credential and Dropbox.
#[derive(Args, Debug)]
pub struct RemoteArgs {
    /// The sealed credential file.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub encrypted: Option<PathBuf>,

    /// A study config (STUDY/conf/config.xml): uses its first dropbox script's encrypted_key.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Dropbox API base URL for every host (e.g. the emulator's http://127.0.0.1:PORT).
    #[arg(long, env = ENDPOINT_ENV, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Where paths start: `home` (your own space) or `team` (a Dropbox team's shared
    /// space, with the team folders and the member folders).
    #[arg(long, value_name = "home|team", default_value_t = Space::Home)]
    pub root: Space,
}

impl RemoteArgs {
    /// Open the credential (asking for its password) and build the client.
    pub fn client(&self) -> CmdResult<DropboxClient> {
        let sealed = self.sealed_file()?;
        let endpoints =
            Endpoints::from_option(self.endpoint.as_deref()).exit_with(ExitKind::Usage)?;
        let what = sealed.display().to_string();
        let password = self.password.resolve(Purpose::Open, &what)?;
        client_for(&sealed, &password, endpoints)
    }

    fn sealed_file(&self) -> CmdResult<PathBuf> {
        if let Some(path) = &self.encrypted {
            return Ok(path.clone());
        }
        let Some(config) = &self.config else {
            return Err(Failure::msg(
                ExitKind::Usage,
                "no credential: give --encrypted keys/dropbox.enc or --config STUDY/conf/config.xml",
            ));
        };
        let study = config::load(config, None)?;
        match study.jobs.into_iter().next() {
            Some(job) => Ok(job.encrypted_key),
            None => Err(Failure::msg(
                ExitKind::Config,
                format!(
                    "{} has no dropbox post script to take the credential from; give --encrypted FILE",
                    config.display()
                ),
            )),
        }
    }
}

/// The client for one sealed credential file.
pub fn client_for(
    sealed: &Path,
    password: &SecretString,
    endpoints: Endpoints,
) -> CmdResult<DropboxClient> {
    client_of(seal::open_file(sealed, password)?, endpoints)
}

/// The client for an opened credential.
pub fn client_of(credential: Credential, endpoints: Endpoints) -> CmdResult<DropboxClient> {
    DropboxClient::new(endpoints, token_source(credential)).exit_with(ExitKind::Internal)
}

pub fn token_source(credential: Credential) -> TokenSource {
    match credential {
        Credential::AccessToken { access_token } => TokenSource::fixed(access_token),
        Credential::RefreshToken {
            app_key,
            app_secret,
            refresh_token,
        } => TokenSource::refreshing(RefreshGrant {
            app_key,
            app_secret,
            refresh_token,
        }),
    }
}

/// The exit code an API error means: credentials (or spaces) Dropbox refuses are 5, the
/// rest 6.
pub fn exit_kind(error: &ApiError) -> ExitKind {
    match error {
        ApiError::Auth { .. }
        | ApiError::Refresh(_)
        | ApiError::Access { .. }
        | ApiError::PathRoot { .. }
        | ApiError::NoTeamSpace { .. } => ExitKind::Auth,
        ApiError::Exhausted { last, .. } => exit_kind(last),
        _ => ExitKind::Transfer,
    }
}

/// An API error as the command's failure.
pub fn failure(error: ApiError) -> Failure {
    Failure::new(exit_kind(&error), error)
}
