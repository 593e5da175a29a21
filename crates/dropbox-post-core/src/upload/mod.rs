//! Posting local files and folders to Dropbox: a run ([`run`]) of scripts, each (`job`)
//! walk → plan → engine → report, then the mirror deletions.

mod buffers;
pub mod engine;
pub mod filter;
pub mod hash_cache;
mod job;
pub mod mirror;
pub mod options;
pub mod plan;
pub mod report;
pub mod resume;
pub mod run;
mod unchanged;
pub mod walk;
