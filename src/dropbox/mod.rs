//! Dropbox API v2: wire types shared with the emulator, and the HTTP client.

pub mod arg;
pub mod auth;
pub mod bwlimit;
pub mod client;
pub mod content_hash;
pub mod endpoint;
pub mod error;
pub mod limits;
pub mod pacer;
pub mod path;
pub mod sharing;
pub mod space;
pub mod types;
