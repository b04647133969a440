//! The socket face of the daemon: who may connect, the handshake, framed requests in and
//! answers out, and one handler per command.
//!
//! Owns the socket path (lock file, stale socket), the accept loop, each connection's read
//! and write loop, and the dispatch to handlers. Must not run scans or hold SQL: handlers
//! ask the scan, cache and storage modules.

pub mod handlers;
pub mod lock;
pub mod server;
pub mod state;
mod upload;
