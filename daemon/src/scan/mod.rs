//! Scans from admission to their end: the scheduler that admits them, one supervisor per
//! running scan (with the redirects its runs report, and the host groups a network is
//! discovered in), and the board where their live
//! progress and events are published.
//!
//! Must not run processes (run/ does) nor hold SQL (storage/ does).

pub mod board;
pub mod host_groups;
pub mod persist;
pub mod redirects;
pub mod scheduler;
pub mod supervisor;
