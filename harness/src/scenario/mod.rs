//! Cluster scenarios as library functions over the [`crate::cluster::Cluster`] interface.
//! Each returns a [`ScenarioOutcome`]; the CLI, the cucumber steps and the reports render it.
//! The order of [`CATALOGUE`] is the order `deploycheck check` runs them in.

pub mod bluegreen;
pub mod canary;
pub mod connectivity;
pub mod deploy;
pub mod endpoints;
pub mod hpa;
pub mod hpa_load;
pub mod ledger;
pub mod liveness;
pub mod monitoring;
pub mod persistence;
pub mod readiness;
pub mod release;
pub mod replicas;
pub mod resources;
pub mod rolling;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::api::Verdict;
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, Labels, WorkloadKind};
use crate::probe::{DriveConfig, DriveStats, Driver};
use crate::profile::{Profile, Requirement};

/// What a scenario is, declared in its own file: the catalogue, `check`, the CLI's `--list`
/// and `--only`, and the cucumber steps all read it from there.
#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    pub id: &'static str,
    pub title: &'static str,
    /// Deletes, freezes or scales something: runs only where the destructive-step policy
    /// allows, else it is skipped with the reason.
    pub destructive: bool,
    /// Only reads (and writes a document of its own): runs in the first, concurrent pass,
    /// before anything is broken.
    pub read_only: bool,
    /// What it needs beyond a rolled-out stack.
    pub needs: &'static [Need],
}

impl Spec {
    /// A scenario that neither breaks anything nor only reads.
    pub const fn new(id: &'static str, title: &'static str) -> Self {
        Self {
            id,
            title,
            destructive: false,
            read_only: false,
            needs: &[],
        }
    }

    /// One that only reads: it runs in the first, concurrent pass.
    pub const fn reading(id: &'static str, title: &'static str) -> Self {
        Self {
            read_only: true,
            ..Self::new(id, title)
        }
    }

    /// One that deletes, freezes or scales something.
    pub const fn destructive(id: &'static str, title: &'static str) -> Self {
        Self {
            destructive: true,
            ..Self::new(id, title)
        }
    }

    pub const fn needing(self, needs: &'static [Need]) -> Self {
        Self { needs, ..self }
    }
}

/// Something a scenario needs that a cluster may lack; without it the scenario says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// `metrics.k8s.io` (metrics-server).
    MetricsApi,
    /// The harness image on the nodes, for load from inside the cluster (else a fallback).
    HarnessImage,
}

/// Where a scenario's requests go: the app's Service and MongoDB's, forwarded to loopback.
#[derive(Clone, Copy, Debug)]
pub struct Io<'a> {
    pub app_url: &'a str,
    pub database: std::net::SocketAddr,
}

/// One line per scenario: its `Spec`, its entry point and what of [`Io`] the entry point
/// takes, in running order. `extras` run only when asked for by name (`hpa-scale-down` with
/// `--slow`) and are not listed.
macro_rules! catalogue {
    (
        first: $first:path;
        listed: [$($spec:path => $entry:path [$($arg:tt)*];)*]
        extras: [$($extra_spec:path => $extra:path [$($extra_arg:tt)*];)*]
    ) => {
        /// Every scenario, in running order (`deploy` first: the others need it).
        pub const CATALOGUE: &[&Spec] = &[&$first, $(&$spec),*];

        /// Runs scenario `id` after `deploy`; `None` for an id that is not in the catalogue.
        pub async fn run<C: Cluster + Send + 'static>(
            id: &str,
            target: &Target<C>,
            io: Io<'_>,
        ) -> Option<ScenarioOutcome> {
            $(if id == $spec.id {
                return Some($entry(target, catalogue!(@arg io $($arg)*)).await);
            })*
            $(if id == $extra_spec.id {
                return Some($extra(target, catalogue!(@arg io $($extra_arg)*)).await);
            })*
            None
        }
    };
    (@arg $io:ident app_url) => { $io.app_url };
    (@arg $io:ident database) => { $io.database };
    (@arg $io:ident $value:expr) => { $value };
}

catalogue! {
    first: deploy::SPEC;
    listed: [
        connectivity::SPEC => connectivity::service_name [app_url];
        resources::SPEC => resources::limits_and_security [database];
        monitoring::SPEC => monitoring::proven [monitoring::REQUESTS];
        persistence::SPEC => persistence::pod_deletion [app_url];
        persistence::RECREATE => persistence::statefulset_recreation [app_url];
        replicas::SPEC => replicas::replace_one_pod [app_url];
        hpa::SPEC => hpa::scale_up [app_url];
        liveness::SPEC => liveness::liveness_restart [app_url];
        readiness::SPEC => readiness::readiness_follows_database [app_url];
        rolling::SPEC => rolling::restart_without_errors [app_url];
        bluegreen::SPEC => bluegreen::switch_and_back [app_url];
        canary::SPEC => canary::split_and_abort [app_url];
    ]
    extras: [
        hpa::SCALE_DOWN => hpa::scale_down [hpa::SAMPLE];
    ]
}

/// The spec of `id`, listed or extra.
pub fn spec(id: &str) -> Option<&'static Spec> {
    CATALOGUE
        .iter()
        .copied()
        .chain([&hpa::SCALE_DOWN])
        .find(|s| s.id == id)
}

/// Everything a scenario needs to know about where it runs.
pub struct Target<C> {
    pub cluster: Arc<C>,
    pub namespace: String,
    pub profile: Profile,
    pub destructive: Destructive,
    /// Faults in force that a scenario has not undone yet (it was interrupted), newest last.
    pub pending_undo: std::sync::Mutex<Vec<Undo>>,
    /// Every fault injected so far, so restarts and probe failures are put down to their cause.
    pub faults: ledger::Ledger,
    /// Each scenario's window, as it opened: what has been observed since.
    pub checkpoints: ledger::Checkpoints,
    /// Every container restart of the run, counted once.
    pub restarts: ledger::Tally,
}

/// How to take back a fault the controllers will not heal by themselves.
#[derive(Clone, Debug, PartialEq)]
pub enum Undo {
    Scale {
        kind: WorkloadKind,
        name: String,
        replicas: i32,
    },
    Apply(serde_json::Value),
    /// A Service's selector as it was found (a blue-green switch).
    Selector {
        service: String,
        selector: BTreeMap<String, String>,
    },
}

impl<C: Cluster> Target<C> {
    pub fn new(
        cluster: Arc<C>,
        namespace: String,
        profile: Profile,
        destructive: Destructive,
    ) -> Self {
        Self {
            cluster,
            namespace,
            profile,
            destructive,
            pending_undo: std::sync::Mutex::default(),
            faults: ledger::Ledger::default(),
            checkpoints: ledger::Checkpoints::default(),
            restarts: ledger::Tally::default(),
        }
    }

    /// The pod template of a workload; a missing workload, like an API error, is a sentence.
    pub async fn template(
        &self,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<PodTemplateSpec, String> {
        match self.cluster.pod_template(&self.namespace, kind, name).await {
            Ok(Some(template)) => Ok(template),
            Ok(None) => Err(format!("{kind} {name} does not exist")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Records how to take back a fault about to be injected.
    pub fn remember(&self, undo: Undo) {
        self.pending_undo.lock().unwrap().push(undo);
    }

    /// The scenario took the fault back itself.
    pub fn forget(&self, undo: &Undo) {
        let mut pending = self.pending_undo.lock().unwrap();
        if let Some(at) = pending.iter().rposition(|u| u == undo) {
            pending.remove(at);
        }
    }

    /// Takes back every fault still in force (after an interrupt), newest first. Returns what
    /// was done or failed, for the report.
    pub async fn undo_pending(&self) -> Vec<String> {
        let pending: Vec<Undo> = std::mem::take(&mut *self.pending_undo.lock().unwrap());
        let mut done = Vec::new();
        for undo in pending.into_iter().rev() {
            let (what, result) = match &undo {
                Undo::Scale {
                    kind,
                    name,
                    replicas,
                } => (
                    format!("scaled {kind} {name} back to {replicas}"),
                    self.cluster
                        .scale(&self.namespace, *kind, name, *replicas)
                        .await,
                ),
                Undo::Apply(manifest) => (
                    format!(
                        "re-applied {}/{}",
                        manifest["kind"].as_str().unwrap_or_default(),
                        manifest["metadata"]["name"].as_str().unwrap_or_default()
                    ),
                    self.cluster
                        .apply(
                            &self.namespace,
                            std::slice::from_ref(manifest),
                            Labels::AsTheyWere,
                        )
                        .await
                        .map(drop),
                ),
                Undo::Selector { service, selector } => (
                    format!("put Service {service}'s selector back"),
                    self.cluster
                        .set_selector(&self.namespace, service, selector)
                        .await,
                ),
            };
            done.push(match result {
                Ok(()) => what,
                Err(error) => format!("could not take back a fault ({what}): {error}"),
            });
        }
        done
    }

    pub fn app_selector(&self) -> String {
        selector(&self.profile.app.labels)
    }

    pub fn db_selector(&self) -> String {
        selector(&self.profile.database.labels)
    }
}

/// `k=v,k2=v2` from labels.
pub fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One point of the HPA timeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub seconds: f64,
    pub replicas: i32,
    pub desired: i32,
    /// `None` is kubectl's `<unknown>`.
    pub cpu_percent: Option<i32>,
    pub rps: f64,
    pub p95_ms: f64,
    pub failed: u64,
    /// Load connections open (in-cluster workers together); `None` through port-forwards.
    pub connections: Option<usize>,
}

/// The result of one scenario, with what a person needs when it failed.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioOutcome {
    pub id: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    /// One sentence: what happened.
    pub detail: String,
    /// Every mismatch found, not only the first.
    pub mismatches: Vec<String>,
    /// Best practices the stack does not follow, each with its fix. With no mismatch they make
    /// the verdict a warning: the challenge's requirement held, the advice is still worth acting on.
    pub advice: Vec<String>,
    /// For fault scenarios: from the fault to recovery.
    pub recovery_ms: Option<u64>,
    /// Requests of the prober (or the load) while the scenario ran.
    pub requests: Option<DriveStats>,
    pub timeline: Vec<TimelinePoint>,
    /// Conditions, pod states, events, logs and hints, collected when it failed.
    pub diagnostics: Option<String>,
    /// Wall time from the scenario's start to its result (diagnostics included), set by the
    /// runner; 0 for a scenario that never started (skipped because `deploy` failed).
    pub duration_ms: u64,
}

impl ScenarioOutcome {
    pub fn new(id: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        let title = spec(id).map_or(id, |s| s.title);
        Self {
            id,
            title,
            verdict,
            detail: detail.into(),
            mismatches: Vec::new(),
            advice: Vec::new(),
            recovery_ms: None,
            requests: None,
            timeline: Vec::new(),
            diagnostics: None,
            duration_ms: 0,
        }
    }

    pub fn pass(id: &'static str, detail: impl Into<String>) -> Self {
        Self::new(id, Verdict::Pass, detail)
    }

    /// The requirement held but a best practice did not; `detail` says both.
    pub fn warn(id: &'static str, detail: impl Into<String>) -> Self {
        Self::new(id, Verdict::Warn, detail)
    }

    pub fn fail(id: &'static str, detail: impl Into<String>) -> Self {
        Self::new(id, Verdict::Fail, detail)
    }

    pub fn skip(id: &'static str, reason: impl Into<String>) -> Self {
        Self::new(id, Verdict::Skip, reason)
    }

    /// Pass when `mismatches` is empty, else fail listing all of them.
    pub fn from_mismatches(id: &'static str, passed: String, mismatches: Vec<String>) -> Self {
        Self::from_findings(id, passed, mismatches, Vec::new())
    }

    /// Fail listing every mismatch; else warn when there is advice (the detail says what held,
    /// then the advice); else pass with `passed`. The advice is kept on a failure too: it is
    /// still worth reading once the mismatches are fixed.
    pub fn from_findings(
        id: &'static str,
        passed: String,
        mismatches: Vec<String>,
        advice: Vec<String>,
    ) -> Self {
        let mut outcome = if !mismatches.is_empty() {
            Self::fail(
                id,
                format!("{} problem(s): {}", mismatches.len(), mismatches.join("; ")),
            )
        } else if !advice.is_empty() {
            Self::warn(id, format!("{passed}; advice: {}", advice.join("; ")))
        } else {
            Self::pass(id, passed)
        };
        outcome.mismatches = mismatches;
        outcome.advice = advice;
        outcome
    }

    /// The outcome with more mismatches found around the scenario (a restart nobody caused
    /// while it ran): it fails, listing them after its own, and keeps what it had seen.
    pub fn failing_also(mut self, more: Vec<String>) -> Self {
        if more.is_empty() {
            return self;
        }
        self.detail = if self.verdict == Verdict::Fail {
            format!("{}; {}", self.detail, more.join("; "))
        } else {
            format!(
                "{} problem(s): {}; otherwise: {}",
                more.len(),
                more.join("; "),
                self.detail
            )
        };
        self.verdict = Verdict::Fail;
        self.mismatches.extend(more);
        self
    }

    pub fn with_recovery(mut self, recovery: Duration) -> Self {
        self.recovery_ms = Some(recovery.as_millis() as u64);
        self
    }

    pub fn with_requests(mut self, stats: DriveStats) -> Self {
        self.requests = Some(stats);
        self
    }
}

/// A prober through the app's Service while a fault is in force. `None` only when no HTTP
/// client could be built; the scenario then reports no request counts rather than failing.
pub fn start_prober(base_url: &str, path: &str, max: Duration) -> Option<Driver> {
    Driver::start(DriveConfig::prober(base_url, path, max)).ok()
}

/// Stops a prober from [`start_prober`] and returns what it saw.
pub async fn stop_prober(probe: Option<Driver>) -> Option<DriveStats> {
    match probe {
        Some(probe) => Some(probe.stop().await),
        None => None,
    }
}

/// What a check found that is not a pass: a broken requirement, or a best practice not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Mismatch(String),
    Advice(String),
}

impl Finding {
    /// Puts the finding on the list it belongs to.
    pub fn sort_into(self, mismatches: &mut Vec<String>, advice: &mut Vec<String>) {
        match self {
            Finding::Mismatch(text) => mismatches.push(text),
            Finding::Advice(text) => advice.push(text),
        }
    }
}

/// What stops requests failing while a pod goes away. Without a pause, the kubelet sends
/// SIGTERM while kube-proxy on every node (and the Service's EndpointSlice readers) still route
/// to the pod; without graceful shutdown, the requests it is serving are cut.
pub const GRACEFUL_SHUTDOWN_FIX: &str = "give the app container a preStop pause \
     (`lifecycle.preStop.exec.command: [\"sleep\", \"5\"]`, or `lifecycle.preStop.sleep.seconds: 5` \
     on Kubernetes 1.30+) so the endpoint removal reaches every node before SIGTERM, let the app \
     finish in-flight requests on SIGTERM (e.g. gunicorn --graceful-timeout), and keep \
     terminationGracePeriodSeconds above both";

/// Requests the prober saw fail while a pod went away (`during`, e.g. "during the rolling
/// restart"), judged by the profile's `cluster.zero_failed_requests` for `scenario`: a mismatch
/// when zero is required, else advice. `None` when nothing failed.
pub fn failed_requests(
    profile: &Profile,
    scenario: &str,
    stats: &DriveStats,
    during: &str,
) -> Option<Finding> {
    if stats.failed == 0 {
        return None;
    }
    let seen = format!(
        "{} of {} requests through the Service failed {during} (first: {})",
        stats.failed,
        stats.requests,
        stats.failures.join("; ")
    );
    Some(lost_requests(
        profile.cluster.zero_failed_requests.get(scenario),
        &format!("cluster.zero_failed_requests.{scenario}"),
        seen,
        "whenever a pod goes away",
    ))
}

/// Failed requests (`seen`) judged by a zero-failed-requests rule (its profile key named in
/// the text): a mismatch when zero is required, else advice saying when clients see errors
/// (`when`, e.g. "whenever a pod goes away"); both with the fix.
pub fn lost_requests(rule: Requirement, key: &str, seen: String, when: &str) -> Finding {
    match rule {
        Requirement::Required => Finding::Mismatch(format!(
            "{seen}; the profile requires none ({key}): {GRACEFUL_SHUTDOWN_FIX}"
        )),
        Requirement::Advised => Finding::Advice(format!(
            "{seen}; clients see errors {when}: {GRACEFUL_SHUTDOWN_FIX}"
        )),
    }
}

/// Stores `{"deploycheck_marker": marker}` through the app.
///
/// # Errors
/// The request failed or the app did not answer 200/201.
pub async fn write_marker(base_url: &str, marker: &str) -> Result<(), String> {
    let response = crate::http::client()
        .post(format!("{base_url}/data"))
        .json(&serde_json::json!({"deploycheck_marker": marker}))
        .send()
        .await
        .map_err(|e| {
            format!(
                "POST /data failed: {}",
                crate::http::describe_transport(&e, Duration::from_secs(10))
            )
        })?;
    let status = response.status();
    if status.as_u16() == 200 || status.as_u16() == 201 {
        Ok(())
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(format!(
            "POST /data answered {status}: {}",
            truncate(&body, 200)
        ))
    }
}

/// Whether `GET /data` lists the marker.
///
/// # Errors
/// The request failed or the app did not answer 200.
pub async fn read_marker(base_url: &str, marker: &str) -> Result<bool, String> {
    let response = crate::http::client()
        .get(format!("{base_url}/data"))
        .send()
        .await
        .map_err(|e| {
            format!(
                "GET /data failed: {}",
                crate::http::describe_transport(&e, Duration::from_secs(10))
            )
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(body.contains(marker))
    } else {
        Err(format!(
            "GET /data answered {status}: {}",
            truncate(&body, 200)
        ))
    }
}

/// Reads the marker until it is there or `deadline` passes (the app may still be
/// reconnecting). Returns how long it took.
///
/// # Errors
/// The marker never came back: the last answer or error.
pub async fn await_marker(
    base_url: &str,
    marker: &str,
    deadline: Duration,
) -> Result<Duration, String> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(200);
    let mut last = String::from("no answer yet");
    while started.elapsed() < deadline {
        match read_marker(base_url, marker).await {
            Ok(true) => return Ok(started.elapsed()),
            Ok(false) => {
                return Err(format!(
                    "GET /data answered but the marker {marker} written before is gone: the data was lost"
                ));
            }
            Err(error) => last = error,
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(3));
    }
    Err(format!(
        "the marker could not be read back within {} s; last: {last}",
        deadline.as_secs()
    ))
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        text.to_string()
    } else {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cluster::fake::ScriptedCluster;
    use crate::cluster::safety::decide;

    /// The reference profile on namespace `ns` of `cluster`, destructive steps as its context
    /// allows.
    pub fn target(cluster: ScriptedCluster) -> Target<ScriptedCluster> {
        let destructive = decide(&cluster.context, false);
        Target::new(
            Arc::new(cluster),
            "ns".into(),
            Profile::built_in("reference").unwrap(),
            destructive,
        )
    }

    /// The one table everything reads: ids once each, `deploy` first, the read-only
    /// scenarios first after it (they run together before anything is broken), and every id
    /// dispatchable.
    #[tokio::test]
    async fn the_catalogue_is_one_table_in_running_order() {
        let ids: Vec<&str> = CATALOGUE.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                "deploy",
                "connectivity",
                "resources",
                "monitoring",
                "persistence",
                "recreate",
                "replicas",
                "hpa",
                "liveness",
                "readiness",
                "rolling",
                "bluegreen",
                "canary"
            ]
        );
        let read_only: Vec<&str> = CATALOGUE
            .iter()
            .filter(|s| s.read_only)
            .map(|s| s.id)
            .collect();
        assert_eq!(read_only, ["connectivity", "resources", "monitoring"]);
        assert!(CATALOGUE.iter().all(|s| !(s.read_only && s.destructive)));
        // An unknown id is not run; a known one is (here it fails fast: no such workload).
        let target = target(ScriptedCluster::new("kind-kind"));
        let io = Io {
            app_url: "http://127.0.0.1:9",
            database: "127.0.0.1:9".parse().unwrap(),
        };
        assert!(run("no-such-scenario", &target, io).await.is_none());
        assert_eq!(spec("hpa-scale-down").map(|s| s.id), Some("hpa-scale-down"));
    }

    #[test]
    fn selectors_join_labels() {
        let labels = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into();
        assert_eq!(selector(&labels), "a=1,b=2");
    }

    #[test]
    fn mismatches_make_a_failure_that_lists_them_all() {
        let outcome =
            ScenarioOutcome::from_mismatches("deploy", "fine".into(), vec!["x".into(), "y".into()]);
        assert_eq!(outcome.verdict, crate::api::Verdict::Fail);
        assert_eq!(outcome.detail, "2 problem(s): x; y");
        assert_eq!(outcome.title, "the stack rolls out");
    }

    #[test]
    fn findings_fail_on_a_mismatch_else_warn_on_advice_else_pass() {
        let finding = |m: &[&str], a: &[&str]| {
            ScenarioOutcome::from_findings(
                "rolling",
                "restarted".into(),
                m.iter().map(|s| s.to_string()).collect(),
                a.iter().map(|s| s.to_string()).collect(),
            )
        };
        let passed = finding(&[], &[]);
        assert_eq!(
            (passed.verdict, passed.detail.as_str()),
            (Verdict::Pass, "restarted")
        );
        let warned = finding(&[], &["add a preStop pause"]);
        assert_eq!(warned.verdict, Verdict::Warn);
        assert_eq!(warned.detail, "restarted; advice: add a preStop pause");
        assert_eq!(warned.advice, ["add a preStop pause"]);
        let failed = finding(&["did not finish"], &["add a preStop pause"]);
        assert_eq!(failed.verdict, Verdict::Fail);
        assert_eq!(failed.detail, "1 problem(s): did not finish");
        assert_eq!(failed.advice, ["add a preStop pause"], "kept for later");
    }

    #[test]
    fn failed_requests_are_a_mismatch_or_advice_as_the_profile_says() {
        let stats = |failed| DriveStats {
            requests: 140,
            failed,
            failures: vec!["GET /health: connection reset".into()],
            ..DriveStats::default()
        };
        let mut profile = Profile::built_in("reference").unwrap();
        assert_eq!(failed_requests(&profile, "rolling", &stats(0), "now"), None);
        let Some(Finding::Mismatch(text)) =
            failed_requests(&profile, "rolling", &stats(2), "during the rolling restart")
        else {
            panic!("the reference profile requires zero failed requests");
        };
        assert!(
            text.starts_with(
                "2 of 140 requests through the Service failed during the rolling restart \
                 (first: GET /health: connection reset); the profile requires none \
                 (cluster.zero_failed_requests.rolling): give the app container a preStop pause"
            ),
            "{text}"
        );
        profile.cluster.zero_failed_requests.rolling = Requirement::Advised;
        let Some(Finding::Advice(text)) = failed_requests(&profile, "rolling", &stats(2), "now")
        else {
            panic!("advised");
        };
        for fix in [
            "preStop",
            "sleep",
            "SIGTERM",
            "--graceful-timeout",
            "terminationGracePeriodSeconds",
        ] {
            assert!(text.contains(fix), "{fix}: {text}");
        }
        // Each scenario has its own rule.
        assert!(matches!(
            failed_requests(&profile, "replicas", &stats(1), "now"),
            Some(Finding::Mismatch(_))
        ));
    }
}
