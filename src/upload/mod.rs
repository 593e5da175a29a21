//! Posting a local file or folder to Dropbox: walk → plan → engine → report.

mod buffers;
pub mod engine;
pub mod filter;
pub mod hash_cache;
pub mod mirror;
pub mod plan;
pub mod report;
pub mod resume;
mod unchanged;
pub mod walk;
