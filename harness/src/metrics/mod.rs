//! `deploycheck metrics`: an app's metrics exposition checked the way `promtool check metrics`
//! checks it, and its request counter proven to count.
//!
//! [`run`] reads top-down: scrape and apply the [`rules`]; scrape again after an idle
//! interval, to see what the counter does without us; send the requests; scrape a last time
//! and [`judge`] the rise. The background the judgement allows is measured, not assumed: the
//! idle interval's rise, less the scrape that the app may count as a request of its own,
//! scaled to the length of the sending interval; plus that one scrape; plus two requests for
//! traffic too sparse for a one-second window to see (a kubelet probes every ten seconds);
//! plus any request of ours that failed in transit (the app may still have counted it).

pub mod counter;
pub mod rules;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use counter::{Delta, delta, increase, judge};

use crate::exposition::{self, Exposition, Format};
use crate::findings::{Catalogue, Finding, Severity, finding};

/// What Prometheus asks for: OpenMetrics first, the text format otherwise.
const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Traffic too sparse for the idle window to have seen that may still fall in the sending
/// interval (a kubelet's probes come every ten seconds).
const UNSEEN_TRAFFIC: f64 = 2.0;

/// Every rule of an exposition's text, findings ordered by line. A text that does not parse
/// is one `DM001` finding at its line.
pub fn check(text: &str, origin: &str) -> Vec<Finding> {
    match exposition::parse(text) {
        Ok(exposition) => rules::check(&exposition, origin),
        Err(error) => vec![parse_finding(&error, origin)],
    }
}

fn parse_finding(error: &exposition::ParseError, origin: &str) -> Finding {
    finding(
        &rules::PARSE,
        origin,
        error.line,
        "exposition".into(),
        error.message.clone(),
    )
}

/// The whole catalogue, for `deploycheck metrics --rules`, JUnit and SARIF.
pub fn catalogue() -> Catalogue {
    static_catalogue()
        .into_iter()
        .chain(std::iter::once(&rules::COUNTER_MOVES))
        .collect()
}

/// The rules over the text alone (a saved exposition has no counter to exercise).
pub fn static_catalogue() -> Catalogue {
    rules::RULES.iter().collect()
}

/// How the counter check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not run; the detail says why. Never a pass.
    Skip,
}

/// The request counter's check.
#[derive(Clone, Debug, Serialize)]
pub struct CounterOutcome {
    pub verdict: Verdict,
    pub counter: String,
    /// Where the requests went.
    pub path: String,
    /// Requests that got an answer (any status: a 404 is a request served too).
    pub sent: u64,
    /// The rise that was judged, when the counter was read twice.
    pub rose: Option<f64>,
    /// Other traffic allowed for in the sending interval.
    pub background: Option<f64>,
    /// For a pass what was seen, for a failure what was wrong and the fix, for a skip why.
    pub detail: String,
    /// The idle window, the requests and the scrapes around them.
    pub elapsed_ms: u64,
}

impl CounterOutcome {
    fn skipped(counter: &str, path: &str, why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skip,
            counter: counter.to_string(),
            path: path.to_string(),
            sent: 0,
            rose: None,
            background: None,
            detail: why.into(),
            elapsed_ms: 0,
        }
    }

    fn failed(counter: &str, path: &str, sent: u64, detail: String) -> Self {
        Self {
            verdict: Verdict::Fail,
            counter: counter.to_string(),
            path: path.to_string(),
            sent,
            rose: None,
            background: None,
            detail,
            elapsed_ms: 0,
        }
    }
}

/// What `deploycheck metrics` found.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsReport {
    /// The metrics URL or the file read.
    pub source: String,
    /// `OpenMetrics 1.0` or `Prometheus text 0.0.4`; none when the text did not parse.
    pub format: Option<&'static str>,
    pub families: usize,
    pub samples: usize,
    /// The first scrape and its rules.
    pub scrape_ms: u64,
    /// The rules' findings, and a `DM020` when the counter check failed.
    pub findings: Vec<Finding>,
    pub counter: CounterOutcome,
}

impl MetricsReport {
    /// Whether a finding at or above `fail_on` exists (a failed counter check is a `DM020`
    /// error).
    pub fn fails(&self, fail_on: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= fail_on)
    }

    /// The rules this report was checked against: the counter's only when it ran.
    pub fn catalogue(&self) -> Catalogue {
        if self.counter.verdict == Verdict::Skip {
            static_catalogue()
        } else {
            catalogue()
        }
    }

    /// The findings of the exposition's rules, without the counter's.
    pub fn rule_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.rule != rules::COUNTER_MOVES.id)
    }

    fn describe(&mut self, exposition: &Exposition) {
        self.format = Some(match exposition.format {
            Format::OpenMetrics => "OpenMetrics 1.0",
            Format::Prometheus => "Prometheus text 0.0.4",
        });
        self.families = exposition.families.len();
        self.samples = exposition.families.iter().map(|f| f.samples.len()).sum();
    }
}

/// A saved exposition checked by the rules; the counter check is skipped (it needs the app).
pub fn check_text(text: &str, origin: &str) -> MetricsReport {
    let mut report = MetricsReport {
        source: origin.to_string(),
        format: None,
        families: 0,
        samples: 0,
        scrape_ms: 0,
        findings: check(text, origin),
        counter: CounterOutcome::skipped(
            "",
            "",
            "a saved exposition is checked by its text only; give --url to prove the request counter counts",
        ),
    };
    if let Ok(exposition) = exposition::parse(text) {
        report.describe(&exposition);
    }
    report
}

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The metrics URL, e.g. `http://127.0.0.1:5000/metrics`.
    pub url: String,
    /// The request counter; empty: the counter check is skipped.
    pub counter: String,
    /// Requests sent to `path`; 0 skips the counter check.
    pub requests: u64,
    /// Where the requests go, relative to the URL's origin, e.g. `/`.
    pub path: String,
    /// Longest wait for one answer.
    pub timeout: Duration,
    /// How long the counter is watched without our requests, to measure other traffic.
    pub idle: Duration,
}

impl Options {
    /// `url` with the defaults: 20 requests to `/`, 10 s per answer, a 1 s idle window.
    pub fn new(url: &str, counter: &str) -> Self {
        Self {
            url: url.to_string(),
            counter: counter.to_string(),
            requests: 20,
            path: "/".into(),
            timeout: Duration::from_secs(10),
            idle: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("invalid metrics URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}; nothing was checked")]
    Unreachable { url: String, reason: String },
}

/// Scrapes the metrics URL, applies the rules, then proves the request counter counts.
///
/// Bounded: three scrapes and `requests` requests, each within `timeout`, and the idle
/// window.
///
/// # Errors
///
/// An unusable URL, or a metrics URL that does not answer at all; an answer that is not an
/// exposition is a `DM001` finding instead.
pub async fn run(options: &Options) -> Result<MetricsReport, MetricsError> {
    let url = reqwest::Url::parse(&options.url).map_err(|e| MetricsError::BadUrl {
        url: options.url.clone(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(MetricsError::BadUrl {
            url: options.url.clone(),
            reason: "expected http://HOST:PORT/PATH".into(),
        });
    }
    let target = url.join(&options.path).map_err(|e| MetricsError::BadUrl {
        url: options.path.clone(),
        reason: format!("--path is not a path of {url}: {e}"),
    })?;
    let http = crate::http::client();
    let scraper = Scraper {
        http: &http,
        url: &url,
        timeout: options.timeout,
    };
    let source = url.to_string();
    let mut report = MetricsReport {
        source: source.clone(),
        format: None,
        families: 0,
        samples: 0,
        scrape_ms: 0,
        findings: Vec::new(),
        counter: CounterOutcome::skipped(&options.counter, &options.path, ""),
    };

    let started = Instant::now();
    let first = match scraper.scrape().await {
        Ok(first) => first,
        Err(Scrape::Unreachable(reason)) => {
            return Err(MetricsError::Unreachable {
                url: source,
                reason,
            });
        }
        Err(Scrape::Rejected(finding)) => {
            report.findings.push(finding.at(&source));
            report.counter.detail =
                "the metrics route served no exposition to read the counter from".into();
            return Ok(report);
        }
    };
    report.describe(&first);
    report.findings = rules::check(&first, &source);
    report.scrape_ms = started.elapsed().as_millis() as u64;

    if options.counter.is_empty() {
        report.counter.detail =
            "no request counter is named: give --counter NAME or set [monitoring] request_counter"
                .into();
        return Ok(report);
    }
    if options.requests == 0 {
        report.counter.detail = "--requests 0: the counter was not exercised".into();
        return Ok(report);
    }
    let exercising = Instant::now();
    report.counter = exercise(&scraper, &target, options, first).await;
    report.counter.elapsed_ms = exercising.elapsed().as_millis() as u64;
    if report.counter.verdict == Verdict::Fail {
        report.findings.push(finding(
            &rules::COUNTER_MOVES,
            &source,
            1,
            options.counter.clone(),
            report.counter.detail.clone(),
        ));
    }
    Ok(report)
}

/// The idle window, the requests, the last scrape, and the verdict.
async fn exercise(
    scraper: &Scraper<'_>,
    target: &reqwest::Url,
    options: &Options,
    first: Exposition,
) -> CounterOutcome {
    let counter = &options.counter;
    let path = &options.path;
    let idle_started = Instant::now();
    tokio::time::sleep(options.idle).await;
    let second = match scraper.scrape().await {
        Ok(second) => second,
        Err(error) => {
            return CounterOutcome::failed(counter, path, 0, error.after("the idle window"));
        }
    };
    let idle = idle_started.elapsed();

    let sending = Instant::now();
    let mut answered = 0u64;
    let mut last_error = None;
    for _ in 0..options.requests {
        match scraper
            .http
            .get(target.clone())
            .timeout(options.timeout)
            .send()
            .await
        {
            // Read to the end, so the app has finished (and counted) the request.
            Ok(response) => {
                let _ = response.bytes().await;
                answered += 1;
            }
            Err(error) => {
                last_error = Some(crate::http::describe_transport(&error, options.timeout))
            }
        }
    }
    let third = match scraper.scrape().await {
        Ok(third) => third,
        Err(error) => {
            return CounterOutcome::failed(counter, path, answered, error.after("the requests"));
        }
    };
    let sent_for = sending.elapsed();
    if answered == 0 {
        return CounterOutcome::failed(
            counter,
            path,
            0,
            format!(
                "none of the {} requests to `{path}` got an answer ({}): nothing to count",
                options.requests,
                last_error.unwrap_or_default()
            ),
        );
    }

    let delta = delta(
        std::slice::from_ref(&second),
        std::slice::from_ref(&third),
        counter,
        path,
    );
    let own_scrape = if delta.on_path.is_some() && scraper.url.path() != target.path() {
        0.0
    } else {
        1.0
    };
    let labels: Vec<(&str, &str)> = delta
        .on_path
        .iter()
        .map(|(label, _)| (label.as_str(), path.as_str()))
        .collect();
    let idle_rise = increase(
        std::slice::from_ref(&first),
        std::slice::from_ref(&second),
        counter,
        &labels,
    );
    let others_per_second = (idle_rise - own_scrape).max(0.0) / idle.as_secs_f64().max(1e-3);
    let failed = (options.requests - answered) as f64;
    let background =
        own_scrape + (others_per_second * sent_for.as_secs_f64()).ceil() + UNSEEN_TRAFFIC + failed;
    let verdict = judge(answered, &delta, background);
    let rose =
        (!delta.missing).then(|| delta.on_path.as_ref().map_or(delta.all, |(_, rise)| *rise));
    let (verdict, detail) = match verdict {
        Ok(detail) => (Verdict::Pass, detail),
        Err(detail) => (Verdict::Fail, detail),
    };
    CounterOutcome {
        verdict,
        counter: counter.clone(),
        path: path.clone(),
        sent: answered,
        rose,
        background: Some(background),
        detail,
        elapsed_ms: 0,
    }
}

struct Scraper<'a> {
    http: &'a reqwest::Client,
    url: &'a reqwest::Url,
    timeout: Duration,
}

/// Why a scrape gave no exposition.
enum Scrape {
    /// No answer at all.
    Unreachable(String),
    /// An answer that is not an exposition: a `DM001` finding.
    Rejected(Rejection),
}

/// A `DM001` finding waiting for its origin.
struct Rejection {
    line: u64,
    message: String,
}

impl Rejection {
    fn at(self, origin: &str) -> Finding {
        finding(
            &rules::PARSE,
            origin,
            self.line,
            "exposition".into(),
            self.message,
        )
    }
}

impl Scrape {
    /// The counter check's failure when a later scrape fails.
    fn after(self, when: &str) -> String {
        let why = match self {
            Scrape::Unreachable(reason) => reason,
            Scrape::Rejected(rejection) => {
                format!("line {}: {}", rejection.line, rejection.message)
            }
        };
        format!("the scrape after {when} failed ({why}): the counter could not be read twice")
    }
}

impl Scraper<'_> {
    async fn scrape(&self) -> Result<Exposition, Scrape> {
        let response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| Scrape::Unreachable(crate::http::describe_transport(&e, self.timeout)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Scrape::Unreachable(crate::http::describe_transport(&e, self.timeout)))?;
        if !status.is_success() {
            let start: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let start: String = start.chars().take(120).collect();
            return Err(Scrape::Rejected(Rejection {
                line: 1,
                message: format!(
                    "GET {} answered {status} ({start}): no exposition is served there",
                    self.url
                ),
            }));
        }
        exposition::parse(&text).map_err(|e| {
            Scrape::Rejected(Rejection {
                line: e.line,
                message: e.message,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_metrics_prefix_only_with_unique_ids() {
        let rules = catalogue();
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), rules.len(), "duplicate rule id");
        for rule in rules {
            assert!(
                rule.id.starts_with(crate::findings::ids::METRICS),
                "{}",
                rule.id
            );
            assert!(!rule.why.is_empty() && !rule.hint.is_empty(), "{}", rule.id);
        }
    }

    #[test]
    fn a_text_that_does_not_parse_is_one_finding_at_its_line() {
        let findings = check("up 1\nup{ 2\n", "saved.prom");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "DM001");
        assert_eq!(findings[0].line, 2);
        assert_eq!(findings[0].origin, "saved.prom");
    }

    #[test]
    fn a_saved_exposition_skips_the_counter_and_its_rule() {
        let report = check_text("# HELP up u\n# TYPE up gauge\nup 1\n# EOF\n", "up.txt");
        assert_eq!(report.counter.verdict, Verdict::Skip);
        assert!(report.counter.detail.contains("--url"));
        assert_eq!(report.format, Some("OpenMetrics 1.0"));
        assert_eq!((report.families, report.samples), (1, 1));
        assert!(!report.catalogue().iter().any(|r| r.id == "DM020"));
        assert!(!report.fails(Severity::Info));
    }
}
