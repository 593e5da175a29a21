//! Dropbox API v2 through HTTP: the client, its auth and pacing. The wire types are the
//! `dropbox-wire` crate, shared with the emulator.

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
