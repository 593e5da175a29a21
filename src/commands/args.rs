//! Argument groups several commands flatten, and the command-line face of domain types
//! (which know nothing of clap).

use std::fmt;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use secrecy::SecretString;

use crate::exit::{CmdResult, ExitKind, ResultExt};
use dropbox_post_core::config::JobKind;
use dropbox_post_core::dropbox::endpoint::{ENDPOINT_ENV, Endpoints};
use dropbox_post_core::password::{PASSWORD_ENV, Password, PasswordError, Purpose, Sources};
use dropbox_post_core::upload::plan::Mode;

/// The password flags every command that opens a sealed file flattens into its arguments.
#[derive(clap::Args, Clone, Default)]
pub struct PasswordArgs {
    /// The password. Other local users can see it in the process list: prefer
    /// --password-file or DROPBOX_POST_PASSWORD. Also accepted as --password=PW.
    #[arg(
        short = 'k',
        long = "key_password",
        visible_alias = "password",
        value_name = "PASSWORD",
        value_parser = secret_value
    )]
    pub password: Option<SecretString>,

    /// Read the password from the first line of FILE (used unless -k is given; it wins
    /// over DROPBOX_POST_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for PasswordArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordArgs")
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

fn secret_value(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

impl PasswordArgs {
    /// The password by the rule of [`dropbox_post_core::password`]: -k, --password-file,
    /// DROPBOX_POST_PASSWORD, a prompt. `what` names the file or purpose in prompts and
    /// errors, e.g. "keys/dropbox.enc".
    pub fn resolve(&self, purpose: Purpose, what: &str) -> Result<Password, PasswordError> {
        Sources {
            flag: self.password.as_ref().map(|pw| (pw, "-k/--password")),
            file: (self.password_file.as_deref()).map(|path| (path, "--password-file")),
            env: PASSWORD_ENV,
            hint: "-k/--password PW, --password-file FILE or DROPBOX_POST_PASSWORD",
        }
        .resolve(purpose, what)
    }
}

/// Where Dropbox is, for every command that talks to it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EndpointArgs {
    /// Dropbox API base URL for every host (e.g. the emulator's http://127.0.0.1:PORT).
    #[arg(long, env = ENDPOINT_ENV, value_name = "URL")]
    pub endpoint: Option<String>,
}

impl EndpointArgs {
    /// `--endpoint` (or its variable) if given, else the real Dropbox.
    pub fn endpoints(&self) -> CmdResult<Endpoints> {
        Endpoints::from_option(self.endpoint.as_deref()).exit_with(ExitKind::Usage)
    }
}

/// `--mode`: each write mode's name and what it does.
const MODES: [(&str, Mode, &str); 3] = [
    (
        "add",
        Mode::Add,
        "Never replace an existing file that differs (it is reported as a conflict)",
    ),
    ("overwrite", Mode::Overwrite, "Replace whatever is there"),
    (
        "update",
        Mode::Update,
        "Replace only the revision seen when listing (fails if someone changed it since)",
    ),
];

/// Parses `--mode`; its help lists the modes.
pub fn mode_parser() -> impl TypedValueParser<Value = Mode> {
    PossibleValuesParser::new(MODES.map(|(name, _, help)| PossibleValue::new(name).help(help)))
        .map(|name| named(&MODES.map(|(n, mode, _)| (n, mode)), &name))
}

/// Parses `--option` (file or folder).
pub fn kind_parser() -> impl TypedValueParser<Value = JobKind> {
    let kinds = [JobKind::File, JobKind::Folder].map(|k| (k.noun(), k));
    PossibleValuesParser::new(kinds.map(|(name, _)| name)).map(move |name| named(&kinds, &name))
}

/// The value of a name clap's parser already checked is one of `table`'s.
fn named<T: Copy>(table: &[(&str, T)], name: &str) -> T {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, value)| *value)
        .expect("clap accepts only the listed names")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let args = PasswordArgs {
            password: Some(SecretString::from("hunter2-SECRET")),
            password_file: None,
        };
        let debug = format!("{args:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }
}
