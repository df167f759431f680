//! Request and database counters, rendered in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds in seconds: fine below 100 ms where this service lives, coarse above.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Route label for requests that matched no route, so scanners cannot blow up cardinality.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    db_errors: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let histogram = inner
            .latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        if let Some(first) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.counts[first] += 1;
        }
    }

    pub fn observe_db_error(&self, operation: &'static str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.db_errors.entry(operation).or_default() += 1;
    }

    /// The exposition text. Histogram buckets are cumulative, as Prometheus requires.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time from request to response headers.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((method, route), h) in &inner.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP db_errors_total Database operations that failed or timed out.\n");
        out.push_str("# TYPE db_errors_total counter\n");
        for operation in ["insert", "find", "readiness check"] {
            let n = inner.db_errors.get(operation).copied().unwrap_or(0);
            let _ = writeln!(out, "db_errors_total{{operation=\"{operation}\"}} {n}");
        }
        for (operation, n) in inner
            .db_errors
            .iter()
            .filter(|(op, _)| !["insert", "find", "readiness check"].contains(op))
        {
            let _ = writeln!(out, "db_errors_total{{operation=\"{operation}\"}} {n}");
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/", 200, Duration::from_micros(300));
        m.observe_request("GET", "/", 200, Duration::from_millis(3));
        m.observe_request("GET", "/", 200, Duration::from_secs(60));
        m.observe_request("POST", "/data", 503, Duration::from_millis(1));
        m.observe_db_error("insert");
        let text = m.render();
        assert!(text.contains("http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 3"));
        assert!(
            text.contains("http_requests_total{method=\"POST\",route=\"/data\",status=\"503\"} 1")
        );
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"10\"} 2"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("http_request_duration_seconds_count{method=\"GET\",route=\"/\"} 3"));
        assert!(text.contains("db_errors_total{operation=\"insert\"} 1"));
        assert!(text.contains("db_errors_total{operation=\"find\"} 0"));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::default();
        m.observe_request("GET", "/we\"ird", 404, Duration::from_millis(1));
        for line in m.render().lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(series.ends_with('}'), "{line}");
        }
        assert!(m.render().contains("route=\"/we\\\"ird\""));
    }
}
