//! dropbox-post: publish experiment results to Dropbox with a password-sealed credential.
//!
//! Data flows one way: argv → config → credential → plan → engine → report.
//! The emulator shares only the wire types in [`dropbox::types`] with the client.

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
