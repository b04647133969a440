//! Connections to Redis: one `ConnectionManager` (it reconnects) for ordinary commands, and
//! a dedicated connection for each blocking reader whose response timeout is above its
//! BLOCK time (redis 1.x puts 500 ms on every async command, blocking ones included:
//! SCALE-OUT-NOTES pitfall 1; and a BLOCK on a shared connection would stall the commands
//! queued behind it). Must not know key names or what the streams carry (runs.rs does).

use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client};

/// How long a blocking read waits for an entry before it loops (and notices a stop).
pub const BLOCK_MS: u64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("[cluster] redis {url:?} is not usable: {source}; fix the URL (redis://host:port or rediss://user:password@host:port)")]
    Url {
        url: String,
        source: redis::RedisError,
    },
    #[error("cannot reach redis at {url}: {source}; start redis-server there (appendonly yes) or fix [cluster] redis")]
    Connect {
        url: String,
        source: redis::RedisError,
    },
}

/// The address of the cluster's Redis, and the connections made to it.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    url: String,
    /// Ordinary commands (XADD, XACK, XCLAIM, SET, PUBLISH): multiplexed, reconnecting.
    pub manager: ConnectionManager,
}

impl Redis {
    pub async fn open(url: &str) -> Result<Self, ConnError> {
        let client = Client::open(url).map_err(|source| ConnError::Url {
            url: url.into(),
            source,
        })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let manager = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|source| ConnError::Connect {
                url: redacted(url),
                source,
            })?;
        Ok(Self {
            client,
            url: url.into(),
            manager,
        })
    }

    /// A connection of its own for one blocking reader, with a response timeout above
    /// `BLOCK_MS`. It does not reconnect: the reader makes a new one after an error.
    pub async fn blocking(&self) -> Result<MultiplexedConnection, ConnError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_millis(BLOCK_MS + 5000)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|source| ConnError::Connect {
                url: redacted(&self.url),
                source,
            })
    }

    /// A pub/sub connection (cancel fan-out).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, ConnError> {
        self.client
            .get_async_pubsub()
            .await
            .map_err(|source| ConnError::Connect {
                url: redacted(&self.url),
                source,
            })
    }
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        let r = super::redacted("rediss://picket:s3cret@redis.example:6380");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("picket:***@"), "{r}");
    }

    #[test]
    fn rediss_urls_are_understood() {
        // Without the crate's TLS features this fails ("TLS feature is not enabled").
        let tls = redis::Client::open("rediss://picket:s3cret@127.0.0.1:6380");
        assert!(tls.is_ok(), "{:?}", tls.err());
    }
}
