//! `deploycheck check`: preflight, optional deployment into a throw-away namespace, every
//! cluster scenario in order (with diagnostics on failure), and cleanup that also runs on
//! failure and on Ctrl-C/SIGTERM (a second signal skips it and says what was left).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::Verdict;
use crate::cluster::safety::{Destructive, decide};
use crate::cluster::{Cluster, ClusterError, MANAGED_BY, NamespaceGone, WorkloadKind};
use crate::diagnose;
use crate::forward::Forwarder;
use crate::preflight::{self as manifests_preflight, Finding, Level, NodePorts, Read};
use crate::profile::Profile;
use crate::scenario::ledger::{self, Window};
use crate::scenario::{self, ScenarioOutcome, Target};

/// When to keep a namespace the harness created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Keep {
    #[default]
    Never,
    OnFailure,
    Always,
}

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub context: Option<String>,
    /// Check what runs here (without `deploy`).
    pub namespace: Option<String>,
    /// Deploy these manifests (a kustomize directory or files) into a fresh namespace.
    pub deploy: Option<PathBuf>,
    pub keep: Keep,
    pub allow_destructive: bool,
    /// Also run the slow scenarios (HPA scale-down).
    pub slow: bool,
    /// Run only these scenario ids (plus `deploy`, which the others need).
    pub only: Vec<String>,
    /// Warnings count as failures (for the exit code and `keep: OnFailure`).
    pub strict: bool,
    /// With `deploy`: keep the manifests' fixed nodePorts, or clear them.
    pub node_ports: NodePorts,
}

/// Everything that happened, for the reports.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub context: String,
    pub namespace: String,
    pub deployed: bool,
    pub scenarios: Vec<ScenarioOutcome>,
    /// What cleanup did (or why it did not).
    pub cleanup: String,
    pub interrupted: bool,
    pub seconds: f64,
    /// Every container restart from the end of `deploy` to the end of the last scenario, each
    /// with the scenario that saw it and what deploycheck did that explains it, if anything.
    pub restarts: Vec<ledger::RunRestart>,
}

impl CheckReport {
    /// `restarts: 1, all caused by deploycheck (liveness freeze 1)`; `None` when no scenario ran
    /// after `deploy` (nothing was watched).
    pub fn restart_summary(&self) -> Option<String> {
        self.scenarios
            .iter()
            .any(|s| s.id != "deploy" && s.verdict != Verdict::Skip)
            .then(|| ledger::summary(&self.restarts))
    }

    /// Whether the run failed: interrupted, or a scenario failed (or warned, when `strict`).
    /// Skips never fail it: they are reported with their reason.
    pub fn failed(&self, strict: bool) -> bool {
        self.interrupted || self.scenarios.iter().any(|s| s.verdict.fails(strict))
    }
}

/// Nothing was checked: one sentence, exit 2.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Preflight(String),
    #[error(transparent)]
    Manifests(#[from] crate::manifest::LoadError),
}

/// Checks, before any scenario, that the cluster answers, the namespace exists and holds the
/// profile's objects, and that we may read there. All missing objects in one sentence.
///
/// # Errors
/// Unreachable, forbidden, a missing namespace or missing objects.
pub async fn preflight<C: Cluster>(
    cluster: &C,
    namespace: &str,
    profile: &Profile,
    deploying: bool,
) -> Result<(), CheckError> {
    cluster.version().await?;
    if deploying {
        return Ok(());
    }
    if !cluster.namespace_exists(namespace).await? {
        return Err(CheckError::Preflight(format!(
            "namespace `{namespace}` does not exist in context `{}` (kubectl get namespaces), \
             or pass --deploy DIR to deploy into a fresh one",
            cluster.context()
        )));
    }
    let mut missing = Vec::new();
    for (kind, name) in [
        (WorkloadKind::Deployment, &profile.app.deployment),
        (WorkloadKind::StatefulSet, &profile.database.statefulset),
    ] {
        if cluster.workload(namespace, kind, name).await?.is_none() {
            missing.push(format!("{kind} `{name}`"));
        }
    }
    for name in [&profile.app.service, &profile.database.service] {
        if cluster.service(namespace, name).await?.is_none() {
            missing.push(format!("Service `{name}`"));
        }
    }
    if cluster.hpa(namespace, &profile.hpa.name).await?.is_none() {
        missing.push(format!("HorizontalPodAutoscaler `{}`", profile.hpa.name));
    }
    if !missing.is_empty() {
        return Err(CheckError::Preflight(format!(
            "namespace `{namespace}` has no {}: check the names in your profile \
             (deploycheck.toml, --profile) against `kubectl get all,hpa -n {namespace}`",
            missing.join(", no ")
        )));
    }
    Ok(())
}

/// The preflight of `--deploy`, before the namespace is created: with `--node-ports auto` the
/// manifests' fixed nodePorts are cleared first; then the cluster is read for what the
/// manifests need (only that: StorageClasses, nodePorts in use, the nodes' images) and judged
/// by [`crate::preflight::judge`]. Every error, hint and note comes at once. A read the user
/// may not make is a note that the check was not done, never a pass or a failure.
///
/// # Errors
/// [`CheckError::Preflight`] listing every problem (and the hints and notes beside them);
/// a cluster that fails otherwise.
pub async fn deploy_preflight<C: Cluster>(
    cluster: &C,
    manifests: &mut [serde_json::Value],
    node_ports: NodePorts,
) -> Result<Vec<Finding>, CheckError> {
    let mut findings = match node_ports {
        NodePorts::Auto => manifests_preflight::clear_node_ports(manifests),
        NodePorts::Fixed => Vec::new(),
    };
    let wanted = manifests_preflight::wanted(manifests);
    let facts = manifests_preflight::Facts {
        context: cluster.context().to_string(),
        storage_classes: if wanted.needs_storage_classes() {
            Some(allowed(cluster.storage_classes().await)?)
        } else {
            None
        },
        node_ports: if wanted.needs_node_ports() {
            Some(allowed(cluster.node_ports_in_use().await)?)
        } else {
            None
        },
        nodes: if wanted.needs_nodes() {
            Some(allowed(cluster.nodes().await)?)
        } else {
            None
        },
    };
    findings.extend(manifests_preflight::judge(&wanted, &facts));
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .collect();
    if errors.is_empty() {
        return Ok(findings);
    }
    let mut text = format!(
        "{} problem(s) found before anything was applied (context `{}`):",
        errors.len(),
        cluster.context()
    );
    for error in &errors {
        text.push_str(&format!("\n  - {error}"));
    }
    for other in findings.iter().filter(|f| f.level != Level::Error) {
        text.push_str(&format!("\n  {other}"));
    }
    Err(CheckError::Preflight(text))
}

/// A cluster-scoped read the preflight makes: forbidden is an answer (the check is not done
/// and says so); anything else stops the run, as any preflight read does.
fn allowed<T>(read: Result<T, ClusterError>) -> Result<Read<T>, CheckError> {
    match read {
        Ok(answer) => Ok(Read::Answered(answer)),
        Err(ClusterError::Forbidden { reason, .. }) => Ok(Read::Forbidden(reason)),
        Err(error) => Err(error.into()),
    }
}

fn wanted(options: &CheckOptions, id: &str) -> bool {
    options.only.is_empty() || id == "deploy" || options.only.iter().any(|o| o == id)
}

/// What happens during a check, as it happens, for progress output. Logic never prints.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        context: &'a str,
        namespace: &'a str,
        deploying: bool,
        destructive: &'a Destructive,
    },
    /// What the preflight of `--deploy` found that does not stop the run: hints, checks it
    /// could not do, nodePorts it cleared. Reported before anything is applied.
    Preflight(&'a [Finding]),
    Running(&'a str),
    Finished(&'a ScenarioOutcome),
    /// The first Ctrl-C/SIGTERM arrived; cleanup follows, a second one skips it.
    Interrupted,
    CleaningUp(&'a str),
}

/// Collects outcomes, times them, and tells the reporter.
struct Progress<'r> {
    report: &'r mut dyn FnMut(Event<'_>),
    outcomes: Vec<ScenarioOutcome>,
    /// When each scenario now running started (two run at once in the read-only pass).
    running_since: std::collections::BTreeMap<String, Instant>,
}

impl<'r> Progress<'r> {
    fn new(report: &'r mut dyn FnMut(Event<'_>)) -> Self {
        Self {
            report,
            outcomes: Vec::new(),
            running_since: std::collections::BTreeMap::new(),
        }
    }

    fn running(&mut self, id: &str) {
        self.running_from(id, Instant::now());
    }

    /// A scenario whose work began at `since`, before its line could be announced (`deploy`:
    /// the preflight, the namespace and the apply all count).
    fn running_from(&mut self, id: &str, since: Instant) {
        self.running_since.insert(id.to_string(), since);
        (self.report)(Event::Running(id));
    }

    /// Every wanted scenario after `deploy`, none of which can run.
    fn finish_all_but_deploy(
        &mut self,
        options: &CheckOptions,
        outcome: impl Fn(&'static str) -> ScenarioOutcome,
    ) {
        for spec in &scenario::CATALOGUE[1..] {
            if wanted(options, spec.id) {
                self.finish(outcome(spec.id), None);
            }
        }
    }

    fn finish(&mut self, outcome: ScenarioOutcome, diagnosis: Option<String>) {
        self.finish_at(outcome, diagnosis, Instant::now());
    }

    /// Records an outcome at `now`. Its duration runs from [`Progress::running`] (so it includes
    /// the diagnostics, which are part of the wait for its line); an outcome that never ran
    /// (skipped because `deploy` failed) took no time.
    fn finish_at(&mut self, mut outcome: ScenarioOutcome, diagnosis: Option<String>, now: Instant) {
        outcome.diagnostics = diagnosis;
        outcome.duration_ms = self.running_since.remove(outcome.id).map_or(0, |since| {
            now.saturating_duration_since(since).as_millis() as u64
        });
        (self.report)(Event::Finished(&outcome));
        self.outcomes.push(outcome);
    }
}

/// Runs the scenarios in catalogue order. Diagnostics are attached to every failure. `deploy`
/// is timed from `deploy_started`: the start of the run, so its line includes the preflight,
/// the namespace's creation and the apply.
pub async fn run_scenarios<C: Cluster + Send + 'static>(
    target: &Target<C>,
    manifests: Option<&[serde_json::Value]>,
    options: &CheckOptions,
    deploy_started: Instant,
    report: &mut dyn FnMut(Event<'_>),
) -> Vec<ScenarioOutcome> {
    let mut progress = Progress::new(report);
    progress.running_from("deploy", deploy_started);
    let deployed = scenario::deploy::roll_out(target, manifests).await;
    let rolled_out = deployed.verdict == Verdict::Pass;
    let diagnosis = if rolled_out {
        None
    } else {
        Some(diagnose::collect(target).await.to_string())
    };
    progress.finish(deployed, diagnosis);
    if !rolled_out {
        progress.finish_all_but_deploy(options, |id| {
            ScenarioOutcome::skip(id, "the stack did not roll out (see deploy)")
        });
        return progress.outcomes;
    }
    ledger::Tally::start(target).await;
    let profile = &target.profile;
    let forward =
        |service, port| Forwarder::start(target.cluster.clone(), &target.namespace, service, port);
    let app = forward(&profile.app.service, profile.app.port).await;
    let database = forward(&profile.database.service, profile.database.port).await;
    let (app, database) = match (app, database) {
        (Ok(app), Ok(database)) => (app, database),
        (Err(error), _) | (_, Err(error)) => {
            progress.finish_all_but_deploy(options, |id| {
                ScenarioOutcome::fail(id, format!("cannot port-forward: {error}"))
            });
            return progress.outcomes;
        }
    };
    let url = app.base_url();
    let wanted: Vec<&scenario::Spec> = scenario::CATALOGUE[1..]
        .iter()
        .copied()
        .filter(|spec| wanted(options, spec.id))
        .collect();
    // The read-only checks run together first, while nothing is being broken: they cannot
    // disturb each other, and their verdicts do not depend on one another.
    let (read_only, ids): (Vec<&scenario::Spec>, Vec<&scenario::Spec>) =
        wanted.into_iter().partition(|spec| spec.read_only);
    let read_only: Vec<&str> = read_only.iter().map(|spec| spec.id).collect();
    let ids = ids.into_iter().map(|spec| spec.id);
    if !read_only.is_empty() {
        for id in &read_only {
            progress.running(id);
        }
        let outcomes = futures::future::join_all(
            read_only
                .iter()
                .map(|id| run_judged(target, id, &url, database.address)),
        )
        .await;
        for mut outcome in outcomes {
            let diagnosis = outcome.diagnostics.take();
            progress.finish(outcome, diagnosis);
        }
    }
    for id in ids {
        progress.running(id);
        let mut outcome = run_judged(target, id, &url, database.address).await;
        let diagnosis = outcome.diagnostics.take();
        progress.finish(outcome, diagnosis);
        if id == "hpa" && options.slow {
            progress.running("hpa-scale-down");
            let mut down = run_judged(target, "hpa-scale-down", &url, database.address).await;
            let diagnosis = down.diagnostics.take();
            progress.finish(down, diagnosis);
        }
    }
    progress.outcomes
}

/// One scenario after `deploy`, judged as a whole: its window opens before it runs (where the
/// last one closed: the windows tile the run); a restart during it that deploycheck did not
/// cause fails it, with the probe events as evidence (a
/// liveness probe on the wrong port restarts a container every ~30 s, whatever runs then);
/// and a failure carries the diagnostics of its own window only.
pub async fn run_judged<C: Cluster + Send + 'static>(
    target: &Target<C>,
    id: &str,
    app_url: &str,
    database: std::net::SocketAddr,
) -> ScenarioOutcome {
    let window = Window::open(target).await;
    target.checkpoints.record(ledger::Checkpoint {
        window: window.clone(),
        at: target.cluster.elapsed(),
        scenario: id.to_string(),
    });
    let mut outcome = run_one(target, id, app_url, database).await;
    // A skipped scenario leaves its window open: the next one starts where the last closed, so
    // a restart meanwhile is still judged.
    if outcome.verdict != Verdict::Skip {
        outcome = outcome.failing_also(ledger::close(target, &window, id).await);
    }
    if outcome.verdict == Verdict::Fail {
        outcome.diagnostics = Some(
            diagnose::collect_since(target, Some(&window))
                .await
                .to_string(),
        );
    }
    outcome
}

/// One scenario after `deploy`: `app_url` reaches the app's Service, `database` MongoDB's.
pub async fn run_one<C: Cluster + Send + 'static>(
    target: &Target<C>,
    id: &str,
    app_url: &str,
    database: std::net::SocketAddr,
) -> ScenarioOutcome {
    let io = scenario::Io { app_url, database };
    match scenario::run(id, target, io).await {
        Some(outcome) => outcome,
        None => ScenarioOutcome::fail("deploy", format!("unknown scenario `{id}`")),
    }
}

/// Deletes what the harness created: the namespace (unless kept), or, in a namespace it was
/// given, only its own helper pods. A second signal skips the namespace deletion.
pub async fn clean_up<C: Cluster>(
    cluster: &C,
    namespace: &str,
    created: bool,
    keep: Keep,
    failed: bool,
    deadline: Duration,
    second_signal: impl Future<Output = ()>,
) -> String {
    let context = cluster.context();
    if !created {
        let selector = format!(
            "{}={},app.kubernetes.io/component=deploycheck-helper",
            MANAGED_BY.0, MANAGED_BY.1
        );
        let helpers = cluster.pods(namespace, &selector).await.unwrap_or_default();
        for helper in &helpers {
            let _ = cluster.delete_pod(namespace, &helper.name).await;
        }
        // Load workers of an interrupted HPA scenario: their Jobs go, and the pods with them.
        let workers = format!(
            "{}={},app.kubernetes.io/component={}",
            MANAGED_BY.0,
            MANAGED_BY.1,
            crate::incluster::job::COMPONENT
        );
        let jobs: std::collections::BTreeSet<String> = cluster
            .pods(namespace, &workers)
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.labels.get(crate::incluster::job::JOB_NAME_LABEL).cloned())
            .collect();
        for job in &jobs {
            let _ = cluster.delete_job(namespace, job).await;
        }
        return format!(
            "nothing to delete in `{namespace}` (not created by deploycheck){}{}",
            if helpers.is_empty() {
                String::new()
            } else {
                format!("; removed {} helper pod(s)", helpers.len())
            },
            if jobs.is_empty() {
                String::new()
            } else {
                format!("; removed {} load Job(s)", jobs.len())
            }
        );
    }
    let inspect = format!(
        "inspect it with `kubectl --context {context} -n {namespace} get all,pvc,events`, delete it \
         with `kubectl --context {context} delete namespace {namespace}`"
    );
    if keep == Keep::Always || (keep == Keep::OnFailure && failed) {
        return format!("kept namespace `{namespace}`; {inspect}");
    }
    tokio::select! {
        biased;
        () = second_signal => format!("cleanup skipped (second interrupt); left namespace `{namespace}`; {inspect}"),
        gone = cluster.delete_namespace(namespace, deadline) => match gone {
            Ok(NamespaceGone::Deleted) => format!("deleted namespace `{namespace}`"),
            Ok(NamespaceGone::Stuck { finalizers, conditions }) => format!(
                "namespace `{namespace}` is still terminating after {} s; finalizers: [{}]{}; {inspect}",
                deadline.as_secs(),
                finalizers.join(", "),
                conditions.iter().map(|c| format!("; {c}")).collect::<String>()
            ),
            Err(error) => format!("could not delete namespace `{namespace}`: {error}; {inspect}"),
        },
    }
}

/// The whole check over any cluster: preflight, namespace, scenarios, cleanup. `interrupt`
/// resolves on the first Ctrl-C/SIGTERM, `second_interrupt` on the next.
///
/// # Errors
/// Preflight failures (nothing was checked and nothing was created), the manifests' preflight
/// among them (see [`deploy_preflight`]).
pub async fn check_on<C: Cluster + Send + 'static>(
    cluster: Arc<C>,
    profile: Profile,
    options: &CheckOptions,
    mut manifests: Option<Vec<serde_json::Value>>,
    interrupt: impl Future<Output = ()>,
    second_interrupt: impl Future<Output = ()>,
    report: &mut dyn FnMut(Event<'_>),
) -> Result<CheckReport, CheckError> {
    // Also the start of `deploy`: its line counts the preflight, the namespace and the apply.
    let started = Instant::now();
    let deploying = manifests.is_some();
    let namespace = if deploying {
        crate::cluster::throwaway_namespace_name()
    } else {
        options
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    };
    preflight(&*cluster, &namespace, &profile, deploying).await?;
    let noted = match manifests.as_deref_mut() {
        Some(manifests) => deploy_preflight(&*cluster, manifests, options.node_ports).await?,
        None => Vec::new(),
    };
    if deploying {
        cluster.create_namespace(&namespace).await?;
    }
    let destructive = decide(cluster.context(), options.allow_destructive);
    let deadline = profile.cluster.namespace_delete;
    let target = Target::new(cluster.clone(), namespace.clone(), profile, destructive);
    report(Event::Started {
        context: cluster.context(),
        namespace: &namespace,
        deploying,
        destructive: &target.destructive,
    });
    if !noted.is_empty() {
        report(Event::Preflight(&noted));
    }
    let mut interrupted = false;
    let scenarios = {
        let run = run_scenarios(
            &target,
            manifests.as_deref(),
            options,
            started,
            &mut *report,
        );
        // An interrupt wins over work that happens to be ready at the same moment.
        tokio::select! {
            biased;
            () = interrupt => {
                interrupted = true;
                Vec::new()
            }
            outcomes = run => outcomes,
        }
    };
    let mut undone = Vec::new();
    if interrupted {
        report(Event::Interrupted);
        // A namespace of ours goes as a whole; in someone else's, faults must not outlive us.
        if !deploying {
            undone = target.undo_pending().await;
        }
    }
    // An interrupt is a request to stop and clean up, not a failure to keep evidence of.
    let failed = scenarios.iter().any(|s| s.verdict.fails(options.strict));
    report(Event::CleaningUp(&namespace));
    let mut cleanup = clean_up(
        &*cluster,
        &namespace,
        deploying,
        options.keep,
        failed,
        deadline,
        second_interrupt,
    )
    .await;
    if !undone.is_empty() {
        cleanup = format!("{}; {cleanup}", undone.join("; "));
    }
    Ok(CheckReport {
        context: cluster.context().to_string(),
        namespace,
        deployed: deploying,
        scenarios,
        cleanup,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        restarts: target.restarts.all(),
    })
}

/// Loads the manifests to deploy as JSON objects.
///
/// # Errors
/// Missing, malformed or unrenderable manifests, or none at all.
pub fn load_manifests(path: &std::path::Path) -> Result<Vec<serde_json::Value>, CheckError> {
    let inputs = crate::manifest::load(&[path.to_path_buf()])?;
    let objects: Vec<serde_json::Value> = inputs
        .objects
        .iter()
        // A Namespace in the overlay is replaced by the throw-away one.
        .filter(|o| o.kind != "Namespace")
        .map(|o| o.node.to_json())
        .collect();
    if objects.is_empty() {
        return Err(CheckError::Preflight(format!(
            "{}: no Kubernetes objects to deploy",
            path.display()
        )));
    }
    Ok(objects)
}

/// The check against the real cluster of `options.context`.
///
/// # Errors
/// See [`check_on`]; also a missing kubeconfig or unknown context.
pub async fn check(
    profile: Profile,
    options: &CheckOptions,
    report: &mut dyn FnMut(Event<'_>),
) -> Result<CheckReport, CheckError> {
    let manifests = options.deploy.as_deref().map(load_manifests).transpose()?;
    let (client, context) = crate::cluster::connect(options.context.as_deref()).await?;
    let cluster = Arc::new(crate::cluster::KubeCluster::new(client, context));
    let first = app::server::shutdown_signal();
    let second = async {
        // The first signal was consumed above; wait for the next one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        app::server::shutdown_signal().await;
    };
    let (first_done, second) = interrupts(first, second);
    check_on(
        cluster, profile, options, manifests, first_done, second, report,
    )
    .await
}

/// Orders the two signal futures: the second only listens after the first fired.
fn interrupts(
    first: impl Future<Output = ()>,
    second: impl Future<Output = ()>,
) -> (impl Future<Output = ()>, impl Future<Output = ()>) {
    let fired = Arc::new(tokio::sync::Notify::new());
    let notify = fired.clone();
    let first = async move {
        first.await;
        notify.notify_one();
    };
    let second = async move {
        fired.notified().await;
        second.await;
    };
    (first, second)
}

/// Whether destructive scenarios will run, for the banner.
pub fn destructive_note(context: &str, allow: bool) -> Option<String> {
    match decide(context, allow) {
        Destructive::Allowed => None,
        Destructive::Refused(reason) => Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ServiceInfo;
    use crate::cluster::fake::{ScriptedCluster, reference_rolled_out, workload};

    fn profile() -> Profile {
        Profile::built_in("reference").unwrap()
    }

    fn existing_stack(cluster: ScriptedCluster) -> ScriptedCluster {
        cluster.with(|s| {
            s.namespaces.insert("shop".into());
            s.workloads.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                workload("deploycheck-app", 2, 2),
            );
            s.services
                .insert("deploycheck-app".into(), ServiceInfo::default());
        })
    }

    #[tokio::test]
    async fn preflight_names_every_missing_object_in_one_sentence() {
        let cluster = existing_stack(ScriptedCluster::new("kind-kind"));
        let error = preflight(&cluster, "shop", &profile(), false)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "namespace `shop` has no StatefulSet `mongodb`, no Service `mongodb`, no \
             HorizontalPodAutoscaler `deploycheck-app`: check the names in your profile \
             (deploycheck.toml, --profile) against `kubectl get all,hpa -n shop`"
        );
    }

    #[tokio::test]
    async fn preflight_errors_for_unreachable_forbidden_and_missing_namespaces() {
        let unreachable = ScriptedCluster::new("kind-kind").with(|s| s.unreachable = true);
        let error = preflight(&unreachable, "shop", &profile(), false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot reach the cluster of context `kind-kind`"),
            "{error}"
        );

        let forbidden = ScriptedCluster::new("kind-kind").with(|s| {
            s.forbidden.insert("namespace_exists");
        });
        let error = preflight(&forbidden, "shop", &profile(), false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is forbidden") && error.contains("needs a Role"),
            "{error}"
        );

        let error = preflight(
            &ScriptedCluster::new("kind-kind"),
            "shop",
            &profile(),
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("namespace `shop` does not exist in context `kind-kind`"),
            "{error}"
        );
        // Deploying needs no existing objects.
        preflight(&ScriptedCluster::new("kind-kind"), "x", &profile(), true)
            .await
            .unwrap();
    }

    /// A cluster that has what the reference overlay needs: a default StorageClass, both
    /// images on its node as containerd names them, and another Service on some other nodePort.
    fn ready_for_the_reference(s: &mut crate::cluster::fake::State) {
        use crate::cluster::{NodeInfo, NodePortUse, StorageClassInfo};
        s.storage_classes = vec![StorageClassInfo {
            name: "standard".into(),
            default: true,
            provisioner: "rancher.io/local-path".into(),
        }];
        s.nodes = vec![NodeInfo {
            name: "deploycheck-control-plane".into(),
            images: vec![
                "docker.io/library/deploycheck-app:0.1.0".into(),
                "docker.io/library/mongo:7.0".into(),
                "registry.k8s.io/pause:3.10".into(),
            ],
            ..NodeInfo::default()
        }];
        s.node_ports = vec![NodePortUse {
            port: 30080,
            service: "ingress-nginx/ingress-nginx-controller".into(),
        }];
    }

    fn reference_overlay() -> Vec<serde_json::Value> {
        load_manifests(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/overlays/dev"),
        )
        .unwrap()
    }

    fn node_port_of_the_app(manifests: &[serde_json::Value]) -> Option<i64> {
        manifests
            .iter()
            .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "deploycheck-app")
            .unwrap()["spec"]["ports"][0]["nodePort"]
            .as_i64()
    }

    #[tokio::test]
    async fn the_reference_overlay_passes_the_preflight_where_the_cluster_has_what_it_needs() {
        let cluster = ScriptedCluster::new("kind-deploycheck").with(ready_for_the_reference);
        let mut manifests = reference_overlay();
        let findings = deploy_preflight(&cluster, &mut manifests, NodePorts::Fixed)
            .await
            .unwrap();
        assert_eq!(findings, []);
        assert_eq!(manifests, reference_overlay(), "fixed keeps the manifests");
        assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    }

    /// run-2's second run: another check's namespace still holds 30500.
    #[tokio::test]
    async fn a_held_node_port_is_an_error_unless_auto_clears_it() {
        let cluster = ScriptedCluster::new("kind-lab").with(|s| {
            ready_for_the_reference(s);
            s.node_ports.push(crate::cluster::NodePortUse {
                port: 30500,
                service: "deploycheck-s6ghhu/deploycheck-app".into(),
            });
        });
        let mut manifests = reference_overlay();
        let error = deploy_preflight(&cluster, &mut manifests, NodePorts::Fixed)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "1 problem(s) found before anything was applied (context `kind-lab`):\n  - Service \
             deploycheck-app: nodePort 30500 (spec.ports[0]) is already allocated to Service \
             deploycheck-s6ghhu/deploycheck-app, so the apply would fail (\"provided port is \
             already allocated\"): pass --node-ports auto to let the API server choose a free \
             one in the throw-away namespace, or change the port"
        );

        let mut manifests = reference_overlay();
        let findings = deploy_preflight(&cluster, &mut manifests, NodePorts::Auto)
            .await
            .unwrap();
        assert_eq!(
            findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "Service deploycheck-app: nodePort 30500 (spec.ports[0]) cleared (--node-ports \
              auto); the API server allocates a free one"
            ]
        );
        // What gets applied has no nodePort left; everything else is as rendered.
        assert_eq!(node_port_of_the_app(&manifests), None);
        assert_eq!(node_port_of_the_app(&reference_overlay()), Some(30500));
        assert_eq!(manifests.len(), reference_overlay().len());
    }

    /// The StorageClass of run-2's `missing-storageclass` stack, its nodePort held, and an app
    /// image with `Never` that no node has: every problem in one error, and nothing created.
    #[tokio::test]
    async fn every_preflight_problem_stops_the_run_before_the_namespace_exists() {
        let cluster = Arc::new(ScriptedCluster::new("kind-lab").with(|s| {
            ready_for_the_reference(s);
            s.node_ports.push(crate::cluster::NodePortUse {
                port: 30500,
                service: "ci-7/flask-app".into(),
            });
            s.nodes[0].images = vec!["docker.io/library/mongo:7.0".into()];
        }));
        let mut manifests = reference_overlay();
        for object in &mut manifests {
            if object["kind"] == "StatefulSet" {
                object["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] =
                    "fast-ssd".into();
            }
            if object["kind"] == "Deployment" {
                object["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
                    "Never".into();
            }
        }
        let mut events = 0;
        let error = check_on(
            cluster.clone(),
            profile(),
            &CheckOptions::default(),
            Some(manifests),
            std::future::pending(),
            std::future::pending(),
            &mut |_| events += 1,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, CheckError::Preflight(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "3 problem(s) found before anything was applied (context `kind-lab`):\n  \
             - claim template `data` of StatefulSet mongodb names StorageClass `fast-ssd`, which \
             the cluster does not have (the cluster has: standard; default: standard): its claim \
             would stay Pending\n  \
             - Service deploycheck-app: nodePort 30500 (spec.ports[0]) is already allocated to \
             Service ci-7/flask-app, so the apply would fail (\"provided port is already \
             allocated\"): pass --node-ports auto to let the API server choose a free one in \
             the throw-away namespace, or change the port\n  \
             - image deploycheck-app:0.1.0 (Deployment deploycheck-app, container app; \
             imagePullPolicy Never) is on no node, and Never forbids pulling it, so its pods \
             cannot start (ErrImageNeverPull): load it with `kind load docker-image \
             deploycheck-app:0.1.0 --name lab`"
        );
        assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
        assert_eq!(
            events, 0,
            "nothing is announced for a run that never starts"
        );
    }

    /// A user without the ClusterRole to list StorageClasses, nodes or every Service: each
    /// check says it was not done, the run goes on, and the notes reach the reporter before
    /// the apply.
    #[tokio::test]
    async fn a_forbidden_cluster_wide_read_is_reported_as_not_checked_and_the_run_goes_on() {
        let cluster = Arc::new(ScriptedCluster::new("kind-lab").with(|s| {
            for method in ["storage_classes", "nodes", "node_ports_in_use"] {
                s.forbidden.insert(method);
            }
        }));
        let mut printed = Vec::new();
        let report = check_on(
            cluster.clone(),
            profile(),
            &CheckOptions::default(),
            Some(reference_overlay()),
            std::future::pending(),
            std::future::pending(),
            &mut |event| match event {
                Event::Preflight(findings) => {
                    printed.extend(findings.iter().map(ToString::to_string));
                }
                Event::Running(id) => printed.push(format!("running {id}")),
                _ => {}
            },
        )
        .await
        .unwrap();
        assert_eq!(
            printed.iter().take(4).collect::<Vec<_>>(),
            [
                "StorageClasses not checked: the user of this context may not list them (User \
                 \"ci\" cannot storage_classes in the namespace)",
                "nodePorts in use not checked: the user of this context may not list the \
                 Services of every namespace (User \"ci\" cannot node_ports_in_use in the \
                 namespace)",
                "images on the nodes not checked: the user of this context may not list nodes \
                 (User \"ci\" cannot nodes in the namespace)",
                "running deploy",
            ]
        );
        let calls = cluster.calls();
        assert!(
            calls[0].starts_with("create namespace deploycheck-")
                && calls[1].starts_with("apply deploycheck-"),
            "{calls:?}"
        );
        assert_eq!(report.scenarios[0].id, "deploy");
    }

    /// run-2 printed `deploy ... (0.0 s)` for a deploy that failed on its apply after about
    /// 5 s. The line counts from the start of the run: the preflight, the namespace's creation
    /// and the apply. Here the reporter itself takes 300 ms on the banner, which comes after
    /// the namespace is created and before the apply: that time must be on the line.
    #[tokio::test]
    async fn deploy_is_timed_from_the_preflight_through_an_apply_that_failed() {
        let cluster = Arc::new(ScriptedCluster::new("kind-lab").with(|s| {
            ready_for_the_reference(s);
            s.forbidden.insert("apply");
        }));
        let report = check_on(
            cluster.clone(),
            profile(),
            &CheckOptions::default(),
            Some(reference_overlay()),
            std::future::pending(),
            std::future::pending(),
            &mut |event| {
                if let Event::Started { .. } = event {
                    std::thread::sleep(Duration::from_millis(300));
                }
            },
        )
        .await
        .unwrap();
        let deploy = &report.scenarios[0];
        crate::testing::assert_begins(deploy, Verdict::Fail, "apply in namespace `deploycheck-");
        assert!(deploy.duration_ms >= 300, "{} ms", deploy.duration_ms);
        assert!(deploy.duration_ms as f64 <= report.seconds * 1000.0);
    }

    #[tokio::test]
    async fn cleanup_deletes_keeps_reports_finalizers_and_yields_to_a_second_signal() {
        // Cleanup with no second interrupt: cluster, namespace, created by us, keep, failed, deadline.
        async fn clean(
            cluster: &ScriptedCluster,
            namespace: &str,
            created: bool,
            keep: Keep,
            failed: bool,
            deadline_secs: u64,
        ) -> String {
            let never = std::future::pending::<()>();
            clean_up(
                cluster,
                namespace,
                created,
                keep,
                failed,
                Duration::from_secs(deadline_secs),
                never,
            )
            .await
        }
        let cluster = ScriptedCluster::new("kind-kind");
        let text = clean(&cluster, "deploycheck-x", true, Keep::Never, true, 1).await;
        assert_eq!(text, "deleted namespace `deploycheck-x`");
        let text = clean(&cluster, "deploycheck-x", true, Keep::OnFailure, true, 1).await;
        assert!(text.starts_with("kept namespace `deploycheck-x`; inspect it with `kubectl --context kind-kind -n deploycheck-x"), "{text}");
        let text = clean(&cluster, "deploycheck-x", true, Keep::OnFailure, false, 1).await;
        assert_eq!(text, "deleted namespace `deploycheck-x`");

        let stuck = ScriptedCluster::new("kind-kind")
            .with(|s| s.stuck_finalizers = vec!["kubernetes".into()]);
        let text = clean(&stuck, "deploycheck-x", true, Keep::Never, false, 120).await;
        assert!(
            text.contains("still terminating after 120 s; finalizers: [kubernetes]"),
            "{text}"
        );

        // A second interrupt skips the deletion and says what was left and how to remove it.
        let skipped = ScriptedCluster::new("kind-kind");
        let text = clean_up(
            &skipped,
            "deploycheck-x",
            true,
            Keep::Never,
            true,
            Duration::from_secs(1),
            std::future::ready(()),
        )
        .await;
        assert!(
            text.starts_with("cleanup skipped (second interrupt); left namespace `deploycheck-x`"),
            "{text}"
        );
        assert!(
            text.contains("kubectl --context kind-kind delete namespace deploycheck-x"),
            "{text}"
        );
        assert!(skipped.calls().is_empty());

        // A namespace we did not create is never deleted; our helpers in it are.
        let given = ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(
                "app.kubernetes.io/managed-by=deploycheck,app.kubernetes.io/component=deploycheck-helper".into(),
                vec![crate::cluster::fake::pod("deploycheck-helper-abc", "h", false)],
            );
        });
        let text = clean(&given, "shop", false, Keep::Never, true, 1).await;
        assert!(
            text.contains("not created by deploycheck") && text.contains("removed 1 helper pod"),
            "{text}"
        );
        assert_eq!(given.calls(), ["delete pod shop/deploycheck-helper-abc"]);

        // Load workers left by an interrupted HPA scenario: their Job is deleted.
        let loaded = ScriptedCluster::new("kind-kind").with(|s| {
            let mut worker = crate::cluster::fake::pod("deploycheck-load-x1-0", "w", true);
            worker.labels.insert(
                crate::incluster::job::JOB_NAME_LABEL.into(),
                "deploycheck-load-x1".into(),
            );
            s.pods.insert(
                "app.kubernetes.io/managed-by=deploycheck,app.kubernetes.io/component=deploycheck-load".into(),
                vec![worker],
            );
        });
        let text = clean(&loaded, "shop", false, Keep::Never, true, 1).await;
        assert!(text.ends_with("; removed 1 load Job(s)"), "{text}");
        assert_eq!(loaded.calls(), ["delete job shop/deploycheck-load-x1"]);
    }

    #[tokio::test]
    async fn a_deployment_that_never_rolls_out_skips_the_rest_and_still_deletes_its_namespace() {
        let cluster = Arc::new(ScriptedCluster::new("kind-kind"));
        let manifests = vec![
            serde_json::json!({"kind": "Deployment", "metadata": {"name": "deploycheck-app"}}),
        ];
        let mut printed = Vec::new();
        let report = check_on(
            cluster.clone(),
            profile(),
            &CheckOptions::default(),
            Some(manifests),
            std::future::pending(),
            std::future::pending(),
            &mut |event| {
                if let Event::Finished(outcome) = event {
                    printed.push(outcome.id);
                }
            },
        )
        .await
        .unwrap();
        assert!(report.failed(false));
        assert_eq!(report.scenarios[0].verdict, Verdict::Fail);
        assert!(
            report.scenarios[0]
                .diagnostics
                .as_deref()
                .unwrap()
                .contains("pods: no pods")
        );
        assert!(
            report.scenarios[1..]
                .iter()
                .all(|s| s.verdict == Verdict::Skip && s.duration_ms == 0),
            "skips that never started took no time"
        );
        assert_eq!(printed.len(), scenario::CATALOGUE.len());
        let calls = cluster.calls();
        assert!(
            calls[0].starts_with("create namespace deploycheck-"),
            "{calls:?}"
        );
        assert!(
            calls
                .last()
                .unwrap()
                .starts_with("delete namespace deploycheck-"),
            "{calls:?}"
        );
        assert_eq!(
            report.cleanup,
            format!("deleted namespace `{}`", report.namespace)
        );
    }

    /// The whole path of a check through the fake: preflight, deploy, port-forwards whose
    /// tunnels lead to the real reference app and a real MongoDB with authentication, two
    /// scenarios, cleanup.
    #[tokio::test]
    async fn a_healthy_stack_passes_through_real_port_forwards() {
        use crate::cluster::HelperRun;
        use crate::cluster::fake::pod;
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let database = devdb::MongoServer::managed(&[devdb::User {
            name: "root".into(),
            password: "pw".into(),
            db: "admin".into(),
            role: devdb::Role::Root,
        }])
        .await
        .unwrap();
        let app_address = stack.url.trim_start_matches("http://").parse().unwrap();
        let db_address = format!("127.0.0.1:{}", database.port()).parse().unwrap();
        let template: k8s_openapi::api::core::v1::PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "spec": {
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
                "containers": [{
                    "name": "app", "image": "deploycheck-app:0.1.0",
                    "resources": {"requests": {"cpu": "200m", "memory": "250Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
                    "env": [
                        {"name": "MONGODB_HOST", "value": "mongodb"},
                        {"name": "MONGODB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mongodb-credentials", "key": "app-password"}}}
                    ]
                }]
            }
        }))
        .unwrap();
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template.clone(),
            );
            s.templates
                .insert((WorkloadKind::StatefulSet, "mongodb".into()), template);
            s.endpoints
                .insert("deploycheck-app".into(), [vec!["app-a".to_string()]].into());
            s.endpoints
                .insert("mongodb".into(), [vec!["mongodb-0".to_string()]].into());
            s.tunnels = [
                ("app-a".to_string(), app_address),
                ("mongodb-0".to_string(), db_address),
            ]
            .into();
            s.pods.insert(
                "app.kubernetes.io/name=deploycheck-app".into(),
                vec![pod("app-a", "a", true)],
            );
            s.pods.insert(
                "app.kubernetes.io/name=mongodb".into(),
                vec![pod("mongodb-0", "m", true)],
            );
            s.helper_runs.push_back(HelperRun {
                exit_code: Some(0),
                output: "deploycheck: connected to mongodb:27017".into(),
            });
        }));
        let options = CheckOptions {
            only: vec!["connectivity".into(), "resources".into()],
            ..CheckOptions::default()
        };
        let mut started = Vec::new();
        let report = check_on(
            cluster.clone(),
            profile(),
            &options,
            Some(vec![
                serde_json::json!({"kind": "Deployment", "metadata": {"name": "deploycheck-app"}}),
            ]),
            std::future::pending(),
            std::future::pending(),
            &mut |event| {
                if let Event::Running(id) = event {
                    started.push(id.to_string());
                }
            },
        )
        .await
        .unwrap();
        let verdicts: Vec<_> = report
            .scenarios
            .iter()
            .map(|s| (s.id, s.verdict, s.detail.clone()))
            .collect();
        assert!(
            report.scenarios.iter().all(|s| s.verdict == Verdict::Pass),
            "{verdicts:#?}"
        );
        assert_eq!(started, ["deploy", "connectivity", "resources"]);
        assert!(!report.failed(false) && !report.failed(true));
        // The reference restarts nothing, and the run says it watched.
        assert_eq!(report.restart_summary().as_deref(), Some("restarts: 0"));
        let calls = cluster.calls();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert!(
            calls[1].starts_with("apply deploycheck-") && calls[2] == "helper busybox:1.36",
            "{calls:?}"
        );
        assert!(
            calls[3].starts_with("delete namespace deploycheck-"),
            "{calls:?}"
        );
        stack.shutdown().await.unwrap();
    }

    /// `deploycheck check --deploy k8s/overlays/<variant> --only <scenario>` against the fake,
    /// with the profile next to the overlay (the reference where there is none): the rendered
    /// variant rolls out and its release is proven.
    async fn variant_passes_check(variant: &str, scenario: &str) {
        variant_checked(variant, scenario, async |_| {}).await;
    }

    /// [`variant_passes_check`] with `adjust` finishing the scripted state (what the variant
    /// runs beside the app: it finds the app's pods under the profile's selector, behind the
    /// app Service), and the report returned for what the scenario said. The whole rendered
    /// variant is applied.
    async fn variant_checked(
        variant: &str,
        scenario: &str,
        adjust: impl AsyncFnOnce(&mut crate::cluster::fake::State),
    ) -> CheckReport {
        use crate::cluster::fake::{State, pod};
        let overlay = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../k8s/overlays")
            .join(variant);
        let manifests = load_manifests(&overlay).unwrap();
        let profile = Profile::resolve(None, &overlay).unwrap();
        let mut state = crate::scenario::release::testing::rolled_out_variant(variant).await;
        // The database, its claim, the node and the HPA as the reference has them, the HPA
        // aimed at the profile's app Deployment.
        let mut base = State::default();
        reference_rolled_out(&mut base);
        let database = (WorkloadKind::StatefulSet, "mongodb".to_string());
        state
            .workloads
            .insert(database.clone(), base.workloads[&database].clone());
        (state.pvcs, state.storage_classes, state.nodes, state.hpa) =
            (base.pvcs, base.storage_classes, base.nodes, base.hpa);
        for hpa in &mut state.hpa {
            hpa.target = format!("Deployment/{}", profile.app.deployment);
        }
        // The app's pods only: a variant may run other Deployments beside it.
        let app_pods: Vec<_> = state
            .pods
            .values()
            .flatten()
            .filter(|p| crate::strategy::selects(&profile.app.labels, &p.labels))
            .cloned()
            .collect();
        state
            .pods
            .insert(crate::scenario::selector(&profile.app.labels), app_pods);
        state.pods.insert(
            "app.kubernetes.io/name=mongodb".into(),
            vec![pod("mongodb-0", "m", true)],
        );
        state
            .tunnels
            .insert("mongodb-0".into(), crate::testing::closed_address());
        adjust(&mut state).await;
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let options = CheckOptions {
            only: vec![scenario.into()],
            ..CheckOptions::default()
        };
        let applied: Vec<String> = manifests
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        let report = check_on(
            cluster.clone(),
            profile,
            &options,
            Some(manifests),
            std::future::pending(),
            std::future::pending(),
            &mut |_| {},
        )
        .await
        .unwrap();
        let verdicts: Vec<_> = report
            .scenarios
            .iter()
            .map(|s| (s.id, s.verdict, s.detail.clone()))
            .collect();
        assert_eq!(
            verdicts
                .iter()
                .map(|(id, v, _)| (*id, *v))
                .collect::<Vec<_>>(),
            [("deploy", Verdict::Pass), (scenario, Verdict::Pass)],
            "{verdicts:#?}"
        );
        assert_eq!(report.restart_summary().as_deref(), Some("restarts: 0"));
        assert_eq!(
            cluster.calls_of("apply"),
            [format!(
                "apply {}: {}",
                report.namespace,
                applied.join(", ")
            )]
        );
        report
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_canary_variant_passes_check_on_the_fake() {
        variant_passes_check("canary", "canary").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_blue_green_variant_passes_check_on_the_fake() {
        variant_passes_check("bluegreen", "bluegreen").await;
    }

    /// The monitoring variant beside its fake Prometheus and Grafana: the app's pods serve
    /// counting `/metrics`, Prometheus scrapes them, and Grafana shows the overlay's own
    /// dashboard, each behind the Service the overlay's profile names.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_monitoring_variant_passes_check_on_the_fake() {
        use crate::cluster::fake::monitoring::{Counting, Grafana, Monitoring, Serve, install};
        let report = variant_checked("monitoring", "monitoring", async |state| {
            let app = state.pods["app.kubernetes.io/name=deploycheck-app"]
                .iter()
                .map(|p| (p.name.clone(), Serve::Fake(Counting::Counts)))
                .collect();
            let monitoring = Monitoring {
                pods: app,
                grafana: Some(Grafana::of_the_monitoring_overlay()),
                ..Monitoring::default()
            };
            install(state, &monitoring).await;
        })
        .await;
        let monitoring = &report.scenarios[1];
        for said in [
            " ready pods serve /metrics that parses and breaks none of promtool's rules",
            "Prometheus: every app pod is a target `up` after ",
            "Prometheus's sum of `http_requests_total{route=\"/\"}` rose by 20 within ",
            "Grafana: dashboard `deploycheck app`: 4 panel(s) return data",
        ] {
            crate::testing::assert_said(monitoring, said);
        }
        crate::testing::assert_not_said(monitoring, "not checked");
    }

    #[tokio::test]
    async fn an_interrupt_stops_the_scenarios_and_cleans_up() {
        let cluster = Arc::new(ScriptedCluster::new("kind-kind"));
        // Keeping on failure does not keep on an interrupt: that asked to stop and clean up.
        let options = CheckOptions {
            keep: Keep::OnFailure,
            ..CheckOptions::default()
        };
        let mut interrupted = false;
        let report = check_on(
            cluster.clone(),
            profile(),
            &options,
            Some(vec![serde_json::json!({})]),
            std::future::ready(()),
            std::future::pending(),
            &mut |event| interrupted |= matches!(event, Event::Interrupted),
        )
        .await
        .unwrap();
        assert!(interrupted);
        assert!(report.interrupted && report.failed(false));
        assert!(
            cluster
                .calls()
                .last()
                .unwrap()
                .starts_with("delete namespace deploycheck-")
        );
    }

    /// Interrupted with the database scaled to zero in someone else's namespace: the scale is
    /// taken back before the harness goes, and the report says so.
    #[tokio::test]
    async fn an_interrupt_takes_back_a_fault_in_a_namespace_it_did_not_create() {
        let cluster = Arc::new(ScriptedCluster::new("kind-kind").with(|s| {
            s.namespaces.insert("shop".into());
            reference_rolled_out(s);
            s.pods_never_settle = true;
        }));
        let options = CheckOptions {
            namespace: Some("shop".into()),
            only: vec!["readiness".into()],
            ..CheckOptions::default()
        };
        let report = check_on(
            cluster.clone(),
            profile(),
            &options,
            None,
            tokio::time::sleep(Duration::from_millis(300)),
            std::future::pending(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert!(report.interrupted);
        assert_eq!(
            cluster.calls(),
            ["scale StatefulSet/mongodb=0", "scale StatefulSet/mongodb=1"]
        );
        assert!(
            report
                .cleanup
                .starts_with("scaled StatefulSet mongodb back to 1; nothing to delete in `shop`"),
            "{}",
            report.cleanup
        );
    }

    #[test]
    fn a_scenario_announced_late_is_timed_from_when_its_work_began() {
        let mut announced = Vec::new();
        let mut report = |event: Event<'_>| {
            if let Event::Running(id) = event {
                announced.push(id.to_string());
            }
        };
        let mut progress = Progress::new(&mut report);
        let began = Instant::now();
        progress.running_from("deploy", began);
        progress.finish_at(
            ScenarioOutcome::fail("deploy", "apply failed"),
            None,
            began + Duration::from_millis(5_100),
        );
        assert_eq!(progress.outcomes[0].duration_ms, 5_100);
        assert_eq!(announced, ["deploy"]);
    }

    #[test]
    fn a_scenario_is_timed_from_its_start_to_its_line() {
        let mut seen = Vec::new();
        let mut report = |event: Event<'_>| {
            if let Event::Finished(outcome) = event {
                seen.push((outcome.id, outcome.duration_ms));
            }
        };
        let mut progress = Progress::new(&mut report);
        progress.running("deploy");
        let started = progress.running_since["deploy"];
        progress.finish_at(
            ScenarioOutcome::pass("deploy", "rolled out"),
            None,
            started + Duration::from_millis(15_234),
        );
        // Finished without starting: skipped because `deploy` failed.
        progress.finish(ScenarioOutcome::skip("hpa", "no rollout"), None);
        let outcomes = progress.outcomes;
        assert_eq!(outcomes[0].duration_ms, 15_234);
        assert_eq!(outcomes[1].duration_ms, 0);
        assert_eq!(seen, [("deploy", 15_234), ("hpa", 0)]);
    }

    /// A liveness probe on a port nothing listens on restarts a container by itself while some
    /// other scenario runs: that scenario fails, naming the restart and its probe events, and
    /// its diagnostics blame the probe.
    #[tokio::test]
    async fn a_restart_nobody_caused_fails_the_scenario_it_happened_in() {
        use crate::cluster::EventInfo;
        use crate::cluster::fake::pod;
        const APP: &str = "app.kubernetes.io/name=deploycheck-app";
        let mut restarted = pod("app-b", "b", true);
        restarted.restarts = 1;
        let liveness = EventInfo {
            object: "Pod/app-b".into(),
            kind: "Warning".into(),
            reason: "Unhealthy".into(),
            message: "Liveness probe failed: Get \"http://10.0.0.6:5001/health\": dial tcp 10.0.0.6:5001: connect: connection refused".into(),
            count: 3,
            ..EventInfo::default()
        };
        let target = crate::scenario::tests::target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(
                APP.into(),
                vec![pod("app-a", "a", true), pod("app-b", "b", true)],
            );
            s.pod_script.insert(
                APP.into(),
                [vec![restarted, pod("app-c", "c", true)]].into(),
            );
            s.endpoints.insert(
                "deploycheck-app".into(),
                [vec!["app-b".to_string(), "app-c".to_string()]].into(),
            );
            s.event_script = [Vec::new(), vec![liveness]].into();
        }));
        let url = crate::testing::healthy_app().await;
        let outcome = run_judged(&target, "replicas", &url, "127.0.0.1:9".parse().unwrap()).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome.detail.starts_with("1 problem(s): app-b restarted 1 time(s) during this scenario without deploycheck causing it (events: Liveness probe failed")
                && outcome.detail.contains("otherwise: deleted app-a; pods serve again"),
            "{}",
            outcome.detail
        );
        let diagnostics = outcome.diagnostics.unwrap();
        assert!(
            diagnostics.contains("hint: app-b: its liveness probe fails on its own")
                && diagnostics.contains("caused by deploycheck: deploycheck deleted pod app-a"),
            "{diagnostics}"
        );
    }

    /// Run-2's seed-style Flask stack passed `check` although its liveness probe read the
    /// database: deleting the database pod restarted an app pod, and nothing attributed it.
    /// `persistence` now fails for that reason, first; the same stack with liveness on
    /// `/health` passes as before, with nothing new in its report.
    #[tokio::test]
    async fn persistence_fails_when_the_apps_liveness_reads_the_database() {
        use crate::cluster::fake::{LivenessOnDatabase, pod};
        const FLASK: &str = "app=flask-app";
        const MONGO: &str = "app=mongodb";
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        for liveness in ["/health", "/data"] {
            let cluster = ScriptedCluster::new("kind-kind").with(|s| {
                let template = serde_json::json!({"spec": {"containers": [{
                    "name": "flask-app",
                    "image": "flask-mongodb-app:1.0.3",
                    "livenessProbe": {"httpGet": {"path": liveness, "port": 5000}},
                }]}});
                s.templates.insert(
                    (WorkloadKind::Deployment, "flask-app".into()),
                    serde_json::from_value(template).unwrap(),
                );
                s.pods.insert(
                    FLASK.into(),
                    vec![pod("flask-app-a", "a", true), pod("flask-app-b", "b", true)],
                );
                s.pods
                    .insert(MONGO.into(), vec![pod("mongodb-0", "old", true)]);
                s.pod_script.insert(
                    MONGO.into(),
                    [vec![], vec![pod("mongodb-0", "new", true)]].into(),
                );
                if liveness == "/data" {
                    s.liveness_on_database = Some(LivenessOnDatabase {
                        dependents: FLASK.into(),
                        database: MONGO.into(),
                        container: "flask-app".into(),
                        probe: "Get \"http://10.244.0.7:5000/data\"".into(),
                    });
                }
            });
            let target = Target::new(
                Arc::new(cluster),
                "ns".into(),
                Profile::built_in("flask-mongo").unwrap(),
                decide("kind-kind", false),
            );
            ledger::Tally::start(&target).await;
            let outcome = run_judged(
                &target,
                "persistence",
                &stack.url,
                "127.0.0.1:9".parse().unwrap(),
            )
            .await;
            let restarts = ledger::summary(&target.restarts.all());
            if liveness == "/health" {
                assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
                assert_eq!(restarts, "restarts: 0");
                continue;
            }
            crate::testing::assert_begins(
                &outcome,
                Verdict::Fail,
                "2 problem(s): the liveness probe of `flask-app` (`GET :5000/data`) failed while \
                 the database was down (deploycheck deleted pod mongodb-0), and flask-app-a \
                 restarted 1 time(s) (events: Liveness probe failed: Get \"http://10.244.0.7:5000/data\"",
            );
            crate::testing::assert_said(
                &outcome,
                "liveness depends on the database, so every database outage restarts the app; \
                 probe the process alone (e.g. `/health` that does not touch the database) and \
                 leave the database to readiness",
            );
            let diagnostics = outcome.diagnostics.unwrap();
            assert!(
                !diagnostics.contains("expected, not a crash"),
                "a database outage explains no app restart: {diagnostics}"
            );
            assert_eq!(
                restarts,
                "restarts: 2, none caused by deploycheck: flask-app-a 1x during persistence; \
                 flask-app-b 1x during persistence"
            );
        }
        stack.shutdown().await.unwrap();
    }

    #[test]
    fn a_warning_fails_a_run_only_when_strict() {
        let report = |verdicts: &[Verdict]| CheckReport {
            context: "kind-kind".into(),
            namespace: "shop".into(),
            deployed: false,
            scenarios: verdicts
                .iter()
                .map(|v| ScenarioOutcome::new("rolling", *v, "x"))
                .collect(),
            cleanup: String::new(),
            interrupted: false,
            seconds: 1.0,
            restarts: Vec::new(),
        };
        let warned = report(&[Verdict::Pass, Verdict::Warn, Verdict::Skip]);
        assert!(!warned.failed(false));
        assert!(warned.failed(true));
        let failed = report(&[Verdict::Warn, Verdict::Fail]);
        assert!(failed.failed(false) && failed.failed(true));
        let skipped = report(&[Verdict::Pass, Verdict::Skip]);
        assert!(!skipped.failed(false) && !skipped.failed(true));
    }

    #[tokio::test]
    async fn the_second_signal_only_counts_after_the_first() {
        let (first, second) = interrupts(std::future::ready(()), std::future::ready(()));
        let second = tokio::spawn(second);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!second.is_finished(), "the second fired before the first");
        first.await;
        tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .unwrap()
            .unwrap();
    }
}
