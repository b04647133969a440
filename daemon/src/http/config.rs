//! `[http]`: the opt-in TCP listener of the JSON API and dashboard. Must not bind anything
//! (http/server.rs does); validation here refuses what would expose the daemon by mistake.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `"127.0.0.1:PORT"`; none: only `api.sock` serves the API.
    pub listen: Option<SocketAddr>,
}
