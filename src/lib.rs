//! dropbox-post: publish experiment results to Dropbox with a password-sealed credential.
//!
//! Data flows one way: argv ([`commands`]) → config → credential → plan → engine → report.
//! The emulator shares with the client only what defines the wire: [`dropbox::types`],
//! [`dropbox::arg`] (header JSON), [`dropbox::path`] (path keys), [`dropbox::content_hash`]
//! and [`dropbox::limits`]; and the local-file helpers [`files`] and `journal`.

pub mod commands;
pub mod config;
pub mod dropbox;
pub mod emulator;
pub mod exit;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub(crate) mod journal;
pub mod password;
pub mod process;
pub mod redact;
pub mod seal;
pub mod study;
pub mod upload;

pub use exit::{CmdResult, ExitKind, Failure, ResultExt};
