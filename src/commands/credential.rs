//! From a sealed credential to a Dropbox client: the arguments shared by every command
//! that seals a credential or talks to Dropbox.

use std::path::{Path, PathBuf};

use clap::Args;
use secrecy::SecretString;

use super::args::{EndpointArgs, PasswordArgs};
use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use dropbox_post_core::config;
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::endpoint::Endpoints;
use dropbox_post_core::dropbox::space::Space;
use dropbox_post_core::password::Purpose;
use dropbox_post_core::seal::{self, Credential};

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
        dropbox_post_core::password::check_strength(password.secret(), self.allow_weak_password)?;
        Ok(password.secret().clone())
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

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Where paths start: `home` (your own space) or `team` (a Dropbox team's shared
    /// space, with the team folders and the member folders).
    #[arg(long, value_name = "home|team", default_value_t = Space::Home)]
    pub root: Space,
}

impl RemoteArgs {
    /// Open the credential (asking for its password) and build the client.
    pub fn client(&self) -> CmdResult<DropboxClient> {
        let sealed = self.sealed_file()?;
        let endpoints = self.endpoint.endpoints()?;
        let what = sealed.display().to_string();
        let password = self.password.resolve(Purpose::Open, &what)?;
        client_of(seal::open_file(&sealed, &password)?, endpoints)
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
        let study = config::load(config, None, &mut crate::render::note)?;
        match study.jobs.into_iter().next() {
            Some(job) => Ok(job.encrypted_key),
            None => Err(no_script(config)),
        }
    }
}

fn no_script(config: &Path) -> Failure {
    Failure::msg(
        ExitKind::Config,
        format!(
            "{} has no dropbox post script to take the credential from; give --encrypted FILE",
            config.display()
        ),
    )
}

/// The client for an opened credential.
pub fn client_of(credential: Credential, endpoints: Endpoints) -> CmdResult<DropboxClient> {
    DropboxClient::new(endpoints, credential.into()).exit_with(ExitKind::Internal)
}
