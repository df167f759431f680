//! Deploy and roll out: apply the manifests (when deploying), then the app Deployment is
//! available, the database StatefulSet ready, its PersistentVolumeClaims bound and the HPA
//! present. Every unmet condition is listed, not only the first.
//!
//! The rollout deadline is the ceiling for slow progress, not the time a broken stack costs:
//! every round reads both workloads (each judged under the whole deadline) and the facts
//! [`crate::blockers`] reads, and a state that will not resolve without a change ends the wait
//! with that state as the verdict, root cause first.

use std::time::Duration;

use super::{ScenarioOutcome, Target};
use crate::blockers::{self, Blocker, Persistence};
use crate::cluster::{Cluster, Labels, WaitError, WorkloadKind, WorkloadState};

pub const SPEC: super::Spec = super::Spec::new("deploy", "the stack rolls out");

const ID: &str = SPEC.id;
/// The longest a round waits for a workload to change before it reads everything again.
const ROUND: Duration = Duration::from_secs(3);

/// How the rollout wait ended.
enum Rollout {
    Done,
    /// States that will not resolve, and what the workloads showed when that became certain
    /// (nothing: they had rolled out).
    Blocked(Vec<Blocker>, Vec<String>),
    /// Each workload not rolled out, with what was last read of it.
    Timeout(Vec<String>),
    Error(String),
}

/// Applies `manifests` (if any) into the target namespace and waits for the rollout.
pub async fn roll_out<C: Cluster>(
    target: &Target<C>,
    manifests: Option<&[serde_json::Value]>,
) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let profile = &target.profile;
    let started = cluster.elapsed();
    let mut applied = 0;
    if let Some(manifests) = manifests {
        match cluster.apply(namespace, manifests, Labels::Ours).await {
            Ok(objects) => applied = objects.len(),
            Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
        }
    }
    let mut mismatches = Vec::new();
    match wait_for_rollout(target, manifests.is_some()).await {
        Rollout::Done => {}
        Rollout::Blocked(blockers, states) => {
            let seconds = cluster.elapsed().saturating_sub(started).as_secs();
            let causes: Vec<String> = blockers.iter().map(Blocker::sentence).collect();
            let when = if states.is_empty() {
                format!(
                    "seen as the stack rolled out, after {seconds} s: it rolled out, yet it is broken"
                )
            } else {
                format!(
                    "certain after {seconds} s, so the wait ended there; because of it: {}",
                    states.join("; ")
                )
            };
            let mut outcome = ScenarioOutcome::fail(ID, format!("{} ({when})", causes.join("; ")));
            outcome.mismatches = causes;
            return outcome;
        }
        Rollout::Timeout(not_rolled_out) => mismatches.extend(not_rolled_out),
        Rollout::Error(error) => mismatches.push(error),
    }
    if mismatches.is_empty() {
        mismatches.extend(service_mismatches(target).await);
    }
    match cluster.pvcs(namespace).await {
        Ok(pvcs) => {
            let database_claims: Vec<_> = pvcs
                .iter()
                .filter(|p| p.name.ends_with(&format!("-{}", profile.database.pod)))
                .collect();
            if database_claims.is_empty() {
                mismatches.push(format!(
                    "no PersistentVolumeClaim for {} (expected one from the StatefulSet's \
                     volumeClaimTemplates): the data lives only as long as the pod",
                    profile.database.pod
                ));
            }
            for pvc in pvcs.iter().filter(|p| p.phase != "Bound") {
                mismatches.push(format!(
                    "PersistentVolumeClaim {} is {} (storage class: {})",
                    pvc.name,
                    pvc.phase,
                    pvc.storage_class
                        .as_deref()
                        .unwrap_or("none, and no default")
                ));
            }
        }
        Err(error) => mismatches.push(error.to_string()),
    }
    match cluster.hpa(namespace, &profile.hpa.name).await {
        Ok(Some(hpa)) => {
            let expected = format!("Deployment/{}", profile.app.deployment);
            if hpa.target != expected {
                mismatches.push(format!(
                    "HPA {} scales {} instead of {expected}",
                    hpa.name, hpa.target
                ));
            }
        }
        Ok(None) => mismatches.push(format!("HPA {} does not exist", profile.hpa.name)),
        Err(error) => mismatches.push(error.to_string()),
    }
    let verb = if manifests.is_some() {
        format!("applied {applied} objects; ")
    } else {
        String::new()
    };
    ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "{verb}{} and {} rolled out, claims bound, HPA {} present after {} s",
            profile.app.deployment,
            profile.database.statefulset,
            profile.hpa.name,
            cluster.elapsed().saturating_sub(started).as_secs()
        ),
        mismatches,
    )
}

/// The app's Service, once the app rolled out: it exists, its selector matches the app's pods,
/// and each targetPort is a port of the app container (by number or name). A Service that
/// cannot route to the pods is as certain as any blocker, and said here, before a scenario
/// fails on a write that could never arrive.
async fn service_mismatches<C: Cluster>(target: &Target<C>) -> Vec<String> {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let name = &profile.app.service;
    let service = match cluster.service(namespace, name).await {
        Ok(Some(service)) => service,
        Ok(None) => {
            return vec![format!(
                "Service {name} (the app's, per the profile) does not exist"
            )];
        }
        Err(error) => return vec![error.to_string()],
    };
    let mut mismatches = Vec::new();
    // Only pods found by the profile's labels can show that the Service's selector misses them.
    let app_pods = cluster
        .pods(namespace, &target.app_selector())
        .await
        .unwrap_or_default();
    if !service.selector.is_empty() && !app_pods.is_empty() {
        let selector = super::selector(&service.selector);
        match cluster.pods(namespace, &selector).await {
            Ok(pods) if pods.is_empty() => mismatches.push(format!(
                "Service {name} can route nowhere: {}; make its selector match the pod \
                 template's labels",
                super::endpoints::selector_misses(&service, "app", &app_pods)
            )),
            Ok(_) => {}
            Err(error) => mismatches.push(error.to_string()),
        }
    }
    if !service.target_ports.is_empty()
        && let Ok(template) = target
            .template(WorkloadKind::Deployment, &profile.app.deployment)
            .await
        && let Some(app) = super::connectivity::app_container(&template, &profile.app.container)
        && let Some(ports) = app.ports.as_ref().filter(|p| !p.is_empty())
    {
        let served: Vec<String> = ports
            .iter()
            .flat_map(|p| [Some(p.container_port.to_string()), p.name.clone()])
            .flatten()
            .collect();
        for (port, target_port) in service.ports.iter().zip(&service.target_ports) {
            if !served.contains(target_port) {
                let declared: Vec<String> =
                    ports.iter().map(|p| p.container_port.to_string()).collect();
                mismatches.push(format!(
                    "Service {name} sends port {port} to targetPort {target_port}, which is no port \
                     of container {} (it declares {}): requests through the Service are refused",
                    app.name,
                    declared.join(", ")
                ));
            }
        }
    }
    mismatches
}

/// The app's Deployment and the database's StatefulSet, as the profile names them.
fn stack_workloads<C>(target: &Target<C>) -> [(WorkloadKind, String); 2] {
    let profile = &target.profile;
    [
        (WorkloadKind::Deployment, profile.app.deployment.clone()),
        (
            WorkloadKind::StatefulSet,
            profile.database.statefulset.clone(),
        ),
    ]
}

/// What [`blockers`] reads about the target's app and database, beside their `templates`
/// (the health and ready paths of the profile are what the app serves).
async fn stack_facts<C: Cluster>(
    target: &Target<C>,
    templates: Vec<(String, k8s_openapi::api::core::v1::PodTemplateSpec)>,
) -> blockers::Facts {
    let profile = &target.profile;
    let selectors = [target.app_selector(), target.db_selector()];
    let served: Vec<String> = [&profile.app.health_path, &profile.app.ready_path]
        .into_iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect();
    blockers::gather(
        &*target.cluster,
        &target.namespace,
        &selectors,
        templates,
        &served,
    )
    .await
}

/// The states of the target's stack that will not resolve without a change, root causes
/// first (for the diagnostics of a rollout that failed).
pub async fn stack_blockers<C: Cluster>(target: &Target<C>) -> Vec<Blocker> {
    let templates = blockers::templates(
        &*target.cluster,
        &target.namespace,
        &stack_workloads(target),
    )
    .await;
    blockers::find(&stack_facts(target, templates).await)
}

/// Rounds of: read both workloads, stop when both rolled out; read the facts, stop when a
/// blocker has lasted its grace; stop at the deadline; else wait up to [`ROUND`] for the first
/// workload still rolling out to change. `fresh`: the namespace is ours and new, so every
/// event in it belongs to this rollout and a rolled-out stack is checked once more for
/// blockers that do not stop a rollout (a liveness probe on the wrong port).
async fn wait_for_rollout<C: Cluster>(target: &Target<C>, fresh: bool) -> Rollout {
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let profile = &target.profile;
    let deadline = profile.cluster.rollout;
    let started = cluster.elapsed();
    let workloads = stack_workloads(target);
    let rolled_out = |w: &WorkloadState| w.rolled_out() && w.desired > 0;
    let mut templates = Vec::new();
    let mut persistence = Persistence::default();
    loop {
        let mut pending = Vec::new();
        for (kind, name) in &workloads {
            match cluster.workload(namespace, *kind, name).await {
                Ok(Some(state)) if rolled_out(&state) => {}
                Ok(Some(state)) => pending.push((*kind, name, Some(state))),
                Ok(None) => pending.push((*kind, name, None)),
                Err(error) => return Rollout::Error(error.to_string()),
            }
        }
        let describe = |pending: &[(WorkloadKind, &String, Option<WorkloadState>)]| {
            pending
                .iter()
                .map(|(kind, name, state)| match state {
                    Some(state) => format!("{kind} {}", state.summary()),
                    None => format!("{kind} {name} does not exist"),
                })
                .collect::<Vec<_>>()
        };
        if pending.is_empty() && !fresh {
            return Rollout::Done;
        }
        // Templates do not change while the rollout is watched: read until both are there.
        if templates.len() < workloads.len() {
            templates = blockers::templates(cluster, namespace, &workloads).await;
        }
        let mut facts = stack_facts(target, templates.clone()).await;
        facts.unsettled = pending.iter().map(|(_, name, _)| (*name).clone()).collect();
        let now = cluster.elapsed();
        let certain = persistence.certain(blockers::find(&facts), now);
        if pending.is_empty() {
            // Rolled out: only what is certain at once counts; nothing is waited for.
            let at_once: Vec<Blocker> = certain.into_iter().filter(|b| b.grace.is_zero()).collect();
            return if at_once.is_empty() {
                Rollout::Done
            } else {
                Rollout::Blocked(at_once, Vec::new())
            };
        }
        if !certain.is_empty() {
            return Rollout::Blocked(certain, describe(&pending));
        }
        let waited = now.saturating_sub(started);
        if waited >= deadline {
            return Rollout::Timeout(
                pending
                    .iter()
                    .zip(describe(&pending))
                    .map(|((kind, name, _), seen)| {
                        let seen = seen
                            .strip_prefix(&format!("{kind} "))
                            .unwrap_or(&seen)
                            .to_string();
                        format!(
                            "{kind} {name} not rolled out within {} s ({seen})",
                            deadline.as_secs()
                        )
                    })
                    .collect(),
            );
        }
        let (kind, name, _) = &pending[0];
        let round = ROUND.min(deadline - waited);
        match cluster
            .wait_workload(namespace, *kind, name, &rolled_out, round)
            .await
        {
            Ok(_) | Err(WaitError::Timeout { .. }) => {}
            Err(WaitError::Cluster(error)) => return Rollout::Error(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, reference_rolled_out, workload};
    use crate::scenario::tests::target;

    /// The reference stack whose app becomes ready as the rollout is watched.
    fn healthy(cluster: ScriptedCluster) -> ScriptedCluster {
        cluster.with(|s| {
            reference_rolled_out(s);
            s.workloads.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                workload("deploycheck-app", 2, 0),
            );
            s.workload_script.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                [
                    workload("deploycheck-app", 2, 1),
                    workload("deploycheck-app", 2, 2),
                ]
                .into(),
            );
        })
    }

    #[tokio::test]
    async fn applies_and_passes_once_everything_is_rolled_out() {
        let target = target(healthy(ScriptedCluster::new("kind-kind")));
        let manifests =
            [serde_json::json!({"kind": "Deployment", "metadata": {"name": "deploycheck-app"}})];
        let outcome = roll_out(&target, Some(&manifests)).await;
        crate::testing::assert_begins(&outcome, Verdict::Pass, "applied 1 objects");
        assert_eq!(
            target.cluster.calls(),
            ["apply ns: Deployment/deploycheck-app"]
        );
    }

    #[tokio::test]
    async fn every_mismatch_is_listed() {
        let cluster = healthy(ScriptedCluster::new("kind-kind")).with(|s| {
            s.workload_script.clear();
            s.workloads.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                workload("deploycheck-app", 2, 1),
            );
            // Pending on a class the cluster has (slow to bind): not certain, so only the
            // deadline ends the wait.
            s.pvcs[0].phase = "Pending".into();
            s.hpa[0].target = "Deployment/other".into();
        });
        let outcome = roll_out(&target(cluster), None).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 3, "{:?}", outcome.mismatches);
        assert!(outcome.mismatches[0].contains("Deployment deploycheck-app not rolled out"));
        assert!(
            outcome.mismatches[0].contains("1/2 ready"),
            "{}",
            outcome.mismatches[0]
        );
        assert!(
            outcome.mismatches[1].contains("is Pending (storage class: standard)"),
            "{}",
            outcome.mismatches[1]
        );
        assert!(outcome.mismatches[2].contains("scales Deployment/other"));
    }

    #[tokio::test]
    async fn a_forbidden_apply_fails_with_the_reason() {
        let cluster = healthy(ScriptedCluster::new("kind-kind")).with(|s| {
            s.forbidden.insert("apply");
        });
        let outcome = roll_out(&target(cluster), Some(&[serde_json::json!({})])).await;
        crate::testing::assert_begins(
            &outcome,
            Verdict::Fail,
            "apply in namespace `ns` is forbidden",
        );
    }

    // ---- run-2's broken stacks, as the real kubelet and controllers showed them ----

    use crate::cluster::fake::{State, pod as fake_pod};
    use crate::cluster::safety::decide;
    use crate::cluster::{ConfigKind, ContainerInfo, EventInfo, PodState, PvcState};
    use crate::profile::Profile;
    use std::sync::Arc;
    use std::time::SystemTime;

    const FLASK: &str = "app=flask-app";
    const MONGO: &str = "app=mongodb";
    const DEADLINE: Duration = Duration::from_secs(300);

    fn at(seconds: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds))
    }

    /// The seed-style Flask stack of run-2 (`--profile flask-mongo`), as applied.
    fn flask_templates(s: &mut State, app: serde_json::Value) {
        let template = |containers: serde_json::Value| {
            serde_json::from_value(serde_json::json!({"spec": {"containers": containers}})).unwrap()
        };
        s.templates.insert(
            (WorkloadKind::Deployment, "flask-app".into()),
            template(serde_json::json!([app])),
        );
        s.templates.insert(
            (WorkloadKind::StatefulSet, "mongodb".into()),
            template(serde_json::json!([{"name": "mongodb", "image": "mongo:7.0.14"}])),
        );
    }

    fn flask_app(overrides: serde_json::Value) -> serde_json::Value {
        let mut app = serde_json::json!({
            "name": "flask-app",
            "image": "registry.example.com/flask-mongodb-app:1.0.3",
            "ports": [{"containerPort": 5000}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": 5000}, "initialDelaySeconds": 5, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/health", "port": 5000}, "initialDelaySeconds": 10, "periodSeconds": 10},
            "resources": {"requests": {"cpu": "200m", "memory": "250Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
            "env": [{"name": "MONGODB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mongodb-secret", "key": "mongodb-password"}}}]
        });
        for (key, value) in overrides.as_object().unwrap() {
            app[key] = value.clone();
        }
        app
    }

    /// Everything healthy but what the test breaks: the database rolled out with its claim
    /// bound, the app Deployment asking for 2 pods.
    fn flask_stack(app_ready: i32, app: serde_json::Value) -> ScriptedCluster {
        ScriptedCluster::new("kind-lab").with(|s| {
            reference_rolled_out(s);
            s.workloads.clear();
            s.workloads.insert(
                (WorkloadKind::Deployment, "flask-app".into()),
                workload("flask-app", 2, app_ready),
            );
            s.workloads.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                workload("mongodb", 1, 1),
            );
            s.hpa[0].name = "flask-app".into();
            s.hpa[0].target = "Deployment/flask-app".into();
            let mut service = s.services.remove("deploycheck-app").unwrap();
            service.name = "flask-app".into();
            service.selector = [("app".to_string(), "flask-app".to_string())].into();
            service.target_ports = vec!["5000".into()];
            s.services.insert("flask-app".into(), service);
            let mut mongo = fake_pod("mongodb-0", "m", true);
            mongo.running_since = at(0);
            s.pods.insert(MONGO.into(), vec![mongo]);
            flask_templates(s, app);
        })
    }

    fn flask_target(cluster: ScriptedCluster) -> Target<ScriptedCluster> {
        let destructive = decide(&cluster.context, false);
        Target::new(
            Arc::new(cluster),
            "deploycheck-s415ja".into(),
            Profile::built_in("flask-mongo").unwrap(),
            destructive,
        )
    }

    fn app_pod(name: &str, ready: bool, container: ContainerInfo) -> PodState {
        let mut p = fake_pod(name, name, ready);
        p.containers = vec![ContainerInfo {
            name: "flask-app".into(),
            image: "registry.example.com/flask-mongodb-app:1.0.3".into(),
            ready,
            ..container
        }];
        p
    }

    /// An app pod whose container waits for `reason`, with the kubelet's `message`.
    fn waiting_pod(name: &str, reason: &str, message: Option<&str>) -> PodState {
        app_pod(
            name,
            false,
            ContainerInfo {
                waiting_reason: Some(reason.into()),
                waiting_message: message.map(Into::into),
                ..ContainerInfo::default()
            },
        )
    }

    fn unready_pod(name: &str) -> PodState {
        running_pod(name, false)
    }

    /// An app pod running since the cluster clock's 0 s, Ready or not.
    fn running_pod(name: &str, ready: bool) -> PodState {
        let mut p = app_pod(name, ready, ContainerInfo::default());
        p.phase = "Running".into();
        p.running_since = at(0);
        p
    }

    fn warning(object: &str, reason: &str, message: &str, count: i32, seen: u64) -> EventInfo {
        EventInfo {
            id: format!("{object}.{reason}.{count}"),
            object: object.into(),
            kind: "Warning".into(),
            reason: reason.into(),
            message: message.into(),
            count,
            last_seen: at(seen),
        }
    }

    /// Runs `deploy` with the manifests applied into a fresh namespace; returns the outcome and
    /// the fake's clock at the verdict.
    async fn deploy(cluster: ScriptedCluster) -> (ScenarioOutcome, Duration) {
        let target = flask_target(cluster);
        let manifests =
            [serde_json::json!({"kind": "Deployment", "metadata": {"name": "flask-app"}})];
        let outcome = roll_out(&target, Some(&manifests)).await;
        (outcome, target.cluster.elapsed())
    }

    fn first_line(outcome: &ScenarioOutcome) -> &str {
        outcome.detail.lines().next().unwrap_or_default()
    }

    fn assert_fast(outcome: &ScenarioOutcome, took: Duration, starts_with: &str) {
        // `cargo test -p deploycheck --lib deploy::tests -- --nocapture` lists these: the
        // time from apply to verdict of each recognised state, by the fake's clock.
        eprintln!(
            "verdict after {:>2} s (fake clock): {}",
            took.as_secs(),
            first_line(outcome)
        );
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:#?}");
        assert!(
            first_line(outcome).starts_with(starts_with),
            "{}",
            outcome.detail
        );
        assert!(
            took < Duration::from_secs(60),
            "took {took:?} of the fake's clock"
        );
        // No workload is said to be absent (run-2's false "mongodb does not exist").
        assert!(
            !outcome.detail.contains("mongodb does not exist")
                && !outcome.detail.contains("flask-app does not exist"),
            "{}",
            outcome.detail
        );
        crate::testing::assert_not_said(outcome, "not rolled out within");
    }

    /// `broken/missing-secret-key.txt`: the app's pods wait in CreateContainerConfigError; the
    /// database rolled out. The verdict names the key and the keys the Secret has, after the
    /// grace period, and says nothing about the StatefulSet.
    #[tokio::test]
    async fn a_missing_secret_key_fails_in_seconds_naming_the_keys_the_secret_has() {
        let message =
            "couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret";
        let stuck = |name: &str| waiting_pod(name, "CreateContainerConfigError", Some(message));
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.pods.insert(
                FLASK.into(),
                vec![
                    stuck("flask-app-9966c57d5-g8jzm"),
                    stuck("flask-app-9966c57d5-r6tr6"),
                ],
            );
            s.config.insert(
                (ConfigKind::Secret, "mongodb-secret".into()),
                vec!["mongodb-root-password".into(), "mongodb-username".into()],
            );
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-9966c57d5-g8jzm, flask-app-9966c57d5-r6tr6: container flask-app cannot be created (CreateContainerConfigError: couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret); Secret mongodb-secret has the keys mongodb-root-password, mongodb-username: fix the key the pod references or add `mongodb-password` to Secret mongodb-secret",
        );
        assert!(took >= crate::blockers::CONFIG_GRACE, "{took:?}");
        crate::testing::assert_not_said(&outcome, "mongodb:");
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
    }

    /// A Secret that is applied a moment after the pods: the error lasts less than the grace
    /// period and the rollout passes.
    #[tokio::test]
    async fn a_secret_that_arrives_within_the_grace_period_is_waited_for() {
        let stuck = waiting_pod(
            "flask-app-a",
            "CreateContainerConfigError",
            Some("secret \"mongodb-secret\" not found"),
        );
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.tick = Duration::from_secs(4);
            s.pods.insert(FLASK.into(), vec![stuck]);
            s.workload_script.insert(
                (WorkloadKind::Deployment, "flask-app".into()),
                [workload("flask-app", 2, 1), workload("flask-app", 2, 2)].into(),
            );
        });
        let target = flask_target(cluster);
        let outcome = roll_out(&target, None).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
    }

    /// `broken/missing-storageclass.txt`: the claim asks for `fast-ssd`; the pod that cannot
    /// be scheduled for want of it is a consequence, not a second problem.
    #[tokio::test]
    async fn a_storage_class_the_cluster_lacks_fails_at_once_naming_the_classes_it_has() {
        let cluster = flask_stack(2, flask_app(serde_json::json!({}))).with(|s| {
            s.workloads.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                workload("mongodb", 1, 0),
            );
            s.pvcs = vec![PvcState {
                name: "data-mongodb-0".into(),
                phase: "Pending".into(),
                storage_class: Some("fast-ssd".into()),
            }];
            let mut mongo = fake_pod("mongodb-0", "m", false);
            mongo.unschedulable = Some(
                "Unschedulable: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"
                    .into(),
            );
            s.pods.insert(MONGO.into(), vec![mongo]);
            s.events = vec![warning(
                "PersistentVolumeClaim/data-mongodb-0",
                "ProvisioningFailed",
                "storageclass.storage.k8s.io \"fast-ssd\" not found",
                21,
                40,
            )];
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "PersistentVolumeClaim data-mongodb-0: Pending: it asks for StorageClass `fast-ssd`, which this cluster does not have (its classes: standard (default))",
        );
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// `broken/readiness-wrong-path.txt`: the app runs and answers 404 on /healthz. The
    /// verdict quotes the probe's own error and compares the path with what the app serves,
    /// once the container ran past the probe's allowance (5 + 10 × 3 s) and the margin.
    #[tokio::test]
    async fn a_readiness_probe_on_a_path_the_app_does_not_serve_fails_after_its_allowance() {
        let app = flask_app(serde_json::json!({
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 5000}, "initialDelaySeconds": 5, "periodSeconds": 10}
        }));
        let cluster = flask_stack(0, app).with(|s| {
            s.pods.insert(
                FLASK.into(),
                vec![
                    unready_pod("flask-app-68c99f8cfd-492q4"),
                    unready_pod("flask-app-68c99f8cfd-g7rc5"),
                ],
            );
            // One read of the events a round; each round is a 3 s wait on the cluster's clock.
            s.event_script = (1..=100)
                .map(|round: i32| {
                    ["flask-app-68c99f8cfd-492q4", "flask-app-68c99f8cfd-g7rc5"]
                        .iter()
                        .map(|pod| {
                            warning(
                                &format!("Pod/{pod}"),
                                "Unhealthy",
                                "Readiness probe failed: HTTP probe failed with statuscode: 404",
                                round,
                                3 * round as u64,
                            )
                        })
                        .collect()
                })
                .collect();
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-68c99f8cfd-492q4, flask-app-68c99f8cfd-g7rc5: the readiness probe of flask-app (GET :5000/healthz) still fails 48 s after the container started, past its start-up allowance of 35 s: Readiness probe failed: HTTP probe failed with statuscode: 404 (x16); the app serves /health (the profile's health and ready paths), not /healthz",
        );
        crate::testing::assert_not_said(&outcome, "CPU request");
    }

    /// `broken/liveness-probe-wrong-port.txt`: the pods became ready (readiness on 5000)
    /// while the liveness probe on 8080 was refused. The stack rolled out, yet it is broken.
    #[tokio::test]
    async fn a_liveness_probe_refused_on_a_ready_app_fails_the_rollout() {
        let app = flask_app(serde_json::json!({
            "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10}
        }));
        let cluster = flask_stack(2, app).with(|s| {
            let ready = running_pod("flask-app-547996cfc5-fjplr", true);
            s.pods.insert(FLASK.into(), vec![ready]);
            s.events = vec![warning(
                "Pod/flask-app-547996cfc5-fjplr",
                "Unhealthy",
                "Liveness probe failed: Get \"http://10.88.77.95:8080/health\": dial tcp 10.88.77.95:8080: connect: connection refused",
                1,
                12,
            )];
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-547996cfc5-fjplr: the liveness probe of flask-app (GET :8080/health) fails on a healthy app: Liveness probe failed: Get \"http://10.88.77.95:8080/health\": dial tcp 10.88.77.95:8080: connect: connection refused (x1); the container is ready, so the app runs; port 8080 is not a port of the container (it declares 5000)",
        );
    }

    /// The same stack checked in place (not deployed by us): old events of a namespace may
    /// be anyone's, so a rolled-out stack passes `deploy` and the scenarios judge it.
    #[tokio::test]
    async fn a_stack_checked_in_place_is_not_judged_by_old_events_once_rolled_out() {
        let cluster = flask_stack(2, flask_app(serde_json::json!({}))).with(|s| {
            s.events = vec![warning(
                "Pod/flask-app-x",
                "Killing",
                "Container flask-app failed liveness probe, will be restarted",
                1,
                12,
            )];
        });
        let outcome = roll_out(&flask_target(cluster), None).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
    }

    #[tokio::test]
    async fn an_image_no_node_has_with_pull_policy_never_fails_at_once_with_kind_load() {
        let app = flask_app(
            serde_json::json!({"image": "flask-mongodb-app:1.0.3", "imagePullPolicy": "Never"}),
        );
        let cluster = flask_stack(0, app).with(|s| {
            let p = waiting_pod("flask-app-a", "ErrImageNeverPull", Some("Container image \"flask-mongodb-app:1.0.3\" is not present with pull policy of Never"));
            s.pods.insert(FLASK.into(), vec![p]);
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: container flask-app cannot start: image `flask-mongodb-app:1.0.3` is on no node and imagePullPolicy is Never",
        );
        crate::testing::assert_said(&outcome, "kind load docker-image flask-mongodb-app:1.0.3");
    }

    /// The image is on the node; the kubelet still asks a registry because of the policy:
    /// `kind load` would change nothing, so it is not said.
    #[tokio::test]
    async fn an_image_on_the_node_that_the_policy_pulls_anyway_says_to_change_the_policy() {
        let app = flask_app(
            serde_json::json!({"image": "deploycheck-app:0.1.0", "imagePullPolicy": "Always"}),
        );
        let cluster = flask_stack(0, app).with(|s| {
            let p = app_pod(
                "flask-app-a",
                false,
                ContainerInfo {
                    waiting_reason: Some("ImagePullBackOff".into()),
                    waiting_message: Some(
                        "Back-off pulling image \"deploycheck-app:0.1.0\"".into(),
                    ),
                    ..ContainerInfo::default()
                },
            );
            s.pods.insert(FLASK.into(), vec![p]);
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: container flask-app cannot get image `deploycheck-app:0.1.0` although node kind-control-plane has it: imagePullPolicy Always makes the kubelet ask the registry",
        );
        crate::testing::assert_not_said(&outcome, "kind load");
    }

    /// ErrImagePull is the first failure; only the kubelet's back-off after it is certain.
    #[tokio::test]
    async fn a_first_pull_error_is_not_yet_a_verdict() {
        let facts = crate::blockers::Facts {
            pods: vec![waiting_pod("flask-app-a", "ErrImagePull", None)],
            ..crate::blockers::Facts::default()
        };
        assert!(crate::blockers::find(&facts).is_empty());
    }

    /// An app pod in CrashLoopBackOff whose last run ended `reason` with `code`.
    fn crash_looping(restarts: i32, reason: &str, code: i32) -> PodState {
        app_pod(
            "flask-app-a",
            false,
            ContainerInfo {
                waiting_reason: Some("CrashLoopBackOff".into()),
                restarts,
                last_reason: Some(reason.into()),
                last_exit_code: Some(code),
                ..ContainerInfo::default()
            },
        )
    }

    #[tokio::test]
    async fn a_crash_loop_and_an_oom_kill_fail_at_once_with_the_limit() {
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.pods
                .insert(FLASK.into(), vec![crash_looping(3, "Error", 1)]);
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: container flask-app keeps crashing (CrashLoopBackOff, 3 restart(s); its last run ended Error (exit code 1))",
        );
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.pods
                .insert(FLASK.into(), vec![crash_looping(2, "OOMKilled", 137)]);
            s.metrics.insert(
                FLASK.into(),
                crate::cluster::PodMetrics::Samples(vec![crate::cluster::PodUsage {
                    pod: "flask-app-a".into(),
                    cpu_millis: 10,
                    memory_bytes: 498 << 20,
                }]),
            );
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: container flask-app was OOMKilled before it ever became ready, so the limit is below what the app needs to start (memory limit 500Mi; the metrics API last saw the pod use 498 MiB, 2 restart(s))",
        );
    }

    #[tokio::test]
    async fn requests_above_any_node_fail_at_once_and_a_busy_node_is_waited_for() {
        let greedy = flask_app(
            serde_json::json!({"resources": {"requests": {"cpu": "4", "memory": "250Mi"}}}),
        );
        let unschedulable = |message: &str| {
            let mut p = fake_pod("flask-app-a", "a", false);
            p.unschedulable = Some(format!("Unschedulable: {message}"));
            p
        };
        let message = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        let cluster = flask_stack(0, greedy).with(|s| {
            s.pods.insert(FLASK.into(), vec![unschedulable(message)]);
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: Unschedulable (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
        );
        crate::testing::assert_said(
            &outcome,
            "it requests 4000m CPU and the largest node can allocate 2000m",
        );
        // The same message for a pod that fits the node once others leave: not certain.
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.pods.insert(FLASK.into(), vec![unschedulable(message)]);
        });
        let target = flask_target(cluster);
        let outcome = roll_out(&target, None).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            first_line(&outcome).contains("not rolled out within 300 s"),
            "{}",
            outcome.detail
        );
        assert!(target.cluster.elapsed() >= DEADLINE);
    }

    /// A slow but healthy rollout (pods Ready late, well within the deadline) still passes,
    /// however long its containers sit in ContainerCreating.
    #[tokio::test]
    async fn a_slow_but_healthy_rollout_still_passes() {
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.tick = Duration::from_secs(45);
            let creating = waiting_pod("flask-app-a", "ContainerCreating", None);
            s.pods.insert(FLASK.into(), vec![creating]);
            s.workload_script.insert(
                (WorkloadKind::Deployment, "flask-app".into()),
                (0..5)
                    .map(|_| workload("flask-app", 2, 0))
                    .chain([workload("flask-app", 2, 2)])
                    .collect(),
            );
        });
        let target = flask_target(cluster);
        let outcome = roll_out(&target, None).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
        let took = target.cluster.elapsed();
        assert!(
            took >= Duration::from_secs(240) && took < DEADLINE,
            "{took:?}"
        );
    }

    /// run-2: with the Deployment's wait spending the whole deadline, the StatefulSet's had
    /// 0 s left, never read the cluster, and said "mongodb does not exist" of a ready
    /// StatefulSet. Each workload is now read every round, under the whole deadline.
    #[tokio::test]
    async fn a_workload_is_never_said_not_to_exist_without_a_read_that_found_nothing() {
        let cluster = flask_stack(1, flask_app(serde_json::json!({})));
        let target = flask_target(cluster);
        let outcome = roll_out(&target, None).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
        assert!(
            outcome.mismatches[0].starts_with(
                "Deployment flask-app not rolled out within 300 s (flask-app: 1/2 ready"
            ),
            "{}",
            outcome.mismatches[0]
        );
        crate::testing::assert_not_said(&outcome, "mongodb");
        // A StatefulSet that really is absent is said to be absent.
        let cluster = flask_stack(2, flask_app(serde_json::json!({}))).with(|s| {
            s.workloads
                .remove(&(WorkloadKind::StatefulSet, "mongodb".to_string()));
        });
        let outcome = roll_out(&flask_target(cluster), None).await;
        assert!(
            outcome.mismatches[0].starts_with(
                "StatefulSet mongodb not rolled out within 300 s (mongodb does not exist)"
            ),
            "{:?}",
            outcome.mismatches
        );
    }

    /// A Service that can route nowhere is named by `deploy`, with the labels the pods carry
    /// and the ports the container declares.
    #[tokio::test]
    async fn a_service_that_routes_nowhere_fails_the_rollout() {
        let cluster = flask_stack(2, flask_app(serde_json::json!({}))).with(|s| {
            let mut ready = app_pod("flask-app-a", true, ContainerInfo::default());
            ready.labels = [("app".to_string(), "flask-app".to_string())].into();
            s.pods.insert(FLASK.into(), vec![ready]);
            s.services.insert(
                "flask-app".into(),
                crate::cluster::ServiceInfo {
                    name: "flask-app".into(),
                    kind: "NodePort".into(),
                    ports: vec![5000],
                    target_ports: vec!["8080".into()],
                    selector: [("app".to_string(), "flask-api".to_string())].into(),
                    ..crate::cluster::ServiceInfo::default()
                },
            );
        });
        let outcome = roll_out(&flask_target(cluster), None).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(
            outcome.mismatches,
            [
                "Service flask-app can route nowhere: its selector `app=flask-api` matches no pod; the app's pods carry `app=flask-app` (flask-app-a): app=flask-app where the selector wants app=flask-api; make its selector match the pod template's labels",
                "Service flask-app sends port 5000 to targetPort 8080, which is no port of container flask-app (it declares 5000): requests through the Service are refused",
            ]
        );
    }

    /// A correct app whose readiness waits for a database that starts slowly (an image pull
    /// on a fresh node) answers 503 past its own allowance: not certain while the database
    /// is not rolled out, so the rollout is waited for and passes. A 404 is certain even then.
    #[tokio::test]
    async fn an_app_waiting_for_a_slow_database_is_waited_for_but_a_404_is_not() {
        let slow_database = |message: &'static str| {
            flask_stack(0, flask_app(serde_json::json!({}))).with(move |s| {
                s.tick = Duration::from_secs(3);
                s.pods
                    .insert(FLASK.into(), vec![unready_pod("flask-app-a")]);
                s.workloads.insert(
                    (WorkloadKind::StatefulSet, "mongodb".into()),
                    workload("mongodb", 1, 0),
                );
                s.event_script = (1..=60)
                    .map(|round: i32| {
                        vec![warning(
                            "Pod/flask-app-a",
                            "Unhealthy",
                            message,
                            round,
                            3 * round as u64,
                        )]
                    })
                    .collect();
                // The database is Ready after 90 s, the app right after it.
                s.workload_script.insert(
                    (WorkloadKind::StatefulSet, "mongodb".into()),
                    (0..30)
                        .map(|_| workload("mongodb", 1, 0))
                        .chain([workload("mongodb", 1, 1)])
                        .collect(),
                );
            })
        };
        let cluster = slow_database(
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        )
        .with(|s| {
            s.workload_script.insert(
                (WorkloadKind::Deployment, "flask-app".into()),
                [workload("flask-app", 2, 2)].into(),
            );
        });
        let target = flask_target(cluster);
        let outcome = roll_out(&target, None).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
        let (outcome, took) = deploy(slow_database(
            "Readiness probe failed: HTTP probe failed with statuscode: 404",
        ))
        .await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: the readiness probe of flask-app (GET :5000/health) still fails",
        );
    }

    /// An app that exits while its database starts may run once the database is up: its
    /// crash loop is not a verdict before the database rolled out.
    #[tokio::test]
    async fn a_crash_loop_while_the_database_starts_is_not_yet_certain() {
        let facts = crate::blockers::Facts {
            pods: vec![crash_looping(2, "Error", 1)],
            unsettled: vec!["mongodb".into(), "flask-app".into()],
            ..crate::blockers::Facts::default()
        };
        assert!(crate::blockers::find(&facts).is_empty());
        let settled = crate::blockers::Facts {
            unsettled: vec!["flask-app".into()],
            ..facts
        };
        assert_eq!(crate::blockers::find(&settled).len(), 1);
    }

    /// A Secret that does not exist at all may still be created by a controller (External
    /// Secrets, Sealed Secrets): a longer grace before the verdict, which then says so.
    #[tokio::test]
    async fn a_secret_that_does_not_exist_gets_half_a_minute_then_is_named() {
        let stuck = waiting_pod(
            "flask-app-a",
            "CreateContainerConfigError",
            Some("secret \"mongodb-secret\" not found"),
        );
        let cluster = flask_stack(0, flask_app(serde_json::json!({}))).with(|s| {
            s.pods.insert(FLASK.into(), vec![stuck]);
        });
        let (outcome, took) = deploy(cluster).await;
        assert_fast(
            &outcome,
            took,
            "flask-app-a: container flask-app cannot be created (CreateContainerConfigError: secret \"mongodb-secret\" not found); Secret mongodb-secret does not exist: create Secret mongodb-secret before the pods start",
        );
        assert!(took >= crate::blockers::MISSING_OBJECT_GRACE, "{took:?}");
    }

    /// A correct app whose liveness probe, on the port its readiness probe also asks, was
    /// refused once while the app started (run-2 shows such start-up refusals for readiness):
    /// the pod is Ready now, so that refusal predates the app listening and proves nothing.
    #[tokio::test]
    async fn a_liveness_refusal_at_start_up_on_the_ready_port_is_not_a_verdict() {
        let cluster = flask_stack(2, flask_app(serde_json::json!({}))).with(|s| {
            s.pods
                .insert(FLASK.into(), vec![running_pod("flask-app-a", true)]);
            s.events = vec![warning(
                "Pod/flask-app-a",
                "Unhealthy",
                "Liveness probe failed: Get \"http://10.88.77.95:5000/health\": dial tcp 10.88.77.95:5000: connect: connection refused",
                1,
                3,
            )];
        });
        let (outcome, _) = deploy(cluster).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
    }
}
