//! Where a password comes from. One rule for every command, first match wins:
//!
//! 1. `-k PW` / `--password PW` / `--key_password PW` (librec-auto's spellings; visible to
//!    other local users in the process list),
//! 2. `--password-file FILE` (its first line, without the line ending),
//! 3. the environment variable `DROPBOX_POST_PASSWORD` (what CI secrets provide),
//! 4. a prompt on the terminal, only when stdin or stderr is one.
//!
//! Flags beat the environment, as in most tools: a variable left set in a shell or a CI
//! job never silently overrides the file named on the command line.
//!
//! With none of these the command fails at once, naming the three ways to give a password;
//! it never waits on a stdin nobody will write to. An empty password is always an error
//! (an unset CI secret usually expands to an empty string). Every password carries its
//! [`Source`], so that a message about it (empty, wrong) says where it came from.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use dropbox_post_files::{ReadError, read_bounded};

pub const PASSWORD_ENV: &str = "DROPBOX_POST_PASSWORD";
/// Scores below this (zxcvbn, 0–4) are refused for new passwords: 3 means zxcvbn estimates
/// at least 10^8 guesses (4: at least 10^10), which an offline attacker against a public file
/// must actually pay for (docs/security.md).
pub const MIN_SCORE: u8 = 3;

/// What the password is for: opening asks once; a new secret is asked twice and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Open,
    NewSecret,
}

/// Where a password came from, as a message names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A flag (`-k/--password`), or whatever else gave it, by name.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The first line of a file, given with the flag `flag`.
    File { flag: &'static str, path: PathBuf },
    /// Typed at the terminal.
    Prompt,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) | Source::Env(name) => f.write_str(name),
            Source::File { flag, path } => write!(f, "{flag} {}", path.display()),
            Source::Prompt => f.write_str("the terminal"),
        }
    }
}

/// A password and where it came from.
#[derive(Clone, Debug)]
pub struct Password {
    secret: SecretString,
    source: Source,
}

impl Password {
    pub fn new(secret: SecretString, source: Source) -> Password {
        Password { secret, source }
    }

    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    pub fn source(&self) -> &Source {
        &self.source
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("no password for {what} and no terminal to ask on; give it with {hint}")]
    NoTerminal { what: String, hint: &'static str },
    #[error(
        "the password from {0} is empty; give a non-empty one (an unset CI secret expands to an empty string)"
    )]
    Empty(Source),
    #[error("the password from {0} is not valid UTF-8 text; give it as text")]
    NotUtf8(Source),
    #[error("cannot read the password file {} ({error}); check the path given to {flag}", path.display())]
    File {
        flag: &'static str,
        path: PathBuf,
        error: ReadError,
    },
    #[error("cannot read the password from the terminal: {0}")]
    Prompt(std::io::Error),
    #[error("the two passwords differ; nothing was written")]
    Mismatch,
    #[error(
        "the password is too weak ({reason}); a sealed file may be public, and anyone can \
         guess passwords against it offline at full speed: choose a longer passphrase \
         (e.g. four random words), or pass --allow-weak-password"
    )]
    Weak { reason: String },
}

/// The ways one command takes a password, in the order of the rule.
pub struct Sources<'a> {
    /// The password given on the command line, and the flag's name.
    pub flag: Option<(&'a SecretString, &'static str)>,
    /// The file named on the command line, and the flag's name.
    pub file: Option<(&'a Path, &'static str)>,
    pub env: &'static str,
    /// How to give a password without a terminal, for the error message.
    pub hint: &'static str,
}

impl Sources<'_> {
    pub fn resolve(&self, purpose: Purpose, what: &str) -> Result<Password, PasswordError> {
        let password = self.find(purpose, what)?;
        crate::redact::register(password.secret.expose_secret());
        Ok(password)
    }

    fn find(&self, purpose: Purpose, what: &str) -> Result<Password, PasswordError> {
        if let Some((password, flag)) = self.flag {
            return non_empty(password.clone(), Source::Flag(flag));
        }
        if let Some((path, flag)) = self.file {
            return read_password_file(path, flag);
        }
        if let Some(value) = std::env::var_os(self.env) {
            let source = Source::Env(self.env);
            let text = Zeroizing::new(
                value
                    .into_string()
                    .map_err(|_| PasswordError::NotUtf8(source.clone()))?,
            );
            return non_empty(SecretString::from(text.as_str()), source);
        }
        if !(std::io::stdin().is_terminal() || std::io::stderr().is_terminal()) {
            return Err(PasswordError::NoTerminal {
                what: what.to_owned(),
                hint: self.hint,
            });
        }
        prompt(purpose, what)
    }
}

fn non_empty(secret: SecretString, source: Source) -> Result<Password, PasswordError> {
    if secret.expose_secret().is_empty() {
        return Err(PasswordError::Empty(source));
    }
    Ok(Password { secret, source })
}

/// A password file holds one line; anything longer is not one.
const MAX_PASSWORD_FILE: u64 = 64 * 1024;

fn read_password_file(path: &Path, flag: &'static str) -> Result<Password, PasswordError> {
    let bytes = read_bounded(path, MAX_PASSWORD_FILE).map_err(|error| PasswordError::File {
        flag,
        path: path.to_owned(),
        error,
    })?;
    let source = Source::File {
        flag,
        path: path.to_owned(),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| PasswordError::NotUtf8(source.clone()))?;
    let first_line = text.split('\n').next().unwrap_or("");
    let first_line = first_line.strip_suffix('\r').unwrap_or(first_line);
    non_empty(SecretString::from(first_line), source)
}

/// Asks on the terminal (rpassword reads /dev/tty, so a piped stdin stays untouched).
fn prompt(purpose: Purpose, what: &str) -> Result<Password, PasswordError> {
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt)
            .map(SecretString::from)
            .map_err(PasswordError::Prompt)
    };
    match purpose {
        Purpose::Open => non_empty(ask(format!("Password for {what}: "))?, Source::Prompt),
        Purpose::NewSecret => {
            let first = non_empty(ask(format!("New password for {what}: "))?, Source::Prompt)?;
            let second = ask("Repeat the new password: ".to_owned())?;
            if first.secret.expose_secret() != second.expose_secret() {
                return Err(PasswordError::Mismatch);
            }
            Ok(first)
        }
    }
}

/// Refuses a new password an offline attacker could guess (zxcvbn score below [`MIN_SCORE`])
/// unless `allow_weak`. The reason names the pattern found, never the password.
pub fn check_strength(password: &SecretString, allow_weak: bool) -> Result<(), PasswordError> {
    let estimate = zxcvbn::zxcvbn(
        password.expose_secret(),
        &["dropbox", "dropbox-post", "librec", "librec-auto"],
    );
    let score = u8::from(estimate.score());
    if allow_weak || score >= MIN_SCORE {
        return Ok(());
    }
    let mut reason = format!("strength {score} of 4, at least {MIN_SCORE} needed");
    if let Some(warning) = estimate.feedback().and_then(|f| f.warning()) {
        reason.push_str(&format!(": {warning}"));
    }
    Err(PasswordError::Weak { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_file_and_each_password_says_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\r\nsecond line\n").unwrap();
        let flag = SecretString::from("from-flag");
        let mut sources = Sources {
            flag: Some((&flag, "-k/--password")),
            file: Some((&file, "--password-file")),
            env: "DROPBOX_POST_TEST_UNSET_VARIABLE",
            hint: "",
        };
        let got = sources.resolve(Purpose::Open, "x").unwrap();
        assert_eq!(got.secret().expose_secret(), "from-flag");
        assert_eq!(got.source().to_string(), "-k/--password");
        sources.flag = None;
        let got = sources.resolve(Purpose::Open, "x").unwrap();
        assert_eq!(got.secret().expose_secret(), "from-file");
        assert_eq!(
            got.source().to_string(),
            format!("--password-file {}", file.display())
        );
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = read_password_file(&empty, "--password-file").unwrap_err();
        assert!(matches!(err, PasswordError::Empty(Source::File { .. })));
        assert!(err.to_string().contains("--password-file"), "{err}");
        let err = read_password_file(&dir.path().join("missing"), "--new-password-file");
        assert!(
            matches!(&err, Err(e @ PasswordError::File { .. }) if e.to_string().ends_with("check the path given to --new-password-file")),
            "{err:?}"
        );
        let empty_flag = SecretString::from("");
        let sources = Sources {
            flag: Some((&empty_flag, "-k/--password")),
            file: None,
            env: "DROPBOX_POST_TEST_UNSET_VARIABLE",
            hint: "",
        };
        assert!(matches!(
            sources.resolve(Purpose::Open, "x"),
            Err(PasswordError::Empty(Source::Flag(_)))
        ));
    }

    #[test]
    fn strength_check() {
        for weak in ["hunter2", "dropbox2024", "qwerty123", "librec-auto1"] {
            let err = check_strength(&SecretString::from(weak), false).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("offline"), "{message}");
            assert!(!message.contains(weak), "{message}");
            assert!(check_strength(&SecretString::from(weak), true).is_ok());
        }
        let strong = SecretString::from("correct horse battery staple");
        assert!(check_strength(&strong, false).is_ok());
    }
}
