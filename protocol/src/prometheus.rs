//! Prometheus text exposition (format 0.0.4) of a `MetricsReport`.
//! A pure function, so any consumer (the client, a future HTTP endpoint) renders the same.

use std::fmt::Write;

use crate::messages::{Histogram, LabeledCount, LabeledHistogram, MetricsReport};

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, pairs: &[(String, String)], value: f64) {
        let _ = writeln!(self.0, "{name}{} {}", labels(pairs), fmt_value(value));
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.head(name, kind, help);
        self.sample(name, &[], value);
    }

    fn counts(&mut self, name: &str, kind: &str, help: &str, rows: &[LabeledCount]) {
        self.head(name, kind, help);
        for r in rows {
            self.sample(name, &r.labels, r.value as f64);
        }
    }

    /// One metric with one label whose values each get a sample.
    fn by_label(&mut self, name: &str, kind: &str, help: &str, label: &str, rows: &[(&str, f64)]) {
        self.head(name, kind, help);
        for (value, v) in rows {
            self.sample(name, &kv(label, value), *v);
        }
    }

    fn histograms(&mut self, name: &str, help: &str, label: &str, rows: &[LabeledHistogram]) {
        self.head(name, "histogram", help);
        for h in rows {
            self.histogram(name, &kv(label, &h.label), &h.histogram);
        }
    }

    fn histogram(&mut self, name: &str, pairs: &[(String, String)], h: &Histogram) {
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            let mut l = pairs.to_vec();
            l.push(("le".into(), fmt_value(*bound)));
            self.sample(&format!("{name}_bucket"), &l, *count as f64);
        }
        let mut l = pairs.to_vec();
        l.push(("le".into(), "+Inf".into()));
        self.sample(&format!("{name}_bucket"), &l, h.count as f64);
        self.sample(&format!("{name}_sum"), pairs, h.sum);
        self.sample(&format!("{name}_count"), pairs, h.count as f64);
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn kv(k: &str, v: &str) -> Vec<(String, String)> {
    vec![(k.to_string(), v.to_string())]
}

/// A metric without labels: name, type, help, value.
type Single<'a> = (&'a str, &'a str, &'a str, f64);

/// A metric with one label: name, type, help, the label, and a value per label value.
type ByLabel<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [(&'a str, f64)]);

impl Out {
    fn singles(&mut self, rows: &[Single]) {
        for (name, kind, help, value) in rows {
            self.single(name, kind, help, *value);
        }
    }

    fn by_labels(&mut self, rows: &[ByLabel]) {
        for (name, kind, help, label, values) in rows {
            self.by_label(name, kind, help, label, values);
        }
    }
}

pub fn render(r: &MetricsReport) -> String {
    let mut o = Out(String::new());
    daemon_part(&mut o, r);
    cache_part(&mut o, r);
    timing_part(&mut o, r);
    totals_part(&mut o, r);
    if let Some(c) = &r.cluster {
        cluster_part(&mut o, c);
    }
    o.0
}

/// `picket cluster`'s figures (cluster mode only): nodes, streams, dead letters.
fn cluster_part(o: &mut Out, c: &crate::ClusterReport) {
    o.single(
        "picket_cluster_nodes",
        "gauge",
        "Nodes registered in the cluster (heartbeating).",
        c.nodes.len() as f64,
    );
    let node = |n: &crate::ClusterNode| kv("node", &n.node_id);
    o.head(
        "picket_cluster_node_runs_in_flight",
        "gauge",
        "Tool runs each node is running.",
    );
    for n in &c.nodes {
        o.sample(
            "picket_cluster_node_runs_in_flight",
            &node(n),
            n.runs_in_flight as f64,
        );
    }
    o.head(
        "picket_cluster_node_heartbeat_age_seconds",
        "gauge",
        "Seconds since each node's last heartbeat (Redis server clock).",
    );
    for n in &c.nodes {
        o.sample(
            "picket_cluster_node_heartbeat_age_seconds",
            &node(n),
            n.heartbeat_age_ms as f64 / 1000.0,
        );
    }
    let stream = |s: &crate::ClusterStream| {
        vec![
            ("stream".to_string(), s.stream.clone()),
            ("group".to_string(), s.group.clone()),
        ]
    };
    for (name, help, pick) in [
        (
            "picket_cluster_stream_length",
            "Entries in each stream.",
            (|s| Some(s.length)) as fn(&crate::ClusterStream) -> Option<u64>,
        ),
        (
            "picket_cluster_stream_pending",
            "Entries delivered and not yet acknowledged, per stream and group.",
            |s| Some(s.pending),
        ),
        (
            "picket_cluster_stream_lag",
            "Entries not yet delivered to the group.",
            |s| s.lag,
        ),
    ] {
        o.head(name, "gauge", help);
        for s in &c.streams {
            if let Some(v) = pick(s) {
                o.sample(name, &stream(s), v as f64);
            }
        }
    }
    o.single(
        "picket_cluster_dead_letters",
        "gauge",
        "Runs in the dead-letter stream (failed max_deliveries times).",
        c.dead_letters as f64,
    );
}

/// Connections, requests, the database pool and the scans in flight.
fn daemon_part(o: &mut Out, r: &MetricsReport) {
    let s = &r.stats;
    o.singles(&[
        (
            "picket_uptime_seconds",
            "gauge",
            "Seconds since picketd started.",
            s.uptime_ms as f64 / 1000.0,
        ),
        (
            "picket_connections_open",
            "gauge",
            "Client connections open now.",
            s.connections_open as f64,
        ),
        (
            "picket_connections_total",
            "counter",
            "Client connections accepted.",
            s.connections_total as f64,
        ),
        (
            "picket_requests_total",
            "counter",
            "Requests served.",
            s.requests_served as f64,
        ),
        (
            "picket_protocol_errors_total",
            "counter",
            "Connections ended by a protocol error.",
            s.protocol_errors as f64,
        ),
        (
            "picket_refused_peers_total",
            "counter",
            "Connections refused by the peer credential check.",
            s.refused_peers as f64,
        ),
    ]);
    let p = &s.db_pool;
    o.by_labels(&[
        (
            "picket_db_pool_connections",
            "gauge",
            "SQLite pool connections by state.",
            "state",
            &[
                ("max", p.max_size as f64),
                ("open", p.size as f64),
                ("idle", p.available as f64),
                ("waiting", p.waiting as f64),
            ],
        ),
        (
            "picket_scans",
            "gauge",
            "Scans by state (running or queued).",
            "state",
            &[
                ("running", s.scans_running as f64),
                ("queued", s.scans_queued as f64),
            ],
        ),
    ]);
}

fn cache_part(o: &mut Out, r: &MetricsReport) {
    let c = &r.cache;
    o.by_labels(&[
        (
            "picket_cache_entries",
            "gauge",
            "Cached tool results by level.",
            "level",
            &[("l1", c.l1_entries as f64), ("l2", c.l2_entries as f64)],
        ),
        (
            "picket_cache_size_bytes",
            "gauge",
            "Bytes held by the cache by level.",
            "level",
            &[("l1", c.l1_bytes as f64), ("l2", c.l2_bytes as f64)],
        ),
    ]);
    o.single(
        "picket_cache_capacity_bytes",
        "gauge",
        "L1 cache capacity.",
        c.l1_capacity_bytes as f64,
    );
    o.by_label(
        "picket_cache_hits_total",
        "counter",
        "Cache hits by where they were answered.",
        "level",
        &[
            ("l1", c.hits_l1 as f64),
            ("l2", c.hits_l2 as f64),
            ("shared", c.hits_shared as f64),
        ],
    );
    o.singles(&[
        (
            "picket_cache_misses_total",
            "counter",
            "Lookups that ran the tool (including --no-cache).",
            c.misses as f64,
        ),
        (
            "picket_cache_hit_ratio",
            "gauge",
            "hits / (hits + misses).",
            c.hit_rate,
        ),
        (
            "picket_cache_evictions_total",
            "counter",
            "L1 entries evicted for space.",
            c.evictions as f64,
        ),
        (
            "picket_cache_expirations_total",
            "counter",
            "Entries dropped after their TTL.",
            c.expirations as f64,
        ),
    ]);
}

/// Histograms: requests, tool runs, scans, queries.
fn timing_part(o: &mut Out, r: &MetricsReport) {
    o.histograms(
        "picket_request_duration_seconds",
        "Time to answer a request, by kind.",
        "kind",
        &r.request_latency,
    );
    o.histograms(
        "picket_tool_run_duration_seconds",
        "Tool run time (cache hits excluded), by tool.",
        "tool",
        &r.tool_run_duration,
    );
    for (name, help, h) in [
        (
            "picket_scan_duration_seconds",
            "Scan time from start to end.",
            &r.scan_duration,
        ),
        (
            "picket_db_query_duration_seconds",
            "SQLite query and write-batch time.",
            &r.query_duration,
        ),
    ] {
        o.head(name, "histogram", help);
        o.histogram(name, &[], h);
    }
}

/// Counts by status and severity, queue depths, slow queries, the process itself.
fn totals_part(o: &mut Out, r: &MetricsReport) {
    for (name, kind, help, rows) in [
        (
            "picket_scans_finished_total",
            "counter",
            "Scans ended, by final status.",
            &r.scans_by_status,
        ),
        (
            "picket_tool_runs_total",
            "counter",
            "Tool processes run to an end (cache hits excluded), by status.",
            &r.tool_runs_by_status,
        ),
        (
            "picket_findings_total",
            "counter",
            "Findings reported to scans (cached runs included), by severity.",
            &r.findings_by_severity,
        ),
        (
            "picket_parser_warnings_total",
            "counter",
            "Records a parser could not place and partial outputs (each a warning on its run), by tool.",
            &r.parser_warnings,
        ),
        (
            "picket_notify_sent_total",
            "counter",
            "Scan-end notifications, by hook kind and outcome (failed: given up after its retries).",
            &r.notify_sent,
        ),
        (
            "picket_queue_depth",
            "gauge",
            "Work waiting or running per actor.",
            &r.queue_depths,
        ),
    ] {
        o.counts(name, kind, help, rows);
    }
    o.singles(&[
        (
            "picket_slow_queries",
            "gauge",
            "Slow queries kept in the log.",
            r.slow_queries.len() as f64,
        ),
        (
            "picket_slow_query_threshold_seconds",
            "gauge",
            "Threshold above which a query is logged as slow.",
            r.slow_query_threshold_ms as f64 / 1000.0,
        ),
        (
            "picket_process_resident_memory_bytes",
            "gauge",
            "Resident memory of picketd.",
            r.rss_bytes as f64,
        ),
        (
            "picket_process_cpu_seconds_total",
            "counter",
            "CPU time (user + system) of picketd.",
            r.cpu_seconds,
        ),
        (
            "picket_output_stored_bytes",
            "gauge",
            "Compressed bytes of raw tool outputs kept as evidence (as of the last retention pass).",
            r.output_bytes_stored as f64,
        ),
        (
            "picket_outputs_removed_total",
            "counter",
            "Raw tool outputs removed by the retention policy.",
            r.outputs_removed as f64,
        ),
    ]);
}
