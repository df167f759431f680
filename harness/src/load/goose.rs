//! The run: loopback and bounds checks, Goose's attack and the transactions its users send,
//! and Goose's coordinated-omission data as our percentiles (Goose's types stop here).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::metrics::GooseCoordinatedOmissionMitigation;
use hdrhistogram::Histogram;

use super::integrity::check_integrity;
use super::list_read::count_documents;
use super::mix::Route;
use super::pace::Pacer;
use super::record::{Recorder, summarise};
use super::settings::Settings;
use super::summary::{LoadSummary, Percentiles, percentiles};

/// Upper bounds that keep every run finite and this machine usable.
pub const MAX_USERS: usize = 1000;
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Requests per second a paced run may ask for.
pub const MAX_RATE: u32 = 100_000;

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

#[cfg(test)]
mod tests {
    use super::*;

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
