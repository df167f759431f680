//! `deploycheck load`: Goose drives the users; latencies go into our own hdrhistogram (Goose
//! keeps millisecond buckets, too coarse on loopback); every acknowledged write is checked
//! afterwards; SLO gates decide the verdict. Loopback targets only, bounded in users and time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;
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

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Mix as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown mix {s:?}: use get-root, write, read or mixed"))
    }
}

/// A gate such as `p95<250ms`, `errors<1%` or `rps>100`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    pub metric: String,
    pub below: bool,
    pub threshold: f64,
    pub text: String,
}

/// Parses `p95<250ms,errors<1%,rps>100`. Latencies take ms or s; errors take %.
///
/// # Errors
/// A message naming the part that is not understood.
pub fn parse_slos(text: &str) -> Result<Vec<Slo>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (metric, rest, below) = if let Some((m, r)) = part.split_once('<') {
                (m, r, true)
            } else if let Some((m, r)) = part.split_once('>') {
                (m, r, false)
            } else {
                return Err(format!("{part:?}: expected METRIC<VALUE or METRIC>VALUE"));
            };
            let metric = metric.trim().to_ascii_lowercase();
            let rest = rest.trim();
            let (number, scale) = match metric.as_str() {
                "p50" | "p90" | "p95" | "p99" | "max" => {
                    if let Some(ms) = rest.strip_suffix("ms") {
                        (ms, 1.0)
                    } else if let Some(s) = rest.strip_suffix('s') {
                        (s, 1000.0)
                    } else {
                        return Err(format!("{part:?}: give the latency in ms or s"));
                    }
                }
                "errors" => (
                    rest.strip_suffix('%')
                        .ok_or_else(|| format!("{part:?}: give errors in %"))?,
                    1.0,
                ),
                "rps" => (rest, 1.0),
                other => {
                    return Err(format!(
                        "{part:?}: unknown metric {other:?} (p50, p90, p95, p99, max, errors, rps)"
                    ));
                }
            };
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: {number:?} is not a number"))?;
            Ok(Slo {
                metric,
                below,
                threshold: value * scale,
                text: part.to_string(),
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub base_url: String,
    pub users: usize,
    pub hatch_rate: usize,
    pub duration: Duration,
    pub mix: Mix,
    pub slos: Vec<Slo>,
    /// Goose's own HTML report, when asked for.
    pub goose_html: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SloResult {
    pub slo: String,
    pub actual: f64,
    pub met: bool,
}

/// Our own summary of a run; Goose's types stop at [`summarise`].
#[derive(Clone, Debug, Serialize)]
pub struct LoadSummary {
    pub url: String,
    pub mix: Mix,
    pub users: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    /// Requests without a 2xx answer (including transport errors), in percent.
    pub error_rate_percent: f64,
    pub by_status: BTreeMap<String, u64>,
    /// Milliseconds, from microsecond-resolution hdrhistogram: what the closed-loop users saw.
    pub latency_ms: Percentiles,
    /// The same, corrected for coordinated omission by Goose (requests a stalled user did not
    /// send are back-filled at its average cadence). `None` when Goose back-filled nothing:
    /// no user stalled, so the raw numbers are the corrected ones.
    pub latency_ms_co_corrected: Option<Percentiles>,
    pub latency_ms_by_route: BTreeMap<String, Percentiles>,
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
        self.slos.iter().all(|s| s.met) && self.lost_writes == 0 && self.requests > 0
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

/// Everything the transactions record, shared between Goose's users.
#[derive(Default)]
struct Recorder {
    latencies: Mutex<BTreeMap<&'static str, Histogram<u64>>>,
    statuses: Mutex<BTreeMap<String, u64>>,
    acknowledged: Mutex<Vec<String>>,
    sequence: std::sync::atomic::AtomicU64,
    run_id: String,
}

impl Recorder {
    fn record(&self, route: &'static str, elapsed: Duration, status: Option<u16>) {
        let micros = elapsed.as_micros().clamp(1, 3_600_000_000) as u64;
        let mut latencies = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        let histogram = latencies.entry(route).or_insert_with(|| {
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
        });
        let _ = histogram.record(micros);
        drop(latencies);
        let key = status.map_or_else(|| "transport error".to_string(), |s| s.to_string());
        *self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }
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

async fn timed(
    user: &mut GooseUser,
    recorder: &Recorder,
    route: &'static str,
    request: impl AsyncFnOnce(
        &mut GooseUser,
    ) -> Result<
        goose::goose::GooseResponse,
        Box<goose::goose::TransactionError>,
    >,
) -> Result<Option<u16>, Box<goose::goose::TransactionError>> {
    let started = Instant::now();
    let response = request(user).await?;
    let status = match &response.response {
        Ok(r) => Some(r.status().as_u16()),
        Err(e) => e.status().map(|s| s.as_u16()),
    };
    // Read the whole body so the latency covers it, as a real client would.
    if let Ok(r) = response.response {
        let _ = r.bytes().await;
    }
    recorder.record(route, started.elapsed(), status);
    Ok(status)
}

async fn get_root(user: &mut GooseUser, recorder: Arc<Recorder>) -> TransactionResult {
    timed(user, &recorder, "GET /", async |u| u.get("/").await)
        .await
        .map(drop)
}

async fn get_data(user: &mut GooseUser, recorder: Arc<Recorder>) -> TransactionResult {
    timed(user, &recorder, "GET /data", async |u| u.get("/data").await)
        .await
        .map(drop)
}

async fn post_data(user: &mut GooseUser, recorder: Arc<Recorder>) -> TransactionResult {
    let n = recorder
        .sequence
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let marker = format!("{}-{n}", recorder.run_id);
    let body = serde_json::json!({"deploycheck_load": marker, "n": n});
    let status = timed(user, &recorder, "POST /data", async |u| {
        u.post_json("/data", &body).await
    })
    .await?;
    if matches!(status, Some(200 | 201)) {
        recorder
            .acknowledged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(marker);
    }
    Ok(())
}

/// Runs the load and the integrity check.
///
/// # Errors
/// A non-loopback or malformed URL, bounds exceeded, or Goose failing to start.
pub async fn run(settings: &Settings) -> Result<LoadSummary, LoadError> {
    check_target(&settings.base_url)?;
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
        ..Recorder::default()
    });

    let (root, write, read) = match settings.mix {
        Mix::GetRoot => (1, 0, 0),
        Mix::Write => (0, 1, 0),
        Mix::Read => (0, 0, 1),
        Mix::Mixed => (6, 3, 1),
    };
    let mut scenario = Scenario::new("deploycheck");
    let goose_err = |e: goose::GooseError| LoadError::Goose(e.to_string());
    if root > 0 {
        let r = recorder.clone();
        scenario = scenario.register_transaction(
            Transaction::new(Arc::new(move |user| Box::pin(get_root(user, r.clone()))))
                .set_name("GET /")
                .set_weight(root)
                .map_err(goose_err)?,
        );
    }
    if write > 0 {
        let r = recorder.clone();
        scenario = scenario.register_transaction(
            Transaction::new(Arc::new(move |user| Box::pin(post_data(user, r.clone()))))
                .set_name("POST /data")
                .set_weight(write)
                .map_err(goose_err)?,
        );
    }
    if read > 0 {
        let r = recorder.clone();
        scenario = scenario.register_transaction(
            Transaction::new(Arc::new(move |user| Box::pin(get_data(user, r.clone()))))
                .set_name("GET /data")
                .set_weight(read)
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
    configuration.co_mitigation = Some(GooseCoordinatedOmissionMitigation::Average);
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

/// Reads `GET /data` once and looks for every acknowledged marker.
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
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50: ms(0.50),
        p90: ms(0.90),
        p95: ms(0.95),
        p99: ms(0.99),
        max: histogram.max() as f64 / 1000.0,
    }
}

fn summarise(
    settings: &Settings,
    recorder: &Recorder,
    elapsed: Duration,
    lost: Option<Vec<String>>,
) -> LoadSummary {
    let latencies = recorder.latencies.lock().unwrap_or_else(|p| p.into_inner());
    let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    for histogram in latencies.values() {
        let _ = all.add(histogram);
    }
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
    let error_rate_percent = if requests == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / requests as f64
    };
    let throughput_rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    let latency_ms = if all.is_empty() {
        Percentiles::default()
    } else {
        percentiles(&all)
    };
    let slos = settings
        .slos
        .iter()
        .map(|slo| {
            let actual = match slo.metric.as_str() {
                "p50" => latency_ms.p50,
                "p90" => latency_ms.p90,
                "p95" => latency_ms.p95,
                "p99" => latency_ms.p99,
                "max" => latency_ms.max,
                "errors" => error_rate_percent,
                _ => throughput_rps,
            };
            let met = if slo.below {
                actual < slo.threshold
            } else {
                actual > slo.threshold
            };
            SloResult {
                slo: slo.text.clone(),
                actual,
                met,
            }
        })
        .collect();
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
        duration_s,
        requests,
        throughput_rps,
        error_rate_percent,
        by_status,
        latency_ms,
        latency_ms_co_corrected: None,
        latency_ms_by_route: latencies
            .iter()
            .map(|(route, h)| (route.to_string(), percentiles(h)))
            .collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_units() {
        let slos = parse_slos("p95<250ms, errors<1%,rps>100,max<2s").unwrap();
        assert_eq!(slos.len(), 4);
        assert_eq!(
            (slos[0].metric.as_str(), slos[0].below, slos[0].threshold),
            ("p95", true, 250.0)
        );
        assert_eq!(
            (slos[1].metric.as_str(), slos[1].threshold),
            ("errors", 1.0)
        );
        assert_eq!((slos[2].metric.as_str(), slos[2].below), ("rps", false));
        assert_eq!(slos[3].threshold, 2000.0);
        for bad in ["p95=1ms", "p95<fast", "p95<250", "latency<1ms", "errors<1"] {
            assert!(parse_slos(bad).is_err(), "{bad}");
        }
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
