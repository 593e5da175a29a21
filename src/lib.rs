//! dropbox-post: publish experiment results to Dropbox with a password-sealed credential.
//!
//! Data flows one way: argv ([`commands`]) → config → credential → plan → engine → report.
//! The workspace's crates point one way too: `dropbox-wire` (what defines the wire: types,
//! header JSON, path keys, content hash, limits) and `dropbox-post-files` (local files:
//! bounded reads, atomic writes, confined folders, journals) at the bottom; the emulator
//! (`dropbox-emulator`) on those two only, which the compiler now checks; this crate on all
//! three. They are re-exported where they were: [`dropbox::types`] and its siblings,
//! [`files`], [`emulator`].

pub mod commands;
pub mod config;
pub mod dropbox;
pub use dropbox_emulator as emulator;
pub mod exit;
pub use dropbox_post_files as files;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub(crate) use dropbox_post_files::journal;
pub mod password;
pub mod patterns;
pub mod process;
pub mod redact;
pub mod seal;
pub mod study;
pub mod upload;

pub use exit::{CmdResult, ExitKind, Failure, ResultExt};
