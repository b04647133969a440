//! The daemon's actors; each file owns one actor and its messages.

pub mod cache;
pub mod db;
pub mod scheduler;
pub mod supervisor;
pub mod tool;
