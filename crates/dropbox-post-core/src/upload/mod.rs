//! Posting local files and folders to Dropbox: a run ([`run`]) of scripts, each (`job`)
//! walk → plan → engine → report, then the mirror deletions.

mod appender;
mod batcher;
mod buffers;
mod commit;
pub mod engine;
pub mod filter;
pub mod hash_cache;
mod hash_check;
mod job;
pub mod mirror;
pub mod options;
pub mod plan;
mod reader;
pub mod report;
pub mod resume;
pub mod run;
mod session;
mod settings;
mod state;
#[cfg(test)]
mod test_support;
pub mod walk;
