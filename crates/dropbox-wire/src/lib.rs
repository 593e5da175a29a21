//! Dropbox API v2 as it is on the wire, shared by the client (`dropbox-post`) and the
//! emulator (`dropbox-emulator`) so that the two cannot drift apart: the routes' argument
//! and result [`types`], the `Dropbox-API-Arg` header encoding ([`arg`]), how Dropbox
//! compares paths ([`path`]), the [`content_hash`], the protocol [`limits`], and transfer
//! [`rate`]s with the token bucket that enforces them. No I/O.

pub mod arg;
pub mod content_hash;
pub mod limits;
pub mod path;
pub mod rate;
pub mod types;
