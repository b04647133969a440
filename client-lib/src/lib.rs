//! picket-client: the one way to talk to picketd from Rust. The `picket` CLI, the
//! end-to-end tests and the benchmarks all use it.
//!
//! Owns the connection policy: where the socket is (`default_socket`, `connect_found`:
//! the user's daemon, else the system one's at `SYSTEM_SOCKET`), connecting and the
//! handshake (`Client::connect`), starting the daemon when none runs
//! (`Client::connect_or_start`), one typed method per request, and wait/follow event
//! streams (`Events`). Must not print, choose exit codes or hints for a terminal: callers
//! turn `ClientError` into what their users see. The wire format is picket-protocol's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), picket_client::ClientError> {
//! let mut client = picket_client::Client::connect_or_start(picket_client::default_socket()).await?;
//! let pong = client.ping().await?;
//! println!("picketd {} pid {}", pong.daemon_version, pong.pid);
//! # Ok(()) }
//! ```

mod autostart;
mod client;
mod discover;
mod error;
mod events;
mod import;
mod parts;
#[cfg(test)]
mod tests;

pub use client::{default_socket, Accepted, CacheReply, Client, Welcome};
pub use discover::SYSTEM_SOCKET;
pub use error::ClientError;
pub use events::Events;
pub use import::{ImportFile, DEFAULT_MAX_IMPORT_BYTES};
