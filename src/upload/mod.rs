//! Posting a local file or folder to Dropbox: walk → plan → engine → report.

pub mod engine;
pub mod plan;
pub mod report;
pub mod walk;
