//! The daemon's self-measurement: counters, latency histograms, the slow-query log, and
//! process figures (RSS, CPU). Cheap enough for every request: atomics, and short mutex
//! sections for the keyed maps. Must not do I/O beyond reading /proc/self, nor format for a
//! terminal: the client renders (Prometheus text via picket_protocol::prometheus).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use picket_protocol::{Histogram, LabeledCount, LabeledHistogram, SlowQueryReport};

/// Asks an actor that owns a queue how much work is waiting and running (in that order),
/// for `picket metrics`. The scheduler and every ToolActor answer it.
pub struct GetDepth;

impl actix::Message for GetDepth {
    type Result = (u64, u64);
}

/// Bucket upper bounds in seconds: from sub-millisecond requests to ten-minute tool runs.
const BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Debug)]
pub struct Histo {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histo {
    fn default() -> Self {
        Self {
            buckets: (0..=BOUNDS.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histo {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    pub fn snapshot(&self) -> Histogram {
        let mut acc = 0;
        let counts = BOUNDS
            .iter()
            .enumerate()
            .map(|(i, _)| {
                acc += self.buckets[i].load(Relaxed);
                acc
            })
            .collect();
        Histogram {
            bounds: BOUNDS.to_vec(),
            counts,
            count: self.count.load(Relaxed),
            sum: self.sum_us.load(Relaxed) as f64 / 1e6,
        }
    }
}

#[derive(Debug, Default)]
struct Keyed<T: Default> {
    map: Mutex<BTreeMap<String, T>>,
}

impl Keyed<Histo> {
    fn observe(&self, key: &str, d: Duration) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(key) {
            Some(h) => h.observe(d),
            None => {
                let h = Histo::default();
                h.observe(d);
                m.insert(key.to_string(), h);
            }
        }
    }

    fn snapshot(&self) -> Vec<LabeledHistogram> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|(k, h)| LabeledHistogram {
                label: k.clone(),
                histogram: h.snapshot(),
            })
            .collect()
    }
}

impl Keyed<u64> {
    fn add(&self, key: &str, n: u64) {
        *self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_insert(0) += n;
    }

    fn snapshot(&self, label: &str) -> Vec<LabeledCount> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|(k, v)| LabeledCount {
                labels: vec![(label.to_string(), k.clone())],
                value: *v,
            })
            .collect()
    }
}

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
    request_latency: Keyed<Histo>,
    tool_run_duration: Keyed<Histo>,
    scan_duration: Histo,
    query_duration: Histo,
    scans_by_status: Keyed<u64>,
    runs_by_status: Keyed<u64>,
    findings_by_severity: Keyed<u64>,
    parser_warnings: Keyed<u64>,
    /// Notifications by (hook kind, outcome).
    notify_sent: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Compressed bytes of stored tool outputs, set by each retention pass.
    pub output_bytes_stored: AtomicU64,
    /// Stored tool outputs removed by retention.
    pub outputs_removed: AtomicU64,
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
            slow_query_threshold_us: AtomicU64::new(slow_query_ms.saturating_mul(1000)),
            slow_queries: Mutex::new(Vec::new()),
            request_latency: Keyed::default(),
            tool_run_duration: Keyed::default(),
            scan_duration: Histo::default(),
            query_duration: Histo::default(),
            scans_by_status: Keyed::default(),
            runs_by_status: Keyed::default(),
            findings_by_severity: Keyed::default(),
            parser_warnings: Keyed::default(),
            notify_sent: Mutex::default(),
            output_bytes_stored: AtomicU64::new(0),
            outputs_removed: AtomicU64::new(0),
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn set_slow_query_threshold(&self, ms: u64) {
        self.slow_query_threshold_us
            .store(ms.saturating_mul(1000), Relaxed);
    }

    pub fn slow_query_threshold_ms(&self) -> u64 {
        self.slow_query_threshold_us.load(Relaxed) / 1000
    }

    pub fn record_request(&self, kind: &str, took: Duration) {
        self.request_latency.observe(kind, took);
    }

    pub fn record_tool_run(&self, tool: &str, status: &str, took: Option<Duration>) {
        if let Some(d) = took {
            self.tool_run_duration.observe(tool, d);
        }
        self.runs_by_status.add(status, 1);
    }

    pub fn record_scan(&self, status: &str, took: Option<Duration>) {
        if let Some(d) = took {
            self.scan_duration.observe(d);
        }
        self.scans_by_status.add(status, 1);
    }

    pub fn record_findings(&self, severity: &str, n: u64) {
        self.findings_by_severity.add(severity, n);
    }

    /// Notes a parser left on a run's output (records it could not place, a partial
    /// output): each is also stored on the run, this counts them per tool.
    pub fn record_parser_warnings(&self, tool: &str, n: u64) {
        if n > 0 {
            self.parser_warnings.add(tool, n);
        }
    }

    /// One notification delivered or given up on (notify/): `kind` webhook or exec,
    /// `outcome` ok or failed.
    pub fn record_notify(&self, kind: &'static str, outcome: &'static str) {
        *self
            .notify_sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((kind, outcome))
            .or_insert(0) += 1;
    }

    pub fn notify_sent(&self) -> Vec<LabeledCount> {
        let m = self.notify_sent.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|((kind, outcome), v)| LabeledCount {
                labels: vec![
                    ("kind".to_string(), kind.to_string()),
                    ("outcome".to_string(), outcome.to_string()),
                ],
                value: *v,
            })
            .collect()
    }

    pub fn record_query(&self, label: &'static str, took: Duration) {
        self.query_duration.observe(took);
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

    pub fn slow_queries(&self) -> Vec<SlowQueryReport> {
        let mut log = self
            .slow_queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        log.sort_by_key(|q| std::cmp::Reverse(q.micros));
        log.truncate(SLOW_KEPT);
        log.into_iter()
            .map(|q| SlowQueryReport {
                query: q.label.to_string(),
                micros: q.micros,
                at: crate::storage::queries::rfc3339(q.at_ms),
            })
            .collect()
    }

    pub fn request_latency(&self) -> Vec<LabeledHistogram> {
        self.request_latency.snapshot()
    }
    pub fn tool_run_duration(&self) -> Vec<LabeledHistogram> {
        self.tool_run_duration.snapshot()
    }
    pub fn scan_duration(&self) -> Histogram {
        self.scan_duration.snapshot()
    }
    pub fn query_duration(&self) -> Histogram {
        self.query_duration.snapshot()
    }
    pub fn scans_by_status(&self) -> Vec<LabeledCount> {
        self.scans_by_status.snapshot("status")
    }
    pub fn runs_by_status(&self) -> Vec<LabeledCount> {
        self.runs_by_status.snapshot("status")
    }
    pub fn findings_by_severity(&self) -> Vec<LabeledCount> {
        self.findings_by_severity.snapshot("severity")
    }
    pub fn parser_warnings(&self) -> Vec<LabeledCount> {
        self.parser_warnings.snapshot("tool")
    }
}

/// Resident set size and CPU seconds (user + system) of this process, from /proc/self.
pub fn process_usage() -> (u64, f64) {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * page)
        .unwrap_or(0);
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let utime: f64 = rest.get(11)?.parse().ok()?;
            let stime: f64 = rest.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0);
    (rss, cpu)
}
