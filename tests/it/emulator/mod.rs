//! The emulator on its own: every route, faults, limits, OAuth, TLS, the in-process API.

mod faults;
mod fidelity;
mod hostile;
mod inprocess;
mod limits;
mod oauth;
mod parallel;
mod routes;
mod tls;
