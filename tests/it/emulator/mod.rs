//! The emulator on its own: every route, scopes and team spaces, faults, limits, hostile
//! clients, OAuth, TLS, the in-process API.

mod faults;
mod fidelity;
mod hostile;
mod inprocess;
mod limits;
mod oauth;
mod parallel;
mod routes;
mod tls;
