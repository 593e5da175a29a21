//! dropbox-post's library: publish experiment results to Dropbox with a password-sealed
//! credential.
//!
//! Data flows one way: config → credential → plan → engine → report; the binary crate parses
//! argv, renders what this crate returns and maps its errors to exit codes. This crate stands
//! on `dropbox-wire` (types, header JSON, path keys, content hash, limits) and
//! `dropbox-post-files` (bounded reads, atomic writes, confined folders, journals), each named
//! by its own crate; it does not know the emulator.

pub mod config;
pub mod download;
pub mod dropbox;
pub mod install;
pub mod password;
pub mod patterns;
pub mod process;
pub mod redact;
pub mod seal;
pub mod study;
pub mod upload;
