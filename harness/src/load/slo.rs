//! SLO gates: the clauses of `--slo` and `load.slo`, and what judging one yields.

use serde::Serialize;

use super::mix::Route;

/// What an SLO measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    /// Requests without a 2xx answer, in percent.
    Errors,
    /// Requests per second.
    Rps,
}

/// A gate such as `p95<250ms` (every route), `POST /data:p95<250ms` (one route),
/// `GET /data:p95<100ms/1000docs` (per 1,000 documents an answer holds), `errors<1%` or `rps>100`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    /// `None`: every route the mix sends (latency, errors), or the whole run (`rps`).
    pub route: Option<Route>,
    pub metric: Metric,
    pub below: bool,
    /// Milliseconds (per 1,000 documents when `per_1000_documents`), percent, or req/s.
    pub threshold: f64,
    pub per_1000_documents: bool,
    /// The clause as written.
    pub text: String,
}

/// A clause of `--slo` or `load.slo` that is not understood; each names the clause.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SloError {
    #[error(
        "{clause:?}: expected [ROUTE:]METRIC<VALUE or METRIC>VALUE, e.g. \"POST /data:p95<250ms\" or \"errors<1%\""
    )]
    Syntax { clause: String },
    #[error("{clause:?}: unknown route {route:?}; the load sends GET /, POST /data and GET /data")]
    UnknownRoute { clause: String, route: String },
    #[error("{clause:?}: unknown percentile {metric:?}; use p50, p90, p95, p99 or max")]
    UnknownPercentile { clause: String, metric: String },
    #[error("{clause:?}: unknown metric {metric:?}; use p50, p90, p95, p99, max, errors or rps")]
    UnknownMetric { clause: String, metric: String },
    #[error("{clause:?}: {value:?} is not a number")]
    NotANumber { clause: String, value: String },
    #[error("{clause:?}: {}; {expected}", if unit.is_empty() { "no unit".to_string() } else { format!("unknown unit {unit:?}") })]
    BadUnit {
        clause: String,
        unit: String,
        expected: &'static str,
    },
    #[error(
        "{clause:?}: only GET /data returns documents, so only it has a latency per 1,000 documents; write \"GET /data:{metric}<...ms/1000docs\""
    )]
    PerDocumentNeedsTheList { clause: String, metric: String },
}

/// Parses `GET /:p95<50ms,POST /data:p95<250ms,errors<1%`. A clause without a route applies to
/// every route the mix sends (`rps` without a route: the whole run). Latencies take `ms` or `s`,
/// and on `GET /data` also `ms/1000docs`; errors take `%`; rps a bare number.
///
/// # Errors
/// The first clause that is not understood, named, with what was expected.
pub fn parse_slos(text: &str) -> Result<Vec<Slo>, SloError> {
    text.split(',')
        .map(str::trim)
        .filter(|clause| !clause.is_empty())
        .map(parse_slo)
        .collect()
}

fn parse_slo(clause: &str) -> Result<Slo, SloError> {
    let (route, gate) = match clause.rsplit_once(':') {
        Some((route, gate)) => {
            let parsed = route
                .parse::<Route>()
                .map_err(|()| SloError::UnknownRoute {
                    clause: clause.into(),
                    route: route.trim().into(),
                })?;
            (Some(parsed), gate)
        }
        None => (None, clause),
    };
    let (metric, value, below) = if let Some((m, v)) = gate.split_once('<') {
        (m, v, true)
    } else if let Some((m, v)) = gate.split_once('>') {
        (m, v, false)
    } else {
        return Err(SloError::Syntax {
            clause: clause.into(),
        });
    };
    let metric_text = metric.trim().to_ascii_lowercase();
    let metric = match metric_text.as_str() {
        "p50" => Metric::P50,
        "p90" => Metric::P90,
        "p95" => Metric::P95,
        "p99" => Metric::P99,
        "max" => Metric::Max,
        "errors" => Metric::Errors,
        "rps" => Metric::Rps,
        p if p.len() > 1
            && p.starts_with('p')
            && p[1..].chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            return Err(SloError::UnknownPercentile {
                clause: clause.into(),
                metric: metric_text,
            });
        }
        _ => {
            return Err(SloError::UnknownMetric {
                clause: clause.into(),
                metric: metric_text,
            });
        }
    };
    // `100 ms / 1000 docs` reads as `100ms/1000docs`.
    let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| SloError::NotANumber {
        clause: clause.into(),
        value: value.clone(),
    })?;
    let unit_lower = unit.to_ascii_lowercase();
    let bad_unit = |expected| SloError::BadUnit {
        clause: clause.into(),
        unit: unit.into(),
        expected,
    };
    let (threshold, per_1000_documents) = match metric {
        Metric::Errors => match unit_lower.as_str() {
            "%" => (number, false),
            _ => return Err(bad_unit("give errors in %, e.g. errors<1%")),
        },
        Metric::Rps => match unit_lower.as_str() {
            "" | "/s" => (number, false),
            _ => return Err(bad_unit("give rps as requests per second, e.g. rps>100")),
        },
        _ => match unit_lower.as_str() {
            "ms" => (number, false),
            "s" => (number * 1000.0, false),
            "ms/1000docs" => (number, true),
            "s/1000docs" => (number * 1000.0, true),
            _ => {
                return Err(bad_unit(
                    "give a latency in ms or s (on GET /data also per 1,000 documents, e.g. 100ms/1000docs)",
                ));
            }
        },
    };
    if per_1000_documents && route != Some(Route::List) {
        return Err(SloError::PerDocumentNeedsTheList {
            clause: clause.into(),
            metric: metric_text,
        });
    }
    Ok(Slo {
        route,
        metric,
        below,
        threshold,
        per_1000_documents,
        text: clause.to_string(),
    })
}

/// What an SLO's actual value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Milliseconds.
    Latency,
    /// Milliseconds per 1,000 documents an answer held.
    LatencyPer1000Documents,
    /// Percent of requests.
    ErrorRate,
    /// Requests per second.
    Throughput,
}

impl Basis {
    pub fn unit(self) -> &'static str {
        match self {
            Basis::Latency => "ms",
            Basis::LatencyPer1000Documents => "ms per 1,000 documents",
            Basis::ErrorRate => "%",
            Basis::Throughput => "req/s",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SloVerdict {
    Met,
    Missed,
    /// Not judged: the mix does not send the route it names.
    Skipped,
}

/// One SLO judged on one route (or on the whole run).
#[derive(Clone, Debug, Serialize)]
pub struct SloResult {
    /// The clause as written.
    pub slo: String,
    /// The route it was judged on; `None` for the whole run.
    pub route: Option<Route>,
    pub basis: Basis,
    pub threshold: f64,
    pub actual: Option<f64>,
    pub verdict: SloVerdict,
    /// Why it was skipped or could not be measured.
    pub note: Option<String>,
}

impl SloResult {
    pub fn met(&self) -> bool {
        self.verdict != SloVerdict::Missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(text: &str) -> Slo {
        parse_slos(text).unwrap().remove(0)
    }

    #[test]
    fn slos_name_a_route_or_apply_to_every_route() {
        let slos =
            parse_slos("GET /:p95<50ms, POST /data:p99<2s,errors<1%,rps>100,max<2s").unwrap();
        assert_eq!(slos.len(), 5);
        assert_eq!(
            (
                slos[0].route,
                slos[0].metric,
                slos[0].below,
                slos[0].threshold
            ),
            (Some(Route::Root), Metric::P95, true, 50.0)
        );
        assert_eq!(
            (slos[1].route, slos[1].metric, slos[1].threshold),
            (Some(Route::Write), Metric::P99, 2000.0)
        );
        assert_eq!(
            (slos[2].route, slos[2].metric, slos[2].threshold),
            (None, Metric::Errors, 1.0)
        );
        assert_eq!((slos[3].metric, slos[3].below), (Metric::Rps, false));
        assert_eq!(slos[4].threshold, 2000.0);
        assert_eq!(slos[0].text, "GET /:p95<50ms");
        // The method in any case, spaces around the parts, per-document units with spaces.
        let list = slo("get  /data : p95 < 80 ms / 1000 docs");
        assert_eq!(
            (list.route, list.per_1000_documents, list.threshold),
            (Some(Route::List), true, 80.0)
        );
        assert!(slo("GET /data:p95<0.5s/1000docs").per_1000_documents);
        assert!(parse_slos("").unwrap().is_empty());
    }

    #[test]
    fn bad_slos_name_the_clause_and_what_was_expected() {
        let error = |text: &str| parse_slos(text).unwrap_err();
        assert_eq!(
            error("p95<250ms,GET /items:p95<1s"),
            SloError::UnknownRoute {
                clause: "GET /items:p95<1s".into(),
                route: "GET /items".into()
            }
        );
        assert!(matches!(
            error("/data:p95<1s"),
            SloError::UnknownRoute { .. }
        ));
        for (text, message) in [
            (
                "POST /data:p97<250ms",
                "\"POST /data:p97<250ms\": unknown percentile \"p97\"; use p50, p90, p95, p99 or max",
            ),
            (
                "p95<250",
                "\"p95<250\": no unit; give a latency in ms or s (on GET /data also per 1,000 documents, e.g. 100ms/1000docs)",
            ),
            (
                "GET /:p95<250us",
                "\"GET /:p95<250us\": unknown unit \"us\"; give a latency in ms or s (on GET /data also per 1,000 documents, e.g. 100ms/1000docs)",
            ),
            ("p95<fast", "\"p95<fast\": \"fast\" is not a number"),
        ] {
            assert_eq!(error(text).to_string(), message);
        }
        assert!(matches!(
            error("p99.9<1s"),
            SloError::UnknownPercentile { .. }
        ));
        assert!(matches!(
            error("latency<1ms"),
            SloError::UnknownMetric { .. }
        ));
        assert!(matches!(error("errors<1"), SloError::BadUnit { .. }));
        assert!(matches!(error("rps>1ms"), SloError::BadUnit { .. }));
        assert!(matches!(error("p95=1ms"), SloError::Syntax { .. }));
        assert!(
            error("POST /data:p95<100ms/1000docs")
                .to_string()
                .contains("write \"GET /data:p95<...ms/1000docs\""),
        );
        assert!(matches!(
            error("p95<100ms/1000docs"),
            SloError::PerDocumentNeedsTheList { .. }
        ));
    }
}
