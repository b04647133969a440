//! The daemon's self-measurement: counters, and the slow-query log.
//!
//! Owns plain atomics and a small mutex-guarded log, cheap enough for every request.
//! Must not do I/O or formatting for a terminal: the client renders.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub requests_served: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub refused_peers: AtomicU64,
    slow_query_threshold_us: AtomicU64,
    slow_queries: Mutex<Vec<SlowQuery>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowQuery {
    pub label: &'static str,
    pub micros: u64,
    pub at_ms: i64,
}

/// How many slow queries are kept (the slowest win).
const SLOW_KEPT: usize = 32;

impl Metrics {
    pub fn new(slow_query_ms: u64) -> Self {
        Self {
            started: Instant::now(),
            connections_total: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            requests_served: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            refused_peers: AtomicU64::new(0),
            slow_query_threshold_us: AtomicU64::new(slow_query_ms * 1000),
            slow_queries: Mutex::new(Vec::new()),
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn set_slow_query_threshold(&self, ms: u64) {
        self.slow_query_threshold_us.store(ms * 1000, Relaxed);
    }

    pub fn record_query(&self, label: &'static str, took: Duration) {
        let micros = took.as_micros() as u64;
        if micros < self.slow_query_threshold_us.load(Relaxed) {
            return;
        }
        tracing::debug!(query = label, micros, "slow query");
        let mut log = self.slow_queries.lock().unwrap_or_else(|p| p.into_inner());
        log.push(SlowQuery {
            label,
            micros,
            at_ms: crate::storage::queries::now_ms(),
        });
        if log.len() > SLOW_KEPT * 2 {
            log.sort_by_key(|q| std::cmp::Reverse(q.micros));
            log.truncate(SLOW_KEPT);
        }
    }

    pub fn slow_queries(&self) -> Vec<SlowQuery> {
        let mut log = self
            .slow_queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        log.sort_by_key(|q| std::cmp::Reverse(q.micros));
        log.truncate(SLOW_KEPT);
        log
    }
}
