//! `deploycheck load`: Goose drives the users; latencies go into our own hdrhistograms per route
//! (Goose keeps millisecond buckets, too coarse on loopback); every acknowledged write is
//! checked afterwards; per-route SLO gates decide the verdict. Loopback targets only, bounded
//! in users, rate and time.
//!
//! `GET /data` is judged for what it is. The challenge's contract returns every document, so
//! while the load writes, each read costs more than the one before: every answer's documents
//! are counted, and an SLO that applies to every route judges a whole-list read per 1,000
//! documents. An app that pages says so in its profile (`list_read = "limit=100"`) and the
//! mix then reads one page, the way a real client would; a page is judged like any route.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::metrics::GooseCoordinatedOmissionMitigation;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Upper bounds that keep every run finite and this machine usable.
pub const MAX_USERS: usize = 1000;
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Requests per second a paced run may ask for.
pub const MAX_RATE: u32 = 100_000;
/// Largest page `list_read` may ask for.
pub const MAX_PAGE: u32 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// Only `GET /`: the app's own overhead.
    GetRoot,
    /// Only `POST /data`.
    Write,
    /// Only `GET /data`.
    Read,
    /// 60% `GET /`, 30% `POST /data`, 10% `GET /data`.
    Mixed,
}

impl Mix {
    /// Goose weight of each route in this mix (0: not sent).
    fn weight(self, route: Route) -> usize {
        match (self, route) {
            (Mix::GetRoot, Route::Root) | (Mix::Write, Route::Write) | (Mix::Read, Route::List) => {
                1
            }
            (Mix::Mixed, Route::Root) => 6,
            (Mix::Mixed, Route::Write) => 3,
            (Mix::Mixed, Route::List) => 1,
            _ => 0,
        }
    }

    /// Whether this mix sends `route` at all.
    pub fn sends(self, route: Route) -> bool {
        self.weight(route) > 0
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = clap::ValueEnum::to_possible_value(self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        f.write_str(&name)
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Mix as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown mix {s:?}: use get-root, write, read or mixed"))
    }
}

/// The requests a load sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Route {
    #[serde(rename = "GET /")]
    Root,
    #[serde(rename = "POST /data")]
    Write,
    /// The list: its cost depends on how many documents an answer holds.
    #[serde(rename = "GET /data")]
    List,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Root, Route::Write, Route::List];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Root => "GET /",
            Route::Write => "POST /data",
            Route::List => "GET /data",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Route {
    type Err = ();
    /// `GET /data`, `get  /data`: the method in any case, the path exactly.
    fn from_str(text: &str) -> Result<Self, ()> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(());
        };
        let method = method.to_ascii_uppercase();
        Route::ALL
            .into_iter()
            .find(|r| r.as_str() == format!("{method} {path}"))
            .ok_or(())
    }
}

/// How the mix reads `GET /data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "read")]
pub enum ListRead {
    /// Every document, as the challenge's contract defines `GET /data`.
    Whole,
    /// One page, `GET /data?PARAM=SIZE`, for an app that pages.
    Page { param: String, size: u32 },
}

impl ListRead {
    /// The path and query the mix requests.
    pub fn path(&self) -> String {
        match self {
            ListRead::Whole => "/data".into(),
            ListRead::Page { param, size } => format!("/data?{param}={size}"),
        }
    }
}

impl fmt::Display for ListRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListRead::Whole => f.write_str("whole"),
            ListRead::Page { param, size } => write!(f, "{param}={size}"),
        }
    }
}

impl FromStr for ListRead {
    type Err = String;
    /// `whole`, or `PARAM=SIZE` such as `limit=100`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let usage = || {
            format!(
                "{text:?}: use \"whole\" (every document) or PARAM=SIZE for an app that pages, \
                 e.g. \"limit=100\" for GET /data?limit=100"
            )
        };
        if text.eq_ignore_ascii_case("whole") {
            return Ok(ListRead::Whole);
        }
        let (param, size) = text.split_once('=').ok_or_else(usage)?;
        let param = param.trim().trim_start_matches('?');
        let valid_name = !param.is_empty()
            && param
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let size = size.trim().parse::<u32>().ok();
        match size {
            Some(size @ 1..=MAX_PAGE) if valid_name => Ok(ListRead::Page {
                param: param.to_string(),
                size,
            }),
            Some(_) if valid_name => Err(format!(
                "{text:?}: the page size must be between 1 and {MAX_PAGE}"
            )),
            _ => Err(usage()),
        }
    }
}

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

#[derive(Clone, Debug)]
pub struct Settings {
    pub base_url: String,
    pub users: usize,
    pub hatch_rate: usize,
    pub duration: Duration,
    pub mix: Mix,
    pub slos: Vec<Slo>,
    /// Requests per second across every user, spaced evenly; `None`: as fast as they go.
    pub rate: Option<u32>,
    /// How the mix reads `GET /data`.
    pub list_read: ListRead,
    /// Goose's own HTML report, when asked for.
    pub goose_html: Option<std::path::PathBuf>,
}

/// What a command sets over the profile's `[load]`; `None` keeps the profile's value.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub users: Option<usize>,
    pub hatch_rate: Option<usize>,
    pub duration: Option<Duration>,
    pub mix: Option<Mix>,
    pub slo: Option<String>,
    /// Requests per second; 0 runs unpaced.
    pub rate: Option<u32>,
    pub list_read: Option<String>,
}

/// A setting of a command or a profile that is not understood.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// From `--slo`.
    #[error("SLO {0}")]
    Slo(#[source] SloError),
    #[error("--{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("profile load.{key}: {message}")]
    Profile { key: &'static str, message: String },
}

impl Settings {
    /// `deploycheck load`: the profile's `[load]` under the command's overrides.
    ///
    /// # Errors
    /// A flag or a profile key that does not parse, named.
    pub fn for_load(
        base_url: &str,
        profile: &crate::profile::Load,
        overrides: &Overrides,
    ) -> Result<Self, SettingsError> {
        let from_profile = |key, message: String| SettingsError::Profile { key, message };
        let slos = match &overrides.slo {
            Some(text) => parse_slos(text).map_err(SettingsError::Slo)?,
            None => parse_slos(&profile.slo).map_err(|e| from_profile("slo", e.to_string()))?,
        };
        let list_read = match &overrides.list_read {
            Some(text) => text.parse().map_err(|message| SettingsError::Flag {
                flag: "list-read",
                message,
            })?,
            None => profile
                .list_read
                .parse()
                .map_err(|e| from_profile("list_read", e))?,
        };
        Ok(Self {
            base_url: base_url.to_string(),
            users: overrides.users.unwrap_or(profile.users as usize),
            hatch_rate: overrides.hatch_rate.unwrap_or(profile.hatch_rate as usize),
            duration: match overrides.duration {
                Some(duration) => duration,
                None => crate::profile::parse_duration(&profile.duration)
                    .map_err(|e| from_profile("duration", e))?,
            },
            mix: match overrides.mix {
                Some(mix) => mix,
                None => profile.mix.parse().map_err(|e| from_profile("mix", e))?,
            },
            slos,
            rate: Some(overrides.rate.unwrap_or(profile.rate)).filter(|r| *r > 0),
            list_read,
            goose_html: None,
        })
    }

    /// `deploycheck local`'s short load: the profile's users, SLOs and list read with the mixed
    /// mix, for `[load.local]`'s duration at its rate unless the command says otherwise.
    ///
    /// # Errors
    /// A profile key that does not parse, named.
    pub fn for_local(
        base_url: &str,
        profile: &crate::profile::Load,
        duration: Option<Duration>,
        rate: Option<u32>,
    ) -> Result<Self, SettingsError> {
        let local_duration = match duration {
            Some(duration) => duration,
            None => crate::profile::parse_duration(&profile.local.duration).map_err(|message| {
                SettingsError::Profile {
                    key: "local.duration",
                    message,
                }
            })?,
        };
        Self::for_load(
            base_url,
            profile,
            &Overrides {
                duration: Some(local_duration),
                mix: Some(Mix::Mixed),
                rate: Some(rate.unwrap_or(profile.local.rate)),
                ..Overrides::default()
            },
        )
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// The value of a latency metric (0 for errors and rps, which are not latencies).
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::P50 => self.p50,
            Metric::P90 => self.p90,
            Metric::P95 => self.p95,
            Metric::P99 => self.p99,
            Metric::Max => self.max,
            Metric::Errors | Metric::Rps => 0.0,
        }
    }
}

/// One route's share of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RouteSummary {
    pub requests: u64,
    /// Requests without a 2xx answer (including transport errors).
    pub failed: u64,
    pub error_rate_percent: f64,
    /// Milliseconds, body included: what the closed-loop users saw.
    pub latency_ms: Percentiles,
    /// `GET /data` only: how many documents its answers held.
    pub list: Option<ListSummary>,
}

/// How `GET /data` was read, and what its answers held.
#[derive(Clone, Debug, Serialize)]
pub struct ListSummary {
    /// What the mix requested, e.g. `/data` or `/data?limit=100`.
    pub path: String,
    pub read: ListRead,
    /// Answers that were JSON arrays, whose documents could be counted.
    pub answers_counted: u64,
    pub documents_min: u64,
    pub documents_max: u64,
    /// Each answer's latency scaled to 1,000 documents (an answer of fewer counts as 1,000), ms.
    pub per_1000_documents_ms: Option<Percentiles>,
    /// A page was asked for, but an answer held more documents than the page size.
    pub paging_ignored: bool,
}

impl ListSummary {
    /// Whether the answers grew with the data the run wrote: the whole list was read.
    pub fn grows(&self) -> bool {
        matches!(self.read, ListRead::Whole) || self.paging_ignored
    }
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

/// Our own summary of a run; Goose's types stop at [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct LoadSummary {
    pub url: String,
    pub mix: Mix,
    pub users: usize,
    /// The pace asked for, requests per second; `None`: as fast as the users went.
    pub rate: Option<u32>,
    /// Paced runs: slots that passed with every user still busy, i.e. requests the pace asked
    /// for that were never sent (the paced form of coordinated omission).
    pub missed_slots: u64,
    pub duration_s: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    /// Requests without a 2xx answer (including transport errors), in percent.
    pub error_rate_percent: f64,
    pub by_status: BTreeMap<String, u64>,
    /// Every route together, milliseconds: context only, the SLOs judge each route.
    pub latency_ms: Percentiles,
    /// The same, corrected for coordinated omission by Goose (requests a stalled user did not
    /// send are back-filled at its average cadence). `None` when Goose back-filled nothing (no
    /// user stalled, so the raw numbers are the corrected ones) and in a paced run, where a
    /// user's cadence is the pace's, not the app's: there `missed_slots` counts omissions.
    pub latency_ms_co_corrected: Option<Percentiles>,
    /// Keyed by route (`GET /`, `POST /data`, `GET /data`): the routes the mix sent.
    pub routes: BTreeMap<Route, RouteSummary>,
    pub acknowledged_writes: usize,
    pub lost_writes: usize,
    /// Up to 10 markers of acknowledged writes that could not be read back.
    pub lost_examples: Vec<String>,
    pub integrity_checked: bool,
    pub slos: Vec<SloResult>,
}

impl LoadSummary {
    /// Every SLO met and no acknowledged write lost.
    pub fn passed(&self) -> bool {
        self.slos.iter().all(SloResult::met) && self.lost_writes == 0 && self.requests > 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "refusing to load {url}: load runs target loopback only (127.0.0.0/8, ::1, localhost); reach a cluster through `kubectl port-forward`"
    )]
    NotLoopback { url: String },
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{0}")]
    Bounds(String),
    #[error("cannot reach {url}: {reason}; no load was sent")]
    Unreachable { url: String, reason: String },
    #[error("the load generator failed: {0}")]
    Goose(String),
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What one route's requests recorded.
struct RouteRecord {
    latency: Histogram<u64>,
    per_1000_documents: Histogram<u64>,
    requests: u64,
    failed: u64,
    /// Smallest and largest answer, in documents.
    documents: Option<(u64, u64)>,
}

impl Default for RouteRecord {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            per_1000_documents: new_histogram(),
            requests: 0,
            failed: 0,
            documents: None,
        }
    }
}

/// Everything the transactions record, shared between Goose's users.
#[derive(Default)]
struct Recorder {
    routes: Mutex<BTreeMap<Route, RouteRecord>>,
    statuses: Mutex<BTreeMap<String, u64>>,
    acknowledged: Mutex<Vec<String>>,
    sequence: AtomicU64,
    run_id: String,
    pacer: Option<Pacer>,
}

impl Recorder {
    fn record(&self, route: Route, elapsed: Duration, status: Option<u16>, documents: Option<u64>) {
        let micros = elapsed.as_micros().clamp(1, 3_600_000_000) as u64;
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let record = routes.entry(route).or_default();
        let _ = record.latency.record(micros);
        record.requests += 1;
        if !status.is_some_and(|s| (200..300).contains(&s)) {
            record.failed += 1;
        }
        if let Some(n) = documents {
            let _ = record
                .per_1000_documents
                .record(per_1000_documents(micros, n));
            record.documents = Some(match record.documents {
                None => (n, n),
                Some((min, max)) => (min.min(n), max.max(n)),
            });
        }
        drop(routes);
        let key = status.map_or_else(|| "transport error".to_string(), |s| s.to_string());
        *self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }
}

/// An answer's latency scaled to 1,000 documents; an answer of fewer counts as 1,000, so a
/// small list is held to the same budget as a list of 1,000 rather than to a fraction of it.
fn per_1000_documents(micros: u64, documents: u64) -> u64 {
    (micros.saturating_mul(1000) / documents.max(1000)).max(1)
}

/// Spaces requests evenly across every user to hold a rate. A slot no user was free to take
/// is not made up later (a slow app gets no burst after a stall) but counted: those are the
/// requests a paced run omitted because the app kept every user busy.
struct Pacer {
    interval: Duration,
    /// The next free slot; `None` until the first request, so start-up is not a stall.
    next: Mutex<Option<tokio::time::Instant>>,
    missed: AtomicU64,
}

impl Pacer {
    fn new(rate: u32) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: Mutex::new(None),
            missed: AtomicU64::new(0),
        }
    }

    async fn wait(&self) {
        let (slot, missed) = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = tokio::time::Instant::now();
            take_slot(next.get_or_insert(now), now, self.interval)
        };
        self.missed.fetch_add(missed, Ordering::Relaxed);
        tokio::time::sleep_until(slot).await;
    }
}

/// The next free slot at or after `now` (the one after it is `interval` later), and how many
/// whole slots passed unused before `now`.
fn take_slot(
    next: &mut tokio::time::Instant,
    now: tokio::time::Instant,
    interval: Duration,
) -> (tokio::time::Instant, u64) {
    let missed = now.saturating_duration_since(*next).as_nanos() / interval.as_nanos().max(1);
    let slot = (*next).max(now);
    *next = slot + interval;
    (slot, missed as u64)
}

fn check_target(url: &str) -> Result<(), LoadError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| LoadError::BadUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LoadError::BadUrl {
            url: url.into(),
            reason: "expected http://HOST:PORT".into(),
        });
    }
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(LoadError::NotLoopback { url: url.into() })
    }
}

type GooseRequest = Result<goose::goose::GooseResponse, Box<goose::goose::TransactionError>>;

/// Sends one request at the run's pace and reads the whole answer, as a real client would.
/// Returns the status, the time from sending to the last byte, and the body of a 2xx answer.
async fn timed(
    user: &mut GooseUser,
    recorder: &Recorder,
    request: impl AsyncFnOnce(&mut GooseUser) -> GooseRequest,
) -> Result<
    (
        Option<u16>,
        Duration,
        Option<impl std::ops::Deref<Target = [u8]>>,
    ),
    Box<goose::goose::TransactionError>,
> {
    if let Some(pacer) = &recorder.pacer {
        pacer.wait().await;
    }
    let started = Instant::now();
    let response = request(user).await?;
    let (status, body) = match response.response {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), r.bytes().await.ok())
        }
        Err(e) => (e.status().map(|s| s.as_u16()), None),
    };
    let elapsed = started.elapsed();
    let body = body.filter(|_| status.is_some_and(|s| (200..300).contains(&s)));
    Ok((status, elapsed, body))
}

async fn get_root(user: &mut GooseUser, recorder: Arc<Recorder>) -> TransactionResult {
    let (status, elapsed, _) = timed(user, &recorder, async |u| u.get("/").await).await?;
    recorder.record(Route::Root, elapsed, status, None);
    Ok(())
}

async fn get_data(
    user: &mut GooseUser,
    recorder: Arc<Recorder>,
    path: Arc<str>,
) -> TransactionResult {
    let (status, elapsed, body) = timed(user, &recorder, async |u| u.get(&path).await).await?;
    // Counted after the clock stopped: the count is ours, not the app's work.
    let documents = body.as_deref().and_then(count_documents);
    recorder.record(Route::List, elapsed, status, documents);
    Ok(())
}

/// The number of elements of a JSON array, without building them.
fn count_documents(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
        .ok()
        .map(|items| items.len() as u64)
}

async fn post_data(user: &mut GooseUser, recorder: Arc<Recorder>) -> TransactionResult {
    let n = recorder.sequence.fetch_add(1, Ordering::Relaxed);
    let marker = format!("{}-{n}", recorder.run_id);
    let body = serde_json::json!({"deploycheck_load": marker, "n": n});
    let (status, elapsed, _) =
        timed(user, &recorder, async |u| u.post_json("/data", &body).await).await?;
    recorder.record(Route::Write, elapsed, status, None);
    if matches!(status, Some(200 | 201)) {
        recorder
            .acknowledged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(marker);
    }
    Ok(())
}

fn check_bounds(settings: &Settings) -> Result<(), LoadError> {
    if settings.users == 0 || settings.users > MAX_USERS {
        return Err(LoadError::Bounds(format!(
            "--users must be between 1 and {MAX_USERS}"
        )));
    }
    if settings.duration.is_zero() || settings.duration > MAX_DURATION {
        return Err(LoadError::Bounds(format!(
            "--duration must be between 1s and {}s",
            MAX_DURATION.as_secs()
        )));
    }
    if settings.rate.is_some_and(|r| r == 0 || r > MAX_RATE) {
        return Err(LoadError::Bounds(format!(
            "--rate must be between 1 and {MAX_RATE} requests per second (0 in a profile: unpaced)"
        )));
    }
    Ok(())
}

/// Runs the load and the integrity check.
///
/// # Errors
/// A non-loopback or malformed URL, bounds exceeded, an unreachable app (nothing is sent then),
/// or Goose failing to start.
pub async fn run(settings: &Settings) -> Result<LoadSummary, LoadError> {
    check_target(&settings.base_url)?;
    check_bounds(settings)?;
    let preflight = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| LoadError::Goose(e.to_string()))?;
    if let Err(error) = preflight.get(&settings.base_url).send().await {
        return Err(LoadError::Unreachable {
            url: settings.base_url.clone(),
            reason: error.to_string(),
        });
    }
    let recorder = Arc::new(Recorder {
        run_id: crate::unique_marker("load"),
        pacer: settings.rate.map(Pacer::new),
        ..Recorder::default()
    });

    let mut scenario = Scenario::new("deploycheck");
    let goose_err = |e: goose::GooseError| LoadError::Goose(e.to_string());
    let list_path: Arc<str> = settings.list_read.path().into();
    for route in Route::ALL {
        let weight = settings.mix.weight(route);
        if weight == 0 {
            continue;
        }
        let r = recorder.clone();
        let transaction = match route {
            Route::Root => {
                Transaction::new(Arc::new(move |user| Box::pin(get_root(user, r.clone()))))
            }
            Route::Write => {
                Transaction::new(Arc::new(move |user| Box::pin(post_data(user, r.clone()))))
            }
            Route::List => {
                let path = list_path.clone();
                Transaction::new(Arc::new(move |user| {
                    Box::pin(get_data(user, r.clone(), path.clone()))
                }))
            }
        };
        scenario = scenario.register_transaction(
            transaction
                .set_name(route.as_str())
                .set_weight(weight)
                .map_err(goose_err)?,
        );
    }

    let mut configuration = GooseConfiguration::default();
    configuration.host = Some(settings.base_url.clone());
    configuration.users = Some(settings.users);
    configuration.increase_rate = Some(settings.hatch_rate.max(1).to_string());
    configuration.run_time = Some(format!("{}", settings.duration.as_secs().max(1)));
    configuration.timeout = Some("10".into());
    configuration.no_telnet = true;
    configuration.no_print_metrics = true;
    configuration.no_error_summary = true;
    configuration.quiet = 1;
    configuration.co_mitigation = Some(if settings.rate.is_some() {
        GooseCoordinatedOmissionMitigation::Disabled
    } else {
        GooseCoordinatedOmissionMitigation::Average
    });
    if let Some(html) = &settings.goose_html {
        configuration.report_file = vec![html.display().to_string()];
    }

    let started = Instant::now();
    let metrics = GooseAttack::initialize_with_config(configuration)
        .map_err(goose_err)?
        .register_scenario(scenario)
        .execute()
        .await
        .map_err(goose_err)?;
    let elapsed = started.elapsed();
    let co_corrected = co_corrected_percentiles(&metrics);

    let integrity = check_integrity(&settings.base_url, &recorder).await;
    let mut summary = summarise(settings, &recorder, elapsed, integrity);
    summary.latency_ms_co_corrected = co_corrected;
    Ok(summary)
}

/// Reads the whole of `GET /data` once and looks for every acknowledged marker.
async fn check_integrity(base_url: &str, recorder: &Recorder) -> Option<Vec<String>> {
    let acknowledged = recorder
        .acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if acknowledged.is_empty() {
        return Some(Vec::new());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .ok()?;
    let documents: serde_json::Value = http
        .get(format!("{}/data", base_url.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let found: BTreeSet<&str> = documents
        .as_array()?
        .iter()
        .filter_map(|d| d.get("deploycheck_load")?.as_str())
        .collect();
    Some(
        acknowledged
            .into_iter()
            .filter(|m| !found.contains(m.as_str()))
            .collect(),
    )
}

/// Goose's coordinated-omission data (microsecond buckets, back-filled) as our percentiles.
fn co_corrected_percentiles(metrics: &goose::metrics::GooseMetrics) -> Option<Percentiles> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    if metrics
        .requests
        .values()
        .all(|a| a.coordinated_omission_data.is_none())
    {
        return None;
    }
    // Routes that never stalled have no back-filled data: their raw times are their own.
    for aggregate in metrics.requests.values() {
        let data = aggregate
            .coordinated_omission_data
            .as_ref()
            .unwrap_or(&aggregate.raw_data);
        for (micros, count) in data.times_us.iter() {
            let _ = histogram.record_n((*micros).clamp(1, 3_600_000_000), *count as u64);
        }
    }
    (!histogram.is_empty()).then(|| percentiles(&histogram))
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50: ms(0.50),
        p90: ms(0.90),
        p95: ms(0.95),
        p99: ms(0.99),
        max: histogram.max() as f64 / 1000.0,
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn summarise(
    settings: &Settings,
    recorder: &Recorder,
    elapsed: Duration,
    lost: Option<Vec<String>>,
) -> LoadSummary {
    let records = recorder.routes.lock().unwrap_or_else(|p| p.into_inner());
    let mut all = new_histogram();
    for record in records.values() {
        let _ = all.add(&record.latency);
    }
    let routes: BTreeMap<Route, RouteSummary> = records
        .iter()
        .map(|(route, record)| {
            let list = (*route == Route::List).then(|| {
                let (documents_min, documents_max) = record.documents.unwrap_or_default();
                let answers_counted = record.per_1000_documents.len();
                ListSummary {
                    path: settings.list_read.path(),
                    read: settings.list_read.clone(),
                    answers_counted,
                    documents_min,
                    documents_max,
                    per_1000_documents_ms: (answers_counted > 0)
                        .then(|| percentiles(&record.per_1000_documents)),
                    paging_ignored: matches!(
                        settings.list_read,
                        ListRead::Page { size, .. } if documents_max > u64::from(size)
                    ),
                }
            });
            let summary = RouteSummary {
                requests: record.requests,
                failed: record.failed,
                error_rate_percent: percent(record.failed, record.requests),
                latency_ms: percentiles(&record.latency),
                list,
            };
            (*route, summary)
        })
        .collect();
    drop(records);
    let by_status = recorder
        .statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let requests: u64 = by_status.values().sum();
    let failed: u64 = by_status
        .iter()
        .filter(|(status, _)| !status.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    let duration_s = elapsed.as_secs_f64();
    let throughput_rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    let slos = judge(&settings.slos, settings.mix, &routes, duration_s);
    let acknowledged_writes = recorder
        .acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len();
    let (integrity_checked, lost) = match lost {
        Some(lost) => (true, lost),
        None => (false, Vec::new()),
    };
    LoadSummary {
        url: settings.base_url.clone(),
        mix: settings.mix,
        users: settings.users,
        rate: settings.rate,
        missed_slots: recorder
            .pacer
            .as_ref()
            .map_or(0, |p| p.missed.load(Ordering::Relaxed)),
        duration_s,
        requests,
        throughput_rps,
        error_rate_percent: percent(failed, requests),
        by_status,
        latency_ms: percentiles(&all),
        latency_ms_co_corrected: None,
        routes,
        acknowledged_writes,
        lost_writes: if integrity_checked {
            lost.len()
        } else {
            acknowledged_writes
        },
        lost_examples: lost.into_iter().take(10).collect(),
        integrity_checked,
        slos,
    }
}

/// Judges every SLO: a clause naming a route on that route, one without a route on each route
/// the mix sent (`rps` on the whole run). On a `GET /data` that read the whole list, a latency
/// clause for every route is judged per 1,000 documents; a clause naming `GET /data` is judged
/// as written.
pub fn judge(
    slos: &[Slo],
    mix: Mix,
    routes: &BTreeMap<Route, RouteSummary>,
    duration_s: f64,
) -> Vec<SloResult> {
    let mut results = Vec::new();
    for slo in slos {
        match slo.route {
            Some(route) => results.push(judge_route(slo, route, false, mix, routes, duration_s)),
            None if slo.metric == Metric::Rps => {
                let requests: u64 = routes.values().map(|r| r.requests).sum();
                let actual = if duration_s > 0.0 {
                    requests as f64 / duration_s
                } else {
                    0.0
                };
                results.push(verdict(slo, None, Basis::Throughput, Some(actual), None));
            }
            None => results.extend(
                Route::ALL
                    .into_iter()
                    .filter(|r| mix.sends(*r))
                    .map(|route| judge_route(slo, route, true, mix, routes, duration_s)),
            ),
        }
    }
    results
}

fn judge_route(
    slo: &Slo,
    route: Route,
    every_route: bool,
    mix: Mix,
    routes: &BTreeMap<Route, RouteSummary>,
    duration_s: f64,
) -> SloResult {
    let stats = routes.get(&route).filter(|s| s.requests > 0);
    let list = stats.and_then(|s| s.list.as_ref());
    let basis = match slo.metric {
        Metric::Errors => Basis::ErrorRate,
        Metric::Rps => Basis::Throughput,
        _ if slo.per_1000_documents || (every_route && list.is_some_and(ListSummary::grows)) => {
            Basis::LatencyPer1000Documents
        }
        _ => Basis::Latency,
    };
    if !mix.sends(route) {
        return SloResult {
            slo: slo.text.clone(),
            route: Some(route),
            basis,
            threshold: slo.threshold,
            actual: None,
            verdict: SloVerdict::Skipped,
            note: Some(format!("the {mix} mix sends no {route}")),
        };
    }
    let Some(stats) = stats else {
        let note = format!("no {route} request completed");
        return verdict(slo, Some(route), basis, None, Some(note));
    };
    match basis {
        Basis::ErrorRate => verdict(
            slo,
            Some(route),
            basis,
            Some(stats.error_rate_percent),
            None,
        ),
        Basis::Throughput => {
            let actual = if duration_s > 0.0 {
                stats.requests as f64 / duration_s
            } else {
                0.0
            };
            verdict(slo, Some(route), basis, Some(actual), None)
        }
        Basis::Latency => verdict(
            slo,
            Some(route),
            basis,
            Some(stats.latency_ms.get(slo.metric)),
            None,
        ),
        Basis::LatencyPer1000Documents => {
            match list.and_then(|l| l.per_1000_documents_ms.as_ref()) {
                Some(p) => verdict(slo, Some(route), basis, Some(p.get(slo.metric)), None),
                None => verdict(
                    slo,
                    Some(route),
                    basis,
                    None,
                    Some(format!(
                        "no {route} answer was a JSON array, so its documents could not be counted"
                    )),
                ),
            }
        }
    }
}

/// Met or missed; an SLO nothing could be measured for is missed, with `note` saying why.
fn verdict(
    slo: &Slo,
    route: Option<Route>,
    basis: Basis,
    actual: Option<f64>,
    note: Option<String>,
) -> SloResult {
    let met = actual.is_some_and(|a| {
        if slo.below {
            a < slo.threshold
        } else {
            a > slo.threshold
        }
    });
    SloResult {
        slo: slo.text.clone(),
        route,
        basis,
        threshold: slo.threshold,
        actual,
        verdict: if met {
            SloVerdict::Met
        } else {
            SloVerdict::Missed
        },
        note,
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
        assert_eq!(
            error("POST /data:p97<250ms").to_string(),
            "\"POST /data:p97<250ms\": unknown percentile \"p97\"; use p50, p90, p95, p99 or max"
        );
        assert!(matches!(
            error("p99.9<1s"),
            SloError::UnknownPercentile { .. }
        ));
        assert!(matches!(
            error("latency<1ms"),
            SloError::UnknownMetric { .. }
        ));
        assert_eq!(
            error("p95<250").to_string(),
            "\"p95<250\": no unit; give a latency in ms or s (on GET /data also per 1,000 documents, e.g. 100ms/1000docs)"
        );
        assert_eq!(
            error("GET /:p95<250us").to_string(),
            "\"GET /:p95<250us\": unknown unit \"us\"; give a latency in ms or s (on GET /data also per 1,000 documents, e.g. 100ms/1000docs)"
        );
        assert!(matches!(error("errors<1"), SloError::BadUnit { .. }));
        assert!(matches!(error("rps>1ms"), SloError::BadUnit { .. }));
        assert_eq!(
            error("p95<fast").to_string(),
            "\"p95<fast\": \"fast\" is not a number"
        );
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

    #[test]
    fn list_reads_are_whole_or_one_page() {
        assert_eq!("whole".parse::<ListRead>().unwrap(), ListRead::Whole);
        let page: ListRead = "limit=100".parse().unwrap();
        assert_eq!(page.path(), "/data?limit=100");
        assert_eq!(page.to_string(), "limit=100");
        assert_eq!(
            "?per_page = 20".parse::<ListRead>().unwrap().path(),
            "/data?per_page=20"
        );
        for bad in [
            "",
            "limit",
            "limit=0",
            "limit=x",
            "=5",
            "a b=3",
            "limit=1000000",
        ] {
            let error = bad.parse::<ListRead>().unwrap_err();
            assert!(error.starts_with(&format!("{:?}", bad.trim())), "{error}");
        }
    }

    fn route(latency_p95: f64, requests: u64, failed: u64) -> RouteSummary {
        RouteSummary {
            requests,
            failed,
            error_rate_percent: percent(failed, requests),
            latency_ms: Percentiles {
                p95: latency_p95,
                ..Percentiles::default()
            },
            list: None,
        }
    }

    /// A run whose `GET /data` answers grew to `documents_max` under the given read.
    fn run_with_list(
        read: ListRead,
        list_p95: f64,
        per_1000_p95: f64,
        documents_max: u64,
    ) -> BTreeMap<Route, RouteSummary> {
        let paging_ignored =
            matches!(read, ListRead::Page { size, .. } if documents_max > u64::from(size));
        let mut list = route(list_p95, 50, 0);
        list.list = Some(ListSummary {
            path: read.path(),
            read,
            answers_counted: 50,
            documents_min: 0,
            documents_max,
            per_1000_documents_ms: Some(Percentiles {
                p95: per_1000_p95,
                ..Percentiles::default()
            }),
            paging_ignored,
        });
        BTreeMap::from([
            (Route::Root, route(1.0, 300, 0)),
            (Route::Write, route(20.0, 150, 0)),
            (Route::List, list),
        ])
    }

    fn outcome(results: &[SloResult], route: Route) -> (Basis, Option<f64>, SloVerdict) {
        let r = results
            .iter()
            .find(|r| r.route == Some(route))
            .unwrap_or_else(|| panic!("no result for {route}: {results:#?}"));
        (r.basis, r.actual, r.verdict)
    }

    #[test]
    fn an_slo_for_every_route_judges_a_growing_list_per_1000_documents() {
        // The whole list grew to 5,000 documents: 600 ms an answer, 120 ms per 1,000.
        let routes = run_with_list(ListRead::Whole, 600.0, 120.0, 5000);
        let results = judge(&parse_slos("p95<250ms").unwrap(), Mix::Mixed, &routes, 10.0);
        assert_eq!(results.len(), 3, "one result per route: {results:#?}");
        assert_eq!(
            outcome(&results, Route::List),
            (Basis::LatencyPer1000Documents, Some(120.0), SloVerdict::Met)
        );
        assert_eq!(
            outcome(&results, Route::Write),
            (Basis::Latency, Some(20.0), SloVerdict::Met)
        );
        // Named, the list is judged as written: its absolute p95 misses.
        let results = judge(
            &parse_slos("GET /data:p95<250ms").unwrap(),
            Mix::Mixed,
            &routes,
            10.0,
        );
        assert_eq!(
            outcome(&results, Route::List),
            (Basis::Latency, Some(600.0), SloVerdict::Missed)
        );
        let results = judge(
            &parse_slos("GET /data:p95<100ms/1000docs").unwrap(),
            Mix::Mixed,
            &routes,
            10.0,
        );
        assert_eq!(
            outcome(&results, Route::List),
            (
                Basis::LatencyPer1000Documents,
                Some(120.0),
                SloVerdict::Missed
            )
        );
    }

    #[test]
    fn a_page_is_judged_like_any_route_unless_the_app_ignored_the_paging() {
        let page = ListRead::Page {
            param: "limit".into(),
            size: 100,
        };
        let slos = parse_slos("p95<250ms").unwrap();
        let routes = run_with_list(page.clone(), 300.0, 300.0, 100);
        assert_eq!(
            outcome(&judge(&slos, Mix::Mixed, &routes, 10.0), Route::List),
            (Basis::Latency, Some(300.0), SloVerdict::Missed)
        );
        let routes = run_with_list(page, 600.0, 120.0, 5000);
        assert!(routes[&Route::List].list.as_ref().unwrap().grows());
        assert_eq!(
            outcome(&judge(&slos, Mix::Mixed, &routes, 10.0), Route::List),
            (Basis::LatencyPer1000Documents, Some(120.0), SloVerdict::Met)
        );
    }

    #[test]
    fn errors_count_per_route_and_rps_for_the_run() {
        // 2% of 100 writes failed: 0.4% of the run, but the write route misses errors<1%.
        let routes = BTreeMap::from([
            (Route::Root, route(1.0, 400, 0)),
            (Route::Write, route(20.0, 100, 2)),
        ]);
        let results = judge(
            &parse_slos("errors<1%,rps>40").unwrap(),
            Mix::Write,
            &routes,
            10.0,
        );
        assert_eq!(results.len(), 2, "{results:#?}");
        assert_eq!(
            outcome(&results, Route::Write),
            (Basis::ErrorRate, Some(2.0), SloVerdict::Missed)
        );
        let rps = results.iter().find(|r| r.route.is_none()).unwrap();
        assert_eq!(
            (rps.basis, rps.actual, rps.verdict),
            (Basis::Throughput, Some(50.0), SloVerdict::Met)
        );
    }

    #[test]
    fn a_route_the_mix_does_not_send_is_skipped_and_a_silent_one_missed() {
        let routes = BTreeMap::from([(Route::Root, route(1.0, 100, 0))]);
        let slos = parse_slos("POST /data:p95<250ms").unwrap();
        let skipped = judge(&slos, Mix::GetRoot, &routes, 1.0).remove(0);
        assert_eq!(skipped.verdict, SloVerdict::Skipped);
        assert!(skipped.met());
        assert_eq!(
            skipped.note.as_deref(),
            Some("the get-root mix sends no POST /data")
        );
        let silent = judge(&slos, Mix::Mixed, &routes, 1.0).remove(0);
        assert_eq!(silent.verdict, SloVerdict::Missed);
        assert_eq!(
            silent.note.as_deref(),
            Some("no POST /data request completed")
        );
    }

    #[test]
    fn latency_per_1000_documents_holds_small_lists_to_the_budget_of_1000() {
        assert_eq!(per_1000_documents(50_000, 0), 50_000);
        assert_eq!(per_1000_documents(50_000, 400), 50_000);
        assert_eq!(per_1000_documents(500_000, 5000), 100_000);
        assert_eq!(count_documents(b"[{\"a\":1},{},[1,2]]"), Some(3));
        assert_eq!(count_documents(b"[]"), Some(0));
        assert_eq!(count_documents(b"{\"error\":1}"), None);
    }

    #[test]
    fn paced_slots_are_evenly_spaced_and_a_stall_brings_no_burst() {
        let start = tokio::time::Instant::now();
        let interval = Duration::from_millis(10);
        let mut next = start;
        let slots: Vec<_> = (0..3)
            .map(|_| take_slot(&mut next, start, interval))
            .map(|(slot, missed)| (slot - start, missed))
            .collect();
        assert_eq!(slots, [0, 10, 20].map(|ms| (Duration::from_millis(ms), 0)));
        // Every user was busy for a second: the next slot is now, not 97 slots at once, and
        // the 97 that passed unused are counted.
        let late = start + Duration::from_secs(1);
        assert_eq!(take_slot(&mut next, late, interval), (late, 97));
        assert_eq!(take_slot(&mut next, late, interval), (late + interval, 0));
    }

    #[test]
    fn the_built_in_profiles_load_settings_parse() {
        for name in ["reference", "flask-mongo"] {
            let profile = crate::profile::Profile::built_in(name).unwrap();
            let load = Settings::for_load(
                "http://127.0.0.1:5000",
                &profile.load,
                &Overrides::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(load.rate, None, "{name}: `load` runs unpaced unless asked");
            let local = Settings::for_local("http://127.0.0.1:5000", &profile.load, None, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((local.mix, local.rate), (Mix::Mixed, Some(100)), "{name}");
            assert_eq!(local.duration, Duration::from_secs(5), "{name}");
            assert_eq!(
                local.slos, load.slos,
                "{name}: one set of SLOs for both commands"
            );
            for route in Route::ALL {
                assert!(
                    local
                        .slos
                        .iter()
                        .any(|s| s.route == Some(route) && s.metric == Metric::P95),
                    "{name}: a p95 gate for {route}"
                );
            }
        }
        let reference = crate::profile::Profile::built_in("reference").unwrap();
        let local =
            Settings::for_local("http://127.0.0.1:1", &reference.load, None, Some(0)).unwrap();
        assert_eq!(local.rate, None, "--load-rate 0 runs unpaced");
        assert_eq!(local.list_read.path(), "/data?limit=100");
    }

    #[test]
    fn a_bad_override_or_profile_key_is_named() {
        let mut profile = crate::profile::Profile::built_in("reference").unwrap().load;
        let overrides = Overrides {
            slo: Some("p95<fast".into()),
            ..Overrides::default()
        };
        let error = Settings::for_load("http://127.0.0.1:1", &profile, &overrides).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SLO \"p95<fast\": \"fast\" is not a number"
        );
        let overrides = Overrides {
            list_read: Some("all".into()),
            ..Overrides::default()
        };
        let error = Settings::for_load("http://127.0.0.1:1", &profile, &overrides).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--list-read: \"all\": use \"whole\""),
            "{error}"
        );
        profile.slo = "GET /items:p95<1s".into();
        let error = Settings::for_local("http://127.0.0.1:1", &profile, None, None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("profile load.slo: \"GET /items:p95<1s\": unknown route"),
            "{error}"
        );
    }

    #[test]
    fn only_loopback_targets() {
        for ok in [
            "http://127.0.0.1:5000",
            "http://localhost:1",
            "http://[::1]:8080",
            "http://127.1.2.3",
        ] {
            assert!(check_target(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:5000",
            "http://example.com",
            "http://192.168.1.1",
        ] {
            assert!(
                matches!(check_target(refused), Err(LoadError::NotLoopback { .. })),
                "{refused}"
            );
        }
        assert!(matches!(
            check_target("ftp://127.0.0.1"),
            Err(LoadError::BadUrl { .. })
        ));
    }
}
