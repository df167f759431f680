//! Where the HPA scenario's load comes from: worker pods inside the cluster (a Job of the
//! harness image, reaching the app's Service by name and ramping their connections), or, when
//! the load image is not configured or the cluster cannot run it, the bounded driver through
//! port-forwards on this machine, said as such in the verdict. Both give the same windows
//! (req/s, p95, failed requests, connections) for the timeline and the same totals.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Target;
use crate::cluster::Cluster;
use crate::incluster::coordinator::{self, LoadWindow, Workers, fresh_windows};
use crate::incluster::job::LoadPlan;
use crate::probe::{DriveConfig, DriveStats, Driver};

/// Requests per connection before a port-forward worker reconnects (and lands on the next pod).
const FORWARD_RECONNECT_EVERY: u64 = 20;
/// Requests per connection before an in-cluster worker reconnects: kube-proxy balances per
/// connection, so pods the HPA adds get their share within a few seconds.
const WORKER_RECONNECT_EVERY: u64 = 200;
/// How often workers print a window.
const WORKER_WINDOW: Duration = Duration::from_secs(5);

/// A load in progress.
pub enum HpaLoad {
    /// Workers in the cluster; `consumed` counts the windows already reported per worker.
    InCluster {
        workers: Workers,
        plan: LoadPlan,
        consumed: BTreeMap<String, usize>,
    },
    /// The port-forward driver, and why it is used.
    Forwarded { driver: Driver, why: String },
}

/// The plan for the profile's in-cluster HPA load.
pub fn plan<C>(target: &Target<C>, deadline: Duration) -> LoadPlan {
    let settings = &target.profile.cluster;
    LoadPlan {
        service: target.profile.app.service.clone(),
        port: target.profile.app.port,
        image: settings.load_image.clone(),
        pods: settings.hpa_load_pods.max(1),
        mix: settings
            .hpa_load_paths
            .iter()
            .map(|p| format!("GET {p}"))
            .collect::<Vec<_>>()
            .join(","),
        ramp: settings.hpa_load_ramp.clone(),
        step: settings.hpa_load_step,
        duration: deadline,
        reconnect_every: WORKER_RECONNECT_EVERY,
        window: WORKER_WINDOW,
    }
}

impl HpaLoad {
    /// Starts the in-cluster workers; falls back to the port-forward driver on `base_url` when
    /// no load image is configured, the Job cannot be created, or its image cannot be had
    /// (checked for up to `settle`).
    ///
    /// # Errors
    /// Not even the fallback driver could start.
    pub async fn start<C: Cluster>(
        target: &Target<C>,
        base_url: &str,
        deadline: Duration,
        settle: Duration,
    ) -> Result<Self, String> {
        let plan = plan(target, deadline);
        let why = if plan.image.is_empty() {
            "cluster.load_image is empty".to_string()
        } else {
            match coordinator::start(&*target.cluster, &target.namespace, &plan).await {
                Err(error) => format!("the load Job could not be created: {error}"),
                Ok(workers) => match image_trouble(target, &workers, &plan, settle).await {
                    None => {
                        return Ok(Self::InCluster {
                            workers,
                            plan,
                            consumed: BTreeMap::new(),
                        });
                    }
                    Some(problem) => {
                        // Nothing ran: take the Job away before loading another way.
                        let _ = target
                            .cluster
                            .delete_job(&target.namespace, &workers.job)
                            .await;
                        problem
                    }
                },
            }
        };
        let config = DriveConfig {
            base_url: base_url.trim_end_matches('/').into(),
            paths: target.profile.cluster.hpa_load_paths.clone(),
            workers: target.profile.cluster.hpa_load_workers,
            pause: Duration::ZERO,
            max_duration: deadline,
            max_requests: 50_000_000,
            reconnect_every: FORWARD_RECONNECT_EVERY,
            timeout: Duration::from_secs(10),
        };
        Driver::start(config)
            .map(|driver| Self::Forwarded { driver, why })
            .map_err(|e| format!("cannot start the load: {e}"))
    }

    /// `None` for in-cluster load; for the fallback, why it is used.
    pub fn fallback_reason(&self) -> Option<&str> {
        match self {
            Self::InCluster { .. } => None,
            Self::Forwarded { why, .. } => Some(why),
        }
    }

    /// What the load did since the previous window.
    pub async fn window<C: Cluster>(&mut self, target: &Target<C>) -> LoadWindow {
        match self {
            Self::Forwarded { driver, .. } => {
                let window = driver.window();
                LoadWindow {
                    rps: window.rps(),
                    p95_ms: window.p95_ms,
                    failed: window.failed,
                    connections: None,
                }
            }
            Self::InCluster {
                workers,
                plan,
                consumed,
            } => {
                let snapshot = workers.snapshot(&*target.cluster, &plan.image).await;
                fresh_windows(&snapshot.logs, consumed)
            }
        }
    }

    /// Ends the load (now: the goal was reached or the deadline passed) and returns the
    /// totals; for in-cluster load also what made the result incomplete, if anything.
    pub async fn stop<C: Cluster>(self, target: &Target<C>) -> (DriveStats, Vec<String>) {
        match self {
            Self::Forwarded { driver, .. } => (driver.stop().await, Vec::new()),
            Self::InCluster { workers, plan, .. } => {
                let finished = workers.stop(&*target.cluster, &plan).await;
                let merged = &finished.merged;
                let ms = |q: f64| merged.total.value_at_quantile(q) as f64 / 1000.0;
                let stats = DriveStats {
                    requests: merged.requests,
                    failed: merged.failed,
                    failures: merged
                        .errors
                        .iter()
                        .map(|(kind, count)| format!("{kind} x{count}"))
                        .collect(),
                    p50_ms: ms(0.5),
                    p95_ms: ms(0.95),
                    p99_ms: ms(0.99),
                    max_ms: merged.total.max() as f64 / 1000.0,
                    seconds: merged.seconds,
                };
                // Stopped on purpose: a worker without a final line is expected then; only one
                // that never reported (or never ran) leaves a gap in the figures.
                let gaps = merged
                    .incomplete
                    .iter()
                    .filter(|sentence| sentence.contains("never"))
                    .cloned()
                    .collect();
                (stats, gaps)
            }
        }
    }
}

/// Waits up to `settle` for the workers to run or to show that their image cannot be had.
async fn image_trouble<C: Cluster>(
    target: &Target<C>,
    workers: &Workers,
    plan: &LoadPlan,
    settle: Duration,
) -> Option<String> {
    let started = tokio::time::Instant::now();
    loop {
        let snapshot = workers.snapshot(&*target.cluster, &plan.image).await;
        if snapshot.image_problem.is_some() {
            return snapshot.image_problem;
        }
        let running = snapshot
            .pods
            .iter()
            .filter(|p| p.phase == "Running" || p.phase == "Succeeded")
            .count();
        if running >= plan.pods || started.elapsed() >= settle {
            // Pods still Pending after `settle` (scheduling, a slow pull) keep loading late:
            // the windows show it, and a worker that never reports is named as incomplete.
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
