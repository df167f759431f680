//! HPA scale-up under load: the HPA reads real CPU metrics (not `<unknown>`), load spread over
//! every ready pod (a forwarder over the Service's endpoints, a fresh connection per request so
//! new pods get traffic at once) raises CPU, and the replicas exceed the minimum before the
//! deadline. Records a timeline (time, replicas, desired, CPU %, RPS, p95). Scale-down back to
//! the minimum is a separate, slow scenario.

use std::time::{Duration, Instant};

use super::{ScenarioOutcome, Target, TimelinePoint};
use crate::cluster::{Cluster, HpaState};
use crate::probe::{DriveConfig, Driver};

const ID: &str = "hpa";
/// Requests per connection before a worker reconnects (and lands on the next pod).
const RECONNECT_EVERY: u64 = 20;
/// How often the HPA is sampled: its controller syncs every 15 s, metrics resolve in 15-60 s.
pub const SAMPLE: Duration = Duration::from_secs(5);

/// The hint when the HPA cannot read CPU.
pub fn unknown_cpu_hint(hpa: &HpaState) -> String {
    let conditions: Vec<String> = hpa
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(ToString::to_string)
        .collect();
    format!(
        "HPA {} reports CPU <unknown>: metrics-server is missing or not ready (does `kubectl top \
         pods` work? on kind install it with --kubelet-insecure-tls), or the containers have no \
         CPU request{}",
        hpa.name,
        if conditions.is_empty() {
            String::new()
        } else {
            format!(" ({})", conditions.join("; "))
        }
    )
}

/// The profile's HPA as the controller sees it now; a missing one is a sentence.
async fn current<C: Cluster>(target: &Target<C>) -> Result<HpaState, String> {
    let name = &target.profile.hpa.name;
    match target.cluster.hpa(&target.namespace, name).await {
        Ok(Some(hpa)) => Ok(hpa),
        Ok(None) => Err(format!("HPA {name} does not exist")),
        Err(error) => Err(error.to_string()),
    }
}

/// Runs the scenario with the default sampling interval.
pub async fn scale_up<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    scale_up_sampling(target, base_url, SAMPLE).await
}

pub async fn scale_up_sampling<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
    sample: Duration,
) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let deadline = profile.cluster.hpa_scale_up;
    let started = Instant::now();
    // Metrics first: without them the HPA can never scale, whatever the load.
    let mut hpa = loop {
        match current(target).await {
            Ok(hpa) if hpa.cpu_percent.is_some() => break hpa,
            Ok(hpa) => {
                if started.elapsed() + sample > profile.cluster.recovery.min(deadline) {
                    return ScenarioOutcome::fail(ID, unknown_cpu_hint(&hpa));
                }
            }
            Err(error) => return ScenarioOutcome::fail(ID, error),
        }
        tokio::time::sleep(sample).await;
    };
    let minimum = hpa.min;
    // Replicas left over from earlier load would pass without this run doing anything.
    let before = hpa.current;
    if before >= hpa.max {
        return ScenarioOutcome::fail(
            ID,
            format!(
                "{} already runs {before} replicas, its maximum, before any load: a scale-up \
                 cannot be shown; wait for it to scale down (or deploy afresh) and run again",
                hpa.target
            ),
        );
    }
    if let Err(error) = seed(base_url, profile.cluster.hpa_seed_documents).await {
        return ScenarioOutcome::fail(
            ID,
            format!("could not store the documents the load reads: {error}"),
        );
    }

    let load = DriveConfig {
        base_url: base_url.trim_end_matches('/').into(),
        paths: profile.cluster.hpa_load_paths.clone(),
        workers: profile.cluster.hpa_load_workers,
        pause: Duration::ZERO,
        max_duration: deadline,
        max_requests: 50_000_000,
        reconnect_every: RECONNECT_EVERY,
        timeout: Duration::from_secs(10),
    };
    let driver = match Driver::start(load) {
        Ok(driver) => driver,
        Err(error) => return ScenarioOutcome::fail(ID, format!("cannot start the load: {error}")),
    };
    let load_started = Instant::now();
    let mut timeline = Vec::new();
    let mut scaled = false;
    let mut error = None;
    while load_started.elapsed() < deadline {
        tokio::time::sleep(sample).await;
        match cluster.hpa(namespace, &profile.hpa.name).await {
            Ok(Some(now)) => hpa = now,
            Ok(None) => {
                error = Some(format!("HPA {} disappeared", profile.hpa.name));
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
        let window = driver.window();
        timeline.push(TimelinePoint {
            seconds: load_started.elapsed().as_secs_f64(),
            replicas: hpa.current,
            desired: hpa.desired,
            cpu_percent: hpa.cpu_percent,
            rps: window.rps(),
            p95_ms: window.p95_ms,
            failed: window.failed,
        });
        if hpa.current > minimum && hpa.current > before {
            scaled = true;
            break;
        }
    }
    let stats = driver.stop().await;
    let took = load_started.elapsed();
    let peak_cpu = timeline.iter().filter_map(|p| p.cpu_percent).max();
    let mut outcome = if let Some(error) = error {
        ScenarioOutcome::fail(ID, error)
    } else if scaled {
        ScenarioOutcome::pass(
            ID,
            format!(
                "{} scaled from {before} to {} replicas (minimum {minimum}) after {} s of load \
                 ({:.0} req/s, CPU up to {}%)",
                hpa.target,
                hpa.current,
                took.as_secs(),
                stats.rps(),
                peak_cpu.map_or("?".into(), |c| c.to_string())
            ),
        )
    } else {
        let cpu_note = match (peak_cpu, hpa.cpu_target) {
            (Some(peak), Some(goal)) if peak < goal => format!(
                "CPU peaked at {peak}% of requests, below the {goal}% target: the load through \
                 port-forwards ({:.0} req/s) was too light for this app; raise \
                 cluster.hpa_load_workers or use heavier cluster.hpa_load_paths",
                stats.rps()
            ),
            (None, _) => "CPU became <unknown> during the load".into(),
            _ => "CPU exceeded the target but the HPA did not add replicas: check its \
                  conditions, maxReplicas, and ResourceQuota/LimitRange in the namespace"
                .into(),
        };
        ScenarioOutcome::fail(
            ID,
            format!(
                "{} stayed at {} replicas for {} s of load: {cpu_note}",
                hpa.target,
                hpa.current,
                took.as_secs()
            ),
        )
    };
    outcome.timeline = timeline;
    outcome.recovery_ms = scaled.then_some(took.as_millis() as u64);
    outcome.requests = Some(stats);
    outcome
}

/// Makes `GET /data` return at least `wanted` documents, storing only the missing ones (a
/// re-run against the same database adds nothing).
///
/// # Errors
/// The first request that failed.
pub async fn seed(base_url: &str, wanted: u32) -> Result<u32, String> {
    if wanted == 0 {
        return Ok(0);
    }
    let client = super::http_client();
    let listed: serde_json::Value = client
        .get(format!("{base_url}/data"))
        .send()
        .await
        .map_err(|e| format!("GET /data: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET /data did not answer a JSON list: {e}"))?;
    let present = listed.as_array().map_or(0, Vec::len) as u32;
    let missing = wanted.saturating_sub(present);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let writers = (0..8).map(|_| {
        let (client, next, url) = (client.clone(), next.clone(), format!("{base_url}/data"));
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= missing {
                    return Ok(());
                }
                let response = client
                    .post(&url)
                    .json(&serde_json::json!({"deploycheck_load": i}))
                    .send()
                    .await
                    .map_err(|e| format!("POST /data: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("POST /data answered {}", response.status()));
                }
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.map_err(|e| e.to_string())??;
    }
    Ok(missing)
}

/// After the load: replicas come back down to the minimum (slow: scale-down stabilisation is
/// five minutes by default).
pub async fn scale_down<C: Cluster>(target: &Target<C>, sample: Duration) -> ScenarioOutcome {
    const ID: &str = "hpa-scale-down";
    let profile = &target.profile;
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < profile.cluster.hpa_scale_down {
        match current(target).await {
            Ok(hpa) if hpa.current <= hpa.min => {
                return ScenarioOutcome::pass(
                    ID,
                    format!(
                        "back to {} replicas after {} s",
                        hpa.current,
                        started.elapsed().as_secs()
                    ),
                )
                .with_recovery(started.elapsed());
            }
            Ok(hpa) => last = Some(hpa),
            Err(error) => return ScenarioOutcome::fail(ID, error),
        }
        tokio::time::sleep(sample).await;
    }
    ScenarioOutcome::fail(
        ID,
        format!(
            "still {} replicas after {} s",
            last.map_or(0, |h| h.current),
            profile.cluster.hpa_scale_down.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::Condition;
    use crate::cluster::fake::ScriptedCluster;
    use crate::scenario::tests::target;

    const TICK: Duration = Duration::from_millis(20);

    fn hpa(current: i32, cpu: Option<i32>) -> HpaState {
        HpaState {
            name: "deploycheck-app".into(),
            target: "Deployment/deploycheck-app".into(),
            min: 2,
            max: 5,
            current,
            desired: current,
            cpu_percent: cpu,
            cpu_target: Some(70),
            conditions: Vec::new(),
        }
    }

    /// A loopback app whose `GET /data` lists what `POST /data` stored.
    async fn app() -> String {
        use axum::routing::get;
        let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
        let (reader, writer) = (stored.clone(), stored);
        let app = axum::Router::new()
            .route("/", get(|| async { "hi" }))
            .route(
                "/data",
                get(move || {
                    let listed = reader.lock().unwrap().clone();
                    async move { axum::Json(listed) }
                })
                .post(move |axum::Json(doc): axum::Json<serde_json::Value>| {
                    writer.lock().unwrap().push(doc);
                    async { axum::http::StatusCode::CREATED }
                }),
            );
        crate::testing::serve(app).await
    }

    fn quick(
        mut target: crate::scenario::Target<ScriptedCluster>,
    ) -> crate::scenario::Target<ScriptedCluster> {
        target.profile.cluster.hpa_scale_up = Duration::from_millis(400);
        target.profile.cluster.recovery = Duration::from_millis(200);
        target.profile.cluster.hpa_load_workers = 2;
        target.profile.cluster.hpa_seed_documents = 5;
        target
    }

    #[tokio::test]
    async fn scaling_past_the_minimum_passes_with_a_timeline() {
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [
                hpa(2, None),
                hpa(2, Some(5)),
                hpa(2, Some(140)),
                hpa(4, Some(95)),
            ]
            .into();
        })));
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .detail
                .starts_with("Deployment/deploycheck-app scaled from 2 to 4 replicas (minimum 2)"),
            "{}",
            outcome.detail
        );
        let replicas: Vec<i32> = outcome.timeline.iter().map(|p| p.replicas).collect();
        assert_eq!(replicas, [2, 4]);
        assert!(outcome.requests.unwrap().requests > 0);
    }

    #[tokio::test]
    async fn unknown_cpu_fails_with_the_metrics_server_hint_and_never_loads() {
        let mut stuck = hpa(2, None);
        stuck.conditions = vec![Condition {
            kind: "ScalingActive".into(),
            status: "False".into(),
            reason: "FailedGetResourceMetric".into(),
            message: "unable to get metrics for resource cpu".into(),
        }];
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [stuck].into();
        })));
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("CPU <unknown>: metrics-server is missing"),
            "{}",
            outcome.detail
        );
        assert!(
            outcome.detail.contains("FailedGetResourceMetric"),
            "{}",
            outcome.detail
        );
        assert!(outcome.requests.is_none());
    }

    #[tokio::test]
    async fn too_light_a_load_fails_and_says_so() {
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(2, Some(12))].into();
        })));
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.detail.contains("stayed at 2 replicas"),
            "{}",
            outcome.detail
        );
        assert!(
            outcome
                .detail
                .contains("CPU peaked at 12% of requests, below the 70% target"),
            "{}",
            outcome.detail
        );
        assert!(!outcome.timeline.is_empty());
    }

    #[tokio::test]
    async fn seeding_stores_only_the_missing_documents() {
        let url = app().await;
        assert_eq!(seed(&url, 5).await.unwrap(), 5);
        assert_eq!(seed(&url, 7).await.unwrap(), 2);
        assert_eq!(seed(&url, 7).await.unwrap(), 0);
        let listed: Vec<serde_json::Value> = reqwest::get(format!("{url}/data"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed.len(), 7);
        assert!(seed("http://127.0.0.1:9", 1).await.is_err());
    }

    #[tokio::test]
    async fn an_hpa_already_at_its_maximum_cannot_show_a_scale_up() {
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(5, Some(90))].into();
        })));
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("already runs 5 replicas, its maximum"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn scale_down_waits_for_the_minimum() {
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(4, Some(10)), hpa(3, Some(5)), hpa(2, Some(3))].into();
        }));
        target.profile.cluster.hpa_scale_down = Duration::from_secs(5);
        assert_eq!(scale_down(&target, TICK).await.verdict, Verdict::Pass);
    }
}
