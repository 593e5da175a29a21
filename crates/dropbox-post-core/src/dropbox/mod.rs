//! Dropbox API v2: wire types shared with the emulator, and the HTTP client.

pub use dropbox_wire::{arg, content_hash, limits, path, types};

pub mod auth;
pub mod bwlimit;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod pacer;
pub mod route_error;
pub mod sharing;
pub mod space;
