//! Exit codes and the one error type every command returns.
//!
//! Commands classify each failure at the edge (`.exit_with(ExitKind::Config)`), so the
//! exit code says *which part* failed without `main` knowing every module's error type.
//! Modules whose errors always mean one thing implement `From<TheirError> for Failure`.

use std::fmt;

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
    pub const ALL: [ExitKind; 6] = [
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
    fn display_is_one_line_with_context() {
        let f = Failure::msg(ExitKind::Config, "no such file").context("reading conf/config.xml");
        assert_eq!(f.to_string(), "reading conf/config.xml: no such file");
    }
}
