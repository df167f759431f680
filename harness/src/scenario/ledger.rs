//! Who caused what: the faults deploycheck injects, and what happened to the stack during one
//! scenario's window (new or repeated events, container restarts), so that every restart and
//! probe failure is attributed either to a fault deploycheck injected or to the stack. Windows
//! compare two reads of the cluster (event series by name and count, restart counts by pod
//! uid), never this machine's clock against the cluster's.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::Target;
use crate::cluster::{Cluster, EventInfo, PodState};

/// A fault deploycheck injected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// A pod deleted (`replicas`, `persistence`).
    DeletedPod(String),
    /// A pod's processes stopped with SIGSTOP (`liveness`).
    FrozePod(String),
    /// The database scaled to zero (`readiness`).
    DatabaseDown,
    /// The database's StatefulSet deleted and re-applied (`recreate`).
    DatabaseRecreated,
    /// `kubectl rollout restart` of the app (`rolling`).
    RestartedApp,
}

impl Fault {
    /// What it was, for reports: "deploycheck deleted pod mongodb-0".
    pub fn describe(&self) -> String {
        match self {
            Self::DeletedPod(pod) => format!("deploycheck deleted pod {pod}"),
            Self::FrozePod(pod) => format!("deploycheck froze pod {pod} (SIGSTOP)"),
            Self::DatabaseDown => "deploycheck scaled the database to 0".into(),
            Self::DatabaseRecreated => "deploycheck deleted and re-applied the database".into(),
            Self::RestartedApp => "deploycheck restarted the app (rollout restart)".into(),
        }
    }

    /// Whether the fault touched `pod` itself.
    fn hit(&self, pod: &str) -> bool {
        matches!(self, Self::DeletedPod(p) | Self::FrozePod(p) if p == pod)
    }

    /// Whether the fault took the database away for a while: an app whose liveness probe
    /// depends on the database may restart then, and that restart is ours.
    fn takes_database_away(&self, database_pods: &[String]) -> bool {
        match self {
            Self::DatabaseDown | Self::DatabaseRecreated => true,
            Self::DeletedPod(pod) => database_pods.contains(pod),
            Self::FrozePod(_) | Self::RestartedApp => false,
        }
    }
}

/// Every fault injected in this run, oldest first.
#[derive(Debug, Default)]
pub struct Ledger(Mutex<Vec<Fault>>);

impl Ledger {
    pub fn record(&self, fault: Fault) {
        self.0.lock().unwrap().push(fault);
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub(crate) fn since(&self, from: usize) -> Vec<Fault> {
        self.0.lock().unwrap()[from..].to_vec()
    }
}

/// A restart and its cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    pub pod: String,
    pub times: i32,
    /// The fault that explains it; `None`: the stack did it by itself.
    pub cause: Option<Fault>,
}

/// The start of a scenario's window: what the cluster showed then.
#[derive(Clone, Debug, Default)]
pub struct Window {
    faults_from: usize,
    /// Event series by key, with their count at the start.
    events: BTreeMap<String, i32>,
    /// Restart counts by pod uid at the start.
    restarts: BTreeMap<String, i32>,
    /// The database's pods (any seen at the start), to recognise database outages.
    database_pods: Vec<String>,
}

impl Window {
    /// Reads events and the app's and database's pods. What cannot be read counts as empty:
    /// everything is then in the window, which can only add evidence, never hide it.
    pub async fn open<C: Cluster>(target: &Target<C>) -> Self {
        let cluster = &*target.cluster;
        let events = cluster.events(&target.namespace).await.unwrap_or_default();
        let app = cluster
            .pods(&target.namespace, &target.app_selector())
            .await
            .unwrap_or_default();
        let database = cluster
            .pods(&target.namespace, &target.db_selector())
            .await
            .unwrap_or_default();
        Self::from_reads(
            target.faults.len(),
            &events,
            app.iter().chain(&database),
            &database,
        )
    }

    /// A window from reads already made (for tests and for callers that hold them).
    pub fn from_reads<'a>(
        faults_from: usize,
        events: &[EventInfo],
        pods: impl IntoIterator<Item = &'a PodState>,
        database: &[PodState],
    ) -> Self {
        Self {
            faults_from,
            events: events.iter().map(|e| (e.key(), e.count)).collect(),
            restarts: pods
                .into_iter()
                .map(|p| (p.uid.clone(), p.restarts))
                .collect(),
            database_pods: database.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Faults injected since the window opened.
    pub fn faults<C>(&self, target: &Target<C>) -> Vec<Fault> {
        target.faults.since(self.faults_from)
    }

    /// Events that appeared, or happened again, since the window opened.
    pub fn new_events(&self, events: &[EventInfo]) -> Vec<EventInfo> {
        events
            .iter()
            .filter(|e| {
                self.events
                    .get(&e.key())
                    .is_none_or(|before| e.count > *before)
            })
            .cloned()
            .collect()
    }

    /// Restarts since the window opened (a pod created since then counts from zero), each
    /// attributed to a fault in `faults` or to the stack.
    pub fn restarts(&self, pods: &[PodState], faults: &[Fault]) -> Vec<Restart> {
        pods.iter()
            .filter_map(|pod| {
                let times = pod.restarts - self.restarts.get(&pod.uid).copied().unwrap_or(0);
                (times > 0).then(|| Restart {
                    pod: pod.name.clone(),
                    times,
                    cause: faults
                        .iter()
                        .find(|f| f.hit(&pod.name))
                        .or_else(|| {
                            faults
                                .iter()
                                .find(|f| f.takes_database_away(&self.database_pods))
                        })
                        .cloned(),
                })
            })
            .collect()
    }
}

/// The window a scenario opened, kept for the rest of the run with when it opened (on the
/// cluster client's clock): a later scenario may count the time since as already observed.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub window: Window,
    pub at: std::time::Duration,
    /// The scenario whose window it was.
    pub scenario: String,
}

/// Every scenario's window of this run, oldest first.
#[derive(Debug, Default)]
pub struct Checkpoints(Mutex<Vec<Checkpoint>>);

impl Checkpoints {
    pub fn record(&self, checkpoint: Checkpoint) {
        self.0.lock().unwrap().push(checkpoint);
    }

    pub fn all(&self) -> Vec<Checkpoint> {
        self.0.lock().unwrap().clone()
    }
}

/// An app pod that has stayed healthy on its own since a checkpoint: Ready now, the same
/// container restarts as then, no liveness failure or kill among the events since, and no
/// fault of deploycheck's since that touched it, took the database away or restarted the app
/// (any of which could have explained, or hidden, a probe failure). The oldest such
/// checkpoint wins: the longest span observed.
pub fn healthy_since<'a, C>(
    target: &Target<C>,
    pods: &'a [PodState],
    events: &[EventInfo],
) -> Option<(&'a PodState, Checkpoint)> {
    for checkpoint in target.checkpoints.all() {
        let window = &checkpoint.window;
        let faults = window.faults(target);
        if faults.iter().any(|f| {
            f.takes_database_away(&window.database_pods) || matches!(f, Fault::RestartedApp)
        }) {
            continue;
        }
        let new_events = window.new_events(events);
        let healthy = pods.iter().find(|p| {
            p.ready
                && !p.deleting
                && window.restarts.get(&p.uid) == Some(&p.restarts)
                && !faults.iter().any(|f| f.hit(&p.name))
                && !evidence(&new_events, &p.name)
                    .iter()
                    .any(|e| e.starts_with("Liveness probe failed") || e.contains("liveness"))
        });
        if let Some(pod) = healthy {
            return Some((pod, checkpoint));
        }
    }
    None
}

/// Probe failures and kills of `pod` among `events`, as evidence lines.
pub fn evidence(events: &[EventInfo], pod: &str) -> Vec<String> {
    let object = format!("Pod/{pod}");
    events
        .iter()
        .filter(|e| e.object == object && matches!(e.reason.as_str(), "Unhealthy" | "Killing"))
        .map(|e| format!("{} (x{})", e.message, e.count))
        .collect()
}

/// The restarts in the window that deploycheck did not cause, as mismatches with their
/// evidence. Any such restart fails the scenario it happened in, whichever that is.
pub async fn unexplained_restarts<C: Cluster>(target: &Target<C>, window: &Window) -> Vec<String> {
    let cluster = &*target.cluster;
    let mut pods = Vec::new();
    for selector in [target.app_selector(), target.db_selector()] {
        pods.extend(
            cluster
                .pods(&target.namespace, &selector)
                .await
                .unwrap_or_default(),
        );
    }
    let restarts = window.restarts(&pods, &window.faults(target));
    if restarts.iter().all(|r| r.cause.is_some()) {
        return Vec::new();
    }
    let events = window.new_events(&cluster.events(&target.namespace).await.unwrap_or_default());
    restarts
        .iter()
        .filter(|r| r.cause.is_none())
        .map(|r| {
            let evidence = evidence(&events, &r.pod);
            format!(
                "{} restarted {} time(s) during this scenario without deploycheck causing it{}; \
                 a container that restarts by itself is a defect of the stack (a liveness probe \
                 on the wrong port or path, a crash, OOMKilled): see the events and previous logs",
                r.pod,
                r.times,
                if evidence.is_empty() {
                    String::new()
                } else {
                    format!(" (events: {})", evidence.join("; "))
                }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::pod;

    fn event(object: &str, reason: &str, message: &str, count: i32) -> EventInfo {
        EventInfo {
            object: object.into(),
            kind: "Warning".into(),
            reason: reason.into(),
            message: message.into(),
            count,
            ..EventInfo::default()
        }
    }

    fn restarted(name: &str, times: i32) -> PodState {
        let mut p = pod(name, name, true);
        p.restarts = times;
        p
    }

    #[test]
    fn only_new_and_repeated_events_are_in_the_window() {
        let old = event(
            "Pod/app-a",
            "Unhealthy",
            "Readiness probe failed: connection refused",
            1,
        );
        let repeated = event("Pod/app-b", "Unhealthy", "Liveness probe failed", 2);
        let window = Window::from_reads(0, &[old.clone(), repeated.clone()], [], &[]);
        let fresh = event("Pod/app-c", "Killing", "Stopping container app", 1);
        let now = [
            old,
            EventInfo {
                count: 3,
                ..repeated
            },
            fresh,
        ];
        let new: Vec<_> = window
            .new_events(&now)
            .iter()
            .map(|e| e.object.clone())
            .collect();
        assert_eq!(new, ["Pod/app-b", "Pod/app-c"]);
    }

    #[test]
    fn restarts_are_ours_only_when_a_fault_explains_them() {
        let before = [restarted("app-a", 1), restarted("app-b", 0)];
        let database = [pod("mongodb-0", "m", true)];
        let window = Window::from_reads(0, &[], before.iter(), &database);
        let now = [
            restarted("app-a", 2),
            restarted("app-b", 1),
            restarted("app-new", 1),
        ];
        let frozen = window.restarts(&now, &[Fault::FrozePod("app-a".into())]);
        assert_eq!(
            frozen,
            [
                Restart {
                    pod: "app-a".into(),
                    times: 1,
                    cause: Some(Fault::FrozePod("app-a".into())),
                },
                Restart {
                    pod: "app-b".into(),
                    times: 1,
                    cause: None,
                },
                Restart {
                    pod: "app-new".into(),
                    times: 1,
                    cause: None,
                },
            ]
        );
        // With the database taken away, an app restart is put down to that outage.
        let outage = window.restarts(&now, &[Fault::DeletedPod("mongodb-0".into())]);
        assert!(outage.iter().all(|r| r.cause.is_some()), "{outage:?}");
        // Deleting an app pod explains nothing about another pod's restart.
        let deleted = window.restarts(&now, &[Fault::DeletedPod("app-x".into())]);
        assert!(deleted.iter().all(|r| r.cause.is_none()), "{deleted:?}");
    }

    #[tokio::test]
    async fn a_restart_nobody_caused_is_reported_with_its_probe_events() {
        use crate::cluster::fake::ScriptedCluster;
        use crate::scenario::tests::target;
        const APP: &str = "app.kubernetes.io/name=deploycheck-app";
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(APP.into(), vec![restarted("app-a", 0)]);
        }));
        let window = Window::open(&target).await;
        assert!(unexplained_restarts(&target, &window).await.is_empty());
        {
            let mut state = target.cluster.state.lock().unwrap();
            state.pods.insert(APP.into(), vec![restarted("app-a", 1)]);
            state.events = vec![event(
                "Pod/app-a",
                "Unhealthy",
                "Liveness probe failed: Get \"http://10.0.0.5:5001/health\": dial tcp 10.0.0.5:5001: connect: connection refused",
                3,
            )];
        }
        let found = unexplained_restarts(&target, &window).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("app-a restarted 1 time(s) during this scenario without deploycheck causing it (events: Liveness probe failed"),
            "{}",
            found[0]
        );
        target.faults.record(Fault::FrozePod("app-a".into()));
        assert!(unexplained_restarts(&target, &window).await.is_empty());
    }

    /// A pod counts as healthy since a window only when it did not restart, no liveness
    /// failure of it appeared, and no fault since touched it or the database.
    #[test]
    fn healthy_since_needs_no_restart_no_liveness_failure_and_no_fault_in_between() {
        use crate::cluster::fake::ScriptedCluster;
        use crate::scenario::tests::target;
        let target = target(ScriptedCluster::new("kind-kind"));
        let then = [pod("app-a", "a", true), pod("app-b", "b", true)];
        target.checkpoints.record(Checkpoint {
            window: Window::from_reads(0, &[], &then, &[]),
            at: std::time::Duration::ZERO,
            scenario: "replicas".into(),
        });
        let now = [restarted("app-a", 1), pod("app-b", "b", true)];
        let failing = [event(
            "Pod/app-b",
            "Unhealthy",
            "Liveness probe failed: connection refused",
            1,
        )];
        assert!(healthy_since(&target, &now, &failing).is_none());
        let (pod, checkpoint) = healthy_since(&target, &now, &[]).unwrap();
        assert_eq!(
            (pod.name.as_str(), checkpoint.scenario.as_str()),
            ("app-b", "replicas")
        );
        target.faults.record(Fault::DeletedPod("app-b".into()));
        assert!(healthy_since(&target, &now, &[]).is_none());
    }
}
