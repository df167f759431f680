//! Runs the load workers through the [`Cluster`] interface: applies the Job, reads the workers'
//! protocol lines from their logs while they run (progress) and at the end, merges their
//! histograms exactly, and deletes the Job whatever happened. A worker whose pod never ran or
//! never printed its final line makes the result incomplete, said as such.

use std::collections::BTreeMap;
use std::time::Duration;

use super::job::{self, LoadPlan};
use super::wire::{self, Merged, WorkerLog};
use crate::cluster::{Cluster, ClusterError, Labels, PodState, WaitError};

/// Log lines read per worker: a window line every few seconds over a bounded run.
const LOG_LINES: i64 = 20_000;

/// A Job of load workers that has been applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workers {
    pub namespace: String,
    pub job: String,
}

/// What the workers show at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub pods: Vec<PodState>,
    pub logs: Vec<(String, WorkerLog)>,
    /// The workers cannot start because their image cannot be had: the reason and the fix.
    pub image_problem: Option<String>,
}

/// The end of a load run.
#[derive(Clone, Debug)]
pub struct Finished {
    pub merged: Merged,
    pub logs: Vec<(String, WorkerLog)>,
    /// How the Job ended or was stopped, and its deletion.
    pub notes: Vec<String>,
}

/// A fresh Job name: `deploycheck-load-` and six random characters.
pub fn job_name() -> String {
    let namespace_like = crate::cluster::throwaway_namespace_name();
    format!(
        "deploycheck-load-{}",
        namespace_like.trim_start_matches("deploycheck-")
    )
}

/// Applies the Job for `plan` into `namespace`.
///
/// # Errors
/// The apply failed (RBAC, the cluster does not serve batch/v1 Jobs, ...).
pub async fn start<C: Cluster>(
    cluster: &C,
    namespace: &str,
    plan: &LoadPlan,
) -> Result<Workers, ClusterError> {
    let name = job_name();
    cluster
        .apply(namespace, &[job::manifest(&name, plan)], Labels::Ours)
        .await?;
    Ok(Workers {
        namespace: namespace.into(),
        job: name,
    })
}

/// Pods that cannot start because the node cannot have their image.
pub fn image_problem(pods: &[PodState], image: &str) -> Option<String> {
    let stuck: Vec<String> = pods
        .iter()
        .flat_map(|p| {
            p.waiting
                .iter()
                .filter(|w| {
                    [
                        "ImagePullBackOff",
                        "ErrImagePull",
                        "ErrImageNeverPull",
                        "InvalidImageName",
                    ]
                    .iter()
                    .any(|r| w.ends_with(r))
                })
                .map(move |w| format!("{} {w}", p.name))
        })
        .collect();
    (!stuck.is_empty()).then(|| {
        format!(
            "the load image {image} is not available to the cluster ({}): build it with \
             `docker build -f harness/Dockerfile -t {image} .` and load it (`kind load \
             docker-image {image}`, `minikube image load {image}`), or name another in \
             cluster.load_image",
            stuck.join("; ")
        )
    })
}

impl Workers {
    fn selector(&self) -> String {
        format!("{}={}", job::JOB_NAME_LABEL, self.job)
    }

    /// The workers' pods and every protocol line they have printed so far.
    pub async fn snapshot<C: Cluster>(&self, cluster: &C, image: &str) -> Snapshot {
        let pods = cluster
            .pods(&self.namespace, &self.selector())
            .await
            .unwrap_or_default();
        let mut logs = Vec::new();
        for pod in &pods {
            let log = cluster
                .logs(&self.namespace, &pod.name, job::CONTAINER, false, LOG_LINES)
                .await
                .unwrap_or_default();
            logs.push((pod.name.clone(), wire::read_log(&log)));
        }
        Snapshot {
            image_problem: image_problem(&pods, image),
            pods,
            logs,
        }
    }

    /// Waits until every worker has ended (at most `deadline`), then reads, merges and deletes.
    pub async fn finish<C: Cluster>(
        self,
        cluster: &C,
        plan: &LoadPlan,
        deadline: Duration,
    ) -> Finished {
        let expected = plan.pods;
        let ended = |pods: &[PodState]| {
            pods.len() >= expected
                && pods
                    .iter()
                    .all(|p| p.phase == "Succeeded" || p.phase == "Failed")
        };
        let mut notes = Vec::new();
        match cluster
            .wait_pods(&self.namespace, &self.selector(), &ended, deadline)
            .await
        {
            Ok(_) => {}
            Err(WaitError::Timeout { last_seen, .. }) => notes.push(format!(
                "the workers had not all ended after {} s ({last_seen}); what they reported \
                 until then is counted",
                deadline.as_secs()
            )),
            Err(WaitError::Cluster(error)) => notes.push(error.to_string()),
        }
        self.collect(cluster, plan, notes).await
    }

    /// Stops the workers now (the goal was reached): reads what they reported, then deletes.
    pub async fn stop<C: Cluster>(self, cluster: &C, plan: &LoadPlan) -> Finished {
        self.collect(
            cluster,
            plan,
            vec!["the workers were stopped once the goal was reached".into()],
        )
        .await
    }

    async fn collect<C: Cluster>(
        self,
        cluster: &C,
        plan: &LoadPlan,
        mut notes: Vec<String>,
    ) -> Finished {
        let snapshot = self.snapshot(cluster, &plan.image).await;
        let mut merged = wire::merge(&snapshot.logs);
        for missing in snapshot.pods.len()..plan.pods {
            merged
                .incomplete
                .push(format!("worker {missing}: its pod was never created"));
        }
        if let Some(problem) = snapshot.image_problem {
            notes.push(problem);
        }
        if let Err(error) = cluster.delete_job(&self.namespace, &self.job).await {
            notes.push(format!("could not delete Job {}: {error}", self.job));
        }
        Finished {
            merged,
            logs: snapshot.logs,
            notes,
        }
    }
}

/// One window of the load (the HPA scenario's timeline, `load --in-cluster`'s progress).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadWindow {
    pub rps: f64,
    pub p95_ms: f64,
    pub failed: u64,
    /// Connections open (in-cluster: all workers together); `None` for the port-forward driver.
    pub connections: Option<usize>,
}

/// Merges the windows each worker printed since the last call, exactly.
pub fn fresh_windows(
    logs: &[(String, WorkerLog)],
    consumed: &mut BTreeMap<String, usize>,
) -> LoadWindow {
    let mut histogram = wire::new_histogram();
    let (mut requests, mut failed, mut seconds, mut connections) = (0, 0, 0.0f64, 0);
    for (worker, log) in logs {
        let seen = consumed.entry(worker.clone()).or_default();
        for line in log.windows.iter().skip(*seen) {
            requests += line.requests;
            failed += line.failed;
            seconds = seconds.max(line.window_seconds);
            // Windows that cannot be decoded are left out of the latency, never of the counts.
            if let Ok(h) = line.histogram() {
                let _ = histogram.add(&h);
            }
        }
        *seen = log.windows.len();
        connections += log.windows.last().map_or(0, |w| w.connections);
    }
    LoadWindow {
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p95_ms: if histogram.is_empty() {
            0.0
        } else {
            histogram.value_at_quantile(0.95) as f64 / 1000.0
        },
        failed,
        connections: Some(connections),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::{ScriptedCluster, pod};
    use crate::incluster::wire::WorkerLine;

    fn plan(pods: usize) -> LoadPlan {
        LoadPlan {
            service: "deploycheck-app".into(),
            port: 5000,
            image: "deploycheck:0.1.0".into(),
            pods,
            mix: "GET /".into(),
            ramp: vec![4],
            step: Duration::from_secs(10),
            duration: Duration::from_secs(10),
            reconnect_every: 100,
            window: Duration::from_secs(5),
        }
    }

    fn line(worker: &str, last: bool, requests: u64, micros: &[u64]) -> String {
        wire::test_line(worker, last, requests, micros, 2).to_line()
    }

    fn ended(name: &str) -> PodState {
        let mut p = pod(name, name, false);
        p.phase = "Succeeded".into();
        p
    }

    /// The job's pods as the fake lists them.
    fn with_workers(pods: Vec<PodState>, logs: Vec<(&str, String)>) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(String::new(), pods);
            for (pod, log) in logs {
                s.logs.insert(format!("{pod}/load"), log);
            }
        })
    }

    /// The fake keys pods by selector; the Job's name is random, so move them under it.
    fn aim(cluster: &ScriptedCluster, workers: &Workers) {
        let mut state = cluster.state.lock().unwrap();
        let pods = state.pods.remove("").unwrap_or_default();
        state.pods.insert(workers.selector(), pods);
    }

    #[tokio::test]
    async fn every_worker_reported_merges_exactly_and_the_job_is_deleted() {
        let cluster = with_workers(
            vec![ended("load-0"), ended("load-1")],
            vec![
                (
                    "load-0",
                    format!("starting\n{}\n", line("load-0", true, 3, &[100, 200, 300])),
                ),
                (
                    "load-1",
                    format!(
                        "{}\n{}\n",
                        line("load-1", false, 1, &[50]),
                        line("load-1", true, 2, &[50, 400])
                    ),
                ),
            ],
        );
        let workers = start(&cluster, "ns", &plan(2)).await.unwrap();
        aim(&cluster, &workers);
        let finished = workers
            .clone()
            .finish(&cluster, &plan(2), Duration::from_secs(1))
            .await;
        assert_eq!(finished.merged.requests, 5);
        assert_eq!(finished.merged.total.len(), 5);
        assert_eq!(finished.merged.total.max(), 400);
        assert!(
            finished.merged.incomplete.is_empty(),
            "{:?}",
            finished.merged.incomplete
        );
        let calls = cluster.calls();
        assert!(
            calls[0].starts_with("apply ns: Job/deploycheck-load-"),
            "{calls:?}"
        );
        assert_eq!(
            calls.last().unwrap(),
            &format!("delete job ns/{}", workers.job)
        );
    }

    #[tokio::test]
    async fn a_worker_that_died_or_never_ran_makes_the_result_incomplete() {
        let mut failed = ended("load-1");
        failed.phase = "Failed".into();
        let cluster = with_workers(
            vec![ended("load-0"), failed],
            vec![
                ("load-0", line("load-0", true, 3, &[100, 200, 300])),
                ("load-1", line("load-1", false, 1, &[50])),
            ],
        );
        let workers = start(&cluster, "ns", &plan(3)).await.unwrap();
        aim(&cluster, &workers);
        // Three planned, two pods: the wait never sees its condition (the fake's deadline).
        let finished = workers
            .finish(&cluster, &plan(3), Duration::from_secs(1))
            .await;
        assert_eq!(
            finished.merged.requests, 4,
            "the dead worker's window still counts"
        );
        assert_eq!(
            finished.merged.incomplete.len(),
            2,
            "{:?}",
            finished.merged.incomplete
        );
        assert!(
            finished.merged.incomplete[0].starts_with("load-1"),
            "{:?}",
            finished.merged.incomplete
        );
        assert_eq!(
            finished.merged.incomplete[1],
            "worker 2: its pod was never created"
        );
        assert!(
            finished.notes[0].contains("had not all ended after 1 s"),
            "{:?}",
            finished.notes
        );
    }

    #[test]
    fn an_image_the_node_cannot_have_is_named_with_the_fix() {
        let mut stuck = pod("load-0", "a", false);
        stuck.waiting = vec!["load: ErrImageNeverPull".into()];
        let problem =
            image_problem(&[stuck, pod("load-1", "b", true)], "deploycheck:0.1.0").unwrap();
        assert!(
            problem.starts_with("the load image deploycheck:0.1.0 is not available to the cluster (load-0 load: ErrImageNeverPull)")
                && problem.contains("kind load docker-image deploycheck:0.1.0"),
            "{problem}"
        );
        assert!(image_problem(&[pod("load-1", "b", true)], "x").is_none());
    }

    fn window(worker: &str, requests: u64, micros: &[u64], connections: usize) -> WorkerLine {
        wire::test_line(worker, false, requests, micros, connections)
    }

    #[test]
    fn each_window_is_counted_once_across_workers() {
        let mut consumed = BTreeMap::new();
        let logs = vec![
            (
                "a".to_string(),
                WorkerLog {
                    windows: vec![window("a", 500, &[1000; 10], 4)],
                    ..WorkerLog::default()
                },
            ),
            (
                "b".to_string(),
                WorkerLog {
                    windows: vec![window("b", 250, &[3000; 10], 4)],
                    ..WorkerLog::default()
                },
            ),
        ];
        let first = fresh_windows(&logs, &mut consumed);
        assert_eq!(first.rps, 150.0);
        assert_eq!(first.connections, Some(8));
        assert!((first.p95_ms - 3.0).abs() < 0.01, "{first:?}");
        // Nothing new: nothing counted twice.
        let again = fresh_windows(&logs, &mut consumed);
        assert_eq!((again.rps, again.p95_ms), (0.0, 0.0));
    }
}
