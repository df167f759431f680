//! Probe-driven self-healing. Liveness: freeze the app process (SIGSTOP from an ephemeral
//! container, which needs no shell in the app image) and see the kubelet restart it because
//! the liveness probe failed. Readiness: take the database away (scale to 0) and see the app
//! leave the Service's endpoints (or answer 503, as the profile declares); bring it back and
//! see everything Ready again with no manual step.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::ledger::{Fault, Window, evidence};
use super::{
    ScenarioOutcome, Target, Undo, connectivity::app_container, replicas::serving, start_prober,
    stop_prober,
};
use crate::cluster::safety::Destructive;
use crate::cluster::{
    Cluster, Ephemeral, EventInfo, PodState, WaitError, WorkloadKind, WorkloadState,
};
use crate::profile::DbDown;

/// Stops every process the helper may signal except itself and PID 1, then counts the stopped
/// ones. When the pod shares one process namespace, PID 1 is the pause container and the app is
/// frozen. Otherwise the app *is* PID 1 of its own namespace, and the kernel ignores SIGSTOP
/// sent to a namespace's init from inside it: the count is 0 and the scenario says so.
pub const FREEZE_SCRIPT: &str = "kill -STOP -1 2>/dev/null; sleep 1; n=0; \
    for s in /proc/[0-9]*/status; do grep -q '^State:.*stopped' \"$s\" 2>/dev/null && n=$((n+1)); done; \
    echo \"deploycheck: stopped $n\"";

/// Lets the frozen processes run again (the helper's own user, as the freeze).
pub const THAW_SCRIPT: &str = "kill -CONT -1 2>/dev/null; echo \"deploycheck: thawed\"";

/// The count the freeze script printed.
pub fn stopped_count(output: &str) -> Option<u32> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("deploycheck: stopped "))
        .and_then(|n| n.trim().parse().ok())
}

/// Missing probes of the app container, as mismatches.
pub fn missing_probes(template: &PodTemplateSpec, container: &str) -> Vec<String> {
    let Some(app) = app_container(template, container) else {
        return vec![format!("no container {container} in the pod template")];
    };
    let mut missing = Vec::new();
    if app.liveness_probe.is_none() {
        missing.push(format!(
            "container {} has no livenessProbe: a hung process is never restarted",
            app.name
        ));
    }
    if app.readiness_probe.is_none() {
        missing.push(format!(
            "container {} has no readinessProbe: traffic reaches pods that cannot serve",
            app.name
        ));
    }
    missing
}

/// How long the app must stay healthy before it is frozen: the time its liveness probe needs
/// to restart it (`periodSeconds × failureThreshold`), so a probe that fails on a healthy app
/// shows up before the freeze rather than being mistaken for its effect.
pub fn healthy_window(template: &PodTemplateSpec, container: &str) -> Duration {
    let probe = app_container(template, container).and_then(|c| c.liveness_probe.as_ref());
    let period = probe.and_then(|p| p.period_seconds).unwrap_or(10).max(1) as u64;
    let threshold = probe.and_then(|p| p.failure_threshold).unwrap_or(3).max(1) as u64;
    Duration::from_secs(period * threshold)
}

/// How long the app's readiness probe takes to mark a pod unready once its dependency is
/// gone: `periodSeconds × failureThreshold + timeoutSeconds` and a margin. `None` when the
/// container or its readiness probe is missing (nothing bounds the wait but the deadline).
pub fn readiness_reaction(template: &PodTemplateSpec, container: &str) -> Option<Duration> {
    let probe = app_container(template, container)?
        .readiness_probe
        .as_ref()?;
    let period = probe.period_seconds.unwrap_or(10).max(1) as u64;
    let threshold = probe.failure_threshold.unwrap_or(3).max(1) as u64;
    let timeout = probe.timeout_seconds.unwrap_or(1).max(1) as u64;
    Some(Duration::from_secs(period * threshold + timeout) + crate::blockers::PROBE_MARGIN)
}

/// ` (events: ...)` for a pod's probe failures and kills, or nothing.
fn evidence_text(events: &[EventInfo], pod: &str) -> String {
    let lines = evidence(events, pod);
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (events: {})", lines.join("; "))
    }
}

fn run_as_user(template: &PodTemplateSpec, container: &str) -> Option<i64> {
    let app = app_container(template, container)?;
    app.security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .or_else(|| {
            template
                .spec
                .as_ref()?
                .security_context
                .as_ref()?
                .run_as_user
        })
}

pub const LIVENESS: super::Spec = super::Spec {
    id: "liveness",
    title: "a frozen app is restarted by its liveness probe",
    destructive: true,
    read_only: false,
    needs: &[],
};

pub const READINESS: super::Spec = super::Spec {
    id: "readiness",
    title: "readiness follows the database",
    destructive: true,
    read_only: false,
    needs: &[],
};

pub async fn run_liveness<C: Cluster>(target: &Target<C>, io: super::Io<'_>) -> ScenarioOutcome {
    liveness_restart(target, io.app_url).await
}

pub async fn run_readiness<C: Cluster>(target: &Target<C>, io: super::Io<'_>) -> ScenarioOutcome {
    readiness_follows_database(target, io.app_url).await
}

/// Freezes one app pod and waits for the liveness restart; `base_url` reaches the app's Service
/// (a prober counts what users saw meanwhile).
pub async fn liveness_restart<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    const ID: &str = LIVENESS.id;
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let template = match target
        .template(WorkloadKind::Deployment, &profile.app.deployment)
        .await
    {
        Ok(template) => template,
        Err(error) => return ScenarioOutcome::fail(ID, error),
    };
    let missing = missing_probes(&template, &profile.app.container);
    if !missing.is_empty() {
        return ScenarioOutcome::from_mismatches(ID, String::new(), missing);
    }
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let selector = target.app_selector();
    let pods = match cluster.pods(namespace, &selector).await {
        Ok(pods) => pods,
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let deadline = profile.cluster.recovery;
    // Healthy first: a container that restarts, or whose liveness probe fails, before anything
    // is done to it would make any restart seen later prove nothing about the freeze. The
    // earlier scenarios' windows may already have shown a pod healthy for long enough, with
    // no fault of ours in between that could explain or hide a probe failure: only what is
    // missing of the span is watched now.
    let watched = healthy_window(&template, &profile.app.container).min(deadline);
    let events_before = cluster.events(namespace).await.unwrap_or_default();
    let (victim, window, observed) =
        match super::ledger::healthy_since(target, &pods, &events_before) {
            Some((pod, checkpoint)) => (
                pod.clone(),
                checkpoint.window,
                Some((
                    cluster.elapsed().saturating_sub(checkpoint.at),
                    checkpoint.scenario,
                )),
            ),
            None => {
                let Some(victim) = pods.iter().find(|p| p.ready && !p.deleting).cloned() else {
                    return ScenarioOutcome::fail(
                        ID,
                        format!(
                            "no ready app pod to freeze: {}",
                            crate::cluster::describe(&pods)
                        ),
                    );
                };
                let window = Window::from_reads(0, &events_before, [&victim], &[]);
                (victim, window, None)
            }
        };
    let already_seen = observed.as_ref().map_or(Duration::ZERO, |(seen, _)| *seen);
    let watch_now = watched.saturating_sub(already_seen);
    let healthy_note = match &observed {
        Some((_, scenario)) => format!(
            "; healthy for {} s before the freeze: observed since `{scenario}` started (no restart, \
             no liveness failure, no fault of ours that could explain one){}",
            (already_seen + watch_now).as_secs(),
            if watch_now.is_zero() {
                String::new()
            } else {
                format!(", {} s of it watched now", watch_now.as_secs())
            }
        ),
        None => format!(
            "; healthy for {} s before the freeze (watched)",
            watch_now.as_secs()
        ),
    };
    let restarted_alone = |pods: &[PodState]| {
        pods.iter()
            .any(|p| p.uid == victim.uid && p.restarts > victim.restarts)
    };
    let watch = if watch_now.is_zero() {
        Err(WaitError::Timeout {
            waited: Duration::ZERO,
            last_seen: String::new(),
        })
    } else {
        cluster
            .wait_pods(namespace, &selector, &restarted_alone, watch_now)
            .await
    };
    match watch {
        Ok(_) => {
            let events = window.new_events(&cluster.events(namespace).await.unwrap_or_default());
            return ScenarioOutcome::fail(
                ID,
                format!(
                    "{} restarted by itself while deploycheck watched it for {} s before freezing \
                     anything{}: the liveness probe fails on a healthy app (check its port and path)",
                    victim.name,
                    (already_seen + watch_now).as_secs(),
                    evidence_text(&events, &victim.name)
                ),
            );
        }
        Err(WaitError::Timeout { .. }) => {}
        Err(WaitError::Cluster(error)) => return ScenarioOutcome::fail(ID, error.to_string()),
    }
    let events_at_freeze = cluster.events(namespace).await.unwrap_or_default();
    let already_failing: Vec<String> =
        evidence(&window.new_events(&events_at_freeze), &victim.name)
            .into_iter()
            .filter(|e| e.starts_with("Liveness probe failed"))
            .collect();
    if !already_failing.is_empty() {
        return ScenarioOutcome::fail(
            ID,
            format!(
                "the liveness probe of {} failed before deploycheck froze anything ({}): it fails \
                 on a healthy app (check its port, path and timeoutSeconds)",
                victim.name,
                already_failing.join("; ")
            ),
        );
    }
    let at_freeze = Window::from_reads(0, &events_at_freeze, [&victim], &[]);
    // Failed requests are part of what the fault cost, not a verdict: a frozen pod stays in the
    // endpoints until readiness notices.
    let probe = start_prober(base_url, &profile.app.health_path, deadline * 2);
    let started = Instant::now();
    target.faults.record(Fault::FrozePod(victim.name.clone()));
    // Freeze and thaw run as the app's own user in an ephemeral container sharing its
    // process namespace (no privilege, no shell in the app image needed).
    let user = run_as_user(&template, &profile.app.container);
    let signal = |script: &'static str| {
        let victim = &victim.name;
        async move {
            let spec = Ephemeral {
                pod: victim,
                target_container: &profile.app.container,
                image: &profile.cluster.helper_image,
                run_as_user: user,
                script,
            };
            cluster
                .run_ephemeral(namespace, &spec, Duration::from_secs(60).min(deadline))
                .await
        }
    };
    let freeze = signal(FREEZE_SCRIPT).await;
    match freeze {
        Ok(run) => match stopped_count(&run.output) {
            Some(0) => {
                return ScenarioOutcome::skip(
                    ID,
                    format!(
                        "could not freeze the app in {}: it runs as PID 1 of its own process \
                         namespace, where the kernel ignores SIGSTOP from inside; set \
                         `shareProcessNamespace: true` in the pod spec to let this check run",
                        victim.name
                    ),
                );
            }
            Some(_) => {}
            None => {
                return ScenarioOutcome::fail(
                    ID,
                    format!(
                        "the freeze helper ({}) did not run to the end: {}",
                        profile.cluster.helper_image,
                        run.output.trim()
                    ),
                );
            }
        },
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    }
    // Once the kubelet has decided to restart the container (its liveness Killing event), the
    // freeze has proved what it can. A stopped process cannot act on SIGTERM, so the kubelet
    // would wait out the whole grace period before SIGKILL; thawed, the app shuts down as it
    // would (preStop, drain) and the restart comes that much sooner.
    let frozen_at = cluster.elapsed();
    let victim_object = format!("Pod/{}", victim.name);
    let killing = |events: &[EventInfo]| {
        at_freeze.new_events(events).iter().any(|e| {
            e.object == victim_object && e.reason == "Killing" && e.message.contains("liveness")
        })
    };
    let thawed = match cluster.wait_events(namespace, &killing, deadline).await {
        Ok(_) => signal(THAW_SCRIPT).await.is_ok_and(|run| run.succeeded()),
        Err(_) => false,
    };
    let restarted = |pods: &[PodState]| {
        pods.iter()
            .any(|p| p.name == victim.name && p.restarts > victim.restarts && p.ready)
    };
    let left = deadline.saturating_sub(cluster.elapsed().saturating_sub(frozen_at));
    let mut mismatches = Vec::new();
    if let Err(error) = cluster
        .wait_pods(namespace, &selector, &restarted, left)
        .await
    {
        mismatches.push(format!(
            "froze {}; the kubelet did not restart it into Ready: {error}; check the liveness \
             probe's path, port, periodSeconds and failureThreshold",
            victim.name
        ));
    }
    let recovery = started.elapsed();
    if mismatches.is_empty() {
        // The restart must follow the freeze: a liveness failure that happened after it.
        let events = at_freeze.new_events(&cluster.events(namespace).await.unwrap_or_default());
        let liveness_event = evidence(&events, &victim.name)
            .iter()
            .any(|e| e.starts_with("Liveness probe failed"));
        if !liveness_event {
            mismatches.push(format!(
                "{} restarted, but no event since the freeze says its liveness probe failed (did \
                 it crash instead?)",
                victim.name
            ));
        }
    }
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "froze {}; its liveness probe failed, the kubelet restarted it and it was Ready again \
             after {} ms{}{healthy_note}",
            victim.name,
            recovery.as_millis(),
            if thawed {
                " (thawed once the kubelet had decided to restart it, so it shut down by itself \
                 instead of waiting out its grace period)"
            } else {
                ""
            }
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = stop_prober(probe).await;
    outcome
}

/// Scales the database to zero, checks the app's reaction, restores the database (always),
/// and waits for everything to be Ready again.
pub async fn readiness_follows_database<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
) -> ScenarioOutcome {
    const ID: &str = READINESS.id;
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let statefulset = &profile.database.statefulset;
    let deadline = profile.cluster.recovery;
    let replicas = match cluster
        .workload(namespace, WorkloadKind::StatefulSet, statefulset)
        .await
    {
        Ok(Some(w)) => w.desired.max(1),
        Ok(None) => {
            return ScenarioOutcome::fail(ID, format!("StatefulSet {statefulset} does not exist"));
        }
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let probe = start_prober(base_url, "/data", deadline * 4);
    let undo = Undo::Scale {
        kind: WorkloadKind::StatefulSet,
        name: statefulset.clone(),
        replicas,
    };
    target.remember(undo.clone());
    target.faults.record(Fault::DatabaseDown);
    if let Err(error) = cluster
        .scale(namespace, WorkloadKind::StatefulSet, statefulset, 0)
        .await
    {
        target.forget(&undo);
        return ScenarioOutcome::fail(ID, error.to_string());
    }
    let mut mismatches = Vec::new();
    let app_selector = target.app_selector();
    let none = |pods: &[PodState]| pods.is_empty();
    let down = Instant::now();
    match cluster
        .wait_pods(namespace, &target.db_selector(), &none, deadline)
        .await
    {
        Err(error) => mismatches.push(format!("the database pods did not go away: {error}")),
        Ok(_) => {
            match profile.cluster.db_down {
                DbDown::Unready => {
                    let unready = |pods: &[PodState]| !pods.is_empty() && serving(pods) == 0;
                    // The probe's own reaction time bounds the wait: past it, pods still Ready
                    // will stay so (their readiness does not follow the database).
                    let reaction = match target
                        .template(WorkloadKind::Deployment, &profile.app.deployment)
                        .await
                    {
                        Ok(template) => readiness_reaction(&template, &profile.app.container),
                        Err(_) => None,
                    };
                    let bound = reaction.map_or(deadline, |r| r.min(deadline));
                    match cluster.wait_pods(namespace, &app_selector, &unready, bound).await {
                        // The EndpointSlice controller follows the pod conditions some time
                        // later: wait for the slices too, never read them once.
                        Ok(_) => {
                            let empty = |endpoints: &[String]| endpoints.is_empty();
                            match cluster
                                .wait_endpoints(namespace, &profile.app.service, &empty, deadline)
                                .await
                            {
                                Ok(_) => {}
                                Err(WaitError::Timeout { last_seen, waited }) => {
                                    mismatches.push(format!(
                                        "with the database down every app pod was unready, yet \
                                         Service {} still routed traffic {} s later ({last_seen})",
                                        profile.app.service,
                                        waited.as_secs()
                                    ));
                                }
                                Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
                            }
                        }
                        Err(error) => mismatches.push(format!(
                            "with the database down the app pods stayed Ready{} ({error}); a \
                             readiness probe that checks the database takes them out of the Service \
                             (or set cluster.db_down = \"503\" if the app answers 503 instead)",
                            match reaction {
                                Some(r) if r < deadline => format!(
                                    " past the {} s their readiness probe needs to react \
                                     (periodSeconds × failureThreshold + timeoutSeconds, plus a \
                                     {} s margin)",
                                    r.as_secs(),
                                    crate::blockers::PROBE_MARGIN.as_secs()
                                ),
                                _ => String::new(),
                            }
                        )),
                    }
                }
                DbDown::ServiceUnavailable => {
                    if let Err(error) = await_status(base_url, 503, deadline).await {
                        mismatches.push(format!("with the database down, {error}"));
                    }
                }
            }
        }
    }
    let noticed = down.elapsed();
    // Restore whatever happened above.
    let restored = Instant::now();
    if let Err(error) = cluster
        .scale(namespace, WorkloadKind::StatefulSet, statefulset, replicas)
        .await
    {
        mismatches.push(format!("restoring the database failed: {error}"));
    } else {
        target.forget(&undo);
        let ready = |w: &WorkloadState| w.rolled_out() && w.ready >= replicas;
        if let Err(error) = cluster
            .wait_workload(
                namespace,
                WorkloadKind::StatefulSet,
                statefulset,
                &ready,
                deadline,
            )
            .await
        {
            mismatches.push(format!("the database did not come back: {error}"));
        }
        let min = profile.app.min_replicas as usize;
        let all_ready = |pods: &[PodState]| serving(pods) >= min.max(1);
        if let Err(error) = cluster
            .wait_pods(namespace, &app_selector, &all_ready, deadline)
            .await
        {
            mismatches.push(format!(
                "the app did not become Ready again by itself after the database returned: {error}"
            ));
        }
    }
    let recovery = restored.elapsed();
    let requests = stop_prober(probe).await;
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "database down: the app reacted within {} ms; database back: everything Ready after \
             {} ms, no manual step",
            noticed.as_millis(),
            recovery.as_millis()
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = requests;
    outcome
}

/// Polls `GET /data` until it answers `status`.
async fn await_status(base_url: &str, status: u16, deadline: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < deadline {
        match crate::http::client()
            .get(format!("{base_url}/data"))
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == status => return Ok(()),
            Ok(response) => last = format!("answered {}", response.status()),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "GET /data never answered {status} within {} s (last: {last})",
        deadline.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::HelperRun;
    use crate::cluster::fake::{ScriptedCluster, pod, quiet, workload};
    use crate::scenario::tests::target;

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";
    const DB: &str = "app.kubernetes.io/name=mongodb";

    fn template(probes: bool) -> PodTemplateSpec {
        let mut container = serde_json::json!({"name": "app", "image": "i", "securityContext": {"runAsUser": 65532}});
        if probes {
            container["livenessProbe"] =
                serde_json::json!({"httpGet": {"path": "/health", "port": 5000}});
            container["readinessProbe"] =
                serde_json::json!({"httpGet": {"path": "/ready", "port": 5000}});
        }
        serde_json::from_value(serde_json::json!({"spec": {"containers": [container]}})).unwrap()
    }

    fn restarted(name: &str) -> PodState {
        let mut p = pod(name, name, true);
        p.restarts = 1;
        p
    }

    fn freezable(output: &str, events: Vec<EventInfo>) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(true),
            );
            s.pods.insert(
                APP.into(),
                vec![pod("app-a", "app-a", true), pod("app-b", "app-b", true)],
            );
            s.pod_script.insert(
                APP.into(),
                [
                    // Healthy while watched before the freeze.
                    quiet(),
                    vec![pod("app-a", "app-a", false), pod("app-b", "app-b", true)],
                    vec![restarted("app-a"), pod("app-b", "app-b", true)],
                ]
                .into(),
            );
            s.helper_runs.push_back(HelperRun {
                exit_code: Some(0),
                output: output.into(),
            });
            // Before the watch, after it (the freeze), after the restart.
            s.event_script = [Vec::new(), Vec::new(), events].into();
        })
    }

    fn liveness_event() -> EventInfo {
        EventInfo {
            object: "Pod/app-a".into(),
            kind: "Warning".into(),
            reason: "Unhealthy".into(),
            message: "Liveness probe failed: Get \"http://10.244.0.7:5000/health\": context deadline exceeded".into(),
            count: 3,
            ..EventInfo::default()
        }
    }

    #[test]
    fn the_freeze_count_is_read_from_the_output() {
        assert_eq!(stopped_count("x\ndeploycheck: stopped 2\n"), Some(2));
        assert_eq!(stopped_count("sh: not found"), None);
        assert_eq!(missing_probes(&template(true), "app"), Vec::<String>::new());
        assert_eq!(missing_probes(&template(false), "app").len(), 2);
    }

    #[tokio::test]
    async fn a_frozen_app_restarted_by_liveness_passes() {
        let target = target(freezable("deploycheck: stopped 1", vec![liveness_event()]));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            ["ephemeral busybox:1.36 in app-a/app as Some(65532)"]
        );
    }

    /// The kubelet's liveness kill of the frozen pod is the moment to thaw it: it then shuts
    /// down by itself (preStop, SIGTERM) instead of waiting out its grace period for SIGKILL.
    #[tokio::test]
    async fn a_frozen_app_is_thawed_once_the_kubelet_decided_to_restart_it() {
        let killing = EventInfo {
            id: "app-a.killing".into(),
            object: "Pod/app-a".into(),
            kind: "Normal".into(),
            reason: "Killing".into(),
            message: "Container app failed liveness probe, will be restarted".into(),
            count: 1,
            ..EventInfo::default()
        };
        let target = target(
            freezable(
                "deploycheck: stopped 1",
                vec![liveness_event(), killing.clone()],
            )
            .with(|s| {
                s.event_script = [
                    Vec::new(),
                    Vec::new(),
                    vec![liveness_event()],
                    vec![liveness_event(), killing],
                ]
                .into();
                s.helper_runs.push_back(HelperRun {
                    exit_code: Some(0),
                    output: "deploycheck: thawed".into(),
                });
            }),
        );
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            [
                "ephemeral busybox:1.36 in app-a/app as Some(65532)",
                "ephemeral busybox:1.36 in app-a/app as Some(65532)"
            ]
        );
        assert_eq!(
            target.cluster.scripts.lock().unwrap().as_slice(),
            [FREEZE_SCRIPT, THAW_SCRIPT]
        );
        assert!(
            outcome
                .detail
                .contains("(thawed once the kubelet had decided to restart it"),
            "{}",
            outcome.detail
        );
    }

    /// The earlier scenarios' windows already showed app-a healthy for 45 s, with no fault of
    /// ours in between: the 30 s watch before the freeze costs nothing (issue 15 §4), and the
    /// report says what the window was.
    #[tokio::test]
    async fn an_earlier_scenarios_window_serves_as_the_healthy_watch() {
        let target = target(
            freezable("deploycheck: stopped 1", vec![liveness_event()]).with(|s| {
                // No watch before the freeze: its quiet() entry is not there to be consumed.
                s.pod_script.get_mut(APP).unwrap().pop_front();
            }),
        );
        let pods = [pod("app-a", "app-a", true), pod("app-b", "app-b", true)];
        target.checkpoints.record(super::super::ledger::Checkpoint {
            window: Window::from_reads(0, &[], &pods, &[]),
            at: target.cluster.elapsed(),
            scenario: "replicas".into(),
        });
        *target.cluster.clock.lock().unwrap() += Duration::from_secs(45);
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.detail.ends_with(
                "; healthy for 45 s before the freeze: observed since `replicas` started (no \
                 restart, no liveness failure, no fault of ours that could explain one)"
            ),
            "{}",
            outcome.detail
        );
    }

    /// A database outage since the checkpoint could explain (or hide) a liveness failure of a
    /// probe that depends on the database: the pod is watched again, as without a checkpoint.
    #[tokio::test]
    async fn a_database_outage_since_the_window_means_watching_again() {
        let target = target(freezable("deploycheck: stopped 1", vec![liveness_event()]));
        let pods = [pod("app-a", "app-a", true), pod("app-b", "app-b", true)];
        target.checkpoints.record(super::super::ledger::Checkpoint {
            window: Window::from_reads(0, &[], &pods, &[]),
            at: target.cluster.elapsed(),
            scenario: "recreate".into(),
        });
        target.faults.record(Fault::DatabaseRecreated);
        *target.cluster.clock.lock().unwrap() += Duration::from_secs(45);
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .detail
                .ends_with("; healthy for 30 s before the freeze (watched)"),
            "{}",
            outcome.detail
        );
    }

    /// A liveness probe on a port nothing listens on: the container restarts every ~30 s by
    /// itself. That restart must not pass for the effect of a freeze.
    #[tokio::test]
    async fn a_container_that_restarts_by_itself_fails_before_anything_is_frozen() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            s.pod_script.insert(
                APP.into(),
                [vec![restarted("app-a"), pod("app-b", "app-b", true)]].into(),
            );
            s.event_script = [
                Vec::new(),
                vec![EventInfo {
                    object: "Pod/app-a".into(),
                    reason: "Unhealthy".into(),
                    message: "Liveness probe failed: Get \"http://10.0.0.5:5001/health\": dial tcp 10.0.0.5:5001: connect: connection refused".into(),
                    count: 3,
                    ..EventInfo::default()
                }],
            ]
            .into();
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .detail
                .starts_with("app-a restarted by itself while deploycheck watched it for 30 s")
                && outcome.detail.contains("5001: connect: connection refused"),
            "{}",
            outcome.detail
        );
        assert!(target.cluster.calls().is_empty(), "nothing may be frozen");
    }

    /// The restart seen after the freeze must come with a liveness failure after the freeze;
    /// an old liveness event (from before) proves nothing.
    #[tokio::test]
    async fn a_liveness_event_from_before_the_freeze_does_not_count() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            let old = [liveness_event()];
            s.event_script = [old.to_vec(), old.to_vec(), old.to_vec()].into();
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .detail
                .contains("no event since the freeze says its liveness probe failed"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn an_app_that_is_pid_1_is_skipped_with_the_fix() {
        let outcome = liveness_restart(
            &target(freezable("deploycheck: stopped 0", vec![])),
            "http://127.0.0.1:9",
        )
        .await;
        assert_eq!(outcome.verdict, Verdict::Skip);
        assert!(
            outcome.detail.contains("shareProcessNamespace: true"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn a_restart_without_a_liveness_event_and_missing_probes_fail() {
        let outcome = liveness_restart(
            &target(freezable("deploycheck: stopped 1", vec![])),
            "http://127.0.0.1:9",
        )
        .await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("no event since the freeze says its liveness probe failed"),
            "{}",
            outcome.detail
        );

        let no_probes = ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(false),
            );
        });
        let outcome = liveness_restart(&target(no_probes), "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 2);
    }

    #[tokio::test]
    async fn a_probe_that_never_recovers_fails_with_what_was_seen() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            s.pod_script.insert(
                APP.into(),
                [
                    quiet(),
                    vec![pod("app-a", "app-a", false), pod("app-b", "app-b", true)],
                ]
                .into(),
            );
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.detail.contains("did not restart it into Ready"),
            "{}",
            outcome.detail
        );
        assert!(
            outcome.detail.contains("app-a (Pending, not ready"),
            "{}",
            outcome.detail
        );
    }

    fn database_away(app_reacts: bool) -> ScriptedCluster {
        let app_after_db_down = if app_reacts {
            vec![pod("app-a", "a", false), pod("app-b", "b", false)]
        } else {
            vec![pod("app-a", "a", true), pod("app-b", "b", true)]
        };
        ScriptedCluster::new("kind-kind").with(|s| {
            let key = (WorkloadKind::StatefulSet, "mongodb".to_string());
            s.workloads.insert(key.clone(), workload("mongodb", 1, 0));
            s.workload_script
                .insert(key, [workload("mongodb", 1, 1)].into());
            s.pod_script.insert(DB.into(), [vec![]].into());
            s.pod_script.insert(
                APP.into(),
                [
                    app_after_db_down,
                    vec![pod("app-a", "a", true), pod("app-b", "b", true)],
                ]
                .into(),
            );
            s.endpoints
                .insert("deploycheck-app".into(), [vec![]].into());
        })
    }

    #[tokio::test]
    async fn readiness_drops_pods_while_the_database_is_down_and_restores_them() {
        let target = target(database_away(true));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            ["scale StatefulSet/mongodb=0", "scale StatefulSet/mongodb=1"]
        );
    }

    #[tokio::test]
    async fn an_app_declared_to_answer_503_must_do_so_while_the_database_is_down() {
        use axum::http::StatusCode;
        let answers_503 = crate::testing::serve(axum::Router::new().route(
            "/data",
            axum::routing::get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        ))
        .await;
        let answers_200 = crate::testing::serve(
            axum::Router::new().route("/data", axum::routing::get(|| async { "[]" })),
        )
        .await;
        for (url, passes) in [(answers_503, true), (answers_200, false)] {
            let mut target = target(database_away(false));
            target.profile.cluster.db_down = DbDown::ServiceUnavailable;
            target.profile.cluster.recovery = Duration::from_secs(2);
            let outcome = readiness_follows_database(&target, &url).await;
            assert_eq!(outcome.verdict == Verdict::Pass, passes, "{outcome:?}");
            if !passes {
                assert!(
                    outcome.detail.contains("GET /data never answered 503"),
                    "{}",
                    outcome.detail
                );
            }
            assert_eq!(
                target.cluster.calls().last().unwrap(),
                "scale StatefulSet/mongodb=1"
            );
        }
    }

    /// What the real cluster showed (run-1): the pods' Ready condition flips first and the
    /// EndpointSlices follow a moment later. A single read of the slices right after the pods
    /// went unready saw them still routed; the scenario must wait for the slices.
    #[tokio::test]
    async fn endpoint_slices_that_lag_behind_the_pods_still_pass() {
        let target = target(database_away(true).with(|s| {
            s.endpoints.insert(
                "deploycheck-app".into(),
                [
                    vec!["app-a".to_string(), "app-b".to_string()],
                    vec!["app-b".to_string()],
                    vec![],
                ]
                .into(),
            );
        }));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    #[tokio::test]
    async fn a_service_that_keeps_routing_to_unready_pods_fails_with_what_it_routed_to() {
        let target = target(database_away(true).with(|s| {
            s.endpoints
                .insert("deploycheck-app".into(), [vec!["app-a".to_string()]].into());
        }));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .detail
                .contains("Service deploycheck-app still routed traffic 180 s later (Service deploycheck-app routed to app-a)"),
            "{}",
            outcome.detail
        );
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }

    /// A readiness probe that reacts in 2 × 5 s (+ 3 s timeout): pods still Ready past that
    /// and the margin will stay so. The verdict comes then, not at the 180 s deadline (the
    /// fake's clock, not a sleep).
    #[tokio::test]
    async fn pods_that_stay_ready_past_their_probes_reaction_fail_without_waiting_the_deadline() {
        let fast_probe: PodTemplateSpec = serde_json::from_value(serde_json::json!({"spec": {"containers": [{
            "name": "app", "image": "i",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 5000}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 3}
        }]}}))
        .unwrap();
        assert_eq!(
            readiness_reaction(&fast_probe, "app"),
            Some(Duration::from_secs(23))
        );
        let target = target(database_away(false).with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                fast_probe,
            );
        }));
        let before = target.cluster.elapsed();
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.detail.contains(
                "the app pods stayed Ready past the 23 s their readiness probe needs to react"
            ),
            "{}",
            outcome.detail
        );
        let reacting = target.cluster.elapsed() - before;
        assert!(reacting < Duration::from_secs(60), "{reacting:?}");
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }

    #[tokio::test]
    async fn pods_that_stay_ready_fail_and_the_database_is_still_restored() {
        let target = target(database_away(false));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.detail.contains("the app pods stayed Ready"),
            "{}",
            outcome.detail
        );
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }
}
