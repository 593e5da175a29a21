//! Exit codes and the one error type every command returns.
//!
//! The library's errors are typed and know no exit codes; this is where they get one.
//! Commands classify other failures at the edge (`.exit_with(ExitKind::Config)`); an error
//! type that always means one thing has its `From<TheirError> for Failure` below.

use std::fmt;

use dropbox_post_core::config::ConfigError;
use dropbox_post_core::download::DownloadError;
use dropbox_post_core::dropbox::error::ApiError;
use dropbox_post_core::password::PasswordError;
use dropbox_post_core::seal::SealError;
use dropbox_post_core::seal::cleartext::CleartextError;
use dropbox_post_core::study::StudyError;
use dropbox_post_core::upload::run::PostError;

/// The documented exit codes (README "Exit codes"); the same for every subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// A bug or an unexpected local failure (disk full, a task panicked).
    Internal,
    /// Bad command-line arguments (clap also uses 2).
    Usage,
    /// The study config is missing, malformed or names things that do not exist.
    Config,
    /// The sealed credential cannot be opened: wrong password, tampered or unreadable file,
    /// no password available.
    Credential,
    /// Dropbox refused the credential (invalid or revoked token, rejected refresh token, app
    /// key or secret), a permission the app lacks, or a space the account does not have.
    Auth,
    /// Talking to Dropbox failed, or some files could not be transferred.
    Transfer,
}

impl ExitKind {
    #[cfg(test)]
    const ALL: [ExitKind; 6] = [
        ExitKind::Internal,
        ExitKind::Usage,
        ExitKind::Config,
        ExitKind::Credential,
        ExitKind::Auth,
        ExitKind::Transfer,
    ];

    pub fn code(self) -> u8 {
        match self {
            ExitKind::Internal => 1,
            ExitKind::Usage => 2,
            ExitKind::Config => 3,
            ExitKind::Credential => 4,
            ExitKind::Auth => 5,
            ExitKind::Transfer => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExitKind::Internal => "internal",
            ExitKind::Usage => "usage",
            ExitKind::Config => "config",
            ExitKind::Credential => "credential",
            ExitKind::Auth => "Dropbox auth",
            ExitKind::Transfer => "transfer",
        }
    }
}

/// A classified failure: what went wrong (with context) and which exit code it maps to.
pub struct Failure {
    pub kind: ExitKind,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(kind: ExitKind, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            kind,
            error: error.into(),
        }
    }

    /// A failure from a plain message.
    pub fn msg(kind: ExitKind, message: impl fmt::Display) -> Self {
        Failure {
            kind,
            error: anyhow::anyhow!("{message}"),
        }
    }

    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        Failure {
            kind: self.kind,
            error: self.error.context(context),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {:#}",
            self.kind.name(),
            self.kind.code(),
            self.error
        )
    }
}

impl fmt::Display for Failure {
    /// One line: the whole context chain, outermost first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// `result.exit_with(ExitKind::Config)?` classifies any error at the call site.
pub trait ResultExt<T> {
    fn exit_with(self, kind: ExitKind) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn exit_with(self, kind: ExitKind) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(kind, e))
    }
}

pub type CmdResult<T = ()> = Result<T, Failure>;

// What each module's errors mean for the exit code: the library knows no exit codes.

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure::new(ExitKind::Config, error)
    }
}

impl From<PasswordError> for Failure {
    fn from(e: PasswordError) -> Self {
        Failure::new(ExitKind::Credential, e)
    }
}

/// The cleartext file is the user's own input to `encrypt`, so problems with it are usage errors.
impl From<CleartextError> for Failure {
    fn from(e: CleartextError) -> Self {
        Failure::new(ExitKind::Usage, e)
    }
}

impl From<SealError> for Failure {
    fn from(e: SealError) -> Self {
        let kind = match e {
            SealError::Exists { .. } | SealError::NoFolder { .. } => ExitKind::Usage,
            SealError::Write { .. } | SealError::Internal(_) => ExitKind::Internal,
            _ => ExitKind::Credential,
        };
        Failure::new(kind, e)
    }
}

/// Credentials (or spaces) Dropbox refuses are 5, the rest 6.
impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let kind = if error.refused() {
            ExitKind::Auth
        } else {
            ExitKind::Transfer
        };
        Failure::new(kind, error)
    }
}

impl From<DownloadError> for Failure {
    fn from(error: DownloadError) -> Self {
        match error {
            DownloadError::Api(e) => e.into(),
            e @ DownloadError::NotAFileName(_) => Failure::new(ExitKind::Usage, e),
            e => Failure::new(ExitKind::Transfer, e),
        }
    }
}

impl From<StudyError> for Failure {
    fn from(error: StudyError) -> Self {
        let kind = match &error {
            StudyError::Write { .. } | StudyError::Splice { .. } => ExitKind::Internal,
            StudyError::NoDefaultDest { .. } | StudyError::WrongKind { .. } => ExitKind::Usage,
            _ => ExitKind::Config,
        };
        Failure::new(kind, error)
    }
}

impl From<PostError> for Failure {
    fn from(error: PostError) -> Self {
        match error {
            PostError::Script(_) => Failure::new(ExitKind::Config, error),
            PostError::Credential(e) => e.into(),
            PostError::Client(_) => Failure::new(ExitKind::Internal, error),
            PostError::Dropbox(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_nonzero() {
        let mut codes: Vec<u8> = ExitKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ExitKind::ALL.len());
        assert!(!codes.contains(&0));
    }

    #[test]
    fn a_missing_sealed_file_is_a_credential_failure() {
        let missing =
            dropbox_post_core::seal::SealedFile::read(std::path::Path::new("/nonexistent/x.enc"));
        assert_eq!(
            Failure::from(missing.unwrap_err()).kind,
            ExitKind::Credential
        );
    }

    #[test]
    fn an_unreadable_config_is_a_config_failure_saying_why_once() {
        let missing = std::path::Path::new("/nonexistent/conf/config.xml");
        let failure =
            Failure::from(dropbox_post_core::config::load(missing, None, &mut |_| {}).unwrap_err());
        assert_eq!(failure.kind, ExitKind::Config);
        let shown = failure.to_string();
        assert_eq!(shown.matches("does not exist").count(), 1, "{shown}");
    }

    #[test]
    fn display_is_one_line_with_context() {
        let f = Failure::msg(ExitKind::Config, "no such file").context("reading conf/config.xml");
        assert_eq!(f.to_string(), "reading conf/config.xml: no such file");
    }
}
