//! `deploycheck load --in-cluster`: a bounded load from worker pods on a Service by name, its
//! progress as it runs, the exact merge of every worker's histogram, and the same integrity
//! check as the local load: every write a worker saw acknowledged must be readable afterwards
//! (read through a port-forward to the Service's pods).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::coordinator::{self, Workers};
use super::job::LoadPlan;
use super::wire::{Merged, WorkerSummary};
use crate::cluster::{Cluster, ClusterError};
use crate::forward::Forwarder;
use crate::load::{Metric, Slo};

/// What a person asked for.
#[derive(Clone, Debug)]
pub struct InClusterOptions {
    pub namespace: String,
    /// The Service by name; its first port unless `port` is given.
    pub service: String,
    pub port: Option<u16>,
    pub image: String,
    pub pods: usize,
    /// Connections of all pods together.
    pub connections: usize,
    pub duration: Duration,
    /// `GET /,POST /data` or a named mix the worker knows.
    pub mix: String,
}

/// The outcome, for the reports.
#[derive(Clone, Debug, Serialize)]
pub struct InClusterReport {
    pub namespace: String,
    pub url: String,
    pub pods: usize,
    pub connections: usize,
    pub requests: u64,
    pub failed: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Merged latency by percentile (`(percentile, ms)`), for the percentile curve.
    pub percentiles: Vec<(f64, f64)>,
    /// `(end s, requests, req/s, p95 ms, connections)` per 5 s across workers.
    pub timeline: Vec<(f64, u64, f64, f64, usize)>,
    pub per_worker: Vec<WorkerSummary>,
    /// Why the figures are not the whole run of every worker; empty when they are.
    pub incomplete: Vec<String>,
    pub notes: Vec<String>,
    /// Acknowledged writes, and those not readable afterwards.
    pub acknowledged: u64,
    pub lost: Vec<String>,
}

/// Nothing was loaded: one sentence, exit 2.
#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(
        "Service `{service}` does not exist in namespace `{namespace}` (kubectl get services -n {namespace})"
    )]
    NoService { namespace: String, service: String },
    #[error("Service `{0}` has no port; pass --service NAME:PORT")]
    NoPort(String),
    #[error("{0}")]
    Image(String),
}

/// Percentiles of the curve the HTML page draws.
const CURVE: [f64; 12] = [
    0.0, 50.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

/// Runs the load and checks integrity. `progress` gets one line per window.
///
/// # Errors
/// The Service is missing, the Job cannot be created, or its image cannot be had.
pub async fn run_on<C: Cluster + Send + 'static>(
    cluster: Arc<C>,
    options: &InClusterOptions,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<InClusterReport, InClusterError> {
    let namespace = &options.namespace;
    let service = cluster
        .service(namespace, &options.service)
        .await?
        .ok_or_else(|| InClusterError::NoService {
            namespace: namespace.clone(),
            service: options.service.clone(),
        })?;
    let port = match options.port {
        Some(port) => port,
        None => service
            .ports
            .first()
            .and_then(|p| u16::try_from(*p).ok())
            .ok_or_else(|| InClusterError::NoPort(options.service.clone()))?,
    };
    let plan = LoadPlan {
        service: options.service.clone(),
        port,
        image: options.image.clone(),
        pods: options.pods.max(1),
        mix: options.mix.clone(),
        ramp: vec![options.connections.max(options.pods.max(1))],
        step: options.duration,
        duration: options.duration,
        reconnect_every: 200,
        window: Duration::from_secs(5),
    };
    let workers = coordinator::start(&*cluster, namespace, &plan).await?;
    progress(format!(
        "started Job {} in `{namespace}`: {} worker pod(s), {} connection(s) on {} for {} s",
        workers.job,
        plan.pods,
        plan.ramp[0],
        plan.url(),
        plan.duration.as_secs()
    ));
    let finished = match watch(&*cluster, &workers, &plan, progress).await {
        Ok(()) => {
            workers
                .finish(&*cluster, &plan, Duration::from_secs(120))
                .await
        }
        Err(problem) => {
            let _ = cluster.delete_job(namespace, &workers.job).await;
            return Err(InClusterError::Image(problem));
        }
    };
    let merged = finished.merged;
    let (acknowledged, lost) = integrity(cluster, namespace, &options.service, port, &merged).await;
    Ok(report(
        options,
        &plan,
        &merged,
        finished.notes,
        acknowledged,
        lost,
        &finished.logs,
    ))
}

/// Prints progress until the run's time is up; stops early on an image the node cannot have.
async fn watch<C: Cluster>(
    cluster: &C,
    workers: &Workers,
    plan: &LoadPlan,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<(), String> {
    let started = tokio::time::Instant::now();
    let mut consumed = std::collections::BTreeMap::new();
    while started.elapsed() < plan.duration {
        tokio::time::sleep(plan.window.min(plan.duration)).await;
        let snapshot = workers.snapshot(cluster, &plan.image).await;
        if let Some(problem) = snapshot.image_problem {
            return Err(problem);
        }
        let window = coordinator::fresh_windows(&snapshot.logs, &mut consumed);
        let running = snapshot
            .pods
            .iter()
            .filter(|p| p.phase == "Running")
            .count();
        progress(format!(
            "+{:>4.0}s  pods running {running}/{}  {:.0} req/s  p95 {:.1} ms  failed {}",
            started.elapsed().as_secs_f64(),
            plan.pods,
            window.rps,
            window.p95_ms,
            window.failed
        ));
    }
    Ok(())
}

/// Every acknowledged write must be readable: reads `GET /data` once through a port-forward.
async fn integrity<C: Cluster + Send + 'static>(
    cluster: Arc<C>,
    namespace: &str,
    service: &str,
    port: u16,
    merged: &Merged,
) -> (u64, Vec<String>) {
    let markers: Vec<String> = merged
        .acknowledged
        .iter()
        .flat_map(|(worker, ranges)| {
            ranges
                .iter()
                .flat_map(move |(from, to)| (*from..=*to).map(move |seq| format!("{worker}-{seq}")))
        })
        .collect();
    if markers.is_empty() {
        return (0, Vec::new());
    }
    let acknowledged = markers.len() as u64;
    let body = match Forwarder::start(cluster, namespace, service, port).await {
        Ok(forwarder) => match crate::http::client()
            .get(format!("{}/data", forwarder.base_url()))
            .timeout(Duration::from_secs(60))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => return (acknowledged, vec![format!("GET /data failed: {error}")]),
        },
        Err(error) => return (acknowledged, vec![format!("cannot port-forward: {error}")]),
    };
    let lost = markers
        .into_iter()
        .filter(|marker| !body.contains(&format!("\"{marker}\"")))
        .collect();
    (acknowledged, lost)
}

fn report(
    options: &InClusterOptions,
    plan: &LoadPlan,
    merged: &Merged,
    notes: Vec<String>,
    acknowledged: u64,
    lost: Vec<String>,
    logs: &[(String, super::wire::WorkerLog)],
) -> InClusterReport {
    let ms = |q: f64| {
        if merged.total.is_empty() {
            0.0
        } else {
            merged.total.value_at_quantile(q) as f64 / 1000.0
        }
    };
    InClusterReport {
        namespace: options.namespace.clone(),
        url: plan.url(),
        pods: plan.pods,
        connections: plan.ramp[0],
        requests: merged.requests,
        failed: merged.failed,
        errors: merged.errors.clone(),
        seconds: merged.seconds,
        rps: merged.rps(),
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: merged.total.max() as f64 / 1000.0,
        percentiles: CURVE.iter().map(|p| (*p, ms(p / 100.0))).collect(),
        timeline: super::wire::timeline(logs, 5.0),
        per_worker: merged.per_worker.clone(),
        incomplete: merged.incomplete.clone(),
        notes,
        acknowledged,
        lost,
    }
}

impl InClusterReport {
    /// What failed the run: an SLO missed (every clause applies to the merged histogram of all
    /// routes), a lost write, or an incomplete result (a figure about workers that did not all
    /// report cannot pass a gate). Empty: it passed.
    pub fn failures(&self, slos: &[Slo]) -> Vec<String> {
        let mut failures: Vec<String> = slos
            .iter()
            .filter_map(|slo| {
                let actual = match slo.metric {
                    Metric::P50 => self.p50_ms,
                    Metric::P90 => self.percentile(90.0),
                    Metric::P95 => self.p95_ms,
                    Metric::P99 => self.p99_ms,
                    Metric::Max => self.max_ms,
                    Metric::Errors if self.requests == 0 => 100.0,
                    Metric::Errors => self.failed as f64 * 100.0 / self.requests as f64,
                    Metric::Rps => self.rps,
                };
                let met = if slo.below {
                    actual < slo.threshold
                } else {
                    actual > slo.threshold
                };
                (!met).then(|| format!("SLO {} missed (actual {actual:.2})", slo.text))
            })
            .collect();
        if !self.lost.is_empty() {
            failures.push(format!(
                "{} of {} acknowledged writes are not readable (first: {})",
                self.lost.len(),
                self.acknowledged,
                self.lost
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.incomplete.is_empty() {
            failures.push(format!("incomplete result: {}", self.incomplete.join("; ")));
        }
        failures
    }

    fn percentile(&self, wanted: f64) -> f64 {
        self.percentiles
            .iter()
            .find(|(p, _)| *p >= wanted)
            .map_or(self.max_ms, |(_, ms)| *ms)
    }
}

/// The SLOs an in-cluster run can judge: clauses for every route (the workers merge all routes
/// into one histogram). A clause for one route is refused with the reason.
///
/// # Errors
/// A clause that does not parse, or one that names a route.
pub fn slos(text: &str) -> Result<Vec<Slo>, String> {
    let parsed = crate::load::parse_slos(text).map_err(|e| e.to_string())?;
    match parsed.iter().find(|s| s.route.is_some()) {
        Some(slo) => Err(format!(
            "{:?}: in-cluster load merges every route into one histogram; gate a single route \
             with the local load (`deploycheck load --url`), or write the clause without a route",
            slo.text
        )),
        None => Ok(parsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::{ANY_JOB, ScriptedCluster, State, pod, reference_rolled_out};
    use crate::incluster::wire::test_line;

    fn last_line(worker: &str, micros: &[u64], acknowledged: Vec<(u64, u64)>) -> String {
        let mut line = test_line(worker, true, micros.len() as u64, micros, 2);
        line.acknowledged = acknowledged;
        line.to_line()
    }

    fn options() -> InClusterOptions {
        InClusterOptions {
            namespace: "ns".into(),
            service: "deploycheck-app".into(),
            port: None,
            image: "deploycheck:0.1.0".into(),
            pods: 2,
            connections: 8,
            duration: Duration::from_millis(10),
            mix: "GET /".into(),
        }
    }

    fn ended(name: &str) -> crate::cluster::PodState {
        let mut p = pod(name, name, false);
        p.phase = "Succeeded".into();
        p
    }

    /// The reference stack with both workers' pods ended; only `load-0` has logged, `last`.
    fn two_workers_ended(s: &mut State, last: String) {
        reference_rolled_out(s);
        s.pods
            .insert(ANY_JOB.into(), vec![ended("load-0"), ended("load-1")]);
        s.logs.insert("load-0/load".into(), last);
    }

    #[tokio::test]
    async fn workers_are_merged_exactly_and_their_job_deleted() {
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            two_workers_ended(s, last_line("load-0", &[1000, 2000], vec![]));
            s.logs
                .insert("load-1/load".into(), last_line("load-1", &[3000], vec![]));
        }));
        let mut lines = Vec::new();
        let report = run_on(cluster.clone(), &options(), &mut |l| lines.push(l))
            .await
            .unwrap();
        assert_eq!(
            (report.requests, report.url.as_str()),
            (3, "http://deploycheck-app:5000")
        );
        assert!((report.max_ms - 3.0).abs() < 0.01, "{}", report.max_ms);
        assert!(
            report
                .failures(&slos("p95<50ms,errors<1%,p90<10ms").unwrap())
                .is_empty()
        );
        let missed = report.failures(&slos("p95<1ms").unwrap());
        assert_eq!(missed.len(), 1, "{missed:?}");
        assert!(
            missed[0].starts_with("SLO p95<1ms missed (actual 3.0"),
            "{missed:?}"
        );
        assert!(
            slos("POST /data:p95<250ms")
                .unwrap_err()
                .contains("merges every route")
        );
        assert!(
            lines[0].starts_with("started Job deploycheck-load-"),
            "{lines:?}"
        );
        assert!(
            cluster
                .calls()
                .last()
                .unwrap()
                .starts_with("delete job ns/deploycheck-load-")
        );
    }

    #[tokio::test]
    async fn a_missing_service_or_an_unavailable_image_is_one_sentence() {
        let cluster = Arc::new(ScriptedCluster::new("kind-kind"));
        let error = run_on(cluster, &options(), &mut |_| {}).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "Service `deploycheck-app` does not exist in namespace `ns` (kubectl get services -n ns)"
        );
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            let mut stuck = pod("load-0", "l", false);
            stuck.waiting = vec!["load: ImagePullBackOff".into()];
            s.pods.insert(ANY_JOB.into(), vec![stuck]);
        }));
        let error = run_on(cluster.clone(), &options(), &mut |_| {})
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the load image deploycheck:0.1.0 is not available"),
            "{error}"
        );
        assert!(
            cluster
                .calls()
                .last()
                .unwrap()
                .starts_with("delete job ns/")
        );
    }

    #[tokio::test]
    async fn an_acknowledged_write_that_cannot_be_read_is_lost_and_a_silent_worker_fails_the_gate()
    {
        let stack = crate::testing::healthy_app().await;
        let address = stack.trim_start_matches("http://").parse().unwrap();
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            two_workers_ended(s, last_line("load-0", &[1000], vec![(1, 2)]));
            s.endpoints
                .insert("deploycheck-app".into(), [vec!["app-a".to_string()]].into());
            s.tunnels.insert("app-a".into(), address);
        }));
        let report = run_on(cluster, &options(), &mut |_| {}).await.unwrap();
        assert_eq!(report.acknowledged, 2);
        assert_eq!(report.lost, ["load-0-1", "load-0-2"]);
        let failures = report.failures(&[]);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("2 of 2 acknowledged writes are not readable"));
        assert!(failures[1].contains("load-1"), "{failures:?}");
    }
}
