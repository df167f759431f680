//! Request and database counters, in a typed `prometheus-client` registry rendered as
//! OpenMetrics text: `http_requests_total{method,route,status}`, the
//! `http_request_duration_seconds` histogram by method and route, and
//! `db_errors_total{operation}`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Latency bucket bounds in seconds: fine below 100 ms where this service lives, coarse above.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Route label for requests that matched no route, so scanners cannot blow up cardinality.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Database operations whose error counter is shown from the start, at 0, so a dashboard's
/// rate() has a series before the first error.
const DB_OPERATIONS: [&str; 3] = ["insert", "find", "readiness check"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    db_errors: Family<OperationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from request to response headers",
            Unit::Seconds,
            latency.clone(),
        );
        let db_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "db_errors",
            "Database operations that failed or timed out",
            db_errors.clone(),
        );
        for operation in DB_OPERATIONS {
            let _ = db_errors.get_or_create(&OperationLabels {
                operation: operation.into(),
            });
        }
        Self {
            registry,
            requests,
            latency,
            db_errors,
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_db_error(&self, operation: &'static str) {
        self.db_errors
            .get_or_create(&OperationLabels {
                operation: operation.into(),
            })
            .inc();
    }

    /// The exposition text (OpenMetrics, ending in `# EOF`).
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
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
            "http_request_duration_seconds_bucket{le=\"0.0005\",method=\"GET\",route=\"/\"} 1"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/\"} 2"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{le=\"10.0\",method=\"GET\",route=\"/\"} 2"
        ));
        assert!(text.contains(
            "http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/\"} 3"
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

    /// OpenMetrics: the text ends with `# EOF`, and every sample belongs to a family with a
    /// TYPE and a HELP line (a counter's samples end in `_total`, a histogram's in
    /// `_bucket`, `_sum` or `_count`).
    #[test]
    fn every_sample_has_a_typed_and_described_family() {
        let m = Metrics::default();
        m.observe_request("GET", "/", 200, Duration::from_millis(2));
        let text = m.render();
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family}: {text}"
            );
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "{family}: {text}"
            );
        }
    }
}
