//! `/performance`: what `picket metrics` knows, as a page: cache hit rate and L1/L2, the
//! DB pool, queue depths, latency histograms (with their quantiles) and slow queries.
//! Must not measure anything: `Request::Metrics` answers the figures.

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{Histogram, Request, Response};
use serde::Serialize;

use super::render::{self, ask, error_page, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

/// One histogram as a table row: its count, mean and quantiles, and its buckets.
#[derive(Debug, Serialize, PartialEq)]
pub struct Latency {
    label: String,
    count: u64,
    mean_ms: Option<u64>,
    p50: String,
    p95: String,
    p99: String,
    buckets: Vec<(String, u64)>,
}

pub async fn page(req: HttpRequest, state: State) -> HttpResponse {
    let report = match ask(&state.into_inner(), Request::Metrics).await {
        Ok(Response::Metrics(m)) => m,
        Ok(_) => return error_page(&req, &unexpected("something other than metrics")),
        Err(e) => return error_page(&req, &e),
    };
    let mut latencies = Vec::new();
    for h in &report.request_latency {
        latencies.push(latency(&format!("request {}", h.label), &h.histogram));
    }
    for h in &report.tool_run_duration {
        latencies.push(latency(&format!("tool {}", h.label), &h.histogram));
    }
    latencies.push(latency("scan", &report.scan_duration));
    latencies.push(latency("database query", &report.query_duration));
    let ctx = context! { title => "Performance", m => report, latencies => latencies };
    render::page(&req, "performance.html", "performance", ctx)
}

pub fn latency(label: &str, h: &Histogram) -> Latency {
    let mean_ms = (h.count > 0).then(|| (h.sum / h.count as f64 * 1000.0).round() as u64);
    let mut previous = 0;
    let buckets = h
        .bounds
        .iter()
        .zip(&h.counts)
        .map(|(bound, &cumulative)| {
            let in_bucket = cumulative.saturating_sub(previous);
            previous = cumulative;
            (format!("≤ {}", seconds(*bound)), in_bucket)
        })
        .collect();
    Latency {
        label: label.to_string(),
        count: h.count,
        mean_ms,
        p50: quantile(h, 0.50),
        p95: quantile(h, 0.95),
        p99: quantile(h, 0.99),
        buckets,
    }
}

/// The upper bound of the bucket holding the q-quantile, as Prometheus' buckets allow.
fn quantile(h: &Histogram, q: f64) -> String {
    if h.count == 0 {
        return "–".into();
    }
    let rank = (q * h.count as f64).ceil() as u64;
    match h
        .bounds
        .iter()
        .zip(&h.counts)
        .find(|(_, &c)| c >= rank.max(1))
    {
        Some((bound, _)) => format!("≤ {}", seconds(*bound)),
        None => format!(
            "> {}",
            h.bounds.last().map_or("0 s".into(), |b| seconds(*b))
        ),
    }
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{} ms", (s * 1000.0).round())
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{LabeledCount, MetricsReport, SlowQueryReport};

    fn hist() -> Histogram {
        // 10 observations: 6 under 10 ms, 3 more under 100 ms, 1 above 1 s.
        Histogram {
            bounds: vec![0.01, 0.1, 1.0],
            counts: vec![6, 9, 9],
            count: 10,
            sum: 2.5,
        }
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let l = latency("scan", &hist());
        assert_eq!(
            (l.p50.as_str(), l.p95.as_str(), l.p99.as_str()),
            ("≤ 10 ms", "> 1 s", "> 1 s")
        );
        assert_eq!(l.mean_ms, Some(250));
        assert_eq!(
            l.buckets,
            [
                ("≤ 10 ms".to_string(), 6),
                ("≤ 100 ms".into(), 3),
                ("≤ 1 s".into(), 0)
            ]
        );
        assert_eq!(latency("empty", &Histogram::default()).p50, "–");
    }

    #[test]
    fn the_page_shows_cache_pool_queues_and_slow_queries() {
        let mut m = MetricsReport::default();
        m.cache.hit_rate = 0.75;
        m.cache.l1_entries = 42;
        m.stats.db_pool.max_size = 8;
        m.stats.db_pool.waiting = 3;
        m.queue_depths = vec![LabeledCount {
            labels: vec![("queue".into(), "nmap".into())],
            value: 5,
        }];
        m.slow_queries = vec![SlowQueryReport {
            query: "SELECT <x>".into(),
            micros: 250_000,
            at: "t".into(),
        }];
        let ctx = context! { title => "Performance", nav => "performance", m => m, latencies => vec![latency("scan", &hist())] };
        let html = render::render("performance.html", ctx).unwrap();
        for needle in [
            "75.0 %",
            ">42<",
            "3 waiting",
            "nmap",
            ">5<",
            "SELECT &lt;x&gt;",
            "250 ms",
            "≤ 10 ms",
        ] {
            assert!(html.contains(needle), "{needle} missing in {html}");
        }
    }
}
