//! HPA scale-up under load: the HPA reads real CPU metrics (not `<unknown>`), load spread over
//! every ready pod (a forwarder over the Service's endpoints, a fresh connection per request so
//! new pods get traffic at once) raises CPU, and the replicas exceed the minimum before the
//! deadline. Records a timeline (time, replicas, desired, CPU %, RPS, p95) and the database
//! pod's CPU at each sample, so a load that could not move the app's CPU names what held it
//! back: the database at its CPU limit, the port-forwards, or an app too cheap per request.
//! Scale-down back to the minimum is a separate, slow scenario.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::hpa_load::HpaLoad;
use super::{ScenarioOutcome, Target, TimelinePoint};
use crate::cluster::{Cluster, ClusterError, HpaState, PodMetrics, PodUsage, WorkloadKind};
use crate::quantity::cpu_millis;

pub const SPEC: super::Spec = super::Spec::new("hpa", "the HPA scales up under load")
    .needing(&[super::Need::MetricsApi, super::Need::HarnessImage]);
pub const SCALE_DOWN: super::Spec =
    super::Spec::new("hpa-scale-down", "hpa-scale-down").needing(&[super::Need::MetricsApi]);

const ID: &str = SPEC.id;
/// How long the load workers' pods get to show an image they cannot pull before the load
/// falls back to port-forwards.
const WORKERS_SETTLE: Duration = Duration::from_secs(20);
/// How often the HPA is sampled: its controller syncs every 15 s, metrics resolve in 15-60 s.
pub const SAMPLE: Duration = Duration::from_secs(5);

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
                    let metrics = cluster
                        .pod_metrics(namespace, &target.app_selector())
                        .await
                        .map_err(|e| e.to_string());
                    let premise = crate::hpa_cpu::CpuPremise::read(
                        cluster,
                        namespace,
                        &profile.app.deployment,
                        &target.app_selector(),
                    )
                    .await;
                    return ScenarioOutcome::fail(
                        ID,
                        crate::hpa_cpu::unknown_cpu_hint(&hpa, &metrics, &premise),
                    );
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

    // The database's limit, to tell a database at its ceiling from one with room to spare; a
    // StatefulSet that cannot be read only leaves the comparison out.
    let mut db = DbCpu {
        limit_millis: target
            .template(WorkloadKind::StatefulSet, &profile.database.statefulset)
            .await
            .ok()
            .as_ref()
            .and_then(pod_cpu_limit),
        ..DbCpu::default()
    };
    let db_selector = target.db_selector();
    // In-cluster workers by default; the port-forward driver when they cannot run. Give the
    // workers' pods a moment to show an image they cannot pull.
    let mut load = match HpaLoad::start(target, base_url, deadline, WORKERS_SETTLE).await {
        Ok(load) => load,
        Err(error) => return ScenarioOutcome::fail(ID, error),
    };
    let ramp_ends = profile.cluster.hpa_load_step * profile.cluster.hpa_load_ramp.len() as u32;
    let load_started = Instant::now();
    let mut timeline = Vec::new();
    let mut scaled = false;
    let mut saturated = false;
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
        db.record(cluster.pod_metrics(namespace, &db_selector).await);
        let window = load.window(target).await;
        timeline.push(TimelinePoint {
            seconds: load_started.elapsed().as_secs_f64(),
            replicas: hpa.current,
            desired: hpa.desired,
            cpu_percent: hpa.cpu_percent,
            rps: window.rps,
            p95_ms: window.p95_ms,
            failed: window.failed,
            connections: window.connections,
        });
        if hpa.current > minimum && hpa.current > before {
            scaled = true;
            break;
        }
        // The whole ramp ran and a step more at full load without reaching the target: more
        // time adds nothing (saturation); the verdict says what held it back.
        let below_target = hpa.cpu_percent.is_some_and(|cpu| {
            cpu < hpa
                .cpu_target
                .unwrap_or(i32::try_from(profile.hpa.cpu_utilization).unwrap_or(i32::MAX))
        });
        if load.fallback_reason().is_none()
            && below_target
            && load_started.elapsed() >= ramp_ends + profile.cluster.hpa_load_step
        {
            saturated = true;
            break;
        }
    }
    let fallback = load.fallback_reason().map(str::to_string);
    let (stats, incomplete) = load.stop(target).await;
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
        let goal = hpa
            .cpu_target
            .unwrap_or(i32::try_from(profile.hpa.cpu_utilization).unwrap_or(i32::MAX));
        match peak_cpu {
            // The load never brought CPU to the target: the HPA was right not to scale, and
            // nothing was shown either way. That is a check that could not run, named by what
            // held the load back, not a verdict on the stack.
            Some(peak) if peak < goal => {
                let load = load_figures(&timeline, goal);
                let held_by = bottleneck(&load, &db);
                ScenarioOutcome::skip(
                    ID,
                    format!(
                        "scale-up not shown: {} stayed at {} replicas for {} s of load, CPU \
                         peaked at {peak}% of requests, below the {goal}% target, so the HPA was \
                         right not to scale; {}",
                        hpa.target,
                        hpa.current,
                        took.as_secs(),
                        explain(&load, &db, &held_by)
                    ),
                )
            }
            peak => ScenarioOutcome::fail(
                ID,
                format!(
                    "{} stayed at {} replicas for {} s of load: {}",
                    hpa.target,
                    hpa.current,
                    took.as_secs(),
                    if peak.is_none() {
                        "CPU became <unknown> during the load"
                    } else {
                        "CPU exceeded the target but the HPA did not add replicas: check its \
                         conditions, maxReplicas, and ResourceQuota/LimitRange in the namespace"
                    }
                ),
            ),
        }
    };
    let mut notes = Vec::new();
    match &fallback {
        Some(why) => notes.push(format!(
            "load through port-forwards from this machine, the fallback, because {why}"
        )),
        None => notes.push(format!(
            "load from {} worker pod(s) inside the cluster{}",
            profile.cluster.hpa_load_pods.max(1),
            if saturated {
                ", stopped after the whole ramp: throughput had stopped rising"
            } else {
                ""
            }
        )),
    }
    if !incomplete.is_empty() {
        notes.push(format!("incomplete load result: {}", incomplete.join("; ")));
    }
    outcome.detail = format!("{} ({})", outcome.detail, notes.join("; "));
    outcome.timeline = timeline;
    outcome.recovery_ms = scaled.then_some(took.as_millis() as u64);
    outcome.requests = Some(stats);
    outcome
}

/// At or above this share of its CPU limit (percent) the database pod is what the load waits on.
const DB_SATURATED_PERCENT: u64 = 85;
/// Requests slower than this (p95 of a sample period) wait on something; a loopback or
/// port-forwarded answer of an idle app takes milliseconds.
const SLOW_P95_MS: f64 = 500.0;

/// The database pod's CPU while the load ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbCpu {
    /// The busiest database pod at each sample; `None` when the metrics API gave no figure.
    pub samples: Vec<Option<PodUsage>>,
    /// The pod's CPU limit in millicores ([`pod_cpu_limit`]), when it has one.
    pub limit_millis: Option<u64>,
    /// Why the database's CPU could not be read, the first time it could not.
    pub unmeasured: Option<String>,
}

impl DbCpu {
    /// Keeps one answer of the metrics API for the database's pods.
    pub fn record(&mut self, answer: Result<PodMetrics, ClusterError>) {
        let busiest = match answer {
            Ok(PodMetrics::Samples(pods)) => {
                let busiest = pods.into_iter().max_by_key(|p| p.cpu_millis);
                if busiest.is_none() {
                    self.unmeasured
                        .get_or_insert_with(|| "the metrics API had no sample for it".into());
                }
                busiest
            }
            Ok(PodMetrics::Unavailable(reason)) => {
                self.unmeasured
                    .get_or_insert_with(|| format!("the metrics API does not answer: {reason}"));
                None
            }
            Err(error) => {
                self.unmeasured.get_or_insert_with(|| error.to_string());
                None
            }
        };
        self.samples.push(busiest);
    }

    /// The busiest sample of the whole load.
    pub fn peak(&self) -> Option<&PodUsage> {
        self.samples.iter().flatten().max_by_key(|p| p.cpu_millis)
    }

    /// The peak as a phrase: `the database pod mongodb-0 up to 935m of its 1000m CPU limit`.
    fn phrase(&self) -> String {
        match (self.peak(), self.limit_millis) {
            (Some(peak), Some(limit)) => format!(
                "the database pod {} up to {}m of its {limit}m CPU limit",
                peak.pod, peak.cpu_millis
            ),
            (Some(peak), None) => format!(
                "the database pod {} up to {}m CPU (it has no CPU limit to compare with)",
                peak.pod, peak.cpu_millis
            ),
            (None, _) => format!(
                "the database's CPU could not be read ({})",
                self.unmeasured.as_deref().unwrap_or("no sample was taken")
            ),
        }
    }
}

/// A pod's CPU limit in millicores from its template: the sum over the containers that run
/// side by side (what the pod's metrics add up), `None` when one of them has no CPU limit (the
/// pod is then not bounded) or there are none.
pub fn pod_cpu_limit(template: &PodTemplateSpec) -> Option<u64> {
    let spec = template.spec.as_ref()?;
    // Sidecars (init containers that restart always) run beside the main containers.
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut running = spec.containers.iter().chain(sidecars).peekable();
    running.peek()?;
    running
        .map(|c| {
            let limit = c.resources.as_ref()?.limits.as_ref()?.get("cpu")?;
            cpu_millis(&limit.0)
        })
        .sum()
}

/// The load as the timeline saw it, reduced to what the bottleneck depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadFigures {
    /// Mean of the sample periods' requests per second.
    pub rps: f64,
    /// The slowest and fastest sample period, to show a flat (or not) throughput.
    pub rps_low: f64,
    pub rps_high: f64,
    /// Median of the p95 latencies of the periods in which requests completed; `None` when none
    /// completed.
    pub p95_ms: Option<f64>,
    /// Highest HPA CPU utilisation seen, in % of the pods' requests.
    pub cpu_peak: i32,
    /// The HPA's target utilisation.
    pub cpu_target: i32,
}

/// Reduces the timeline to [`LoadFigures`].
pub fn load_figures(timeline: &[TimelinePoint], cpu_target: i32) -> LoadFigures {
    let rates = timeline.iter().map(|p| p.rps);
    let mut p95s: Vec<f64> = timeline
        .iter()
        .filter(|p| p.rps > 0.0 && p.p95_ms.is_finite())
        .map(|p| p.p95_ms)
        .collect();
    p95s.sort_by(f64::total_cmp);
    LoadFigures {
        rps: if timeline.is_empty() {
            0.0
        } else {
            rates.clone().sum::<f64>() / timeline.len() as f64
        },
        rps_low: rates.clone().reduce(f64::min).unwrap_or(0.0),
        rps_high: rates.reduce(f64::max).unwrap_or(0.0),
        p95_ms: p95s.get(p95s.len() / 2).copied(),
        cpu_peak: timeline
            .iter()
            .filter_map(|p| p.cpu_percent)
            .max()
            .unwrap_or(0),
        cpu_target,
    }
}

/// What kept the app's CPU below the HPA's target.
#[derive(Clone, Debug, PartialEq)]
pub enum Bottleneck {
    /// The database pod ran at (or near) its CPU limit: every request waited on it, and the
    /// app, waiting, spent little CPU.
    Database {
        pod: String,
        millis: u64,
        limit_millis: u64,
    },
    /// Requests were slow while neither the app nor the database was busy: they waited in the
    /// port-forwards (API server and kubelet streams) or on the machine driving the load.
    Forwards,
    /// Requests were quick and the app still idled: each costs it too little CPU for the
    /// requests per second this load can send. `needed_rps` would reach the target.
    AppTooCheap { needed_rps: f64 },
}

/// Names the bottleneck of a load that left the app's CPU below the target: the database when
/// its pod reached [`DB_SATURATED_PERCENT`] of its CPU limit; else the path to the pods when
/// requests were slow (p95 at least [`SLOW_P95_MS`], or none completed); else the app's own
/// cost per request, with the load that would reach the target if CPU grows in proportion.
pub fn bottleneck(load: &LoadFigures, db: &DbCpu) -> Bottleneck {
    if let (Some(peak), Some(limit)) = (db.peak(), db.limit_millis)
        && limit > 0
        && peak.cpu_millis * 100 >= limit * DB_SATURATED_PERCENT
    {
        return Bottleneck::Database {
            pod: peak.pod.clone(),
            millis: peak.cpu_millis,
            limit_millis: limit,
        };
    }
    match load.p95_ms {
        Some(p95) if p95 < SLOW_P95_MS => Bottleneck::AppTooCheap {
            needed_rps: load.rps * f64::from(load.cpu_target) / f64::from(load.cpu_peak.max(1)),
        },
        _ => Bottleneck::Forwards,
    }
}

/// The bottleneck as the sentence of a verdict, with the figures it was read from and the fix.
pub fn explain(load: &LoadFigures, db: &DbCpu, bottleneck: &Bottleneck) -> String {
    let latency = load.p95_ms.map_or("no request completed".into(), |p95| {
        format!("p95 {p95:.0} ms")
    });
    match bottleneck {
        Bottleneck::Database {
            pod,
            millis,
            limit_millis,
        } => format!(
            "the database was the bottleneck, not the app: its pod {pod} used up to {millis}m \
             CPU, {}% of its {limit_millis}m limit, while the load got {:.0} req/s ({latency}); \
             the load paths cost the database, not the app: set cluster.hpa_load_paths to a \
             path the app answers without the database (such as \"/\"), or give the database \
             more CPU",
            millis * 100 / limit_millis,
            load.rps
        ),
        Bottleneck::Forwards => format!(
            "requests were slow while no pod was busy: {:.0} req/s ({:.0} to {:.0} per sample) \
             with {latency}, the app at {}% of its CPU requests and {}; they waited in the \
             port-forwards or on the machine running deploycheck, which cannot carry more: \
             load from inside the cluster, or run deploycheck closer to it",
            load.rps,
            load.rps_low,
            load.rps_high,
            load.cpu_peak,
            db.phrase()
        ),
        Bottleneck::AppTooCheap { needed_rps } => format!(
            "the app spends too little CPU per request for this load: at {:.0} req/s \
             ({latency}) it used {}% of its CPU requests ({}); the {}% target would take about \
             {needed_rps:.0} req/s, {:.0} times this load: raise cluster.hpa_load_workers, load \
             a path that costs the app more CPU (cluster.hpa_load_paths), or load from inside \
             the cluster",
            load.rps,
            load.cpu_peak,
            db.phrase(),
            load.cpu_target,
            if load.rps > 0.0 {
                needed_rps / load.rps
            } else {
                0.0
            }
        ),
    }
}

/// Makes `GET /data` return at least `wanted` documents, storing only the missing ones (a
/// re-run against the same database adds nothing). `0` sends no request at all: the built-in
/// profiles load `GET /`, which reads no document.
///
/// # Errors
/// The first request that failed.
pub async fn seed(base_url: &str, wanted: u32) -> Result<u32, String> {
    if wanted == 0 {
        return Ok(0);
    }
    let client = crate::http::client();
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
    const ID: &str = SCALE_DOWN.id;
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
    use serde_json::json;

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
        // The port-forward driver against a real loopback app; in-cluster workers have tests
        // of their own below.
        target.profile.cluster.load_image = String::new();
        target
    }

    /// Worker pods of the load Job, running, with what they printed.
    fn workers_running(s: &mut crate::cluster::fake::State, logs: &[(&str, String)]) {
        let pods = logs
            .iter()
            .map(|(name, _)| {
                let mut p = crate::cluster::fake::pod(name, name, true);
                p.phase = "Running".into();
                p
            })
            .collect();
        s.pods.insert(crate::cluster::fake::ANY_JOB.into(), pods);
        for (name, log) in logs {
            s.logs.insert(format!("{name}/load"), log.clone());
        }
    }

    fn worker_window(worker: &str, requests: u64, connections: usize) -> String {
        crate::incluster::wire::test_line(worker, false, requests, &[2_000; 10], connections)
            .to_line()
    }

    /// The default load: worker pods inside the cluster, their windows in the timeline, the
    /// Job deleted at the end.
    #[tokio::test]
    async fn in_cluster_workers_load_the_app_and_the_job_is_deleted() {
        let mut target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(2, Some(20)), hpa(2, Some(90)), hpa(4, Some(80))].into();
            workers_running(
                s,
                &[
                    ("load-0", worker_window("load-0", 5000, 32)),
                    ("load-1", worker_window("load-1", 4000, 32)),
                ],
            );
        })));
        target.profile.cluster.load_image = "deploycheck:0.1.0".into();
        target.profile.cluster.hpa_scale_up = Duration::from_secs(5);
        target.profile.cluster.hpa_seed_documents = 0;
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Pass,
            "load from 2 worker pod(s) inside the cluster",
        );
        assert_eq!(outcome.timeline[0].connections, Some(64));
        assert_eq!(outcome.timeline[0].rps, 1800.0);
        let calls = target.cluster.calls();
        assert!(
            calls[0].starts_with("apply ns: Job/deploycheck-load-"),
            "{calls:?}"
        );
        assert!(
            calls
                .last()
                .unwrap()
                .starts_with("delete job ns/deploycheck-load-"),
            "{calls:?}"
        );
    }

    /// The whole ramp ran, and a step more, with the CPU below its target: more time adds
    /// nothing, so the load stops before the deadline and the verdict says why.
    #[tokio::test]
    async fn a_ramp_that_never_reaches_the_target_stops_early_as_saturated() {
        let mut target = flat_hpa_in_cluster(40);
        target.profile.cluster.hpa_scale_up = Duration::from_secs(30);
        target.profile.cluster.hpa_load_ramp = vec![8, 16];
        target.profile.cluster.hpa_load_step = Duration::from_millis(20);
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        assert_eq!(outcome.verdict, Verdict::Skip, "{outcome:?}");
        assert!(
            outcome
                .detail
                .contains("stopped after the whole ramp: throughput had stopped rising")
                && outcome
                    .detail
                    .contains("the app spends too little CPU per request"),
            "{}",
            outcome.detail
        );
    }

    /// A cluster that cannot pull the load image: the Job goes, the port-forward driver loads
    /// instead, and the verdict says it was the fallback and why.
    #[tokio::test]
    async fn an_unavailable_load_image_falls_back_to_port_forwards_and_says_why() {
        let mut target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(2, Some(20)), hpa(4, Some(90))].into();
            let mut stuck = crate::cluster::fake::pod("load-0", "l", false);
            stuck.waiting = vec!["load: ErrImageNeverPull".into()];
            s.pods
                .insert(crate::cluster::fake::ANY_JOB.into(), vec![stuck]);
        })));
        target.profile.cluster.load_image = "deploycheck:0.1.0".into();
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Pass,
            "load through port-forwards from this machine, the fallback, because the load image deploycheck:0.1.0 is not available to the cluster (load-0 load: ErrImageNeverPull)",
        );
        assert!(
            target
                .cluster
                .calls()
                .iter()
                .any(|c| c.starts_with("delete job ns/"))
        );
        assert!(outcome.requests.unwrap().requests > 0);
    }

    #[tokio::test]
    async fn scaling_past_the_minimum_passes_with_a_timeline() {
        let mut target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [
                hpa(2, None),
                hpa(2, Some(5)),
                hpa(2, Some(140)),
                hpa(4, Some(95)),
            ]
            .into();
        })));
        // The scripted HPA ends the run at its second sample; a short deadline only made the
        // verdict depend on how fast this machine seeds while other tests load it (1 in 40).
        target.profile.cluster.hpa_scale_up = Duration::from_secs(20);
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        crate::testing::assert_begins(
            &outcome,
            Verdict::Pass,
            "Deployment/deploycheck-app scaled from 2 to 4 replicas (minimum 2)",
        );
        let replicas: Vec<i32> = outcome.timeline.iter().map(|p| p.replicas).collect();
        assert_eq!(replicas, [2, 4]);
        assert!(outcome.requests.unwrap().requests > 0);
    }

    /// The HPA stuck at `<unknown>` with the condition a missing metrics-server gives it, the
    /// metrics API answering `metrics` for the app's pods.
    async fn unknown_cpu_with(metrics: Option<PodMetrics>) -> ScenarioOutcome {
        let mut stuck = hpa(2, None);
        stuck.conditions = vec![Condition {
            kind: "ScalingActive".into(),
            status: "False".into(),
            reason: "FailedGetResourceMetric".into(),
            message: "unable to get metrics for resource cpu".into(),
        }];
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [stuck].into();
            // An app container with no CPU request: the premise the samples' hint checks.
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                serde_json::from_value(
                    serde_json::json!({"spec": {"containers": [{"name": "app"}]}}),
                )
                .unwrap(),
            );
        })));
        if let Some(metrics) = metrics {
            let selector = target.app_selector();
            let mut state = target.cluster.state.lock().unwrap();
            state.metrics.insert(selector, metrics);
        }
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .starts_with("HPA deploycheck-app reports CPU <unknown>: ")
                && outcome.detail.contains("FailedGetResourceMetric"),
            "{}",
            outcome.detail
        );
        assert!(outcome.requests.is_none(), "no load without metrics");
        outcome
    }

    #[tokio::test]
    async fn unknown_cpu_with_no_metrics_api_says_metrics_server_is_missing_and_never_loads() {
        let outcome = unknown_cpu_with(Some(PodMetrics::Unavailable(
            "404 the server could not find the requested resource".into(),
        )))
        .await;
        crate::testing::assert_said(
            &outcome,
            "the metrics API (metrics.k8s.io) does not answer (404 the server could not find \
                 the requested resource): metrics-server is missing or not ready",
        );
    }

    #[tokio::test]
    async fn unknown_cpu_with_a_serving_metrics_api_says_the_first_sample_is_awaited() {
        // The fake's metrics API serves and has no sample for the app's pods yet.
        let outcome = unknown_cpu_with(None).await;
        crate::testing::assert_said(
            &outcome,
            "metrics-server answers but has no sample for the app's pods yet",
        );
        crate::testing::assert_not_said(&outcome, "missing");
    }

    #[tokio::test]
    async fn unknown_cpu_with_samples_points_at_the_cpu_requests() {
        let outcome = unknown_cpu_with(Some(PodMetrics::Samples(vec![usage("app-a", 3)]))).await;
        crate::testing::assert_said(&outcome, "every container of the pods needs a CPU request");
    }

    #[tokio::test]
    async fn too_light_a_load_is_a_skip_that_names_what_held_it_back() {
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(2, Some(12))].into();
        })));
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        crate::testing::assert_says(&outcome, Verdict::Skip, "stayed at 2 replicas");
        crate::testing::assert_said(
            &outcome,
            "CPU peaked at 12% of requests, below the 70% target",
        );
        assert!(!outcome.timeline.is_empty());
    }

    fn usage(pod: &str, cpu_millis: u64) -> PodUsage {
        PodUsage {
            pod: pod.into(),
            cpu_millis,
            memory_bytes: 0,
        }
    }

    /// The reference stack whose HPA stays at 2 replicas and 12% CPU under load, with the
    /// database's StatefulSet limited to 1 CPU and its pod using `db_millis`.
    fn flat_hpa(db_millis: u64) -> crate::scenario::Target<ScriptedCluster> {
        let mut target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            crate::cluster::fake::reference_rolled_out(s);
            s.hpa = [hpa(2, Some(12))].into();
            s.templates.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                db_template(json!([{"name": "mongodb", "image": "mongo:7.0",
                    "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}}])),
            );
            s.metrics.insert(
                "app.kubernetes.io/name=mongodb".into(),
                PodMetrics::Samples(vec![usage("mongodb-0", db_millis)]),
            );
        })));
        target.profile.cluster.hpa_load_paths = vec!["/".into()];
        target.profile.cluster.hpa_seed_documents = 0;
        target
    }

    /// [`flat_hpa`] loaded by in-cluster workers whose windows are scripted: quick requests
    /// (p95 2 ms, 1800 req/s), so the verdict does not hang on this machine's timing.
    fn flat_hpa_in_cluster(db_millis: u64) -> crate::scenario::Target<ScriptedCluster> {
        let mut target = flat_hpa(db_millis);
        target.profile.cluster.load_image = "deploycheck:0.1.0".into();
        workers_running(
            &mut target.cluster.state.lock().unwrap(),
            &[
                ("load-0", worker_window("load-0", 5000, 32)),
                ("load-1", worker_window("load-1", 4000, 32)),
            ],
        );
        target
    }

    #[tokio::test]
    async fn a_flat_hpa_with_the_database_at_its_limit_names_the_database() {
        let outcome =
            scale_up_sampling(&flat_hpa_in_cluster(950), "http://127.0.0.1:9", TICK).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Skip,
            "CPU peaked at 12% of requests, below the 70% target, so the HPA was right not \
                 to scale; the database was the bottleneck, not the app: its pod mongodb-0 used \
                 up to 950m CPU, 95% of its 1000m limit",
        );
        crate::testing::assert_said(&outcome, "cluster.hpa_load_paths");
    }

    #[tokio::test]
    async fn a_flat_hpa_with_quick_requests_and_an_idle_database_says_the_app_is_too_cheap() {
        let outcome = scale_up_sampling(&flat_hpa_in_cluster(40), "http://127.0.0.1:9", TICK).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Skip,
            "the app spends too little CPU per request for this load: at ",
        );
        crate::testing::assert_said(
            &outcome,
            "it used 12% of its CPU requests (the database pod \
                 mongodb-0 up to 40m of its 1000m CPU limit); the 70% target would take about",
        );
        // Seeding was off: the load read only GET /.
        assert!(outcome.requests.unwrap().requests > 0);
    }

    #[tokio::test]
    async fn a_database_whose_cpu_cannot_be_read_is_said_so() {
        let target = flat_hpa(0);
        target.cluster.state.lock().unwrap().metrics.insert(
            "app.kubernetes.io/name=mongodb".into(),
            PodMetrics::Unavailable("503 service unavailable".into()),
        );
        let outcome = scale_up_sampling(&target, &app().await, TICK).await;
        crate::testing::assert_said(
            &outcome,
            "the database's CPU could not be read (the metrics API does not answer: 503 \
                 service unavailable)",
        );
    }

    fn db_template(containers: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn a_pods_cpu_limit_adds_up_its_running_containers() {
        let limited = |cpu: &str| json!({"name": "c", "resources": {"limits": {"cpu": cpu}}});
        assert_eq!(
            pod_cpu_limit(&db_template(json!([limited("1")]))),
            Some(1000)
        );
        assert_eq!(
            pod_cpu_limit(&db_template(json!([limited("500m"), limited("0.25")]))),
            Some(750)
        );
        // One unbounded container leaves the pod unbounded.
        assert_eq!(
            pod_cpu_limit(&db_template(json!([limited("1"), {"name": "side"}]))),
            None
        );
        assert_eq!(pod_cpu_limit(&db_template(json!([]))), None);
        assert_eq!(pod_cpu_limit(&PodTemplateSpec::default()), None);
        // A sidecar (an init container that keeps running) counts; a plain init container not.
        let template: PodTemplateSpec = serde_json::from_value(json!({"spec": {
            "containers": [limited("1")],
            "initContainers": [
                {"name": "init", "resources": {"limits": {"cpu": "4"}}},
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"limits": {"cpu": "100m"}}}
            ]
        }}))
        .unwrap();
        assert_eq!(pod_cpu_limit(&template), Some(1100));
    }

    fn point(rps: f64, p95_ms: f64, cpu: Option<i32>) -> TimelinePoint {
        TimelinePoint {
            replicas: 2,
            desired: 2,
            cpu_percent: cpu,
            rps,
            p95_ms,
            ..TimelinePoint::default()
        }
    }

    /// The hpa timeline of the first real-cluster run: `GET /data` over 2000 documents, 6 req/s
    /// for 301 s, p95 about 3.4 s, the app at 13% of its CPU requests.
    fn real_cluster_run() -> Vec<TimelinePoint> {
        let mut timeline = vec![point(3.0, 4775.9, Some(0)), point(6.0, 3289.1, Some(0))];
        for (rps, p95) in [(6.0, 3579.9), (7.0, 2951.2), (8.0, 2744.3), (4.0, 3217.4)] {
            timeline.push(point(rps, p95, Some(13)));
        }
        timeline.push(point(6.0, 3418.1, Some(12)));
        timeline
    }

    fn db(samples: &[Option<u64>], limit_millis: Option<u64>) -> DbCpu {
        let mut db = DbCpu {
            limit_millis,
            ..DbCpu::default()
        };
        for sample in samples {
            db.record(Ok(PodMetrics::Samples(
                sample.map(|m| usage("mongodb-0", m)).into_iter().collect(),
            )));
        }
        db
    }

    #[test]
    fn load_figures_reduce_the_timeline() {
        let load = load_figures(&real_cluster_run(), 70);
        assert!((load.rps - 40.0 / 7.0).abs() < 1e-9, "{load:?}");
        assert_eq!((load.rps_low, load.rps_high), (3.0, 8.0));
        assert_eq!(load.p95_ms, Some(3289.1), "the median period's p95");
        assert_eq!((load.cpu_peak, load.cpu_target), (13, 70));
        // Periods in which nothing completed have no latency to count.
        let stalled = load_figures(&[point(0.0, 0.0, None), point(0.0, 0.0, Some(2))], 70);
        assert_eq!(
            (stalled.rps, stalled.p95_ms, stalled.cpu_peak),
            (0.0, None, 2)
        );
        assert_eq!(load_figures(&[], 70).rps, 0.0);
    }

    #[test]
    fn the_real_cluster_run_was_held_by_the_database() {
        let load = load_figures(&real_cluster_run(), 70);
        let db = db(&[Some(880), Some(935), Some(910), None], Some(1000));
        let held_by = bottleneck(&load, &db);
        assert_eq!(
            held_by,
            Bottleneck::Database {
                pod: "mongodb-0".into(),
                millis: 935,
                limit_millis: 1000
            }
        );
        assert_eq!(
            explain(&load, &db, &held_by),
            "the database was the bottleneck, not the app: its pod mongodb-0 used up to 935m \
             CPU, 93% of its 1000m limit, while the load got 6 req/s (p95 3289 ms); the load \
             paths cost the database, not the app: set cluster.hpa_load_paths to a path the \
             app answers without the database (such as \"/\"), or give the database more CPU"
        );
    }

    #[test]
    fn the_database_counts_from_85_percent_of_its_limit() {
        let load = load_figures(&real_cluster_run(), 70);
        assert!(matches!(
            bottleneck(&load, &db(&[Some(850)], Some(1000))),
            Bottleneck::Database { millis: 850, .. }
        ));
        assert_eq!(
            bottleneck(&load, &db(&[Some(849)], Some(1000))),
            Bottleneck::Forwards
        );
        // Without a limit there is no ceiling to be at.
        assert_eq!(
            bottleneck(&load, &db(&[Some(3000)], None)),
            Bottleneck::Forwards
        );
    }

    #[test]
    fn slow_requests_with_idle_pods_were_held_by_the_forwards() {
        let load = load_figures(&real_cluster_run(), 70);
        let db = db(&[Some(300), Some(420)], Some(1000));
        let held_by = bottleneck(&load, &db);
        assert_eq!(held_by, Bottleneck::Forwards);
        assert_eq!(
            explain(&load, &db, &held_by),
            "requests were slow while no pod was busy: 6 req/s (3 to 8 per sample) with p95 \
             3289 ms, the app at 13% of its CPU requests and the database pod mongodb-0 up to \
             420m of its 1000m CPU limit; they waited in the port-forwards or on the machine \
             running deploycheck, which cannot carry more: load from inside the cluster, or \
             run deploycheck closer to it"
        );
        // No completed request at all is as slow as it gets.
        let stalled = load_figures(&[point(0.0, 0.0, Some(1))], 70);
        let unmeasured = DbCpu::default();
        assert_eq!(bottleneck(&stalled, &unmeasured), Bottleneck::Forwards);
        let text = explain(&stalled, &unmeasured, &Bottleneck::Forwards);
        assert!(text.contains("with no request completed"), "{text}");
        assert!(
            text.contains("the database's CPU could not be read (no sample was taken)"),
            "{text}"
        );
    }

    #[test]
    fn quick_requests_with_an_idle_app_say_what_the_target_would_take() {
        let timeline = vec![
            point(480.0, 12.0, Some(1)),
            point(520.0, 15.0, Some(2)),
            point(500.0, 14.0, Some(2)),
        ];
        let load = load_figures(&timeline, 70);
        let db = db(&[Some(5)], None);
        let held_by = bottleneck(&load, &db);
        assert_eq!(
            held_by,
            Bottleneck::AppTooCheap {
                needed_rps: 17_500.0
            }
        );
        assert_eq!(
            explain(&load, &db, &held_by),
            "the app spends too little CPU per request for this load: at 500 req/s (p95 14 ms) \
             it used 2% of its CPU requests (the database pod mongodb-0 up to 5m CPU (it has no \
             CPU limit to compare with)); the 70% target would take about 17500 req/s, 35 times \
             this load: raise cluster.hpa_load_workers, load a path that costs the app more CPU \
             (cluster.hpa_load_paths), or load from inside the cluster"
        );
        // CPU that never moved still gives a figure (as if it had been 1%).
        let idle = load_figures(&[point(100.0, 5.0, Some(0))], 70);
        assert_eq!(
            bottleneck(&idle, &db),
            Bottleneck::AppTooCheap { needed_rps: 7000.0 }
        );
    }

    #[test]
    fn the_database_sample_is_its_busiest_pod_and_a_failed_read_is_kept() {
        let mut db = DbCpu::default();
        db.record(Ok(PodMetrics::Samples(vec![
            usage("mongodb-0", 700),
            usage("mongodb-1", 90),
        ])));
        db.record(Err(ClusterError::Unreachable {
            context: "kind-kind".into(),
            reason: "connection refused".into(),
        }));
        db.record(Ok(PodMetrics::Unavailable("503".into())));
        assert_eq!(db.samples.len(), 3);
        assert_eq!(db.peak(), Some(&usage("mongodb-0", 700)));
        assert!(
            db.unmeasured
                .as_deref()
                .unwrap()
                .contains("connection refused"),
            "the first reason is kept: {db:?}"
        );
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
        // Nothing wanted, nothing sent: not even the listing.
        assert_eq!(seed("http://127.0.0.1:9", 0).await, Ok(0));
    }

    #[tokio::test]
    async fn an_hpa_already_at_its_maximum_cannot_show_a_scale_up() {
        let target = quick(target(ScriptedCluster::new("kind-kind").with(|s| {
            s.hpa = [hpa(5, Some(90))].into();
        })));
        let outcome = scale_up_sampling(&target, "http://127.0.0.1:9", TICK).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "already runs 5 replicas, its maximum",
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
