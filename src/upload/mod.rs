//! Posting a local file or folder to Dropbox: walk → plan → engine → report.

mod buffers;
pub mod engine;
pub mod hash_cache;
pub mod plan;
pub mod report;
mod unchanged;
pub mod walk;
