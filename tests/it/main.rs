//! The integration tests: one binary (`cargo test --test it`), so the crate and its HTTP
//! stack are linked once. Every test drives the real `dropbox-post` through [`harness`] (its
//! API is documented at the top of `harness/mod.rs`), in a temp HOME with its own emulator.
//!
//! Run one module or test: `cargo test --test it post::` or `cargo test --test it dry_run`.
//! Update the CLI-face snapshots after a deliberate change: see tests/README.md.

mod harness;

mod auth;
mod browse;
mod ci_example;
mod cli_face;
mod concurrent;
mod demo;
mod emulator;
mod fidelity;
#[cfg(unix)] // symlinks and FIFOs
mod filters;
mod fuzz_corpus;
mod hostile;
mod init;
mod integrity;
mod isolation;
mod librec_auto;
mod mirror;
mod post;
mod post_auth;
mod python;
mod ranges;
mod resume;
mod seal_cli;
mod secrets_cli;
mod share;
