//! Who caused what: the faults deploycheck injects, and what happened to the stack during one
//! scenario's window (new or repeated events, container restarts), so that every restart and
//! probe failure is attributed either to a fault deploycheck injected or to the stack. Windows
//! compare two reads of the cluster (event series by name and count, restart counts by pod
//! uid), never this machine's clock against the cluster's.
//!
//! The windows tile the run: the restart counts a window starts from are those the previous
//! window ended with (the end of `deploy` for the first), so a restart between two scenarios
//! is seen by the next, and the [`Tally`] counts every restart of the run once. A fault
//! explains only what it touched: a deleted or frozen pod's own restarts. A database outage
//! explains an app answering 503 or going unready, never an app container's restart: that is
//! a liveness probe (or a process) that depends on the database, a defect of the stack.

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

    /// What kind of fault, for the run's summary: "liveness freeze".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DeletedPod(_) => "pod deletion",
            Self::FrozePod(_) => "liveness freeze",
            Self::DatabaseDown => "database scaled to 0",
            Self::DatabaseRecreated => "database re-created",
            Self::RestartedApp => "rolling restart",
        }
    }

    /// Whether the fault touched `pod` itself.
    fn hit(&self, pod: &str) -> bool {
        matches!(self, Self::DeletedPod(p) | Self::FrozePod(p) if p == pod)
    }

    /// Whether the fault took the database away for a while: the app may answer 503 and go
    /// unready then, but a restart of it is its own defect.
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
    /// The fault that explains it (one that touched this pod); `None`: the stack did it.
    pub cause: Option<Fault>,
}

/// A restart of the run, counted once, in the window of the scenario that saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunRestart {
    pub pod: String,
    pub times: i32,
    /// The scenario whose window it fell in.
    pub scenario: String,
    /// What deploycheck did that explains it; `None`: the stack restarted by itself. Reports
    /// show it as `caused_by`, in words.
    #[serde(rename = "caused_by", serialize_with = "described")]
    pub fault: Option<Fault>,
}

fn described<S: serde::Serializer>(fault: &Option<Fault>, s: S) -> Result<S::Ok, S::Error> {
    fault.as_ref().map(Fault::describe).serialize(s)
}

/// Every container restart from the end of `deploy` to the end of the last scenario.
#[derive(Debug, Default)]
pub struct Tally(Mutex<TallyState>);

#[derive(Debug, Default)]
struct TallyState {
    /// Restart counts by pod uid as last read; `None` until `deploy` rolled out (a window then
    /// starts from what it reads itself).
    counts: Option<BTreeMap<String, i32>>,
    /// Where the faults of the window that closed last began: a restart the next window sees
    /// may still be theirs (the kubelet restarts a container a probe period or more after
    /// the fault that caused it).
    last_faults_from: usize,
    restarts: Vec<RunRestart>,
}

impl Tally {
    /// Starts the count from the stack as `deploy` left it.
    pub async fn start<C: Cluster>(target: &Target<C>) {
        let pods = stack_pods(target).await;
        let mut state = target.restarts.0.lock().unwrap();
        state.counts = Some(pods.iter().map(|p| (p.uid.clone(), p.restarts)).collect());
        state.last_faults_from = target.faults.len();
    }

    /// Every restart counted, in the order they were seen.
    pub fn all(&self) -> Vec<RunRestart> {
        self.0.lock().unwrap().restarts.clone()
    }

    /// Counts what `pods` show beyond the last count, once, as seen by `scenario`'s window.
    fn account(&self, window: &Window, pods: &[PodState], restarts: &[Restart], scenario: &str) {
        let mut state = self.0.lock().unwrap();
        state.last_faults_from = state.last_faults_from.max(window.faults_from);
        let Some(counts) = state.counts.as_mut() else {
            return;
        };
        let mut seen = Vec::new();
        for pod in pods {
            let from = counts.get(&pod.uid).copied().unwrap_or(0);
            if pod.restarts > from {
                let cause = restarts
                    .iter()
                    .find(|r| r.pod == pod.name)
                    .and_then(|r| r.cause.clone());
                seen.push(RunRestart {
                    pod: pod.name.clone(),
                    times: pod.restarts - from,
                    scenario: scenario.to_string(),
                    fault: cause,
                });
            }
            counts.insert(pod.uid.clone(), pod.restarts.max(from));
        }
        state.restarts.extend(seen);
    }
}

/// The run's restarts in one line: `restarts: 1, all caused by deploycheck (liveness freeze 1)`,
/// or each one the stack did by itself, with the scenario that saw it.
pub fn summary(restarts: &[RunRestart]) -> String {
    let total: i32 = restarts.iter().map(|r| r.times).sum();
    if total == 0 {
        return "restarts: 0".into();
    }
    let mut ours: BTreeMap<&str, i32> = BTreeMap::new();
    for restart in restarts {
        if let Some(fault) = &restart.fault {
            *ours.entry(fault.kind()).or_default() += restart.times;
        }
    }
    let ours_text = ours
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let theirs: Vec<String> = restarts
        .iter()
        .filter(|r| r.fault.is_none())
        .map(|r| format!("{} {}x during {}", r.pod, r.times, r.scenario))
        .collect();
    if theirs.is_empty() {
        format!("restarts: {total}, all caused by deploycheck ({ours_text})")
    } else if ours.is_empty() {
        format!(
            "restarts: {total}, none caused by deploycheck: {}",
            theirs.join("; ")
        )
    } else {
        format!(
            "restarts: {total}, caused by deploycheck: {ours_text}; not caused by deploycheck: {}",
            theirs.join("; ")
        )
    }
}

/// The app's and the database's pods; what cannot be read counts as none.
async fn stack_pods<C: Cluster>(target: &Target<C>) -> Vec<PodState> {
    let mut pods = Vec::new();
    for selector in [target.app_selector(), target.db_selector()] {
        pods.extend(
            target
                .cluster
                .pods(&target.namespace, &selector)
                .await
                .unwrap_or_default(),
        );
    }
    pods
}

/// The start of a scenario's window: what the cluster showed then.
#[derive(Clone, Debug, Default)]
pub struct Window {
    faults_from: usize,
    /// Where the faults that may explain what this window sees begin: those of the window
    /// before it too (see [`TallyState::last_faults_from`]).
    aftermath_from: usize,
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
        let mut window = Self::from_reads(
            target.faults.len(),
            &events,
            app.iter().chain(&database),
            &database,
        );
        let tally = target.restarts.0.lock().unwrap();
        if let Some(counts) = &tally.counts {
            // Tiling: from the counts the last window ended with; a pod created since then
            // counts from zero, so a restart between two windows is in this one.
            for (uid, restarts) in window.restarts.iter_mut() {
                *restarts = counts.get(uid).copied().unwrap_or(0);
            }
            window.aftermath_from = tally.last_faults_from.min(window.faults_from);
        }
        window
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
            aftermath_from: faults_from,
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

    /// Faults that may explain what the window sees: since it opened, and those of the window
    /// before it, whose consequences may come late.
    pub fn attributable<C>(&self, target: &Target<C>) -> Vec<Fault> {
        target.faults.since(self.aftermath_from)
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
    /// attributed to a fault in `faults` that touched its pod, or to the stack.
    pub fn restarts(&self, pods: &[PodState], faults: &[Fault]) -> Vec<Restart> {
        pods.iter()
            .filter_map(|pod| {
                let times = pod.restarts - self.restarts.get(&pod.uid).copied().unwrap_or(0);
                (times > 0).then(|| Restart {
                    pod: pod.name.clone(),
                    times,
                    cause: faults.iter().find(|f| f.hit(&pod.name)).cloned(),
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

/// Closes a scenario's window: counts its restarts in the run's tally, and returns those
/// deploycheck did not cause as mismatches with their evidence. Any such restart fails the
/// scenario whose window it fell in, whichever that is; an app restart while deploycheck had
/// the database down is the app's own defect, said as such.
pub async fn close<C: Cluster>(target: &Target<C>, window: &Window, scenario: &str) -> Vec<String> {
    let cluster = &*target.cluster;
    let pods = stack_pods(target).await;
    let faults = window.attributable(target);
    let restarts = window.restarts(&pods, &faults);
    target.restarts.account(window, &pods, &restarts, scenario);
    if restarts.iter().all(|r| r.cause.is_some()) {
        return Vec::new();
    }
    let events = window.new_events(&cluster.events(&target.namespace).await.unwrap_or_default());
    let outage = faults
        .iter()
        .find(|f| f.takes_database_away(&window.database_pods));
    let mut liveness = None;
    if outage.is_some() {
        liveness = app_liveness(target).await;
    }
    restarts
        .iter()
        .filter(|r| r.cause.is_none())
        .map(|r| {
            let evidence = evidence(&events, &r.pod);
            let of_app = !window.database_pods.contains(&r.pod);
            match outage {
                Some(fault) if of_app => {
                    let pod = pods.iter().find(|p| p.name == r.pod);
                    outage_restart(target, r, fault, &evidence, liveness.as_ref(), pod)
                }
                _ => format!(
                    "{} restarted {} time(s) during this scenario without deploycheck causing \
                     it{}; a container that restarts by itself is a defect of the stack (a \
                     liveness probe on the wrong port or path, a crash, OOMKilled): see the \
                     events and previous logs",
                    r.pod,
                    r.times,
                    events_note(&evidence)
                ),
            }
        })
        .collect()
}

fn events_note(evidence: &[String]) -> String {
    if evidence.is_empty() {
        String::new()
    } else {
        format!(" (events: {})", evidence.join("; "))
    }
}

/// The app container's name and its liveness probe (`GET :5000/data`), from its template.
async fn app_liveness<C: Cluster>(target: &Target<C>) -> Option<(String, String)> {
    let app = &target.profile.app;
    let template = target
        .template(crate::cluster::WorkloadKind::Deployment, &app.deployment)
        .await
        .ok()?;
    let container = super::connectivity::app_container(&template, &app.container)?;
    let probe = container.liveness_probe.as_ref()?;
    Some((
        container.name.clone(),
        crate::blockers::describe_probe(probe),
    ))
}

/// An app pod that restarted while deploycheck had the database away: liveness (or the
/// process) depends on the database, so every outage restarts the app.
fn outage_restart<C>(
    target: &Target<C>,
    restart: &Restart,
    outage: &Fault,
    evidence: &[String],
    liveness: Option<&(String, String)>,
    pod: Option<&PodState>,
) -> String {
    let health = &target.profile.app.health_path;
    let liveness_failed = evidence
        .iter()
        .any(|e| e.starts_with("Liveness probe failed") || e.contains("failed liveness probe"));
    if liveness_failed {
        let probe = match liveness {
            Some((container, probe)) => format!("the liveness probe of `{container}` (`{probe}`)"),
            None => "its liveness probe".into(),
        };
        format!(
            "{probe} failed while the database was down ({}), and {} restarted {} time(s){}: \
             liveness depends on the database, so every database outage restarts the app; \
             probe the process alone (e.g. `{health}` that does not touch the database) and \
             leave the database to readiness",
            outage.describe(),
            restart.pod,
            restart.times,
            events_note(evidence)
        )
    } else {
        let last = pod
            .map(|p| p.last_terminated.join(", "))
            .filter(|l| !l.is_empty())
            .map(|l| format!(" (last state: {l})"))
            .unwrap_or_default();
        format!(
            "{} restarted {} time(s) while the database was down ({}){last}{}: the app does not \
             outlive a database outage; keep the process running and retry the connection, \
             answer 503 meanwhile and leave the database to readiness (a restart loses \
             in-flight requests and warm connections)",
            restart.pod,
            restart.times,
            outage.describe(),
            events_note(evidence)
        )
    }
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
        // A database outage explains no app restart: a liveness probe (or a process) that
        // depends on the database is the stack's defect.
        let outage = window.restarts(&now, &[Fault::DeletedPod("mongodb-0".into())]);
        assert!(outage.iter().all(|r| r.cause.is_none()), "{outage:?}");
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
        assert!(close(&target, &window, "replicas").await.is_empty());
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
        let found = close(&target, &window, "replicas").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("app-a restarted 1 time(s) during this scenario without deploycheck causing it (events: Liveness probe failed"),
            "{}",
            found[0]
        );
        target.faults.record(Fault::FrozePod("app-a".into()));
        assert!(close(&target, &window, "replicas").await.is_empty());
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

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";
    const DB: &str = "app.kubernetes.io/name=mongodb";

    fn set_app_pods(target: &Target<crate::cluster::fake::ScriptedCluster>, pods: Vec<PodState>) {
        target
            .cluster
            .state
            .lock()
            .unwrap()
            .pods
            .insert(APP.into(), pods);
    }

    /// The windows tile the run: a restart after one window closed and before the next opened
    /// is judged by the next, counted once, and put down to a fault of the window before when
    /// that fault touched the pod.
    #[tokio::test]
    async fn a_restart_between_two_windows_is_caught_and_attributed() {
        use crate::cluster::fake::ScriptedCluster;
        use crate::scenario::tests::target;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(
                APP.into(),
                vec![restarted("app-a", 2), restarted("app-b", 0)],
            );
        }));
        // Restarts before the end of `deploy` (an app waiting for its database) are not counted.
        Tally::start(&target).await;
        let first = Window::open(&target).await;
        target.faults.record(Fault::FrozePod("app-a".into()));
        assert!(close(&target, &first, "liveness").await.is_empty());
        // Both restart after `liveness` closed: app-a late for its freeze, app-b by itself.
        set_app_pods(&target, vec![restarted("app-a", 3), restarted("app-b", 1)]);
        let second = Window::open(&target).await;
        let found = close(&target, &second, "rolling").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("app-b restarted 1 time(s) during this scenario"),
            "{found:?}"
        );
        let third = Window::open(&target).await;
        assert!(close(&target, &third, "resources").await.is_empty());
        let all = target.restarts.all();
        assert_eq!(
            all.iter()
                .map(|r| (
                    r.pod.as_str(),
                    r.times,
                    r.scenario.as_str(),
                    r.fault.as_ref().map(Fault::describe)
                ))
                .collect::<Vec<_>>(),
            [
                (
                    "app-a",
                    1,
                    "rolling",
                    Some("deploycheck froze pod app-a (SIGSTOP)".to_string())
                ),
                ("app-b", 1, "rolling", None),
            ]
        );
        // The JSON report says the cause in words.
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(
            json[0]["caused_by"],
            "deploycheck froze pod app-a (SIGSTOP)"
        );
        assert!(json[1]["caused_by"].is_null(), "{json}");
        assert_eq!(
            summary(&all),
            "restarts: 2, caused by deploycheck: liveness freeze 1; not caused by deploycheck: app-b 1x during rolling"
        );
    }

    #[test]
    fn the_summary_says_who_caused_the_restarts() {
        let restart = |pod: &str, times, fault: Option<Fault>| RunRestart {
            pod: pod.into(),
            times,
            scenario: "liveness".into(),
            fault,
        };
        assert_eq!(summary(&[]), "restarts: 0");
        assert_eq!(
            summary(&[
                restart("app-a", 1, Some(Fault::FrozePod("app-a".into()))),
                restart("mongodb-0", 2, Some(Fault::DeletedPod("mongodb-0".into()))),
            ]),
            "restarts: 3, all caused by deploycheck (liveness freeze 1, pod deletion 2)"
        );
        assert_eq!(
            summary(&[restart("app-b", 1, None)]),
            "restarts: 1, none caused by deploycheck: app-b 1x during liveness"
        );
    }

    /// An app pod deploycheck did not touch restarts while the database pod it deleted is away:
    /// the liveness probe reads the database, and the scenario fails saying so.
    #[tokio::test]
    async fn an_app_restart_during_a_database_outage_is_the_apps_defect() {
        use crate::cluster::fake::{LivenessOnDatabase, ScriptedCluster};
        use crate::scenario::tests::target;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(APP.into(), vec![restarted("app-a", 0)]);
            s.pods.insert(DB.into(), vec![pod("mongodb-0", "m", true)]);
            s.liveness_on_database = Some(LivenessOnDatabase {
                dependents: APP.into(),
                database: DB.into(),
                container: "app".into(),
                probe: "Get \"http://10.0.0.5:5000/data\"".into(),
            });
        }));
        Tally::start(&target).await;
        let window = Window::open(&target).await;
        target.faults.record(Fault::DeletedPod("mongodb-0".into()));
        target.cluster.delete_pod("ns", "mongodb-0").await.unwrap();
        let found = close(&target, &window, "persistence").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "its liveness probe failed while the database was down (deploycheck deleted pod mongodb-0), and app-a restarted 1 time(s) (events: Liveness probe failed: Get \"http://10.0.0.5:5000/data\""
            ) && found[0].ends_with(
                "liveness depends on the database, so every database outage restarts the app; probe the process alone (e.g. `/health` that does not touch the database) and leave the database to readiness"
            ),
            "{}",
            found[0]
        );
        assert_eq!(
            summary(&target.restarts.all()),
            "restarts: 1, none caused by deploycheck: app-a 1x during persistence"
        );
    }
}
